//! Register: a booted host proves it holds the row's registration token and goes `running`.
//!
//! Checks, all before any write: the token hash matches (constant time), the token has not expired,
//! the row is live and provisioning or recovering, the server id is the row's, the IPv4 is public.
//! Then one conditional update sets `running`, the IPs, the image version and `last_seen_at`, and
//! clears the token (single use). A replacement registering ends its recovery: the old server is
//! queued for deletion in the same transaction. After commit, `vps-meta.json` is written to R2; a
//! failed write keeps `running` and answers with a warning (the reconciler re-writes it).

use tracing::{info, warn};

use super::App;
use super::deletions::delete_servers_now;
use super::vps_meta::write_vps_meta;
use crate::error::{Error, Result, msg};
use crate::ids::{HetznerServerId, ImageVersion, MachineId, PublicIpv4, PublicIpv6};
use crate::secret::{Secret, constant_time_eq, sha256_hex};
use crate::status::{Actor, MachineStatus};
use crate::store::deletions::deletion_enqueue;
use crate::store::events::{NewEvent, event_append};
use crate::store::machines;

#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub machine_id: MachineId,
    pub hetzner_server_id: HetznerServerId,
    pub public_ipv4: PublicIpv4,
    pub public_ipv6: Option<PublicIpv6>,
    pub image_version: ImageVersion,
}

/// What a booting host must prove before the platform takes its word (register, boot failure): it
/// holds the row's registration token (compared in constant time, checked first so nothing about the
/// row leaks to a caller without it), the token has not expired, the row is live and waiting for a
/// host, and the host runs on the row's own server.
pub(crate) fn check_host_proof(
    row: &machines::Machine,
    token: &Secret,
    server_id: HetznerServerId,
    now: chrono::DateTime<chrono::Utc>,
    what: &'static str,
) -> Result<()> {
    let presented = sha256_hex(token.expose());
    let token_ok = row
        .registration_token_hash
        .as_deref()
        .is_some_and(|h| constant_time_eq(h.as_bytes(), presented.as_bytes()));
    if !token_ok {
        return Err(Error::unauthorized(format!("{what}: token does not match")));
    }
    if row.registration_token_expires_at.is_none_or(|t| t <= now) {
        return Err(Error::unauthorized(format!("{what}: token expired")));
    }
    if !row.is_live()
        || !matches!(
            row.status,
            MachineStatus::Provisioning | MachineStatus::Recovering
        )
    {
        return Err(Error::conflict(
            msg::NOT_ALLOWED,
            format!("{what} while {}", row.status),
        ));
    }
    if row.hetzner_server_id != Some(server_id) {
        return Err(Error::unauthorized(format!(
            "{what}: server id does not match the row"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct RegisterResult {
    pub vps_meta_written: bool,
}

pub async fn register(app: &App, token: &Secret, req: &RegisterRequest) -> Result<RegisterResult> {
    let now = app.now();
    let mut txn = app.db.begin().await?;
    let row = machines::machine_get_for_update(&mut txn, req.machine_id)
        .await?
        .ok_or_else(|| Error::not_found("register: unknown machine"))?;
    check_host_proof(&row, token, req.hetzner_server_id, now, "register")?;
    if !machines::machine_register(
        &mut txn,
        &row,
        req.public_ipv4,
        req.public_ipv6,
        &req.image_version,
        now,
    )
    .await?
    {
        return Err(Error::conflict(
            msg::NOT_ALLOWED,
            "register: row changed concurrently",
        ));
    }
    let old = row.recovery.as_ref();
    let old_server = old.and_then(|r| r.old_server_id);
    if let Some(server) = old_server {
        deletion_enqueue(
            &mut *txn,
            server,
            old.map(|r| r.old_machine_id),
            "replaced_by_recovery",
            now,
        )
        .await?;
    }
    event_append(
        &mut *txn,
        &NewEvent::about(
            &row,
            now,
            "register",
            Some(row.status),
            Some(MachineStatus::Running),
            Actor::Host,
        )
        .related(old.map(|r| r.old_machine_id)),
    )
    .await?;
    txn.commit().await?;
    info!(machine_id = %row.machine_id, recovered = old.is_some(), "machine registered");

    let registered = machines::machine_get(&app.db, row.machine_id)
        .await?
        .ok_or_else(|| Error::internal("registered row vanished"))?;
    let vps_meta_written = match write_vps_meta(app, &registered).await {
        Ok(()) => true,
        Err(e) => {
            warn!(machine_id = %row.machine_id, error = %e, "vps-meta write failed after registration");
            false
        }
    };
    if let Some(server) = old_server {
        delete_servers_now(app, &[server]).await;
    }
    Ok(RegisterResult { vps_meta_written })
}
