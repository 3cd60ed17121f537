//! Reads the API serves: one machine's status, the fleet, a machine's events, and route resolution.

use chrono::{DateTime, Utc};

use super::App;
use crate::error::{Error, Result};
use crate::health::{BackupFreshness, HeartbeatHealth};
use crate::ids::{ClerkUserId, MachineId, PublicIpv4, PublicIpv6, RuntimeSlot};
use crate::status::MachineStatus;
use crate::store::backups::{BackupObservation, backup_get};
use crate::store::events::{EventRecord, event_exists_for_machine, event_list_for_machine};
use crate::store::fleet::{FleetEntry, FleetQuery, FleetSummary, fleet_list, fleet_summary};
use crate::store::machines::{self, Machine};

/// A machine with its health, as the status route and the fleet listing show it.
#[derive(Debug, Clone)]
pub struct MachineView {
    pub machine: Machine,
    pub heartbeat: HeartbeatHealth,
    pub backup: BackupFreshness,
    pub observation: Option<BackupObservation>,
    pub now: DateTime<Utc>,
}

pub async fn machine_status(app: &App, id: MachineId) -> Result<MachineView> {
    let machine = machines::machine_get(&app.db, id)
        .await?
        .ok_or_else(|| Error::not_found("status: unknown machine"))?;
    let observation = backup_get(&app.db, &machine.clerk_user_id, &machine.runtime_slot).await?;
    Ok(view(app, machine, observation))
}

fn view(app: &App, machine: Machine, observation: Option<BackupObservation>) -> MachineView {
    let now = app.now();
    let policy = app.health_policy();
    let heartbeat = if machine.is_live() {
        policy.heartbeat(machine.status, machine.last_seen_at, now)
    } else {
        HeartbeatHealth::Unknown
    };
    let backup = match &observation {
        Some(o) if machine.is_live() => policy.backup(
            true,
            o.snapshot_at,
            o.problem.as_deref(),
            machine.provisioned_at,
            now,
        ),
        _ => BackupFreshness::Unknown,
    };
    MachineView {
        machine,
        heartbeat,
        backup,
        observation,
        now,
    }
}

pub struct FleetPage {
    pub entries: Vec<MachineView>,
    pub total: i64,
    pub summary: FleetSummary,
    pub now: DateTime<Utc>,
}

pub async fn fleet(app: &App, q: &FleetQuery) -> Result<FleetPage> {
    let now = app.now();
    let policy = app.health_policy();
    let (rows, total) = fleet_list(&app.db, q, &policy, now).await?;
    let summary = fleet_summary(&app.db, &policy, now).await?;
    let entries = rows
        .into_iter()
        .map(
            |FleetEntry {
                 machine,
                 heartbeat,
                 backup,
                 observation,
             }| MachineView {
                machine,
                heartbeat: HeartbeatHealth::parse(&heartbeat).unwrap_or(HeartbeatHealth::Unknown),
                backup: BackupFreshness::parse(&backup).unwrap_or(BackupFreshness::Unknown),
                observation,
                now,
            },
        )
        .collect();
    Ok(FleetPage {
        entries,
        total,
        summary,
        now,
    })
}

pub async fn summary(app: &App) -> Result<FleetSummary> {
    fleet_summary(&app.db, &app.health_policy(), app.now()).await
}

/// Events of a machine id — also of ids that no longer name a row (a recovered machine's old id).
pub async fn machine_events(app: &App, id: MachineId, limit: i64) -> Result<Vec<EventRecord>> {
    if machines::machine_get(&app.db, id).await?.is_none()
        && !event_exists_for_machine(&app.db, id).await?
    {
        return Err(Error::not_found("events: unknown machine"));
    }
    Ok(event_list_for_machine(&app.db, id, limit).await?)
}

/// Where a user's traffic goes right now, or why nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    /// The live row is running: route to it.
    Machine {
        machine_id: MachineId,
        ipv4: PublicIpv4,
        ipv6: Option<PublicIpv6>,
    },
    /// A recovery is in flight: the old server keeps serving until the replacement registers.
    PreviousServer {
        machine_id: MachineId,
        replacement: MachineId,
        ipv4: PublicIpv4,
        ipv6: Option<PublicIpv6>,
    },
    Unroutable {
        reason: UnroutableReason,
        machine_id: Option<MachineId>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnroutableReason {
    NoMachine,
    Provisioning,
    Failed,
    RecoveringWithoutPreviousServer,
    NoAddress,
}

impl UnroutableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoMachine => "no_machine",
            Self::Provisioning => "provisioning",
            Self::Failed => "failed",
            Self::RecoveringWithoutPreviousServer => "recovering_without_previous_server",
            Self::NoAddress => "no_address",
        }
    }
}

pub async fn resolve_route(
    app: &App,
    user: &ClerkUserId,
    slot: &RuntimeSlot,
) -> Result<RouteDecision> {
    let Some(m) = machines::machine_get_live(&app.db, user, slot).await? else {
        return Ok(RouteDecision::Unroutable {
            reason: UnroutableReason::NoMachine,
            machine_id: None,
        });
    };
    Ok(route_for(&m))
}

/// The routing rule, from one row.
pub fn route_for(m: &Machine) -> RouteDecision {
    let unroutable = |reason| RouteDecision::Unroutable {
        reason,
        machine_id: Some(m.machine_id),
    };
    match m.status {
        MachineStatus::Running => match m.public_ipv4 {
            Some(ipv4) => RouteDecision::Machine {
                machine_id: m.machine_id,
                ipv4,
                ipv6: m.public_ipv6,
            },
            None => unroutable(UnroutableReason::NoAddress),
        },
        MachineStatus::Recovering => match &m.recovery {
            Some(r)
                if r.old_server_id.is_some()
                    && r.old_ipv4.is_some()
                    && r.previous.status == "running" =>
            {
                RouteDecision::PreviousServer {
                    machine_id: r.old_machine_id,
                    replacement: m.machine_id,
                    ipv4: r.old_ipv4.expect("checked"),
                    ipv6: r.old_ipv6,
                }
            }
            _ => unroutable(UnroutableReason::RecoveringWithoutPreviousServer),
        },
        MachineStatus::Provisioning => unroutable(UnroutableReason::Provisioning),
        MachineStatus::Failed => unroutable(UnroutableReason::Failed),
        MachineStatus::Deleted => RouteDecision::Unroutable {
            reason: UnroutableReason::NoMachine,
            machine_id: None,
        },
    }
}
