//! The restore-or-fresh gate a host runs before it may serve (host contract step 1). Fail closed:
//! every error keeps the host from registering, and the operator sees why in the host's result.

use std::path::Path;

use control_plane::ids::{ClerkUserId, RuntimeSlot};
use control_plane::r2::LatestPointer;
use control_plane::status::BootFailureReason;
use sha2::{Digest, Sha256};

use super::{HostError, HostMode, SimHost, workload};

/// The file whose presence means "the gate already decided for this disk".
pub const MARKER: &str = "restore-complete";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateOutcome {
    /// A regular marker was present: no R2 call made.
    AlreadyDecided,
    /// No `latest` pointer: start empty.
    Fresh,
    /// Restored the snapshot `key` (relative to the user root).
    Restored { key: String },
}

/// `Ok(false)` without a marker, `Ok(true)` for a regular file, an error for anything else (a
/// symlink or directory planted there must not count as "already decided").
pub fn marker_is_regular(disk: &Path) -> Result<bool, HostError> {
    match std::fs::symlink_metadata(disk.join(MARKER)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(HostError::Gate(format!(
            "cannot read the marker: {}",
            e.kind()
        ))),
        Ok(m) if m.file_type().is_file() => Ok(true),
        Ok(_) => Err(HostError::Gate("the marker is not a regular file".into())),
    }
}

fn write_marker(disk: &Path, content: &str) -> Result<(), HostError> {
    // Atomic: write a temporary file, then rename over the marker.
    let tmp = disk.join(format!("{MARKER}.tmp"));
    std::fs::write(&tmp, content)
        .map_err(|e| HostError::Gate(format!("marker write: {}", e.kind())))?;
    std::fs::rename(&tmp, disk.join(MARKER))
        .map_err(|e| HostError::Gate(format!("marker rename: {}", e.kind())))
}

/// Runs the gate. A failure comes with the stage it failed at, which the host reports to the platform
/// (`POST /vps/boot-failure`) so the operator sees why the host never registered.
pub(crate) async fn run(host: &SimHost) -> Result<GateOutcome, (BootFailureReason, HostError)> {
    let mut stage = BootFailureReason::MarkerInvalid;
    run_stages(host, &mut stage).await.map_err(|e| (stage, e))
}

async fn run_stages(
    host: &SimHost,
    stage: &mut BootFailureReason,
) -> Result<GateOutcome, HostError> {
    if marker_is_regular(&host.disk)? {
        return Ok(GateOutcome::AlreadyDecided);
    }
    let user = ClerkUserId::parse(&host.env.clerk_user_id)
        .map_err(|_| HostError::Gate("user id".into()))?;
    let slot =
        RuntimeSlot::parse(&host.env.runtime_slot).map_err(|_| HostError::Gate("slot".into()))?;
    *stage = BootFailureReason::InvalidPointer;
    let key = match host.r2.read_latest(&user, &slot).await {
        Err(e) => return Err(HostError::Gate(format!("R2 unavailable: {e}"))),
        Ok(LatestPointer::Missing) => {
            if let Some(url) = &host.database_url {
                *stage = BootFailureReason::RestoreFailed;
                workload::ensure_schema(url).await?;
            }
            write_marker(&host.disk, "fresh\n")?;
            return Ok(GateOutcome::Fresh);
        }
        Ok(LatestPointer::Invalid(e)) => {
            return Err(HostError::Gate(format!("invalid latest pointer: {e:?}")));
        }
        Ok(LatestPointer::Valid(key)) => key,
    };
    *stage = BootFailureReason::SnapshotDownloadFailed;
    let full = key
        .full_key(user.as_str())
        .map_err(|_| HostError::Gate("snapshot key".into()))?;
    let info = host
        .r2
        .head(&full)
        .await
        .map_err(|e| HostError::Gate(format!("R2 unavailable: {e}")))?
        .ok_or_else(|| HostError::Gate("the snapshot `latest` points to is missing".into()))?;
    let body = host
        .r2
        .get_object(&full)
        .await
        .map_err(|e| HostError::Gate(format!("R2 unavailable: {e}")))?
        .ok_or_else(|| HostError::Gate("the snapshot `latest` points to is missing".into()))?;
    if body.is_empty() {
        *stage = BootFailureReason::SnapshotEmpty;
        return Err(HostError::Gate("the snapshot is empty".into()));
    }
    // Checksums are off on the wire (see the R2 client); integrity comes from the SHA-256 the backup
    // stored beside the object. No digest, or a different one, is a refused restore.
    *stage = BootFailureReason::SnapshotChecksumMismatch;
    let expected = info
        .sha256
        .ok_or_else(|| HostError::Gate("the snapshot has no recorded SHA-256".into()))?;
    let actual = hex::encode(Sha256::digest(&body));
    if actual != expected {
        return Err(HostError::Gate(
            "the snapshot does not match its recorded SHA-256 (corrupted or truncated)".into(),
        ));
    }
    *stage = BootFailureReason::RestoreFailed;
    match host.mode {
        HostMode::Postgres => {
            let url = host
                .database_url
                .as_deref()
                .ok_or_else(|| HostError::Gate("no database".into()))?;
            let file = host.disk.join("restore.dump");
            std::fs::write(&file, &body)
                .map_err(|e| HostError::Gate(format!("dump write: {}", e.kind())))?;
            workload::pg_restore(url, &file)
                .await
                .map_err(|e| HostError::Gate(format!("pg_restore: {e}")))?;
        }
        HostMode::Light => {
            let rows = workload::parse_light_dump(&body)
                .ok_or_else(|| HostError::Gate("not a light dump".into()))?;
            host.with_state(|s| s.light_rows = rows);
        }
    }
    write_marker(&host.disk, &format!("restored {}\n", key.relative()))?;
    Ok(GateOutcome::Restored {
        key: key.relative().to_owned(),
    })
}
