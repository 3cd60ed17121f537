//! [`SimFleet`]: everything around the real control plane, in one process.
//!
//! It starts (in this order) a fresh database on the harness Postgres, the fake Hetzner and the fake
//! R2 on the harness clock, and the real control plane (`control_plane::server::run`, unmodified) on
//! 127.0.0.1 with a [`ManualClock`] and a seeded id source. Every server the fake creates becomes a
//! [`SimHost`] booted from its `user_data` ([`SimFleet::boot_new_hosts`]). Nothing in the control
//! plane knows it is simulated: the seams are configuration, the clock and the id source.
//!
//! The reconciler loop is not started: the harness drives it with [`SimFleet::reconcile`], so a run
//! is a sequence of explicit steps (replayable from the seed). Dropping the fleet stops the server,
//! the fakes and every host (their databases are left to the per-process cluster, which goes with
//! the process).
//!
//! The control plane reaches its database, the fake Hetzner and the fake R2 through transport fault
//! proxies ([`SimFleet::db_proxy`], [`SimFleet::hetzner_proxy`], [`SimFleet::r2_proxy`]; hosts reach
//! R2 through the same one), so a scenario can take "the control plane's Postgres" down and bring it
//! back without touching the shared cluster, or cut, stall or slow a provider's connections; [`SimFleet::restart_control_plane`] stops the API server and builds a new `App`
//! (same database, clock, id stream and providers) on the same address, as a process restart would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use control_plane::app::App;
use control_plane::clock::{Clock, ManualClock, SeededIds};
use control_plane::config::Settings;
use control_plane::ids::ImageVersion;
use control_plane::reconciler::{PassReport, Reconciler};
use control_plane::secret::Secret;
use control_plane::server::{self, Providers};
use control_plane::store;
use serde::Serialize;
use tokio::sync::{broadcast, oneshot};

use crate::fake_hetzner::{FakeHetzner, FakeHetznerConfig, FakeServer};
use crate::fake_r2::{FakeR2, FakeR2Config};
use crate::host::{HostContext, HostMode, SimHost};
use crate::postgres::{PgCluster, TestDatabase};
use crate::proxy::FaultProxy;

pub const BUCKET: &str = "matrix-fleet-sim";

/// How to build a fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub seed: u64,
    pub mode: HostMode,
    pub platform_secret: String,
    pub start: DateTime<Utc>,
    pub hetzner_rate_limit: u32,
    pub hetzner_refill_per_second: f64,
    /// Give the control plane a Postgres server of its own (started for this fleet, stopped with
    /// it) instead of a database on the process-wide one, so [`SimFleet::restart_database_server`]
    /// can really restart it. Costs a server start (about a second with local binaries).
    pub own_database_server: bool,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            mode: HostMode::Postgres,
            platform_secret: "sim-platform-secret-0123456789".into(),
            start: Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap(),
            hetzner_rate_limit: 3600,
            hetzner_refill_per_second: 1.0,
            own_database_server: false,
        }
    }
}

/// What an external tool needs to attach to a running fleet (printed by `matrix-sim serve`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub platform_url: String,
    pub platform_token: String,
    pub hetzner_url: String,
    pub hetzner_token: String,
    pub r2_endpoint: String,
    pub r2_bucket: String,
    pub r2_access_key_id: String,
    pub r2_secret_access_key: String,
    pub database_url: String,
}

pub struct SimFleet {
    pub config: FleetConfig,
    pub clock: ManualClock,
    pub app: App,
    pub reconciler: Reconciler,
    pub platform_url: String,
    pub hetzner: FakeHetzner,
    pub r2: FakeR2,
    pub db: TestDatabase,
    pub http: reqwest::Client,
    /// Hosts by Hetzner server id. std mutex: never held across an await.
    hosts: Mutex<BTreeMap<i64, Arc<SimHost>>>,
    /// Servers created since the last `boot_new_hosts` (the fake's broadcast).
    created: Mutex<broadcast::Receiver<FakeServer>>,
    /// Each host's "disk"; removed with the fleet.
    disk: tempfile::TempDir,
    /// Dropping it stops the API server.
    shutdown: Option<oneshot::Sender<()>>,
    /// The API server task, awaited on restart so the port is free before it is bound again.
    server_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Between the control plane and its database: `Down`/`Reset` is "Postgres restarted".
    pub db_proxy: FaultProxy,
    /// The control plane's own Postgres server, with [`FleetConfig::own_database_server`].
    own_cluster: Option<PgCluster>,
    /// Between the control plane and the fake Hetzner (the control plane's Hetzner URL dials it).
    pub hetzner_proxy: FaultProxy,
    /// Between the control plane (and the hosts, whose cloud-init carries the control plane's R2
    /// endpoint) and the fake R2: an R2 outage as both sides see it.
    pub r2_proxy: FaultProxy,
    /// `db.url` rewritten to go through `db_proxy` (what the control plane's pool dials).
    app_db_url: String,
    /// The id stream, shared across control-plane restarts so ids continue rather than repeat.
    ids: Arc<SeededIds>,
    providers: Providers,
}

/// A fresh database holding the control plane's schema: cloned from a template migrated once per
/// process, so each test or scenario starts from an empty registry in milliseconds.
pub async fn control_plane_database(cluster: &PgCluster) -> anyhow::Result<TestDatabase> {
    Ok(cluster
        .database_from_template("matrix_cp_template", |url| async move {
            let pool = store::connect(&url, 2)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store::migrate(&pool).await?;
            pool.close().await;
            Ok(())
        })
        .await?)
}

impl SimFleet {
    /// Stands everything up. `tweak` adjusts the control plane's settings (compressed intervals).
    pub async fn start(
        config: FleetConfig,
        tweak: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        let clock = ManualClock::new(config.start);
        let time = {
            let clock = clock.clone();
            Arc::new(move || clock.now()) as crate::fake_hetzner::TimeSource
        };
        let hetzner = FakeHetzner::start(FakeHetznerConfig {
            token: format!("sim-hetzner-token-{}", config.seed),
            rate_limit: config.hetzner_rate_limit,
            refill_per_second: config.hetzner_refill_per_second,
            now: time.clone(),
            seed: config.seed,
            ..FakeHetznerConfig::default()
        })
        .await?;
        let r2 = FakeR2::start(FakeR2Config {
            access_key_id: format!("sim-r2-key-{}", config.seed),
            secret_access_key: format!("sim-r2-secret-{}", config.seed),
            buckets: vec![BUCKET.into()],
            seed: config.seed,
            now: time,
            ..FakeR2Config::default()
        })
        .await?;
        let own_cluster = if config.own_database_server {
            Some(PgCluster::start().await?)
        } else {
            None
        };
        let cluster = match &own_cluster {
            Some(own) => own,
            None => PgCluster::shared().await?,
        };
        let db = control_plane_database(cluster).await?;
        let (db_proxy, app_db_url) = proxied_database_url(&db.url).await?;
        let pool = store::connect(&app_db_url, 16)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let platform_url = format!("http://{}", listener.local_addr()?);
        let mut settings = Settings::with_defaults(
            url::Url::parse(&platform_url)?,
            ImageVersion::parse("2026.11.1").expect("valid"),
            Some(Secret::new(config.platform_secret.clone())),
        );
        tweak(&mut settings);
        let hetzner_proxy = FaultProxy::start(hetzner.addr()).await?;
        let r2_proxy = FaultProxy::start(r2.addr()).await?;
        let providers = Providers {
            hetzner_api_url: url::Url::parse(&format!("http://{}/v1", hetzner_proxy.addr()))?,
            hetzner_token: Secret::new(hetzner.token()),
            r2_endpoint: url::Url::parse(&format!("http://{}", r2_proxy.addr()))?,
            r2_bucket: BUCKET.into(),
            r2_access_key_id: Secret::new(r2.access_key_id()),
            r2_secret_access_key: Secret::new(r2.secret_access_key()),
        };
        let ids = Arc::new(SeededIds::new(config.seed));
        let app = server::build_app(
            pool,
            &providers,
            settings,
            Arc::new(clock.clone()),
            ids.clone(),
        )?;
        let reconciler = Reconciler::new(app.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server_task = tokio::spawn(server::run(listener, app.clone(), false, async move {
            let _ = rx.await;
        }));
        let created = Mutex::new(hetzner.subscribe_created());
        Ok(Self {
            config,
            clock,
            app,
            reconciler,
            platform_url,
            hetzner,
            r2,
            db,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            hosts: Mutex::new(BTreeMap::new()),
            created,
            disk: tempfile::tempdir()?,
            shutdown: Some(tx),
            server_task: Some(server_task),
            db_proxy,
            own_cluster,
            hetzner_proxy,
            r2_proxy,
            app_db_url,
            ids,
            providers,
        })
    }

    /// Stops the API server, then starts a new control plane as a restarted process would: a new
    /// pool to the same database, a new `App` with the same settings, clock, providers and the id
    /// stream continuing where it was, served on the same address (hosts keep their URL). Whatever
    /// the old process left half-done is the reconciler's to settle.
    pub async fn restart_control_plane(&mut self) -> anyhow::Result<()> {
        self.stop_control_plane().await;
        self.start_control_plane().await
    }

    /// Stops the API server (graceful: in-flight requests finish) and closes its pool. Until
    /// [`SimFleet::start_control_plane`], the platform address refuses connections and
    /// [`SimFleet::reconcile`] must not be called.
    pub async fn stop_control_plane(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.server_task.take() {
            // Graceful shutdown waits for in-flight requests; bounded in case one hangs.
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        self.app.db.close().await;
    }

    /// Really restarts the control plane's Postgres server (fast shutdown: every connection is cut,
    /// then the same data directory or container starts again on the same port). Only for a fleet
    /// started with [`FleetConfig::own_database_server`]: the process-wide server is shared.
    pub async fn restart_database_server(&self) -> anyhow::Result<()> {
        let cluster = self.own_cluster.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "this fleet shares the process-wide Postgres; start it with own_database_server"
            )
        })?;
        cluster.restart().await?;
        Ok(())
    }

    /// Whether the API server is serving (false between stop and start).
    pub fn control_plane_running(&self) -> bool {
        self.server_task.is_some()
    }

    /// Starts a new control plane on the platform address (see `restart_control_plane`). A no-op
    /// when one is running.
    pub async fn start_control_plane(&mut self) -> anyhow::Result<()> {
        if self.server_task.is_some() {
            return Ok(());
        }
        let addr: std::net::SocketAddr = self
            .platform_url
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| anyhow::anyhow!("platform address: {e}"))?;
        // The old listener is gone once its task ended; the OS may still hold the port briefly.
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let listener = listener.ok_or_else(|| anyhow::anyhow!("could not rebind {addr}"))?;
        let pool = store::connect(&self.app_db_url, 16)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let settings = (*self.app.settings).clone();
        let app = server::build_app(
            pool,
            &self.providers,
            settings,
            Arc::new(self.clock.clone()),
            self.ids.clone(),
        )?;
        let (tx, rx) = oneshot::channel::<()>();
        self.server_task = Some(tokio::spawn(server::run(
            listener,
            app.clone(),
            false,
            async move {
                let _ = rx.await;
            },
        )));
        self.shutdown = Some(tx);
        self.reconciler = Reconciler::new(app.clone());
        self.app = app;
        Ok(())
    }

    /// The secrets of this fleet that must never appear in a log line or an API response: the
    /// platform secret, the provider credentials and every host's tokens and database password.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![
            self.config.platform_secret.clone(),
            self.hetzner.token().to_owned(),
            self.r2.secret_access_key().to_owned(),
        ];
        for host in self.hosts() {
            out.push(host.env.registration_token.expose().to_owned());
            out.push(host.env.heartbeat_token.expose().to_owned());
            out.push(host.env.postgres_password.expose().to_owned());
        }
        out.retain(|s| s.len() >= 8);
        out
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub async fn reconcile(&self) -> PassReport {
        self.reconciler.run_pass().await
    }

    /// Boots a host for every server created since the last call, in creation order.
    pub async fn boot_new_hosts(&self) -> anyhow::Result<Vec<Arc<SimHost>>> {
        let mut fresh = Vec::new();
        loop {
            let next = self
                .created
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .try_recv();
            match next {
                Ok(server) => fresh.push(server),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        let ctx = HostContext {
            mode: self.config.mode,
            database_url: None,
            disk_root: self.disk.path().to_owned(),
            http: self.http.clone(),
        };
        let mut booted = Vec::new();
        for server in fresh {
            let database_url = match self.config.mode {
                HostMode::Postgres => Some(PgCluster::shared().await?.fresh_database().await?.url),
                HostMode::Light => None,
            };
            let user_data = server.user_data.as_deref().unwrap_or_default();
            let host = Arc::new(SimHost::boot(
                server.id,
                server.ipv4,
                user_data,
                &ctx,
                database_url,
            )?);
            self.hosts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(server.id, host.clone());
            booted.push(host);
        }
        Ok(booted)
    }

    /// The host of a machine id (the most recent one booted with that id).
    pub fn host_of(&self, machine_id: &str) -> Option<Arc<SimHost>> {
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .rev()
            .find(|h| h.env.machine_id == machine_id)
            .cloned()
    }

    pub fn hosts(&self) -> Vec<Arc<SimHost>> {
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// A request to the platform API with the operator token.
    pub fn platform(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.platform_url, path))
            .bearer_auth(&self.config.platform_secret)
    }

    pub fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            platform_url: self.platform_url.clone(),
            platform_token: self.config.platform_secret.clone(),
            hetzner_url: self.hetzner.base_url(),
            hetzner_token: self.hetzner.token().to_owned(),
            r2_endpoint: self.r2.endpoint(),
            r2_bucket: BUCKET.into(),
            r2_access_key_id: self.r2.access_key_id().to_owned(),
            r2_secret_access_key: self.r2.secret_access_key().to_owned(),
            database_url: self.db.url.clone(),
        }
    }
}

/// A proxy in front of the database server of `url`, and `url` rewritten to dial the proxy.
async fn proxied_database_url(url: &str) -> anyhow::Result<(FaultProxy, String)> {
    let mut parsed = url::Url::parse(url)?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("database url has no host"))?
        .to_owned();
    let port = parsed.port().unwrap_or(5432);
    let upstream = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| anyhow::anyhow!("database host does not resolve to IPv4"))?;
    let proxy = FaultProxy::start(upstream).await?;
    parsed
        .set_host(Some("127.0.0.1"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    parsed
        .set_port(Some(proxy.addr().port()))
        .map_err(|_| anyhow::anyhow!("database url cannot take a port"))?;
    Ok((proxy, parsed.to_string()))
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
