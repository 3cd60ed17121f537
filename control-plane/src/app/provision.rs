//! Provision: give a user a machine for a runtime slot.
//!
//! 1. `provision_claim_row` (one transaction): idempotency per (user, slot) — a live
//!    provisioning/running row is returned as it is, a recovering one refuses; a live failed row is
//!    retired (its server queued for deletion) and replaced by attempt + 1, up to the cap; the new row
//!    is written with its token hash and a pending `create_server` step. The partial unique indexes
//!    decide concurrent calls: exactly one insert wins.
//! 2. `create_server_step` (no transaction): run inline when the Hetzner rate-limit budget allows it
//!    right now; otherwise the row stays pending and the reconciler's step task, activated here,
//!    runs it as budget returns — a burst never fails a row because of the rate limit.
//!
//! A retried provision for a row whose create is pending and unclaimed (a lost response, a crash)
//! runs the step again, which adopts the server by label instead of creating a second one.

use chrono::Duration;

use super::App;
use super::create_server::{StepOutcome, create_server_resume, create_server_step};
use crate::error::{Error, ErrorKind, Result, msg};
use crate::ids::{ClerkUserId, Handle, MachineId, RuntimeSlot};
use crate::secret::sha256_hex;
use crate::status::{Actor, FailureCode, MachineStatus};
use crate::store::deletions;
use crate::store::events::{NewEvent, event_append};
use crate::store::machines::{self, InsertOutcome, Machine, NewMachine};

#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    pub clerk_user_id: ClerkUserId,
    pub handle: Handle,
    pub runtime_slot: RuntimeSlot,
}

#[derive(Debug, Clone)]
pub struct ProvisionResult {
    pub machine_id: MachineId,
    pub status: MachineStatus,
}

enum Claimed {
    New(Box<Machine>, crate::secret::Secret),
    Existing(Box<Machine>),
}

pub async fn provision(app: &App, req: &ProvisionRequest) -> Result<ProvisionResult> {
    app.platform_secret()?; // hosts need a heartbeat token derived from it
    let claimed = provision_claim_row(app, req).await?;
    let (row, token) = match claimed {
        Claimed::Existing(row) => {
            // idempotency: an earlier call owns this row. Resume its create only if it is pending,
            // nobody holds it (a lost response or a crash left it half-done) and its backoff is
            // over: a client retrying fast must not skip the step's schedule.
            if row.pending_step.is_some()
                && !row.claim_active(app.now())
                && row.record.step_next_at.is_none_or(|due| due <= app.now())
                && app.hetzner.has_budget_now()
            {
                create_server_resume(app, &row, Actor::Api).await?;
            }
            return current(app, row.machine_id).await;
        }
        Claimed::New(row, token) => (row, token),
    };
    if !app.hetzner.has_budget_now() {
        app.activate_steps.notify_one();
        return Ok(ProvisionResult {
            machine_id: row.machine_id,
            status: MachineStatus::Provisioning,
        });
    }
    let claim = app.new_claim();
    let Some(claimed) =
        machines::machine_claim(&app.db, row.machine_id, claim, app.now(), app.claim_ttl()).await?
    else {
        return current(app, row.machine_id).await;
    };
    match create_server_step(app, claimed, claim, Some(token), Actor::Api).await? {
        StepOutcome::Failed(code) => Err(provision_failure_error(code)),
        StepOutcome::Deferred => {
            app.activate_steps.notify_one();
            current(app, row.machine_id).await
        }
        StepOutcome::Created(_) | StepOutcome::Skipped => current(app, row.machine_id).await,
    }
}

fn provision_failure_error(code: FailureCode) -> Error {
    let e = match code {
        FailureCode::QuotaExceeded => Error::new(
            ErrorKind::Capacity,
            msg::CAPACITY,
            "provider quota or capacity",
        ),
        _ => Error::internal(format!("server create failed definitively: {code}")),
    };
    e.with_code(code)
}

async fn current(app: &App, id: MachineId) -> Result<ProvisionResult> {
    let row = machines::machine_get(&app.db, id)
        .await?
        .ok_or_else(|| Error::internal("provisioned row vanished"))?;
    if row.status == MachineStatus::Failed {
        return Err(provision_failure_error(
            row.failure_code.unwrap_or(FailureCode::Unknown),
        ));
    }
    Ok(ProvisionResult {
        machine_id: row.machine_id,
        status: row.status,
    })
}

async fn provision_claim_row(app: &App, req: &ProvisionRequest) -> Result<Claimed> {
    let now = app.now();
    let mut txn = app.db.begin().await?;
    let existing =
        machines::machine_get_live_for_update(&mut txn, &req.clerk_user_id, &req.runtime_slot)
            .await?;
    let attempt = match existing {
        Some(row) => match row.status {
            MachineStatus::Provisioning | MachineStatus::Running => {
                return Ok(Claimed::Existing(Box::new(row)));
            }
            MachineStatus::Recovering => {
                return Err(Error::conflict(
                    msg::ALREADY_RECOVERING,
                    "provision while recovering",
                ));
            }
            MachineStatus::Failed => {
                if row.attempt >= app.settings.max_attempts {
                    return Err(Error::conflict(
                        msg::RETRY_EXHAUSTED,
                        format!("attempt {} reached the cap", row.attempt),
                    )
                    .with_code(FailureCode::RetryExhausted));
                }
                provision_retire_failed(&mut txn, &row, now).await?;
                row.attempt + 1
            }
            MachineStatus::Deleted => return Err(Error::internal("live row with status deleted")),
        },
        None => 1,
    };
    let token = app.new_token();
    let machine_id = app.ids.machine_id();
    let expires =
        now + Duration::from_std(app.settings.registration_ttl).unwrap_or(Duration::minutes(15));
    let new = NewMachine {
        machine_id,
        clerk_user_id: &req.clerk_user_id,
        handle: &req.handle,
        runtime_slot: &req.runtime_slot,
        image_version: &app.settings.image_version,
        server_type: &app.settings.server_type,
        location: &app.settings.location,
        registration_token_hash: &sha256_hex(token.expose()),
        registration_token_expires_at: expires,
        attempt,
        now,
    };
    match machines::machine_insert(&mut txn, &new).await? {
        InsertOutcome::Inserted(row) => {
            let event = NewEvent::about(
                &row,
                now,
                "provision",
                None,
                Some(MachineStatus::Provisioning),
                Actor::Api,
            )
            .reason((attempt > 1).then_some("retry_after_failure"));
            event_append(&mut *txn, &event).await?;
            txn.commit().await?;
            Ok(Claimed::New(row, token))
        }
        InsertOutcome::UserSlotTaken => {
            // A concurrent provision for the same key won; converge on its row.
            txn.rollback().await?;
            let row = machines::machine_get_live(&app.db, &req.clerk_user_id, &req.runtime_slot)
                .await?
                .ok_or_else(|| {
                    Error::unavailable("row of a concurrent provision not visible yet")
                })?;
            if row.status == MachineStatus::Recovering {
                return Err(Error::conflict(
                    msg::ALREADY_RECOVERING,
                    "provision while recovering",
                ));
            }
            Ok(Claimed::Existing(Box::new(row)))
        }
        InsertOutcome::HandleTaken => Err(Error::conflict(
            msg::HANDLE_TAKEN,
            "handle held by another user's live row",
        )),
    }
}

/// failed → retired: soft-delete the row and queue its server (if any) for deletion, in the caller's
/// transaction.
async fn provision_retire_failed(
    txn: &mut crate::store::Txn<'_>,
    row: &Machine,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    if !machines::machine_retire(txn, row.machine_id, now).await? {
        return Err(Error::conflict(
            msg::NOT_ALLOWED,
            "failed row changed while retiring",
        ));
    }
    if let Some(server) = row.hetzner_server_id {
        deletions::deletion_enqueue(
            &mut **txn,
            server,
            Some(row.machine_id),
            "retired_failed_row",
            now,
        )
        .await?;
    }
    event_append(
        &mut **txn,
        &NewEvent::about(
            row,
            now,
            "retire",
            Some(MachineStatus::Failed),
            Some(MachineStatus::Failed),
            Actor::Api,
        )
        .reason(row.failure_code.map(|c| c.as_str())),
    )
    .await?;
    Ok(())
}
