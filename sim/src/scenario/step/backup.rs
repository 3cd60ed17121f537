//! `backup`: the user's host takes its hourly backup now (`expect = "ok"` or `"fail"`).
//!
//! Every backup is checked as it happens: the `latest` pointer is read before and after, and a
//! failed backup that moved it is a `failed_backup_keeps_latest` violation. A successful one
//! remembers the rows it captured, for `restore_matches_backup`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::host::SimHost;
use crate::scenario::format::check_user;
use crate::scenario::history::Kind;
use crate::scenario::invariant::{Invariant, Violation};
use crate::scenario::run::Run;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupExpect {
    #[default]
    Ok,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub user: String,
    #[serde(default)]
    pub expect: BackupExpect,
}

impl Backup {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let host = run.host_of_user(&self.user).await?;
        let result = backup_host(run, &host).await;
        match (self.expect, result) {
            (BackupExpect::Ok, Ok(())) | (BackupExpect::Fail, Err(_)) => Ok(()),
            (BackupExpect::Ok, Err(e)) => anyhow::bail!("backup of {} failed: {e}", self.user),
            (BackupExpect::Fail, Ok(())) => {
                anyhow::bail!("backup of {} succeeded, expected a failure", self.user)
            }
        }
    }
}

/// One backup of `host`, recorded and checked. `Err` carries the host's reason.
pub(crate) async fn backup_host(run: &mut Run<'_>, host: &SimHost) -> Result<(), String> {
    let user = host.env.clerk_user_id.clone();
    let who = format!("host/{}", host.server_id);
    let before = run.latest_pointer(&user);
    let rows = host.row_ids().await.unwrap_or_default();
    run.history
        .record(Kind::Invoke, &who, "backup", json!({"rows": rows.len()}));
    let result = host.backup(run.fleet.now()).await;
    run.drain_fakes();
    let after = run.latest_pointer(&user);
    match result {
        Ok(done) => {
            run.history
                .record(Kind::Ok, &who, "backup", json!({"key": done.key}));
            let state = run.user(&user);
            state.backups.insert(done.key.clone(), rows);
            state.last_good_backup = Some(done.key);
            Ok(())
        }
        Err(e) => {
            let moved = before != after;
            run.history.record(
                Kind::Fail,
                &who,
                "backup",
                json!({"error": e.to_string(), "latest_moved": moved}),
            );
            if moved {
                run.violations.push(Violation::new(
                    Invariant::FailedBackupKeepsLatest,
                    format!("{user}: a failed backup moved latest from {before:?} to {after:?}"),
                ));
            }
            Err(e.to_string())
        }
    }
}
