//! Runs pending server-create steps: creates deferred for rate-limit budget, creates whose outcome
//! was unknown (retried after a label lookup, so a lost response is adopted, not duplicated), and
//! steps a crashed replica left claimed (their claim expires).

use super::TaskStatus;
use crate::app::App;
use crate::app::create_server::{StepOutcome, create_server_resume};
use crate::status::Actor;
use crate::store::machines::machine_list_pending_steps;

pub async fn activate(app: &App) -> TaskStatus {
    let mut status = TaskStatus::default();
    let rows =
        match machine_list_pending_steps(&app.db, app.now(), app.settings.reconcile_batch).await {
            Ok(rows) => rows,
            Err(e) => {
                status.error(e);
                return status;
            }
        };
    for row in rows {
        status.processed += 1;
        match create_server_resume(app, &row, Actor::Reconciler).await {
            Ok(StepOutcome::Created(_) | StepOutcome::Failed(_)) => status.changed += 1,
            Ok(StepOutcome::Deferred) => {
                // Budget or the provider is unavailable: the rest of the batch would only wait too.
                break;
            }
            Ok(StepOutcome::Skipped) => {}
            Err(e) => status.error(e),
        }
    }
    status
}
