//! An in-memory fake of Cloudflare R2 (S3 API), served over a real 127.0.0.1 socket, so that the
//! control plane's real R2 client, the simulated hosts and real S3 clients (the AWS CLI, boto3)
//! can be run against failures that R2 produces rarely or never on demand.
//!
//! Built on the `s3s` crate (pinned `=0.14.1`: 0.15+ needs rustc 1.96), which provides the S3
//! wire protocol: routing, SigV4 checking (one access key and secret, [`FakeR2Config`]),
//! `aws-chunked` decoding with trailers, XML bodies and errors. See
//! `shared/reference/r2-s3.md` for the client settings this fake is meant to exercise.
//!
//! # What it serves
//! PutObject (user metadata such as `x-amz-meta-sha256`), GetObject (with `Range`), HeadObject
//! (a missing key is a bare 404, which the SDK reports as `NotFound`), ListObjectsV2 (prefix,
//! delimiter, continuation token, max-keys, start-after, `encoding-type=url`), DeleteObject (204
//! also for a missing key), CopyObject, and CreateBucket / HeadBucket / ListBuckets for the AWS
//! CLI. Everything else answers `501 NotImplemented`. Path-style addressing only, region `auto`.
//!
//! # What drives it
//! - **time** only through the injected [`TimeSource`] (`Last-Modified`, request log);
//! - **randomness** only through [`FakeR2Config::seed`] (probabilistic faults);
//! - **faults** through [`R2FaultRule`]s, counted per *logical* call: the SDK retries a failing
//!   call up to 3 times with one `amz-sdk-invocation-id`, and a rule counts that call once
//!   ([`faults`] has the exact rules);
//! - **R2 generation** through [`R2Compat`]: old R2 refused checksum headers and `aws-chunked`
//!   uploads with 501; R2 refuses *signed* `aws-chunked` streaming.
//!
//! "Missing object behind a valid latest pointer" needs no rule: [`FakeR2::remove`] the snapshot.
//!
//! # Lifecycle
//! State lives in an `Arc` shared by the server and the handle: [`FakeR2::stop`] takes the
//! endpoint down (connections refused) and [`FakeR2::restart`] brings it back on the same port with
//! the same objects, faults and request log. Dropping the handle stops the server.
//!
//! Module map: [`operations`] (the S3 operations), [`gate`] (auth, compatibility mode and fault
//! decisions, in s3s's access hook), [`store`] (buckets, objects, listing), [`faults`],
//! [`transport`] (accept loop, connection kill, request log).

mod faults;
mod gate;
mod operations;
mod store;
mod transport;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use s3s::service::{S3Service, S3ServiceBuilder};
use serde::Serialize;
use tokio::net::TcpListener;

pub use crate::fake_hetzner::{TimeSource, wall_clock};
pub use faults::{Attempts, FaultWhen, MAX_REMEMBERED_CALLS, R2FaultEffect, R2FaultRule, R2Op};
pub use store::StoredObject;

use faults::FaultTable;
use store::Store;

/// The region R2 documents for SigV4, and the only one this fake names.
pub const REGION: &str = "auto";

/// Which R2 the fake behaves like towards uploads that carry checksums or `aws-chunked` framing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum R2Compat {
    /// Accept everything s3s decodes, including SDK-default CRC32 headers and signed streaming.
    /// The default: over plain `http://` the SDK signs streaming chunks that it would not sign
    /// over production's `https://`, so rejecting them here would be a fake-only failure.
    #[default]
    Permissive,
    /// Current R2: checksum headers are fine, but *signed* `aws-chunked` streaming
    /// (`x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD…`) gets 501 NotImplemented.
    NoSignedStreaming,
    /// R2 before 2025: any `x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm` or `x-amz-trailer`
    /// header, and any `aws-chunked` body, gets 501 NotImplemented.
    OldR2,
}

/// How a [`FakeR2`] behaves.
#[derive(Clone)]
pub struct FakeR2Config {
    /// The only access key id accepted (SigV4); anything else gets 403.
    pub access_key_id: String,
    /// Its secret; a request signed with another gets 403 `SignatureDoesNotMatch`.
    pub secret_access_key: String,
    /// Buckets that exist from the start.
    pub buckets: Vec<String>,
    /// Seeds every random choice the fake makes.
    pub seed: u64,
    /// The harness clock. Default: the wall clock.
    pub now: TimeSource,
    pub compat: R2Compat,
    /// Largest object accepted by PutObject (`400 EntityTooLarge` beyond). Bounds memory.
    pub max_object_bytes: usize,
}

impl Default for FakeR2Config {
    fn default() -> Self {
        FakeR2Config {
            access_key_id: "fake-r2-access-key".into(),
            secret_access_key: "fake-r2-secret-key".into(),
            buckets: vec!["fleet-backups".into()],
            seed: 0,
            now: wall_clock(),
            compat: R2Compat::Permissive,
            max_object_bytes: 256 * 1024 * 1024,
        }
    }
}

impl std::fmt::Debug for FakeR2Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeR2Config")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("buckets", &self.buckets)
            .field("seed", &self.seed)
            .field("compat", &self.compat)
            .field("max_object_bytes", &self.max_object_bytes)
            .finish_non_exhaustive()
    }
}

/// One HTTP request as the fake saw it (each SDK retry is a request of its own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct R2RequestRecord {
    /// Position in the request log: assigned when the record is logged, from 0, monotonic and
    /// never reused (survives the log's cap), for `requests_since`.
    pub seq: u64,
    pub method: String,
    /// The raw path (`/<bucket>/<key>`, percent-encoded); query strings are never recorded.
    pub path: String,
    /// The S3 operation (`PutObject`, `ListObjectsV2`, …), once the signature was verified;
    /// `None` for requests rejected before (bad signature, unknown key, malformed).
    pub op: Option<String>,
    pub bucket: Option<String>,
    /// The decoded object key, for object operations.
    pub key: Option<String>,
    /// `None` when the connection was closed without a response (a reset fault).
    pub status: Option<u16>,
    /// Harness-clock time of arrival.
    pub at: DateTime<Utc>,
    /// `amz-sdk-invocation-id`: shared by every attempt of one logical call.
    pub invocation_id: Option<String>,
    /// From `amz-sdk-request: attempt=N; max=M`.
    pub attempt: Option<u32>,
    /// The fault (or compatibility refusal) that fired on this request, if any.
    pub fault: Option<String>,
}

/// Oldest request records are discarded beyond this many (bounds memory in long runs).
const MAX_RECORDS: usize = 100_000;

/// State shared by the server and the [`FakeR2`] handle, surviving restarts. Std mutexes: no lock
/// is held across an `.await`, and each is held only for a short in-memory update.
pub(crate) struct Shared {
    now: TimeSource,
    max_object_bytes: usize,
    store: Mutex<Store>,
    faults: Mutex<FaultTable>,
    compat: Mutex<R2Compat>,
    requests: Mutex<VecDeque<R2RequestRecord>>,
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
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultTable> {
        lock(&self.faults)
    }
    pub(crate) fn compat(&self) -> R2Compat {
        *lock(&self.compat)
    }
    pub(crate) fn record(&self, record: R2RequestRecord) {
        let mut requests = lock(&self.requests);
        let mut record = record;
        record.seq = requests.back().map_or(0, |last| last.seq + 1);
        if requests.len() >= MAX_RECORDS {
            requests.pop_front();
        }
        requests.push_back(record);
    }
}

/// A running fake R2. Dropping it stops the server and closes every connection.
pub struct FakeR2 {
    shared: Arc<Shared>,
    service: S3Service,
    addr: SocketAddr,
    access_key_id: String,
    secret_access_key: String,
    /// The accept loop while serving; aborting it drops (and so aborts) every connection task.
    server_task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeR2 {
    /// Binds 127.0.0.1 on a free port and starts serving on the current tokio runtime.
    pub async fn start(config: FakeR2Config) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.access_key_id.is_empty() && !config.secret_access_key.is_empty(),
            "access_key_id and secret_access_key must not be empty"
        );
        let now = (config.now)();
        let mut store = Store::default();
        for bucket in &config.buckets {
            anyhow::ensure!(
                s3s::path::check_bucket_name(bucket),
                "invalid bucket name {bucket:?}"
            );
            store.create_bucket(bucket, now);
        }
        let shared = Arc::new(Shared {
            now: config.now,
            max_object_bytes: config.max_object_bytes,
            store: Mutex::new(store),
            faults: Mutex::new(FaultTable::new(config.seed)),
            compat: Mutex::new(config.compat),
            requests: Mutex::new(VecDeque::new()),
        });
        let mut builder = S3ServiceBuilder::new(operations::Operations {
            shared: shared.clone(),
        });
        builder.set_auth(gate::KeyAuth {
            access_key_id: config.access_key_id.clone(),
            secret_access_key: config.secret_access_key.clone(),
        });
        builder.set_access(gate::Gate {
            shared: shared.clone(),
        });
        let service = builder.build();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let mut fake = FakeR2 {
            shared,
            service,
            addr,
            access_key_id: config.access_key_id,
            secret_access_key: config.secret_access_key,
            server_task: None,
        };
        fake.serve(listener);
        Ok(fake)
    }

    fn serve(&mut self, listener: TcpListener) {
        self.server_task = Some(tokio::spawn(transport::serve(
            listener,
            self.service.clone(),
            self.shared.clone(),
        )));
        tracing::info!(addr = %self.addr, "fake r2 listening");
    }

    /// `http://127.0.0.1:PORT`: the endpoint for a path-style S3 client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Always `auto`, as on R2.
    pub fn region(&self) -> &str {
        REGION
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// Takes the endpoint down: open connections are closed, new ones refused. State is kept.
    pub fn stop(&mut self) {
        if let Some(task) = self.server_task.take() {
            task.abort();
            tracing::info!(addr = %self.addr, "fake r2 stopped");
        }
    }

    /// Stops the server if it runs, then serves again on the same port with the same state
    /// (objects, faults, request log). Fails if another process took the port meanwhile.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        // The aborted accept loop releases the listener when its task is dropped, which happens
        // on the runtime shortly after `abort`; retry the bind briefly (bounded) until it has.
        let mut last_error = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return Ok(());
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
        Err(anyhow::anyhow!(
            "fake r2: could not rebind {}: {:?}",
            self.addr,
            last_error
        ))
    }

    /// Whether the server is currently accepting connections.
    pub fn is_running(&self) -> bool {
        self.server_task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Creates a bucket (no-op if it exists).
    pub fn create_bucket(&self, bucket: &str) {
        let now = self.shared.now();
        self.shared.store().create_bucket(bucket, now);
    }

    /// Bucket names, sorted.
    pub fn buckets(&self) -> Vec<String> {
        self.shared.store().buckets.keys().cloned().collect()
    }

    /// Stores an object directly, as if a host had uploaded it (creating the bucket if needed).
    pub fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: impl Into<Bytes>,
        metadata: BTreeMap<String, String>,
    ) {
        let now = self.shared.now();
        let object = StoredObject::new(bytes.into(), metadata, None, now);
        let mut store = self.shared.store();
        store.create_bucket(bucket, now);
        if let Some(b) = store.bucket_mut(bucket) {
            b.objects.insert(key.to_owned(), object);
        }
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.shared
            .store()
            .bucket(bucket)
            .and_then(|b| b.objects.get(key).cloned())
    }

    /// Keys of `bucket` under `prefix`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.shared
            .store()
            .bucket(bucket)
            .map(|b| {
                b.objects
                    .keys()
                    .filter(|k| k.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes an object directly (e.g. to leave a `latest` pointer dangling). Returns whether
    /// it existed.
    pub fn remove(&self, bucket: &str, key: &str) -> bool {
        self.shared
            .store()
            .bucket_mut(bucket)
            .is_some_and(|b| b.objects.remove(key).is_some())
    }

    /// Adds a fault rule; it counts matching calls from now on.
    pub fn inject(&self, rule: R2FaultRule) {
        tracing::info!(?rule, "fake r2: fault injected");
        self.shared.faults().inject(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Switches the R2 generation the fake emulates, from the next request on.
    pub fn set_compat(&self, compat: R2Compat) {
        *lock(&self.shared.compat) = compat;
    }

    /// Requests so far, oldest first (the last 100 000).
    pub fn requests(&self) -> Vec<R2RequestRecord> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    /// Requests logged with `seq >= from`, oldest first, without copying the rest of the log.
    /// When the log's cap dropped some of them, the first returned has a `seq` above `from`.
    pub fn requests_since(&self, from: u64) -> Vec<R2RequestRecord> {
        let requests = lock(&self.shared.requests);
        let start = requests.partition_point(|r| r.seq < from);
        requests.range(start..).cloned().collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }
}

impl Drop for FakeR2 {
    fn drop(&mut self) {
        self.stop();
    }
}
