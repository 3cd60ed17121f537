//! Orphan sweep: servers carrying our `app` label that no live row references are queued for
//! deletion, once older than the grace period (a server may exist briefly before its row records it:
//! between a create and `create_server_record`, or after a lost response until adoption).
//!
//! Walks the provider's whole server list, so it runs at most every `orphan_sweep_interval` and
//! under a lease (one replica at a time).

use std::collections::HashSet;

use tracing::info;

use super::{ReconcilerState, TaskStatus};
use crate::app::App;
use crate::ids::MachineId;
use crate::store::deletions::{deletion_enqueue, deletion_pending_servers};
use crate::store::leases::{lease_acquire, lease_release};
use crate::store::machines::machine_live_references;

const TASK: &str = "orphan_sweep";

pub async fn activate(app: &App, state: &mut ReconcilerState) -> TaskStatus {
    let now = app.now();
    let interval = chrono::Duration::from_std(app.settings.orphan_sweep_interval)
        .unwrap_or(chrono::Duration::minutes(10));
    if state
        .last_orphan_sweep
        .is_some_and(|last| now - last < interval)
    {
        return TaskStatus::skipped();
    }
    let mut status = TaskStatus::default();
    match lease_acquire(&app.db, TASK, app.replica_id, now, app.claim_ttl()).await {
        Ok(true) => {}
        Ok(false) => return TaskStatus::skipped(),
        Err(e) => {
            status.error(e);
            return status;
        }
    }
    state.last_orphan_sweep = Some(now);
    if let Err(e) = sweep(app, &mut status).await {
        status.error(e);
    }
    if let Err(e) = lease_release(&app.db, TASK, app.replica_id).await {
        status.error(e);
    }
    status
}

async fn sweep(app: &App, status: &mut TaskStatus) -> crate::Result<()> {
    // Read the provider first, then the registry: a server created between the two reads is then
    // seen with its row (or is younger than the grace period), never as an orphan by mistake.
    let servers = app
        .hetzner
        .list_servers(&format!("app={}", app.settings.app_label))
        .await
        .map_err(|e| crate::Error::unavailable(format!("orphan sweep list: {e:?}")))?;
    let (live_servers, live_machines) = machine_live_references(&app.db).await?;
    let live_servers: HashSet<i64> = live_servers.into_iter().collect();
    let live_machines: HashSet<uuid::Uuid> = live_machines.into_iter().collect();
    let pending: HashSet<i64> = deletion_pending_servers(&app.db)
        .await?
        .into_iter()
        .collect();
    let now = app.now();
    let grace = chrono::Duration::from_std(app.settings.orphan_grace)
        .unwrap_or(chrono::Duration::minutes(30));
    for server in servers {
        status.processed += 1;
        let labelled_machine = server
            .labels
            .get("machine_id")
            .and_then(|m| MachineId::parse(m).ok());
        let referenced = live_servers.contains(&server.id.get())
            || labelled_machine.is_some_and(|m| live_machines.contains(&m.as_uuid()));
        if referenced || pending.contains(&server.id.get()) || now - server.created < grace {
            continue;
        }
        info!(server_id = %server.id, "orphan server queued for deletion");
        deletion_enqueue(&app.db, server.id, labelled_machine, "orphan", now).await?;
        status.changed += 1;
    }
    Ok(())
}
