//! The fake R2 over a real socket, through real clients: the control plane's `R2Client`, the AWS
//! SDK configured like it (for the operations `R2Client` does not expose) and with its defaults,
//! and the AWS CLI. Covers every operation, SigV4 rejection, the R2 compatibility modes and each
//! fault effect as a client experiences it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use control_plane::ids::{ClerkUserId, RuntimeSlot};
use control_plane::metrics::Metrics;
use control_plane::r2::client::{
    BackupProblem, R2Client, R2Config, R2Error, SHA256_METADATA_KEY, sha256_metadata,
};
use control_plane::r2::keys;
use control_plane::r2::pointer::SnapshotKey;
use control_plane::secret::Secret;
use sim::fake_r2::{
    FakeR2, FakeR2Config, FaultWhen, R2Compat, R2FaultEffect, R2FaultRule, R2Op, R2RequestRecord,
};

const BUCKET: &str = "fleet-backups";

/// The harness clock of every test here: fixed, so `Last-Modified` is predictable.
fn fixed_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

async fn start(compat: R2Compat) -> FakeR2 {
    FakeR2::start(FakeR2Config {
        buckets: vec![BUCKET.into()],
        now: Arc::new(fixed_time),
        seed: 42,
        compat,
        ..FakeR2Config::default()
    })
    .await
    .expect("fake r2 starts")
}

/// The control plane's own client, as production builds it.
fn r2_client(fake: &FakeR2) -> R2Client {
    let config = R2Config::new(
        fake.endpoint().parse().unwrap(),
        BUCKET,
        fake.access_key_id(),
        Secret::new(fake.secret_access_key()),
    );
    R2Client::new(config, Arc::new(Metrics::new()))
}

/// How a raw SDK client is configured.
#[derive(Clone, Copy, PartialEq)]
enum Checksums {
    /// As `R2Client`: no checksum headers, no aws-chunked framing.
    WhenRequired,
    /// The SDK's defaults (CRC32 on every upload, checksum mode on downloads).
    SdkDefault,
}

/// An SDK client with `R2Client`'s settings (region auto, path style, 3 attempts) but a short
/// retry backoff, so fault tests stay fast.
fn sdk_client(fake: &FakeR2, secret: &str, checksums: Checksums) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(fake.region().to_owned()))
        .endpoint_url(fake.endpoint())
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            fake.access_key_id(),
            secret,
            None,
            None,
            "fake-r2-test",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        );
    if checksums == Checksums::WhenRequired {
        builder = builder
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

fn client(fake: &FakeR2) -> aws_sdk_s3::Client {
    sdk_client(fake, fake.secret_access_key(), Checksums::WhenRequired)
}

async fn put(client: &aws_sdk_s3::Client, key: &str, body: &'static [u8]) {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)));
}

async fn get(client: &aws_sdk_s3::Client, key: &str) -> Result<Bytes, String> {
    let out = client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| error_code(&e))?;
    let body = out.body.collect().await.map_err(|e| e.to_string())?;
    Ok(body.into_bytes())
}

/// `"<status> <code>"` of a service error, or the error kind for the others.
fn error_code<E: ProvideErrorMetadata>(e: &SdkError<E>) -> String {
    match e {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => format!(
            "{} {}",
            e.raw_response().map_or(0, |r| r.status().as_u16()),
            e.code().unwrap_or("-")
        ),
        SdkError::DispatchFailure(_) => "dispatch".into(),
        SdkError::TimeoutError(_) => "timeout".into(),
        _ => "other".into(),
    }
}

/// The requests of one logical call: all those sharing the invocation id of the last request
/// with operation `op`.
fn last_call(fake: &FakeR2, op: &str) -> Vec<R2RequestRecord> {
    let requests = fake.requests();
    let id = requests
        .iter()
        .rev()
        .find(|r| r.op.as_deref() == Some(op))
        .and_then(|r| r.invocation_id.clone())
        .unwrap_or_else(|| panic!("no {op} request with an invocation id"));
    requests
        .into_iter()
        .filter(|r| r.invocation_id.as_deref() == Some(&id))
        .collect()
}

fn user() -> ClerkUserId {
    ClerkUserId::parse("user_fake_r2").unwrap()
}

#[tokio::test]
async fn the_control_plane_client_round_trips_objects_and_metadata() {
    let fake = start(R2Compat::OldR2).await;
    let r2 = r2_client(&fake);
    let key = "matrixos-sync/user_fake_r2/system/db/snapshots/2030-01-02T0300Z.dump";
    let body = Bytes::from_static(b"pg_dump custom format, pretend");

    // Old R2 mode: the control plane's client sends nothing that old R2 refused.
    r2.put_object(key, body.clone(), sha256_metadata(&body))
        .await
        .unwrap();
    let stored = fake.get(BUCKET, key).expect("stored");
    assert_eq!(stored.bytes, body);
    assert_eq!(stored.metadata, sha256_metadata(&body));
    assert_eq!(stored.last_modified, fixed_time());

    let info = r2.head(key).await.unwrap().expect("head finds it");
    assert_eq!(info.size, body.len() as u64);
    assert_eq!(
        info.sha256.as_deref(),
        Some(sha256_metadata(&body)[SHA256_METADATA_KEY].as_str())
    );
    assert_eq!(info.last_modified, Some(fixed_time()));
    assert_eq!(r2.get_object(key).await.unwrap(), Some(body.clone()));

    // Missing keys are "not found", not errors, over a real socket; HEAD's 404 has no body.
    assert_eq!(r2.head("nope").await.unwrap(), None);
    assert_eq!(r2.get_object("nope").await.unwrap(), None);
    let head_404 = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "HEAD" && r.key.as_deref() == Some("nope"))
        .unwrap();
    assert_eq!(head_404.status, Some(404));

    r2.delete_object(key).await.unwrap();
    assert!(fake.get(BUCKET, key).is_none());
    // Deleting a missing key is a 204 as well.
    r2.delete_object(key).await.unwrap();
    let deletes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.op.as_deref() == Some("DeleteObject"))
        .map(|r| r.status)
        .collect();
    assert_eq!(deletes, [Some(204), Some(204)]);
    assert!(
        fake.requests().iter().all(|r| r.fault.is_none()),
        "no compat refusal"
    );
}

#[tokio::test]
async fn the_control_plane_client_lists_two_pages_and_checks_backups() {
    let fake = start(R2Compat::Permissive).await;
    let r2 = r2_client(&fake);
    let (user, slot) = (user(), RuntimeSlot::default());
    let start = Utc.with_ymd_and_hms(2029, 1, 1, 0, 0, 0).unwrap();
    // 1001 hourly snapshots: one more than a ListObjectsV2 page.
    let times: Vec<_> = (0..1001)
        .map(|h| start + chrono::Duration::hours(h))
        .collect();
    for at in &times {
        let key = keys::snapshot_key(user.as_str(), slot.as_str(), *at).unwrap();
        fake.put(BUCKET, &key, &b"dump"[..], BTreeMap::new());
    }
    // A key outside the prefix is not listed.
    fake.put(BUCKET, "matrixos-sync/other/x", &b"x"[..], BTreeMap::new());

    let listed = r2.list_snapshots(&user, &slot).await.unwrap();
    assert_eq!(listed.len(), 1001);
    assert!(listed.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(listed[0].size, 4);
    let pages = fake
        .requests()
        .into_iter()
        .filter(|r| r.op.as_deref() == Some("ListObjectsV2"))
        .count();
    assert_eq!(pages, 2);

    // A valid pointer to an existing snapshot is a backup…
    let newest = SnapshotKey::for_time(slot.as_str(), times[1000]).unwrap();
    let latest = keys::latest_key(user.as_str(), slot.as_str()).unwrap();
    fake.put(
        BUCKET,
        &latest,
        newest.relative().as_bytes().to_vec(),
        BTreeMap::new(),
    );
    let check = r2.check_backup(&user, &slot).await.unwrap();
    assert!(check.is_ok(), "{check:?}");
    // …and the "missing object behind a valid latest pointer" fault is just a removal.
    assert!(fake.remove(BUCKET, &newest.full_key(user.as_str()).unwrap()));
    let check = r2.check_backup(&user, &slot).await.unwrap();
    assert_eq!(check.problem, Some(BackupProblem::MissingObject));
}

#[tokio::test]
async fn sdk_calls_cover_copy_paging_start_after_delimiters_and_ranges() {
    let fake = start(R2Compat::OldR2).await;
    let s3 = client(&fake);
    let metadata = HashMap::from([("sha256".to_owned(), "ab".repeat(32))]);
    s3.put_object()
        .bucket(BUCKET)
        .key("a/1")
        .content_type("application/octet-stream")
        .set_metadata(Some(metadata.clone()))
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap();
    for key in ["a/2", "a/3", "b/1", "top"] {
        put(&s3, key, b"x").await;
    }

    // CopyObject keeps the metadata by default and replaces it on request.
    s3.copy_object()
        .bucket(BUCKET)
        .key("copies/1")
        .copy_source(format!("{BUCKET}/a/1"))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("copies/1")
        .send()
        .await
        .unwrap();
    assert_eq!(head.metadata(), Some(&metadata));
    assert_eq!(head.content_length(), Some(10));
    assert_eq!(head.content_type(), Some("application/octet-stream"));
    s3.copy_object()
        .bucket(BUCKET)
        .key("copies/2")
        .copy_source(format!("{BUCKET}/a/1"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("note", "replaced")
        .send()
        .await
        .unwrap();
    let copied = fake.get(BUCKET, "copies/2").unwrap();
    assert_eq!(copied.bytes, Bytes::from_static(b"0123456789"));
    assert_eq!(
        copied.metadata,
        BTreeMap::from([("note".to_owned(), "replaced".to_owned())])
    );
    let missing_source = s3
        .copy_object()
        .bucket(BUCKET)
        .key("copies/3")
        .copy_source(format!("{BUCKET}/nope"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&missing_source), "404 NoSuchKey");

    // Two pages of two keys under a/ + b/ … following the continuation token.
    let page1 = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let keys_of = |o: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output| {
        o.contents()
            .iter()
            .filter_map(|c| c.key().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys_of(&page1), ["a/1", "a/2"]);
    assert_eq!(page1.is_truncated(), Some(true));
    assert_eq!(page1.key_count(), Some(2));
    let page2 = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .max_keys(2)
        .continuation_token(page1.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(keys_of(&page2), ["a/3", "b/1"]);
    let after = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("a/")
        .start_after("a/1")
        .send()
        .await
        .unwrap();
    assert_eq!(keys_of(&after), ["a/2", "a/3"]);
    assert_eq!(after.is_truncated(), Some(false));
    assert_eq!(after.next_continuation_token(), None);
    let rolled = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(keys_of(&rolled), ["top"]);
    let prefixes: Vec<_> = rolled
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["a/", "b/", "copies/"]);
    let bad_token = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .continuation_token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&bad_token), "400 InvalidArgument");

    // Ranged GET.
    let ranged = s3
        .get_object()
        .bucket(BUCKET)
        .key("a/1")
        .range("bytes=2-4")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.content_range(), Some("bytes 2-4/10"));
    assert_eq!(
        ranged.body.collect().await.unwrap().into_bytes(),
        Bytes::from_static(b"234")
    );

    // HEAD of a missing key is the SDK's modelled NotFound; GET's is NoSuchKey.
    let head_err = s3
        .head_object()
        .bucket(BUCKET)
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert!(head_err.into_service_error().is_not_found());
    assert_eq!(get(&s3, "nope").await.unwrap_err(), "404 NoSuchKey");

    // Unknown buckets are NoSuchBucket, not a missing key.
    let no_bucket = s3
        .list_objects_v2()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&no_bucket), "404 NoSuchBucket");
}

#[tokio::test]
async fn a_wrong_secret_or_unknown_key_is_refused_with_403() {
    let fake = start(R2Compat::Permissive).await;
    let wrong = sdk_client(&fake, "not-the-secret", Checksums::WhenRequired);
    let err = wrong
        .put_object()
        .bucket(BUCKET)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "403 SignatureDoesNotMatch");
    assert!(fake.get(BUCKET, "k").is_none());

    let stranger = aws_sdk_s3::Client::from_conf(
        client(&fake)
            .config()
            .to_builder()
            .credentials_provider(Credentials::new("AKIDUNKNOWN", "x", None, None, "test"))
            .build(),
    );
    let err = stranger
        .head_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "{err:?}"
    );
    // Refused requests never reach the gate, so they carry no operation and fire no fault.
    assert!(fake.requests().iter().all(|r| r.op.is_none()));
}

#[tokio::test]
async fn an_injected_500_fails_one_logical_call_across_the_sdk_retries() {
    let fake = start(R2Compat::Permissive).await;
    let s3 = client(&fake);
    put(&s3, "k", b"v").await;
    fake.inject(R2FaultRule::internal_error(
        R2Op::GetObject,
        FaultWhen::Times(1),
    ));

    assert_eq!(get(&s3, "k").await.unwrap_err(), "500 InternalError");
    let call = last_call(&fake, "GetObject");
    assert_eq!(call.len(), 3, "the SDK tried three times: {call:#?}");
    assert!(call.iter().all(|r| r.status == Some(500)));
    assert_eq!(
        call.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    // Times(1) was one logical call, although it saw three requests.
    assert_eq!(get(&s3, "k").await.unwrap(), Bytes::from_static(b"v"));
    assert_eq!(last_call(&fake, "GetObject").len(), 1);

    // The control plane's client reports a 503 SlowDown as unavailable, after its retries.
    fake.inject(R2FaultRule::slow_down(R2Op::PutObject, FaultWhen::Nth(1)));
    let r2 = r2_client(&fake);
    assert_eq!(
        r2.put_object("p", Bytes::from_static(b"x"), BTreeMap::new())
            .await,
        Err(R2Error::Unavailable {
            operation: "put_object"
        })
    );
    assert_eq!(last_call(&fake, "PutObject").len(), 3);
    r2.put_object("p", Bytes::from_static(b"x"), BTreeMap::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_first_attempt_fault_is_hidden_by_the_sdk_retry() {
    let fake = start(R2Compat::Permissive).await;
    let s3 = client(&fake);
    fake.inject(R2FaultRule::slow_down(R2Op::PutObject, FaultWhen::Always).first_attempt_only());
    put(&s3, "k", b"v").await;
    let call = last_call(&fake, "PutObject");
    assert_eq!(
        call.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(503), Some(200)]
    );
    assert_eq!(call[0].fault.as_deref(), Some("error 503 SlowDown"));
    assert!(fake.get(BUCKET, "k").is_some());
}

#[tokio::test]
async fn faults_apply_only_to_their_key_prefix() {
    let fake = start(R2Compat::Permissive).await;
    let s3 = client(&fake);
    fake.inject(R2FaultRule::internal_error(R2Op::Any, FaultWhen::Always).with_prefix("broken/"));
    put(&s3, "fine/k", b"v").await;
    assert_eq!(get(&s3, "fine/k").await.unwrap(), Bytes::from_static(b"v"));
    let err = s3
        .put_object()
        .bucket(BUCKET)
        .key("broken/k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "500 InternalError");
    // A listing is matched by its prefix parameter.
    let err = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("broken/")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "500 InternalError");
    s3.list_objects_v2()
        .bucket(BUCKET)
        .prefix("fine/")
        .send()
        .await
        .unwrap();
    fake.clear_faults();
    put(&s3, "broken/k", b"v").await;
}

#[tokio::test]
async fn latency_trips_a_client_timeout() {
    let fake = start(R2Compat::Permissive).await;
    put(&client(&fake), "k", b"v").await;
    let impatient = aws_sdk_s3::Client::from_conf(
        client(&fake)
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_millis(300))
                    .build(),
            )
            .build(),
    );
    fake.inject(R2FaultRule::new(
        R2Op::GetObject,
        FaultWhen::Times(1),
        R2FaultEffect::Latency(Duration::from_secs(2)),
    ));
    let started = std::time::Instant::now();
    assert_eq!(get(&impatient, "k").await.unwrap_err(), "timeout");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Below the timeout, latency is just latency.
    fake.inject(R2FaultRule::new(
        R2Op::GetObject,
        FaultWhen::Times(1),
        R2FaultEffect::Latency(Duration::from_millis(50)),
    ));
    assert_eq!(get(&client(&fake), "k").await.unwrap(), "v");
}

#[tokio::test]
async fn resets_close_the_connection_without_an_answer() {
    let fake = start(R2Compat::Permissive).await;
    let s3 = client(&fake);
    put(&s3, "k", b"v").await;

    fake.inject(R2FaultRule::new(
        R2Op::HeadObject,
        FaultWhen::Times(1),
        R2FaultEffect::Reset,
    ));
    let err = s3
        .head_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "dispatch");
    let call = last_call(&fake, "HeadObject");
    assert_eq!(call.len(), 3, "{call:#?}");
    assert!(
        call.iter()
            .all(|r| r.status.is_none() && r.fault.as_deref() == Some("reset"))
    );

    // Commit, then reset: the caller sees a failure, but the write happened.
    fake.inject(R2FaultRule::new(
        R2Op::PutObject,
        FaultWhen::Times(1),
        R2FaultEffect::CommitThenReset,
    ));
    let r2 = r2_client(&fake);
    assert!(
        r2.put_object("committed", Bytes::from_static(b"c"), BTreeMap::new())
            .await
            .is_err()
    );
    assert_eq!(
        fake.get(BUCKET, "committed").unwrap().bytes,
        Bytes::from_static(b"c")
    );

    // A body cut off mid-way fails the control plane's read.
    let big = Bytes::from(vec![7u8; 64 * 1024]);
    r2.put_object("big", big.clone(), BTreeMap::new())
        .await
        .unwrap();
    fake.inject(R2FaultRule::new(
        R2Op::GetObject,
        FaultWhen::Times(1),
        R2FaultEffect::ResetMidBody,
    ));
    assert_eq!(
        r2.get_object("big").await,
        Err(R2Error::Unavailable {
            operation: "get_object"
        })
    );
    assert_eq!(r2.get_object("big").await.unwrap(), Some(big));
}

#[tokio::test]
async fn a_lost_write_answers_200_and_stores_nothing() {
    let fake = start(R2Compat::Permissive).await;
    let r2 = r2_client(&fake);
    fake.inject(R2FaultRule::new(
        R2Op::PutObject,
        FaultWhen::Nth(1),
        R2FaultEffect::LostWrite,
    ));
    r2.put_object("lost", Bytes::from_static(b"x"), BTreeMap::new())
        .await
        .unwrap();
    assert!(fake.get(BUCKET, "lost").is_none());
    assert_eq!(r2.head("lost").await.unwrap(), None);
    r2.put_object("kept", Bytes::from_static(b"x"), BTreeMap::new())
        .await
        .unwrap();
    assert!(fake.get(BUCKET, "kept").is_some());
}

#[tokio::test]
async fn corrupted_and_truncated_bodies_differ_from_what_was_stored() {
    let fake = start(R2Compat::Permissive).await;
    let r2 = r2_client(&fake);
    let body = Bytes::from_static(b"the snapshot body that restore must verify");
    let metadata = sha256_metadata(&body);
    r2.put_object("snap", body.clone(), metadata.clone())
        .await
        .unwrap();

    fake.inject(R2FaultRule::new(
        R2Op::GetObject,
        FaultWhen::Nth(1),
        R2FaultEffect::CorruptedBody,
    ));
    let corrupted = r2.get_object("snap").await.unwrap().unwrap();
    assert_eq!(corrupted.len(), body.len());
    assert_ne!(corrupted, body);
    assert_ne!(
        sha256_metadata(&corrupted),
        metadata,
        "only the digest tells"
    );

    fake.inject(R2FaultRule::new(
        R2Op::GetObject,
        FaultWhen::Nth(1),
        R2FaultEffect::TruncatedBody,
    ));
    let truncated = r2.get_object("snap").await.unwrap().unwrap();
    assert_eq!(truncated, body.slice(..body.len() / 2));

    // The stored object is untouched.
    assert_eq!(r2.get_object("snap").await.unwrap(), Some(body.clone()));
    assert_eq!(fake.get(BUCKET, "snap").unwrap().bytes, body);
}

#[tokio::test]
async fn r2_generations_refuse_what_they_refused_but_never_the_control_plane_client() {
    let fake = start(R2Compat::OldR2).await;
    let default_sdk = sdk_client(&fake, fake.secret_access_key(), Checksums::SdkDefault);
    let err = default_sdk
        .put_object()
        .bucket(BUCKET)
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "501 NotImplemented");
    assert!(fake.get(BUCKET, "k").is_none());
    let refused = last_call(&fake, "PutObject");
    assert!(
        refused[0]
            .fault
            .as_deref()
            .is_some_and(|f| f.starts_with("compat")),
        "{refused:#?}"
    );

    r2_client(&fake)
        .put_object("k", Bytes::from_static(b"v"), BTreeMap::new())
        .await
        .unwrap();
    assert!(fake.get(BUCKET, "k").is_some());

    // Current R2 takes the CRC32 header of an in-memory upload, but not the signed aws-chunked
    // streaming that the SDK uses for a streaming body over plain http.
    fake.set_compat(R2Compat::NoSignedStreaming);
    default_sdk
        .put_object()
        .bucket(BUCKET)
        .key("in-memory")
        .body(ByteStream::from_static(b"m"))
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, b"streamed body").unwrap();
    let err = default_sdk
        .put_object()
        .bucket(BUCKET)
        .key("streamed")
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "501 NotImplemented");

    // The permissive default decodes that framing (trailing checksum included).
    fake.set_compat(R2Compat::Permissive);
    default_sdk
        .put_object()
        .bucket(BUCKET)
        .key("streamed")
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(fake.get(BUCKET, "streamed").unwrap().bytes, "streamed body");
    assert_eq!(
        get(&default_sdk, "streamed").await.unwrap(),
        "streamed body"
    );
}

#[tokio::test]
async fn a_restart_keeps_the_port_and_the_objects() {
    let mut fake = start(R2Compat::Permissive).await;
    let s3 = client(&fake);
    put(&s3, "k", b"v").await;
    let endpoint = fake.endpoint();

    fake.stop();
    assert!(!fake.is_running());
    assert_eq!(get(&s3, "k").await.unwrap_err(), "dispatch");

    fake.restart().await.unwrap();
    assert!(fake.is_running());
    assert_eq!(fake.endpoint(), endpoint);
    assert_eq!(get(&s3, "k").await.unwrap(), Bytes::from_static(b"v"));
}

// ---- The AWS CLI --------------------------------------------------------------------------

/// The Debian `awscli` package's binary. The pyenv shim that may also be on `PATH` can be broken,
/// so the system binary comes first.
fn aws_cli() -> PathBuf {
    let candidates = [PathBuf::from("/usr/bin/aws"), PathBuf::from("aws")];
    for candidate in candidates {
        let works = std::process::Command::new(&candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return candidate;
        }
    }
    panic!(
        "the AWS CLI (`aws`) is missing or broken: install it with `apt-get install -y awscli` \
         (Debian package `awscli`)"
    );
}

/// Runs `aws <args>` against the fake with a clean, file-less configuration, bounded in time.
async fn aws(fake: &FakeR2, home: &Path, args: &[&str]) -> String {
    let config = home.join("config");
    std::fs::write(&config, "[default]\ns3 =\n    addressing_style = path\n").unwrap();
    let mut command = tokio::process::Command::new(aws_cli());
    command
        .args(["--endpoint-url", &fake.endpoint()])
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_ACCESS_KEY_ID", fake.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", fake.secret_access_key())
        .env("AWS_DEFAULT_REGION", fake.region())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("aws {args:?} did not finish within 60 s"))
        .expect("aws runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "aws {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_aws_cli_copies_lists_and_removes_objects() {
    let fake = start(R2Compat::Permissive).await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let upload = home.join("dump file.bin");
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&upload, &body).unwrap();
    let remote = format!("s3://{BUCKET}/matrixos-sync/u/dump file.bin");

    aws(
        &fake,
        home,
        &[
            "s3",
            "cp",
            upload.to_str().unwrap(),
            &remote,
            "--metadata",
            "sha256=abc",
        ],
    )
    .await;
    let stored = fake
        .get(BUCKET, "matrixos-sync/u/dump file.bin")
        .expect("uploaded");
    assert_eq!(stored.bytes, body);
    assert_eq!(
        stored.metadata.get("sha256").map(String::as_str),
        Some("abc")
    );

    let buckets = aws(&fake, home, &["s3", "ls"]).await;
    assert!(buckets.contains(BUCKET), "{buckets}");
    let top = aws(&fake, home, &["s3", "ls", &format!("s3://{BUCKET}/")]).await;
    assert!(top.contains("PRE matrixos-sync/"), "{top}");
    let listing = aws(
        &fake,
        home,
        &["s3", "ls", &format!("s3://{BUCKET}/matrixos-sync/u/")],
    )
    .await;
    assert!(listing.contains("dump file.bin"), "{listing}");
    assert!(listing.contains("100000"), "{listing}");

    let download = home.join("downloaded.bin");
    aws(
        &fake,
        home,
        &["s3", "cp", &remote, download.to_str().unwrap()],
    )
    .await;
    assert_eq!(std::fs::read(&download).unwrap(), body);

    let recursive = aws(
        &fake,
        home,
        &["s3", "ls", &format!("s3://{BUCKET}/"), "--recursive"],
    )
    .await;
    assert!(
        recursive.contains("matrixos-sync/u/dump file.bin"),
        "{recursive}"
    );

    aws(&fake, home, &["s3", "rm", &remote]).await;
    assert!(fake.keys(BUCKET, "").is_empty());
}

#[tokio::test]
async fn the_aws_cli_sends_no_invocation_id_so_each_attempt_counts_as_a_call() {
    let fake = start(R2Compat::Permissive).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"hello").unwrap();
    fake.inject(R2FaultRule::internal_error(
        R2Op::PutObject,
        FaultWhen::Times(1),
    ));
    aws(
        &fake,
        dir.path(),
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{BUCKET}/f"),
        ],
    )
    .await;
    // The Debian CLI's bundled botocore sends no `amz-sdk-invocation-id`: its retry is a new
    // logical call for the fault table, so `Times(1)` costs it one attempt, not the whole call.
    let puts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.op.as_deref() == Some("PutObject"))
        .collect();
    assert_eq!(
        puts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(500), Some(200)]
    );
    assert!(puts.iter().all(|r| r.invocation_id.is_none()));
    assert_eq!(fake.get(BUCKET, "f").unwrap().bytes, "hello");
}
