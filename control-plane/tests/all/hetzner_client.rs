//! The Hetzner client against wiremock (and a raw socket that drops connections) over real loopback
//! sockets: outcome classes, rate-limit pacing on the injected clock, retries, pagination, redaction.
//!
//! Tests that exercise retries after ambiguous outcomes use `SystemClock` (the backoff is a few hundred
//! milliseconds); everything about rate limits uses `ManualClock`, so budget comes back only when the
//! test says so.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use control_plane::clock::{Clock, ManualClock, SystemClock};
use control_plane::hetzner::{
    AmbiguousKind, CreateServerRequest, DefinitiveKind, HetznerClient, HetznerConfig,
    ProviderError, Server, ServerStatus,
};
use control_plane::ids::HetznerServerId;
use control_plane::metrics::Metrics;
use control_plane::secret::Secret;
use control_plane::status::FailureCode;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "hz-test-SECRET-0123456789";
/// 2025-01-01T00:00:00Z: where every manual clock starts, and the base of `RateLimit-Reset` headers.
const T0: i64 = 1_735_689_600;
const OUTCOMES: [&str; 5] = ["ok", "not_found", "definitive", "ambiguous", "rate_limited"];

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(T0, 0).unwrap()
}

fn fixture(name: &str) -> String {
    let path = format!("{}/../fixtures/hetzner/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn reply(status: u16, fixture_name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(fixture_name), "application/json")
}

/// Adds Hetzner's rate-limit headers; `reset_in` is seconds after [`T0`].
fn with_budget(
    template: ResponseTemplate,
    limit: u32,
    remaining: u32,
    reset_in: i64,
) -> ResponseTemplate {
    template
        .insert_header("RateLimit-Limit", limit.to_string())
        .insert_header("RateLimit-Remaining", remaining.to_string())
        .insert_header("RateLimit-Reset", (T0 + reset_in).to_string())
}

fn config(base_url: &str, timeout: Duration, max_rate_limit_wait: Duration) -> HetznerConfig {
    HetznerConfig {
        base_url: base_url.parse().unwrap(),
        token: Secret::new(TOKEN),
        timeout,
        max_rate_limit_wait,
    }
}

fn client(config: HetznerConfig, clock: Arc<dyn Clock>) -> (HetznerClient, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    (
        HetznerClient::new(config, clock, metrics.clone()).unwrap(),
        metrics,
    )
}

/// A mock Hetzner, a client on a manual clock at [`T0`], and the client's metrics.
struct Setup {
    server: MockServer,
    client: HetznerClient,
    clock: ManualClock,
    metrics: Arc<Metrics>,
}

async fn setup_with(timeout: Duration, max_rate_limit_wait: Duration) -> Setup {
    let server = MockServer::start().await;
    let clock = ManualClock::new(t0());
    let cfg = config(
        &format!("{}/v1", server.uri()),
        timeout,
        max_rate_limit_wait,
    );
    let (client, metrics) = client(cfg, Arc::new(clock.clone()));
    Setup {
        server,
        client,
        clock,
        metrics,
    }
}

async fn setup() -> Setup {
    setup_with(Duration::from_secs(5), Duration::from_secs(15 * 60)).await
}

/// Retry tests: real time, because the backoff between attempts sleeps on the clock.
async fn setup_system_clock(timeout: Duration) -> (MockServer, HetznerClient, Arc<Metrics>) {
    let server = MockServer::start().await;
    let cfg = config(
        &format!("{}/v1", server.uri()),
        timeout,
        Duration::from_secs(60),
    );
    let (client, metrics) = client(cfg, Arc::new(SystemClock));
    (server, client, metrics)
}

fn create_request() -> CreateServerRequest {
    CreateServerRequest {
        name: "matrix-alice".into(),
        server_type: "cpx22".into(),
        image: "ubuntu-24.04".into(),
        location: "nbg1".into(),
        user_data: Secret::new("#cloud-config\nregistration_token: cloud-init-secret-abc\n"),
        labels: BTreeMap::from([
            ("app".to_owned(), "matrix-os".to_owned()),
            ("clerk_user_id".to_owned(), "user_2abcDEF".to_owned()),
            (
                "machine_id".to_owned(),
                "0b7f3c52-8a43-4d55-9a57-2f7f0d1c9e21".to_owned(),
            ),
            ("runtime_slot".to_owned(), "primary".to_owned()),
        ]),
    }
}

fn id(n: i64) -> HetznerServerId {
    HetznerServerId::new(n).unwrap()
}

async fn requests(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .len()
}

/// Waits (bounded) until the mock has seen `n` requests.
async fn wait_for_requests(server: &MockServer, n: usize) {
    for _ in 0..500 {
        if requests(server).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} requests, saw {}", requests(server).await);
}

/// Bounds a call in real time, so that a call that should return at once (no retry, no rate-limit
/// wait on a clock nobody advances) fails the test instead of hanging it.
async fn within<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call did not return: it is waiting on the clock or retrying")
}

/// Outcome counts of `matrix_provider_calls_total{provider="hetzner"}`, in [`OUTCOMES`] order.
fn outcomes(metrics: &Metrics) -> [u64; 5] {
    OUTCOMES.map(|o| metrics.provider_calls_total("hetzner", o))
}

/// Moves the manual clock forward in `step`s until `task` finishes; returns its output and how far
/// the clock had to move.
async fn drive<T: Send + 'static>(
    clock: &ManualClock,
    step: Duration,
    task: JoinHandle<T>,
) -> (T, chrono::Duration) {
    let start = clock.now();
    for _ in 0..2000 {
        if task.is_finished() {
            return (task.await.unwrap(), clock.now() - start);
        }
        clock.advance(step);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("call did not finish while the clock advanced");
}

#[tokio::test]
async fn create_sends_the_documented_body_and_parses_a_recorded_201() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "name": "matrix-alice",
            "server_type": "cpx22",
            "image": "ubuntu-24.04",
            "location": "nbg1",
            "user_data": "#cloud-config\nregistration_token: cloud-init-secret-abc\n",
            "labels": {
                "app": "matrix-os",
                "clerk_user_id": "user_2abcDEF",
                "machine_id": "0b7f3c52-8a43-4d55-9a57-2f7f0d1c9e21",
                "runtime_slot": "primary"
            },
            "start_after_create": true
        })))
        .respond_with(reply(201, "valid/create_server_201.json"))
        .expect(1)
        .mount(&s.server)
        .await;

    let server = within(s.client.create_server(&create_request()))
        .await
        .unwrap();

    assert_eq!(server.id, id(58_231_907));
    assert_eq!(server.name, "matrix-alice");
    assert_eq!(server.status, ServerStatus::Initializing);
    assert_eq!(server.created.to_rfc3339(), "2025-01-01T00:00:03+00:00");
    assert_eq!(
        server.labels["machine_id"],
        "0b7f3c52-8a43-4d55-9a57-2f7f0d1c9e21"
    );
    assert_eq!(server.labels.len(), 4);
    assert_eq!(server.public_ipv4.unwrap().to_string(), "49.12.34.56");
    assert_eq!(
        server.public_ipv6.unwrap().to_string(),
        "2a01:4f8:1c1e:abcd::1"
    );
    assert_eq!(outcomes(&s.metrics), [1, 0, 0, 0, 0]);
}

#[tokio::test]
async fn non_public_addresses_in_an_answer_become_none() {
    let s = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/58231908"))
        .respond_with(reply(200, "valid/get_server_200_non_public_ips.json"))
        .mount(&s.server)
        .await;

    let server = within(s.client.get_server(id(58_231_908))).await.unwrap();

    assert_eq!((server.public_ipv4, server.public_ipv6), (None, None));
    assert_eq!(server.status, ServerStatus::Running);
    assert_eq!(server.created.to_rfc3339(), "2016-01-30T23:50:00+00:00");
}

#[tokio::test]
async fn an_unknown_server_status_parses_as_unknown() {
    let s = setup().await;
    let body = json!({ "server": {
        "id": 7, "name": "matrix-carol", "status": "hibernating", "created": "2025-01-01T00:00:00Z",
        "labels": {}, "public_net": { "ipv4": null, "ipv6": null }
    }});
    Mock::given(method("GET"))
        .and(path("/v1/servers/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&s.server)
        .await;

    assert_eq!(
        within(s.client.get_server(id(7))).await.unwrap().status,
        ServerStatus::Unknown
    );
}

#[tokio::test]
async fn a_429_waits_for_budget_and_resends_without_failing() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(with_budget(
            reply(429, "invalid/any_429_rate_limit_exceeded.json"),
            3600,
            0,
            3600,
        ))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&s.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(with_budget(
            reply(201, "valid/create_server_201.json"),
            3600,
            0,
            3600,
        ))
        .with_priority(2)
        .mount(&s.server)
        .await;

    let client = s.client.clone();
    let call = tokio::spawn(async move { within(client.create_server(&create_request())).await });
    // The first 429 arrives, then the call waits on the clock rather than failing or resending.
    wait_for_requests(&s.server, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!call.is_finished());
    assert_eq!(requests(&s.server).await, 1);

    let (result, waited) = drive(&s.clock, Duration::from_millis(500), call).await;

    assert_eq!(result.unwrap().id, id(58_231_907));
    assert_eq!(
        requests(&s.server).await,
        3,
        "two rate-limited sends and the one that succeeded"
    );
    assert!(
        waited >= chrono::Duration::seconds(2),
        "one refill (1 s) per 429, waited {waited}"
    );
    assert_eq!(
        outcomes(&s.metrics),
        [1, 0, 0, 0, 0],
        "a rate limit is never a failure"
    );
}

#[tokio::test]
async fn a_call_gives_up_with_rate_limited_once_the_wait_budget_is_spent() {
    let s = setup_with(Duration::from_secs(5), Duration::from_secs(10)).await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(with_budget(
            reply(429, "invalid/any_429_rate_limit_exceeded.json"),
            3600,
            0,
            3600,
        ))
        .mount(&s.server)
        .await;

    let client = s.client.clone();
    let call = tokio::spawn(async move { within(client.create_server(&create_request())).await });
    let (result, _) = drive(&s.clock, Duration::from_millis(500), call).await;

    let err = result.unwrap_err();
    let ProviderError::RateLimited { retry_at } = err else {
        panic!("{err:?}")
    };
    assert!(retry_at > t0(), "{retry_at}");
    assert!(!err.is_definitive() && !err.is_ambiguous());
    assert_eq!(err.failure_code(), FailureCode::ProviderUnavailable);
    let sent = requests(&s.server).await;
    assert!(
        (2..=11).contains(&sent),
        "at most one send per second of a 10 s budget, sent {sent}"
    );
    assert_eq!(outcomes(&s.metrics), [0, 0, 0, 0, 1]);
}

#[tokio::test]
async fn a_call_whose_budget_returns_too_late_is_refused_without_sending() {
    let s = setup_with(Duration::from_secs(5), Duration::from_secs(60)).await;
    // 10 tokens refill over 20 minutes: the next one is 120 s away, past the 60 s the call may wait.
    Mock::given(method("GET"))
        .and(path("/v1/servers/7"))
        .respond_with(with_budget(
            ResponseTemplate::new(404).set_body_raw(
                fixture("invalid/server_404_not_found.json"),
                "application/json",
            ),
            10,
            0,
            1200,
        ))
        .mount(&s.server)
        .await;
    assert_eq!(
        within(s.client.get_server(id(7))).await.unwrap_err(),
        ProviderError::NotFound
    );

    let err = within(s.client.get_server(id(7))).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::RateLimited {
            retry_at: t0() + chrono::Duration::seconds(120)
        }
    );
    assert_eq!(requests(&s.server).await, 1);
}

#[tokio::test]
async fn remaining_zero_makes_the_next_call_wait_for_the_clock() {
    let s = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/7"))
        .respond_with(with_budget(
            reply(200, "valid/create_server_201.json"),
            3600,
            0,
            3600,
        ))
        .mount(&s.server)
        .await;
    assert!(s.client.has_budget_now());
    within(s.client.get_server(id(7))).await.unwrap();
    assert!(!s.client.has_budget_now());

    let client = s.client.clone();
    let call = tokio::spawn(async move { within(client.get_server(id(7))).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!call.is_finished(), "no budget: the call must wait");
    assert_eq!(requests(&s.server).await, 1);

    // 3600 s to refill 3600 tokens: one token per second, not a moment sooner.
    s.clock.advance(Duration::from_millis(999));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!call.is_finished());
    assert_eq!(requests(&s.server).await, 1);

    s.clock.advance(Duration::from_millis(1));
    tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(requests(&s.server).await, 2);
}

#[tokio::test]
async fn a_burst_of_concurrent_calls_queues_behind_the_shared_budget() {
    let s = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/7"))
        .respond_with(with_budget(
            reply(200, "valid/create_server_201.json"),
            3600,
            0,
            3600,
        ))
        .mount(&s.server)
        .await;
    within(s.client.get_server(id(7))).await.unwrap();

    let calls: Vec<_> = (0..5)
        .map(|_| {
            let client = s.client.clone();
            tokio::spawn(async move { within(client.get_server(id(7))).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(requests(&s.server).await, 1, "nobody goes without budget");

    // Each second of clock lets exactly one queued call through.
    for released in 1..=5 {
        s.clock.advance(Duration::from_secs(1));
        wait_for_requests(&s.server, 1 + released).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(requests(&s.server).await, 1 + released);
    }
    for call in calls {
        tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    assert_eq!(outcomes(&s.metrics), [6, 0, 0, 0, 0]);
}

#[tokio::test]
async fn quota_refusals_are_definitive_quota_and_are_not_resent() {
    let s = setup().await;
    let cases = [
        (
            403,
            "invalid/create_server_403_resource_limit_exceeded.json",
            "resource_limit_exceeded",
        ),
        (
            412,
            "invalid/create_server_412_resource_unavailable.json",
            "resource_unavailable",
        ),
    ];
    for (i, (status, body, code)) in cases.into_iter().enumerate() {
        s.server.reset().await;
        Mock::given(method("POST"))
            .and(path("/v1/servers"))
            .respond_with(reply(status, body))
            .mount(&s.server)
            .await;

        let err = within(s.client.create_server(&create_request()))
            .await
            .unwrap_err();

        assert_eq!(
            err,
            ProviderError::Definitive {
                kind: DefinitiveKind::Quota,
                status,
                code: code.into()
            }
        );
        assert_eq!(err.failure_code(), FailureCode::QuotaExceeded);
        assert_eq!(requests(&s.server).await, 1);
        assert_eq!(
            s.metrics.provider_calls_total("hetzner", "definitive"),
            i as u64 + 1
        );
    }
}

#[tokio::test]
async fn invalid_input_is_definitive_and_user_data_has_its_own_kind() {
    let s = setup().await;
    let cases = [
        (
            "invalid/create_server_422_invalid_input.json",
            DefinitiveKind::InvalidInput,
            FailureCode::Unknown,
        ),
        (
            "invalid/create_server_422_user_data_too_large.json",
            DefinitiveKind::UserDataTooLarge,
            FailureCode::UserDataTooLarge,
        ),
    ];
    for (body, kind, failure_code) in cases {
        s.server.reset().await;
        Mock::given(method("POST"))
            .and(path("/v1/servers"))
            .respond_with(reply(422, body))
            .mount(&s.server)
            .await;

        let err = within(s.client.create_server(&create_request()))
            .await
            .unwrap_err();

        assert_eq!(
            err,
            ProviderError::Definitive {
                kind,
                status: 422,
                code: "invalid_input".into()
            }
        );
        assert_eq!(err.failure_code(), failure_code);
    }
}

#[tokio::test]
async fn a_503_with_a_json_error_is_ambiguous_and_create_is_sent_once() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(reply(503, "invalid/any_503_unavailable.json"))
        .mount(&s.server)
        .await;

    let err = within(s.client.create_server(&create_request()))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::ServerError,
            status: Some(503)
        }
    );
    assert_eq!(err.failure_code(), FailureCode::ProviderUnavailable);
    assert_eq!(requests(&s.server).await, 1);
    assert_eq!(outcomes(&s.metrics), [0, 0, 0, 1, 0]);
}

#[tokio::test]
async fn a_502_with_an_html_body_is_ambiguous() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_raw(fixture("invalid/any_502_html_body.html"), "text/html"),
        )
        .mount(&s.server)
        .await;

    let err = within(s.client.create_server(&create_request()))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::ServerError,
            status: Some(502)
        }
    );
    assert_eq!(requests(&s.server).await, 1);
}

#[tokio::test]
async fn an_unreadable_201_is_ambiguous_because_the_server_may_exist() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(reply(201, "invalid/create_server_201_truncated.json"))
        .mount(&s.server)
        .await;

    let err = within(s.client.create_server(&create_request()))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::BadResponse,
            status: Some(201)
        }
    );
    assert_eq!(requests(&s.server).await, 1);
}

#[tokio::test]
async fn a_create_that_times_out_is_ambiguous_and_never_resent() {
    let s = setup_with(Duration::from_millis(300), Duration::from_secs(60)).await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(reply(201, "valid/create_server_201.json").set_delay(Duration::from_secs(5)))
        .mount(&s.server)
        .await;

    let err = within(s.client.create_server(&create_request()))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::Timeout,
            status: None
        }
    );
    assert_eq!(err.failure_code(), FailureCode::ProviderTimeout);
    assert_eq!(requests(&s.server).await, 1);
}

#[tokio::test]
async fn idempotent_calls_are_retried_up_to_three_attempts() {
    let (server, client, metrics) = setup_system_clock(Duration::from_secs(5)).await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/7"))
        .respond_with(reply(503, "invalid/any_503_unavailable.json"))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/servers/8"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_raw(fixture("invalid/any_502_html_body.html"), "text/html"),
        )
        .mount(&server)
        .await;

    let err = within(client.get_server(id(7))).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::ServerError,
            status: Some(503)
        }
    );
    assert_eq!(requests(&server).await, 3);

    let err = within(client.delete_server(id(8))).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::ServerError,
            status: Some(502)
        }
    );
    assert_eq!(requests(&server).await, 6);
    assert_eq!(
        outcomes(&metrics),
        [0, 0, 0, 2, 0],
        "one sample per call, not per attempt"
    );
}

#[tokio::test]
async fn a_transient_server_error_on_get_is_absorbed_by_a_retry() {
    let (server, client, metrics) = setup_system_clock(Duration::from_secs(5)).await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/58231907"))
        .respond_with(reply(503, "invalid/any_503_unavailable.json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/58231907"))
        .respond_with(reply(200, "valid/create_server_201.json"))
        .with_priority(2)
        .mount(&server)
        .await;

    assert_eq!(
        within(client.get_server(id(58_231_907)))
            .await
            .unwrap()
            .name,
        "matrix-alice"
    );
    assert_eq!(requests(&server).await, 2);
    assert_eq!(outcomes(&metrics), [1, 0, 0, 0, 0]);
}

#[tokio::test]
async fn a_get_that_keeps_timing_out_is_retried_then_ambiguous_timeout() {
    let (server, client, _) = setup_system_clock(Duration::from_millis(200)).await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/7"))
        .respond_with(reply(200, "valid/create_server_201.json").set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;

    let err = within(client.get_server(id(7))).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::Timeout,
            status: None
        }
    );
    assert_eq!(requests(&server).await, 3);
}

/// A "provider" that reads each request and then resets the connection; counts connections.
async fn resetting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            // Reading first makes sure the request reached "the provider" before the reset.
            let mut buf = vec![0u8; 64 * 1024];
            let _ = stream.read(&mut buf).await;
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    });
    (format!("http://{addr}/v1"), accepted)
}

#[tokio::test]
async fn a_reset_connection_is_ambiguous_and_a_create_is_not_resent() {
    let (base_url, accepted) = resetting_listener().await;
    let (client, metrics) = client(
        config(&base_url, Duration::from_secs(5), Duration::from_secs(60)),
        Arc::new(ManualClock::new(t0())),
    );

    let err = within(client.create_server(&create_request()))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::ConnectionLost,
            status: None
        }
    );
    assert_eq!(err.failure_code(), FailureCode::ProviderUnavailable);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a create that may have arrived is never resent"
    );
    assert_eq!(outcomes(&metrics), [0, 0, 0, 1, 0]);
}

#[tokio::test]
async fn a_reset_connection_on_get_is_retried() {
    let (base_url, accepted) = resetting_listener().await;
    let (client, _) = client(
        config(&base_url, Duration::from_secs(5), Duration::from_secs(60)),
        Arc::new(SystemClock),
    );

    let err = within(client.get_server(id(7))).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::ConnectionLost,
            status: None
        }
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refused_connection_is_ambiguous_connection_lost() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let (client, _) = client(
        config(&base_url, Duration::from_secs(5), Duration::from_secs(60)),
        Arc::new(SystemClock),
    );

    let err = within(client.create_server(&create_request()))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::ConnectionLost,
            status: None
        }
    );
}

#[tokio::test]
async fn not_found_on_get_and_delete() {
    let s = setup().await;
    Mock::given(path("/v1/servers/404"))
        .respond_with(reply(404, "invalid/server_404_not_found.json"))
        .mount(&s.server)
        .await;

    let err = within(s.client.get_server(id(404))).await.unwrap_err();
    assert_eq!(err, ProviderError::NotFound);
    assert_eq!(err.failure_code(), FailureCode::NotFound);
    assert_eq!(
        within(s.client.delete_server(id(404))).await.unwrap_err(),
        ProviderError::NotFound
    );
    assert_eq!(
        requests(&s.server).await,
        2,
        "a 404 is an answer, not retried"
    );
    assert_eq!(outcomes(&s.metrics), [0, 2, 0, 0, 0]);
}

#[tokio::test]
async fn a_404_without_hetzners_envelope_is_not_taken_for_gone() {
    let s = setup().await;
    Mock::given(method("DELETE"))
        .and(path("/v1/servers/9"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such route"))
        .mount(&s.server)
        .await;

    let err = within(s.client.delete_server(id(9))).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::Definitive {
            kind: DefinitiveKind::Other,
            status: 404,
            code: String::new()
        }
    );
}

#[tokio::test]
async fn delete_succeeds_on_hetzners_action_answer() {
    let s = setup().await;
    let action = json!({ "action": {
        "id": 13, "command": "delete_server", "status": "running", "progress": 0,
        "started": "2025-01-01T00:00:00+00:00", "finished": null,
        "resources": [{ "id": 42, "type": "server" }], "error": null
    }});
    Mock::given(method("DELETE"))
        .and(path("/v1/servers/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(action))
        .expect(1)
        .mount(&s.server)
        .await;

    within(s.client.delete_server(id(42))).await.unwrap();
    assert_eq!(outcomes(&s.metrics), [1, 0, 0, 0, 0]);
}

fn page(n: u32, next_page: Option<u32>, ids: &[i64]) -> ResponseTemplate {
    let servers: Vec<_> = ids
        .iter()
        .map(|id| {
            json!({
                "id": id, "name": format!("matrix-u{id}"), "status": "running",
                "created": "2025-01-01T00:00:00+00:00", "labels": { "app": "matrix-os" },
                "public_net": { "ipv4": { "ip": format!("49.12.0.{id}") }, "ipv6": null }
            })
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "servers": servers,
        "meta": { "pagination": {
            "page": n, "per_page": 50, "previous_page": n.checked_sub(1).filter(|p| *p > 0),
            "next_page": next_page, "last_page": 3, "total_entries": 5
        }}
    }))
}

#[tokio::test]
async fn list_follows_next_page_across_three_pages() {
    let s = setup().await;
    let selector = "app=matrix-os,machine_id=0b7f3c52-8a43-4d55-9a57-2f7f0d1c9e21";
    for (n, next, ids) in [
        (1, Some(2), &[1, 2][..]),
        (2, Some(3), &[3, 4][..]),
        (3, None, &[5][..]),
    ] {
        Mock::given(method("GET"))
            .and(path("/v1/servers"))
            .and(query_param("label_selector", selector))
            .and(query_param("per_page", "50"))
            .and(query_param("page", n.to_string().as_str()))
            .respond_with(page(n, next, ids))
            .expect(1)
            .mount(&s.server)
            .await;
    }

    let servers = within(s.client.list_servers(selector)).await.unwrap();

    let ids: Vec<i64> = servers.iter().map(|s| s.id.get()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(servers[4].public_ipv4.unwrap().to_string(), "49.12.0.5");
    assert_eq!(
        outcomes(&s.metrics),
        [1, 0, 0, 0, 0],
        "one sample for the whole listing"
    );
}

#[tokio::test]
async fn a_listing_whose_next_page_does_not_advance_is_ambiguous() {
    let s = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .respond_with(page(1, Some(1), &[1]))
        .mount(&s.server)
        .await;

    let err = within(s.client.list_servers("app=matrix-os"))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        ProviderError::Ambiguous {
            kind: AmbiguousKind::BadResponse,
            status: Some(200)
        }
    );
    assert_eq!(requests(&s.server).await, 1);
}

/// Collects formatted log output in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn the_token_and_provider_text_never_reach_errors_or_logs() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(reply(
            401,
            "invalid/any_401_unauthorized_echoing_token.json",
        ))
        .mount(&s.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/7"))
        .respond_with(reply(
            422,
            "invalid/create_server_422_user_data_too_large.json",
        ))
        .mount(&s.server)
        .await;

    let unauthorized = within(s.client.create_server(&create_request()))
        .await
        .unwrap_err();
    let invalid = within(s.client.get_server(id(7))).await.unwrap_err();

    assert_eq!(
        unauthorized,
        ProviderError::Definitive {
            kind: DefinitiveKind::Unauthorized,
            status: 401,
            code: "unauthorized".into()
        }
    );
    assert_eq!(
        unauthorized.failure_code(),
        FailureCode::ProviderUnavailable
    );
    let cfg = config(
        "https://api.hetzner.cloud/v1",
        Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let shown = [
        format!("{unauthorized:?} {unauthorized} {invalid:?} {invalid}"),
        format!("{:?} {cfg:?} {:?}", s.client, create_request()),
        logs.text(),
    ];
    for text in &shown {
        for secret in [
            TOKEN,
            "SECRET",
            "internal-detail-xyz",
            "unable to authenticate",
            "must not exceed",
            "cloud-init-secret-abc",
        ] {
            assert!(!text.contains(secret), "{secret:?} leaked into {text}");
        }
    }
    // The log lines exist and say what happened, in identifiers only.
    let log = logs.text();
    assert!(
        log.contains("create_server") && log.contains("unauthorized") && log.contains("401"),
        "{log}"
    );
    assert!(
        log.contains("get_server") && log.contains("invalid_input"),
        "{log}"
    );
}

#[tokio::test]
async fn a_bad_configuration_is_refused_before_any_call() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(t0()));
    let metrics = Arc::new(Metrics::new());
    let refuse = |base: &str, token: &str| {
        let cfg = HetznerConfig::new(base.parse().unwrap(), Secret::new(token));
        HetznerClient::new(cfg, clock.clone(), metrics.clone()).unwrap_err()
    };
    assert!(matches!(
        refuse("ftp://example.com/v1", TOKEN),
        ProviderError::Definitive { status: 0, .. }
    ));
    assert!(matches!(
        refuse("mailto:ops@example.com", TOKEN),
        ProviderError::Definitive { status: 0, .. }
    ));
    assert!(matches!(
        refuse("https://api.hetzner.cloud/v1", ""),
        ProviderError::Definitive { status: 0, .. }
    ));
    let err = refuse("https://api.hetzner.cloud/v1", "line\nbreak");
    assert_eq!(
        err,
        ProviderError::Definitive {
            kind: DefinitiveKind::Other,
            status: 0,
            code: "invalid_token".into()
        }
    );
    assert!(!format!("{err:?}").contains("line"));
}

#[test]
fn the_recorded_server_fixture_parses_on_its_own() {
    let body: serde_json::Value =
        serde_json::from_str(&fixture("valid/create_server_201.json")).unwrap();
    let server = Server::from_json(&serde_json::to_vec(&body["server"]).unwrap()).unwrap();
    assert_eq!(server.name, "matrix-alice");
}
