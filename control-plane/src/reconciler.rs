//! The reconciler: periodic tasks that settle whatever a crash, a lost response or a provider outage
//! left half-done, and keep health current.
//!
//! Design:
//! - Each task is a function `activate(app, state) -> TaskStatus` in its own file. It takes no hint
//!   of what changed, handles at most `reconcile_batch` items per pass and reports errors in its
//!   status instead of failing the pass.
//! - A pass runs every task in order. Passes are single-flight per process (one loop) and safe across
//!   replicas: rows and queue entries are claimed in the database, and tasks that walk the whole
//!   fleet or the provider's whole server list hold a lease (`task_leases`).
//! - The loop ticks on the injected clock (`MissedTickBehavior::Delay` semantics: the next pass starts
//!   one interval after the previous one ended). A second loop runs only the provision-step task,
//!   every second of the injected clock and whenever a handler pokes `App::activate_steps`.
//! - Provider calls never wait for rate-limit budget inside a task: a call without budget returns
//!   at once and the step is rescheduled for when budget returns, so a pass stays short and a manual
//!   clock never deadlocks a pass.
//! - Tests and the simulator call [`Reconciler::run_pass`] directly instead of waiting.

pub mod backup_scan;
pub mod deletion_queue;
pub mod heartbeat_health;
pub mod orphan_sweep;
pub mod provision_steps;
pub mod stale_rows;
pub mod vps_meta;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::app::App;

/// How often pending provider steps are looked for between handler activations.
const STEP_POLL: Duration = Duration::from_secs(1);

/// What one task activation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TaskStatus {
    pub processed: usize,
    pub changed: usize,
    pub errors: Vec<String>,
    pub skipped: bool,
}

impl TaskStatus {
    pub fn skipped() -> Self {
        Self {
            skipped: true,
            ..Self::default()
        }
    }
    pub fn error(&mut self, e: impl std::fmt::Display) {
        // Error texts here come from our own error types (codes and contexts, never secrets).
        self.errors.push(e.to_string());
    }
}

/// The result of one pass, per task.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PassReport {
    pub tasks: Vec<(&'static str, TaskStatus)>,
}

impl PassReport {
    pub fn task(&self, name: &str) -> Option<&TaskStatus> {
        self.tasks.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }
}

/// Memory a task keeps between passes (its own schedule). The database holds everything else.
#[derive(Debug, Default)]
pub struct ReconcilerState {
    pub last_orphan_sweep: Option<DateTime<Utc>>,
    pub iterations: u64,
}

/// Owns the task state; single-flight through the mutex.
#[derive(Clone)]
pub struct Reconciler {
    app: App,
    /// tokio mutex: held across the awaits of a whole pass, which is the point (single flight).
    state: Arc<Mutex<ReconcilerState>>,
}

impl Reconciler {
    pub fn new(app: App) -> Self {
        Self {
            app,
            state: Arc::new(Mutex::new(ReconcilerState::default())),
        }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// One full pass: every task once. Order: resume pending creates, settle stale rows, refresh
    /// vps-meta, sweep orphans, scan backups, evaluate heartbeats, then execute due deletions.
    pub async fn run_pass(&self) -> PassReport {
        let mut state = self.state.lock().await;
        state.iterations += 1;
        let app = &self.app;
        let mut report = PassReport::default();
        macro_rules! run {
            ($name:literal, $call:expr) => {{
                let started = Instant::now();
                let status = $call;
                let result = if status.skipped { "skipped" } else if status.errors.is_empty() { "ok" } else { "error" };
                app.metrics.reconciler_run($name, result, started.elapsed());
                if !status.errors.is_empty() {
                    warn!(task = $name, errors = ?status.errors, "reconciler task reported errors");
                } else {
                    debug!(task = $name, processed = status.processed, changed = status.changed, "reconciler task done");
                }
                report.tasks.push(($name, status));
            }};
        }
        run!("provision_steps", provision_steps::activate(app).await);
        run!("stale_rows", stale_rows::activate(app).await);
        run!("vps_meta", vps_meta::activate(app).await);
        run!(
            "orphan_sweep",
            orphan_sweep::activate(app, &mut state).await
        );
        run!("backup_scan", backup_scan::activate(app).await);
        run!("heartbeat_health", heartbeat_health::activate(app).await);
        // Last, so that whatever this pass queued (stale rows, orphans) is deleted in the same pass.
        run!("deletion_queue", deletion_queue::activate(app).await);
        report
    }

    /// Only the provision-step task (what a handler's activation asks for).
    pub async fn run_steps(&self) -> TaskStatus {
        let _state = self.state.lock().await;
        let started = Instant::now();
        let status = provision_steps::activate(&self.app).await;
        self.app.metrics.reconciler_run(
            "provision_steps",
            if status.errors.is_empty() {
                "ok"
            } else {
                "error"
            },
            started.elapsed(),
        );
        status
    }

    /// Runs passes every `reconcile_interval` on the injected clock, and step passes whenever a
    /// handler activates them, until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        let interval = self.app.settings.reconcile_interval;
        let clock = self.app.clock.clone();
        let activate = self.app.activate_steps.clone();
        let periodic = {
            let this = self.clone();
            let clock = clock.clone();
            async move {
                loop {
                    this.run_pass().await;
                    clock.sleep(interval).await;
                }
            }
        };
        let on_demand = {
            let this = self.clone();
            async move {
                loop {
                    // Woken by a handler, or every step-poll interval to pick up creates whose
                    // retry time (rate-limit budget, backoff) has come.
                    tokio::select! {
                        _ = activate.notified() => {},
                        _ = clock.sleep(STEP_POLL) => {},
                    }
                    this.run_steps().await;
                }
            }
        };
        tokio::select! {
            _ = periodic => {},
            _ = on_demand => {},
            _ = shutdown => {},
        }
    }
}
