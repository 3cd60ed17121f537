//! Seeded scenarios: a TOML story (or a random campaign) run against a [`SimFleet`], recorded as a
//! history and judged by invariants. The format is documented in `docs/scenarios.md`.
//!
//! Design (FoundationDB-style, see `shared/reference/simulation.md`):
//! - a scenario is explicit [`step`]s, then optionally a goal [`workload`] with fault workloads
//!   drawn at random, then convergence (faults cleared, clock and reconciler driven until the
//!   fleet settles), then the [`invariant`]s it names;
//! - one `u64` seed drives every random choice: the runner's generator, the fakes' fault draws and
//!   the control plane's id stream. The runner drives hosts and the control plane sequentially, so
//!   the same seed and the same code give the same normalised [`history`];
//! - parsing is strict: unknown keys are errors, values are validated before anything starts.
//!
//! Module map: [`format`] (the file: parse, validate, encode), [`duration`] (`"90s"`, `"2h"`),
//! [`step`] and [`fault`] (one file per variant: parse, apply, encode), [`workload`] (random
//! campaign), [`run`] (the runner), [`history`], [`invariant`], [`report`] (table, JUnit), [`cli`]
//! (`matrix-sim run` / `replay`).

pub mod cli;
pub mod duration;
pub mod fault;
pub mod format;
pub mod history;
pub mod invariant;
pub mod report;
pub mod run;
pub mod step;
pub mod workload;

pub use format::{Expect, HostModeName, Scenario, ScenarioError, ScenarioSettings};
pub use invariant::{Invariant, Violation};
pub use run::{AfterStep, Outcome, RunOptions, run_scenario};
