//! Boot failure: a host whose restore-or-fresh gate failed closed tells the platform why.
//!
//! BEYOND the upstream, where a host that cannot restore simply never registers and the operator
//! learns only, 15 minutes later, that its token expired. Here the host reports the stage that failed
//! (one word from [`BootFailureReason`], never free text, so nothing a host writes can carry a secret
//! or provider message into the timeline), and the platform appends a `boot_failed` event to the
//! machine's timeline, which the console and `matrix-console events` show.
//!
//! Guarantees:
//! - the same proof as `register`: the registration token (constant time), unexpired, a live row in
//!   `provisioning` or `recovering`, and the row's own server id; otherwise nothing is written;
//! - the token is NOT consumed and the row is NOT changed: the reconciler still settles it when the
//!   token expires (a failed provision becomes `registration_timeout`, a failed recovery rolls back);
//! - idempotent: one event per (machine, reason), so a host retrying its report adds nothing.

use tracing::info;

use super::App;
use super::register::check_host_proof;
use crate::error::Result;
use crate::ids::{HetznerServerId, MachineId};
use crate::secret::Secret;
use crate::status::{Actor, BootFailureReason};
use crate::store::events::{NewEvent, event_append_once};
use crate::store::machines;

#[derive(Debug, Clone)]
pub struct BootFailureReport {
    pub machine_id: MachineId,
    pub hetzner_server_id: HetznerServerId,
    pub reason: BootFailureReason,
}

/// Records the report; `Ok(true)` when it was new, `Ok(false)` when the same report was already on
/// the timeline.
pub async fn boot_failure(app: &App, token: &Secret, report: &BootFailureReport) -> Result<bool> {
    let now = app.now();
    let mut txn = app.db.begin().await?;
    let row = machines::machine_get_for_update(&mut txn, report.machine_id)
        .await?
        .ok_or_else(|| crate::error::Error::not_found("boot failure: unknown machine"))?;
    check_host_proof(&row, token, report.hetzner_server_id, now, "boot failure")?;
    let recorded = event_append_once(
        &mut *txn,
        &NewEvent::about(&row, now, "boot_failed", None, None, Actor::Host)
            .reason(Some(report.reason.as_str()))
            // During a recovery the machine being replaced shows it too: a rollback gives the row
            // that id back, and its timeline should say why the replacement never came.
            .related(row.recovery.as_ref().map(|r| r.old_machine_id)),
    )
    .await?;
    txn.commit().await?;
    info!(machine_id = %row.machine_id, reason = report.reason.as_str(), recorded, "host reported a boot failure");
    Ok(recorded)
}
