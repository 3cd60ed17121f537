//! The scenario file: its shape (serde, unknown keys refused), its validation, and its encoding
//! back to TOML (used by the round-trip property test and by `matrix-sim` when it echoes a file).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::duration::SimDuration;
use super::invariant::Invariant;
use super::step::Step;
use super::workload::{FaultWorkload, Workload};

/// Most steps a file may hold (a story, not a program).
pub const MAX_STEPS: usize = 1000;

/// One scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// `[a-z0-9_]+`; names the history file and the JUnit test case.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Default seed; `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `postgres` (real databases, `pg_dump`) or `light` (synthetic dumps, for big fleets).
    #[serde(default)]
    pub mode: HostModeName,
    #[serde(default)]
    pub settings: ScenarioSettings,
    #[serde(default, rename = "step", skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// The goal workload of a random campaign, run after the steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
    /// Faults drawn at random during the workload.
    #[serde(
        default,
        rename = "fault_workload",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub fault_workloads: Vec<FaultWorkload>,
    #[serde(default)]
    pub expect: Expect,
}

fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostModeName {
    #[default]
    Postgres,
    Light,
}

/// The control plane's settings and the fake Hetzner's limits, compressed for a scenario. Unset
/// fields keep the reference defaults (`control-plane.md` §9).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_ttl: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphan_grace: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphan_sweep_interval: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_scan_interval: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ttl: Option<SimDuration>,
    /// Token-bucket capacity of the fake Hetzner (`RateLimit-Limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hetzner_rate_limit: Option<u32>,
    /// Tokens per second of simulated time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hetzner_refill_per_second: Option<f64>,
}

/// What must hold at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Invariants to check; default: all of them.
    #[serde(default = "Invariant::all")]
    pub invariants: Vec<Invariant>,
    /// Clear faults and drive the fleet until it settles before checking (default true).
    #[serde(default = "yes")]
    pub converge: bool,
    /// Longest a row may stay `provisioning`/`recovering` (default: stale threshold + 15 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_bound: Option<SimDuration>,
    /// `rate_limit_respected`: how many 429s the control plane may get over the run (default 0:
    /// its pacer reads the `RateLimit-*` headers and waits for budget instead of hitting the
    /// limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_throttled: Option<u32>,
}

fn yes() -> bool {
    true
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            invariants: Invariant::all(),
            converge: true,
            transition_bound: None,
            max_throttled: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: invalid scenario: {message}")]
    Invalid { path: String, message: String },
}

impl Scenario {
    /// Parses and validates a scenario; `origin` names it in errors (a path).
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        // Without convergence no_orphan_servers is never checked: the default list (all of them)
        // drops it; naming it explicitly is refused by `validate`.
        if !scenario.expect.converge && scenario.expect.invariants == Invariant::all() {
            scenario
                .expect
                .invariants
                .retain(|i| *i != Invariant::NoOrphanServers);
        }
        scenario
            .validate()
            .map_err(|message| ScenarioError::Invalid {
                path: origin.to_owned(),
                message,
            })?;
        Ok(scenario)
    }

    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: origin.clone(),
            source,
        })?;
        Scenario::parse(&text, &origin)
    }

    /// Back to TOML (parse ∘ encode is the identity on valid scenarios).
    pub fn encode(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Every value check the types cannot express. Messages name the step and the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!(
                "name {:?} must be 1-64 characters of [a-z0-9_]",
                self.name
            ));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(format!("{} steps; at most {MAX_STEPS}", self.steps.len()));
        }
        if self.steps.is_empty() && self.workload.is_none() {
            return Err("nothing to do: no [[step]] and no [workload]".into());
        }
        if !self.fault_workloads.is_empty() && self.workload.is_none() {
            return Err("[[fault_workload]] needs a [workload] to run during".into());
        }
        self.settings.validate()?;
        for (i, step) in self.steps.iter().enumerate() {
            step.validate()
                .map_err(|e| format!("step {} ({}): {e}", i + 1, step.action()))?;
        }
        if let Some(w) = &self.workload {
            w.validate().map_err(|e| format!("[workload]: {e}"))?;
        }
        for (i, f) in self.fault_workloads.iter().enumerate() {
            f.validate()
                .map_err(|e| format!("fault_workload {}: {e}", i + 1))?;
        }
        if self.expect.invariants.is_empty() {
            return Err("expect.invariants is empty (omit it to check all of them)".into());
        }
        if !self.expect.converge && self.expect.invariants.contains(&Invariant::NoOrphanServers) {
            return Err(
                "expect.invariants lists no_orphan_servers, which is checked only after convergence: \
                 drop it or set converge = true"
                    .into(),
            );
        }
        Ok(())
    }
}

impl ScenarioSettings {
    fn validate(&self) -> Result<(), String> {
        for (name, d) in [
            ("registration_ttl", self.registration_ttl),
            ("stale_after", self.stale_after),
            ("heartbeat_interval", self.heartbeat_interval),
            ("orphan_grace", self.orphan_grace),
            ("orphan_sweep_interval", self.orphan_sweep_interval),
            ("backup_scan_interval", self.backup_scan_interval),
            ("claim_ttl", self.claim_ttl),
        ] {
            if let Some(d) = d
                && d.0.is_zero()
            {
                return Err(format!("settings.{name} must be more than 0s"));
            }
        }
        if let Some(limit) = self.hetzner_rate_limit
            && !(1..=100_000).contains(&limit)
        {
            return Err("settings.hetzner_rate_limit must be 1..=100000".into());
        }
        if let Some(r) = self.hetzner_refill_per_second
            && !(r.is_finite() && (MIN_REFILL_PER_SECOND..=10_000.0).contains(&r))
        {
            return Err(format!(
                "settings.hetzner_refill_per_second must be in [{MIN_REFILL_PER_SECOND}, 10000]"
            ));
        }
        Ok(())
    }
}

/// A user id as the API accepts it (`^[A-Za-z0-9_-]{3,256}$`).
pub(crate) fn check_user(user: &str) -> Result<(), String> {
    if (3..=256).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(format!("user {user:?} must match [A-Za-z0-9_-]{{3,256}}"))
    }
}

/// The slowest Hetzner refill a scenario may ask for: below it a token takes longer than a run
/// can wait (and the `RateLimit-Reset` arithmetic degenerates).
pub const MIN_REFILL_PER_SECOND: f64 = 1e-3;

/// An HTTP status code a fault's `effect = "error"` may answer: an error, 400-599.
pub(crate) fn check_error_status(code: u16) -> Result<(), String> {
    if (400..=599).contains(&code) {
        Ok(())
    } else {
        Err(format!("status {code} is not an error status (400-599)"))
    }
}

/// An HTTP status code a step may expect.
pub(crate) fn check_status_code(code: u16) -> Result<(), String> {
    if (100..=599).contains(&code) {
        Ok(())
    } else {
        Err(format!("status {code} is not an HTTP status code"))
    }
}

pub(crate) fn check_probability(name: &str, p: f64) -> Result<(), String> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("{name} = {p} must be within 0.0..=1.0"))
    }
}
