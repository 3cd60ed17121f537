//! `status MACHINE`: every field of one machine, one per line, or the wire JSON.

use control_plane::api::types::MachineStatusResponse;

use super::args::MachineRef;
use super::format::{bytes, compact_age, or_none};
use super::{Exit, Io, lookup};
use crate::client::PlatformClient;
use crate::strings::cli::{self as s, labels as l};

pub async fn run(
    client: &PlatformClient,
    machine: &MachineRef,
    json: bool,
    io: &mut Io<'_>,
) -> Exit {
    let m = match lookup(client, machine, io).await {
        Ok(m) => m,
        Err(exit) => return exit,
    };
    if json {
        match serde_json::to_string_pretty(&m) {
            Ok(text) => io.out(&text),
            Err(_) => return Exit::Failed,
        }
    } else {
        for (label, value) in fields(&m) {
            io.out(&format!("{label:<18}{value}"));
        }
    }
    Exit::Ok
}

/// Every field of the status response as (label, value), in reading order.
pub fn fields(m: &MachineStatusResponse) -> Vec<(&'static str, String)> {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        or_none(t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
    };
    let hb = &m.heartbeat;
    let b = &m.backup;
    let mut out = vec![
        (l::MACHINE, m.machine_id.to_string()),
        (l::HANDLE, m.handle.to_string()),
        (l::USER, m.clerk_user_id.to_string()),
        (l::SLOT, m.runtime_slot.to_string()),
        (l::STATUS, m.status.to_string()),
        (l::PENDING, or_none(m.pending_action.as_deref())),
        (l::FAILURE, or_none(m.failure_code)),
        (l::FAILURE_AT, time(m.failure_at)),
        (l::ATTEMPT, m.attempt.to_string()),
        (l::IMAGE, m.image_version.to_string()),
        (l::IPV4, or_none(m.public_ipv4.as_ref())),
        (l::IPV6, or_none(m.public_ipv6.as_ref())),
        (l::SERVER, or_none(m.hetzner_server_id)),
        (l::PROVISIONED_AT, time(Some(m.provisioned_at))),
        (l::LAST_SEEN_AT, time(m.last_seen_at)),
        (l::DELETED_AT, time(m.deleted_at)),
        (l::HEARTBEAT, hb.health.as_str().to_owned()),
        (l::HEARTBEAT_AGE, or_none(hb.age_seconds.map(compact_age))),
        (
            l::HEALTHY_REPORTED,
            or_none(hb.healthy_reported.map(|h| if h { l::YES } else { l::NO })),
        ),
        (l::BACKUP, b.freshness.as_str().to_owned()),
        (l::BACKUP_AGE, or_none(b.age_seconds.map(compact_age))),
        (l::BACKUP_KEY, or_none(b.key.as_deref())),
        (l::BACKUP_AT, time(b.snapshot_at)),
        (l::BACKUP_SIZE, or_none(b.size_bytes.map(bytes))),
        (l::BACKUP_PROBLEM, or_none(b.problem.as_deref())),
        (l::BACKUP_CHECKED_AT, time(b.checked_at)),
    ];
    match &m.recovery {
        None => out.push((l::RECOVERY, s::NONE.to_owned())),
        Some(r) => {
            out.push((l::RECOVERY_OLD_MACHINE, r.old_machine_id.to_string()));
            out.push((l::RECOVERY_OLD_SERVER, or_none(r.old_hetzner_server_id)));
            out.push((l::RECOVERY_OLD_IPV4, or_none(r.old_public_ipv4.as_ref())));
            out.push((l::RECOVERY_PREVIOUS, r.previous_status.clone()));
        }
    }
    out
}
