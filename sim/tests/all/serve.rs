//! `matrix-sim serve` as a real process: one JSON line to attach with, a live fleet behind it, and a
//! clean stop on SIGINT.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn serve_prints_connection_info_and_runs_a_live_fleet_until_interrupted() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_matrix-sim"))
        .args(["serve", "--hosts", "3", "--seed", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .expect("a line within 2 min")
        .unwrap()
        .expect("stdout open");
    let info: Value = serde_json::from_str(&line).expect("one JSON line");
    for field in [
        "platformUrl",
        "platformToken",
        "hetznerUrl",
        "hetznerToken",
        "r2Endpoint",
        "r2Bucket",
        "r2AccessKeyId",
        "r2SecretAccessKey",
        "databaseUrl",
    ] {
        assert!(
            info[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {line}"
        );
    }
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let fleet: Value = http
            .get(format!(
                "{}/vps/fleet",
                info["platformUrl"].as_str().unwrap()
            ))
            .bearer_auth(info["platformToken"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if fleet["summary"]["byStatus"]["running"].as_i64() == Some(3) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "3 running machines within a minute: {fleet}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops on SIGINT")
        .unwrap();
    assert!(status.success(), "{status}");
}
