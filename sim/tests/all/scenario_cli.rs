//! `matrix-sim run` / `replay` through the built binary: exit codes, JUnit, history files, and a
//! failing run's replay command reproducing the same normalised history.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_matrix-sim");

const PASSING: &str = r#"
name = "cli_passing"
seed = 4
mode = "light"

[[step]]
action = "provision"
user = "user_cli"

[[step]]
action = "wait_for"
user = "user_cli"
status = "running"
within = "10m"
"#;

/// Waits for a status that never comes: the host hangs before it can register.
const FAILING: &str = r#"
name = "cli_failing"
seed = 8
mode = "light"

[[step]]
action = "provision"
user = "user_cli"

[[step]]
action = "boot"
register = false

[[step]]
action = "fault"
target = "host"
user = "user_cli"
fault = "hang"

[[step]]
action = "wait_for"
user = "user_cli"
status = "running"
within = "5m"
"#;

fn run(args: &[&str], cwd: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("matrix-sim runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_passing_run_exits_zero_and_writes_junit_and_history() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cli_passing.toml"), PASSING).unwrap();
    let (code, out) = run(
        &[
            "run",
            "cli_passing.toml",
            "--junit",
            "out/junit.xml",
            "--history",
            "hist",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cli_passing") && out.contains("pass"), "{out}");
    let junit = std::fs::read_to_string(dir.path().join("out/junit.xml")).unwrap();
    assert!(junit.starts_with("<?xml"), "{junit}");
    assert!(
        junit.contains("<testcase classname=\"scenarios\" name=\"cli_passing\""),
        "{junit}"
    );
    assert!(
        junit.contains("failures=\"0\"") && !junit.contains("<failure"),
        "{junit}"
    );
    assert!(junit.trim_end().ends_with("</testsuites>"), "{junit}");
    let history = std::fs::read_to_string(dir.path().join("hist/cli_passing.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).expect("each history line is JSON"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["what"] == "POST /vps/provision" && l["kind"] == "ok")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["what"] == "POST /v1/servers" && l["process"] == "hetzner")
    );
    assert_eq!(lines.last().unwrap()["detail"]["passed"], true);
    // The captured logs include the control plane's own lines (what no_secrets reads).
    let logs = std::fs::read_to_string(dir.path().join("hist/cli_passing.log")).unwrap();
    assert!(logs.contains("control_plane"), "{logs}");
}

#[test]
fn a_failing_run_exits_non_zero_and_its_replay_command_reproduces_the_history() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cli_failing.toml"), FAILING).unwrap();
    let (code, out) = run(
        &[
            "run",
            "cli_failing.toml",
            "--junit",
            "junit.xml",
            "--history",
            "hist",
        ],
        dir.path(),
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("FAIL") && out.contains("not reached within 5m"),
        "{out}"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("<failure") && junit.contains("not reached"),
        "{junit}"
    );
    let replay = out
        .lines()
        .skip_while(|l| !l.contains("replay the failure exactly with:"))
        .nth(1)
        .expect("the replay command is printed")
        .trim()
        .to_owned();
    assert_eq!(
        replay,
        "cargo run -p sim --bin matrix-sim -- replay cli_failing.toml --seed 8 --history hist"
    );
    let first = std::fs::read_to_string(dir.path().join("hist/cli_failing.jsonl")).unwrap();
    std::fs::remove_file(dir.path().join("hist/cli_failing.jsonl")).unwrap();
    // Everything after `--` goes to the binary (the test runs the built one directly).
    let args: Vec<&str> = replay
        .split_once(" -- ")
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let (code, out) = run(&args, dir.path());
    assert_ne!(code, 0, "the replay fails the same way: {out}");
    assert!(
        out.contains("hist/cli_failing.jsonl"),
        "prints its history path: {out}"
    );
    let second = std::fs::read_to_string(dir.path().join("hist/cli_failing.jsonl")).unwrap();
    assert_eq!(
        first, second,
        "the replay reproduces the normalised history"
    );
}

#[test]
fn bad_arguments_and_bad_files_exit_two_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(&["replay", "x.toml"], dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--seed"), "{out}");
    std::fs::write(dir.path().join("typo.toml"), "name = \"typo\"\nsede = 1\n").unwrap();
    let (code, out) = run(&["run", "typo.toml"], dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("typo.toml") && out.contains("sede"), "{out}");
    // Two files with one scenario name would overwrite each other's history: refused up front.
    std::fs::write(dir.path().join("one.toml"), PASSING).unwrap();
    std::fs::write(dir.path().join("two.toml"), PASSING).unwrap();
    let (code, out) = run(&["run", "one.toml", "two.toml"], dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("one.toml") && out.contains("two.toml") && out.contains("both name"),
        "{out}"
    );
}

/// A harness error in one scenario (here: the database cannot be reached) is an `<error>` test
/// case and an ERROR row; the batch goes on to the next file and exits non-zero at the end.
#[test]
fn a_run_error_is_reported_per_scenario_and_the_batch_continues() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), PASSING).unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        PASSING.replace("name = \"cli_passing\"", "name = \"cli_second\""),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "a.toml", "b.toml", "--junit", "junit.xml"])
        .current_dir(dir.path())
        .env(
            "MATRIX_SIM_DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .output()
        .expect("matrix-sim runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        text.matches("ERROR").count(),
        4,
        "two progress lines, two rows: {text}"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<error ").count(), 2, "{junit}");
    assert!(
        junit.contains("errors=\"2\"") && junit.contains("failures=\"0\""),
        "{junit}"
    );
}

#[test]
fn the_replay_command_quotes_its_paths() {
    assert_eq!(
        sim::scenario::cli::shell_quote("scenarios/it's here.toml"),
        r"'scenarios/it'\''s here.toml'"
    );
    assert_eq!(
        sim::scenario::cli::shell_quote("scenarios/plain.toml"),
        "scenarios/plain.toml"
    );
    assert_eq!(sim::scenario::cli::shell_quote(""), "''");
}
