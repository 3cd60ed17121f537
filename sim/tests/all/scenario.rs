//! The scenario library (`scenarios/*.toml`), each file a test, plus the runner's own guarantees:
//! determinism from the seed, strict parsing, and the CLI through the built binary.

use std::path::PathBuf;

use sim::scenario::{RunOptions, Scenario, run_scenario};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Runs `scenarios/<name>.toml` and fails with its first problem and the replay command.
async fn run_library_scenario(name: &str) -> Vec<String> {
    let path = scenarios_dir().join(format!("{name}.toml"));
    let scenario = Scenario::load(&path).unwrap();
    let mut lines = Vec::new();
    let mut progress = |l: &str| lines.push(l.to_owned());
    let outcome = run_scenario(&scenario, &RunOptions::default(), &mut progress)
        .await
        .unwrap();
    assert!(
        outcome.passed(),
        "{name} failed: {}\nall violations: {:#?}\nprogress:\n{}\nhistory tail:\n{}\nreplay: matrix-sim replay scenarios/{name}.toml --seed {}",
        outcome.failure().unwrap_or_default(),
        outcome.violations,
        lines.join("\n"),
        outcome.history[outcome.history.len().saturating_sub(40)..].join("\n"),
        outcome.seed
    );
    outcome.history
}

#[tokio::test]
async fn scenario_host_crash_recovers_exactly_the_last_backup() {
    run_library_scenario("host_crash").await;
}

#[tokio::test]
async fn scenario_recover_without_backup_is_refused_then_allowed_empty() {
    run_library_scenario("recover_no_backup").await;
}

#[tokio::test]
async fn scenario_provision_burst_respects_the_rate_limit() {
    run_library_scenario("provision_burst_rate_limit").await;
}
