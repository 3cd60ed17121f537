//! `fleet`: every live machine as a table, or as the platform's JSON for scripts.
//!
//! Filters (`--status`, `--faults`) are applied here, on the whole fleet fetched page by page, so the
//! faults definition is the console's (failed ∪ recovering ∪ late/unreachable heartbeat ∪
//! stale/critical backup). The JSON is the wire type `FleetResponse` (field names as in
//! `docs/api.md`), all pages merged, `machines` filtered and `total` counting them; `summary` stays the
//! platform's summary of the whole live fleet.

use control_plane::api::types::{FleetResponse, FleetSummaryView, MachineStatusResponse};
use control_plane::health::{BackupFreshness, HeartbeatHealth};
use control_plane::status::MachineStatus;

use super::args::FleetArgs;
use super::format::{backup_cell, heartbeat_cell, is_fault, or_none, table};
use super::{Exit, Io, report};
use crate::client::{FleetQuery, PlatformClient};
use crate::strings::cli as s;

pub async fn run(client: &PlatformClient, args: &FleetArgs, io: &mut Io<'_>) -> Exit {
    let query = FleetQuery {
        include_deleted: args.statuses.contains(&MachineStatus::Deleted),
    };
    let mut fleet = match client.fleet_all(&query).await {
        Ok(fleet) => fleet,
        Err(e) => return report(client, &e, false, io),
    };
    select(&mut fleet, args);
    if args.json {
        match serde_json::to_string_pretty(&fleet) {
            Ok(text) => io.out(&text),
            Err(_) => return Exit::Failed,
        }
    } else {
        io.out(table(&s::FLEET_HEADERS, &rows(&fleet.machines)).trim_end());
        io.out(&s::fleet_footer(
            fleet.machines.len(),
            fleet.summary.total,
            &summary(&fleet.summary),
        ));
    }
    Exit::Ok
}

/// Keeps the machines the arguments ask for and makes the paging fields describe the result.
pub fn select(fleet: &mut FleetResponse, args: &FleetArgs) {
    fleet.machines.retain(|m| {
        (args.statuses.is_empty() || args.statuses.contains(&m.status))
            && (!args.faults || is_fault(m))
    });
    fleet.total = fleet.machines.len() as i64;
    fleet.page = 1;
    fleet.per_page = fleet.total.max(1);
}

/// One row per machine, in the platform's order (handle, slot, machine id).
pub fn rows(machines: &[MachineStatusResponse]) -> Vec<Vec<String>> {
    machines
        .iter()
        .map(|m| {
            vec![
                m.handle.to_string(),
                m.clerk_user_id.to_string(),
                m.runtime_slot.to_string(),
                m.status.to_string(),
                heartbeat_cell(&m.heartbeat),
                backup_cell(&m.backup),
                m.image_version.to_string(),
                or_none(m.public_ipv4.as_ref()),
                or_none(m.failure_code),
                or_none(m.pending_action.as_deref()),
                m.machine_id.to_string(),
            ]
        })
        .collect()
}

/// `20 running, 2 failed, 2 recovering; heartbeat: 2 unreachable; backup: 1 critical` for the
/// whole live fleet (zero counts and healthy classes left out).
pub fn summary(summary: &FleetSummaryView) -> String {
    let count = |map: &std::collections::BTreeMap<String, i64>, key: &str| {
        map.get(key).copied().unwrap_or(0)
    };
    let list = |parts: Vec<(i64, &str)>| {
        parts
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, k)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let statuses = list(
        MachineStatus::ALL
            .iter()
            .map(|st| (count(&summary.by_status, st.as_str()), st.as_str()))
            .collect(),
    );
    let heartbeats = list(
        [HeartbeatHealth::Late, HeartbeatHealth::Unreachable]
            .iter()
            .map(|h| (count(&summary.by_heartbeat, h.as_str()), h.as_str()))
            .collect(),
    );
    let backups = list(
        [BackupFreshness::Stale, BackupFreshness::Critical]
            .iter()
            .map(|b| (count(&summary.by_backup, b.as_str()), b.as_str()))
            .collect(),
    );
    let mut parts = Vec::new();
    if !statuses.is_empty() {
        parts.push(statuses);
    }
    if !heartbeats.is_empty() {
        parts.push(format!("heartbeat: {heartbeats}"));
    }
    if !backups.is_empty() {
        parts.push(format!("backup: {backups}"));
    }
    parts.join("; ")
}
