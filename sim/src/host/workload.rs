//! The application data a host holds, and the real `pg_dump`/`pg_restore` over it.
//!
//! The workload writes numbered rows into `app_notes`; a scenario compares, after a recovery, the
//! rows of the replacement with the rows at the last successful backup. Light mode keeps only a
//! row count and dumps it as a tiny synthetic archive.

use std::path::Path;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::{HostError, SimHost};
use crate::postgres::pg_bin;

const LIGHT_MAGIC: &str = "MATRIX-LIGHT-DUMP rows=";

async fn connect(url: &str) -> Result<PgConnection, HostError> {
    PgConnection::connect(url)
        .await
        .map_err(|e| HostError::Database(control_plane::store::redact_db_error(&e)))
}

pub(crate) async fn ensure_schema(url: &str) -> Result<(), HostError> {
    let mut c = connect(url).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS app_notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&mut c)
        .await
        .map_err(|e| HostError::Database(control_plane::store::redact_db_error(&e)))?;
    Ok(())
}

pub(crate) async fn drop_schema(url: &str) -> Result<(), HostError> {
    let mut c = connect(url).await?;
    sqlx::query("DROP TABLE IF EXISTS app_notes")
        .execute(&mut c)
        .await
        .map_err(|e| HostError::Database(control_plane::store::redact_db_error(&e)))?;
    Ok(())
}

pub(crate) fn light_dump(rows: u64) -> Vec<u8> {
    format!("{LIGHT_MAGIC}{rows}\n").into_bytes()
}

pub(crate) fn parse_light_dump(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body)
        .ok()?
        .trim_end()
        .strip_prefix(LIGHT_MAGIC)?
        .parse()
        .ok()
}

async fn run_tool(tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let bin = pg_bin(tool).map_err(|e| e.to_string())?;
    let out = tokio::process::Command::new(bin)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("{tool}: {}", e.kind()))?;
    if out.status.success() {
        Ok(())
    } else {
        // stderr of pg tools can echo the connection string; keep only the exit status.
        Err(format!("{tool} exited with {}", out.status))
    }
}

pub(crate) async fn pg_dump(url: &str, file: &Path) -> Result<(), String> {
    run_tool(
        "pg_dump",
        &[
            "--format=custom".as_ref(),
            "--no-owner".as_ref(),
            "--file".as_ref(),
            file.as_os_str(),
            "--dbname".as_ref(),
            url.as_ref(),
        ],
    )
    .await
}

pub(crate) async fn pg_restore(url: &str, file: &Path) -> Result<(), String> {
    run_tool(
        "pg_restore",
        &[
            "--clean".as_ref(),
            "--if-exists".as_ref(),
            "--no-owner".as_ref(),
            "--exit-on-error".as_ref(),
            "--dbname".as_ref(),
            url.as_ref(),
            file.as_os_str(),
        ],
    )
    .await
}

impl SimHost {
    /// Writes `n` more rows (acknowledged once this returns).
    pub async fn write_rows(&self, n: u64) -> Result<(), HostError> {
        if !self.is_up() {
            return Err(HostError::Down);
        }
        match &self.database_url {
            None => {
                self.with_state(|s| s.light_rows += n);
                Ok(())
            }
            Some(url) => {
                let mut c = connect(url).await?;
                let start: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM app_notes")
                    .fetch_one(&mut c)
                    .await
                    .map_err(|e| HostError::Database(control_plane::store::redact_db_error(&e)))?;
                sqlx::query("INSERT INTO app_notes (id, body) SELECT i, 'note ' || i FROM generate_series($1::bigint, $2::bigint) AS i")
                    .bind(start + 1)
                    .bind(start + n as i64)
                    .execute(&mut c)
                    .await
                    .map_err(|e| HostError::Database(control_plane::store::redact_db_error(&e)))?;
                Ok(())
            }
        }
    }

    /// The rows the host holds now: ids in order (light mode: 1..=count).
    pub async fn row_ids(&self) -> Result<Vec<i64>, HostError> {
        match &self.database_url {
            None => Ok((1..=self.with_state(|s| s.light_rows) as i64).collect()),
            Some(url) => {
                let mut c = connect(url).await?;
                sqlx::query_scalar("SELECT id FROM app_notes ORDER BY id")
                    .fetch_all(&mut c)
                    .await
                    .map_err(|e| HostError::Database(control_plane::store::redact_db_error(&e)))
            }
        }
    }
}
