//! The server-create step shared by provision and recover, and by the reconciler when it resumes one.
//!
//! Flow (one row, under its claim):
//! 1. `create_server_lookup`: list servers labelled with the row's machine id. A create whose
//!    response was lost may have succeeded: adopt that server instead of creating a second one.
//! 2. `create_server_render`: render cloud-init; a retried create renders a fresh registration token
//!    and stores its hash first (only the hash is ever stored). Over the size limit → definitive
//!    `user_data_too_large` with no provider call.
//! 3. `create_server_call`: `POST /servers`.
//! 4. `create_server_record`: persist the server id and IPs; the row stays provisioning/recovering
//!    until the host registers.
//!
//! Outcomes: definitive → provisioning rows fail with the code, recovering rows roll back exactly
//! (`recover_rollback`); ambiguous or rate-limited → the claim is released with a retry time and the
//! row stays as it is for the next attempt (which starts again at step 1).

use std::collections::BTreeMap;

use chrono::Duration;
use tracing::{info, warn};
use uuid::Uuid;

use super::App;
use crate::cloud_init::{self, HostBootstrap, RenderError};
use crate::error::{Error, Result};
use crate::hetzner::{CreateServerRequest, DefinitiveKind, ProviderError, Server};
use crate::secret::{Secret, sha256_hex};
use crate::status::{Actor, FailureCode, MachineStatus};
use crate::store::events::{NewEvent, event_append};
use crate::store::machines::{self, Machine};
use crate::store::{deletions, machines::machine_set_server};

/// What happened to the step.
#[derive(Debug)]
pub enum StepOutcome {
    /// A server exists for the row now (created or adopted).
    Created(Box<Server>),
    /// The provider refused; the row was failed or rolled back.
    Failed(FailureCode),
    /// Outcome unknown or budget unavailable; the row keeps its pending step.
    Deferred,
    /// Someone else holds the row, or it no longer needs a server.
    Skipped,
}

/// Labels every server we create carries; the orphan sweep and adoption select on them.
pub fn server_labels(app: &App, m: &Machine) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_owned(), app.settings.app_label.clone()),
        ("clerk_user_id".to_owned(), m.clerk_user_id.to_string()),
        ("runtime_slot".to_owned(), m.runtime_slot.to_string()),
        ("machine_id".to_owned(), m.machine_id.to_string()),
    ])
}

/// `matrix-<handle>` for a primary slot's first server (the reference name). Other slots add the slot
/// (`matrix-<handle>-<slot>`), and a replacement adds 8 hex of its new machine id, since the old
/// server still holds its name while it lives. `disambiguate` adds the hex too: used when Hetzner
/// reports the plain name taken (a retired row's server not yet deleted). Names are cut to Hetzner's
/// 63-character label limit, keeping the suffix.
pub fn server_name(m: &Machine, disambiguate: bool) -> String {
    let mut suffix = String::new();
    if !m.runtime_slot.is_primary() {
        suffix.push('-');
        suffix.push_str(m.runtime_slot.as_str());
    }
    if disambiguate || m.status == MachineStatus::Recovering {
        suffix.push('-');
        suffix.push_str(&m.machine_id.short());
    }
    let room = 63 - "matrix-".len() - suffix.len();
    let handle = m.handle.as_str();
    let handle = handle[..handle.len().min(room)].trim_end_matches('-');
    format!("matrix-{handle}{suffix}")
}

fn step_backoff(attempts: i32) -> Duration {
    Duration::seconds((15i64 << attempts.clamp(0, 6)).min(600))
}

/// Runs the step for a row this caller already claimed with `claim`. `token` is the plaintext
/// registration token whose hash the row already holds (fresh from the insert), if the caller has it.
pub async fn create_server_step(
    app: &App,
    row: Machine,
    claim: Uuid,
    token: Option<Secret>,
    actor: Actor,
) -> Result<StepOutcome> {
    if row.claim_id != Some(claim) {
        return Ok(StepOutcome::Skipped);
    }
    if row.pending_step.is_none() {
        // Someone recorded the server between our read and our claim: nothing to do, but the claim
        // is ours and must not linger (it would make delete and recover answer "busy").
        machines::machine_release_claim(&app.db, row.machine_id, claim, None, false).await?;
        return Ok(StepOutcome::Skipped);
    }
    // Step 1 — idempotency: a previous attempt whose response was lost may have created the server.
    let selector = format!("machine_id={}", row.machine_id);
    let existing = match app.hetzner.list_servers(&selector).await {
        Ok(servers) => servers,
        Err(e) => return defer(app, &row, claim, &e).await,
    };
    if let Some(server) = existing.into_iter().min_by_key(|s| s.id) {
        info!(machine_id = %row.machine_id, server_id = %server.id, "adopting server created by an earlier attempt");
        return record(app, &row, claim, server, actor, "server_adopted").await;
    }

    // Step 2 — render, with a token whose hash the row holds.
    let token = match token {
        Some(t) => t,
        None => {
            let t = app.new_token();
            let expires = app.now()
                + Duration::from_std(app.settings.registration_ttl)
                    .unwrap_or(Duration::minutes(15));
            if !machines::machine_set_token(
                &app.db,
                row.machine_id,
                claim,
                &sha256_hex(t.expose()),
                expires,
            )
            .await?
            {
                return Ok(StepOutcome::Skipped);
            }
            t
        }
    };
    let heartbeat = cloud_init::heartbeat_token(app.platform_secret()?, row.machine_id);
    let postgres_password = app.new_token();
    let host = HostBootstrap {
        machine_id: row.machine_id,
        clerk_user_id: &row.clerk_user_id,
        handle: &row.handle,
        runtime_slot: &row.runtime_slot,
        image_version: &row.image_version,
        registration_token: &token,
        heartbeat_token: &heartbeat,
        postgres_password: &postgres_password,
    };
    let user_data = match cloud_init::render(&app.bootstrap, &host, app.settings.user_data_limit) {
        Ok(u) => u,
        Err(RenderError::TooLarge { size, limit }) => {
            warn!(machine_id = %row.machine_id, size, limit, "user_data over the limit; no provider call made");
            return fail(app, &row, claim, FailureCode::UserDataTooLarge, actor).await;
        }
        Err(RenderError::UnsafeValue) => {
            return Err(Error::internal("cloud-init value cannot be rendered"));
        }
    };

    // Step 3 — the provider call, no transaction open.
    let mut request = CreateServerRequest {
        name: server_name(&row, false),
        server_type: row.server_type.clone(),
        image: app.settings.image.clone(),
        location: row.location.clone(),
        user_data,
        labels: server_labels(app, &row),
    };
    let mut outcome = app.hetzner.create_server(&request).await;
    if let Err(ProviderError::Definitive {
        kind: DefinitiveKind::Conflict,
        code,
        ..
    }) = &outcome
        && code == "uniqueness_error"
    {
        // The name is taken (Hetzner names are unique per project): an earlier row's server that is
        // queued for deletion still holds it. Nothing was created, so try once with a unique name.
        request.name = server_name(&row, true);
        outcome = app.hetzner.create_server(&request).await;
    }
    match outcome {
        Ok(server) => record(app, &row, claim, server, actor, "server_created").await,
        // A refused token or a forbidden project is the platform's problem, not the user's: defer
        // (and alert through metrics and logs) instead of failing rows and burning their attempts.
        Err(
            e @ ProviderError::Definitive {
                kind: DefinitiveKind::Unauthorized | DefinitiveKind::Forbidden,
                ..
            },
        ) => {
            warn!(machine_id = %row.machine_id, error = ?e, "hetzner refused our credentials; create deferred");
            defer(app, &row, claim, &e).await
        }
        Err(e) if e.is_definitive() => {
            warn!(machine_id = %row.machine_id, error = ?e, "server create refused");
            fail(app, &row, claim, e.failure_code(), actor).await
        }
        Err(e) => defer(app, &row, claim, &e).await,
    }
}

/// Step 4 — persist. When the row was deleted meanwhile (claim lost), the server is unwanted: queue it.
async fn record(
    app: &App,
    row: &Machine,
    claim: Uuid,
    server: Server,
    actor: Actor,
    kind: &'static str,
) -> Result<StepOutcome> {
    let now = app.now();
    let mut txn = app.db.begin().await?;
    let kept = machine_set_server(
        &mut *txn,
        row.machine_id,
        claim,
        server.id,
        server.public_ipv4,
        server.public_ipv6,
        now,
    )
    .await?;
    if kept {
        event_append(
            &mut *txn,
            &NewEvent::about(row, now, kind, Some(row.status), Some(row.status), actor),
        )
        .await?;
    } else if !machines::machine_references_server(&mut *txn, server.id).await? {
        // Our claim was lost (the row was deleted, or another replica took over after the claim
        // expired). Queue the server only if no live row uses it: the other replica may have adopted
        // this very server by label.
        deletions::deletion_enqueue(
            &mut *txn,
            server.id,
            Some(row.machine_id),
            "unwanted_after_create",
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(if kept {
        StepOutcome::Created(Box::new(server))
    } else {
        StepOutcome::Skipped
    })
}

async fn defer(app: &App, row: &Machine, claim: Uuid, e: &ProviderError) -> Result<StepOutcome> {
    let next = match e {
        ProviderError::RateLimited { retry_at } => *retry_at,
        _ => app.now() + step_backoff(row.step_attempts),
    };
    info!(machine_id = %row.machine_id, error = ?e, "server create outcome unknown or deferred; will retry");
    machines::machine_release_claim(
        &app.db,
        row.machine_id,
        claim,
        Some(next),
        !matches!(e, ProviderError::RateLimited { .. }),
    )
    .await?;
    Ok(StepOutcome::Deferred)
}

async fn fail(
    app: &App,
    row: &Machine,
    claim: Uuid,
    code: FailureCode,
    actor: Actor,
) -> Result<StepOutcome> {
    fail_or_rollback(app, row, claim, code, &[], actor).await?;
    Ok(StepOutcome::Failed(code))
}

/// The failure path shared with the reconciler: a provisioning row becomes `failed` with `code` and
/// the given servers are queued for deletion in the same transaction; a recovering row is rolled back
/// (which queues the replacement itself). Releases the claim when the row moved on meanwhile.
pub async fn fail_or_rollback(
    app: &App,
    row: &Machine,
    claim: Uuid,
    code: FailureCode,
    queue: &[crate::ids::HetznerServerId],
    actor: Actor,
) -> Result<()> {
    if row.status == MachineStatus::Recovering {
        return super::recover::recover_rollback(app, row, code, actor).await;
    }
    let now = app.now();
    let mut txn = app.db.begin().await?;
    if machines::machine_fail(&mut txn, row.machine_id, code, now).await? {
        for server in queue {
            deletions::deletion_enqueue(
                &mut *txn,
                *server,
                Some(row.machine_id),
                code.as_str(),
                now,
            )
            .await?;
        }
        event_append(
            &mut *txn,
            &NewEvent::about(
                row,
                now,
                "fail",
                Some(MachineStatus::Provisioning),
                Some(MachineStatus::Failed),
                actor,
            )
            .reason(Some(code.as_str())),
        )
        .await?;
        app.metrics.provision_failure(code);
    } else {
        machines::machine_release_claim(&mut *txn, row.machine_id, claim, None, true).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Claims a row's pending step and runs it (reconciler and retried provisions).
pub async fn create_server_resume(app: &App, row: &Machine, actor: Actor) -> Result<StepOutcome> {
    let claim = app.new_claim();
    let Some(claimed) =
        machines::machine_claim(&app.db, row.machine_id, claim, app.now(), app.claim_ttl()).await?
    else {
        return Ok(StepOutcome::Skipped);
    };
    if claimed.pending_step.is_none() {
        machines::machine_release_claim(&app.db, claimed.machine_id, claim, None, false).await?;
        return Ok(StepOutcome::Skipped);
    }
    create_server_step(app, claimed, claim, None, actor).await
}
