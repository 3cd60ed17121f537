//! Heartbeat-staleness evaluation: recomputes every running machine's heartbeat state in one
//! statement, which also appends a timeline event for each machine that became late or unreachable.
//! Runs under a lease so replicas do not double the events.

use super::TaskStatus;
use crate::app::App;
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
    match machine_evaluate_heartbeats(
        &app.db,
        now - policy.heartbeat_late_after(),
        now - policy.heartbeat_unreachable_after(),
        now,
    )
    .await
    {
        Ok(evaluation) => {
            status.processed = evaluation.changed as usize;
            status.changed = evaluation.degraded as usize;
        }
        Err(e) => status.error(e),
    }
    if let Err(e) = lease_release(&app.db, TASK, app.replica_id).await {
        status.error(e);
    }
    status
}
