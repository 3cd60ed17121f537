//! Heartbeat-staleness evaluation: recomputes every running machine's heartbeat state in one
//! statement and writes a timeline event for each machine that crossed into late or unreachable.
//! Runs under a lease so replicas do not double the events.

use super::TaskStatus;
use crate::app::App;
use crate::ids::{ClerkUserId, MachineId, RuntimeSlot};
use crate::status::{Actor, MachineStatus};
use crate::store::events::{NewEvent, event_append};
use crate::store::leases::{lease_acquire, lease_release};
use crate::store::machines::machine_evaluate_heartbeats;

const TASK: &str = "heartbeat_health";

pub async fn activate(app: &App) -> TaskStatus {
    let mut status = TaskStatus::default();
    let now = app.now();
    match lease_acquire(&app.db, TASK, app.replica_id, now, app.claim_ttl()).await {
        Ok(true) => {}
        Ok(false) => return TaskStatus::skipped(),
        Err(e) => {
            status.error(e);
            return status;
        }
    }
    let policy = app.health_policy();
    match machine_evaluate_heartbeats(&app.db, now - policy.heartbeat_late_after(), now - policy.heartbeat_unreachable_after()).await {
        Ok(changes) => {
            for (machine_id, user, slot, new_state, _old) in changes {
                status.processed += 1;
                if new_state == "ok" {
                    continue;
                }
                let (Ok(user), Ok(slot)) = (ClerkUserId::parse(&user), RuntimeSlot::parse(&slot)) else { continue };
                let kind = if new_state == "late" { "heartbeat_late" } else { "heartbeat_unreachable" };
                let event = NewEvent {
                    at: now,
                    machine_id: MachineId::from_uuid(machine_id),
                    clerk_user_id: &user,
                    runtime_slot: &slot,
                    kind,
                    from: Some(MachineStatus::Running),
                    to: Some(MachineStatus::Running),
                    actor: Actor::Reconciler,
                    reason: None,
                    related: None,
                };
                match event_append(&app.db, &event).await {
                    Ok(()) => status.changed += 1,
                    Err(e) => status.error(e),
                }
            }
        }
        Err(e) => status.error(e),
    }
    if let Err(e) = lease_release(&app.db, TASK, app.replica_id).await {
        status.error(e);
    }
    status
}
