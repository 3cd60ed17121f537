//! `provider_deletions`: servers that must be deleted at the provider.
//!
//! An entry is written before the provider is asked (in the same transaction as the row change that
//! makes the server unwanted), so a crash never forgets a server. At most one pending entry per server
//! id; a provider 404 counts as done. Failed attempts back off `min(60 s × 2^(attempts−1), 1 h)`.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::Error;
use crate::ids::{HetznerServerId, MachineId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeletionRecord {
    pub id: i64,
    pub hetzner_server_id: i64,
    pub machine_id: Option<Uuid>,
    pub reason: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

/// Backoff after the `attempts`-th failure.
pub fn deletion_backoff(attempts: i32) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 16) as u32;
    let secs = 60i64.saturating_mul(1i64 << exp).min(3600);
    Duration::seconds(secs)
}

/// `deletion_backoff` for attempts 1, 2, … up to the first that reaches the cap (later attempts reuse
/// the last element), in seconds: the schedule handed to the database.
fn deletion_backoff_table() -> Vec<i64> {
    let mut table = Vec::new();
    for attempts in 1..=32 {
        let secs = deletion_backoff(attempts).num_seconds();
        table.push(secs);
        if secs >= 3600 {
            break;
        }
    }
    table
}

/// Queues a server for deletion (no-op when an entry for it is already pending). Returns the id of the
/// pending entry.
pub async fn deletion_enqueue<'c, E: PgExecutor<'c>>(
    conn: E,
    server: HetznerServerId,
    machine: Option<MachineId>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO provider_deletions (hetzner_server_id, machine_id, reason, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (hetzner_server_id) WHERE done_at IS NULL DO NOTHING",
    )
    .bind(server.get())
    .bind(machine.map(|m| m.as_uuid()))
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims due entries for this replica (skipping those another replica holds).
pub async fn deletion_claim_due(
    pool: &PgPool,
    claim_id: Uuid,
    now: DateTime<Utc>,
    ttl: Duration,
    limit: i64,
) -> Result<Vec<DeletionRecord>, Error> {
    Ok(sqlx::query_as::<_, DeletionRecord>(
        "UPDATE provider_deletions SET claim_id = $1, claim_expires_at = $2
         WHERE id IN (
             SELECT id FROM provider_deletions
             WHERE done_at IS NULL AND next_attempt_at <= $3 AND (claim_id IS NULL OR claim_expires_at < $3)
             ORDER BY next_attempt_at, id LIMIT $4
             FOR UPDATE SKIP LOCKED)
         RETURNING id, hetzner_server_id, machine_id, reason, attempts, next_attempt_at, last_error, created_at, done_at",
    )
    .bind(claim_id)
    .bind(now + ttl)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Claims the pending entries of specific servers, whatever their schedule (the delete flow calls the
/// provider right away instead of waiting for the reconciler).
pub async fn deletion_claim_servers(
    pool: &PgPool,
    servers: &[i64],
    claim_id: Uuid,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Vec<DeletionRecord>, Error> {
    Ok(sqlx::query_as::<_, DeletionRecord>(
        "UPDATE provider_deletions SET claim_id = $1, claim_expires_at = $2
         WHERE done_at IS NULL AND hetzner_server_id = ANY($3) AND (claim_id IS NULL OR claim_expires_at < $4)
         RETURNING id, hetzner_server_id, machine_id, reason, attempts, next_attempt_at, last_error, created_at, done_at",
    )
    .bind(claim_id)
    .bind(now + ttl)
    .bind(servers)
    .bind(now)
    .fetch_all(pool)
    .await?)
}

pub async fn deletion_mark_done(
    pool: &PgPool,
    id: i64,
    claim_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE provider_deletions SET done_at = $3, claim_id = NULL, claim_expires_at = NULL WHERE id = $1 AND claim_id = $2",
    )
    .bind(id)
    .bind(claim_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed attempt; `error` is a generic code kept server-side only.
pub async fn deletion_mark_failed(
    pool: &PgPool,
    id: i64,
    claim_id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    // One statement: the claim is released together with the new schedule, so no other replica can
    // take the entry in between and no crash can leave it without its backoff. The delays come from
    // `deletion_backoff` (the one definition of the schedule) as an array indexed by the new attempt
    // count, capped at its last element; in SET, `attempts` is the old value.
    sqlx::query(
        "UPDATE provider_deletions SET attempts = attempts + 1, last_error = $3, claim_id = NULL, claim_expires_at = NULL,
             next_attempt_at = $4 + make_interval(secs => ($5::bigint[])[LEAST(attempts + 1, cardinality($5::bigint[]))])
         WHERE id = $1 AND claim_id = $2",
    )
    .bind(id)
    .bind(claim_id)
    .bind(error)
    .bind(now)
    .bind(deletion_backoff_table())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn deletion_list(
    pool: &PgPool,
    include_done: bool,
) -> Result<Vec<DeletionRecord>, Error> {
    Ok(sqlx::query_as::<_, DeletionRecord>(
        "SELECT id, hetzner_server_id, machine_id, reason, attempts, next_attempt_at, last_error, created_at, done_at
         FROM provider_deletions WHERE $1 OR done_at IS NULL ORDER BY id",
    )
    .bind(include_done)
    .fetch_all(pool)
    .await?)
}

pub async fn deletion_pending_servers(pool: &PgPool) -> Result<Vec<i64>, Error> {
    Ok(
        sqlx::query_scalar(
            "SELECT hetzner_server_id FROM provider_deletions WHERE done_at IS NULL",
        )
        .fetch_all(pool)
        .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_and_caps_at_an_hour() {
        let secs: Vec<i64> = (1..=8).map(|a| deletion_backoff(a).num_seconds()).collect();
        assert_eq!(secs, vec![60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(deletion_backoff(i32::MAX).num_seconds(), 3600);
    }

    #[test]
    fn the_schedule_handed_to_the_database_ends_at_the_cap() {
        assert_eq!(
            deletion_backoff_table(),
            vec![60, 120, 240, 480, 960, 1920, 3600]
        );
    }
}
