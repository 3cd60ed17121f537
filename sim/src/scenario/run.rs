//! The runner: builds a fleet for a scenario, applies its steps, its random workload, converges,
//! and checks the invariants over the history and the end state.
//!
//! Determinism: everything is sequential — the runner makes one call at a time, hosts act when the
//! runner tells them to, the reconciler runs only on explicit passes — so the same seed gives the
//! same calls in the same order. Where something is concurrent on purpose (two recovers at once,
//! the reconciler's bounded-concurrency backup scan), what it produces is recorded in a canonical
//! order (sorted), not in arrival order.
//!
//! Log capture: the runner installs a thread-local tracing subscriber writing into a buffer for
//! the duration of a run. Drive it on a current-thread runtime (as `#[tokio::test]` and
//! `matrix-sim` do) so every task's log lines land in that buffer; the `no_secrets` invariant
//! reads it.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::Scenario;
use super::format::HostModeName;
use super::history::{History, Kind};
use super::invariant::{self, Invariant, Violation};
use crate::fleet::{BUCKET, FleetConfig, SimFleet};
use crate::host::{GateOutcome, HostError, HostMode, SimHost};

/// How to run one scenario.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// A test's own hand in the run: called after each step (with the step's index) and before
    /// the step-boundary checks, with the fake Hetzner's base URL and token. It exists to prove
    /// that an invariant can fail (e.g. a duplicate create made straight at the fake).
    pub after_step: Option<AfterStep>,
}

/// See [`RunOptions::after_step`].
pub type AfterStep = Arc<
    dyn Fn(usize, String, String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("after_step", &self.after_step.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub seed: u64,
    pub steps_total: usize,
    /// Steps that completed.
    pub steps_run: usize,
    /// The step that failed, if one did.
    pub step_error: Option<String>,
    pub violations: Vec<Violation>,
    /// Wall time of the run (reporting only; never in the history).
    pub duration: Duration,
    /// The normalised history, one JSON object per line.
    pub history: Vec<String>,
    /// The log lines captured during the run (what `no_secrets` read), normalised.
    pub logs: String,
    /// The run itself could not be carried out (the harness failed, not the system under test):
    /// reported as an error, not a failure.
    pub run_error: Option<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.run_error.is_none() && self.step_error.is_none() && self.violations.is_empty()
    }

    /// The outcome of a scenario whose run returned an error before it had any verdict.
    pub fn errored(scenario: &Scenario, seed: u64, duration: Duration, error: String) -> Self {
        Outcome {
            name: scenario.name.clone(),
            seed,
            steps_total: scenario.steps.len() + usize::from(scenario.workload.is_some()),
            steps_run: 0,
            step_error: None,
            violations: Vec::new(),
            duration,
            history: Vec::new(),
            logs: String::new(),
            run_error: Some(error),
        }
    }

    /// The first thing that went wrong, in one line.
    pub fn failure(&self) -> Option<String> {
        if let Some(e) = &self.run_error {
            return Some(format!("run error: {e}"));
        }
        if let Some(e) = &self.step_error {
            return Some(format!("step failed: {e}"));
        }
        self.violations
            .first()
            .map(|v| format!("{}: {}", v.invariant.name(), v.message))
    }
}

/// What the runner knows about a user: the rows each successful backup captured.
#[derive(Debug, Clone, Default)]
pub struct UserState {
    pub handle: String,
    /// Snapshot key (relative) → row ids the host held when it took that backup.
    pub backups: BTreeMap<String, Vec<i64>>,
    /// The key of the latest successful backup.
    pub last_good_backup: Option<String>,
    /// Whether the last `/vps/recover` asked for `allowEmpty` (then a fresh start is allowed).
    pub recover_allow_empty: bool,
}

/// Where a booted host stands, as the runner drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPhase {
    /// Gate passed; may register.
    Ready,
    Registered,
    /// The gate failed closed: this host never serves.
    GateFailed,
}

/// The live row of a (user, primary slot).
#[derive(Debug, Clone)]
pub struct LiveRow {
    pub machine_id: String,
    pub status: String,
    pub server_id: Option<i64>,
}

/// A control-plane call's outcome as recorded.
#[derive(Debug, Clone)]
pub struct CallResult {
    pub status: Option<u16>,
    pub body: Value,
}

/// A run in progress: the fleet plus the runner's bookkeeping. Steps act through it.
pub struct Run<'p> {
    pub fleet: SimFleet,
    pub scenario: Scenario,
    pub seed: u64,
    /// Every random choice of the runner (workload, fault draws) comes from here.
    pub rng: ChaCha8Rng,
    pub history: History,
    pub users: BTreeMap<String, UserState>,
    /// Problems seen while running (restores, backups), judged with the end state.
    pub violations: Vec<Violation>,
    pub phases: BTreeMap<i64, HostPhase>,
    /// A direct pool on the control plane's database (not through the fault proxy): the
    /// invariants read the registry even while the control plane's own route is down.
    pub db: PgPool,
    /// The next request-log `seq` of each fake not yet drained into the history.
    hetzner_seen: u64,
    r2_seen: u64,
    progress: &'p mut (dyn FnMut(&str) + Send),
}

impl<'p> Run<'p> {
    pub fn progress(&mut self, line: &str) {
        (self.progress)(line);
    }

    pub fn user(&mut self, user: &str) -> &mut UserState {
        self.users.entry(user.to_owned()).or_default()
    }

    pub fn stale_after(&self) -> Duration {
        self.fleet.app.settings.stale_after
    }

    /// One call to the platform API with the operator token, recorded invoke → ok/fail/info.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> CallResult {
        let what = format!("{method} {path}");
        if path == "/vps/recover"
            && let Some(user) = body
                .as_ref()
                .and_then(|b| b.get("clerkUserId"))
                .and_then(Value::as_str)
        {
            let allow_empty = body
                .as_ref()
                .and_then(|b| b.get("allowEmpty"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            self.user(user).recover_allow_empty = allow_empty;
        }
        self.history.record(
            Kind::Invoke,
            "operator",
            &what,
            body.clone().unwrap_or(Value::Null),
        );
        let mut request = self.fleet.platform(method, path);
        if let Some(b) = &body {
            request = request.json(b);
        }
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                let kind = if status < 400 { Kind::Ok } else { Kind::Fail };
                self.history.record(
                    kind,
                    "operator",
                    &what,
                    json!({"status": status, "body": body}),
                );
                CallResult {
                    status: Some(status),
                    body,
                }
            }
            Err(e) => {
                // Outcome unknown: the request may or may not have been processed.
                let error = transport_error(&e);
                self.history
                    .record(Kind::Info, "operator", &what, json!({"error": error}));
                CallResult {
                    status: None,
                    body: json!({"error": error}),
                }
            }
        };
        self.drain_fakes();
        result
    }

    /// The live row of `user`'s primary slot, from the registry.
    pub async fn live_row(&self, user: &str) -> anyhow::Result<Option<LiveRow>> {
        let row: Option<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT machine_id::text, status, hetzner_server_id FROM user_machines \
             WHERE clerk_user_id = $1 AND runtime_slot = 'primary' AND deleted_at IS NULL",
        )
        .bind(user)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|(machine_id, status, server_id)| LiveRow {
            machine_id,
            status,
            server_id,
        }))
    }

    /// The host serving `user` now: the one booted for the live row's machine.
    pub async fn host_of_user(&self, user: &str) -> anyhow::Result<Arc<SimHost>> {
        let row = self
            .live_row(user)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{user} has no live machine"))?;
        self.fleet.host_of(&row.machine_id).ok_or_else(|| {
            anyhow::anyhow!(
                "{user}'s machine {} has no booted host (add a `boot` step)",
                row.machine_id
            )
        })
    }

    /// Boots a host for every server created since the last boot, runs its restore gate and,
    /// when `register`, registers it once. Returns how many booted.
    pub async fn boot_hosts(&mut self, register: bool) -> anyhow::Result<usize> {
        self.drain_fakes();
        let booted = self.fleet.boot_new_hosts().await?;
        for host in &booted {
            let who = format!("host/{}", host.server_id);
            self.history.record(
                Kind::Event,
                &who,
                "boot",
                json!({"user": host.env.clerk_user_id, "machine": host.env.machine_id}),
            );
            match host.run_gate().await {
                Ok(outcome) => {
                    self.history.record(
                        Kind::Event,
                        &who,
                        "gate",
                        json!({"outcome": gate_name(&outcome)}),
                    );
                    self.phases.insert(host.server_id, HostPhase::Ready);
                    match &outcome {
                        GateOutcome::Restored { key } => self.check_restore(host, key).await,
                        GateOutcome::Fresh => self.check_fresh(host).await?,
                        GateOutcome::AlreadyDecided => {}
                    }
                }
                Err(e) => {
                    self.history.record(
                        Kind::Event,
                        &who,
                        "gate",
                        json!({"failed": e.to_string()}),
                    );
                    self.progress(&format!(
                        "  host {} ({}) refused to serve: {e}",
                        host.server_id, host.env.clerk_user_id
                    ));
                    self.phases.insert(host.server_id, HostPhase::GateFailed);
                }
            }
        }
        if register {
            self.register_ready().await;
        }
        Ok(booted.len())
    }

    /// Every host whose gate passed and that is up registers (one attempt each; the next round
    /// is its backoff).
    pub async fn register_ready(&mut self) {
        let ready: Vec<Arc<SimHost>> = self
            .fleet
            .hosts()
            .into_iter()
            .filter(|h| self.phases.get(&h.server_id) == Some(&HostPhase::Ready) && h.is_up())
            .collect();
        for host in ready {
            self.register(&host).await;
        }
    }

    pub async fn register(&mut self, host: &SimHost) {
        let who = format!("host/{}", host.server_id);
        self.history.record(
            Kind::Invoke,
            &who,
            "POST /vps/register",
            json!({"machine": host.env.machine_id}),
        );
        match host.register_once().await {
            Ok(()) => {
                self.history
                    .record(Kind::Ok, &who, "POST /vps/register", json!({"status": 200}));
                self.phases.insert(host.server_id, HostPhase::Registered);
            }
            Err(HostError::RegisterRefused(code)) => self.history.record(
                Kind::Fail,
                &who,
                "POST /vps/register",
                json!({"status": code}),
            ),
            Err(e @ HostError::Platform(_)) => self.history.record(
                Kind::Info,
                &who,
                "POST /vps/register",
                json!({"error": e.to_string()}),
            ),
            Err(e) => self.history.record(
                Kind::Fail,
                &who,
                "POST /vps/register",
                json!({"error": e.to_string()}),
            ),
        }
        self.drain_fakes();
    }

    /// A recovery replacement whose gate started empty although the runner knows a good backup
    /// exists (and the recover did not ask for `allowEmpty`) lost the user's data.
    async fn check_fresh(&mut self, host: &SimHost) -> anyhow::Result<()> {
        let user = host.env.clerk_user_id.clone();
        let recovery: Option<bool> = sqlx::query_scalar(
            "SELECT status = 'recovering' OR recovery_old_server_id IS NOT NULL \
             FROM user_machines WHERE machine_id::text = $1",
        )
        .bind(&host.env.machine_id)
        .fetch_optional(&self.db)
        .await?;
        let state = self.user(&user).clone();
        if recovery == Some(true)
            && !state.recover_allow_empty
            && let Some(expected) = state.last_good_backup
        {
            self.violations.push(Violation::new(
                Invariant::RestoreMatchesBackup,
                format!(
                    "{user}: the recovery replacement (machine {}) started empty, but the last \
                     successful backup is {expected}",
                    host.env.machine_id
                ),
            ));
        }
        Ok(())
    }

    /// A restored host must hold exactly the rows of the backup it restored, and that backup
    /// must be the user's latest successful one.
    async fn check_restore(&mut self, host: &SimHost, key: &str) {
        let user = host.env.clerk_user_id.clone();
        let rows = match host.row_ids().await {
            Ok(rows) => rows,
            Err(e) => {
                self.violations.push(Violation::new(
                    Invariant::RestoreMatchesBackup,
                    format!("{user}: cannot read the restored rows: {e}"),
                ));
                return;
            }
        };
        let state = self.user(&user).clone();
        self.history.record(
            Kind::Event,
            &format!("host/{}", host.server_id),
            "restored",
            json!({"key": key, "rows": rows.len()}),
        );
        match state.backups.get(key) {
            None => self.violations.push(Violation::new(
                Invariant::RestoreMatchesBackup,
                format!("{user}: restored {key}, which no successful backup wrote"),
            )),
            Some(expected) if *expected != rows => self.violations.push(Violation::new(
                Invariant::RestoreMatchesBackup,
                format!(
                    "{user}: restored {key} holds {} rows, the backup had {}",
                    rows.len(),
                    expected.len()
                ),
            )),
            Some(_) => {}
        }
        if state.last_good_backup.as_deref() != Some(key) {
            self.violations.push(Violation::new(
                Invariant::RestoreMatchesBackup,
                format!(
                    "{user}: restored {key}, but the latest successful backup is {:?}",
                    state.last_good_backup
                ),
            ));
        }
    }

    /// The `latest` pointer's content for a user (primary slot), straight from the fake.
    pub fn latest_pointer(&self, user: &str) -> Option<String> {
        let key = control_plane::r2::keys::latest_key(user, "primary").ok()?;
        self.fleet
            .r2
            .get(BUCKET, &key)
            .map(|o| String::from_utf8_lossy(&o.bytes).trim().to_owned())
    }

    /// Records what the fakes saw since the last drain: server creates and deletes, snapshot and
    /// pointer writes, and every fault that fired, in arrival order (the runner is sequential).
    pub fn drain_fakes(&mut self) {
        self.drain(false);
    }

    /// The same, sorted within the drain: for what ran concurrently (two recovers at once, the
    /// reconciler's bounded-concurrency tasks), whose arrival order is a race.
    pub fn drain_fakes_sorted(&mut self) {
        self.drain(true);
    }

    fn drain(&mut self, sorted: bool) {
        let requests = self.fleet.hetzner.requests_since(self.hetzner_seen);
        let mut events: Vec<(String, &str, Value)> = Vec::new();
        if let Some(first) = requests.first()
            && first.seq > self.hetzner_seen
        {
            events.push((
                "request log cut".into(),
                "hetzner",
                json!({"lost_records": first.seq - self.hetzner_seen}),
            ));
        }
        for r in &requests {
            if let Some(fault) = &r.fault {
                events.push((
                    format!("{} {}", r.method, r.path),
                    "hetzner",
                    json!({"fault": fault, "status": r.status}),
                ));
            } else if r.method != "GET" {
                events.push((
                    format!("{} {}", r.method, r.path),
                    "hetzner",
                    json!({"status": r.status}),
                ));
            }
        }
        if let Some(last) = requests.last() {
            self.hetzner_seen = last.seq + 1;
        }
        let requests = self.fleet.r2.requests_since(self.r2_seen);
        if let Some(first) = requests.first()
            && first.seq > self.r2_seen
        {
            events.push((
                "request log cut".into(),
                "r2",
                json!({"lost_records": first.seq - self.r2_seen}),
            ));
        }
        for r in &requests {
            let op = r.op.clone().unwrap_or_else(|| r.method.clone());
            let key = r.key.clone().unwrap_or_default();
            if let Some(fault) = &r.fault {
                events.push((
                    format!("{op} {key}"),
                    "r2",
                    json!({"fault": fault, "status": r.status}),
                ));
            } else if matches!(op.as_str(), "PutObject" | "DeleteObject" | "CopyObject") {
                events.push((format!("{op} {key}"), "r2", json!({"status": r.status})));
            }
        }
        if let Some(last) = requests.last() {
            self.r2_seen = last.seq + 1;
        }
        if sorted {
            events.sort_by(|a, b| (a.1, &a.0, a.2.to_string()).cmp(&(b.1, &b.0, b.2.to_string())));
        }
        for (what, who, detail) in events {
            let kind = if detail.get("fault").is_some() {
                Kind::Fault
            } else {
                Kind::Event
            };
            if kind == Kind::Fault {
                let line = format!("  fault fired: {who} {what} {}", detail["fault"]);
                self.progress(&line);
            }
            self.history.record(kind, who, &what, detail);
        }
    }

    /// `single_live_row` at a step boundary (see [`invariant::slot_doubles`]); each distinct
    /// problem is reported once.
    pub async fn check_slot_servers(&mut self) -> anyhow::Result<()> {
        for problem in invariant::slot_doubles(self).await? {
            if !self
                .violations
                .iter()
                .any(|v| v.invariant == Invariant::SingleLiveRow && v.message == problem)
            {
                self.violations
                    .push(Violation::new(Invariant::SingleLiveRow, problem));
            }
        }
        Ok(())
    }

    /// One reconciler pass, recorded with what each task changed.
    pub async fn reconcile(&mut self) {
        let report = self.fleet.reconcile().await;
        let changed: BTreeMap<&str, usize> = report
            .tasks
            .iter()
            .filter(|(_, s)| s.changed > 0)
            .map(|(n, s)| (*n, s.changed))
            .collect();
        let errors: usize = report.tasks.iter().map(|(_, s)| s.errors.len()).sum();
        self.history.record(
            Kind::Event,
            "reconciler",
            "pass",
            json!({"changed": changed, "errors": errors}),
        );
        self.drain_fakes_sorted();
    }

    /// One round of "the world": time moves, new servers boot, ready hosts register, the
    /// reconciler runs.
    pub async fn world_round(&mut self, tick: Duration) -> anyhow::Result<()> {
        self.fleet.advance(tick);
        self.boot_hosts(false).await?;
        self.register_ready().await;
        self.reconcile().await;
        Ok(())
    }

    /// Live rows still `provisioning` or `recovering`.
    pub async fn transient_rows(&self) -> anyhow::Result<usize> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM user_machines WHERE deleted_at IS NULL \
             AND status IN ('provisioning', 'recovering')",
        )
        .fetch_one(&self.db)
        .await?;
        Ok(n as usize)
    }

    /// Clears every fault and drives the fleet until no row is transient and every server at the
    /// provider belongs to exactly one live row (bounded: at most 60 rounds).
    pub async fn converge(&mut self) -> anyhow::Result<bool> {
        self.fleet.hetzner.clear_faults();
        self.fleet.r2.clear_faults();
        self.fleet.db_proxy.set_mode(crate::proxy::ProxyMode::Pass);
        self.fleet
            .hetzner_proxy
            .set_mode(crate::proxy::ProxyMode::Pass);
        self.fleet.r2_proxy.set_mode(crate::proxy::ProxyMode::Pass);
        for host in self.fleet.hosts() {
            for f in [
                crate::host::HostFault::DumpFails,
                crate::host::HostFault::UploadFails,
            ] {
                host.clear(f);
            }
        }
        self.history.record(
            Kind::Step,
            "runner",
            "converge",
            json!({"faults": "cleared"}),
        );
        let tick = (self.stale_after() / 2).max(Duration::from_secs(60));
        for round in 0..60 {
            self.world_round(tick).await?;
            if round >= 2
                && self.transient_rows().await? == 0
                && invariant::server_problems(self).await?.is_empty()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn gate_name(outcome: &GateOutcome) -> String {
    match outcome {
        GateOutcome::AlreadyDecided => "already_decided".into(),
        GateOutcome::Fresh => "fresh".into(),
        GateOutcome::Restored { key } => format!("restored {key}"),
    }
}

/// A transport error in words without the URL (which carries a port).
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection refused".into()
    } else {
        "connection lost".into()
    }
}

/// Log lines of one run; the no-secrets invariant reads them.
#[derive(Clone, Default)]
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

/// Log bytes kept per run (beyond: dropped, and the run says so).
const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut b = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() + buf.len() <= MAX_LOG_BYTES {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn fleet_config(scenario: &Scenario, seed: u64) -> FleetConfig {
    let defaults = FleetConfig::default();
    FleetConfig {
        seed,
        mode: match scenario.mode {
            HostModeName::Postgres => HostMode::Postgres,
            HostModeName::Light => HostMode::Light,
        },
        hetzner_rate_limit: scenario
            .settings
            .hetzner_rate_limit
            .unwrap_or(defaults.hetzner_rate_limit),
        hetzner_refill_per_second: scenario
            .settings
            .hetzner_refill_per_second
            .unwrap_or(defaults.hetzner_refill_per_second),
        // `restart_database` really restarts the control plane's Postgres: it needs its own.
        own_database_server: scenario
            .steps
            .iter()
            .any(|s| matches!(s, crate::scenario::step::Step::RestartDatabase(_))),
        ..defaults
    }
}

/// Runs one scenario to its verdict. `progress` receives human-readable lines as it goes.
pub async fn run_scenario(
    scenario: &Scenario,
    options: &RunOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Outcome> {
    let capture = LogCapture::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,control_plane=debug,hyper=warn,reqwest=warn,h2=warn,aws=warn,s3s=warn",
            ))
            .with_ansi(false)
            .with_writer(capture.clone())
            .finish(),
    );
    let _guard = tracing::dispatcher::set_default(&dispatch);
    let started = Instant::now();
    let seed = options.seed.unwrap_or(scenario.seed);
    let settings = scenario.settings.clone();
    let fleet = SimFleet::start(fleet_config(scenario, seed), |s| {
        if let Some(d) = settings.registration_ttl {
            s.registration_ttl = d.0;
        }
        if let Some(d) = settings.stale_after {
            s.stale_after = d.0;
        }
        if let Some(d) = settings.heartbeat_interval {
            s.heartbeat_interval = d.0;
        }
        if let Some(d) = settings.orphan_grace {
            s.orphan_grace = d.0;
        }
        if let Some(d) = settings.orphan_sweep_interval {
            s.orphan_sweep_interval = d.0;
        }
        if let Some(d) = settings.backup_scan_interval {
            s.backup_scan_interval = d.0;
        }
        if let Some(d) = settings.claim_ttl {
            s.claim_ttl = d.0;
        }
    })
    .await?;
    let db = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&fleet.db.url)
        .await?;
    let fleet_clock = fleet.clock.clone();
    let mut run = Run {
        fleet,
        scenario: scenario.clone(),
        seed,
        rng: ChaCha8Rng::seed_from_u64(seed),
        history: History::with_clock({
            let clock = fleet_clock.clone();
            move || control_plane::clock::Clock::now(&clock)
        }),
        users: BTreeMap::new(),
        violations: Vec::new(),
        phases: BTreeMap::new(),
        db,
        hetzner_seen: 0,
        r2_seen: 0,
        progress,
    };
    run.history.record(
        Kind::Step,
        "runner",
        "start",
        json!({"scenario": scenario.name, "seed": seed}),
    );
    // The workload counts as one step of the table.
    let total = scenario.steps.len() + usize::from(scenario.workload.is_some());
    let mut steps_run = 0;
    let mut step_error = None;
    for (i, step) in scenario.steps.iter().enumerate() {
        let encoded = step.encode();
        run.progress(&format!("  step {}/{total} {}", i + 1, compact(&encoded)));
        run.history
            .record(Kind::Step, "runner", step.action(), encoded);
        if let Err(e) = step.apply(&mut run).await {
            let message = format!("step {} ({}): {e:#}", i + 1, step.action());
            run.history.record(
                Kind::Fail,
                "runner",
                step.action(),
                json!({"error": message}),
            );
            run.progress(&format!("  FAILED {message}"));
            step_error = Some(message);
            break;
        }
        if let Some(hook) = &options.after_step {
            hook(
                i,
                run.fleet.hetzner.base_url(),
                run.fleet.hetzner.token().to_string(),
            )
            .await;
        }
        run.drain_fakes();
        run.check_slot_servers().await?;
        steps_run += 1;
    }
    if step_error.is_none()
        && let Some(workload) = scenario.workload.clone()
    {
        run.progress(&format!(
            "  workload: {} users, {} rounds",
            workload.users, workload.rounds
        ));
        match workload.apply(&mut run, &scenario.fault_workloads).await {
            Ok(()) => steps_run += 1,
            Err(e) => {
                let message = format!("workload: {e:#}");
                run.progress(&format!("  FAILED {message}"));
                step_error = Some(message);
            }
        }
    }
    if step_error.is_none() && scenario.expect.converge {
        run.progress("  converging (faults cleared)");
        match run.converge().await {
            Ok(true) => {}
            Ok(false) => run.violations.push(Violation::new(
                Invariant::NoOrphanServers,
                "the fleet did not converge within 60 reconciler rounds".into(),
            )),
            Err(e) => step_error = Some(format!("converge: {e:#}")),
        }
    }
    let logs = capture.text();
    let mut violations = std::mem::take(&mut run.violations);
    violations.extend(invariant::check_end_state(&mut run, &logs).await?);
    violations.retain(|v| scenario.expect.invariants.contains(&v.invariant));
    for v in &violations {
        run.history.record(
            Kind::Fail,
            "invariant",
            v.invariant.name(),
            json!({"violation": v.message}),
        );
    }
    run.history.record(
        Kind::Step,
        "runner",
        "end",
        json!({"passed": step_error.is_none() && violations.is_empty()}),
    );
    let history = run.history.normalised_lines();
    Ok(Outcome {
        name: scenario.name.clone(),
        seed,
        steps_total: total,
        steps_run,
        step_error,
        violations,
        duration: started.elapsed(),
        history,
        logs: super::history::normalise(&logs),
        run_error: None,
    })
}

fn compact(step: &Value) -> String {
    let Some(map) = step.as_object() else {
        return step.to_string();
    };
    let action = map.get("action").and_then(Value::as_str).unwrap_or("?");
    let rest: Vec<String> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "action")
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect();
    format!("{action} {}", rest.join(" ")).trim_end().to_owned()
}
