//! The fake Hetzner API over a real socket, through an ordinary HTTP client: object shapes,
//! listing, validation, auth, rate limiting, progress and every fault effect.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sim::fake_hetzner::{
    FakeHetzner, FakeHetznerConfig, FaultEffect, FaultOp, FaultRule, FaultWhen, ServerStatus,
    TimeSource,
};

/// A harness clock the test moves by hand.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    fn new() -> Self {
        ManualClock(Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
        )))
    }
    fn source(&self) -> TimeSource {
        let now = self.0.clone();
        Arc::new(move || *now.lock().unwrap())
    }
    fn advance(&self, seconds: i64) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(seconds);
    }
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct Api {
    fake: FakeHetzner,
    http: reqwest::Client,
    clock: ManualClock,
}

impl Api {
    async fn start(config: FakeHetznerConfig) -> Api {
        let clock = ManualClock::new();
        let fake = FakeHetzner::start(FakeHetznerConfig {
            now: clock.source(),
            ..config
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Api { fake, http, clock }
    }

    async fn default() -> Api {
        Api::start(FakeHetznerConfig {
            polls_until_running: 0,
            ..Default::default()
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.base_url())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.fake.token());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    async fn create(&self, name: &str, labels: Value) -> Value {
        let (status, body) = self
            .post(
                "/servers",
                json!({ "name": name, "server_type": "cx22", "image": "debian-12", "labels": labels }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

// Strict shapes: every required field must be present with the right type.

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Server {
    id: i64,
    name: String,
    status: String,
    created: DateTime<Utc>,
    labels: BTreeMap<String, String>,
    public_net: PublicNet,
    private_net: Vec<Value>,
    server_type: ServerType,
    datacenter: Datacenter,
    location: Location,
    image: Image,
    iso: Option<Value>,
    rescue_enabled: bool,
    locked: bool,
    backup_window: Option<String>,
    outgoing_traffic: Option<u64>,
    ingoing_traffic: Option<u64>,
    included_traffic: u64,
    protection: Protection,
    primary_disk_size: u32,
    volumes: Vec<i64>,
    load_balancers: Vec<i64>,
    placement_group: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct PublicNet {
    ipv4: Ipv4,
    ipv6: Ipv6,
    floating_ips: Vec<i64>,
    firewalls: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Ipv4 {
    id: i64,
    ip: std::net::Ipv4Addr,
    blocked: bool,
    dns_ptr: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Ipv6 {
    id: i64,
    ip: String,
    blocked: bool,
    dns_ptr: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct ServerType {
    id: i64,
    name: String,
    description: String,
    cores: u32,
    memory: f64,
    disk: u32,
    cpu_type: String,
    storage_type: String,
    architecture: String,
    deprecated: bool,
    prices: Vec<Price>,
    locations: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Price {
    location: String,
    price_hourly: Money,
    price_monthly: Money,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Money {
    net: String,
    gross: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Location {
    id: i64,
    name: String,
    description: String,
    country: String,
    city: String,
    latitude: f64,
    longitude: f64,
    network_zone: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Datacenter {
    id: i64,
    name: String,
    description: String,
    location: Location,
    server_types: Value,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Image {
    id: i64,
    r#type: String,
    status: String,
    name: Option<String>,
    description: String,
    os_flavor: String,
    os_version: Option<String>,
    architecture: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Protection {
    delete: bool,
    rebuild: bool,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Action {
    id: i64,
    command: String,
    status: String,
    progress: u8,
    started: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
    error: Option<ActionError>,
    resources: Vec<Resource>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct ActionError {
    code: String,
    message: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Resource {
    id: i64,
    r#type: String,
}

/// Nullable fields still have to be present (generated clients require the key).
const NULLABLE_SERVER_FIELDS: &[&str] = &[
    "iso",
    "backup_window",
    "outgoing_traffic",
    "ingoing_traffic",
    "placement_group",
    "image",
];

fn server(value: &Value) -> Server {
    for field in NULLABLE_SERVER_FIELDS {
        assert!(
            value.get(field).is_some(),
            "server object lacks {field}: {value}"
        );
    }
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

fn action(value: &Value) -> Action {
    for field in ["finished", "error"] {
        assert!(value.get(field).is_some(), "action lacks {field}: {value}");
    }
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error envelope: {body}"))
}

#[tokio::test]
async fn create_list_get_delete_round_trip_with_full_objects() {
    let api = Api::start(FakeHetznerConfig {
        polls_until_running: 2,
        ..Default::default()
    })
    .await;
    let (status, body) = api
        .post(
            "/servers",
            json!({
                "name": "matrix-u1",
                "server_type": "cx22",
                "image": "debian-12",
                "location": "nbg1",
                "labels": { "fleet.example/machine": "m-1", "slot": "0" },
                "user_data": "#cloud-config\n",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created = server(&body["server"]);
    assert_eq!(created.name, "matrix-u1");
    assert_eq!(created.status, "initializing");
    assert_eq!(created.created, api.clock.now());
    assert_eq!(created.location.name, "nbg1");
    assert_eq!(created.datacenter.location.name, "nbg1");
    assert_eq!(created.server_type.name, "cx22");
    assert_eq!(created.image.name.as_deref(), Some("debian-12"));
    assert_eq!(created.public_net.ipv4.ip.octets()[..2], [49, 12]);
    assert!(
        created.public_net.ipv6.ip.ends_with("::/64"),
        "{}",
        created.public_net.ipv6.ip
    );
    assert_eq!(created.labels["slot"], "0");
    let create_action = action(&body["action"]);
    assert_eq!(create_action.command, "create_server");
    assert_eq!(create_action.status, "running");
    assert_eq!(create_action.resources[0].id, created.id);
    let next: Vec<Action> = body["next_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(action)
        .collect();
    assert_eq!(next[0].command, "start_server");
    assert!(body["root_password"].is_string());

    // Exactly `polls_until_running` polls see it not running.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (status, body) = api.get(&format!("/servers/{}", created.id)).await;
        assert_eq!(status, StatusCode::OK);
        seen.push(server(&body["server"]).status);
    }
    assert_eq!(seen, ["initializing", "starting", "running"]);

    let (status, body) = api.get("/servers").await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<Server> = body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(server)
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(body["meta"]["pagination"]["total_entries"], 1);

    let (status, body) = api.delete(&format!("/servers/{}", created.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let delete = action(&body["action"]);
    assert_eq!(delete.command, "delete_server");
    let (_, body) = api.get(&format!("/servers/{}", created.id)).await;
    assert_eq!(server(&body["server"]).status, "deleting");
    let (_, body) = api.get(&format!("/actions/{}", delete.id)).await;
    assert_eq!(action(&body["action"]).status, "running");
    let (status, body) = api.get(&format!("/servers/{}", created.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
    let (_, body) = api.get(&format!("/actions/{}", delete.id)).await;
    let delete = action(&body["action"]);
    assert_eq!(delete.status, "success");
    assert_eq!(delete.progress, 100);
    assert!(delete.finished.is_some());
    assert!(api.fake.servers().is_empty());
    assert_eq!(api.fake.create_count(), 1);
}

#[tokio::test]
async fn actions_polled_by_id_list_drive_the_server_to_running() {
    let api = Api::start(FakeHetznerConfig {
        polls_until_running: 3,
        ..Default::default()
    })
    .await;
    let body = api.create("polled", json!({})).await;
    let id = body["server"]["id"].as_i64().unwrap();
    let create = body["action"]["id"].as_i64().unwrap();
    let start = body["next_actions"][0]["id"].as_i64().unwrap();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 10, "actions never finished");
        let (status, body) = api.get(&format!("/actions?id={create}&id={start}")).await;
        assert_eq!(status, StatusCode::OK);
        let actions: Vec<Action> = body["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(action)
            .collect();
        assert_eq!(actions.len(), 2);
        if actions.iter().all(|a| a.status == "success") {
            break;
        }
    }
    assert_eq!(rounds, 4, "three polls see it unfinished");
    assert_eq!(api.fake.server(id).unwrap().status, ServerStatus::Running);
}

#[tokio::test]
async fn pagination_follows_next_page_until_null() {
    let api = Api::default().await;
    for i in 0..60 {
        api.create(&format!("s{i:02}"), json!({ "batch": "p" }))
            .await;
    }
    let mut ids = Vec::new();
    let mut page = Some(1);
    let mut pages = 0;
    while let Some(n) = page {
        pages += 1;
        assert!(pages <= 10, "pagination does not end");
        let (status, body) = api.get(&format!("/servers?page={n}&sort=id:desc")).await;
        assert_eq!(status, StatusCode::OK);
        let p = &body["meta"]["pagination"];
        assert_eq!(p["page"], n);
        assert_eq!(p["per_page"], 25);
        assert_eq!(p["last_page"], 3);
        assert_eq!(p["total_entries"], 60);
        assert_eq!(
            p["previous_page"],
            if n == 1 { json!(null) } else { json!(n - 1) }
        );
        ids.extend(
            body["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_i64().unwrap()),
        );
        page = p["next_page"].as_u64();
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 60);
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "sorted by id descending"
    );

    let (_, body) = api.get("/servers?per_page=500").await;
    assert_eq!(
        body["meta"]["pagination"]["per_page"], 50,
        "per_page is capped"
    );
    assert_eq!(body["servers"].as_array().unwrap().len(), 50);
    let (_, body) = api.get("/servers?sort=name:desc&per_page=1").await;
    assert_eq!(body["servers"][0]["name"], "s59");
    let (status, body) = api.get("/servers?page=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_input");
}

#[tokio::test]
async fn label_selectors_filter_listings_in_every_form() {
    let api = Api::default().await;
    api.create(
        "web-1",
        json!({ "role": "web", "fleet.example/user": "u1" }),
    )
    .await;
    api.create(
        "web-2",
        json!({ "role": "web", "fleet.example/user": "u2" }),
    )
    .await;
    api.create("db-1", json!({ "role": "db" })).await;
    api.create("bare", json!({})).await;

    let cases: &[(&str, &[&str])] = &[
        ("role=web", &["web-1", "web-2"]),
        ("role==db", &["db-1"]),
        ("role!=web", &["db-1", "bare"]),
        ("fleet.example/user", &["web-1", "web-2"]),
        ("!role", &["bare"]),
        ("role in (db,cache)", &["db-1"]),
        ("role notin (web)", &["db-1", "bare"]),
        ("role=web,fleet.example/user=u2", &["web-2"]),
        ("role, !fleet.example/user", &["db-1"]),
    ];
    for (selector, expected) in cases {
        let (status, body) = api
            .http
            .get(api.url("/servers"))
            .bearer_auth(api.fake.token())
            .query(&[("label_selector", selector), ("sort", &"id")])
            .send()
            .await
            .map(|r| (r.status(), r))
            .unwrap();
        let body: Value = body.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{selector}: {body}");
        let mut names: Vec<&str> = body["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        names.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(names, expected, "{selector}");
    }

    let (status, body) = api.get("/servers?name=db-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["servers"].as_array().unwrap().len(), 1);

    for malformed in ["role in web", "role=", "=x", "role in ()", "a@b"] {
        let response = api
            .http
            .get(api.url("/servers"))
            .bearer_auth(api.fake.token())
            .query(&[("label_selector", malformed)])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if malformed == "role=" {
            // An empty value is a valid selector value.
            assert_eq!(status, StatusCode::OK);
            continue;
        }
        assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed}: {body}");
        assert_eq!(error_code(&body), "invalid_input");
    }
}

#[tokio::test]
async fn every_route_requires_the_token() {
    let api = Api::default().await;
    let id = api.create("target", json!({})).await["server"]["id"]
        .as_i64()
        .unwrap();
    let routes = [
        (reqwest::Method::GET, "/servers".to_string()),
        (reqwest::Method::POST, "/servers".to_string()),
        (reqwest::Method::GET, format!("/servers/{id}")),
        (reqwest::Method::DELETE, format!("/servers/{id}")),
        (
            reqwest::Method::POST,
            format!("/servers/{id}/actions/reboot"),
        ),
        (reqwest::Method::GET, "/actions?id=1".to_string()),
        (reqwest::Method::GET, "/actions/1".to_string()),
        (reqwest::Method::GET, "/nothing-here".to_string()),
    ];
    for (method, path) in routes {
        for token in [None, Some("wrong-token")] {
            let mut request = api.http.request(method.clone(), api.url(&path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            for header in [
                "x-correlation-id",
                "ratelimit-limit",
                "ratelimit-remaining",
                "ratelimit-reset",
            ] {
                assert!(
                    response.headers().contains_key(header),
                    "{method} {path}: {header}"
                );
            }
            let body: Value = response.json().await.unwrap();
            assert_eq!(error_code(&body), "unauthorized");
            assert!(body["error"]["message"].is_string());
            assert!(body["error"].get("details").is_some());
        }
    }
    assert!(api.fake.server(id).is_some(), "nothing was deleted");
}

#[tokio::test]
async fn create_validation_errors_use_the_api_envelope() {
    let api = Api::default().await;
    api.create("taken", json!({})).await;

    let (status, body) = api
        .post(
            "/servers",
            json!({ "name": "taken", "server_type": "cx22", "image": "debian-12" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "uniqueness_error");
    assert_eq!(body["error"]["details"]["fields"][0]["name"], "name");

    let (status, body) = api
        .post(
            "/servers",
            json!({
                "name": "big", "server_type": "cx22", "image": "debian-12",
                "user_data": "x".repeat(32 * 1024 + 1),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "invalid_input");
    assert_eq!(body["error"]["details"]["fields"][0]["name"], "user_data");
    let (status, _) = api
        .post(
            "/servers",
            json!({
                "name": "just-fits", "server_type": "cx22", "image": "debian-12",
                "user_data": "x".repeat(32 * 1024),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = api
        .post("/servers", json!({ "name": "no_underscores" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: HashSet<&str> = body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, HashSet::from(["name", "server_type", "image"]));

    let (status, body) = api
        .post(
            "/servers",
            json!({ "name": "l", "server_type": "cx22", "image": "debian-12", "labels": { "-bad": "x" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["fields"][0]["name"], "labels");

    let response = api
        .http
        .post(api.url("/servers"))
        .bearer_auth(api.fake.token())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&response.json().await.unwrap()), "json_error");
    assert_eq!(
        api.fake.create_count(),
        2,
        "no invalid request created anything"
    );
}

#[tokio::test]
async fn the_token_bucket_throttles_on_the_harness_clock() {
    let api = Api::start(FakeHetznerConfig {
        rate_limit: 5,
        refill_per_second: 1.0,
        polls_until_running: 0,
        ..Default::default()
    })
    .await;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let response = api
            .http
            .get(api.url("/servers"))
            .bearer_auth(api.fake.token())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-limit"], "5");
        remaining.push(
            response.headers()["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);

    let response = api
        .http
        .get(api.url("/servers"))
        .bearer_auth(api.fake.token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!response.headers().contains_key("retry-after"));
    let reset: i64 = response.headers()["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        reset,
        api.clock.now().timestamp() + 5,
        "full again after 5 s of harness time"
    );
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "rate_limit_exceeded"
    );

    // Wall time passing refills nothing; harness time does.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = api.get("/servers").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    api.clock.advance(2);
    let (status, _) = api.get("/servers").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("/servers").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("/servers").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    assert_eq!(api.fake.throttled_count(), 3);
    assert_eq!(api.fake.max_observed_rate(chrono::Duration::seconds(1)), 5);
    assert_eq!(api.fake.max_observed_rate(chrono::Duration::hours(1)), 7);
}

#[tokio::test]
async fn commit_then_drop_creates_the_server_but_the_client_gets_no_response() {
    let api = Api::default().await;
    api.fake.inject(FaultRule::new(
        FaultOp::CreateServer,
        FaultWhen::Nth(1),
        FaultEffect::CommitThenDrop,
    ));
    let result = api
        .http
        .post(api.url("/servers"))
        .bearer_auth(api.fake.token())
        .json(&json!({
            "name": "lost-response", "server_type": "cx22", "image": "debian-12",
            "labels": { "machine": "m-7" },
        }))
        .send()
        .await;
    let err = result.expect_err("the connection must close without a response");
    assert!(!err.is_timeout(), "{err:?}");

    // The caller's recovery path: look the server up by label.
    let (status, body) = api.get("/servers?label_selector=machine%3Dm-7").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["servers"][0]["name"], "lost-response");
    assert_eq!(api.fake.create_count(), 1);
    let records = api.fake.requests();
    let dropped = records.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(dropped.status, None);
    assert_eq!(dropped.fault.as_deref(), Some("commit_then_drop"));
}

#[tokio::test]
async fn drop_before_commit_creates_nothing() {
    let api = Api::default().await;
    api.fake.inject(FaultRule::new(
        FaultOp::CreateServer,
        FaultWhen::Times(1),
        FaultEffect::DropBeforeCommit,
    ));
    let result = api
        .http
        .post(api.url("/servers"))
        .bearer_auth(api.fake.token())
        .json(&json!({ "name": "never", "server_type": "cx22", "image": "debian-12" }))
        .send()
        .await;
    assert!(result.is_err());
    assert_eq!(api.fake.create_count(), 0);
    api.create("never", json!({})).await;
}

#[tokio::test]
async fn an_nth_error_fault_fires_exactly_once() {
    let api = Api::default().await;
    let id = api.create("flaky", json!({})).await["server"]["id"]
        .as_i64()
        .unwrap();
    api.fake.inject(FaultRule::error(
        FaultOp::GetServer,
        FaultWhen::Nth(2),
        503,
        "unavailable",
    ));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        // Calls of other operations do not count towards the rule.
        api.get("/servers").await;
        let (status, body) = api.get(&format!("/servers/{id}")).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(error_code(&body), "unavailable");
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [200, 503, 200, 200]);
    let fired = api
        .fake
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert_eq!(fired, 1);
}

#[tokio::test]
async fn an_action_error_fault_fails_the_create_action() {
    let api = Api::start(FakeHetznerConfig {
        polls_until_running: 1,
        ..Default::default()
    })
    .await;
    api.fake.inject(FaultRule::new(
        FaultOp::CreateServer,
        FaultWhen::Nth(1),
        FaultEffect::ActionError,
    ));
    let body = api.create("doomed", json!({})).await;
    let id = body["server"]["id"].as_i64().unwrap();
    let action_id = body["action"]["id"].as_i64().unwrap();
    let (_, body) = api.get(&format!("/actions/{action_id}")).await;
    let failed = action(&body["action"]);
    assert_eq!(failed.status, "error");
    assert_eq!(failed.error.unwrap().code, "action_failed");
    assert_eq!(api.fake.server(id).unwrap().status, ServerStatus::Off);
}

#[tokio::test]
async fn stuck_and_vanished_servers() {
    let api = Api::start(FakeHetznerConfig {
        polls_until_running: 1,
        ..Default::default()
    })
    .await;
    let stuck = api.create("stuck", json!({})).await["server"]["id"]
        .as_i64()
        .unwrap();
    let gone = api.create("gone", json!({})).await["server"]["id"]
        .as_i64()
        .unwrap();
    assert!(api.fake.set_status(stuck, "starting"));
    for _ in 0..5 {
        let (_, body) = api.get(&format!("/servers/{stuck}")).await;
        assert_eq!(body["server"]["status"], "starting");
    }
    let (status, body) = api
        .post(&format!("/servers/{gone}/actions/poweroff"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::LOCKED,
        "a booting server is locked: {body}"
    );
    assert!(api.fake.vanish(gone));
    let (status, _) = api.get(&format!("/servers/{gone}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = api.get("/servers").await;
    assert_eq!(body["servers"].as_array().unwrap().len(), 1);
    assert_eq!(api.fake.create_count(), 2);
}

#[tokio::test]
async fn power_actions_change_the_status() {
    let api = Api::default().await;
    let id = api.create("powered", json!({})).await["server"]["id"]
        .as_i64()
        .unwrap();
    let (status, body) = api
        .post(&format!("/servers/{id}/actions/poweroff"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(action(&body["action"]).command, "stop_server");
    assert_eq!(api.fake.server(id).unwrap().status, ServerStatus::Off);
    let (status, _) = api
        .post(&format!("/servers/{id}/actions/poweron"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(api.fake.server(id).unwrap().status, ServerStatus::Running);
    let (status, _) = api
        .post(&format!("/servers/{id}/actions/explode"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn subscribers_receive_each_created_server_with_its_user_data() {
    let api = Api::default().await;
    let mut created = api.fake.subscribe_created();
    let user_data = "#cloud-config\nwrite_files: []\n";
    api.post(
        "/servers",
        json!({ "name": "host-1", "server_type": "cpx11", "image": "ubuntu-24.04", "user_data": user_data }),
    )
    .await;
    let server = tokio::time::timeout(Duration::from_secs(5), created.recv())
        .await
        .expect("a notification")
        .unwrap();
    assert_eq!(server.name, "host-1");
    assert_eq!(server.user_data.as_deref(), Some(user_data));
    assert_eq!(server.server_type, "cpx11");
    assert_eq!(server.image, "ubuntu-24.04");
    assert_eq!(server.location, "fsn1");
    assert_eq!(Some(&server), api.fake.servers().first());
}

#[tokio::test]
async fn the_same_seed_gives_the_same_ids_addresses_and_correlation_ids() {
    async fn run(seed: u64) -> Vec<(i64, String, String)> {
        let api = Api::start(FakeHetznerConfig {
            seed,
            polls_until_running: 0,
            ..Default::default()
        })
        .await;
        let mut out = Vec::new();
        for i in 0..3 {
            let response = api
                .http
                .post(api.url("/servers"))
                .bearer_auth(api.fake.token())
                .json(&json!({ "name": format!("s{i}"), "server_type": "cx22", "image": "debian-12" }))
                .send()
                .await
                .unwrap();
            let correlation = response.headers()["x-correlation-id"]
                .to_str()
                .unwrap()
                .to_string();
            let body: Value = response.json().await.unwrap();
            out.push((
                body["server"]["id"].as_i64().unwrap(),
                body["server"]["public_net"]["ipv4"]["ip"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                correlation,
            ));
        }
        out
    }
    assert_eq!(run(42).await, run(42).await);
    assert_ne!(run(42).await, run(43).await);
}

#[tokio::test]
async fn catalogue_routes_resolve_names_like_the_hcloud_cli_does() {
    let api = Api::default().await;
    let (status, body) = api.get("/server_types?name=cx22").await;
    assert_eq!(status, StatusCode::OK);
    let types: Vec<ServerType> = serde_json::from_value(body["server_types"].clone()).unwrap();
    assert_eq!(types.len(), 1);
    let (status, body) = api.get(&format!("/server_types/{}", types[0].id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["server_type"]["name"], "cx22");

    let (_, body) = api.get("/images?name=debian-12&architecture=arm").await;
    let images: Vec<Image> = serde_json::from_value(body["images"].clone()).unwrap();
    assert_eq!(images[0].architecture, "arm");
    let (_, body) = api.get("/locations?name=hel1").await;
    let locations: Vec<Location> = serde_json::from_value(body["locations"].clone()).unwrap();
    assert_eq!(locations[0].country, "FI");
    let (_, body) = api.get("/datacenters").await;
    let datacenters: Vec<Datacenter> = serde_json::from_value(body["datacenters"].clone()).unwrap();
    assert!(datacenters.iter().any(|d| d.name == "fsn1-dc14"));
    let (status, body) = api.get("/images/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
}
