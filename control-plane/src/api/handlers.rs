//! Route handlers: parse, authorise, call the flow, convert to [`super::types`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiState;
use super::auth::{BearerToken, PlatformAuth};
use super::extract::{ApiJson, ApiQuery, MachineIdPath};
use super::types::*;
use crate::app::queries::{self, MachineView, RouteDecision};
use crate::app::{
    boot_failure as boot_failure_flow, delete as delete_flow, heartbeat as heartbeat_flow,
    provision as provision_flow, recover as recover_flow, register as register_flow,
};
use crate::error::{Error, Result};
use crate::health::{BackupFreshness, HeartbeatHealth};
use crate::ids::{ClerkUserId, RuntimeSlot};
use crate::metrics::FleetGauges;
use crate::status::MachineStatus;
use crate::store::deletions::deletion_pending_servers;
use crate::store::fleet::FleetQuery;

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn metrics(State(s): State<ApiState>) -> Result<Response> {
    let summary = queries::summary(&s.app).await?;
    let pending = deletion_pending_servers(&s.app.db).await?.len() as i64;
    let mut gauges = FleetGauges {
        deletion_queue_pending: pending,
        ..FleetGauges::default()
    };
    // Every label value appears, zero or not, so dashboards never see a series vanish.
    for st in MachineStatus::ALL.iter().filter(|s| s.is_live()) {
        gauges.by_status.insert(
            st.as_str().into(),
            *summary.by_status.get(st.as_str()).unwrap_or(&0),
        );
    }
    for h in HeartbeatHealth::ALL {
        gauges.by_heartbeat.insert(
            h.as_str().into(),
            *summary.by_heartbeat.get(h.as_str()).unwrap_or(&0),
        );
    }
    for b in BackupFreshness::ALL {
        gauges.by_backup.insert(
            b.as_str().into(),
            *summary.by_backup.get(b.as_str()).unwrap_or(&0),
        );
    }
    let body = s.app.metrics.render(&gauges);
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response())
}

pub async fn provision(
    _: PlatformAuth,
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<ProvisionRequest>,
) -> Result<Response> {
    let req = provision_flow::ProvisionRequest {
        clerk_user_id: body.clerk_user_id,
        handle: body.handle,
        runtime_slot: body.runtime_slot.unwrap_or_default(),
    };
    let out = provision_flow::provision(&s.app, &req).await?;
    let eta = s.app.settings.provision_eta.as_secs();
    Ok((
        StatusCode::ACCEPTED,
        Json(ProvisionResponse {
            machine_id: out.machine_id,
            status: out.status,
            eta_seconds: eta,
        }),
    )
        .into_response())
}

pub async fn register(
    BearerToken(token): BearerToken,
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Json<RegisterResponse>> {
    let req = register_flow::RegisterRequest {
        machine_id: body.machine_id,
        hetzner_server_id: body.hetzner_server_id,
        public_ipv4: body.public_ipv4,
        public_ipv6: body.public_ipv6,
        image_version: body.image_version,
    };
    let out = register_flow::register(&s.app, &token, &req).await?;
    let warnings = if out.vps_meta_written {
        Vec::new()
    } else {
        vec!["vps_meta_persistence_failed".to_owned()]
    };
    Ok(Json(RegisterResponse {
        registered: true,
        status: MachineStatus::Running,
        warnings,
    }))
}

pub async fn boot_failure(
    BearerToken(token): BearerToken,
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<BootFailureRequest>,
) -> Result<(StatusCode, Json<BootFailureResponse>)> {
    let report = boot_failure_flow::BootFailureReport {
        machine_id: body.machine_id,
        hetzner_server_id: body.hetzner_server_id,
        reason: body.reason,
    };
    let recorded = boot_failure_flow::boot_failure(&s.app, &token, &report).await?;
    Ok((StatusCode::ACCEPTED, Json(BootFailureResponse { recorded })))
}

pub async fn heartbeat(
    BearerToken(token): BearerToken,
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>> {
    if body
        .last_backup
        .as_ref()
        .is_some_and(|b| b.key.len() > 512 || b.size_bytes < 0)
    {
        return Err(Error::invalid("heartbeat backup report out of range"));
    }
    let req = heartbeat_flow::HeartbeatRequest {
        machine_id: body.machine_id,
        image_version: body.image_version,
        healthy: body.healthy,
        last_backup: body.last_backup.map(|b| heartbeat_flow::ReportedBackup {
            key: b.key,
            at: b.at,
            size_bytes: b.size_bytes,
        }),
    };
    heartbeat_flow::heartbeat(&s.app, &token, &req).await?;
    Ok(Json(HeartbeatResponse {
        ok: true,
        next_heartbeat_seconds: s.app.settings.heartbeat_interval.as_secs(),
    }))
}

pub async fn recover(
    _: PlatformAuth,
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<RecoverRequest>,
) -> Result<Response> {
    let req = recover_flow::RecoverRequest {
        clerk_user_id: body.clerk_user_id,
        runtime_slot: body.runtime_slot.unwrap_or_default(),
        allow_empty: body.allow_empty.unwrap_or(false),
    };
    let out = recover_flow::recover(&s.app, &req).await?;
    let body = RecoverResponse {
        old_machine_id: out.old_machine_id,
        machine_id: out.machine_id,
        runtime_slot: out.runtime_slot,
        status: MachineStatus::Recovering,
        eta_seconds: s.app.settings.provision_eta.as_secs(),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

pub async fn status(
    _: PlatformAuth,
    State(s): State<ApiState>,
    MachineIdPath(id): MachineIdPath,
) -> Result<Json<MachineStatusResponse>> {
    Ok(Json(machine_view(
        queries::machine_status(&s.app, id).await?,
    )))
}

pub async fn delete(
    _: PlatformAuth,
    State(s): State<ApiState>,
    MachineIdPath(id): MachineIdPath,
) -> Result<Json<DeleteResponse>> {
    delete_flow::delete(&s.app, id).await?;
    Ok(Json(DeleteResponse {
        deleted: true,
        machine_id: id,
        status: MachineStatus::Deleted,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsQuery {
    limit: Option<i64>,
}

pub async fn events(
    _: PlatformAuth,
    State(s): State<ApiState>,
    MachineIdPath(id): MachineIdPath,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventsResponse>> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(Error::invalid("events limit out of range"));
    }
    let events = queries::machine_events(&s.app, id, limit)
        .await?
        .into_iter()
        .map(|e| EventView {
            id: e.id,
            at: e.at,
            machine_id: crate::ids::MachineId::from_uuid(e.machine_id),
            clerk_user_id: e.clerk_user_id,
            runtime_slot: e.runtime_slot,
            kind: e.kind,
            from: e.from_status,
            to: e.to_status,
            actor: e.actor,
            reason: e.reason,
            related_machine_id: e.related_machine_id.map(crate::ids::MachineId::from_uuid),
        })
        .collect();
    Ok(Json(EventsResponse {
        machine_id: id,
        events,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetParams {
    status: Option<String>,
    heartbeat: Option<String>,
    backup: Option<String>,
    slot: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
    include_deleted: Option<bool>,
}

/// Comma-separated list whose every item must satisfy `valid`.
fn list(raw: Option<String>, valid: impl Fn(&str) -> bool) -> Result<Option<Vec<String>>> {
    let Some(raw) = raw else { return Ok(None) };
    let items: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() || items.len() > 10 || !items.iter().all(|i| valid(i)) {
        return Err(Error::invalid("fleet filter"));
    }
    Ok(Some(items))
}

pub async fn fleet(
    _: PlatformAuth,
    State(s): State<ApiState>,
    ApiQuery(p): ApiQuery<FleetParams>,
) -> Result<Json<FleetResponse>> {
    let page = p.page.unwrap_or(1);
    let per_page = p.per_page.unwrap_or(100);
    if !(1..=100_000).contains(&page) || !(1..=1000).contains(&per_page) {
        return Err(Error::invalid("fleet paging"));
    }
    if p.q.as_ref().is_some_and(|q| q.len() > 256) {
        return Err(Error::invalid("fleet search too long"));
    }
    if let Some(slot) = &p.slot {
        RuntimeSlot::parse(slot).map_err(|_| Error::invalid("fleet slot"))?;
    }
    let query = FleetQuery {
        statuses: list(p.status, |v| v.parse::<MachineStatus>().is_ok())?,
        heartbeat: list(p.heartbeat, |v| HeartbeatHealth::parse(v).is_some())?,
        backup: list(p.backup, |v| BackupFreshness::parse(v).is_some())?,
        runtime_slot: p.slot,
        search: p.q.filter(|q| !q.is_empty()),
        include_deleted: p.include_deleted.unwrap_or(false),
        page,
        per_page,
    };
    let out = queries::fleet(&s.app, &query).await?;
    Ok(Json(FleetResponse {
        generated_at: out.now,
        summary: FleetSummaryView {
            total: out.summary.total,
            by_status: out.summary.by_status,
            by_heartbeat: out.summary.by_heartbeat,
            by_backup: out.summary.by_backup,
        },
        page,
        per_page,
        total: out.total,
        machines: out.entries.into_iter().map(machine_view).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteParams {
    clerk_user_id: String,
    runtime_slot: Option<String>,
}

pub async fn route(
    _: PlatformAuth,
    State(s): State<ApiState>,
    ApiQuery(p): ApiQuery<RouteParams>,
) -> Result<Json<RouteResponse>> {
    let user = ClerkUserId::parse(&p.clerk_user_id).map_err(|_| Error::invalid("route user"))?;
    let slot = match p.runtime_slot {
        Some(s) => RuntimeSlot::parse(&s).map_err(|_| Error::invalid("route slot"))?,
        None => RuntimeSlot::primary(),
    };
    let decision = queries::resolve_route(&s.app, &user, &slot).await?;
    let mut out = RouteResponse {
        clerk_user_id: user,
        runtime_slot: slot,
        routable: false,
        via: None,
        target: None,
        replacement_machine_id: None,
        machine_id: None,
        reason: None,
    };
    match decision {
        RouteDecision::Machine {
            machine_id,
            ipv4,
            ipv6,
        } => {
            out.routable = true;
            out.via = Some("machine".into());
            out.machine_id = Some(machine_id);
            out.target = Some(RouteTarget {
                machine_id,
                public_ipv4: ipv4,
                public_ipv6: ipv6,
            });
        }
        RouteDecision::PreviousServer {
            machine_id,
            replacement,
            ipv4,
            ipv6,
        } => {
            out.routable = true;
            out.via = Some("previous_server".into());
            out.machine_id = Some(replacement);
            out.replacement_machine_id = Some(replacement);
            out.target = Some(RouteTarget {
                machine_id,
                public_ipv4: ipv4,
                public_ipv6: ipv6,
            });
        }
        RouteDecision::Unroutable { reason, machine_id } => {
            out.machine_id = machine_id;
            out.reason = Some(reason.as_str().into());
        }
    }
    Ok(Json(out))
}

/// The status/fleet view of one machine.
pub fn machine_view(v: MachineView) -> MachineStatusResponse {
    let m = v.machine;
    let o = v.observation;
    let pending_action = if m.status == MachineStatus::Recovering {
        Some("recovering".to_owned())
    } else if m.pending_step.is_some() && m.is_live() {
        Some("creating_server".to_owned())
    } else {
        None
    };
    MachineStatusResponse {
        heartbeat: HeartbeatView {
            health: v.heartbeat,
            last_seen_at: m.last_seen_at,
            age_seconds: m.last_seen_at.map(|t| (v.now - t).num_seconds()),
            healthy_reported: m.heartbeat_healthy,
        },
        backup: BackupView {
            freshness: v.backup,
            key: o.as_ref().and_then(|o| o.latest_key.clone()),
            snapshot_at: o.as_ref().and_then(|o| o.snapshot_at),
            age_seconds: o
                .as_ref()
                .and_then(|o| o.snapshot_at)
                .map(|t| (v.now - t).num_seconds()),
            size_bytes: o.as_ref().and_then(|o| o.size_bytes),
            problem: o.as_ref().and_then(|o| o.problem.clone()),
            checked_at: o.as_ref().map(|o| o.checked_at),
        },
        recovery: m.recovery.as_ref().map(|r| RecoveryView {
            old_machine_id: r.old_machine_id,
            old_hetzner_server_id: r.old_server_id,
            old_public_ipv4: r.old_ipv4,
            previous_status: r.previous.status.clone(),
        }),
        pending_action,
        machine_id: m.machine_id,
        clerk_user_id: m.clerk_user_id,
        handle: m.handle,
        runtime_slot: m.runtime_slot,
        status: m.status,
        image_version: m.image_version,
        public_ipv4: m.public_ipv4,
        public_ipv6: m.public_ipv6,
        provisioned_at: m.provisioned_at,
        last_seen_at: m.last_seen_at,
        deleted_at: m.deleted_at,
        failure_code: m.failure_code,
        failure_at: m.failure_at,
        hetzner_server_id: m.hetzner_server_id,
        attempt: m.attempt,
    }
}
