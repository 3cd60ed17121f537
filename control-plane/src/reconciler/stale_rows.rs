//! Settles rows stuck in `provisioning`/`recovering` past the stale threshold (reference §7.1).
//!
//! - no server id: delete any servers labelled with the machine id → `failed/provider_unavailable`;
//! - the server is gone at the provider → `failed/not_found`;
//! - the registration token expired → `failed/registration_timeout`, the server queued for deletion
//!   in the same transaction;
//! - otherwise the host still has time to register: leave it.
//!
//! A row whose create was never attempted (it waits for rate-limit budget) is not stale.
//! A recovering row is rolled back instead of failed (the user keeps the old server). A server the
//! provider reports `running` never makes a row running: only `register` does.

use tracing::info;

use super::TaskStatus;
use crate::app::App;
use crate::app::create_server::fail_or_rollback;
use crate::error::Result;
use crate::hetzner::ProviderError;
use crate::status::{Actor, FailureCode};
use crate::store::machines::{self, Machine};

pub async fn activate(app: &App) -> TaskStatus {
    let mut status = TaskStatus::default();
    let now = app.now();
    let older_than = now
        - chrono::Duration::from_std(app.settings.stale_after)
            .unwrap_or(chrono::Duration::minutes(10));
    let rows =
        match machines::machine_list_stale(&app.db, older_than, now, app.settings.reconcile_batch)
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
        match settle(app, &row).await {
            Ok(true) => status.changed += 1,
            Ok(false) => {}
            Err(e) => status.error(e),
        }
    }
    status
}

async fn settle(app: &App, seen: &Machine) -> Result<bool> {
    let claim = app.new_claim();
    let Some(row) =
        machines::machine_claim(&app.db, seen.machine_id, claim, app.now(), app.claim_ttl())
            .await?
    else {
        return Ok(false);
    };
    // A create that has not been attempted yet is waiting for rate-limit budget (a burst), not stuck:
    // the provision-step task owns it. Staleness applies once an attempt has been made.
    if !row.status.is_transient()
        || (row.pending_step.is_some() && row.step_attempts == 0 && row.hetzner_server_id.is_none())
    {
        machines::machine_release_claim(&app.db, row.machine_id, claim, None, false).await?;
        return Ok(false);
    }
    let verdict = match row.hetzner_server_id {
        None => match app
            .hetzner
            .list_servers(&format!("machine_id={}", row.machine_id))
            .await
        {
            Ok(servers) => Some((
                FailureCode::ProviderUnavailable,
                servers.into_iter().map(|s| s.id).collect(),
            )),
            Err(_) => None,
        },
        Some(server) => match app.hetzner.get_server(server).await {
            Err(ProviderError::NotFound) => Some((FailureCode::NotFound, Vec::new())),
            Err(_) => None,
            Ok(_)
                if row
                    .registration_token_expires_at
                    .is_none_or(|t| t <= app.now()) =>
            {
                Some((FailureCode::RegistrationTimeout, vec![server]))
            }
            Ok(_) => None,
        },
    };
    let Some((code, servers)) = verdict else {
        machines::machine_release_claim(&app.db, row.machine_id, claim, None, false).await?;
        return Ok(false);
    };
    info!(machine_id = %row.machine_id, status = %row.status, code = %code, "settling stale row");
    fail_or_rollback(app, &row, claim, code, &servers, Actor::Reconciler).await?;
    Ok(true)
}
