//! Recover: replace a user's server, make-before-break.
//!
//! 1. `recover_check_backup`: unless `allowEmpty`, R2 must hold a valid `latest` pointer to an
//!    existing, non-empty snapshot; otherwise 409 and nothing changes (no provider call).
//! 2. `recover_claim` (one transaction): new machine id and token, status `recovering`, the old server
//!    and addresses remembered (the user stays routed to the old server while it lives), the whole
//!    previous row kept for an exact rollback, the row claimed for the create step. A second
//!    concurrent recover finds `recovering` (or the row lock) and gets 409.
//! 3. `create_server_step` for the replacement (`matrix-<handle>-<8 hex>`, same location). A
//!    definitive failure undoes: any labelled replacement is queued for deletion and the row is
//!    restored exactly (`recover_rollback`). An ambiguous outcome leaves the step pending.
//! 4. The replacement boots, restores from R2 and registers (see `register`), which queues the old
//!    server's deletion: the old server goes only after the new one is up.

use tracing::{info, warn};

use super::App;
use super::create_server::{StepOutcome, create_server_step};
use super::deletions::delete_servers_now;
use crate::error::{Error, ErrorKind, Result, msg};
use crate::hetzner::ProviderError;
use crate::ids::{ClerkUserId, MachineId, RuntimeSlot};
use crate::r2::BackupCheck;
use crate::secret::sha256_hex;
use crate::status::{Actor, FailureCode, MachineStatus};
use crate::store::backups::{BackupObservation, backup_upsert};
use crate::store::deletions::deletion_enqueue;
use crate::store::events::{NewEvent, event_append};
use crate::store::machines::{self, Machine, RecoveryClaim};

#[derive(Debug, Clone)]
pub struct RecoverRequest {
    pub clerk_user_id: ClerkUserId,
    pub runtime_slot: RuntimeSlot,
    pub allow_empty: bool,
}

#[derive(Debug, Clone)]
pub struct RecoverResult {
    pub old_machine_id: MachineId,
    pub machine_id: MachineId,
    pub runtime_slot: RuntimeSlot,
}

pub async fn recover(app: &App, req: &RecoverRequest) -> Result<RecoverResult> {
    app.platform_secret()?;
    let row = machines::machine_get_live(&app.db, &req.clerk_user_id, &req.runtime_slot)
        .await?
        .ok_or_else(|| Error::not_found("recover: no live machine"))?;
    if row.status == MachineStatus::Recovering {
        return Err(Error::conflict(
            msg::ALREADY_RECOVERING,
            "recover while recovering",
        ));
    }
    if !req.allow_empty {
        recover_check_backup(app, &row).await?;
    }
    let (row, claim, token) = recover_claim(app, &row, req).await?;
    let new_id = row.machine_id;
    let old_id = row
        .recovery
        .as_ref()
        .map(|r| r.old_machine_id)
        .expect("claimed recovery row has a previous row");
    match create_server_step(app, row, claim, Some(token), Actor::Operator).await? {
        StepOutcome::Failed(code) => {
            let kind = if code == FailureCode::QuotaExceeded {
                ErrorKind::Capacity
            } else {
                ErrorKind::Unavailable
            };
            let public = if kind == ErrorKind::Capacity {
                msg::CAPACITY
            } else {
                msg::UNAVAILABLE
            };
            Err(Error::new(
                kind,
                public,
                format!("replacement create failed: {code}; row restored"),
            )
            .with_code(code))
        }
        StepOutcome::Deferred => {
            app.activate_steps.notify_one();
            Ok(RecoverResult {
                old_machine_id: old_id,
                machine_id: new_id,
                runtime_slot: req.runtime_slot.clone(),
            })
        }
        StepOutcome::Created(_) | StepOutcome::Skipped => Ok(RecoverResult {
            old_machine_id: old_id,
            machine_id: new_id,
            runtime_slot: req.runtime_slot.clone(),
        }),
    }
}

/// Step 1: the backup must exist in R2 — verified, not trusted. Also refreshes the observation.
async fn recover_check_backup(app: &App, row: &Machine) -> Result<()> {
    let check: BackupCheck = app
        .r2
        .check_backup(&row.clerk_user_id, &row.runtime_slot)
        .await
        .map_err(|e| {
            Error::unavailable(format!("recover: backup check failed: {e}"))
                .with_code(FailureCode::R2Unavailable)
        })?;
    let observation = BackupObservation {
        clerk_user_id: row.clerk_user_id.to_string(),
        runtime_slot: row.runtime_slot.to_string(),
        checked_at: app.now(),
        latest_key: check.key.as_ref().map(|k| k.relative().to_owned()),
        snapshot_at: check.taken_at,
        size_bytes: check.size_bytes.and_then(|s| i64::try_from(s).ok()),
        sha256: check.sha256.clone(),
        problem: check.problem.map(|p| p.as_str().to_owned()),
    };
    backup_upsert(&app.db, &observation).await?;
    match check.problem {
        None => Ok(()),
        Some(problem) => Err(Error::conflict(
            msg::NO_BACKUP,
            format!("recover refused: {}", problem.as_str()),
        )),
    }
}

/// Step 2: durable intent, in one transaction.
async fn recover_claim(
    app: &App,
    seen: &Machine,
    req: &RecoverRequest,
) -> Result<(Machine, uuid::Uuid, crate::secret::Secret)> {
    let now = app.now();
    let mut txn = app.db.begin().await?;
    let row =
        machines::machine_get_live_for_update(&mut txn, &req.clerk_user_id, &req.runtime_slot)
            .await?
            .ok_or_else(|| Error::not_found("recover: row gone"))?;
    if row.status == MachineStatus::Recovering {
        return Err(Error::conflict(
            msg::ALREADY_RECOVERING,
            "recover while recovering",
        ));
    }
    if row.machine_id != seen.machine_id {
        return Err(Error::conflict(
            msg::NOT_ALLOWED,
            "recover: row replaced while checking the backup",
        ));
    }
    if row.claim_active(now) {
        return Err(Error::conflict(
            msg::BUSY,
            "recover: a provider step holds the row",
        ));
    }
    let token = app.new_token();
    let claim = app.new_claim();
    let c = RecoveryClaim {
        new_machine_id: app.ids.machine_id(),
        token_hash: sha256_hex(token.expose()),
        token_expires_at: now
            + chrono::Duration::from_std(app.settings.registration_ttl)
                .unwrap_or(chrono::Duration::minutes(15)),
        claim_id: claim,
        claim_expires_at: now + app.claim_ttl(),
        now,
    };
    if !machines::machine_begin_recovery(&mut txn, &row, &c).await? {
        return Err(Error::conflict(
            msg::ALREADY_RECOVERING,
            "recover: row changed concurrently",
        ));
    }
    for (machine_id, related, kind) in [
        (c.new_machine_id, row.machine_id, "recover"),
        (row.machine_id, c.new_machine_id, "replaced"),
    ] {
        let event = NewEvent::about(
            &row,
            now,
            kind,
            Some(row.status),
            Some(MachineStatus::Recovering),
            Actor::Operator,
        )
        .for_machine(machine_id)
        .reason(req.allow_empty.then_some("allow_empty"))
        .related(Some(related));
        event_append(&mut *txn, &event).await?;
    }
    let claimed = machines::machine_get_for_update(&mut txn, c.new_machine_id)
        .await?
        .ok_or_else(|| Error::internal("recovery row vanished"))?;
    txn.commit().await?;
    info!(old = %row.machine_id, new = %c.new_machine_id, "recovery started");
    Ok((claimed, claim, token))
}

/// Undo of a failed replacement: queue any labelled replacement server for deletion and restore the
/// previous row exactly. When the old server is known to be gone, the rollback is impossible and the
/// row becomes `failed` with `code` instead.
pub async fn recover_rollback(
    app: &App,
    row: &Machine,
    code: FailureCode,
    actor: Actor,
) -> Result<()> {
    let Some(recovery) = &row.recovery else {
        return Err(Error::internal("rollback of a row without recovery state"));
    };
    // Provider reads happen before the transaction.
    let replacement_servers: Vec<_> = match app
        .hetzner
        .list_servers(&format!("machine_id={}", row.machine_id))
        .await
    {
        Ok(servers) => servers.into_iter().map(|s| s.id).collect(),
        Err(e) => {
            warn!(machine_id = %row.machine_id, error = ?e, "could not list replacement servers; the orphan sweep will find any");
            Vec::new()
        }
    };
    let mut servers_to_delete: Vec<_> = replacement_servers
        .iter()
        .copied()
        .chain(row.hetzner_server_id)
        .collect();
    servers_to_delete.sort();
    servers_to_delete.dedup();
    let old_server_gone = match recovery.old_server_id {
        Some(old) => matches!(
            app.hetzner.get_server(old).await,
            Err(ProviderError::NotFound)
        ),
        None => false,
    };
    let now = app.now();
    let mut txn = app.db.begin().await?;
    for server in &servers_to_delete {
        deletion_enqueue(
            &mut *txn,
            *server,
            Some(row.machine_id),
            "recovery_rolled_back",
            now,
        )
        .await?;
    }
    let (done, kind, to) = if old_server_gone {
        (
            machines::machine_abandon_recovery(&mut txn, row.machine_id, code, now).await?,
            "recover_abandon",
            MachineStatus::Failed,
        )
    } else {
        let to = recovery
            .previous
            .status
            .parse()
            .unwrap_or(MachineStatus::Failed);
        (
            machines::machine_rollback_recovery(&mut txn, row).await?,
            "recover_rollback",
            to,
        )
    };
    if !done {
        return Err(Error::conflict(
            msg::NOT_ALLOWED,
            "rollback: row changed concurrently",
        ));
    }
    let restored_id = if old_server_gone {
        row.machine_id
    } else {
        recovery.old_machine_id
    };
    let related = if old_server_gone {
        recovery.old_machine_id
    } else {
        row.machine_id
    };
    let event = NewEvent::about(
        row,
        now,
        kind,
        Some(MachineStatus::Recovering),
        Some(to),
        actor,
    )
    .for_machine(restored_id)
    .reason(Some(code.as_str()))
    .related(Some(related));
    event_append(&mut *txn, &event).await?;
    txn.commit().await?;
    warn!(machine_id = %row.machine_id, code = %code, kind, "recovery undone");
    delete_servers_now(app, &servers_to_delete).await;
    Ok(())
}
