//! The hourly backup of a host (host contract step 3): dump, upload the snapshot with its SHA-256,
//! confirm it exists, and only then move `latest`. A failed dump or upload leaves `latest` untouched.

use chrono::{DateTime, Utc};
use control_plane::r2::{SnapshotKey, keys, sha256_metadata};

use super::{HostError, HostFault, HostMode, SimHost, workload};

/// A backup that completed: `latest` now points at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupDone {
    /// Relative to the user root, as written into `latest`.
    pub key: String,
    pub size_bytes: usize,
    pub at: DateTime<Utc>,
}

impl SimHost {
    pub async fn backup(&self, now: DateTime<Utc>) -> Result<BackupDone, HostError> {
        if !self.is_up() {
            return Err(HostError::Down);
        }
        let dump = match self.mode {
            _ if self.has_fault(HostFault::DumpFails) => {
                return Err(HostError::Backup("pg_dump exited non-zero".into()));
            }
            HostMode::Postgres => {
                let url = self
                    .database_url
                    .as_deref()
                    .ok_or_else(|| HostError::Backup("no database".into()))?;
                let file = self.disk.join("backup.dump");
                workload::pg_dump(url, &file)
                    .await
                    .map_err(HostError::Backup)?;
                std::fs::read(&file)
                    .map_err(|e| HostError::Backup(format!("read dump: {}", e.kind())))?
            }
            HostMode::Light => workload::light_dump(self.with_state(|s| s.light_rows)),
        };
        let user = &self.env.clerk_user_id;
        let slot = &self.env.runtime_slot;
        let key = SnapshotKey::for_time(slot, now)
            .map_err(|_| HostError::Backup("snapshot key".into()))?;
        let full = key
            .full_key(user)
            .map_err(|_| HostError::Backup("snapshot key".into()))?;
        if self.has_fault(HostFault::UploadFails) {
            return Err(HostError::Backup("snapshot upload failed".into()));
        }
        let size = dump.len();
        self.r2
            .put_object(&full, dump.clone().into(), sha256_metadata(&dump))
            .await
            .map_err(|e| HostError::Backup(format!("upload: {e}")))?;
        // Confirm before moving the pointer: a write the store lost must not become `latest`.
        let confirmed = self
            .r2
            .head(&full)
            .await
            .map_err(|e| HostError::Backup(format!("confirm: {e}")))?;
        if confirmed.is_none_or(|info| info.size as usize != size) {
            return Err(HostError::Backup("uploaded snapshot not confirmed".into()));
        }
        let latest =
            keys::latest_key(user, slot).map_err(|_| HostError::Backup("latest key".into()))?;
        self.r2
            .put_object(
                &latest,
                format!("{}\n", key.relative()).into_bytes().into(),
                Default::default(),
            )
            .await
            .map_err(|e| HostError::Backup(format!("latest: {e}")))?;
        Ok(BackupDone {
            key: key.relative().to_owned(),
            size_bytes: size,
            at: now,
        })
    }
}
