//! Shared by the test modules: a simulated fleet with a story, running the built binary, and a
//! bounded wait.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sim::fleet::{FleetConfig, SimFleet};
use sim::host::SimHost;

/// How long one run of the binary may take before the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A simulated fleet and the temporary directory the binary logs into.
pub struct Story {
    pub fleet: SimFleet,
    pub state_dir: tempfile::TempDir,
}

/// What one run of the binary printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

impl Story {
    pub async fn start() -> Self {
        Self {
            fleet: SimFleet::start(FleetConfig::default(), |_| {})
                .await
                .expect("simulated fleet"),
            state_dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn token(&self) -> &str {
        &self.fleet.config.platform_secret
    }

    /// Provisions a user; its host boots, passes the restore gate and registers. Returns the
    /// machine id.
    pub async fn running(&self, user: &str, handle: &str) -> String {
        let r = self
            .fleet
            .platform(Method::POST, "/vps/provision")
            .json(&json!({"clerkUserId": user, "handle": handle}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let id = r.json::<Value>().await.unwrap()["machineId"]
            .as_str()
            .unwrap()
            .to_owned();
        self.fleet.boot_new_hosts().await.unwrap();
        let host = self.host(&id);
        host.run_gate().await.unwrap();
        host.register_once().await.unwrap();
        id
    }

    pub fn host(&self, machine_id: &str) -> Arc<SimHost> {
        self.fleet
            .host_of(machine_id)
            .expect("a host for the machine")
    }

    /// One hour later, the given machines back up; ten minutes later the platform has checked R2.
    pub async fn back_up(&self, machine_ids: &[&str]) {
        self.fleet.advance(Duration::from_secs(3600));
        for id in machine_ids {
            let host = self.host(id);
            host.write_rows(5).await.unwrap();
            host.backup(self.fleet.now()).await.unwrap();
        }
        self.fleet.advance(Duration::from_secs(10 * 60));
        self.fleet.reconcile().await;
    }

    /// The platform's status of a machine (as JSON), straight from the API.
    pub async fn status(&self, machine_id: &str) -> (u16, Value) {
        let r = self
            .fleet
            .platform(Method::GET, &format!("/vps/{machine_id}/status"))
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// Runs the built binary against this fleet (URL and token as flags).
    pub async fn cli(&self, args: &[&str]) -> Run {
        let mut full = vec![
            "--platform-url",
            &self.fleet.platform_url,
            "--token",
            self.token(),
        ];
        full.extend_from_slice(args);
        run_binary(
            &full,
            &[("XDG_STATE_HOME", self.state_dir.path().to_str().unwrap())],
        )
        .await
    }
}

/// Runs `matrix-console` with `args` and `env` only (no inherited `MATRIX_*`), stdin not a terminal.
/// `XDG_STATE_HOME` is a fresh temporary directory unless `env` sets it: nothing lands in `$HOME`.
pub async fn run_binary(args: &[&str], env: &[(&str, &str)]) -> Run {
    let state = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_matrix-console"));
    command
        .args(args)
        .env("XDG_STATE_HOME", state.path())
        .env_remove("MATRIX_PLATFORM_URL")
        .env_remove("MATRIX_PLATFORM_TOKEN")
        .env_remove("MATRIX_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = tokio::time::timeout(RUN_TIMEOUT, command.output())
        .await
        .expect("matrix-console finished in time")
        .expect("matrix-console ran");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Polls `check` until it returns `Ok`, or fails the test after `limit` with the last "not yet".
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(not_yet) => {
                assert!(
                    started.elapsed() < limit,
                    "{what}: not within {limit:?}; last: {not_yet}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
