//! Process metrics in the Prometheus text exposition format.
//!
//! Counters (provider calls, provision failures, reconciler runs and durations, heartbeats) live in
//! memory per process, as Prometheus expects of replicas. Fleet gauges (machines by status, heartbeat
//! health and backup freshness) are read from the database at scrape time by the API layer and passed
//! to [`Metrics::render`], so every replica reports the same fleet.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::status::FailureCode;

/// Upper bounds (seconds) of the reconciler duration histogram.
const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

#[derive(Debug, Default)]
struct Counters {
    provider_calls: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    provision_failures: BTreeMap<FailureCode, u64>,
    reconciler_runs: BTreeMap<(&'static str, &'static str), u64>,
    reconciler_durations: BTreeMap<&'static str, Histogram>,
    heartbeats: BTreeMap<&'static str, u64>,
}

/// Shared by every component of one process. std mutex: held only to bump a number.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

/// Fleet gauges read from the registry at scrape time.
#[derive(Debug, Default, Clone)]
pub struct FleetGauges {
    pub by_status: BTreeMap<String, i64>,
    pub by_heartbeat: BTreeMap<String, i64>,
    pub by_backup: BTreeMap<String, i64>,
    pub deletion_queue_pending: i64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Counters) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-increment; the numbers are still usable.
        let mut guard = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// `provider` is `hetzner` or `r2`; `outcome` one of `ok`, `not_found`, `definitive`, `ambiguous`,
    /// `rate_limited`, `error`.
    pub fn provider_call(
        &self,
        provider: &'static str,
        operation: &'static str,
        outcome: &'static str,
    ) {
        self.with(|c| {
            *c.provider_calls
                .entry((provider, operation, outcome))
                .or_default() += 1
        });
    }

    pub fn provision_failure(&self, code: FailureCode) {
        self.with(|c| *c.provision_failures.entry(code).or_default() += 1);
    }

    pub fn reconciler_run(&self, task: &'static str, result: &'static str, elapsed: Duration) {
        self.with(|c| {
            *c.reconciler_runs.entry((task, result)).or_default() += 1;
            c.reconciler_durations
                .entry(task)
                .or_default()
                .observe(elapsed.as_secs_f64());
        });
    }

    /// `result` is `accepted` or `rejected`.
    pub fn heartbeat(&self, result: &'static str) {
        self.with(|c| *c.heartbeats.entry(result).or_default() += 1);
    }

    /// Total provider calls recorded with this provider and outcome (for tests and the sim).
    pub fn provider_calls_total(&self, provider: &str, outcome: &str) -> u64 {
        self.with(|c| {
            c.provider_calls
                .iter()
                .filter(|((p, _, o), _)| *p == provider && *o == outcome)
                .map(|(_, n)| n)
                .sum()
        })
    }

    pub fn render(&self, fleet: &FleetGauges) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String,
                     name: &str,
                     help: &str,
                     label: &str,
                     values: &BTreeMap<String, i64>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (k, v) in values {
                let _ = writeln!(out, "{name}{{{label}=\"{k}\"}} {v}");
            }
        };
        gauge(
            &mut out,
            "matrix_machines",
            "Machines by status (live rows; deleted counts retired rows too).",
            "status",
            &fleet.by_status,
        );
        gauge(
            &mut out,
            "matrix_machines_heartbeat",
            "Live machines by heartbeat health.",
            "health",
            &fleet.by_heartbeat,
        );
        gauge(
            &mut out,
            "matrix_machines_backup",
            "Live machines by backup freshness.",
            "freshness",
            &fleet.by_backup,
        );
        let _ = writeln!(
            out,
            "# HELP matrix_deletion_queue_pending Provider deletions not yet done.\n# TYPE matrix_deletion_queue_pending gauge\nmatrix_deletion_queue_pending {}",
            fleet.deletion_queue_pending
        );

        self.with(|c| {
            let _ = writeln!(out, "# HELP matrix_provider_calls_total Provider API calls by outcome.\n# TYPE matrix_provider_calls_total counter");
            for ((p, op, o), n) in &c.provider_calls {
                let _ = writeln!(out, "matrix_provider_calls_total{{provider=\"{p}\",operation=\"{op}\",outcome=\"{o}\"}} {n}");
            }
            let _ = writeln!(out, "# HELP matrix_provision_failures_total Machines failed during provisioning, by code.\n# TYPE matrix_provision_failures_total counter");
            for (code, n) in &c.provision_failures {
                let _ = writeln!(out, "matrix_provision_failures_total{{code=\"{code}\"}} {n}");
            }
            let _ = writeln!(out, "# HELP matrix_reconciler_runs_total Reconciler task activations by result.\n# TYPE matrix_reconciler_runs_total counter");
            for ((task, result), n) in &c.reconciler_runs {
                let _ = writeln!(out, "matrix_reconciler_runs_total{{task=\"{task}\",result=\"{result}\"}} {n}");
            }
            let _ = writeln!(out, "# HELP matrix_reconciler_duration_seconds Reconciler task activation time.\n# TYPE matrix_reconciler_duration_seconds histogram");
            for (task, h) in &c.reconciler_durations {
                for (bound, n) in DURATION_BUCKETS.iter().zip(h.buckets) {
                    let _ = writeln!(out, "matrix_reconciler_duration_seconds_bucket{{task=\"{task}\",le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(out, "matrix_reconciler_duration_seconds_bucket{{task=\"{task}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "matrix_reconciler_duration_seconds_sum{{task=\"{task}\"}} {}", h.sum);
                let _ = writeln!(out, "matrix_reconciler_duration_seconds_count{{task=\"{task}\"}} {}", h.count);
            }
            let _ = writeln!(out, "# HELP matrix_heartbeats_total Heartbeats received by result.\n# TYPE matrix_heartbeats_total counter");
            for (result, n) in &c.heartbeats {
                let _ = writeln!(out, "matrix_heartbeats_total{{result=\"{result}\"}} {n}");
            }
        });
        out
    }
}
