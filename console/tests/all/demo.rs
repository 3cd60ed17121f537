//! The demo fleet started through the library, observed through the binary, then stopped.

use std::time::Duration;

use matrix_console::client::{ClientError, FleetQuery};
use matrix_console::demo::{self, DemoOptions};

use crate::support::{run_binary, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fleet_brings_its_hosts_to_running_and_stops_with_everything_it_started() {
    let fleet = demo::start(DemoOptions { hosts: 3, seed: 7 })
        .await
        .unwrap();
    let url = fleet.platform_url().to_owned();
    let token = fleet.token();
    let state = tempfile::tempdir().unwrap();
    let running = wait_for(
        "3 running machines in `fleet`",
        Duration::from_secs(90),
        || {
            let (url, token, state) = (url.clone(), token.clone(), state.path().to_owned());
            async move {
                let run = run_binary(
                    &["--platform-url", &url, "fleet", "--json"],
                    &[
                        ("MATRIX_PLATFORM_TOKEN", token.expose()),
                        ("XDG_STATE_HOME", state.to_str().unwrap()),
                    ],
                )
                .await;
                if run.code != 0 {
                    return Err(format!("{run:?}"));
                }
                let fleet = run.json();
                let statuses: Vec<String> = fleet["machines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["status"].as_str().unwrap().to_owned())
                    .collect();
                if statuses.len() == 3 && statuses.iter().all(|s| s == "running") {
                    Ok(fleet)
                } else {
                    Err(format!("statuses {statuses:?}"))
                }
            }
        },
    )
    .await;
    assert_eq!(running["summary"]["total"], 3);

    let client = fleet.client(Duration::from_secs(2)).unwrap();
    fleet.stop().await;
    // A fresh connection finds nobody listening once the fleet is dropped.
    let fresh = matrix_console::client::PlatformClient::new(
        url::Url::parse(&url).unwrap(),
        token,
        Duration::from_secs(2),
    )
    .unwrap();
    drop(client);
    wait_for("the control plane to stop", Duration::from_secs(20), || {
        let fresh = fresh.clone();
        async move {
            match fresh.fleet_all(&FleetQuery::default()).await {
                Err(ClientError::Unreachable) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
}

/// `matrix-console demo` as an operator runs it, on a terminal: util-linux `script` provides one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_subcommand_shows_the_fleet_on_a_terminal_and_stops_everything_on_q() {
    use std::process::Stdio;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_script,
        "this test needs util-linux `script` to give the console a terminal: apt-get install -y bsdutils"
    );
    let state = tempfile::tempdir().unwrap();
    let command = format!(
        "stty cols 160 rows 40; exec '{}' demo --hosts 2 --seed 3",
        env!("CARGO_BIN_EXE_matrix-console")
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("XDG_STATE_HOME", state.path())
        .env("TERM", "xterm-256color")
        .env_remove("MATRIX_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let escapes = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    let mut raw = Vec::new();
    let shown = tokio::time::timeout(Duration::from_secs(120), async {
        let mut buf = [0u8; 8192];
        loop {
            let n = stdout.read(&mut buf).await.unwrap();
            if n == 0 {
                return false;
            }
            raw.extend_from_slice(&buf[..n]);
            let text = escapes
                .replace_all(&String::from_utf8_lossy(&raw), "")
                .into_owned();
            if text.contains("user-0000") && text.contains("user-0001") {
                return true;
            }
        }
    })
    .await;
    let text = |raw: &[u8]| {
        escapes
            .replace_all(&String::from_utf8_lossy(raw), "")
            .into_owned()
    };
    assert_eq!(shown, Ok(true), "the fleet on screen: {}", text(&raw));
    assert!(
        text(&raw).contains("starting the simulated fleet"),
        "{}",
        text(&raw)
    );

    stdin.write_all(b"q").await.unwrap();
    stdin.flush().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("quits within 30 s of q")
        .unwrap();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).await.unwrap();
    raw.extend_from_slice(&rest);
    assert!(status.success(), "{status}: {}", text(&raw));
    let log =
        std::fs::read_to_string(state.path().join("matrix-console/console.log")).expect("log");
    assert!(log.contains("demo fleet stopped"), "{log}");
}
