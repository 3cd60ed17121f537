//! `matrix-console demo`: a simulated fleet on this machine, for trying the console without a
//! platform.
//!
//! [`start`] stands up what `matrix-sim serve` does, in-process: the real control plane with a fake
//! Hetzner, a fake R2 and the harness Postgres (a Docker image when there is one, otherwise the local
//! PostgreSQL binaries), `hosts` simulated customer hosts with a workload, hourly backups and
//! occasional crashes, and a task ticking the fleet once a real second (one simulated minute per
//! tick). The console then attaches through [`DemoFleet::client`] like it would to a real platform.
//!
//! Guarantees: [`DemoFleet::stop`] (or dropping the [`DemoFleet`]) stops the ticking task, which drops
//! the fleet: the control plane, the fakes and the hosts stop with it. The harness Postgres server is
//! per process and dies with the process. Nothing here prints: harness logs go to `tracing`, which the
//! binary sends to the log file.

use std::time::Duration;

use control_plane::secret::Secret;
use sim::fleet::{FleetConfig, SimFleet};
use sim::host::HostMode;
use sim::live::{LiveConfig, LiveFleet};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::PlatformClient;

/// Real time per tick; each tick is one simulated minute.
const TICK: Duration = Duration::from_secs(1);
/// Above this many hosts, hosts run without a database each (synthetic backups), as `matrix-sim`.
const LIGHT_ABOVE: usize = 50;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub hosts: usize,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self { hosts: 24, seed: 1 }
    }
}

/// A running demo fleet.
pub struct DemoFleet {
    platform_url: String,
    token: Secret,
    /// Tells the ticking task to stop; dropped (= stop) with the `DemoFleet`.
    stop: Option<oneshot::Sender<()>>,
    /// The ticking task, which owns the fleet; awaited by [`DemoFleet::stop`], aborted on drop.
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for DemoFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoFleet")
            .field("platform_url", &self.platform_url)
            .finish_non_exhaustive()
    }
}

/// Starts the fleet, provisions `options.hosts` users and starts ticking. Returns once the platform
/// answers; the hosts boot, register and start backing up over the following ticks.
pub async fn start(options: DemoOptions) -> anyhow::Result<DemoFleet> {
    let mode = if options.hosts > LIGHT_ABOVE {
        HostMode::Light
    } else {
        HostMode::Postgres
    };
    let fleet = SimFleet::start(
        FleetConfig {
            seed: options.seed,
            mode,
            ..FleetConfig::default()
        },
        |settings| {
            // As `matrix-sim serve`: intervals that make sense at one simulated minute per tick.
            settings.heartbeat_interval = Duration::from_secs(60);
            settings.backup_scan_interval = Duration::from_secs(10 * 60);
        },
    )
    .await?;
    let live = LiveFleet::start(
        fleet,
        LiveConfig {
            hosts: options.hosts,
            ..LiveConfig::default()
        },
    )
    .await?;
    let platform_url = live.fleet.platform_url.clone();
    let token = Secret::new(live.fleet.config.platform_secret.clone());
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(tick_until_stopped(live, stop_rx));
    tracing::info!(hosts = options.hosts, seed = options.seed, %platform_url, "demo fleet started");
    Ok(DemoFleet {
        platform_url,
        token,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

async fn tick_until_stopped(mut live: LiveFleet, mut stop: oneshot::Receiver<()>) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; `LiveFleet::start` already ticked once
    loop {
        tokio::select! {
            // Either a stop or a dropped sender (the `DemoFleet` went away) ends the loop; a tick in
            // progress is abandoned, which is fine for a fleet about to be dropped.
            _ = &mut stop => break,
            result = async {
                ticker.tick().await;
                live.tick().await
            } => {
                if let Err(e) = result {
                    tracing::warn!(error = format!("{e:#}"), "demo fleet tick failed");
                }
            }
        }
    }
    drop(live);
    tracing::info!("demo fleet stopped");
}

impl DemoFleet {
    /// The control plane's base URL (`http://127.0.0.1:<port>`).
    pub fn platform_url(&self) -> &str {
        &self.platform_url
    }

    /// The operator token of the simulated platform.
    pub fn token(&self) -> Secret {
        self.token.clone()
    }

    /// A client of the simulated platform.
    pub fn client(&self, timeout: Duration) -> anyhow::Result<PlatformClient> {
        PlatformClient::new(
            url::Url::parse(&self.platform_url)?,
            self.token.clone(),
            timeout,
        )
    }

    /// Stops ticking and drops the fleet, waiting until that happened.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DemoFleet {
    fn drop(&mut self) {
        // Without `stop`: abort, which drops the task's future and with it the fleet.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
