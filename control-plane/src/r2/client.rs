//! The R2 client: a thin, typed layer over `aws-sdk-s3` with one configuration chosen for R2.
//!
//! # Configuration, and why
//! - **Region `auto`, endpoint from config, `force_path_style(true)`.** R2 ignores the region but the
//!   SigV4 signature must name one, and R2 documents `auto`. Path style (`/<bucket>/<key>`) works for
//!   R2, for `localhost` fakes and for IP endpoints, where virtual-host style cannot resolve.
//! - **Static credentials.** The access key comes from config; nothing is read from the environment,
//!   profile files or instance metadata, so a test never picks up a developer's AWS identity.
//! - **Checksums `WhenRequired` in both directions.** Since early 2025 the SDK adds CRC32
//!   `x-amz-checksum-*` headers (and, when it can, trailing checksums in `aws-chunked` framing) to every
//!   upload. Older R2 answers those with `501 NotImplemented`, and R2 does not implement *signed*
//!   `aws-chunked` streaming at all — which is exactly what the SDK sends over plain `http://`, so a
//!   local fake would see different framing from production. With `WhenRequired` none of the
//!   operations used here (PutObject, GetObject, HeadObject, ListObjectsV2, DeleteObject) sends or
//!   validates a checksum, on any scheme.
//! - **In-memory bodies.** Uploads are `ByteStream::from(Bytes)` with an explicit `Content-Length`: one
//!   signed PUT, identical over `http` and `https`, no chunked encoding.
//! - **Timeouts per operation class.** Reads (GET, HEAD, LIST) get `read_timeout` (10 s), writes (PUT,
//!   DELETE) `write_timeout` (30 s), as SDK operation timeouts covering every retry; a GET's body is
//!   read under the read timeout as well. Connecting is bounded separately (≤ 5 s).
//! - **Standard retry mode, at most 3 attempts** with the SDK's jittered backoff. Callers add no
//!   retries of their own around a single call (see `style.md`, "retry by context").
//!
//! # Integrity
//! With checksums off, integrity is the application's job: whoever uploads a snapshot passes a
//! [`SHA256_METADATA_KEY`] entry (see [`sha256_metadata`]), stored as `x-amz-meta-sha256`;
//! [`R2Client::head`] and [`R2Client::check_backup`] surface it so a restore can refuse a body that
//! does not hash to it.
//!
//! # Errors, logs, metrics
//! - Every SDK error becomes an [`R2Error`] carrying only the operation name: no provider message,
//!   body, request id or credential. At most the error *class* and HTTP status are logged, at debug.
//! - "Not found" is a value, not an error: `Ok(None)` / [`LatestPointer::Missing`]. Only `404` with no
//!   error code, `NoSuchKey` or `NotFound` counts; `NoSuchBucket` is a misconfiguration and an error.
//! - `metrics.provider_call("r2", op, outcome)` is recorded once per logical call (retries and list
//!   pages included), with `outcome` one of `ok`, `not_found`, `error`, `timeout`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{ClerkUserId, RuntimeSlot};
use crate::metrics::Metrics;
use crate::r2::keys::{self, KeyError};
use crate::r2::meta::VpsMeta;
use crate::r2::pointer::{MAX_POINTER_LEN, PointerError, SnapshotKey};
use crate::secret::Secret;
use crate::status::FailureCode;

/// User-metadata entry holding the lowercase hex SHA-256 of a snapshot body.
pub const SHA256_METADATA_KEY: &str = "sha256";

/// Keys requested per ListObjectsV2 page (the S3 maximum).
const LIST_PAGE_SIZE: i32 = 1000;
/// Pages followed by one `list_snapshots` call: 100 000 keys, eleven years of hourly snapshots. The
/// bound also stops a server that keeps answering with the same continuation token.
const MAX_LIST_PAGES: usize = 100;
/// Upper bound on the connect phase, whatever the operation timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

static SHA256_HEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9a-fA-F]{64}$").expect("static regex"));

/// Where and how to reach the bucket. `Debug` is safe: the secret key prints as `[redacted]`.
#[derive(Debug, Clone)]
pub struct R2Config {
    /// `https://<account>.r2.cloudflarestorage.com`, or a fake's `http://127.0.0.1:<port>`.
    pub endpoint: url::Url,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Budget of one GET/HEAD/LIST call, retries included (reference default 10 s).
    pub read_timeout: Duration,
    /// Budget of one PUT/DELETE call, retries included (reference default 30 s).
    pub write_timeout: Duration,
}

impl R2Config {
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

    /// A config with the reference timeouts.
    pub fn new(
        endpoint: url::Url,
        bucket: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: Secret,
    ) -> Self {
        Self {
            endpoint,
            bucket: bucket.into(),
            access_key_id: access_key_id.into(),
            secret_access_key,
            read_timeout: Self::DEFAULT_READ_TIMEOUT,
            write_timeout: Self::DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// A failed R2 call. Carries the operation name only — never provider text or credentials — so it
/// can be logged and stored freely. Both variants are worth retrying later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum R2Error {
    /// The call failed: 5xx, throttling, connection refused/reset, access denied, unexpected answer.
    #[error("r2 {operation} unavailable")]
    Unavailable { operation: &'static str },
    /// The call did not finish within its read or write timeout.
    #[error("r2 {operation} timed out")]
    Timeout { operation: &'static str },
}

impl R2Error {
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Unavailable { operation } | Self::Timeout { operation } => operation,
        }
    }

    /// The failure code recorded on a machine row when an R2 call blocks an operation.
    pub fn failure_code(&self) -> FailureCode {
        FailureCode::R2Unavailable
    }
}

impl From<R2Error> for crate::Error {
    fn from(e: R2Error) -> Self {
        crate::Error::unavailable(e.to_string()).with_code(e.failure_code())
    }
}

/// What a slot's `latest` object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatestPointer {
    /// No `latest` object: the slot has never been backed up.
    Missing,
    /// A `latest` object that is not a valid pointer for this slot. Not a backup.
    Invalid(PointerError),
    Valid(SnapshotKey),
}

/// What HEAD reports about an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectInfo {
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
    /// The `sha256` user metadata, lowercased, when present and well-formed (64 hex digits).
    pub sha256: Option<String>,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectSummary {
    /// The full bucket key.
    pub key: String,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// Why a slot has no usable backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupProblem {
    MissingPointer,
    InvalidPointer,
    MissingObject,
    EmptyObject,
}

impl BackupProblem {
    pub const ALL: [BackupProblem; 4] = [
        Self::MissingPointer,
        Self::InvalidPointer,
        Self::MissingObject,
        Self::EmptyObject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingPointer => "missing_pointer",
            Self::InvalidPointer => "invalid_pointer",
            Self::MissingObject => "missing_object",
            Self::EmptyObject => "empty_object",
        }
    }
}

impl fmt::Display for BackupProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackupProblem {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

/// What the control plane verified in R2 about a slot's newest backup (`latest` + HEAD).
///
/// `problem == None` means: a valid pointer names an existing, non-empty snapshot. `key` and
/// `taken_at` are set whenever the pointer was valid; `size_bytes` and `sha256` whenever the object
/// exists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BackupCheck {
    pub key: Option<SnapshotKey>,
    pub taken_at: Option<DateTime<Utc>>,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub problem: Option<BackupProblem>,
}

impl BackupCheck {
    /// True when the slot has a restorable snapshot.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// User metadata for a snapshot upload: `{"sha256": <hex digest of body>}`.
pub fn sha256_metadata(body: &[u8]) -> BTreeMap<String, String> {
    BTreeMap::from([(
        SHA256_METADATA_KEY.to_owned(),
        hex::encode(Sha256::digest(body)),
    )])
}

/// The outcome label of one logical call, for metrics. `Ok(None)` is "not found".
fn outcome_label<T>(result: &Result<Option<T>, R2Error>) -> &'static str {
    match result {
        Ok(Some(_)) => "ok",
        Ok(None) => "not_found",
        Err(e) => error_label(e),
    }
}

fn error_label(e: &R2Error) -> &'static str {
    match e {
        R2Error::Timeout { .. } => "timeout",
        R2Error::Unavailable { .. } => "error",
    }
}

/// Result of a bounded GET.
enum Fetched {
    Body(Bytes),
    /// The object is larger than the caller's limit; its body was not (fully) read.
    TooLarge,
}

/// Cheap to clone: the SDK client is a handle to a shared connection pool.
#[derive(Clone)]
pub struct R2Client {
    s3: aws_sdk_s3::Client,
    bucket: Arc<str>,
    metrics: Arc<Metrics>,
    read_timeout: Duration,
    /// Applied to writes through a per-operation config override; the client's own timeout config
    /// is the read one.
    write_timeouts: TimeoutConfig,
}

impl fmt::Debug for R2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("R2Client")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

fn timeouts(operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(operation.min(MAX_CONNECT_TIMEOUT))
        .operation_timeout(operation)
        .build()
}

impl R2Client {
    pub fn new(config: R2Config, metrics: Arc<Metrics>) -> Self {
        let credentials = Credentials::new(
            config.access_key_id,
            config.secret_access_key.expose(),
            None,
            None,
            "matrix-fleet-r2-config",
        );
        // The endpoint resolver appends `/<bucket>` to the endpoint's path; a bare `http://host/`
        // from `Url` would otherwise risk a `//bucket` path.
        let endpoint = config.endpoint.as_str().trim_end_matches('/').to_owned();
        let s3_config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("auto"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(credentials)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(timeouts(config.read_timeout))
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            bucket: config.bucket.into(),
            metrics,
            read_timeout: config.read_timeout,
            write_timeouts: timeouts(config.write_timeout),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn write_override(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::Config::builder().timeout_config(self.write_timeouts.clone())
    }

    fn record(&self, operation: &'static str, outcome: &'static str) {
        self.metrics.provider_call("r2", operation, outcome);
    }

    /// Reads the slot's `latest` object and validates it as a pointer for that slot.
    pub async fn read_latest(
        &self,
        user: &ClerkUserId,
        slot: &RuntimeSlot,
    ) -> Result<LatestPointer, R2Error> {
        let key = typed_key(keys::latest_key(user.as_str(), slot.as_str()));
        // One byte over the limit is enough to know a body is too long.
        match self
            .get_limited("get_object", &key, Some(MAX_POINTER_LEN + 1))
            .await?
        {
            None => Ok(LatestPointer::Missing),
            Some(Fetched::TooLarge) => Ok(LatestPointer::Invalid(PointerError::TooLong)),
            Some(Fetched::Body(body)) => match SnapshotKey::parse_pointer(&body, slot.as_str()) {
                Ok(k) => Ok(LatestPointer::Valid(k)),
                Err(e) => {
                    tracing::debug!(reason = %e, "r2 latest pointer is invalid");
                    Ok(LatestPointer::Invalid(e))
                }
            },
        }
    }

    /// HEAD of `key`; `Ok(None)` when the object does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, R2Error> {
        const OP: &str = "head_object";
        let result = match self
            .s3
            .head_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                // S3 always sends Content-Length on HEAD; a server that omits it has told us nothing
                // about the body, which is treated like an empty one.
                size: out
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                last_modified: out.last_modified().and_then(to_chrono),
                sha256: out.metadata().and_then(sha256_from_metadata),
            })),
            Err(e) => classify(OP, &e).into_option(),
        };
        self.record(OP, outcome_label(&result));
        result
    }

    /// Reads the slot's pointer and HEADs the snapshot it names.
    ///
    /// Problems of the backup itself are values in [`BackupCheck::problem`]; `Err` means R2 could not
    /// be asked, and says nothing about the backup.
    pub async fn check_backup(
        &self,
        user: &ClerkUserId,
        slot: &RuntimeSlot,
    ) -> Result<BackupCheck, R2Error> {
        let key = match self.read_latest(user, slot).await? {
            LatestPointer::Missing => {
                return Ok(BackupCheck {
                    problem: Some(BackupProblem::MissingPointer),
                    ..Default::default()
                });
            }
            LatestPointer::Invalid(_) => {
                return Ok(BackupCheck {
                    problem: Some(BackupProblem::InvalidPointer),
                    ..Default::default()
                });
            }
            LatestPointer::Valid(key) => key,
        };
        let full = typed_key(key.full_key(user.as_str()));
        let mut check = BackupCheck {
            taken_at: Some(key.taken_at()),
            key: Some(key),
            ..Default::default()
        };
        match self.head(&full).await? {
            None => check.problem = Some(BackupProblem::MissingObject),
            Some(info) => {
                check.problem = (info.size == 0).then_some(BackupProblem::EmptyObject);
                check.size_bytes = Some(info.size);
                check.sha256 = info.sha256;
            }
        }
        Ok(check)
    }

    /// Writes `system/vps-meta.json` for `user`.
    pub async fn put_vps_meta(&self, user: &ClerkUserId, meta: &VpsMeta) -> Result<(), R2Error> {
        let key = typed_key(keys::vps_meta_key(user.as_str()));
        self.put(
            "put_object",
            &key,
            Bytes::from(meta.to_json_bytes()),
            BTreeMap::new(),
            Some("application/json"),
        )
        .await
    }

    /// Every snapshot object of the slot, in key (= time) order. Follows continuation tokens up to
    /// [`MAX_LIST_PAGES`] pages; past that the listing is cut short and a warning logged.
    pub async fn list_snapshots(
        &self,
        user: &ClerkUserId,
        slot: &RuntimeSlot,
    ) -> Result<Vec<ObjectSummary>, R2Error> {
        const OP: &str = "list_objects_v2";
        let prefix = typed_key(keys::snapshots_prefix(user.as_str(), slot.as_str()));
        let result = self.list_all(OP, &prefix).await;
        self.record(OP, result.as_ref().map_or_else(error_label, |_| "ok"));
        result
    }

    async fn list_all(
        &self,
        op: &'static str,
        prefix: &str,
    ) -> Result<Vec<ObjectSummary>, R2Error> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&*self.bucket)
                .prefix(prefix)
                .max_keys(LIST_PAGE_SIZE)
                .set_continuation_token(token.take())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                // A 404 here is NoSuchBucket: a misconfiguration, never "no snapshots".
                Err(e) => return Err(classify(op, &e).into_error(op)),
            };
            objects.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectSummary {
                    key: o.key()?.to_owned(),
                    size: o.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    last_modified: o.last_modified().and_then(to_chrono),
                })
            }));
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(objects),
            }
        }
        tracing::warn!(
            pages = MAX_LIST_PAGES,
            "r2 listing cut short at the page limit"
        );
        Ok(objects)
    }

    /// Uploads `body` in one signed PUT. Pass [`sha256_metadata`] for snapshots.
    pub async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        metadata: BTreeMap<String, String>,
    ) -> Result<(), R2Error> {
        self.put("put_object", key, body, metadata, None).await
    }

    async fn put(
        &self,
        op: &'static str,
        key: &str,
        body: Bytes,
        metadata: BTreeMap<String, String>,
        content_type: Option<&str>,
    ) -> Result<(), R2Error> {
        let length = i64::try_from(body.len()).unwrap_or(i64::MAX);
        let metadata =
            (!metadata.is_empty()).then(|| metadata.into_iter().collect::<HashMap<_, _>>());
        let result = self
            .s3
            .put_object()
            .bucket(&*self.bucket)
            .key(key)
            .content_length(length)
            .set_content_type(content_type.map(str::to_owned))
            .set_metadata(metadata)
            .body(ByteStream::from(body))
            .customize()
            .config_override(self.write_override())
            .send()
            .await;
        let result = match result {
            Ok(_) => Ok(()),
            // A 404 on PUT means the bucket is gone: not a "not found" the caller could act on.
            Err(e) => Err(classify(op, &e).into_error(op)),
        };
        self.record(op, result.as_ref().map_or_else(error_label, |_| "ok"));
        result
    }

    /// The whole object, or `Ok(None)` when it does not exist.
    pub async fn get_object(&self, key: &str) -> Result<Option<Bytes>, R2Error> {
        Ok(self
            .get_limited("get_object", key, None)
            .await?
            .map(|f| match f {
                Fetched::Body(b) => b,
                // Unreachable without a limit; an empty body is the conservative answer.
                Fetched::TooLarge => Bytes::new(),
            }))
    }

    async fn get_limited(
        &self,
        op: &'static str,
        key: &str,
        limit: Option<usize>,
    ) -> Result<Option<Fetched>, R2Error> {
        let result = match self
            .s3
            .get_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let declared = out.content_length().and_then(|n| usize::try_from(n).ok());
                if let (Some(limit), Some(declared)) = (limit, declared)
                    && declared > limit
                {
                    Ok(Some(Fetched::TooLarge))
                } else {
                    match tokio::time::timeout(self.read_timeout, read_body(out.body, limit)).await
                    {
                        Ok(Ok(fetched)) => Ok(Some(fetched)),
                        Ok(Err(())) => {
                            tracing::debug!(operation = op, kind = "body", "r2 call failed");
                            Err(R2Error::Unavailable { operation: op })
                        }
                        Err(_) => {
                            tracing::debug!(
                                operation = op,
                                kind = "body_timeout",
                                "r2 call failed"
                            );
                            Err(R2Error::Timeout { operation: op })
                        }
                    }
                }
            }
            Err(e) => classify(op, &e).into_option(),
        };
        self.record(op, outcome_label(&result));
        result
    }

    /// Deletes `key`. Deleting a missing key succeeds (S3 answers 204 for it; a 404 is accepted too).
    pub async fn delete_object(&self, key: &str) -> Result<(), R2Error> {
        const OP: &str = "delete_object";
        let result = self
            .s3
            .delete_object()
            .bucket(&*self.bucket)
            .key(key)
            .customize()
            .config_override(self.write_override())
            .send()
            .await;
        let result = match result {
            Ok(_) => Ok(Some(())),
            // idempotency: already gone, e.g. deleted by an earlier attempt whose answer was lost.
            Err(e) => classify(OP, &e).into_option(),
        };
        self.record(OP, outcome_label(&result));
        result.map(|_| ())
    }
}

/// Reads a body, stopping once it exceeds `limit`.
async fn read_body(mut body: ByteStream, limit: Option<usize>) -> Result<Fetched, ()> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.try_next().await.map_err(|_| ())? {
        buf.extend_from_slice(&chunk);
        if limit.is_some_and(|l| buf.len() > l) {
            return Ok(Fetched::TooLarge);
        }
    }
    Ok(Fetched::Body(buf.freeze()))
}

/// Keys built from typed ids cannot fail: `ClerkUserId` (`[A-Za-z0-9_-]{3,256}`) and `RuntimeSlot`
/// are subsets of what the key builders accept.
fn typed_key(key: Result<String, KeyError>) -> String {
    key.expect("typed ids always form valid keys")
}

/// An SDK error, sorted.
enum Classified {
    /// `404` with no error code (HEAD has no body), `NoSuchKey` or `NotFound`.
    NotFound,
    Failed(R2Error),
}

impl Classified {
    /// For reads, where "not found" is an answer.
    fn into_option<T>(self) -> Result<Option<T>, R2Error> {
        match self {
            Self::NotFound => Ok(None),
            Self::Failed(e) => Err(e),
        }
    }

    /// For calls where a 404 can only mean a missing bucket or a broken endpoint.
    fn into_error(self, operation: &'static str) -> R2Error {
        match self {
            Self::NotFound => R2Error::Unavailable { operation },
            Self::Failed(e) => e,
        }
    }
}

/// Sorts an SDK error, logging only its class and HTTP status: the message, body and request id may
/// echo request details and are never read.
fn classify<E: ProvideErrorMetadata>(operation: &'static str, err: &SdkError<E>) -> Classified {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, failure) = match err {
        SdkError::TimeoutError(_) => ("timeout", R2Error::Timeout { operation }),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            ("connect_timeout", R2Error::Timeout { operation })
        }
        SdkError::DispatchFailure(_) => ("dispatch", R2Error::Unavailable { operation }),
        SdkError::ConstructionFailure(_) => ("construction", R2Error::Unavailable { operation }),
        SdkError::ResponseError(_) | SdkError::ServiceError(_) => {
            if status == Some(404) && matches!(err.code(), None | Some("NoSuchKey" | "NotFound")) {
                return Classified::NotFound;
            }
            ("service", R2Error::Unavailable { operation })
        }
        _ => ("other", R2Error::Unavailable { operation }),
    };
    tracing::debug!(operation, kind, status, "r2 call failed");
    Classified::Failed(failure)
}

fn to_chrono(t: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn sha256_from_metadata(metadata: &HashMap<String, String>) -> Option<String> {
    metadata
        .get(SHA256_METADATA_KEY)
        .filter(|v| SHA256_HEX.is_match(v))
        .map(|v| v.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_problem_names_match_serde() {
        for p in BackupProblem::ALL {
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::String(p.as_str().into())
            );
            assert_eq!(p.as_str().parse::<BackupProblem>(), Ok(p));
        }
    }

    #[test]
    fn sha256_metadata_is_the_lowercase_hex_digest() {
        let m = sha256_metadata(b"abc");
        assert_eq!(
            m["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut raw = HashMap::new();
        raw.insert("sha256".to_owned(), m["sha256"].to_ascii_uppercase());
        assert_eq!(
            sha256_from_metadata(&raw).as_deref(),
            Some(m["sha256"].as_str())
        );
        raw.insert("sha256".to_owned(), "not a digest".to_owned());
        assert_eq!(sha256_from_metadata(&raw), None);
    }

    #[test]
    fn r2_errors_convert_to_a_generic_unavailable() {
        let e: crate::Error = R2Error::Timeout {
            operation: "get_object",
        }
        .into();
        assert!(e.retryable());
        assert_eq!(e.failure_code, Some(FailureCode::R2Unavailable));
        assert_eq!(e.public, crate::error::msg::UNAVAILABLE);
    }

    #[test]
    fn config_debug_never_shows_the_secret_key() {
        let c = R2Config::new(
            "http://127.0.0.1:9/".parse().unwrap(),
            "b",
            "AKID",
            Secret::new("very-secret"),
        );
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
