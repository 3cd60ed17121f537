//! A stateful, in-memory S3 endpoint for end-to-end tests of the control plane.
//!
//! The control plane's R2 client (`aws-sdk-s3`, path style) talks to it over a real loopback socket,
//! so the requests it sees are the ones production sends. It implements just the operations the
//! product uses — PutObject, GetObject, HeadObject, ListObjectsV2 (prefix, max-keys,
//! continuation-token, start-after) and DeleteObject — and answers anything else with
//! `501 NotImplemented`.
//!
//! Design notes:
//! - One `wiremock` mock matches every request and hands it to [`S3Responder`], which owns the state.
//!   Buckets spring into existence on first use; signatures are not checked (the sim's `s3s` fake
//!   does that).
//! - Faults: [`MemoryS3::fail_next`] fails the next *n HTTP requests* — the SDK retries a failing
//!   call up to 3 times, so one logical call can consume up to 3 of them.
//!   [`MemoryS3::fail_next_calls`] fails the next *n logical calls* instead, recognising retries by
//!   their shared `amz-sdk-invocation-id`. [`MemoryS3::reject_checksums`] emulates older R2, which
//!   answered any `x-amz-checksum-*` header or aws-chunked upload with `501 NotImplemented`.
//! - Uploads framed as `aws-chunked` (what an SDK with default checksum settings sends over plain
//!   HTTP) are decoded, so a client configured differently from the control plane still works.
//! - The state sits behind a `std::sync::Mutex`: it is only held to read or update the map, never
//!   across an `.await`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A stored object.
#[derive(Debug, Clone)]
struct Object {
    body: Vec<u8>,
    /// `x-amz-meta-*` headers of the PUT, names lowercased without the prefix.
    metadata: BTreeMap<String, String>,
    content_type: Option<String>,
    last_modified: DateTime<Utc>,
    etag: String,
}

/// Faults still to inject.
#[derive(Debug, Default)]
struct Faults {
    /// HTTP requests still to fail, and with which status.
    requests: usize,
    request_status: u16,
    /// Logical calls still to fail, their status, and the invocation ids already chosen to fail.
    calls: usize,
    call_status: u16,
    failing_invocations: BTreeSet<String>,
    /// Old-R2 behaviour: 501 on checksum headers and aws-chunked uploads.
    reject_checksums: bool,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<(String, String), Object>,
    requests: Vec<(String, String)>,
    faults: Faults,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panic in a test thread while holding the lock leaves consistent data (every update is a
    // single map operation), so a poisoned lock is still usable.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running endpoint. Dropping it stops the server.
pub struct MemoryS3 {
    server: MockServer,
    state: Shared,
}

impl MemoryS3 {
    /// Starts the endpoint on a random loopback port.
    pub async fn start() -> Self {
        let state = Shared::default();
        // Request recording is off: this type keeps its own (bodies can be large snapshots).
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        Mock::given(any())
            .respond_with(S3Responder {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// `http://127.0.0.1:<port>`: the endpoint for an R2 client in path style.
    pub fn endpoint(&self) -> String {
        self.server.uri()
    }

    /// Stores an object directly (as if a host had uploaded it).
    pub fn put(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
        self.put_with_metadata(bucket, key, body, BTreeMap::new());
    }

    /// Stores an object with user metadata (e.g. `{"sha256": <hex>}`).
    pub fn put_with_metadata(
        &self,
        bucket: &str,
        key: &str,
        body: impl Into<Vec<u8>>,
        metadata: BTreeMap<String, String>,
    ) {
        let object = Object::new(body.into(), metadata, None);
        lock(&self.state)
            .objects
            .insert((bucket.to_owned(), key.to_owned()), object);
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        lock(&self.state)
            .objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .map(|o| o.body.clone())
    }

    /// User metadata of a stored object.
    pub fn metadata(&self, bucket: &str, key: &str) -> Option<BTreeMap<String, String>> {
        lock(&self.state)
            .objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .map(|o| o.metadata.clone())
    }

    /// Removes an object directly (e.g. to leave a `latest` pointer dangling).
    pub fn remove(&self, bucket: &str, key: &str) -> bool {
        lock(&self.state)
            .objects
            .remove(&(bucket.to_owned(), key.to_owned()))
            .is_some()
    }

    /// Every key of `bucket`, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        lock(&self.state)
            .objects
            .keys()
            .filter(|(b, _)| b == bucket)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// The next `n` HTTP requests (SDK retries included) answer `status` with an S3 XML error.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut state = lock(&self.state);
        state.faults.requests = n;
        state.faults.request_status = status;
    }

    /// The next `n` logical calls answer `status` with an S3 XML error on every attempt: retries of a
    /// failing call (same `amz-sdk-invocation-id`) fail too without counting again.
    pub fn fail_next_calls(&self, n: usize, status: u16) {
        let mut state = lock(&self.state);
        state.faults.calls = n;
        state.faults.call_status = status;
        state.faults.failing_invocations.clear();
    }

    /// Emulates older R2: requests with `x-amz-checksum-*` / `x-amz-sdk-checksum-algorithm` headers or
    /// aws-chunked bodies get `501 NotImplemented`.
    pub fn reject_checksums(&self, on: bool) {
        lock(&self.state).faults.reject_checksums = on;
    }

    /// `(method, key)` of every request received, in order; bucket-level requests (listings) have an
    /// empty key.
    pub fn requests(&self) -> Vec<(String, String)> {
        lock(&self.state).requests.clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }
}

impl Object {
    fn new(
        body: Vec<u8>,
        metadata: BTreeMap<String, String>,
        content_type: Option<String>,
    ) -> Self {
        let etag = format!("\"{:016x}\"", fnv1a(&body));
        Self {
            body,
            metadata,
            content_type,
            last_modified: now(),
            etag,
        }
    }
}

#[allow(clippy::disallowed_methods)] // a fake's Last-Modified is wall-clock, like the real service's
fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

/// The responder behind the single catch-all mock.
struct S3Responder {
    state: Shared,
}

impl Respond for S3Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let method = request.method.as_str().to_owned();
        let Some((bucket, key)) = split_path(request.url.path()) else {
            return error(&method, 400, "InvalidURI");
        };
        let mut state = lock(&self.state);
        state.requests.push((method.clone(), key.clone()));

        if let Some(status) = take_fault(&mut state.faults, request) {
            return error(&method, status, code_for(status));
        }
        if state.faults.reject_checksums && uses_checksums(request) {
            return error(&method, 501, "NotImplemented");
        }

        let id = (bucket, key);
        match (method.as_str(), id.1.is_empty()) {
            ("GET", true) if query(request, "list-type").as_deref() == Some("2") => {
                list_v2(&state, &id.0, request)
            }
            ("PUT", false) => {
                if header(request, "x-amz-copy-source").is_some() {
                    return error(&method, 501, "NotImplemented");
                }
                let Some(body) = decode_body(request) else {
                    return error(&method, 400, "IncompleteBody");
                };
                let metadata = request
                    .headers
                    .iter()
                    .filter_map(|(name, value)| {
                        let name = name.as_str().strip_prefix("x-amz-meta-")?;
                        Some((name.to_owned(), value.to_str().ok()?.to_owned()))
                    })
                    .collect();
                let object = Object::new(body, metadata, header(request, "content-type"));
                let etag = object.etag.clone();
                state.objects.insert(id, object);
                ResponseTemplate::new(200).insert_header("etag", etag.as_str())
            }
            ("GET", false) => match state.objects.get(&id) {
                Some(object) => object_headers(ResponseTemplate::new(200), object)
                    .set_body_bytes(object.body.clone()),
                None => error(&method, 404, "NoSuchKey"),
            },
            // HEAD: hyper writes no body and keeps the Content-Length taken from the body's size, so
            // the body is set to the object's bytes just to carry its length.
            ("HEAD", false) => match state.objects.get(&id) {
                Some(object) => object_headers(ResponseTemplate::new(200), object)
                    .set_body_bytes(object.body.clone()),
                None => error(&method, 404, "NotFound"),
            },
            ("DELETE", false) => {
                // S3 answers 204 whether or not the key existed.
                state.objects.remove(&id);
                ResponseTemplate::new(204)
            }
            _ => error(&method, 501, "NotImplemented"),
        }
    }
}

/// `/<bucket>/<key…>` with the key percent-decoded. `None` for a path without a bucket.
fn split_path(path: &str) -> Option<(String, String)> {
    let path = path.strip_prefix('/')?;
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((percent_decode(bucket)?, percent_decode(key)?))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Decides whether this request is one of the scheduled failures, and with which status.
fn take_fault(faults: &mut Faults, request: &Request) -> Option<u16> {
    let invocation = header(request, "amz-sdk-invocation-id");
    if let Some(id) = &invocation
        && faults.failing_invocations.contains(id)
    {
        return Some(faults.call_status);
    }
    if faults.calls > 0 {
        faults.calls -= 1;
        if let Some(id) = invocation {
            faults.failing_invocations.insert(id);
        }
        return Some(faults.call_status);
    }
    if faults.requests > 0 {
        faults.requests -= 1;
        return Some(faults.request_status);
    }
    None
}

fn uses_checksums(request: &Request) -> bool {
    request.headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("x-amz-checksum-")
            || name == "x-amz-sdk-checksum-algorithm"
            || name == "x-amz-trailer"
    }) || is_aws_chunked(request)
}

fn is_aws_chunked(request: &Request) -> bool {
    header(request, "content-encoding").is_some_and(|v| v.contains("aws-chunked"))
        || header(request, "x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"))
}

/// The object bytes of a PUT: the raw body, or the payload of an aws-chunked body
/// (`<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0…\r\n[trailers]\r\n`).
fn decode_body(request: &Request) -> Option<Vec<u8>> {
    if !is_aws_chunked(request) {
        return Some(request.body.clone());
    }
    let body = &request.body;
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = pos + body.get(pos..)?.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&body[pos..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            // Trailers (checksums) and the final CRLF follow; their content is not needed.
            return Some(out);
        }
        out.extend_from_slice(body.get(pos..pos + size)?);
        pos += size;
        if body.get(pos..pos + 2)? != b"\r\n" {
            return None;
        }
        pos += 2;
    }
}

fn object_headers(mut response: ResponseTemplate, object: &Object) -> ResponseTemplate {
    response = response
        .insert_header("etag", object.etag.as_str())
        .insert_header(
            "last-modified",
            object
                .last_modified
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
                .as_str(),
        );
    for (name, value) in &object.metadata {
        response = response.insert_header(format!("x-amz-meta-{name}").as_str(), value.as_str());
    }
    let content_type = object
        .content_type
        .as_deref()
        .unwrap_or("binary/octet-stream");
    response.insert_header("content-type", content_type)
}

fn list_v2(state: &State, bucket: &str, request: &Request) -> ResponseTemplate {
    let prefix = query(request, "prefix").unwrap_or_default();
    let max_keys = query(request, "max-keys")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(1000);
    let token = query(request, "continuation-token");
    let after = match &token {
        Some(t) => match hex_decode(t) {
            Some(key) => Some(key),
            None => return error("GET", 400, "InvalidArgument"),
        },
        None => query(request, "start-after"),
    };
    let mut matching = state.objects.iter().filter(|((b, k), _)| {
        b == bucket && k.starts_with(&prefix) && after.as_ref().is_none_or(|a| k > a)
    });
    let page: Vec<_> = matching.by_ref().take(max_keys).collect();
    let truncated = max_keys > 0 && matching.next().is_some();

    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    xml.push_str(r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#);
    xml.push_str(&format!(
        "<Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        escape(bucket),
        escape(&prefix),
        page.len()
    ));
    if let Some(t) = &token {
        xml.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            escape(t)
        ));
    }
    for ((_, key), object) in &page {
        xml.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            escape(key),
            object.last_modified.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            escape(&object.etag),
            object.body.len()
        ));
    }
    if truncated && let Some(((_, last), _)) = page.last() {
        xml.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            hex_encode(last)
        ));
    }
    xml.push_str("</ListBucketResult>");
    ResponseTemplate::new(200).set_body_raw(xml, "application/xml")
}

/// An S3 error response; HEAD responses carry no body, like the real service's.
fn error(method: &str, status: u16, code: &str) -> ResponseTemplate {
    let response = ResponseTemplate::new(status);
    if method == "HEAD" {
        return response;
    }
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{code}</Message><RequestId>memory-s3</RequestId></Error>"#
    );
    response.set_body_raw(xml, "application/xml")
}

fn code_for(status: u16) -> &'static str {
    match status {
        400 => "InvalidRequest",
        403 => "AccessDenied",
        404 => "NoSuchKey",
        409 => "OperationAborted",
        501 => "NotImplemented",
        503 => "SlowDown",
        _ => "InternalError",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<_>>>()?;
    String::from_utf8(bytes).ok()
}

/// FNV-1a, for ETags: stable and dependency-free; nothing verifies them.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use control_plane::ids::{ClerkUserId, RuntimeSlot};
    use control_plane::metrics::Metrics;
    use control_plane::r2::{self, BackupProblem, LatestPointer, R2Client, R2Config, R2Error};
    use control_plane::secret::Secret;

    use super::*;

    const BUCKET: &str = "matrix-test";

    fn client(s3: &MemoryS3) -> R2Client {
        let mut config = R2Config::new(
            s3.endpoint().parse().unwrap(),
            BUCKET,
            "test-access-key",
            Secret::new("test-secret-key"),
        );
        config.read_timeout = Duration::from_secs(5);
        config.write_timeout = Duration::from_secs(5);
        R2Client::new(config, Arc::new(Metrics::new()))
    }

    #[tokio::test]
    async fn memory_s3_round_trips_put_get_head_list_delete_through_the_r2_client() {
        let s3 = MemoryS3::start().await;
        let r2 = client(&s3);
        let user = ClerkUserId::parse("user_abc").unwrap();
        let slot = RuntimeSlot::primary();
        let at = DateTime::parse_from_rfc3339("2026-11-24T04:00:00Z")
            .unwrap()
            .with_timezone(&Utc);

        // Nothing yet.
        assert_eq!(
            r2.read_latest(&user, &slot).await.unwrap(),
            LatestPointer::Missing
        );
        let check = r2.check_backup(&user, &slot).await.unwrap();
        assert_eq!(check.problem, Some(BackupProblem::MissingPointer));

        // A host backs up: snapshot with its digest, then the pointer.
        let dump = b"PGDMP fake dump".to_vec();
        let snapshot = r2::SnapshotKey::for_time("primary", at).unwrap();
        let snapshot_key = snapshot.full_key(user.as_str()).unwrap();
        r2.put_object(
            &snapshot_key,
            dump.clone().into(),
            r2::sha256_metadata(&dump),
        )
        .await
        .unwrap();
        let latest = r2::keys::latest_key(user.as_str(), "primary").unwrap();
        r2.put_object(
            &latest,
            format!("{}\n", snapshot.relative()).into_bytes().into(),
            BTreeMap::new(),
        )
        .await
        .unwrap();
        assert_eq!(s3.get(BUCKET, &snapshot_key).unwrap(), dump);

        let info = r2.head(&snapshot_key).await.unwrap().unwrap();
        assert_eq!(info.size, dump.len() as u64);
        assert_eq!(
            info.sha256,
            r2::sha256_metadata(&dump).get("sha256").cloned()
        );
        assert!(info.last_modified.is_some());
        assert_eq!(r2.get_object(&snapshot_key).await.unwrap().unwrap(), dump);

        let check = r2.check_backup(&user, &slot).await.unwrap();
        assert!(check.is_ok(), "{check:?}");
        assert_eq!(check.key, Some(snapshot.clone()));
        assert_eq!(check.taken_at, Some(at));
        assert_eq!(check.size_bytes, Some(dump.len() as u64));

        let listed = r2.list_snapshots(&user, &slot).await.unwrap();
        assert_eq!(
            listed.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
            [snapshot_key.as_str()]
        );

        // A dangling pointer is not a backup.
        r2.delete_object(&snapshot_key).await.unwrap();
        r2.delete_object(&snapshot_key).await.unwrap(); // idempotent
        assert_eq!(r2.head(&snapshot_key).await.unwrap(), None);
        assert_eq!(r2.get_object(&snapshot_key).await.unwrap(), None);
        assert_eq!(
            r2.check_backup(&user, &slot).await.unwrap().problem,
            Some(BackupProblem::MissingObject)
        );
        assert_eq!(s3.keys(BUCKET), vec![latest]);
        assert!(
            s3.requests()
                .iter()
                .any(|(m, k)| m == "DELETE" && *k == snapshot_key)
        );
    }

    #[tokio::test]
    async fn memory_s3_lists_across_pages_and_injects_faults() {
        let s3 = MemoryS3::start().await;
        let r2 = client(&s3);
        let user = ClerkUserId::parse("user_pages").unwrap();
        let slot = RuntimeSlot::parse("dev").unwrap();
        let prefix = r2::keys::snapshots_prefix(user.as_str(), "dev").unwrap();
        // 1 001 keys forces a second page at the client's page size of 1 000.
        for i in 0..1001 {
            s3.put(BUCKET, &format!("{prefix}{i:05}.dump"), vec![1]);
        }
        s3.put(
            BUCKET,
            "matrixos-sync/other/system/db/snapshots/x.dump",
            vec![1],
        );
        let listed = r2.list_snapshots(&user, &slot).await.unwrap();
        assert_eq!(listed.len(), 1001);
        assert_eq!(s3.requests().iter().filter(|(m, _)| m == "GET").count(), 2);

        s3.fail_next_calls(1, 503);
        let err = r2.head(&format!("{prefix}00000.dump")).await.unwrap_err();
        assert_eq!(
            err,
            R2Error::Unavailable {
                operation: "head_object"
            }
        );
        assert!(
            r2.head(&format!("{prefix}00000.dump"))
                .await
                .unwrap()
                .is_some()
        );

        // Old-R2 mode refuses checksum headers and aws-chunked bodies from other clients...
        s3.reject_checksums(true);
        let http = reqwest::Client::new();
        let url = format!("{}/{BUCKET}/raw", s3.endpoint());
        let with_checksum = http
            .put(&url)
            .header("x-amz-checksum-crc32", "AAAAAA==")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(with_checksum.status().as_u16(), 501);
        let chunked = http
            .put(&url)
            .header("content-encoding", "aws-chunked")
            .body("1\r\nx\r\n0\r\n\r\n")
            .send()
            .await
            .unwrap();
        assert_eq!(chunked.status().as_u16(), 501);
        s3.reject_checksums(false);
        let chunked = http
            .put(&url)
            .header("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            .body("3;chunk-signature=ab\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n")
            .send()
            .await
            .unwrap();
        assert_eq!(chunked.status().as_u16(), 200);
        assert_eq!(s3.get(BUCKET, "raw").unwrap(), b"abc");

        // ...and the control plane's client configuration passes it.
        s3.reject_checksums(true);
        r2.put_object(
            &format!("{prefix}new.dump"),
            vec![7u8; 64].into(),
            BTreeMap::new(),
        )
        .await
        .unwrap();
    }
}
