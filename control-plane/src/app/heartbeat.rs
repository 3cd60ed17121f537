//! Heartbeat: a running host says it is alive, with what it believes about its last backup.
//!
//! Authenticated by the per-host token (HMAC of the machine id under the platform secret), so it is
//! verified without a database read. The write is a single statement — this is the hot path of a
//! large fleet. What the host reports about backups is kept for display only; freshness is verified
//! from R2 by the reconciler.

use chrono::{DateTime, Utc};

use super::App;
use crate::cloud_init::heartbeat_token;
use crate::error::{Error, Result, msg};
use crate::ids::{ImageVersion, MachineId};
use crate::secret::{Secret, constant_time_eq};
use crate::status::{Actor, MachineStatus};
use crate::store::events::{NewEvent, event_append};
use crate::store::machines::{self, HeartbeatUpdate, HeartbeatWrite};

#[derive(Debug, Clone)]
pub struct ReportedBackup {
    pub key: String,
    pub at: DateTime<Utc>,
    pub size_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct HeartbeatRequest {
    pub machine_id: MachineId,
    pub image_version: ImageVersion,
    pub healthy: bool,
    pub last_backup: Option<ReportedBackup>,
}

pub async fn heartbeat(app: &App, token: &Secret, req: &HeartbeatRequest) -> Result<()> {
    let expected = heartbeat_token(app.platform_secret()?, req.machine_id);
    if !constant_time_eq(expected.expose().as_bytes(), token.expose().as_bytes()) {
        app.metrics.heartbeat("rejected");
        return Err(Error::unauthorized("heartbeat: token does not match"));
    }
    let now = app.now();
    let update = HeartbeatUpdate {
        image_version: &req.image_version,
        healthy: req.healthy,
        backup_key: req.last_backup.as_ref().map(|b| b.key.as_str()),
        backup_at: req.last_backup.as_ref().map(|b| b.at),
        backup_size: req.last_backup.as_ref().map(|b| b.size_bytes),
        now,
    };
    match machines::machine_record_heartbeat(&app.db, req.machine_id, &update).await? {
        HeartbeatWrite::Accepted { previous_state } => {
            app.metrics.heartbeat("accepted");
            if matches!(previous_state, Some("late" | "unreachable")) {
                // Coming back is worth a line on the timeline; routine beats are not.
                if let Some(m) = machines::machine_get(&app.db, req.machine_id).await? {
                    event_append(
                        &app.db,
                        &NewEvent::about(
                            &m,
                            now,
                            "heartbeat_ok",
                            Some(MachineStatus::Running),
                            Some(MachineStatus::Running),
                            Actor::Host,
                        )
                        .reason(previous_state),
                    )
                    .await?;
                }
            }
            Ok(())
        }
        HeartbeatWrite::UnknownMachine => {
            app.metrics.heartbeat("rejected");
            Err(Error::not_found("heartbeat: unknown machine"))
        }
        HeartbeatWrite::NotRunning => {
            app.metrics.heartbeat("rejected");
            Err(Error::conflict(
                msg::NOT_ALLOWED,
                "heartbeat: machine is not running",
            ))
        }
    }
}
