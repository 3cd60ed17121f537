//! A stateful fake of the Hetzner Cloud API, served over a real 127.0.0.1 socket, so that the
//! control plane's real client (and Hetzner's own `hcloud` CLI, via `HCLOUD_ENDPOINT`) can be
//! run against failures that the real API produces rarely or never on demand.
//!
//! What it keeps and serves (see `shared/reference/hetzner-api.md`): servers with full objects,
//! their actions, labels and label selectors, pagination, the error envelope, and a token bucket
//! with the real `RateLimit-*` headers. What drives it:
//! - **time** only through the injected [`TimeSource`] (rate-limit refill, timestamps), never the
//!   wall clock when one is given;
//! - **progress** only through polls ([`model`] documents the exact rules), never time;
//! - **randomness** only through [`FakeHetznerConfig::seed`] (ids, addresses, passwords,
//!   probabilistic faults, correlation ids): same seed and same calls, same history.
//!
//! Faults ([`FaultRule`]) are injected and cleared while it runs. Each created server is
//! broadcast with its `user_data` ([`FakeHetzner::subscribe_created`]) so that a host simulator
//! can boot it the way cloud-init would.
//!
//! Module map: [`routes`] (gate and handlers), [`model`] (state and progress), [`wire`] (JSON
//! shapes), [`catalog`] (locations, types, images), [`labels`] (label rules and selectors),
//! [`rate_limit`], [`faults`], [`transport`] (listener with connection-drop control).

mod catalog;
pub(crate) mod faults;
pub mod labels;
mod model;
mod rate_limit;
mod routes;
mod transport;
mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

pub use faults::{FaultEffect, FaultOp, FaultRule, FaultWhen};
pub use model::{FakeServer, ServerStatus};
pub use rate_limit::RateSnapshot;

use faults::FaultTable;
use model::Store;
use rate_limit::TokenBucket;

/// The harness clock, as the fake sees it.
pub type TimeSource = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock, for runs without a harness clock.
#[allow(clippy::disallowed_methods)] // the one wall-clock read: the default when none is injected
pub fn wall_clock() -> TimeSource {
    Arc::new(Utc::now)
}

/// How a [`FakeHetzner`] behaves.
#[derive(Clone)]
pub struct FakeHetznerConfig {
    /// The only bearer token accepted; anything else gets 401 `unauthorized`.
    pub token: String,
    /// Token-bucket capacity (`RateLimit-Limit`); Hetzner's default is 3600.
    pub rate_limit: u32,
    /// Tokens added per second of [`FakeHetznerConfig::now`] time; Hetzner's default is 1.
    pub refill_per_second: f64,
    /// The harness clock. Default: the wall clock.
    pub now: TimeSource,
    /// Seeds every random choice the fake makes.
    pub seed: u64,
    /// Polls of a server before `initializing → starting → running` completes (exactly this many
    /// polls see it not running); 0 = running at once. Also paces deletes and power actions.
    pub polls_until_running: u32,
    /// First two octets of handed-out public IPv4 addresses (default 49.12, a Hetzner range).
    pub ipv4_base: [u8; 2],
}

impl Default for FakeHetznerConfig {
    fn default() -> Self {
        FakeHetznerConfig {
            token: "fake-hcloud-token".into(),
            rate_limit: 3600,
            refill_per_second: 1.0,
            now: wall_clock(),
            seed: 0,
            polls_until_running: 2,
            ipv4_base: [49, 12],
        }
    }
}

impl std::fmt::Debug for FakeHetznerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHetznerConfig")
            .field("token", &"<redacted>")
            .field("rate_limit", &self.rate_limit)
            .field("refill_per_second", &self.refill_per_second)
            .field("seed", &self.seed)
            .field("polls_until_running", &self.polls_until_running)
            .field("ipv4_base", &self.ipv4_base)
            .finish_non_exhaustive()
    }
}

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Position in the request log: assigned when the record is logged, from 0, monotonic and
    /// never reused (survives the log's cap), for `requests_since`.
    pub seq: u64,
    pub method: String,
    /// The path only: query strings are never recorded.
    pub path: String,
    /// `None` when the connection was closed without a response (a drop fault).
    pub status: Option<u16>,
    /// Harness-clock time of arrival.
    pub at: DateTime<Utc>,
    pub correlation_id: String,
    /// The fault that fired on this request, if any.
    pub fault: Option<String>,
}

/// Oldest request records are discarded beyond this many (bounds memory in long runs).
const MAX_RECORDS: usize = 100_000;
/// Created-server notifications a slow subscriber may fall behind by before it lags.
const CREATED_CHANNEL: usize = 1024;

/// State shared by the handlers and the [`FakeHetzner`] handle. Std mutexes: no lock is held
/// across an `.await`, and each is held only for a short in-memory update.
pub(crate) struct Shared {
    token: String,
    now: TimeSource,
    seed: u64,
    store: Mutex<Store>,
    bucket: Mutex<TokenBucket>,
    faults: Mutex<FaultTable>,
    requests: Mutex<VecDeque<RequestRecord>>,
    /// Every created server; the handle hands out receivers, the create handler sends.
    created_tx: broadcast::Sender<FakeServer>,
    correlation_seq: AtomicU64,
    /// `CommitThenHold`: how many requests have reached the hold (ever), and the release
    /// generation a held request waits to see move.
    held: tokio::sync::watch::Sender<u64>,
    release: tokio::sync::watch::Sender<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not wedge the fake; the data stays consistent per operation.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
    pub(crate) fn bucket(&self) -> MutexGuard<'_, TokenBucket> {
        lock(&self.bucket)
    }
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultTable> {
        lock(&self.faults)
    }

    pub(crate) fn record(&self, record: RequestRecord) {
        let mut requests = lock(&self.requests);
        let mut record = record;
        record.seq = requests.back().map_or(0, |last| last.seq + 1);
        if requests.len() >= MAX_RECORDS {
            requests.pop_front();
        }
        requests.push_back(record);
    }

    /// A `CommitThenHold` request, committed: says so, then waits for the next release.
    pub(crate) async fn hold_until_released(&self) {
        let mut release = self.release.subscribe();
        release.borrow_and_update();
        self.held.send_modify(|n| *n += 1);
        tracing::debug!("fake hetzner: committed, holding the response");
        let _ = release.changed().await;
    }

    /// Deterministic, unique per request: a mix of the seed and a counter.
    pub(crate) fn next_correlation_id(&self) -> String {
        let n = self.correlation_seq.fetch_add(1, Ordering::Relaxed);
        let mut z = self.seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        format!("{:016x}", z ^ (z >> 31))
    }
}

/// A running fake Hetzner API. Dropping it stops the server and closes every connection.
pub struct FakeHetzner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// The accept loop; aborting it drops (and so aborts) every connection task.
    server_task: tokio::task::JoinHandle<()>,
}

impl FakeHetzner {
    /// Binds 127.0.0.1 on a free port and starts serving on the current tokio runtime.
    pub async fn start(config: FakeHetznerConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(config.rate_limit > 0, "rate_limit must be at least 1");
        anyhow::ensure!(
            config.refill_per_second.is_finite() && config.refill_per_second > 0.0,
            "refill_per_second must be a positive number"
        );
        anyhow::ensure!(!config.token.is_empty(), "token must not be empty");
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (created_tx, _) = broadcast::channel(CREATED_CHANNEL);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(
                config.seed,
                config.polls_until_running,
                config.ipv4_base,
            )),
            bucket: Mutex::new(TokenBucket::new(
                config.rate_limit,
                config.refill_per_second,
            )),
            faults: Mutex::new(FaultTable::new(config.seed)),
            requests: Mutex::new(VecDeque::new()),
            created_tx,
            correlation_seq: AtomicU64::new(0),
            held: tokio::sync::watch::Sender::new(0),
            release: tokio::sync::watch::Sender::new(0),
            token: config.token,
            now: config.now,
            seed: config.seed,
        });
        let router = routes::router(shared.clone());
        let server_task = tokio::spawn(transport::serve(listener, router));
        tracing::info!(%addr, "fake hetzner listening");
        Ok(FakeHetzner {
            shared,
            addr,
            server_task,
        })
    }

    /// `http://127.0.0.1:PORT/v1`, for the client's base URL or `HCLOUD_ENDPOINT`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The socket the fake listens on (to put a transport proxy in front of it).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// Every server that currently exists (not deleted or vanished), by id.
    pub fn servers(&self) -> Vec<FakeServer> {
        self.shared
            .store()
            .servers
            .values()
            .map(|s| s.snapshot())
            .collect()
    }

    pub fn server(&self, id: i64) -> Option<FakeServer> {
        self.shared.store().servers.get(&id).map(|s| s.snapshot())
    }

    /// Servers ever created, including deleted and vanished ones.
    pub fn create_count(&self) -> usize {
        self.shared.store().created_total
    }

    /// Every server ever created (deleted and vanished ones included), as it was at its create,
    /// oldest first, with whether the fake made its create action fail.
    pub fn created_servers(&self) -> Vec<(FakeServer, bool)> {
        self.shared.store().ever_created.clone()
    }

    /// Waits until at least `n` requests (counted since the fake started) have committed and are
    /// held by a [`FaultEffect::CommitThenHold`] rule.
    pub async fn wait_held(&self, n: u64) {
        let mut held = self.shared.held.subscribe();
        let _ = held.wait_for(|count| *count >= n).await;
    }

    /// Requests that have reached a `CommitThenHold` hold so far (released ones included).
    pub fn held_count(&self) -> u64 {
        *self.shared.held.borrow()
    }

    /// Lets every held request answer (to a caller that may be gone by now).
    pub fn release_held(&self) {
        self.shared.release.send_modify(|g| *g += 1);
    }

    /// Adds a fault rule; it counts matching calls from now on.
    pub fn inject(&self, rule: FaultRule) {
        tracing::info!(?rule, "fake hetzner: fault injected");
        self.shared.faults().inject(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// The server disappears: 404 from now on, not listed. Returns whether it existed.
    pub fn vanish(&self, id: i64) -> bool {
        self.shared.store().vanish(id)
    }

    /// Pins a server's status (e.g. stuck in `"starting"`) and stops its progress. Returns
    /// whether it existed.
    ///
    /// # Panics
    /// If `status` is not one of Hetzner's server statuses (a bug in the calling test).
    pub fn set_status(&self, id: i64, status: &str) -> bool {
        let status: ServerStatus = status.parse().unwrap_or_else(|e| panic!("set_status: {e}"));
        self.shared.store().set_status(id, status)
    }

    /// Each server created from now on, with its `user_data`, for the host simulator.
    pub fn subscribe_created(&self) -> broadcast::Receiver<FakeServer> {
        self.shared.created_tx.subscribe()
    }

    /// Requests so far, oldest first (the last 100 000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    /// Requests logged with `seq >= from`, oldest first, without copying the rest of the log.
    /// When the log's cap dropped some of them, the first returned has a `seq` above `from`.
    pub fn requests_since(&self, from: u64) -> Vec<RequestRecord> {
        let requests = lock(&self.shared.requests);
        let start = requests.partition_point(|r| r.seq < from);
        requests.range(start..).cloned().collect()
    }

    /// The most requests admitted past authentication and the rate limiter (so: that took a
    /// token) within any `window` of harness-clock time. With the bucket's capacity `C` and
    /// refill `r`, a correct limiter never lets this exceed `C + r·window`.
    pub fn max_observed_rate(&self, window: chrono::Duration) -> usize {
        let mut times: Vec<DateTime<Utc>> = lock(&self.shared.requests)
            .iter()
            .filter(|r| !matches!(r.status, Some(401 | 429)))
            .map(|r| r.at)
            .collect();
        times.sort();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= window {
                start += 1;
            }
            best = best.max(end + 1 - start);
        }
        best
    }

    /// Requests answered with 429.
    pub fn throttled_count(&self) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.status == Some(429))
            .count()
    }
}

impl Drop for FakeHetzner {
    fn drop(&mut self) {
        self.server_task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str) -> RequestRecord {
        RequestRecord {
            seq: 0,
            method: "GET".into(),
            path: path.into(),
            status: Some(200),
            at: DateTime::from_timestamp(0, 0).unwrap(),
            correlation_id: String::new(),
            fault: None,
        }
    }

    #[tokio::test]
    async fn requests_since_keeps_counting_past_the_cap_and_shows_the_cut() {
        let fake = FakeHetzner::start(FakeHetznerConfig::default())
            .await
            .unwrap();
        fake.shared.record(record("/first"));
        let first = fake.requests_since(0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].seq, 0);
        let next = first[0].seq + 1;
        for _ in 0..MAX_RECORDS + 5 {
            fake.shared.record(record("/more"));
        }
        let since = fake.requests_since(next);
        // The log holds the last MAX_RECORDS: the 6 oldest since `next` were cut, and the gap in
        // `seq` says so instead of the slice silently starting somewhere else.
        assert_eq!(since.len(), MAX_RECORDS);
        assert_eq!(since[0].seq, next + 5);
        assert_eq!(since.last().unwrap().seq, MAX_RECORDS as u64 + 5);
        assert!(fake.requests_since(MAX_RECORDS as u64 + 6).is_empty());
    }
}
