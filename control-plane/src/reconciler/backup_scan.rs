//! Backup-freshness scan: verifies each running machine's backup in R2 (the `latest` pointer, then a
//! HEAD of the snapshot), incrementally — the least recently checked first, a batch per pass, with
//! bounded concurrency — and records what it found. Freshness is derived from these observations,
//! never from what a host claims. A change of problem is written to the machine's timeline.

use futures::StreamExt;

use super::TaskStatus;
use crate::app::App;
use crate::status::{Actor, MachineStatus};
use crate::store::backups::{BackupObservation, backup_get, backup_list_due, backup_upsert};
use crate::store::events::{NewEvent, event_append};
use crate::store::machines::Machine;

pub async fn activate(app: &App) -> TaskStatus {
    let mut status = TaskStatus::default();
    let now = app.now();
    let checked_before = now
        - chrono::Duration::from_std(app.settings.backup_scan_interval)
            .unwrap_or(chrono::Duration::minutes(15));
    let rows = match backup_list_due(&app.db, checked_before, app.settings.reconcile_batch).await {
        Ok(rows) => rows,
        Err(e) => {
            status.error(e);
            return status;
        }
    };
    let results: Vec<crate::Result<bool>> = futures::stream::iter(rows)
        .map(|m| async move { scan_one(app, &m).await })
        .buffer_unordered(app.settings.backup_scan_concurrency.max(1))
        .collect()
        .await;
    for r in results {
        status.processed += 1;
        match r {
            Ok(true) => status.changed += 1,
            Ok(false) => {}
            Err(e) => status.error(e),
        }
    }
    status
}

/// Returns whether the problem changed.
async fn scan_one(app: &App, m: &Machine) -> crate::Result<bool> {
    let check = app
        .r2
        .check_backup(&m.clerk_user_id, &m.runtime_slot)
        .await
        .map_err(|e| crate::Error::unavailable(format!("backup scan: {e}")))?;
    let previous = backup_get(&app.db, &m.clerk_user_id, &m.runtime_slot).await?;
    let now = app.now();
    let observation = BackupObservation {
        clerk_user_id: m.clerk_user_id.to_string(),
        runtime_slot: m.runtime_slot.to_string(),
        checked_at: now,
        latest_key: check.key.as_ref().map(|k| k.relative().to_owned()),
        snapshot_at: check.taken_at,
        size_bytes: check.size_bytes.and_then(|s| i64::try_from(s).ok()),
        sha256: check.sha256.clone(),
        problem: check.problem.map(|p| p.as_str().to_owned()),
    };
    let old_problem = previous.as_ref().and_then(|p| p.problem.clone());
    let changed = previous.is_none() || old_problem != observation.problem;
    let mut txn = app.db.begin().await?;
    backup_upsert(&mut *txn, &observation).await?;
    if changed && (observation.problem.is_some() || old_problem.is_some()) {
        event_append(
            &mut *txn,
            &NewEvent::about(
                m,
                now,
                if observation.problem.is_some() {
                    "backup_problem"
                } else {
                    "backup_ok"
                },
                Some(MachineStatus::Running),
                Some(MachineStatus::Running),
                Actor::Reconciler,
            )
            .reason(observation.problem.as_deref()),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(changed)
}
