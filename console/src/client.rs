//! The console's only door to the control plane: a typed client of the platform HTTP API.
//!
//! Every screen, background task and subcommand goes through [`PlatformClient`], so the wire
//! contract (`control_plane::api::types`, documented in `docs/api.md`) is decoded in one place and
//! errors reach the operator as one small vocabulary ([`ClientError`]). The token is held in a
//! [`Secret`] and never appears in an error, a log line or the screen; response bodies the platform
//! sends on errors are already generic (`{"error": "…"}`), and only that message is kept.

use std::time::Duration;

use control_plane::api::types::{
    DeleteResponse, ErrorBody, EventsResponse, FleetResponse, MachineStatusResponse,
    RecoverRequest, RecoverResponse, RouteResponse,
};
use control_plane::ids::{ClerkUserId, RuntimeSlot};
use control_plane::secret::Secret;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

/// The most machines the API hands out per page (`perPage` upper bound in `docs/api.md`).
pub const MAX_PAGE: i64 = 1000;

/// Why a call did not give the answer asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No answer: connection refused, reset, or timed out. The outcome of a write is unknown.
    #[error("control plane unreachable")]
    Unreachable,
    /// 401/403: the operator token was refused.
    #[error("operator token refused (HTTP {0})")]
    Unauthorized(u16),
    /// 404: no such machine (or no live machine for that user and slot).
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: the request conflicts with the machine's state (the platform's message says which).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Any other non-success answer, with the platform's generic message.
    #[error("HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// A success status with a body that does not match the wire contract.
    #[error("unexpected response from the control plane")]
    Protocol,
}

impl ClientError {
    /// True when the call may not have reached the platform (a retry might be needed).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable)
    }
}

/// Filters of `GET /vps/fleet` that the console uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetQuery {
    pub include_deleted: bool,
}

/// A client of the platform API, cheap to clone (one connection pool).
#[derive(Clone)]
pub struct PlatformClient {
    base: url::Url,
    token: Secret,
    http: reqwest::Client,
}

impl std::fmt::Debug for PlatformClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl PlatformClient {
    /// `base` is the platform URL (`http://127.0.0.1:8080`); `timeout` bounds every call.
    pub fn new(base: url::Url, token: Secret, timeout: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            matches!(base.scheme(), "http" | "https"),
            "the platform URL must be http:// or https://"
        );
        anyhow::ensure!(
            token_fits_a_header(&token),
            "the operator token has characters not allowed in an HTTP header"
        );
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .build()?;
        Ok(Self { base, token, http })
    }

    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// One page of the fleet (`page` from 1).
    pub async fn fleet_page(
        &self,
        query: &FleetQuery,
        page: i64,
        per_page: i64,
    ) -> Result<FleetResponse, ClientError> {
        let mut params = vec![
            ("page", page.to_string()),
            ("perPage", per_page.clamp(1, MAX_PAGE).to_string()),
        ];
        if query.include_deleted {
            params.push(("includeDeleted", "true".into()));
        }
        self.call(Method::GET, "/vps/fleet", &params, None::<&()>)
            .await
    }

    /// The whole fleet, page by page: the summary of the first page and every machine once. Rows
    /// can shift between pages while the fleet changes: a machine seen on an earlier page is not
    /// added twice, and a page that adds nothing new ends the walk.
    pub async fn fleet_all(&self, query: &FleetQuery) -> Result<FleetResponse, ClientError> {
        let mut first = self.fleet_page(query, 1, MAX_PAGE).await?;
        let mut seen = std::collections::HashSet::new();
        first.machines.retain(|m| seen.insert(m.machine_id));
        let mut page = 1;
        while (first.machines.len() as i64) < first.total {
            page += 1;
            let next = self.fleet_page(query, page, MAX_PAGE).await?;
            let before = first.machines.len();
            first.machines.extend(
                next.machines
                    .into_iter()
                    .filter(|m| seen.insert(m.machine_id)),
            );
            if first.machines.len() == before {
                break;
            }
        }
        Ok(first)
    }

    pub async fn status(&self, machine_id: &str) -> Result<MachineStatusResponse, ClientError> {
        let path = format!("/vps/{}/status", path_segment(machine_id)?);
        self.call(Method::GET, &path, &[], None::<&()>).await
    }

    pub async fn events(
        &self,
        machine_id: &str,
        limit: u32,
    ) -> Result<EventsResponse, ClientError> {
        let path = format!("/vps/{}/events", path_segment(machine_id)?);
        let params = [("limit", limit.clamp(1, 1000).to_string())];
        self.call(Method::GET, &path, &params, None::<&()>).await
    }

    pub async fn route(
        &self,
        user: &ClerkUserId,
        slot: &RuntimeSlot,
    ) -> Result<RouteResponse, ClientError> {
        let params = [
            ("clerkUserId", user.as_str().to_owned()),
            ("runtimeSlot", slot.as_str().to_owned()),
        ];
        self.call(Method::GET, "/vps/route", &params, None::<&()>)
            .await
    }

    pub async fn recover(
        &self,
        user: &ClerkUserId,
        slot: &RuntimeSlot,
        allow_empty: bool,
    ) -> Result<RecoverResponse, ClientError> {
        let body = RecoverRequest {
            clerk_user_id: user.clone(),
            runtime_slot: Some(slot.clone()),
            allow_empty: Some(allow_empty),
        };
        self.call(Method::POST, "/vps/recover", &[], Some(&body))
            .await
    }

    pub async fn delete(&self, machine_id: &str) -> Result<DeleteResponse, ClientError> {
        let path = format!("/vps/{}", path_segment(machine_id)?);
        self.call(Method::DELETE, &path, &[], None::<&()>).await
    }

    async fn call<T: DeserializeOwned, B: serde::Serialize>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}{}",
            self.base.path().trim_end_matches('/'),
            path
        ));
        if !params.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|_| ClientError::Unreachable)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|_| ClientError::Unreachable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| ClientError::Protocol);
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_owned());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                ClientError::Unauthorized(status.as_u16())
            }
            StatusCode::NOT_FOUND => ClientError::NotFound(message),
            StatusCode::CONFLICT => ClientError::Conflict(message),
            _ => ClientError::Rejected {
                status: status.as_u16(),
                message,
            },
        })
    }
}

/// True when `token` can be sent as `Authorization: Bearer TOKEN`: visible ASCII only (no
/// control characters, no spaces, no bytes beyond ASCII that a server may read differently).
pub fn token_fits_a_header(token: &Secret) -> bool {
    !token.is_empty() && token.expose().bytes().all(|b| b.is_ascii_graphic())
}

/// A machine id as one path segment; anything that is not a plain id is refused before sending.
fn path_segment(machine_id: &str) -> Result<&str, ClientError> {
    if !machine_id.is_empty()
        && machine_id.len() <= 64
        && machine_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(machine_id)
    } else {
        Err(ClientError::NotFound("not a machine id".into()))
    }
}
