//! Retries due entries of the provider deletion queue.

use super::TaskStatus;
use crate::app::App;
use crate::app::deletions::delete_due;

pub async fn activate(app: &App) -> TaskStatus {
    let mut status = TaskStatus::default();
    match delete_due(app, app.settings.reconcile_batch).await {
        Ok(pass) => {
            status.processed = pass.deleted + pass.failed;
            status.changed = pass.deleted;
        }
        Err(e) => status.error(e),
    }
    status
}
