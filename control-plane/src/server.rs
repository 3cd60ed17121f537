//! Wiring: build an [`App`] from configuration, and run the API and the reconciler until shutdown.
//!
//! `run(listener, …, shutdown)` is what the binary, the tests and the simulator all call: the caller
//! binds the listener (port 0 in tests), and passes a future that resolves when it is time to stop.
//! In-flight requests finish (graceful shutdown); the reconciler stops between steps — everything it
//! leaves half-done is resumable by design.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tracing::info;
use uuid::Uuid;

use crate::api::{self, ApiState};
use crate::app::App;
use crate::clock::{Clock, IdSource};
use crate::cloud_init::PlatformBootstrap;
use crate::config::{Config, Settings};
use crate::hetzner::{HetznerClient, HetznerConfig};
use crate::metrics::Metrics;
use crate::r2::{R2Client, R2Config};
use crate::reconciler::Reconciler;
use crate::secret::Secret;

/// Provider endpoints and credentials (what `Config` carries besides the settings).
#[derive(Debug, Clone)]
pub struct Providers {
    pub hetzner_api_url: url::Url,
    pub hetzner_token: Secret,
    pub r2_endpoint: url::Url,
    pub r2_bucket: String,
    pub r2_access_key_id: Secret,
    pub r2_secret_access_key: Secret,
}

impl Providers {
    pub fn from_config(c: &Config) -> Self {
        Self {
            hetzner_api_url: c.hetzner_api_url.clone(),
            hetzner_token: c.hetzner_token.clone(),
            r2_endpoint: c.r2_endpoint.clone(),
            r2_bucket: c.r2_bucket.clone(),
            r2_access_key_id: c.r2_access_key_id.clone(),
            r2_secret_access_key: c.r2_secret_access_key.clone(),
        }
    }
}

/// Builds the application from its parts. The clock and id source are the simulator's seams.
pub fn build_app(
    db: PgPool,
    providers: &Providers,
    settings: Settings,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
) -> anyhow::Result<App> {
    let metrics = Arc::new(Metrics::new());
    let hetzner = HetznerClient::new(
        HetznerConfig {
            base_url: providers.hetzner_api_url.clone(),
            token: providers.hetzner_token.clone(),
            timeout: Duration::from_secs(10),
            // Never wait inside a call: steps are rescheduled for when budget returns (see reconciler).
            max_rate_limit_wait: settings.provider_rate_limit_wait,
        },
        clock.clone(),
        metrics.clone(),
    )
    .map_err(|e| anyhow::anyhow!("hetzner client: {e:?}"))?;
    let r2 = R2Client::new(
        R2Config {
            endpoint: providers.r2_endpoint.clone(),
            bucket: providers.r2_bucket.clone(),
            access_key_id: providers.r2_access_key_id.expose().to_owned(),
            secret_access_key: providers.r2_secret_access_key.clone(),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        },
        metrics.clone(),
    );
    let bootstrap = PlatformBootstrap {
        public_url: settings.public_url.clone(),
        heartbeat_interval_seconds: settings.heartbeat_interval.as_secs(),
        r2_endpoint: providers.r2_endpoint.clone(),
        r2_bucket: providers.r2_bucket.clone(),
        r2_access_key_id: providers.r2_access_key_id.clone(),
        r2_secret_access_key: providers.r2_secret_access_key.clone(),
    };
    let replica_id = Uuid::from_bytes(ids.secret_bytes()[..16].try_into().expect("16 bytes"));
    Ok(App {
        db,
        hetzner,
        r2,
        clock,
        ids,
        settings: Arc::new(settings),
        bootstrap: Arc::new(bootstrap),
        metrics,
        activate_steps: Arc::new(Notify::new()),
        replica_id,
    })
}

/// Serves the API on `listener` and, when `with_reconciler`, runs the reconciler loop, until
/// `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    app: App,
    with_reconciler: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let reconciler = Reconciler::new(app.clone());
    // One signal, two listeners: the HTTP server and the reconciler loop.
    let (stop_tx, stop_rx) = watch::channel(false);
    let reconciler_task = with_reconciler.then(|| {
        let mut rx = stop_rx.clone();
        let r = reconciler.clone();
        tokio::spawn(async move {
            r.run(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
        })
    });
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let router = api::router(ApiState { app, reconciler });
    info!(addr = ?listener.local_addr().ok(), "platform API listening");
    let mut rx = stop_rx;
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })
        .await?;
    if let Some(task) = reconciler_task {
        let _ = task.await;
    }
    info!("platform API stopped");
    Ok(())
}
