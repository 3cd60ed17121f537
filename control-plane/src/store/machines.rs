//! `user_machines`: the registry of customer machines.
//!
//! [`MachineRecord`] is the raw row; [`Machine`] is the same row with every column parsed into its
//! typed value. A row that does not parse is a bug or tampering and surfaces as an internal error.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::Error;
use crate::ids::{
    ClerkUserId, Handle, HetznerServerId, ImageVersion, MachineId, PublicIpv4, PublicIpv6,
    RuntimeSlot,
};
use crate::status::{FailureCode, MachineStatus, Transition, check_transition};

/// The raw row, as Postgres returns it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize)]
pub struct MachineRecord {
    pub machine_id: Uuid,
    pub clerk_user_id: String,
    pub handle: String,
    pub runtime_slot: String,
    pub hetzner_server_id: Option<i64>,
    pub public_ipv4: Option<String>,
    pub public_ipv6: Option<String>,
    pub status: String,
    pub image_version: String,
    pub server_type: String,
    pub location: String,
    pub registration_token_hash: Option<String>,
    pub registration_token_expires_at: Option<DateTime<Utc>>,
    pub provisioned_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub failure_code: Option<String>,
    pub failure_at: Option<DateTime<Utc>>,
    pub attempt: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub pending_step: Option<String>,
    pub step_attempts: i32,
    pub step_next_at: Option<DateTime<Utc>>,
    pub claim_id: Option<Uuid>,
    pub claim_expires_at: Option<DateTime<Utc>>,
    pub recovery_old_machine_id: Option<Uuid>,
    pub recovery_old_server_id: Option<i64>,
    pub recovery_old_ipv4: Option<String>,
    pub recovery_old_ipv6: Option<String>,
    pub recovery_previous: Option<serde_json::Value>,
    pub heartbeat_healthy: Option<bool>,
    pub heartbeat_image_version: Option<String>,
    pub reported_backup_key: Option<String>,
    pub reported_backup_at: Option<DateTime<Utc>>,
    pub reported_backup_size: Option<i64>,
    pub heartbeat_state: Option<String>,
    pub vps_meta_written_at: Option<DateTime<Utc>>,
}

/// A recovery in flight: where the user is still routed, and the row to restore on rollback.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub old_machine_id: MachineId,
    pub old_server_id: Option<HetznerServerId>,
    pub old_ipv4: Option<PublicIpv4>,
    pub old_ipv6: Option<PublicIpv6>,
    pub previous: MachineRecord,
}

/// A registry row with typed fields.
#[derive(Debug, Clone)]
pub struct Machine {
    pub machine_id: MachineId,
    pub clerk_user_id: ClerkUserId,
    pub handle: Handle,
    pub runtime_slot: RuntimeSlot,
    pub hetzner_server_id: Option<HetznerServerId>,
    pub public_ipv4: Option<PublicIpv4>,
    pub public_ipv6: Option<PublicIpv6>,
    pub status: MachineStatus,
    pub image_version: ImageVersion,
    pub server_type: String,
    pub location: String,
    pub registration_token_hash: Option<String>,
    pub registration_token_expires_at: Option<DateTime<Utc>>,
    pub provisioned_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub failure_code: Option<FailureCode>,
    pub failure_at: Option<DateTime<Utc>>,
    pub attempt: i32,
    pub pending_step: Option<String>,
    pub step_attempts: i32,
    pub claim_id: Option<Uuid>,
    pub claim_expires_at: Option<DateTime<Utc>>,
    pub recovery: Option<Recovery>,
    pub heartbeat_healthy: Option<bool>,
    pub reported_backup_key: Option<String>,
    pub reported_backup_at: Option<DateTime<Utc>>,
    pub vps_meta_written_at: Option<DateTime<Utc>>,
    pub record: MachineRecord,
}

impl Machine {
    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }
    /// A claim that has not expired: some replica is in the middle of a provider step on this row.
    pub fn claim_active(&self, now: DateTime<Utc>) -> bool {
        self.claim_id.is_some() && self.claim_expires_at.is_some_and(|t| t > now)
    }
}

fn bad(column: &str) -> Error {
    Error::internal(format!("user_machines row has an invalid {column}"))
}

impl TryFrom<MachineRecord> for Machine {
    type Error = Error;
    fn try_from(r: MachineRecord) -> Result<Self, Error> {
        let opt_ipv4 = |v: &Option<String>| {
            v.as_deref()
                .map(PublicIpv4::parse)
                .transpose()
                .map_err(|_| bad("ipv4"))
        };
        let opt_ipv6 = |v: &Option<String>| {
            v.as_deref()
                .map(PublicIpv6::parse)
                .transpose()
                .map_err(|_| bad("ipv6"))
        };
        let opt_server = |v: Option<i64>| {
            v.map(HetznerServerId::new)
                .transpose()
                .map_err(|_| bad("hetzner_server_id"))
        };
        let recovery = match (&r.recovery_old_machine_id, &r.recovery_previous) {
            (Some(old), Some(prev)) => Some(Recovery {
                old_machine_id: MachineId::from_uuid(*old),
                old_server_id: opt_server(r.recovery_old_server_id)?,
                old_ipv4: opt_ipv4(&r.recovery_old_ipv4)?,
                old_ipv6: opt_ipv6(&r.recovery_old_ipv6)?,
                previous: serde_json::from_value(prev.clone())
                    .map_err(|_| bad("recovery_previous"))?,
            }),
            _ => None,
        };
        Ok(Machine {
            machine_id: MachineId::from_uuid(r.machine_id),
            clerk_user_id: ClerkUserId::parse(&r.clerk_user_id)
                .map_err(|_| bad("clerk_user_id"))?,
            handle: Handle::parse(&r.handle).map_err(|_| bad("handle"))?,
            runtime_slot: RuntimeSlot::parse(&r.runtime_slot).map_err(|_| bad("runtime_slot"))?,
            hetzner_server_id: opt_server(r.hetzner_server_id)?,
            public_ipv4: opt_ipv4(&r.public_ipv4)?,
            public_ipv6: opt_ipv6(&r.public_ipv6)?,
            status: r.status.parse().map_err(|_| bad("status"))?,
            image_version: ImageVersion::parse(&r.image_version)
                .map_err(|_| bad("image_version"))?,
            server_type: r.server_type.clone(),
            location: r.location.clone(),
            registration_token_hash: r.registration_token_hash.clone(),
            registration_token_expires_at: r.registration_token_expires_at,
            provisioned_at: r.provisioned_at,
            last_seen_at: r.last_seen_at,
            deleted_at: r.deleted_at,
            failure_code: r
                .failure_code
                .as_deref()
                .map(|c| c.parse().map_err(|_| bad("failure_code")))
                .transpose()?,
            failure_at: r.failure_at,
            attempt: r.attempt,
            pending_step: r.pending_step.clone(),
            step_attempts: r.step_attempts,
            claim_id: r.claim_id,
            claim_expires_at: r.claim_expires_at,
            recovery,
            heartbeat_healthy: r.heartbeat_healthy,
            reported_backup_key: r.reported_backup_key.clone(),
            reported_backup_at: r.reported_backup_at,
            vps_meta_written_at: r.vps_meta_written_at,
            record: r,
        })
    }
}

pub(crate) fn into_machine(r: MachineRecord) -> Result<Machine, Error> {
    Machine::try_from(r)
}

fn into_machines(rows: Vec<MachineRecord>) -> Result<Vec<Machine>, Error> {
    rows.into_iter().map(Machine::try_from).collect()
}

/// A new row in `provisioning`.
#[derive(Debug, Clone)]
pub struct NewMachine<'a> {
    pub machine_id: MachineId,
    pub clerk_user_id: &'a ClerkUserId,
    pub handle: &'a Handle,
    pub runtime_slot: &'a RuntimeSlot,
    pub image_version: &'a ImageVersion,
    pub server_type: &'a str,
    pub location: &'a str,
    pub registration_token_hash: &'a str,
    pub registration_token_expires_at: DateTime<Utc>,
    pub attempt: i32,
    pub now: DateTime<Utc>,
}

/// Outcome of [`machine_insert`]: the unique indexes decide races, not the application.
#[derive(Debug)]
pub enum InsertOutcome {
    Inserted(Box<Machine>),
    /// A live row for this (user, slot) already exists (a concurrent provision won).
    UserSlotTaken,
    /// Another user's live row holds this (handle, slot).
    HandleTaken,
}

pub async fn machine_insert(
    txn: &mut super::Txn<'_>,
    m: &NewMachine<'_>,
) -> Result<InsertOutcome, Error> {
    check_transition(None, MachineStatus::Provisioning, Transition::Provision)
        .map_err(|e| Error::internal(e.to_string()))?;
    // A savepoint keeps the outer transaction usable after a unique violation.
    let result = sqlx::query_as::<_, MachineRecord>(
        "INSERT INTO user_machines (machine_id, clerk_user_id, handle, runtime_slot, status, image_version,
             server_type, location, registration_token_hash, registration_token_expires_at, provisioned_at,
             attempt, created_at, updated_at, pending_step, step_next_at)
         VALUES ($1, $2, $3, $4, 'provisioning', $5, $6, $7, $8, $9, $10, $11, $10, $10, 'create_server', $10)
         ON CONFLICT DO NOTHING
         RETURNING *",
    )
    .bind(m.machine_id.as_uuid())
    .bind(m.clerk_user_id.as_str())
    .bind(m.handle.as_str())
    .bind(m.runtime_slot.as_str())
    .bind(m.image_version.as_str())
    .bind(m.server_type)
    .bind(m.location)
    .bind(m.registration_token_hash)
    .bind(m.registration_token_expires_at)
    .bind(m.now)
    .bind(m.attempt)
    .fetch_optional(&mut **txn)
    .await?;
    match result {
        Some(row) => Ok(InsertOutcome::Inserted(Box::new(into_machine(row)?))),
        None => {
            let user_slot_taken: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM user_machines WHERE clerk_user_id = $1 AND runtime_slot = $2 AND deleted_at IS NULL)",
            )
            .bind(m.clerk_user_id.as_str())
            .bind(m.runtime_slot.as_str())
            .fetch_one(&mut **txn)
            .await?;
            Ok(if user_slot_taken {
                InsertOutcome::UserSlotTaken
            } else {
                InsertOutcome::HandleTaken
            })
        }
    }
}

pub async fn machine_get<'c, E: PgExecutor<'c>>(
    conn: E,
    id: MachineId,
) -> Result<Option<Machine>, Error> {
    sqlx::query_as::<_, MachineRecord>("SELECT * FROM user_machines WHERE machine_id = $1")
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await?
        .map(into_machine)
        .transpose()
}

pub async fn machine_get_for_update(
    txn: &mut super::Txn<'_>,
    id: MachineId,
) -> Result<Option<Machine>, Error> {
    sqlx::query_as::<_, MachineRecord>(
        "SELECT * FROM user_machines WHERE machine_id = $1 FOR UPDATE",
    )
    .bind(id.as_uuid())
    .fetch_optional(&mut **txn)
    .await?
    .map(into_machine)
    .transpose()
}

pub async fn machine_get_live<'c, E: PgExecutor<'c>>(
    conn: E,
    user: &ClerkUserId,
    slot: &RuntimeSlot,
) -> Result<Option<Machine>, Error> {
    sqlx::query_as::<_, MachineRecord>(
        "SELECT * FROM user_machines WHERE clerk_user_id = $1 AND runtime_slot = $2 AND deleted_at IS NULL",
    )
    .bind(user.as_str())
    .bind(slot.as_str())
    .fetch_optional(conn)
    .await?
    .map(into_machine)
    .transpose()
}

pub async fn machine_get_live_for_update(
    txn: &mut super::Txn<'_>,
    user: &ClerkUserId,
    slot: &RuntimeSlot,
) -> Result<Option<Machine>, Error> {
    sqlx::query_as::<_, MachineRecord>(
        "SELECT * FROM user_machines WHERE clerk_user_id = $1 AND runtime_slot = $2 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(user.as_str())
    .bind(slot.as_str())
    .fetch_optional(&mut **txn)
    .await?
    .map(into_machine)
    .transpose()
}

/// Applies a status change with the expected `from` in the WHERE clause. Returns false when the row
/// was no longer in `from` (someone else moved it first).
async fn machine_set_status(
    txn: &mut super::Txn<'_>,
    id: MachineId,
    from: MachineStatus,
    to: MachineStatus,
    via: Transition,
    extra_sql: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    check_transition(Some(from), to, via).map_err(|e| Error::internal(e.to_string()))?;
    let sql = format!(
        "UPDATE user_machines SET status = $3, updated_at = $4{extra_sql}
         WHERE machine_id = $1 AND status = $2 AND deleted_at IS NULL"
    );
    let done = sqlx::query(&sql)
        .bind(id.as_uuid())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .execute(&mut **txn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// provisioning → failed with a generic code. Clears any claim and pending step.
pub async fn machine_fail(
    txn: &mut super::Txn<'_>,
    id: MachineId,
    code: FailureCode,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let sql = format!(
        ", failure_code = '{}', failure_at = $4, pending_step = NULL, step_next_at = NULL, claim_id = NULL, claim_expires_at = NULL",
        code.as_str()
    );
    machine_set_status(
        txn,
        id,
        MachineStatus::Provisioning,
        MachineStatus::Failed,
        Transition::Fail,
        &sql,
        now,
    )
    .await
}

/// failed → retired (soft-deleted, status kept), to make room for attempt + 1.
pub async fn machine_retire(
    txn: &mut super::Txn<'_>,
    id: MachineId,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    check_transition(
        Some(MachineStatus::Failed),
        MachineStatus::Failed,
        Transition::Retire,
    )
    .map_err(|e| Error::internal(e.to_string()))?;
    let done = sqlx::query(
        "UPDATE user_machines SET deleted_at = $2, updated_at = $2, registration_token_hash = NULL,
             pending_step = NULL, claim_id = NULL, claim_expires_at = NULL
         WHERE machine_id = $1 AND status = 'failed' AND deleted_at IS NULL",
    )
    .bind(id.as_uuid())
    .bind(now)
    .execute(&mut **txn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// any live → deleted.
pub async fn machine_delete(
    txn: &mut super::Txn<'_>,
    id: MachineId,
    from: MachineStatus,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    machine_set_status(
        txn,
        id,
        from,
        MachineStatus::Deleted,
        Transition::Delete,
        ", deleted_at = $4, registration_token_hash = NULL, registration_token_expires_at = NULL,
           pending_step = NULL, step_next_at = NULL, claim_id = NULL, claim_expires_at = NULL",
        now,
    )
    .await
}

/// The single conditional update of a successful registration: provisioning|recovering → running.
pub async fn machine_register(
    txn: &mut super::Txn<'_>,
    m: &Machine,
    ipv4: PublicIpv4,
    ipv6: Option<PublicIpv6>,
    image_version: &ImageVersion,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    check_transition(Some(m.status), MachineStatus::Running, Transition::Register)
        .map_err(|e| Error::internal(e.to_string()))?;
    let done = sqlx::query(
        "UPDATE user_machines SET status = 'running', public_ipv4 = $3, public_ipv6 = $4, image_version = $5,
             last_seen_at = $6, updated_at = $6, registration_token_hash = NULL, registration_token_expires_at = NULL,
             failure_code = NULL, failure_at = NULL, pending_step = NULL, step_next_at = NULL,
             claim_id = NULL, claim_expires_at = NULL, heartbeat_state = 'ok',
             recovery_old_machine_id = NULL, recovery_old_server_id = NULL, recovery_old_ipv4 = NULL,
             recovery_old_ipv6 = NULL, recovery_previous = NULL
         WHERE machine_id = $1 AND status = $2 AND deleted_at IS NULL AND registration_token_hash = $7",
    )
    .bind(m.machine_id.as_uuid())
    .bind(m.status.as_str())
    .bind(ipv4.to_string())
    .bind(ipv6.map(|v| v.to_string()))
    .bind(image_version.as_str())
    .bind(now)
    .bind(m.registration_token_hash.as_deref())
    .execute(&mut **txn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Fields a recovery claim writes.
#[derive(Debug, Clone)]
pub struct RecoveryClaim {
    pub new_machine_id: MachineId,
    pub token_hash: String,
    pub token_expires_at: DateTime<Utc>,
    pub claim_id: Uuid,
    pub claim_expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// provisioning|running|failed → recovering, under a new machine id. The previous row is kept whole
/// in `recovery_previous` so a rollback restores it exactly.
pub async fn machine_begin_recovery(
    txn: &mut super::Txn<'_>,
    m: &Machine,
    c: &RecoveryClaim,
) -> Result<bool, Error> {
    check_transition(
        Some(m.status),
        MachineStatus::Recovering,
        Transition::Recover,
    )
    .map_err(|e| Error::internal(e.to_string()))?;
    let previous = serde_json::to_value(&m.record)
        .map_err(|e| Error::internal(format!("snapshot row: {e}")))?;
    let done = sqlx::query(
        "UPDATE user_machines SET machine_id = $3, status = 'recovering', hetzner_server_id = NULL,
             public_ipv4 = NULL, public_ipv6 = NULL,
             registration_token_hash = $4, registration_token_expires_at = $5, provisioned_at = $6, updated_at = $6,
             failure_code = NULL, failure_at = NULL, last_seen_at = NULL, heartbeat_state = NULL,
             heartbeat_healthy = NULL, vps_meta_written_at = NULL,
             pending_step = 'create_server', step_attempts = 0, step_next_at = $6,
             claim_id = $7, claim_expires_at = $8,
             recovery_old_machine_id = $1, recovery_old_server_id = $9, recovery_old_ipv4 = $10,
             recovery_old_ipv6 = $11, recovery_previous = $12
         WHERE machine_id = $1 AND status = $2 AND deleted_at IS NULL",
    )
    .bind(m.machine_id.as_uuid())
    .bind(m.status.as_str())
    .bind(c.new_machine_id.as_uuid())
    .bind(&c.token_hash)
    .bind(c.token_expires_at)
    .bind(c.now)
    .bind(c.claim_id)
    .bind(c.claim_expires_at)
    .bind(m.hetzner_server_id.map(|s| s.get()))
    .bind(m.public_ipv4.map(|v| v.to_string()))
    .bind(m.public_ipv6.map(|v| v.to_string()))
    .bind(previous)
    .execute(&mut **txn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// recovering → previous status, with every column of the previous row restored exactly.
pub async fn machine_rollback_recovery(
    txn: &mut super::Txn<'_>,
    m: &Machine,
) -> Result<bool, Error> {
    let Some(recovery) = &m.recovery else {
        return Ok(false);
    };
    let p = &recovery.previous;
    let to: MachineStatus = p
        .status
        .parse()
        .map_err(|_| bad("recovery_previous.status"))?;
    check_transition(
        Some(MachineStatus::Recovering),
        to,
        Transition::RecoverRollback,
    )
    .map_err(|e| Error::internal(e.to_string()))?;
    let done = sqlx::query(
        "UPDATE user_machines SET machine_id = $2, hetzner_server_id = $3, public_ipv4 = $4, public_ipv6 = $5,
             status = $6, image_version = $7, registration_token_hash = $8, registration_token_expires_at = $9,
             provisioned_at = $10, last_seen_at = $11, failure_code = $12, failure_at = $13, attempt = $14,
             updated_at = $15, pending_step = $16, step_attempts = $17, step_next_at = $18,
             claim_id = NULL, claim_expires_at = NULL,
             recovery_old_machine_id = NULL, recovery_old_server_id = NULL, recovery_old_ipv4 = NULL,
             recovery_old_ipv6 = NULL, recovery_previous = NULL,
             heartbeat_healthy = $19, heartbeat_image_version = $20, reported_backup_key = $21,
             reported_backup_at = $22, reported_backup_size = $23, heartbeat_state = $24, vps_meta_written_at = $25
         WHERE machine_id = $1 AND status = 'recovering' AND deleted_at IS NULL",
    )
    .bind(m.machine_id.as_uuid())
    .bind(p.machine_id)
    .bind(p.hetzner_server_id)
    .bind(&p.public_ipv4)
    .bind(&p.public_ipv6)
    .bind(&p.status)
    .bind(&p.image_version)
    .bind(&p.registration_token_hash)
    .bind(p.registration_token_expires_at)
    .bind(p.provisioned_at)
    .bind(p.last_seen_at)
    .bind(&p.failure_code)
    .bind(p.failure_at)
    .bind(p.attempt)
    .bind(p.updated_at)
    .bind(&p.pending_step)
    .bind(p.step_attempts)
    .bind(p.step_next_at)
    .bind(p.heartbeat_healthy)
    .bind(&p.heartbeat_image_version)
    .bind(&p.reported_backup_key)
    .bind(p.reported_backup_at)
    .bind(p.reported_backup_size)
    .bind(&p.heartbeat_state)
    .bind(p.vps_meta_written_at)
    .execute(&mut **txn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// recovering → failed when the previous row cannot be restored (its server is gone).
pub async fn machine_abandon_recovery(
    txn: &mut super::Txn<'_>,
    id: MachineId,
    code: FailureCode,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let sql = format!(
        ", failure_code = '{}', failure_at = $4, pending_step = NULL, step_next_at = NULL, claim_id = NULL,
           claim_expires_at = NULL, registration_token_hash = NULL, registration_token_expires_at = NULL,
           recovery_old_machine_id = NULL, recovery_old_server_id = NULL, recovery_old_ipv4 = NULL,
           recovery_old_ipv6 = NULL, recovery_previous = NULL",
        code.as_str()
    );
    machine_set_status(
        txn,
        id,
        MachineStatus::Recovering,
        MachineStatus::Failed,
        Transition::RecoverAbandon,
        &sql,
        now,
    )
    .await
}

/// Takes the row's claim if it is free or expired. Returns the claimed row.
pub async fn machine_claim<'c, E: PgExecutor<'c>>(
    conn: E,
    id: MachineId,
    claim_id: Uuid,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Option<Machine>, Error> {
    sqlx::query_as::<_, MachineRecord>(
        "UPDATE user_machines SET claim_id = $2, claim_expires_at = $3
         WHERE machine_id = $1 AND deleted_at IS NULL AND (claim_id IS NULL OR claim_expires_at < $4 OR claim_id = $2)
         RETURNING *",
    )
    .bind(id.as_uuid())
    .bind(claim_id)
    .bind(now + ttl)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(into_machine)
    .transpose()
}

/// Releases a claim; when the step is still pending, schedules its next attempt.
pub async fn machine_release_claim<'c, E: PgExecutor<'c>>(
    conn: E,
    id: MachineId,
    claim_id: Uuid,
    step_next_at: Option<DateTime<Utc>>,
    count_attempt: bool,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE user_machines SET claim_id = NULL, claim_expires_at = NULL,
             step_next_at = COALESCE($3, step_next_at), step_attempts = step_attempts + $4
         WHERE machine_id = $1 AND claim_id = $2",
    )
    .bind(id.as_uuid())
    .bind(claim_id)
    .bind(step_next_at)
    .bind(i32::from(count_attempt))
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the registration token (a retried create renders a fresh one: only its hash is stored).
pub async fn machine_set_token<'c, E: PgExecutor<'c>>(
    conn: E,
    id: MachineId,
    claim_id: Uuid,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE user_machines SET registration_token_hash = $3, registration_token_expires_at = $4
         WHERE machine_id = $1 AND claim_id = $2 AND deleted_at IS NULL",
    )
    .bind(id.as_uuid())
    .bind(claim_id)
    .bind(token_hash)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the created (or adopted) server and ends the create step. Guarded by the claim.
pub async fn machine_set_server<'c, E: PgExecutor<'c>>(
    conn: E,
    id: MachineId,
    claim_id: Uuid,
    server: HetznerServerId,
    ipv4: Option<PublicIpv4>,
    ipv6: Option<PublicIpv6>,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE user_machines SET hetzner_server_id = $3, public_ipv4 = $4, public_ipv6 = $5, updated_at = $6,
             pending_step = NULL, step_next_at = NULL, claim_id = NULL, claim_expires_at = NULL
         WHERE machine_id = $1 AND claim_id = $2 AND deleted_at IS NULL",
    )
    .bind(id.as_uuid())
    .bind(claim_id)
    .bind(server.get())
    .bind(ipv4.map(|v| v.to_string()))
    .bind(ipv6.map(|v| v.to_string()))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Rows whose provider step is due, oldest first.
pub async fn machine_list_pending_steps(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Machine>, Error> {
    let rows = sqlx::query_as::<_, MachineRecord>(
        "SELECT * FROM user_machines
         WHERE deleted_at IS NULL AND pending_step IS NOT NULL AND step_next_at <= $1
           AND (claim_id IS NULL OR claim_expires_at < $1)
         ORDER BY step_next_at, machine_id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    into_machines(rows)
}

/// Rows stuck in provisioning/recovering for longer than the stale threshold.
pub async fn machine_list_stale(
    pool: &PgPool,
    older_than: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Machine>, Error> {
    let rows = sqlx::query_as::<_, MachineRecord>(
        "SELECT * FROM user_machines
         WHERE deleted_at IS NULL AND status IN ('provisioning', 'recovering') AND provisioned_at < $1
           AND (claim_id IS NULL OR claim_expires_at < $2)
         ORDER BY provisioned_at, machine_id LIMIT $3",
    )
    .bind(older_than)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    into_machines(rows)
}

/// Running rows whose vps-meta.json is oldest (never written first); marks them written now so a
/// concurrent replica picks the next batch (a lease: a failed write is retried on a later pass).
pub async fn machine_claim_vps_meta_due(
    pool: &PgPool,
    due_before: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Machine>, Error> {
    let rows = sqlx::query_as::<_, MachineRecord>(
        "UPDATE user_machines SET vps_meta_written_at = $2
         WHERE machine_id IN (
             SELECT machine_id FROM user_machines
             WHERE deleted_at IS NULL AND status = 'running'
               AND (vps_meta_written_at IS NULL OR vps_meta_written_at < $1)
             ORDER BY vps_meta_written_at NULLS FIRST, machine_id LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING *",
    )
    .bind(due_before)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    into_machines(rows)
}

pub async fn machine_mark_vps_meta<'c, E: PgExecutor<'c>>(
    conn: E,
    id: MachineId,
    written_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    sqlx::query("UPDATE user_machines SET vps_meta_written_at = $2 WHERE machine_id = $1")
        .bind(id.as_uuid())
        .bind(written_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// What a heartbeat carries.
#[derive(Debug, Clone)]
pub struct HeartbeatUpdate<'a> {
    pub image_version: &'a ImageVersion,
    pub healthy: bool,
    pub backup_key: Option<&'a str>,
    pub backup_at: Option<DateTime<Utc>>,
    pub backup_size: Option<i64>,
    pub now: DateTime<Utc>,
}

/// Outcome of a heartbeat write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatWrite {
    Accepted {
        previous_state: Option<&'static str>,
    },
    UnknownMachine,
    NotRunning,
}

/// One statement on the hot path: update the live running row, report what was there before.
pub async fn machine_record_heartbeat(
    pool: &PgPool,
    id: MachineId,
    hb: &HeartbeatUpdate<'_>,
) -> Result<HeartbeatWrite, Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "UPDATE user_machines m SET last_seen_at = GREATEST(m.last_seen_at, $2), heartbeat_healthy = $3,
             heartbeat_image_version = $4, reported_backup_key = COALESCE($5, m.reported_backup_key),
             reported_backup_at = COALESCE($6, m.reported_backup_at),
             reported_backup_size = COALESCE($7, m.reported_backup_size), heartbeat_state = 'ok'
         FROM (SELECT heartbeat_state FROM user_machines WHERE machine_id = $1) old
         WHERE m.machine_id = $1 AND m.deleted_at IS NULL AND m.status = 'running'
         RETURNING old.heartbeat_state",
    )
    .bind(id.as_uuid())
    .bind(hb.now)
    .bind(hb.healthy)
    .bind(hb.image_version.as_str())
    .bind(hb.backup_key)
    .bind(hb.backup_at)
    .bind(hb.backup_size)
    .fetch_optional(pool)
    .await?;
    if let Some((previous,)) = row {
        let previous_state = match previous.as_deref() {
            Some("late") => Some("late"),
            Some("unreachable") => Some("unreachable"),
            Some("ok") => Some("ok"),
            _ => None,
        };
        return Ok(HeartbeatWrite::Accepted { previous_state });
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM user_machines WHERE machine_id = $1)")
            .bind(id.as_uuid())
            .fetch_one(pool)
            .await?;
    Ok(if exists {
        HeartbeatWrite::NotRunning
    } else {
        HeartbeatWrite::UnknownMachine
    })
}

/// Counts from one heartbeat evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeartbeatEvaluation {
    /// Running machines whose state changed.
    pub changed: i64,
    /// Of those, the ones that became late or unreachable (each got a timeline event).
    pub degraded: i64,
}

/// Re-evaluates heartbeat health of every running machine and appends a timeline event for each one
/// that became late or unreachable — one statement, so a fleet-wide outage costs one round trip.
pub async fn machine_evaluate_heartbeats(
    pool: &PgPool,
    late_before: DateTime<Utc>,
    unreachable_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<HeartbeatEvaluation, Error> {
    let (changed, degraded): (i64, i64) = sqlx::query_as(
        "WITH next AS (
             SELECT machine_id, heartbeat_state AS old_state,
                 CASE WHEN last_seen_at IS NULL OR last_seen_at < $2 THEN 'unreachable'
                      WHEN last_seen_at < $1 THEN 'late' ELSE 'ok' END AS new_state
             FROM user_machines WHERE deleted_at IS NULL AND status = 'running'
         ), changed AS (
             UPDATE user_machines m SET heartbeat_state = next.new_state
             FROM next
             WHERE m.machine_id = next.machine_id AND next.new_state IS DISTINCT FROM next.old_state
             RETURNING m.machine_id, m.clerk_user_id, m.runtime_slot, next.new_state
         ), events AS (
             INSERT INTO machine_events (at, machine_id, clerk_user_id, runtime_slot, kind, from_status, to_status, actor)
             SELECT $3, machine_id, clerk_user_id, runtime_slot, 'heartbeat_' || new_state, 'running', 'running', 'reconciler'
             FROM changed WHERE new_state <> 'ok'
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM events)",
    )
    .bind(late_before)
    .bind(unreachable_before)
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(HeartbeatEvaluation { changed, degraded })
}

/// Everything a live row references at the provider, for the orphan sweep: the servers rows
/// record, and the machine ids of rows that record none yet (their server, if any, is found by label
/// and adopted). A labelled server of a row that records ANOTHER server is not referenced: it is a
/// duplicate from a create whose outcome was lost, and must go.
pub async fn machine_live_references(pool: &PgPool) -> Result<(Vec<i64>, Vec<Uuid>), Error> {
    let servers: Vec<i64> = sqlx::query_scalar(
        "SELECT hetzner_server_id FROM user_machines WHERE deleted_at IS NULL AND hetzner_server_id IS NOT NULL
         UNION SELECT recovery_old_server_id FROM user_machines WHERE deleted_at IS NULL AND recovery_old_server_id IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    let machines: Vec<Uuid> = sqlx::query_scalar(
        "SELECT machine_id FROM user_machines WHERE deleted_at IS NULL AND hetzner_server_id IS NULL",
    )
    .fetch_all(pool)
    .await?;
    Ok((servers, machines))
}

/// True when a live row records this server (as its own or as the one a recovery replaces).
pub async fn machine_references_server<'c, E: PgExecutor<'c>>(
    conn: E,
    server: HetznerServerId,
) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_machines WHERE deleted_at IS NULL
             AND (hetzner_server_id = $1 OR recovery_old_server_id = $1))",
    )
    .bind(server.get())
    .fetch_one(conn)
    .await?)
}
