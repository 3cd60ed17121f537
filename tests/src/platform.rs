//! [`TestPlatform`]: one control plane per test, over HTTP, against a fresh database.
//!
//! Each test gets its own database cloned from a migrated template on the process-wide Postgres
//! (`sim::postgres`), its own fake Hetzner and fake R2 (`sim::fake_r2`, real S3 wire format), and a `matrix-platform` API server on
//! 127.0.0.1:0 with a [`ManualClock`]. The reconciler loop is NOT started: tests activate it with
//! [`TestPlatform::reconcile`], so nothing happens behind a test's back.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use control_plane::app::App;
use control_plane::clock::{ManualClock, SeededIds};
use control_plane::cloud_init::parse_env_lines;
use control_plane::config::Settings;
use control_plane::ids::ImageVersion;
use control_plane::reconciler::{PassReport, Reconciler};
use control_plane::secret::Secret;
use control_plane::server::{self, Providers};
use control_plane::store;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sim::fake_hetzner::{FakeHetzner, FakeHetznerConfig, FakeServer, ServerStatus};
use sim::postgres::{PgCluster, TestDatabase};
use sim::proxy::FaultProxy;
use tokio::sync::oneshot;

use crate::test_r2::TestR2;

pub const PLATFORM_SECRET: &str = "test-platform-secret-0123456789";
pub const BUCKET: &str = "matrix-test";
pub const R2_SECRET: &str = "r2-secret-key-never-shown";
pub const R2_ACCESS_KEY: &str = "AKIDTEST";
pub const HETZNER_TOKEN: &str = "hetzner-token-never-shown";

/// Knobs a test may turn before start.
#[derive(Debug, Clone)]
pub struct Options {
    pub platform_secret: Option<String>,
    pub rate_limit: u32,
    pub refill_per_second: f64,
    pub tweak: fn(&mut Settings),
    /// Put a fault proxy between the control plane and its Postgres (`TestPlatform::db_proxy`).
    pub db_through_proxy: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            platform_secret: Some(PLATFORM_SECRET.into()),
            rate_limit: 3600,
            refill_per_second: 1.0,
            tweak: |_| {},
            db_through_proxy: false,
        }
    }
}

pub struct TestPlatform {
    pub app: App,
    pub reconciler: Reconciler,
    pub base_url: String,
    pub clock: ManualClock,
    pub hetzner: FakeHetzner,
    pub s3: TestR2,
    pub http: reqwest::Client,
    pub db: TestDatabase,
    /// Present with `Options::db_through_proxy`: flip it to cut the control plane off its database.
    pub db_proxy: Option<FaultProxy>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap()
}

/// A fresh, migrated database on the shared cluster.
pub async fn fresh_db() -> TestDatabase {
    let cluster = PgCluster::shared().await.expect(
        "postgres for tests (see README: install postgresql-15 or set MATRIX_SIM_DATABASE_URL)",
    );
    sim::fleet::control_plane_database(cluster)
        .await
        .expect("template database")
}

impl TestPlatform {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let clock = ManualClock::new(start_time());
        let fake_clock = clock.clone();
        let hetzner = FakeHetzner::start(FakeHetznerConfig {
            token: HETZNER_TOKEN.into(),
            rate_limit: opts.rate_limit,
            refill_per_second: opts.refill_per_second,
            now: Arc::new(move || control_plane::clock::Clock::now(&fake_clock)),
            ..FakeHetznerConfig::default()
        })
        .await
        .expect("fake hetzner");
        let s3 = TestR2::start(R2_ACCESS_KEY, R2_SECRET, BUCKET).await;
        let db = fresh_db().await;
        let (db_proxy, db_url) = if opts.db_through_proxy {
            let mut url = url::Url::parse(&db.url).unwrap();
            let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
                .parse()
                .unwrap();
            let proxy = FaultProxy::start(upstream).await.unwrap();
            url.set_port(Some(proxy.addr().port())).unwrap();
            (Some(proxy), url.to_string())
        } else {
            (None, db.url.clone())
        };
        let pool = store::connect(&db_url, 16).await.expect("connect");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = Settings::with_defaults(
            url::Url::parse(&base_url).unwrap(),
            ImageVersion::parse("2026.11.1").unwrap(),
            opts.platform_secret.map(Secret::new),
        );
        (opts.tweak)(&mut settings);
        let providers = Providers {
            hetzner_api_url: url::Url::parse(&hetzner.base_url()).unwrap(),
            hetzner_token: Secret::new(HETZNER_TOKEN),
            r2_endpoint: url::Url::parse(&s3.endpoint()).unwrap(),
            r2_bucket: BUCKET.into(),
            r2_access_key_id: Secret::new(R2_ACCESS_KEY),
            r2_secret_access_key: Secret::new(R2_SECRET),
        };
        let app = server::build_app(
            pool,
            &providers,
            settings,
            Arc::new(clock.clone()),
            Arc::new(SeededIds::new(42)),
        )
        .unwrap();
        let reconciler = Reconciler::new(app.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(server::run(listener, app.clone(), false, async move {
            let _ = rx.await;
        }));
        Self {
            app,
            reconciler,
            base_url,
            clock,
            hetzner,
            s3,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            db,
            db_proxy,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the API server (graceful) and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.server.take() {
            let _ = task.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A request with the platform secret.
    pub fn platform(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(PLATFORM_SECRET)
    }

    pub async fn provision(&self, user: &str, handle: &str) -> Response {
        self.platform(Method::POST, "/vps/provision")
            .json(&json!({"clerkUserId": user, "handle": handle}))
            .send()
            .await
            .unwrap()
    }

    pub async fn provision_slot(&self, user: &str, handle: &str, slot: &str) -> Response {
        self.platform(Method::POST, "/vps/provision")
            .json(&json!({"clerkUserId": user, "handle": handle, "runtimeSlot": slot}))
            .send()
            .await
            .unwrap()
    }

    /// `GET <path>` with the platform secret, expecting 200 and JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.platform(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn recover(&self, user: &str, allow_empty: bool) -> Response {
        self.platform(Method::POST, "/vps/recover")
            .json(&json!({"clerkUserId": user, "allowEmpty": allow_empty}))
            .send()
            .await
            .unwrap()
    }

    pub async fn status(&self, machine_id: &str) -> Value {
        let r = self
            .platform(Method::GET, &format!("/vps/{machine_id}/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "status of {machine_id}");
        r.json().await.unwrap()
    }

    pub async fn status_code(&self, machine_id: &str) -> u16 {
        self.platform(Method::GET, &format!("/vps/{machine_id}/status"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn delete(&self, machine_id: &str) -> Response {
        self.platform(Method::DELETE, &format!("/vps/{machine_id}"))
            .send()
            .await
            .unwrap()
    }

    pub async fn events(&self, machine_id: &str) -> Vec<Value> {
        let r = self
            .platform(Method::GET, &format!("/vps/{machine_id}/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        body["events"].as_array().unwrap().clone()
    }

    /// The server is gone at the provider, or on its way (`deleting`).
    pub fn server_gone(&self, id: i64) -> bool {
        self.hetzner
            .server(id)
            .is_none_or(|s| s.status == ServerStatus::Deleting)
    }

    /// The server exists and is not being deleted.
    pub fn server_alive(&self, id: i64) -> bool {
        !self.server_gone(id)
    }

    pub async fn reconcile(&self) -> PassReport {
        self.reconciler.run_pass().await
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        control_plane::clock::Clock::now(&self.clock)
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// The servers the fake holds for a machine id label.
    pub fn servers_of(&self, machine_id: &str) -> Vec<FakeServer> {
        self.hetzner
            .servers()
            .into_iter()
            .filter(|s| s.labels.get("machine_id").map(String::as_str) == Some(machine_id))
            .collect()
    }

    /// Registers the way a booted host would: from the cloud-init the provider received.
    pub async fn register_as_host(&self, server: &FakeServer) -> Response {
        let env = parse_env_lines(server.user_data.as_deref().expect("server has user_data"));
        let body = json!({
            "machineId": env["MATRIX_MACHINE_ID"],
            "hetznerServerId": server.id,
            "publicIPv4": server.ipv4.to_string(),
            "imageVersion": env["MATRIX_IMAGE_VERSION"],
        });
        self.http
            .post(&env["MATRIX_REGISTER_URL"])
            .bearer_auth(&env["MATRIX_REGISTRATION_TOKEN"])
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Provisions and registers a machine; returns its id and server.
    pub async fn running_machine(&self, user: &str, handle: &str) -> (String, FakeServer) {
        let r = self.provision(user, handle).await;
        assert_eq!(r.status(), 202);
        let body: Value = r.json().await.unwrap();
        let id = body["machineId"].as_str().unwrap().to_owned();
        let server = self.servers_of(&id).pop().expect("server created");
        let reg = self.register_as_host(&server).await;
        assert_eq!(reg.status(), 200, "register");
        (id, server)
    }

    /// Sends a heartbeat with the per-host token from the server's cloud-init.
    pub async fn heartbeat_as_host(&self, server: &FakeServer, machine_id: &str) -> Response {
        let env = parse_env_lines(server.user_data.as_deref().unwrap());
        self.http
            .post(&env["MATRIX_HEARTBEAT_URL"])
            .bearer_auth(&env["MATRIX_HEARTBEAT_TOKEN"])
            .json(&json!({"machineId": machine_id, "imageVersion": env["MATRIX_IMAGE_VERSION"], "healthy": true}))
            .send()
            .await
            .unwrap()
    }

    /// Puts a valid backup in S3 for `user` (primary slot): a snapshot and the `latest` pointer.
    pub fn seed_backup(&self, user: &str, at: DateTime<Utc>, body: &[u8]) -> String {
        let rel = format!("system/db/snapshots/{}.dump", at.format("%Y-%m-%dT%H%MZ"));
        self.s3.put(
            BUCKET,
            &format!("matrixos-sync/{user}/{rel}"),
            body.to_vec(),
        );
        self.s3.put(
            BUCKET,
            &format!("matrixos-sync/{user}/system/db/latest"),
            format!("{rel}\n").into_bytes(),
        );
        rel
    }

    /// Raw row columns, for assertions a response does not show.
    pub async fn row(&self, machine_id: &str) -> Value {
        let row: (Value,) =
            sqlx::query_as("SELECT to_jsonb(m) FROM user_machines m WHERE machine_id = $1::uuid")
                .bind(machine_id)
                .fetch_one(&self.app.db)
                .await
                .unwrap();
        row.0
    }

    pub async fn pending_deletions(&self) -> Vec<(i64, i32)> {
        sqlx::query_as("SELECT hetzner_server_id, attempts FROM provider_deletions WHERE done_at IS NULL ORDER BY id")
            .fetch_all(&self.app.db)
            .await
            .unwrap()
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
