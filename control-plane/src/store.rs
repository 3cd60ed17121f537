//! Postgres persistence: one file per table, functions named resource-first (`machine_insert`,
//! `deletion_claim_due`), plain SQL with bound parameters.
//!
//! Guarantees every flow relies on:
//! - every "now" is a parameter from the injected clock, never `now()` in SQL;
//! - every status change goes through [`crate::status::check_transition`] and carries the expected
//!   `from` status in its `WHERE` clause, so a concurrent change updates nothing instead of clobbering;
//! - claims (`claim_id`, `claim_expires_at`) live in rows, so two replicas never act on one row or
//!   queue entry at the same time;
//! - nothing here calls a provider, so no provider call ever happens inside a transaction.

pub mod backups;
pub mod deletions;
pub mod events;
pub mod fleet;
pub mod leases;
pub mod machines;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

pub type Txn<'a> = Transaction<'a, Postgres>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies the embedded migrations (idempotent; safe to run from several replicas at once, sqlx takes
/// an advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Connects a pool. `max_connections` bounds what one replica can take from the database.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, Error> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|_| Error::internal("database url does not parse"))?
        .application_name("matrix-platform");
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| Error::unavailable(format!("database connect: {}", redact_db_error(&e))))
}

/// A database error as text without connection parameters (which can hold a password).
pub fn redact_db_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => format!("database error {}", db.code().unwrap_or_default()),
        sqlx::Error::Io(io) => format!("io: {}", io.kind()),
        sqlx::Error::Configuration(_) => "configuration".to_owned(),
        sqlx::Error::Tls(_) => "tls".to_owned(),
        other => {
            let text = other.to_string();
            text.split(':').next().unwrap_or("database").to_owned()
        }
    }
}

/// True when `e` is a unique violation on the named index.
pub fn is_unique_violation(e: &sqlx::Error, index: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") && db.constraint() == Some(index))
}
