//! The Hetzner server shapes the control plane sends and reads, and their lenient wire parsing.
//!
//! Responses are parsed for exactly the fields of [`Server`] and nothing else: Hetzner's full payloads
//! (which strict generated clients need), the simulator's leaner ones and fields Hetzner adds later
//! all parse the same. Values are validated into the typed ids of [`crate::ids`] here, at the JSON
//! edge; an address that is not public is dropped to `None` rather than failing the whole answer.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{HetznerServerId, PublicIpv4, PublicIpv6};
use crate::secret::Secret;

/// `POST /servers`. `Debug` shows everything but the user data (a [`Secret`]: rendered cloud-init
/// embeds the registration token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateServerRequest {
    pub name: String,
    pub server_type: String,
    pub image: String,
    pub location: String,
    pub user_data: Secret,
    pub labels: BTreeMap<String, String>,
}

/// The body actually sent. Only this borrow ever exposes the user data, and only to the serializer.
#[derive(Serialize)]
struct CreateServerBody<'a> {
    name: &'a str,
    server_type: &'a str,
    image: &'a str,
    location: &'a str,
    user_data: &'a str,
    labels: &'a BTreeMap<String, String>,
    start_after_create: bool,
}

impl CreateServerRequest {
    pub(super) fn to_json(&self) -> Vec<u8> {
        let body = CreateServerBody {
            name: &self.name,
            server_type: &self.server_type,
            image: &self.image,
            location: &self.location,
            user_data: self.user_data.expose(),
            labels: &self.labels,
            start_after_create: true,
        };
        // Strings, a bool and a map with string keys: serde_json cannot fail on these.
        serde_json::to_vec(&body).expect("a create body always serializes")
    }
}

/// A server's lifecycle state as Hetzner reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerStatus {
    Initializing,
    Starting,
    Running,
    Stopping,
    Off,
    Deleting,
    Migrating,
    Rebuilding,
    /// Hetzner's own `unknown`, and any value this client does not know.
    Unknown,
}

impl ServerStatus {
    pub const ALL: [ServerStatus; 9] = [
        Self::Initializing,
        Self::Starting,
        Self::Running,
        Self::Stopping,
        Self::Off,
        Self::Deleting,
        Self::Migrating,
        Self::Rebuilding,
        Self::Unknown,
    ];

    /// Never fails: a status added by Hetzner later reads as [`ServerStatus::Unknown`].
    pub fn from_hetzner(value: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .unwrap_or(Self::Unknown)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Off => "off",
            Self::Deleting => "deleting",
            Self::Migrating => "migrating",
            Self::Rebuilding => "rebuilding",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of a Hetzner server the control plane uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub id: HetznerServerId,
    pub name: String,
    pub status: ServerStatus,
    pub created: DateTime<Utc>,
    pub labels: BTreeMap<String, String>,
    pub public_ipv4: Option<PublicIpv4>,
    /// The host address of the server's /64 (`<prefix>::1`).
    pub public_ipv6: Option<PublicIpv6>,
}

impl Server {
    /// Parses one server object as Hetzner returns it (for fixtures and the simulator's own checks).
    pub fn from_json(value: &[u8]) -> Option<Self> {
        serde_json::from_slice::<WireServer>(value)
            .ok()?
            .into_server()
    }
}

#[derive(Deserialize)]
struct WireServer {
    id: i64,
    name: String,
    status: String,
    created: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    public_net: Option<WirePublicNet>,
}

#[derive(Deserialize)]
struct WirePublicNet {
    #[serde(default)]
    ipv4: Option<WireIp>,
    #[serde(default)]
    ipv6: Option<WireIp>,
}

#[derive(Deserialize)]
struct WireIp {
    #[serde(default)]
    ip: Option<String>,
}

impl WireServer {
    fn into_server(self) -> Option<Server> {
        let (ipv4, ipv6) = match self.public_net {
            Some(net) => (net.ipv4.and_then(|ip| ip.ip), net.ipv6.and_then(|ip| ip.ip)),
            None => (None, None),
        };
        Some(Server {
            id: HetznerServerId::new(self.id).ok()?,
            name: self.name,
            status: ServerStatus::from_hetzner(&self.status),
            created: parse_created(&self.created)?,
            labels: self.labels.unwrap_or_default(),
            public_ipv4: ipv4.and_then(|ip| PublicIpv4::parse(&ip).ok()),
            public_ipv6: ipv6.and_then(|prefix| PublicIpv6::from_hetzner_prefix(&prefix).ok()),
        })
    }
}

/// RFC 3339, and the minute-precision form (`2016-01-30T23:50+00:00`) found in Hetzner's examples.
fn parse_created(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M%:z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `{server, ...}`: the answer to `GET /servers/{id}` and (with `action`, `next_actions` and
/// `root_password`, all ignored) to `POST /servers`.
#[derive(Deserialize)]
struct WireServerEnvelope {
    server: WireServer,
}

pub(super) fn parse_server_envelope(body: &[u8]) -> Option<Server> {
    serde_json::from_slice::<WireServerEnvelope>(body)
        .ok()?
        .server
        .into_server()
}

/// One page of `GET /servers`.
pub(super) struct ServerPage {
    pub servers: Vec<Server>,
    /// `meta.pagination.next_page`; `None` on the last page (or when the answer has no `meta`).
    pub next_page: Option<u32>,
}

#[derive(Deserialize)]
struct WireServerList {
    servers: Vec<WireServer>,
    #[serde(default)]
    meta: Option<WireMeta>,
}

#[derive(Deserialize)]
struct WireMeta {
    #[serde(default)]
    pagination: Option<WirePagination>,
}

#[derive(Deserialize)]
struct WirePagination {
    #[serde(default)]
    next_page: Option<u32>,
}

pub(super) fn parse_server_page(body: &[u8]) -> Option<ServerPage> {
    let list = serde_json::from_slice::<WireServerList>(body).ok()?;
    let servers = list
        .servers
        .into_iter()
        .map(WireServer::into_server)
        .collect::<Option<Vec<_>>>()?;
    let next_page = list
        .meta
        .and_then(|m| m.pagination)
        .and_then(|p| p.next_page);
    Some(ServerPage { servers, next_page })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(extra: serde_json::Value) -> Option<Server> {
        let mut value = serde_json::json!({
            "id": 42, "name": "matrix-alice", "status": "running", "created": "2025-01-01T00:00:00+00:00"
        });
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Server::from_json(&serde_json::to_vec(&value).unwrap())
    }

    #[test]
    fn a_minimal_server_parses_with_empty_labels_and_no_addresses() {
        let s = server(serde_json::json!({})).unwrap();
        assert_eq!(s.id.get(), 42);
        assert_eq!(s.status, ServerStatus::Running);
        assert!(s.labels.is_empty() && s.public_ipv4.is_none() && s.public_ipv6.is_none());
        // Hetzner's examples also use `public_net: {}` and explicit nulls.
        assert!(server(serde_json::json!({ "public_net": {}, "labels": null })).is_some());
        assert!(
            server(serde_json::json!({ "public_net": { "ipv4": null, "ipv6": null } })).is_some()
        );
    }

    #[test]
    fn unknown_statuses_read_as_unknown() {
        assert_eq!(
            ServerStatus::from_hetzner("hibernating"),
            ServerStatus::Unknown
        );
        for s in ServerStatus::ALL {
            assert_eq!(ServerStatus::from_hetzner(s.as_str()), s);
        }
    }

    #[test]
    fn minute_precision_timestamps_parse() {
        let s = server(serde_json::json!({ "created": "2016-01-30T23:50+00:00" })).unwrap();
        assert_eq!(s.created.to_rfc3339(), "2016-01-30T23:50:00+00:00");
        assert!(server(serde_json::json!({ "created": "yesterday" })).is_none());
    }

    #[test]
    fn ids_outside_the_json_safe_range_are_refused() {
        assert!(server(serde_json::json!({ "id": 0 })).is_none());
        assert!(server(serde_json::json!({ "id": 9_007_199_254_740_992_i64 })).is_none());
    }

    #[test]
    fn create_body_carries_the_user_data_and_starts_the_server() {
        let req = CreateServerRequest {
            name: "matrix-alice".into(),
            server_type: "cpx22".into(),
            image: "ubuntu-24.04".into(),
            location: "nbg1".into(),
            user_data: Secret::new("#cloud-config\n"),
            labels: BTreeMap::from([("app".into(), "matrix-os".into())]),
        };
        let body: serde_json::Value = serde_json::from_slice(&req.to_json()).unwrap();
        assert_eq!(body["user_data"], "#cloud-config\n");
        assert_eq!(body["start_after_create"], true);
        assert!(!format!("{req:?}").contains("cloud-config"));
    }
}
