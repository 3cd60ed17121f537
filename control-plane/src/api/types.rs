//! Request and response bodies of the platform API. The console and the simulator depend on this
//! module (not on handlers or store code), so these types are the wire contract; `docs/api.md`
//! documents every field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::health::{BackupFreshness, HeartbeatHealth};
use crate::ids::{
    ClerkUserId, Handle, HetznerServerId, ImageVersion, MachineId, PublicIpv4, PublicIpv6,
    RuntimeSlot,
};
use crate::status::{BootFailureReason, FailureCode, MachineStatus};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionRequest {
    pub clerk_user_id: ClerkUserId,
    pub handle: Handle,
    #[serde(default)]
    pub runtime_slot: Option<RuntimeSlot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionResponse {
    pub machine_id: MachineId,
    pub status: MachineStatus,
    pub eta_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    pub machine_id: MachineId,
    pub hetzner_server_id: HetznerServerId,
    #[serde(rename = "publicIPv4")]
    pub public_ipv4: PublicIpv4,
    #[serde(rename = "publicIPv6", default)]
    pub public_ipv6: Option<PublicIpv6>,
    pub image_version: ImageVersion,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub registered: bool,
    pub status: MachineStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverRequest {
    pub clerk_user_id: ClerkUserId,
    #[serde(default)]
    pub runtime_slot: Option<RuntimeSlot>,
    #[serde(default)]
    pub allow_empty: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverResponse {
    pub old_machine_id: MachineId,
    pub machine_id: MachineId,
    pub runtime_slot: RuntimeSlot,
    pub status: MachineStatus,
    pub eta_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteResponse {
    pub deleted: bool,
    pub machine_id: MachineId,
    pub status: MachineStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootFailureRequest {
    pub machine_id: MachineId,
    pub hetzner_server_id: HetznerServerId,
    pub reason: BootFailureReason,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootFailureResponse {
    /// False when the same report was already on the timeline.
    pub recorded: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedBackup {
    pub key: String,
    pub at: DateTime<Utc>,
    pub size_bytes: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRequest {
    pub machine_id: MachineId,
    pub image_version: ImageVersion,
    pub healthy: bool,
    #[serde(default)]
    pub last_backup: Option<ReportedBackup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    pub ok: bool,
    pub next_heartbeat_seconds: u64,
}

/// `GET /vps/:machineId/status` — the reference fields, then what this project adds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineStatusResponse {
    pub machine_id: MachineId,
    pub clerk_user_id: ClerkUserId,
    pub handle: Handle,
    pub runtime_slot: RuntimeSlot,
    pub status: MachineStatus,
    pub image_version: ImageVersion,
    #[serde(rename = "publicIPv4")]
    pub public_ipv4: Option<PublicIpv4>,
    #[serde(rename = "publicIPv6")]
    pub public_ipv6: Option<PublicIpv6>,
    pub provisioned_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub failure_code: Option<FailureCode>,
    pub failure_at: Option<DateTime<Utc>>,
    pub hetzner_server_id: Option<HetznerServerId>,
    pub attempt: i32,
    pub heartbeat: HeartbeatView,
    pub backup: BackupView,
    /// What is in flight on the row, if anything: `creating_server`, `recovering`.
    pub pending_action: Option<String>,
    pub recovery: Option<RecoveryView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatView {
    pub health: HeartbeatHealth,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub age_seconds: Option<i64>,
    pub healthy_reported: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupView {
    pub freshness: BackupFreshness,
    pub key: Option<String>,
    pub snapshot_at: Option<DateTime<Utc>>,
    pub age_seconds: Option<i64>,
    pub size_bytes: Option<i64>,
    pub problem: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryView {
    pub old_machine_id: MachineId,
    pub old_hetzner_server_id: Option<HetznerServerId>,
    #[serde(rename = "oldPublicIPv4")]
    pub old_public_ipv4: Option<PublicIpv4>,
    pub previous_status: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSummaryView {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_heartbeat: BTreeMap<String, i64>,
    pub by_backup: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetResponse {
    pub generated_at: DateTime<Utc>,
    pub summary: FleetSummaryView,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    pub machines: Vec<MachineStatusResponse>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub machine_id: MachineId,
    pub clerk_user_id: String,
    pub runtime_slot: String,
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
    pub related_machine_id: Option<MachineId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsResponse {
    pub machine_id: MachineId,
    pub events: Vec<EventView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTarget {
    pub machine_id: MachineId,
    #[serde(rename = "publicIPv4")]
    pub public_ipv4: PublicIpv4,
    #[serde(rename = "publicIPv6")]
    pub public_ipv6: Option<PublicIpv6>,
}

/// `GET /vps/route`: where the user's traffic goes now (`via`: `machine` or `previous_server` during a
/// recovery), or why nowhere (`reason`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteResponse {
    pub clerk_user_id: ClerkUserId,
    pub runtime_slot: RuntimeSlot,
    pub routable: bool,
    pub via: Option<String>,
    pub target: Option<RouteTarget>,
    pub replacement_machine_id: Option<MachineId>,
    pub machine_id: Option<MachineId>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}
