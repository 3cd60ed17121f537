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
        "{name} failed: {}\nall violations: {:#?}\nprogress:\n{}\nhistory tail:\n{}\nreplay: cargo run -p sim --bin matrix-sim -- replay scenarios/{name}.toml --seed {}",
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
async fn scenario_a_lost_disk_is_recovered_from_the_last_backup() {
    run_library_scenario("host_disk_lost").await;
}

#[tokio::test]
async fn scenario_recover_without_backup_is_refused_then_allowed_empty() {
    run_library_scenario("recover_no_backup").await;
}

#[tokio::test]
async fn scenario_provision_burst_respects_the_rate_limit() {
    run_library_scenario("provision_burst_rate_limit").await;
}

#[tokio::test]
async fn scenario_a_lost_create_response_is_adopted_not_duplicated() {
    run_library_scenario("create_lost_response").await;
}

#[tokio::test]
async fn scenario_a_host_that_never_registers_times_out_and_is_deleted() {
    run_library_scenario("host_never_registers").await;
}

#[tokio::test]
async fn scenario_a_failing_backup_upload_keeps_latest_and_restores_the_older_snapshot() {
    run_library_scenario("backup_upload_fails").await;
}

#[tokio::test]
async fn scenario_a_corrupted_snapshot_is_refused_and_the_host_never_serves() {
    run_library_scenario("snapshot_corrupted").await;
}

#[tokio::test]
async fn scenario_a_control_plane_restart_mid_recovery_finishes_the_recovery() {
    run_library_scenario("recovery_control_plane_restart").await;
}

#[tokio::test]
async fn scenario_a_control_plane_killed_mid_create_is_settled_by_the_next_process() {
    let history = run_library_scenario("provision_control_plane_crash").await;
    assert!(
        history
            .iter()
            .any(|l| l.contains("killed_mid_call") && l.contains(r#""call_in_flight":true"#)),
        "the kill did not land mid-create"
    );
    assert!(
        history
            .iter()
            .any(|l| l.contains("POST /v1/servers") && l.contains("commit_then_hold")),
        "the held call was not the create"
    );
}

#[tokio::test]
async fn scenario_concurrent_recovers_start_exactly_one_recovery() {
    run_library_scenario("recover_concurrent").await;
}

#[tokio::test]
async fn scenario_delete_while_the_provider_fails_is_retried_until_gone() {
    run_library_scenario("delete_provider_fails").await;
}

#[tokio::test]
async fn scenario_the_control_plane_database_restarting_gives_503s_then_recovers() {
    run_library_scenario("control_plane_database_restart").await;
}

#[tokio::test]
async fn scenario_hetzner_connections_reset_during_provisioning_end_with_one_server() {
    run_library_scenario("provision_hetzner_connection_reset").await;
}

#[tokio::test]
async fn scenario_r2_down_during_a_recover_is_a_503_then_the_recovery_works() {
    run_library_scenario("recover_r2_down").await;
}

#[tokio::test]
async fn scenario_a_server_that_vanishes_at_the_provider_is_recovered_from_the_last_backup() {
    run_library_scenario("server_vanished").await;
}

/// Every file in `scenarios/` is run by one of the tests above (a new file without a test would
/// silently leave `cargo test`).
#[test]
fn every_library_scenario_has_a_test() {
    let source = include_str!("scenario.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !source.contains(&format!("run_library_scenario(\"{name}\")")) {
                missing.push(name);
            }
        }
    }
    assert!(missing.is_empty(), "scenarios without a test: {missing:?}");
}

#[tokio::test]
async fn scenario_a_random_fault_campaign_over_50_hosts_keeps_every_invariant() {
    run_library_scenario("fleet_random_faults").await;
}

/// A small campaign with every fault probability, for the determinism checks.
const SMALL_CAMPAIGN: &str = r#"
name = "small_campaign"
seed = 99
mode = "light"

[settings]
orphan_grace = "20m"

[workload]
users = 10
rounds = 3
rows = 3

[[fault_workload]]
kind = "host_crash"
probability = 0.2

[[fault_workload]]
kind = "hetzner_error"
probability = 0.2

[[fault_workload]]
kind = "r2_error"
probability = 0.1

[[fault_workload]]
kind = "backup_failure"
probability = 0.2
"#;

async fn run_text(text: &str, seed: Option<u64>) -> sim::scenario::Outcome {
    let scenario = Scenario::parse(text, "inline").unwrap();
    let mut progress = |_: &str| {};
    run_scenario(
        &scenario,
        &RunOptions {
            seed,
            ..RunOptions::default()
        },
        &mut progress,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_normalised_history_and_another_seed_another() {
    let first = run_text(SMALL_CAMPAIGN, None).await;
    let second = run_text(SMALL_CAMPAIGN, None).await;
    assert!(first.passed(), "{:?}", first.failure());
    assert!(
        first
            .history
            .iter()
            .any(|l| l.contains("\"kind\":\"fault\"")),
        "the campaign fired no fault: the comparison would prove little"
    );
    if first.history != second.history {
        let at = first
            .history
            .iter()
            .zip(&second.history)
            .position(|(a, b)| a != b)
            .unwrap_or(first.history.len().min(second.history.len()));
        panic!(
            "histories differ at line {at} ({} vs {} lines):\n{}\n{}",
            first.history.len(),
            second.history.len(),
            first.history.get(at).cloned().unwrap_or_default(),
            second.history.get(at).cloned().unwrap_or_default()
        );
    }
    let other = run_text(SMALL_CAMPAIGN, Some(100)).await;
    assert_ne!(first.history, other.history, "--seed changes the run");
}

#[tokio::test]
async fn normalised_histories_of_the_core_stories_match_their_snapshots() {
    for name in ["host_crash", "recover_no_backup", "create_lost_response"] {
        let history = run_library_scenario(name).await;
        insta::assert_snapshot!(format!("history_{name}"), history.join("\n"));
    }
}

/// The second backup's `latest` write is acknowledged but lost: the host believes it backed up,
/// the restore brings back the first snapshot. The invariant must say so.
const LOST_POINTER_WRITE: &str = r#"
name = "lost_pointer_write"
seed = 3
mode = "light"

[[step]]
action = "provision"
user = "user_lost_ptr"

[[step]]
action = "wait_for"
user = "user_lost_ptr"
status = "running"
within = "5m"

[[step]]
action = "workload"
user = "user_lost_ptr"
rows = 5

[[step]]
action = "advance"
by = "1h"

[[step]]
action = "backup"
user = "user_lost_ptr"

[[step]]
action = "workload"
user = "user_lost_ptr"
rows = 5

[[step]]
action = "fault"
target = "r2"
op = "put_object"
effect = "lost_write"
user = "user_lost_ptr"
path = "system/db/latest"
nth = 1

[[step]]
action = "advance"
by = "1h"

[[step]]
action = "backup"
user = "user_lost_ptr"

[[step]]
action = "crash"
user = "user_lost_ptr"

[[step]]
action = "recover"
user = "user_lost_ptr"

[[step]]
action = "wait_for"
user = "user_lost_ptr"
status = "running"
within = "10m"
"#;

#[tokio::test]
async fn a_restore_of_an_older_snapshot_than_the_last_acknowledged_backup_is_a_violation() {
    let outcome = run_text(LOST_POINTER_WRITE, None).await;
    assert!(outcome.step_error.is_none(), "{:?}", outcome.step_error);
    let v = outcome
        .violations
        .iter()
        .find(|v| v.invariant == sim::scenario::Invariant::RestoreMatchesBackup)
        .unwrap_or_else(|| panic!("no restore violation: {:?}", outcome.violations));
    assert!(
        v.message.contains("latest successful backup"),
        "{}",
        v.message
    );
    assert!(!outcome.passed());
}

#[tokio::test]
async fn a_row_stuck_past_the_transition_bound_is_a_violation() {
    let text = r#"
name = "tight_bound"
mode = "light"

[[step]]
action = "provision"
user = "user_slow"

[[step]]
action = "advance"
by = "8m"

[[step]]
action = "wait_for"
user = "user_slow"
status = "running"

[expect]
transition_bound = "5m"
"#;
    let outcome = run_text(text, None).await;
    assert!(
        outcome
            .violations
            .iter()
            .any(|v| v.invariant == sim::scenario::Invariant::TransitionsBounded),
        "{:?}",
        outcome.violations
    );
}

/// `single_live_row` must see a duplicate create even after the orphan sweep deleted the extra
/// server: the test makes a second server with the same labels straight at the fake's API.
#[tokio::test]
async fn a_duplicate_create_for_one_machine_is_a_violation_even_after_the_sweep() {
    let text = r#"
name = "duplicate_create"
mode = "light"

[[step]]
action = "provision"
user = "user_dup"

[[step]]
action = "wait_for"
user = "user_dup"
status = "running"
"#;
    let scenario = Scenario::parse(text, "inline").unwrap();
    let hook: sim::scenario::AfterStep = std::sync::Arc::new(|i, base, token| {
        Box::pin(async move {
            if i != 0 {
                return;
            }
            let client = reqwest::Client::new();
            let list: serde_json::Value = client
                .get(format!("{base}/servers"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let server = &list["servers"][0];
            let body = serde_json::json!({
                "name": format!("{}-dup", server["name"].as_str().unwrap()),
                "server_type": server["server_type"]["name"],
                "image": server["image"]["name"],
                "location": server["location"]["name"],
                "labels": server["labels"],
            });
            let response = client
                .post(format!("{base}/servers"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status().as_u16(),
                201,
                "{:?}",
                response.text().await
            );
        })
    });
    let mut progress = |_: &str| {};
    let outcome = run_scenario(
        &scenario,
        &RunOptions {
            after_step: Some(hook),
            ..RunOptions::default()
        },
        &mut progress,
    )
    .await
    .unwrap();
    let singles: Vec<&str> = outcome
        .violations
        .iter()
        .filter(|v| v.invariant == sim::scenario::Invariant::SingleLiveRow)
        .map(|v| v.message.as_str())
        .collect();
    assert!(
        singles.iter().any(|m| m.contains("was created 2 times")),
        "{:?}",
        outcome.violations
    );
    assert!(
        singles
            .iter()
            .any(|m| m.contains("live servers of live rows")),
        "{:?}",
        outcome.violations
    );
}

/// `rate_limit_respected` counts the 429s the fake answered: requests driven past a 20-token
/// bucket straight at the fake (not through the pacing control plane) must be a violation.
#[tokio::test]
async fn requests_past_the_rate_limit_are_a_violation() {
    let text = r#"
name = "past_the_limit"
mode = "light"

[settings]
hetzner_rate_limit = 20
hetzner_refill_per_second = 1.0

[[step]]
action = "advance"
by = "1s"

[expect]
converge = false
invariants = ["rate_limit_respected"]
"#;
    let scenario = Scenario::parse(text, "inline").unwrap();
    let hook: sim::scenario::AfterStep = std::sync::Arc::new(|_, base, token| {
        Box::pin(async move {
            let client = reqwest::Client::new();
            for _ in 0..25 {
                client
                    .get(format!("{base}/servers"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
            }
        })
    });
    let mut progress = |_: &str| {};
    let outcome = run_scenario(
        &scenario,
        &RunOptions {
            after_step: Some(hook),
            ..RunOptions::default()
        },
        &mut progress,
    )
    .await
    .unwrap();
    let v = outcome
        .violations
        .iter()
        .find(|v| v.invariant == sim::scenario::Invariant::RateLimitRespected)
        .unwrap_or_else(|| panic!("no rate-limit violation: {:?}", outcome.violations));
    assert!(
        v.message.contains("answered 5 requests with 429"),
        "{}",
        v.message
    );
}

/// `during_reconcile` kills the process while a call is held, never on a wall-time guess: with
/// no held call the step fails instead of passing vacuously.
#[tokio::test]
async fn a_kill_during_reconcile_with_no_call_in_flight_fails_the_step() {
    let text = r#"
name = "kill_without_hold"
mode = "light"

[[step]]
action = "restart_control_plane"
during_reconcile = true
"#;
    let outcome = run_text(text, None).await;
    let error = outcome.step_error.expect("the step must fail");
    assert!(error.contains("no provider call in flight"), "{error}");
}

/// A recovery replacement whose gate starts empty while a good backup exists is a
/// `restore_matches_backup` violation, not a silent pass: after the recover is accepted, the
/// `latest` pointer is hidden from the new host (404 NoSuchKey), so its gate says `Fresh`.
#[tokio::test]
async fn a_recovery_that_starts_fresh_despite_a_good_backup_is_a_violation() {
    let text = r##"# The core story: provision, write, back up, crash, detect, recover, verify the restored rows.
name = "host_crash_latest_hidden"
description = "provision → backup → crash → detect → recover restores exactly the last backup"
seed = 7

[[step]]
action = "provision"
user = "user_core"

[[step]]
action = "boot"
expect_hosts = 1

[[step]]
action = "wait_for"
user = "user_core"
status = "running"
within = "5m"

[[step]]
action = "workload"
user = "user_core"
rows = 40

[[step]]
action = "advance"
by = "1h"

[[step]]
action = "backup"
user = "user_core"

# Acknowledged after the backup: lost with the host, by design.
[[step]]
action = "workload"
user = "user_core"
rows = 7

[[step]]
action = "heartbeat"

[[step]]
action = "advance"
by = "10m"

[[step]]
action = "reconcile"

[[step]]
action = "check_status"
user = "user_core"
status = "running"
backup_freshness = "fresh"

[[step]]
action = "crash"
user = "user_core"

# Detect: no heartbeat for more than three intervals.
[[step]]
action = "advance"
by = "20m"

[[step]]
action = "reconcile"

[[step]]
action = "check_status"
user = "user_core"
heartbeat = "unreachable"

[[step]]
action = "recover"
user = "user_core"

[[step]]
action = "fault"
target = "r2"
op = "get_object"
effect = "error"
status = 404
code = "NoSuchKey"
user = "user_core"
path = "system/db/latest"

[[step]]
action = "wait_for"
user = "user_core"
status = "running"
within = "10m"

[[step]]
action = "check_status"
user = "user_core"
status = "running"
"##;
    let outcome = run_text(text, None).await;
    let v = outcome
        .violations
        .iter()
        .find(|v| v.invariant == sim::scenario::Invariant::RestoreMatchesBackup)
        .unwrap_or_else(|| {
            panic!(
                "no restore violation: {:?} / {:?}",
                outcome.violations, outcome.step_error
            )
        });
    assert!(v.message.contains("started empty"), "{}", v.message);
}
