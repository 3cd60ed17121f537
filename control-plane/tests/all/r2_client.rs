//! The R2 client against scripted S3 responses over a real loopback socket (wiremock): pointer
//! reading, backup checks, the exact vps-meta upload, listing across pages, and error mapping.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use control_plane::ids::{
    ClerkUserId, HetznerServerId, ImageVersion, MachineId, PublicIpv4, PublicIpv6, RuntimeSlot,
};
use control_plane::metrics::Metrics;
use control_plane::r2::{
    BackupProblem, LatestPointer, PointerError, R2Client, R2Config, R2Error, SnapshotKey, VpsMeta,
    sha256_metadata,
};
use control_plane::secret::Secret;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BUCKET: &str = "matrix-r2-test";
const USER: &str = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC";
const SECRET_KEY: &str = "r2-secret-access-key-never-logged";
const LATEST: &str =
    "/matrix-r2-test/matrixos-sync/user_2NNEqL2nrIRdJ194ndJqAHwEfxC/system/db/latest";
const SNAPSHOT: &str = "/matrix-r2-test/matrixos-sync/user_2NNEqL2nrIRdJ194ndJqAHwEfxC/system/db/snapshots/2026-11-24T0400Z.dump";
const POINTER: &str = "system/db/snapshots/2026-11-24T0400Z.dump";

struct Harness {
    server: MockServer,
    r2: R2Client,
    metrics: Arc<Metrics>,
}

async fn harness() -> Harness {
    harness_with_timeouts(Duration::from_secs(5), Duration::from_secs(5)).await
}

async fn harness_with_timeouts(read: Duration, write: Duration) -> Harness {
    let server = MockServer::start().await;
    let metrics = Arc::new(Metrics::new());
    let mut config = R2Config::new(
        server.uri().parse().unwrap(),
        BUCKET,
        "r2-access-key-id",
        Secret::new(SECRET_KEY),
    );
    config.read_timeout = read;
    config.write_timeout = write;
    let r2 = R2Client::new(config, metrics.clone());
    Harness {
        server,
        r2,
        metrics,
    }
}

fn user() -> ClerkUserId {
    ClerkUserId::parse(USER).unwrap()
}

fn primary() -> RuntimeSlot {
    RuntimeSlot::primary()
}

fn s3_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>req-1</RequestId></Error>"#
        ),
        "application/xml",
    )
}

fn text(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "text/plain")
}

async fn mock(server: &MockServer, verb: &str, at: &str, response: ResponseTemplate) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

#[tokio::test]
async fn read_latest_is_missing_when_the_pointer_does_not_exist() {
    let h = harness().await;
    mock(
        &h.server,
        "GET",
        LATEST,
        s3_error(404, "NoSuchKey", "The specified key does not exist."),
    )
    .await;
    assert_eq!(
        h.r2.read_latest(&user(), &primary()).await.unwrap(),
        LatestPointer::Missing
    );
    assert_eq!(h.metrics.provider_calls_total("r2", "not_found"), 1);
}

#[tokio::test]
async fn read_latest_is_invalid_for_a_malformed_or_oversized_body() {
    let h = harness().await;
    mock(&h.server, "GET", LATEST, text("../../etc/passwd\n")).await;
    assert_eq!(
        h.r2.read_latest(&user(), &primary()).await.unwrap(),
        LatestPointer::Invalid(PointerError::Traversal)
    );

    let h = harness().await;
    mock(
        &h.server,
        "GET",
        LATEST,
        text(&format!("{POINTER}\n{}", "x".repeat(600))),
    )
    .await;
    assert_eq!(
        h.r2.read_latest(&user(), &primary()).await.unwrap(),
        LatestPointer::Invalid(PointerError::TooLong)
    );

    // Another slot's pointer stored under the primary slot is not the primary's backup.
    let h = harness().await;
    mock(
        &h.server,
        "GET",
        LATEST,
        text("system/runtime-slots/dev/db/snapshots/2026-11-24T0400Z.dump"),
    )
    .await;
    assert_eq!(
        h.r2.read_latest(&user(), &primary()).await.unwrap(),
        LatestPointer::Invalid(PointerError::WrongSlot)
    );
}

#[tokio::test]
async fn read_latest_is_valid_for_a_well_formed_pointer_of_the_slot() {
    let h = harness().await;
    mock(&h.server, "GET", LATEST, text(&format!("{POINTER}\n"))).await;
    let LatestPointer::Valid(key) = h.r2.read_latest(&user(), &primary()).await.unwrap() else {
        panic!("expected a valid pointer");
    };
    assert_eq!(key.relative(), POINTER);
    assert_eq!(
        key.taken_at(),
        Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap()
    );

    let dev = "system/runtime-slots/dev/db/snapshots/2026-11-24T0400Z.dump";
    mock(
        &h.server,
        "GET",
        &format!("/{BUCKET}/matrixos-sync/{USER}/system/runtime-slots/dev/db/latest"),
        text(&format!("{dev}\r\n")),
    )
    .await;
    let slot = RuntimeSlot::parse("dev").unwrap();
    assert!(
        matches!(h.r2.read_latest(&user(), &slot).await.unwrap(), LatestPointer::Valid(k) if k.relative() == dev)
    );
}

#[tokio::test]
async fn check_backup_reports_a_missing_pointer() {
    let h = harness().await;
    mock(
        &h.server,
        "GET",
        LATEST,
        s3_error(404, "NoSuchKey", "missing"),
    )
    .await;
    let check = h.r2.check_backup(&user(), &primary()).await.unwrap();
    assert_eq!(check.problem, Some(BackupProblem::MissingPointer));
    assert_eq!(
        (check.key, check.taken_at, check.size_bytes),
        (None, None, None)
    );
}

#[tokio::test]
async fn check_backup_reports_an_invalid_pointer_without_a_head() {
    let h = harness().await;
    mock(
        &h.server,
        "GET",
        LATEST,
        text("s3://other-bucket/system/db/snapshots/2026-11-24T0400Z.dump"),
    )
    .await;
    let check = h.r2.check_backup(&user(), &primary()).await.unwrap();
    assert_eq!(check.problem, Some(BackupProblem::InvalidPointer));
    assert!(
        requests(&h.server)
            .await
            .iter()
            .all(|r| r.method.as_str() != "HEAD")
    );
}

#[tokio::test]
async fn check_backup_reports_a_missing_object_when_head_is_404_over_a_socket() {
    let h = harness().await;
    mock(&h.server, "GET", LATEST, text(POINTER)).await;
    mock(&h.server, "HEAD", SNAPSHOT, ResponseTemplate::new(404)).await;
    let check = h.r2.check_backup(&user(), &primary()).await.unwrap();
    assert_eq!(check.problem, Some(BackupProblem::MissingObject));
    assert_eq!(check.key.as_ref().map(SnapshotKey::relative), Some(POINTER));
    assert_eq!(
        check.taken_at,
        Some(Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap())
    );
    assert_eq!(check.size_bytes, None);
}

#[tokio::test]
async fn check_backup_reports_an_empty_object() {
    let h = harness().await;
    mock(&h.server, "GET", LATEST, text(POINTER)).await;
    mock(
        &h.server,
        "HEAD",
        SNAPSHOT,
        ResponseTemplate::new(200).insert_header("content-length", "0"),
    )
    .await;
    let check = h.r2.check_backup(&user(), &primary()).await.unwrap();
    assert_eq!(check.problem, Some(BackupProblem::EmptyObject));
    assert_eq!(check.size_bytes, Some(0));
}

#[tokio::test]
async fn check_backup_accepts_a_non_empty_snapshot_and_surfaces_its_digest() {
    let h = harness().await;
    let dump = b"PGDMP...".to_vec();
    let digest = sha256_metadata(&dump)["sha256"].clone();
    mock(&h.server, "GET", LATEST, text(POINTER)).await;
    mock(
        &h.server,
        "HEAD",
        SNAPSHOT,
        ResponseTemplate::new(200)
            .set_body_bytes(dump.clone())
            .insert_header("x-amz-meta-sha256", digest.as_str())
            .insert_header("last-modified", "Tue, 24 Nov 2026 04:00:07 GMT"),
    )
    .await;
    let check = h.r2.check_backup(&user(), &primary()).await.unwrap();
    assert!(check.is_ok(), "{check:?}");
    assert_eq!(check.size_bytes, Some(dump.len() as u64));
    assert_eq!(check.sha256.as_deref(), Some(digest.as_str()));
    let info =
        h.r2.head(&SNAPSHOT[BUCKET.len() + 2..])
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        info.last_modified,
        Some(Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 7).unwrap())
    );
}

#[tokio::test]
async fn put_vps_meta_sends_exactly_the_upstream_json_as_one_plain_signed_put() {
    let h = harness().await;
    let at = format!("/{BUCKET}/matrixos-sync/{USER}/system/vps-meta.json");
    mock(
        &h.server,
        "PUT",
        &at,
        ResponseTemplate::new(200).insert_header("etag", "\"abc\""),
    )
    .await;
    let meta = VpsMeta::new(
        user(),
        MachineId::parse("6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e").unwrap(),
        HetznerServerId::new(58_213_001).unwrap(),
        ImageVersion::parse("2026.11.1").unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 24, 4, 2, 30).unwrap(),
        PublicIpv4::parse("49.12.34.56").unwrap(),
        Some(PublicIpv6::parse("2a01:4f8:1c1e:abcd::1").unwrap()),
    );
    h.r2.put_vps_meta(&user(), &meta).await.unwrap();

    let reqs = requests(&h.server).await;
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.url.path(), at);
    let expected = format!(
        r#"{{"version":1,"userId":"{USER}","machineId":"6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e","hetznerServerId":58213001,"imageVersion":"2026.11.1","status":"running","provisionedAt":"2026-11-24T04:00:00.000Z","lastSyncAt":"2026-11-24T04:02:30.000Z","publicIPv4":"49.12.34.56","publicIPv6":"2a01:4f8:1c1e:abcd::1"}}"#
    );
    assert_eq!(String::from_utf8(req.body.clone()).unwrap(), expected);

    // No checksum headers, no aws-chunked framing: what old R2 refused with 501.
    for (name, value) in req.headers.iter() {
        let name = name.as_str();
        assert!(
            !name.starts_with("x-amz-checksum-"),
            "checksum header {name}"
        );
        assert!(
            name != "x-amz-sdk-checksum-algorithm" && name != "x-amz-trailer",
            "{name}"
        );
        assert!(name != "x-amz-decoded-content-length", "{name}");
        let value = value.to_str().unwrap_or_default();
        assert!(!value.contains(SECRET_KEY), "secret key in header {name}");
    }
    let header = |n: &str| req.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert!(
        !header("content-encoding")
            .unwrap_or_default()
            .contains("aws-chunked")
    );
    assert!(
        !header("x-amz-content-sha256")
            .unwrap_or_default()
            .starts_with("STREAMING-")
    );
    assert_eq!(header("content-length"), Some(expected.len().to_string()));
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert!(
        header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=r2-access-key-id/")
    );
    assert!(
        header("authorization")
            .unwrap()
            .contains("/auto/s3/aws4_request")
    );
    assert_eq!(h.metrics.provider_calls_total("r2", "ok"), 1);
}

#[tokio::test]
async fn put_object_carries_the_sha256_metadata() {
    let h = harness().await;
    mock(&h.server, "PUT", SNAPSHOT, ResponseTemplate::new(200)).await;
    let dump = b"PGDMP snapshot".to_vec();
    h.r2.put_object(
        &SNAPSHOT[BUCKET.len() + 2..],
        dump.clone().into(),
        sha256_metadata(&dump),
    )
    .await
    .unwrap();
    let reqs = requests(&h.server).await;
    assert_eq!(reqs[0].body, dump);
    assert_eq!(
        reqs[0]
            .headers
            .get("x-amz-meta-sha256")
            .unwrap()
            .to_str()
            .unwrap(),
        sha256_metadata(&dump)["sha256"]
    );
}

#[tokio::test]
async fn server_errors_become_unavailable_without_provider_text_after_three_attempts() {
    let h = harness().await;
    let provider_text = "InternalError: backend db-7 exploded, token=abc123";
    mock(
        &h.server,
        "GET",
        LATEST,
        s3_error(500, "InternalError", provider_text),
    )
    .await;
    let err = h.r2.read_latest(&user(), &primary()).await.unwrap_err();
    assert_eq!(
        err,
        R2Error::Unavailable {
            operation: "get_object"
        }
    );
    let shown = format!("{err} {err:?} {}", control_plane::Error::from(err));
    assert!(
        !shown.contains("exploded") && !shown.contains("abc123") && !shown.contains(SECRET_KEY),
        "{shown}"
    );
    assert_eq!(
        requests(&h.server).await.len(),
        3,
        "standard retry mode, 3 attempts"
    );
    assert_eq!(
        h.metrics.provider_calls_total("r2", "error"),
        1,
        "one metric per logical call"
    );

    // A PUT and a HEAD fail the same way.
    let h = harness().await;
    mock(&h.server, "HEAD", SNAPSHOT, ResponseTemplate::new(503)).await;
    mock(&h.server, "GET", LATEST, text(POINTER)).await;
    let err = h.r2.head(&SNAPSHOT[BUCKET.len() + 2..]).await.unwrap_err();
    assert_eq!(
        err,
        R2Error::Unavailable {
            operation: "head_object"
        }
    );
    let check = h.r2.check_backup(&user(), &primary()).await;
    assert!(
        check.is_err(),
        "an unreachable R2 says nothing about the backup"
    );
}

#[tokio::test]
async fn a_missing_bucket_is_an_error_not_a_missing_pointer() {
    let h = harness().await;
    mock(
        &h.server,
        "GET",
        LATEST,
        s3_error(404, "NoSuchBucket", "The specified bucket does not exist"),
    )
    .await;
    assert_eq!(
        h.r2.read_latest(&user(), &primary()).await.unwrap_err(),
        R2Error::Unavailable {
            operation: "get_object"
        }
    );
}

#[tokio::test]
async fn a_slow_read_times_out_within_the_read_timeout() {
    let h = harness_with_timeouts(Duration::from_millis(300), Duration::from_secs(5)).await;
    mock(
        &h.server,
        "GET",
        LATEST,
        text(POINTER).set_delay(Duration::from_secs(3)),
    )
    .await;
    let started = std::time::Instant::now();
    let err = h.r2.read_latest(&user(), &primary()).await.unwrap_err();
    assert_eq!(
        err,
        R2Error::Timeout {
            operation: "get_object"
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.metrics.provider_calls_total("r2", "timeout"), 1);

    // Writes have their own, longer budget.
    let at = format!("/{BUCKET}/slow-write");
    mock(
        &h.server,
        "PUT",
        &at,
        ResponseTemplate::new(200).set_delay(Duration::from_millis(600)),
    )
    .await;
    h.r2.put_object("slow-write", Vec::from(*b"x").into(), BTreeMap::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn list_snapshots_follows_continuation_tokens() {
    let h = harness().await;
    let prefix = format!("matrixos-sync/{USER}/system/db/snapshots/");
    let page = |keys: &[&str], next: Option<&str>| {
        let contents: String = keys
            .iter()
            .map(|k| {
                format!(
                    "<Contents><Key>{prefix}{k}</Key><LastModified>2026-11-24T04:00:07.000Z</LastModified><ETag>\"e\"</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>"
                )
            })
            .collect();
        let truncated = next.map(|t| {
            format!(
                "<IsTruncated>true</IsTruncated><NextContinuationToken>{t}</NextContinuationToken>"
            )
        });
        ResponseTemplate::new(200).set_body_raw(
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>{BUCKET}</Name><Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys>{}{contents}</ListBucketResult>"#,
                keys.len(),
                truncated.unwrap_or_else(|| "<IsTruncated>false</IsTruncated>".to_owned()),
            ),
            "application/xml",
        )
    };
    Mock::given(method("GET"))
        .and(path(format!("/{BUCKET}/")))
        .and(query_param("list-type", "2"))
        .and(query_param("prefix", prefix.as_str()))
        .and(query_param("continuation-token", "page/2=="))
        .respond_with(page(&["2026-11-24T0500Z.dump"], None))
        .with_priority(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{BUCKET}/")))
        .and(query_param("list-type", "2"))
        .and(query_param("prefix", prefix.as_str()))
        .respond_with(page(
            &["2026-11-24T0300Z.dump", "2026-11-24T0400Z.dump"],
            Some("page/2=="),
        ))
        .with_priority(2)
        .mount(&h.server)
        .await;

    let listed = h.r2.list_snapshots(&user(), &primary()).await.unwrap();
    let keys: Vec<_> = listed
        .iter()
        .map(|o| o.key.trim_start_matches(&prefix))
        .collect();
    assert_eq!(
        keys,
        [
            "2026-11-24T0300Z.dump",
            "2026-11-24T0400Z.dump",
            "2026-11-24T0500Z.dump"
        ]
    );
    assert!(
        listed
            .iter()
            .all(|o| o.size == 42 && o.last_modified.is_some())
    );
    assert_eq!(requests(&h.server).await.len(), 2);
    assert_eq!(
        h.metrics.provider_calls_total("r2", "ok"),
        1,
        "one logical call across pages"
    );
}

#[tokio::test]
async fn get_and_delete_treat_missing_keys_as_answers() {
    let h = harness().await;
    mock(
        &h.server,
        "GET",
        SNAPSHOT,
        s3_error(404, "NoSuchKey", "missing"),
    )
    .await;
    mock(&h.server, "DELETE", SNAPSHOT, ResponseTemplate::new(204)).await;
    let key = &SNAPSHOT[BUCKET.len() + 2..];
    assert_eq!(h.r2.get_object(key).await.unwrap(), None);
    h.r2.delete_object(key).await.unwrap();
}
