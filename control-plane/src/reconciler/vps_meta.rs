//! Re-writes `vps-meta.json` for running machines whose copy is oldest (or was never written, e.g.
//! when the write after registration failed).

use super::TaskStatus;
use crate::app::App;
use crate::app::vps_meta::write_vps_meta;
use crate::store::machines::{machine_claim_vps_meta_due, machine_mark_vps_meta};

pub async fn activate(app: &App) -> TaskStatus {
    let mut status = TaskStatus::default();
    let now = app.now();
    let due_before = now
        - chrono::Duration::from_std(app.settings.vps_meta_interval)
            .unwrap_or(chrono::Duration::hours(1));
    // The claim query marks rows as written now (a lease); a failed write resets the mark to what it was.
    let rows =
        match machine_claim_vps_meta_due(&app.db, due_before, now, app.settings.reconcile_batch)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                status.error(e);
                return status;
            }
        };
    for row in rows {
        status.processed += 1;
        match write_vps_meta(app, &row).await {
            Ok(()) => status.changed += 1,
            Err(e) => {
                status.error(e);
                // Put it back at the front of the queue for the next pass.
                if let Err(e) = machine_mark_vps_meta(&app.db, row.machine_id, None).await {
                    status.error(e);
                }
            }
        }
    }
    status
}
