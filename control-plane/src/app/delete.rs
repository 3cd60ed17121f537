//! Delete: soft-delete the row first, then remove its server(s) at the provider.
//!
//! 1. `delete_claim_row` (one transaction): refuse while a provider step holds the row (a create in
//!    flight would leave an orphan racing the delete); mark it `deleted`; queue every server it
//!    references — its own and, mid-recovery, the old one.
//! 2. When the create outcome was unknown (no server id yet), look the server up by label and queue it.
//! 3. Execute the queued deletions now; a provider failure leaves them queued (with backoff) and the
//!    answer is still 200. R2 data is never deleted.

use tracing::warn;

use super::App;
use super::deletions::delete_servers_now;
use crate::error::{Error, Result, msg};
use crate::ids::MachineId;
use crate::status::{Actor, MachineStatus};
use crate::store::deletions::deletion_enqueue;
use crate::store::events::{NewEvent, event_append};
use crate::store::machines;

pub async fn delete(app: &App, machine_id: MachineId) -> Result<()> {
    let now = app.now();
    let mut txn = app.db.begin().await?;
    let row = machines::machine_get_for_update(&mut txn, machine_id)
        .await?
        .ok_or_else(|| Error::not_found("delete: unknown machine"))?;
    if !row.is_live() {
        return Err(Error::not_found("delete: already deleted"));
    }
    if row.claim_active(now) {
        return Err(Error::conflict(
            msg::BUSY,
            "delete: a provider step holds the row",
        ));
    }
    if !machines::machine_delete(&mut txn, machine_id, row.status, now).await? {
        return Err(Error::conflict(
            msg::NOT_ALLOWED,
            "delete: row changed concurrently",
        ));
    }
    let old_server = row.recovery.as_ref().and_then(|r| r.old_server_id);
    let mut servers: Vec<_> = row
        .hetzner_server_id
        .into_iter()
        .chain(old_server)
        .collect();
    for server in &servers {
        deletion_enqueue(&mut *txn, *server, Some(machine_id), "machine_deleted", now).await?;
    }
    let event = NewEvent::about(
        &row,
        now,
        "delete",
        Some(row.status),
        Some(MachineStatus::Deleted),
        Actor::Operator,
    )
    .related(row.recovery.as_ref().map(|r| r.old_machine_id));
    event_append(&mut *txn, &event).await?;
    txn.commit().await?;

    if row.pending_step.is_some() {
        // The create may have happened with its response lost: find it by label.
        match app
            .hetzner
            .list_servers(&format!("machine_id={machine_id}"))
            .await
        {
            Ok(found) => {
                for server in found {
                    deletion_enqueue(&app.db, server.id, Some(machine_id), "machine_deleted", now)
                        .await?;
                    servers.push(server.id);
                }
            }
            Err(e) => {
                warn!(%machine_id, error = ?e, "label lookup after delete failed; the orphan sweep will catch strays")
            }
        }
    }
    delete_servers_now(app, &servers).await;
    Ok(())
}
