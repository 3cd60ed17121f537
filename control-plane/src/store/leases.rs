//! `task_leases`: single-flight for whole reconciler tasks across replicas.
//!
//! A task that walks the provider's whole server list (the orphan sweep) or the whole fleet (health
//! evaluation) should run on one replica at a time; row-level claims keep the rest correct anyway.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Takes or renews the lease for `task` if it is free, expired or already ours.
pub async fn lease_acquire(
    pool: &PgPool,
    task: &str,
    holder: Uuid,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO task_leases (task, holder, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (task) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             WHERE task_leases.expires_at < $4 OR task_leases.holder = EXCLUDED.holder
         RETURNING holder",
    )
    .bind(task)
    .bind(holder)
    .bind(now + ttl)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

pub async fn lease_release(pool: &PgPool, task: &str, holder: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM task_leases WHERE task = $1 AND holder = $2")
        .bind(task)
        .bind(holder)
        .execute(pool)
        .await?;
    Ok(())
}
