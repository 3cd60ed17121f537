//! Hetzner Cloud client: the four server calls the control plane makes, with typed outcomes.
//!
//! Layout: this file holds the client and its call loop; [`types`] the request and server shapes and
//! their lenient parsing; [`errors`] the outcome classes and their mapping to failure codes;
//! [`rate_limit`] the shared pacing against Hetzner's request budget.
//!
//! Contract of every call:
//! - Flow: wait for rate-limit budget → send → classify the answer → parse only the fields the
//!   control plane uses. One `matrix_provider_calls_total` sample per call (not per attempt or page).
//! - Guarantees:
//!   - `create_server` is sent at most once once it may have reached Hetzner. A lost or unreadable
//!     answer is [`ProviderError::Ambiguous`]: the caller must look the server up by its
//!     `machine_id` label before creating again (Hetzner has no idempotency key). The only resends
//!     are after a 429, which Hetzner does not process. Not even a "refused connection" is resent:
//!     a pooled connection the server closed after reading the request can surface as a connect
//!     error too, so that signal is not reliable enough to risk a second server.
//!   - `get_server`, `list_servers` and `delete_server` are idempotent and are retried on ambiguous
//!     outcomes, up to [`MAX_ATTEMPTS`] attempts with a short backoff on the injected clock.
//!   - A 429 is never a failure: the call waits for budget and resends, and gives up with
//!     [`ProviderError::RateLimited`] (nothing was processed) only when budget would not come back
//!     within `max_rate_limit_wait`. Concurrent calls share one budget and queue for it.
//!   - The token travels only in the `Authorization` header, marked sensitive. Errors and log lines
//!     carry the operation, the HTTP status and Hetzner's error code; never a body, a message, a
//!     URL or a token.
//! - Assumptions: Hetzner's documented semantics (`shared/reference/hetzner-api.md`): the error
//!   envelope, 429 means "not processed", `RateLimit-*` headers on every answer.
//! - Caveats: the per-request timeout is a real socket timer, independent of the injected clock (a
//!   paused clock must not fire timeouts on real sockets). The pacer's budget is an estimate; see
//!   [`rate_limit`].

pub mod errors;
pub mod rate_limit;
pub mod types;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use url::Url;

use crate::clock::Clock;
use crate::ids::HetznerServerId;
use crate::metrics::Metrics;
use crate::secret::Secret;

pub use errors::{AmbiguousKind, DefinitiveKind, ProviderError};
pub use types::{CreateServerRequest, Server, ServerStatus};

use errors::Refusal;
use rate_limit::{Answer, Pacer, RateLimitHeaders};
use types::ServerPage;

pub const DEFAULT_BASE_URL: &str = "https://api.hetzner.cloud/v1";
/// `control-plane.md` §9: provider HTTP timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(15 * 60);
/// Attempts of an idempotent call.
pub const MAX_ATTEMPTS: u32 = 3;
/// Wait before the second attempt; doubled before each later one.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Hetzner's maximum page size.
pub const LIST_PER_PAGE: u32 = 50;
/// Pages one `list_servers` follows (100,000 servers, beyond any fleet we run) before calling the
/// listing unreadable: a listing cut short would let a caller conclude that a server does not exist.
/// Per-machine label lookups stay one page; only the orphan sweep walks many (see its interval).
pub const MAX_LIST_PAGES: u32 = 2000;
/// Largest answer read; a bigger one is `BadResponse` (50 full server objects are ~250 KiB).
const MAX_BODY_BYTES: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct HetznerConfig {
    /// e.g. `https://api.hetzner.cloud/v1`; the simulator's fake lives at `http://127.0.0.1:PORT/v1`.
    pub base_url: Url,
    pub token: Secret,
    /// Per request, connect to last byte; default 10 s.
    pub timeout: Duration,
    /// How long one call may wait for rate-limit budget before giving up with `RateLimited`;
    /// default 15 min.
    pub max_rate_limit_wait: Duration,
}

impl HetznerConfig {
    /// A config with the default timeout and rate-limit wait.
    pub fn new(base_url: Url, token: Secret) -> Self {
        Self {
            base_url,
            token,
            timeout: DEFAULT_TIMEOUT,
            max_rate_limit_wait: DEFAULT_MAX_RATE_LIMIT_WAIT,
        }
    }
}

/// A Hetzner Cloud client. Cheap to clone; clones share the connection pool and the rate-limit
/// budget.
#[derive(Clone)]
pub struct HetznerClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Carries the `Authorization` header (sensitive) as a default header and the request timeout.
    http: reqwest::Client,
    /// Validated in [`HetznerClient::new`]: http(s), able to take path segments, no query.
    base_url: Url,
    max_rate_limit_wait: Duration,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// The one budget every clone and every concurrent call spends.
    pacer: Pacer,
}

impl fmt::Debug for HetznerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HetznerClient")
            .field("base_url", &self.inner.base_url.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    CreateServer,
    GetServer,
    ListServers,
    DeleteServer,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::CreateServer => "create_server",
            Self::GetServer => "get_server",
            Self::ListServers => "list_servers",
            Self::DeleteServer => "delete_server",
        }
    }

    /// Whether sending the request twice has the same effect as sending it once.
    fn is_idempotent(self) -> bool {
        !matches!(self, Self::CreateServer)
    }
}

/// A whole answer: status, rate-limit headers and the body, read in full.
struct Reply {
    status: u16,
    limits: RateLimitHeaders,
    body: Vec<u8>,
}

/// Why no whole answer came back.
struct SendFailure {
    kind: AmbiguousKind,
    status: Option<u16>,
}

impl SendFailure {
    fn from_reqwest(e: &reqwest::Error, status: Option<u16>) -> Self {
        let kind = if e.is_timeout() {
            AmbiguousKind::Timeout
        } else {
            AmbiguousKind::ConnectionLost
        };
        Self { kind, status }
    }
}

impl HetznerClient {
    pub fn new(
        config: HetznerConfig,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ProviderError> {
        let HetznerConfig {
            mut base_url,
            token,
            timeout,
            max_rate_limit_wait,
        } = config;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(ProviderError::config("invalid_base_url"));
        }
        base_url.set_query(None);
        base_url.set_fragment(None);
        if token.is_empty() {
            return Err(ProviderError::config("missing_token"));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| ProviderError::config("invalid_token"))?;
        // Keeps the value out of `Debug` of headers and requests, and out of HTTP/2 header compression.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!(
                "matrix-fleet-control-plane/",
                env!("CARGO_PKG_VERSION")
            ))
            .timeout(timeout)
            // A redirect would be an answer we do not expect; following it could carry the token
            // elsewhere. It is reported as `BadResponse` instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| ProviderError::config("http_client"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                max_rate_limit_wait,
                clock,
                metrics,
                pacer: Pacer::new(),
            }),
        })
    }

    /// `POST /servers` with `start_after_create: true`. Never resent once it may have reached
    /// Hetzner: on `Ambiguous`, look the server up by label before creating again.
    pub async fn create_server(&self, req: &CreateServerRequest) -> Result<Server, ProviderError> {
        let op = Op::CreateServer;
        let url = self.url(&["servers"]);
        let body = req.to_json();
        let result = self
            .call(
                op,
                Method::POST,
                &url,
                Some(&body),
                self.deadline(),
                types::parse_server_envelope,
            )
            .await;
        self.finish(op, result)
    }

    /// `GET /servers/{id}`; 404 → [`ProviderError::NotFound`].
    pub async fn get_server(&self, id: HetznerServerId) -> Result<Server, ProviderError> {
        let op = Op::GetServer;
        let url = self.url(&["servers", &id.to_string()]);
        let result = self
            .call(
                op,
                Method::GET,
                &url,
                None,
                self.deadline(),
                types::parse_server_envelope,
            )
            .await;
        self.finish(op, result)
    }

    /// `GET /servers?label_selector=…`, every page (`per_page=50`, following `next_page`, at most
    /// [`MAX_LIST_PAGES`]). An empty selector lists every server of the project.
    pub async fn list_servers(&self, label_selector: &str) -> Result<Vec<Server>, ProviderError> {
        let op = Op::ListServers;
        let result = self.list_all(label_selector).await;
        self.finish(op, result)
    }

    /// `DELETE /servers/{id}`; 404 → [`ProviderError::NotFound`], which callers treat as done.
    pub async fn delete_server(&self, id: HetznerServerId) -> Result<(), ProviderError> {
        let op = Op::DeleteServer;
        let url = self.url(&["servers", &id.to_string()]);
        // The answer is `{action}`; its status says all we need, so the body is not parsed.
        let result = self
            .call(
                op,
                Method::DELETE,
                &url,
                None,
                self.deadline(),
                |_| Some(()),
            )
            .await;
        self.finish(op, result)
    }

    /// True when the last `RateLimit-Remaining` seen (if any), refilled since, lets a call go now
    /// without waiting.
    pub fn has_budget_now(&self) -> bool {
        self.inner.pacer.has_budget(self.inner.clock.now())
    }

    async fn list_all(&self, label_selector: &str) -> Result<Vec<Server>, ProviderError> {
        let op = Op::ListServers;
        let deadline = self.deadline();
        let mut servers = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_LIST_PAGES {
            let mut url = self.url(&["servers"]);
            {
                let mut query = url.query_pairs_mut();
                if !label_selector.is_empty() {
                    query.append_pair("label_selector", label_selector);
                }
                query
                    .append_pair("per_page", &LIST_PER_PAGE.to_string())
                    .append_pair("page", &page.to_string());
            }
            let ServerPage {
                servers: found,
                next_page,
            } = self
                .call(
                    op,
                    Method::GET,
                    &url,
                    None,
                    deadline,
                    types::parse_server_page,
                )
                .await?;
            servers.extend(found);
            match next_page {
                None => return Ok(servers),
                Some(next) if next > page => page = next,
                // A `next_page` that does not move forward would loop forever.
                Some(_) => {
                    return Err(ProviderError::ambiguous(
                        AmbiguousKind::BadResponse,
                        Some(200),
                    ));
                }
            }
        }
        Err(ProviderError::ambiguous(
            AmbiguousKind::BadResponse,
            Some(200),
        ))
    }

    /// `<base>/<segments…>`, whatever the base's trailing slash.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base_url.clone();
        // Cannot fail: `new` refused bases that cannot take path segments.
        url.path_segments_mut()
            .expect("base URL validated in new")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// The latest a call may still be waiting for rate-limit budget.
    fn deadline(&self) -> DateTime<Utc> {
        let wait = chrono::Duration::from_std(self.inner.max_rate_limit_wait)
            .unwrap_or(chrono::Duration::MAX);
        self.inner
            .clock
            .now()
            .checked_add_signed(wait)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// One request: paced, resent after 429s, retried when that is safe, parsed with `parse`.
    async fn call<T>(
        &self,
        op: Op,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
        deadline: DateTime<Utc>,
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<T, ProviderError> {
        let clock = &*self.inner.clock;
        let mut attempt = 1;
        loop {
            let permit = self
                .inner
                .pacer
                .acquire(clock, deadline)
                .await
                .map_err(|retry_at| ProviderError::RateLimited { retry_at })?;
            let error = match self.send(method.clone(), url, body).await {
                Ok(reply) if reply.status == 429 => {
                    permit.observe(&reply.limits, Answer::RateLimited, clock.now());
                    // retry: Hetzner did not process a rate-limited request; the pacer now waits
                    // for budget (or gives up at the deadline) before it goes again.
                    tracing::debug!(
                        op = op.as_str(),
                        status = 429,
                        "hetzner rate limit hit, resending when budget returns"
                    );
                    continue;
                }
                Ok(reply) => {
                    permit.observe(&reply.limits, Answer::Served, clock.now());
                    if (200..300).contains(&reply.status) {
                        match parse(&reply.body) {
                            Some(value) => return Ok(value),
                            None => ProviderError::ambiguous(
                                AmbiguousKind::BadResponse,
                                Some(reply.status),
                            ),
                        }
                    } else {
                        match errors::classify(reply.status, &reply.body) {
                            Refusal::Failed(error) => error,
                            // Handled above; kept total so a future change cannot turn a 429 into a failure.
                            Refusal::RateLimited => continue,
                        }
                    }
                }
                Err(failure) => {
                    drop(permit);
                    ProviderError::ambiguous(failure.kind, failure.status)
                }
            };
            let may_resend = error.is_ambiguous() && op.is_idempotent();
            if !may_resend || attempt >= MAX_ATTEMPTS {
                return Err(error);
            }
            // retry: the call is idempotent. The backoff is real time, not the injected clock: it
            // spaces out transport retries within one call, and a manual clock that nobody advances
            // during the call would otherwise never wake it.
            tracing::debug!(op = op.as_str(), attempt, status = ?error.http_status(), outcome = error.metric_outcome(), "retrying hetzner call");
            tokio::time::sleep(RETRY_BACKOFF * 2u32.pow(attempt - 1)).await;
            attempt += 1;
        }
    }

    /// Sends once and reads the whole answer, within the client's timeout.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Result<Reply, SendFailure> {
        let mut request = self.inner.http.request(method, url.clone());
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| SendFailure::from_reqwest(&e, None))?;
        let status = response.status().as_u16();
        let limits = RateLimitHeaders::parse(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| SendFailure::from_reqwest(&e, Some(status)))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(SendFailure {
                    kind: AmbiguousKind::BadResponse,
                    status: Some(status),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            limits,
            body,
        })
    }

    /// Records the call's one metrics sample and log line.
    fn finish<T>(&self, op: Op, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        let outcome = result
            .as_ref()
            .map_or_else(ProviderError::metric_outcome, |_| "ok");
        self.inner
            .metrics
            .provider_call("hetzner", op.as_str(), outcome);
        match &result {
            Ok(_) => tracing::debug!(op = op.as_str(), outcome, "hetzner call done"),
            // Normal flow: a server already gone.
            Err(ProviderError::NotFound) => {
                tracing::debug!(op = op.as_str(), outcome, "hetzner call done")
            }
            Err(error) => {
                let (kind, code) = match error {
                    ProviderError::Definitive { kind, code, .. } => (kind.as_str(), code.as_str()),
                    ProviderError::Ambiguous { kind, .. } => (kind.as_str(), ""),
                    ProviderError::NotFound | ProviderError::RateLimited { .. } => ("", ""),
                };
                tracing::warn!(op = op.as_str(), outcome, kind, status = ?error.http_status(), code, "hetzner call failed");
            }
        }
        result
    }
}
