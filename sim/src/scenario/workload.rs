//! The random campaign: a goal workload (hosts heartbeat every tick, users write rows and back up
//! every round, and the operator recovers what the control plane reports unreachable) with fault
//! workloads drawn from the run's seeded generator
//! at stated probabilities (FoundationDB-style). Convergence and the invariants follow it.
//!
//! Every draw comes from `Run::rng`, in a fixed order (rounds, then users sorted by id, then the
//! fault kinds in file order), and Hetzner's standing rules draw from the fake's own seeded
//! streams, so a seed replays the same campaign.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::duration::SimDuration;
use super::format::check_probability;
use super::history::Kind;
use super::run::HostPhase;
use super::run::Run;
use super::step::backup::backup_host;
use super::step::heartbeat::heartbeat_host;
use super::step::provision::{default_handle, provision_one};
use crate::fake_hetzner::{FaultOp, FaultRule, FaultWhen};
use crate::fake_r2::{R2FaultRule, R2Op};
use crate::host::HostFault;
use rand::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Users provisioned at the start (`<prefix>_0000` …).
    pub users: u32,
    pub rounds: u32,
    /// Simulated time per round (default 1h: one backup per host per round).
    #[serde(default = "one_hour")]
    pub round: SimDuration,
    /// Within a round the world moves in ticks of this (boot, register, a reconciler pass), as
    /// the real reconciler's interval would (default 10m).
    #[serde(default = "ten_minutes")]
    pub tick: SimDuration,
    /// Rows each host writes per round.
    #[serde(default = "five")]
    pub rows: u64,
    #[serde(default = "campaign")]
    pub prefix: String,
    /// Whether the operator recovers crashed hosts (default true).
    #[serde(default = "yes")]
    pub recover: bool,
}

fn one_hour() -> SimDuration {
    SimDuration::secs(3600)
}
fn ten_minutes() -> SimDuration {
    SimDuration::secs(600)
}
fn five() -> u64 {
    5
}
fn campaign() -> String {
    "campaign".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A host crashes (per host per round).
    HostCrash,
    /// A host's snapshot upload fails (per backup).
    BackupFailure,
    /// R2 answers 500 to a host's snapshot upload (per backup).
    R2Error,
    /// Hetzner answers 503 `unavailable` to creates and deletes (per call, a standing rule).
    HetznerError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultWorkload {
    pub kind: FaultKind,
    pub probability: f64,
}

impl Workload {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=500).contains(&self.users) {
            return Err("users must be 1..=500".into());
        }
        if !(1..=200).contains(&self.rounds) {
            return Err("rounds must be 1..=200".into());
        }
        if self.round.0.as_secs() < 60 {
            return Err("round must be at least 1m".into());
        }
        if self.tick.0.is_zero() || self.tick > self.round {
            return Err("tick must be more than 0s and at most `round`".into());
        }
        if self.rounds as u64 * (self.round.0.as_secs() / self.tick.0.as_secs().max(1)) > 5000 {
            return Err("rounds × (round / tick) must be at most 5000".into());
        }
        if !(1..=10_000).contains(&self.rows) {
            return Err("rows must be 1..=10000".into());
        }
        crate::scenario::format::check_user(&format!("{}_0000", self.prefix))
    }

    pub async fn apply(&self, run: &mut Run<'_>, faults: &[FaultWorkload]) -> anyhow::Result<()> {
        let p = |kind: FaultKind| {
            faults
                .iter()
                .filter(|f| f.kind == kind)
                .map(|f| f.probability)
                .fold(0.0, f64::max)
        };
        let users: Vec<String> = (0..self.users)
            .map(|i| format!("{}_{i:04}", self.prefix))
            .collect();
        let hetzner = p(FaultKind::HetznerError);
        if hetzner > 0.0 {
            for op in [FaultOp::CreateServer, FaultOp::DeleteServer] {
                run.fleet.hetzner.inject(FaultRule::error(
                    op,
                    FaultWhen::Probability { p: hetzner },
                    503,
                    "unavailable",
                ));
            }
        }
        for user in &users {
            // Any answer is acceptable here: a refused create is retried next round.
            let _ = provision_one(run, user, &default_handle(user), 202).await;
        }
        run.boot_hosts(true).await?;
        for round in 0..self.rounds {
            run.progress(&format!("  round {}/{}", round + 1, self.rounds));
            let ticks = (self.round.0.as_secs() / self.tick.0.as_secs().max(1)).max(1);
            for _ in 0..ticks {
                // One tick of the world, with heartbeats before the reconciler judges health.
                run.fleet.advance(self.tick.0);
                run.boot_hosts(false).await?;
                run.register_ready().await;
                for host in run.fleet.hosts() {
                    if run.phases.get(&host.server_id) == Some(&HostPhase::Registered) {
                        heartbeat_host(run, &host).await;
                    }
                }
                run.reconcile().await;
            }
            for user in &users {
                self.user_round(run, user, faults).await?;
            }
            run.reconcile().await;
        }
        Ok(())
    }

    async fn user_round(
        &self,
        run: &mut Run<'_>,
        user: &str,
        faults: &[FaultWorkload],
    ) -> anyhow::Result<()> {
        let Some(row) = run.live_row(user).await? else {
            let _ = provision_one(run, user, &default_handle(user), 202).await;
            return Ok(());
        };
        if row.status == "failed" {
            let _ = provision_one(run, user, &default_handle(user), 202).await;
            return Ok(());
        }
        let Some(host) = run.fleet.host_of(&row.machine_id) else {
            return Ok(());
        };
        if !host.is_up() {
            // Detect: the operator recovers once the control plane reports the heartbeat
            // unreachable (it asks only about hosts that are down, to keep the history short).
            if self.recover && row.status == "running" && unreachable(run, &row.machine_id).await {
                let allow_empty = run.user(user).last_good_backup.is_none();
                let mut body = json!({"clerkUserId": user});
                if allow_empty {
                    body["allowEmpty"] = json!(true);
                }
                let _ = run.call(Method::POST, "/vps/recover", Some(body)).await;
            }
            return Ok(());
        }
        if row.status != "running" || !host.is_registered() {
            return Ok(());
        }
        host.write_rows(self.rows).await?;
        // Draws in file order, one per fault kind, whether or not it applies (stable streams).
        let mut crash = false;
        let mut upload_fails = false;
        let mut r2_error = false;
        for f in faults {
            let hit = run.rng.random_bool(f.probability.clamp(0.0, 1.0));
            match f.kind {
                FaultKind::HostCrash => crash |= hit,
                FaultKind::BackupFailure => upload_fails |= hit,
                FaultKind::R2Error => r2_error |= hit,
                FaultKind::HetznerError => {}
            }
        }
        if upload_fails {
            host.inject(HostFault::UploadFails);
            run.history.record(
                Kind::Fault,
                &format!("host/{}", host.server_id),
                "upload_fails",
                json!(null),
            );
        }
        if r2_error {
            let prefix = control_plane::r2::keys::snapshots_prefix(user, "primary")
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            run.fleet.r2.inject(
                R2FaultRule::internal_error(R2Op::PutObject, FaultWhen::Nth(1)).with_prefix(prefix),
            );
        }
        let _ = backup_host(run, &host).await;
        host.clear(HostFault::UploadFails);
        if crash {
            host.crash();
            run.history.record(
                Kind::Fault,
                &format!("host/{}", host.server_id),
                "crash",
                json!({"user": user}),
            );
            run.progress(&format!("  fault: host of {user} crashed"));
        }
        Ok(())
    }
}

async fn unreachable(run: &mut Run<'_>, machine_id: &str) -> bool {
    let r = run
        .call(Method::GET, &format!("/vps/{machine_id}/status"), None)
        .await;
    r.body["heartbeat"]["health"] == "unreachable"
}

impl FaultWorkload {
    pub fn validate(&self) -> Result<(), String> {
        check_probability("probability", self.probability)
    }
}
