//! Auto mode: a [`SimFleet`] that runs by itself, for the console demo and `matrix-sim serve`.
//!
//! Every tick moves the harness clock one simulated minute, then: new servers boot hosts (which run
//! their gate and register), running hosts heartbeat, every simulated hour each host writes rows and
//! backs up, occasionally (seeded) a host crashes, and the reconciler runs. An operator attached
//! through the API sees a live fleet and can recover the crashed hosts.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::Method;
use serde_json::json;

use crate::fleet::SimFleet;

/// Knobs of the live fleet.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub hosts: usize,
    /// Chance per tick that one running host crashes.
    pub crash_probability: f64,
    /// Simulated time per tick.
    pub tick: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            hosts: 24,
            crash_probability: 0.01,
            tick: Duration::from_secs(60),
        }
    }
}

/// Drives a fleet tick by tick.
pub struct LiveFleet {
    pub fleet: SimFleet,
    config: LiveConfig,
    rng: ChaCha8Rng,
    ticks: u64,
}

impl LiveFleet {
    /// Provisions `config.hosts` users and boots their hosts.
    pub async fn start(fleet: SimFleet, config: LiveConfig) -> anyhow::Result<Self> {
        let seed = fleet.config.seed;
        let mut live = Self {
            fleet,
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            ticks: 0,
        };
        for i in 0..live.config.hosts {
            let r = live
                .fleet
                .platform(Method::POST, "/vps/provision")
                .json(&json!({"clerkUserId": format!("user_{i:04}"), "handle": format!("user-{i:04}")}))
                .send()
                .await?;
            anyhow::ensure!(
                r.status() == 202,
                "provision of user_{i:04} answered {}",
                r.status()
            );
        }
        live.tick().await?;
        Ok(live)
    }

    /// One step of simulated time.
    pub async fn tick(&mut self) -> anyhow::Result<()> {
        self.ticks += 1;
        self.fleet.advance(self.config.tick);
        let now = self.fleet.now();
        for host in self.fleet.boot_new_hosts().await? {
            // A host that cannot restore stays down (fail closed); the operator sees it.
            if host.run_gate().await.is_ok() {
                let _ = host.register_once().await;
                let _ = host.write_rows(5).await;
            }
        }
        let hourly = self.ticks.is_multiple_of(60);
        let hosts = self.fleet.hosts();
        for host in &hosts {
            if !host.is_up() {
                continue;
            }
            if !host.is_registered() {
                let _ = host.register_once().await;
                continue;
            }
            let _ = host.heartbeat(None).await;
            if hourly {
                let _ = host.write_rows(3).await;
                let _ = host.backup(now).await;
            }
        }
        if self
            .rng
            .random_bool(self.config.crash_probability.clamp(0.0, 1.0))
        {
            let running: Vec<_> = hosts
                .iter()
                .filter(|h| h.is_up() && h.is_registered())
                .collect();
            if !running.is_empty() {
                let victim = running[self.rng.random_range(0..running.len())];
                tracing::info!(server_id = victim.server_id, "live fleet: a host crashes");
                victim.crash();
            }
        }
        self.fleet.reconcile().await;
        Ok(())
    }
}
