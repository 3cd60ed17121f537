//! `backup_observations`: what the control plane last verified in R2 for a user's slot.
//!
//! Keyed by (user, slot), not by machine: backups belong to the user's data and outlive a recovery.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use crate::error::Error;
use crate::ids::{ClerkUserId, RuntimeSlot};
use crate::store::machines::{Machine, MachineRecord, into_machine};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackupObservation {
    pub clerk_user_id: String,
    pub runtime_slot: String,
    pub checked_at: DateTime<Utc>,
    pub latest_key: Option<String>,
    pub snapshot_at: Option<DateTime<Utc>>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub problem: Option<String>,
}

pub async fn backup_upsert<'c, E: PgExecutor<'c>>(
    conn: E,
    o: &BackupObservation,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO backup_observations (clerk_user_id, runtime_slot, checked_at, latest_key, snapshot_at, size_bytes, sha256, problem)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (clerk_user_id, runtime_slot) DO UPDATE SET checked_at = EXCLUDED.checked_at,
             latest_key = EXCLUDED.latest_key, snapshot_at = EXCLUDED.snapshot_at, size_bytes = EXCLUDED.size_bytes,
             sha256 = EXCLUDED.sha256, problem = EXCLUDED.problem",
    )
    .bind(&o.clerk_user_id)
    .bind(&o.runtime_slot)
    .bind(o.checked_at)
    .bind(&o.latest_key)
    .bind(o.snapshot_at)
    .bind(o.size_bytes)
    .bind(&o.sha256)
    .bind(&o.problem)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn backup_get<'c, E: PgExecutor<'c>>(
    conn: E,
    user: &ClerkUserId,
    slot: &RuntimeSlot,
) -> Result<Option<BackupObservation>, Error> {
    Ok(sqlx::query_as::<_, BackupObservation>(
        "SELECT * FROM backup_observations WHERE clerk_user_id = $1 AND runtime_slot = $2",
    )
    .bind(user.as_str())
    .bind(slot.as_str())
    .fetch_optional(conn)
    .await?)
}

/// Live running machines whose backup was checked longest ago (never first), for the incremental
/// scan. Recovering/provisioning rows are skipped: their hosts are not backing up yet.
pub async fn backup_list_due(
    pool: &PgPool,
    checked_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Machine>, Error> {
    let rows = sqlx::query_as::<_, MachineRecord>(
        "SELECT m.* FROM user_machines m
         LEFT JOIN backup_observations o ON o.clerk_user_id = m.clerk_user_id AND o.runtime_slot = m.runtime_slot
         WHERE m.deleted_at IS NULL AND m.status = 'running' AND (o.checked_at IS NULL OR o.checked_at < $1)
         ORDER BY o.checked_at NULLS FIRST, m.machine_id LIMIT $2",
    )
    .bind(checked_before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(into_machine).collect()
}
