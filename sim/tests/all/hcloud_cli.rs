//! Hetzner's own CLI (`hcloud`, Debian package `hcloud-cli`) against [`FakeHetzner`]: proof that
//! the fake speaks the API the way Hetzner's official Go client expects (name resolution through
//! the catalogue, action polling, label selectors, pagination, the error envelope), not only the
//! way our own client does. A developer can point the same CLI at a running fake by hand.
//!
//! Each command runs as a child process, bounded by [`COMMAND_TIMEOUT`], with a clean environment:
//! `HCLOUD_ENDPOINT` and `HCLOUD_TOKEN` name the fake, `HCLOUD_CONFIG` and `HOME` point into a
//! temporary directory so that no developer configuration leaks in. A missing `hcloud` is a test
//! failure naming the fix, never a skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sim::fake_hetzner::{
    FakeHetzner, FakeHetznerConfig, FakeServer, FaultEffect, FaultOp, FaultRule, FaultWhen,
    ServerStatus,
};
use tempfile::TempDir;

/// One CLI invocation, including every poll it makes while waiting for actions. hcloud 1.30 polls
/// an action every 500 ms whatever `--poll-interval` says, and the fake (default
/// `polls_until_running: 2`) needs up to three polls: a waited action takes 1–1.5 s.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const USER_DATA: &str = "#cloud-config\nruncmd:\n  - echo booted by the sim\n";

/// A fake Hetzner API and a throwaway CLI configuration pointing at it.
struct Cli {
    fake: FakeHetzner,
    bin: PathBuf,
    /// Holds `HCLOUD_CONFIG`, `HOME` and the user-data file; removed on drop.
    dir: TempDir,
}

/// What one command printed, and how it ended.
struct Output {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

impl Cli {
    async fn start() -> Cli {
        Cli::start_with(FakeHetznerConfig::default()).await
    }

    async fn start_with(config: FakeHetznerConfig) -> Cli {
        let bin = hcloud_binary();
        let fake = FakeHetzner::start(config)
            .await
            .expect("fake hetzner starts");
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("user-data.yaml"), USER_DATA).unwrap();
        Cli { fake, bin, dir }
    }

    fn user_data_file(&self) -> PathBuf {
        self.dir.path().join("user-data.yaml")
    }

    /// Runs `hcloud <args>` with the fake's token.
    async fn run(&self, args: &[&str]) -> Output {
        self.run_with_token(self.fake.token(), args).await
    }

    async fn run_with_token(&self, token: &str, args: &[&str]) -> Output {
        let child = tokio::process::Command::new(&self.bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("HCLOUD_CONFIG", self.dir.path().join("cli.toml"))
            .env("HCLOUD_ENDPOINT", self.fake.base_url())
            .env("HCLOUD_TOKEN", token)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let started = Instant::now();
        let output = match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
            Ok(output) => output.unwrap_or_else(|e| panic!("running hcloud {args:?}: {e}")),
            Err(_) => panic!("hcloud {args:?} did not finish within {COMMAND_TIMEOUT:?}"),
        };
        tracing::debug!(?args, elapsed = ?started.elapsed(), "hcloud finished");
        Output {
            success: output.status.success(),
            status: output.status.to_string(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed; returns its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.success,
            "hcloud {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status, out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs a command that must succeed and print JSON.
    async fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args).await;
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("hcloud {args:?} printed no JSON ({e}):\n{stdout}"))
    }

    /// `hcloud server create` with the test's user data; returns the new server's id.
    async fn create(&self, name: &str, labels: &[&str]) -> i64 {
        let user_data = self.user_data_file();
        let mut args = vec![
            "server",
            "create",
            "--name",
            name,
            "--type",
            "cx22",
            "--image",
            "debian-12",
            "--location",
            "fsn1",
            "--user-data-from-file",
            user_data.to_str().unwrap(),
        ];
        for label in labels {
            args.extend(["--label", label]);
        }
        let stdout = self.ok(&args).await;
        // "Server 4711 created" (then IPv4/IPv6 lines).
        stdout
            .split_whitespace()
            .skip_while(|word| *word != "Server")
            .nth(1)
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no server id in the create output:\n{stdout}"))
    }

    /// Names of the servers `hcloud server list -l <selector>` shows, sorted.
    async fn list_names(&self, selector: &str) -> Vec<String> {
        let listed = self
            .json(&["server", "list", "-l", selector, "-o", "json"])
            .await;
        // hcloud 1.30 prints `null`, not `[]`, when nothing matches (a nil Go slice).
        let servers = match &listed {
            Value::Null => &Vec::new(),
            Value::Array(servers) => servers,
            other => panic!("a JSON array: {other}"),
        };
        let mut names: Vec<String> = servers
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    fn fake_server(&self, id: i64) -> FakeServer {
        self.fake
            .server(id)
            .unwrap_or_else(|| panic!("the fake has no server {id}"))
    }
}

/// The `hcloud` binary on PATH; its absence fails the test with the fix.
fn hcloud_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("hcloud"))
            .find(|candidate| is_executable(candidate))
    });
    found.unwrap_or_else(|| {
        panic!(
            "Hetzner's `hcloud` CLI is not on PATH; install it: apt-get install -y hcloud-cli \
             (Debian package; the tests were written against hcloud 1.30.3)"
        )
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Describes server `id` (a GET of it, which advances a delete in the fake) until the CLI says it
/// is not found; returns that failed run. Bounded: the fake needs `polls_until_running + 1` polls.
async fn wait_until_gone(cli: &Cli, id: i64) -> Output {
    const ATTEMPTS: usize = 10;
    let id = id.to_string();
    for _ in 0..ATTEMPTS {
        let out = cli.run(&["server", "describe", &id, "-o", "json"]).await;
        if !out.success {
            return out;
        }
    }
    panic!("server {id} still exists after {ATTEMPTS} describes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hcloud_cli_creates_lists_describes_power_cycles_and_deletes_servers() {
    let cli = Cli::start().await;
    let started = Instant::now();

    // create, waiting for the create and start actions (the fake needs polls to progress)
    let web = cli
        .create("web-1", &["matrix.fleet/machine=m-1", "role=web"])
        .await;
    let db = cli.create("db-1", &["role=db"]).await;
    let server = cli.fake_server(web);
    assert_eq!(server.name, "web-1");
    assert_eq!(server.status, ServerStatus::Running, "create waited for it");
    assert_eq!(server.user_data.as_deref(), Some(USER_DATA));
    assert_eq!(server.server_type, "cx22");
    assert_eq!(server.image, "debian-12");
    assert_eq!(server.location, "fsn1");
    assert_eq!(
        server
            .labels
            .get("matrix.fleet/machine")
            .map(String::as_str),
        Some("m-1")
    );
    assert_eq!(cli.fake.create_count(), 2);

    // list, with each kind of label selector the control plane relies on
    let all = cli.json(&["server", "list", "-o", "json"]).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    assert_eq!(cli.list_names("role=web").await, ["web-1"]);
    assert_eq!(cli.list_names("matrix.fleet/machine").await, ["web-1"]);
    assert_eq!(cli.list_names("role!=web").await, ["db-1"]);
    assert_eq!(cli.list_names("role in (web,db)").await, ["db-1", "web-1"]);
    assert_eq!(cli.list_names("!matrix.fleet/machine").await, ["db-1"]);
    assert!(cli.list_names("role=cache").await.is_empty());
    let table = cli
        .ok(&[
            "server",
            "list",
            "-o",
            "noheader",
            "-o",
            "columns=id,name,status",
        ])
        .await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(
        rows.contains(&vec![web.to_string().as_str(), "web-1", "running"]),
        "{table}"
    );

    // describe, by name and by id
    let described = cli
        .json(&["server", "describe", "web-1", "-o", "json"])
        .await;
    assert_eq!(described["id"], web);
    assert_eq!(described["status"], "running");
    assert_eq!(described["server_type"]["name"], "cx22");
    assert_eq!(described["image"]["name"], "debian-12");
    assert_eq!(described["datacenter"]["location"]["name"], "fsn1");
    assert_eq!(described["labels"]["role"], "web");
    assert_eq!(
        described["public_net"]["ipv4"]["ip"],
        server.ipv4.to_string()
    );
    let by_id = cli
        .json(&["server", "describe", &web.to_string(), "-o", "json"])
        .await;
    assert_eq!(by_id["name"], "web-1");
    let text = cli.ok(&["server", "describe", "web-1"]).await;
    let status_line = text
        .lines()
        .find(|line| line.trim_start().starts_with("Status:"));
    assert!(
        status_line.is_some_and(|line| line.contains("running")),
        "{text}"
    );

    // power actions, each waited for
    cli.ok(&["server", "poweroff", "web-1"]).await;
    assert_eq!(cli.fake_server(web).status, ServerStatus::Off);
    let described = cli
        .json(&["server", "describe", "web-1", "-o", "json"])
        .await;
    assert_eq!(described["status"], "off");
    cli.ok(&["server", "poweron", "web-1"]).await;
    assert_eq!(cli.fake_server(web).status, ServerStatus::Running);
    cli.ok(&["server", "reboot", "web-1"]).await;
    assert_eq!(cli.fake_server(web).status, ServerStatus::Running);

    // delete: hcloud 1.30 returns once the API accepted it, without waiting for the action; the
    // server is `deleting` until polled (as on Hetzner, where it lingers a few seconds).
    let stdout = cli.ok(&["server", "delete", "web-1"]).await;
    assert!(stdout.contains("deleted"), "{stdout}");
    assert!(
        cli.fake
            .server(web)
            .is_none_or(|s| s.status == ServerStatus::Deleting),
        "deleting or gone"
    );
    let gone = wait_until_gone(&cli, web).await;
    assert!(gone.stderr.contains("not found"), "{}", gone.stderr);
    assert!(cli.fake.server(web).is_none(), "the fake no longer has it");
    assert_eq!(cli.list_names("role").await, ["db-1"]);
    let by_name = cli.run(&["server", "describe", "web-1"]).await;
    assert!(
        !by_name.success && by_name.stderr.contains("not found"),
        "{}",
        by_name.stderr
    );
    cli.ok(&["server", "delete", &db.to_string()]).await;
    wait_until_gone(&cli, db).await;
    assert!(cli.fake.servers().is_empty());

    let requests = cli.fake.requests();
    assert!(
        requests.iter().all(|r| r.status != Some(401)),
        "the CLI authenticated every call"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.path == "/v1/servers")
    );
    eprintln!(
        "hcloud lifecycle: {} requests in {:?}",
        requests.len(),
        started.elapsed()
    );
}

#[tokio::test]
async fn the_hcloud_cli_reports_a_wrong_token_and_creates_nothing() {
    let cli = Cli::start().await;
    let out = cli
        .run_with_token(
            "not-the-token-the-fake-was-given-0000000000000000000000000000000",
            &["server", "list"],
        )
        .await;
    assert!(!out.success, "stdout: {}", out.stdout);
    assert!(
        out.stderr.to_lowercase().contains("unable to authenticate"),
        "the fake's 401 message reaches the user: {}",
        out.stderr
    );
    assert_eq!(cli.fake.create_count(), 0);
}

#[tokio::test]
async fn the_hcloud_cli_surfaces_an_injected_api_error_and_a_failed_action() {
    let cli = Cli::start().await;
    cli.fake.inject(FaultRule::error(
        FaultOp::CreateServer,
        FaultWhen::Nth(1),
        412,
        "resource_limit_exceeded",
    ));
    let user_data = cli.user_data_file();
    let create = [
        "server",
        "create",
        "--name",
        "limited",
        "--type",
        "cx22",
        "--image",
        "debian-12",
        "--user-data-from-file",
        user_data.to_str().unwrap(),
    ];
    let out = cli.run(&create).await;
    assert!(!out.success, "stdout: {}", out.stdout);
    assert!(
        out.stderr.contains("resource_limit_exceeded"),
        "the error code reaches the user: {}",
        out.stderr
    );
    assert_eq!(cli.fake.create_count(), 0);

    // The fault fired once: the same command now works.
    let id = cli.create("limited", &[]).await;
    assert_eq!(cli.fake_server(id).status, ServerStatus::Running);

    // A power action that ends in `error`: the CLI waits for it and reports the failure.
    cli.fake.inject(FaultRule::new(
        FaultOp::ServerAction,
        FaultWhen::Nth(1),
        FaultEffect::ActionError,
    ));
    let out = cli.run(&["server", "poweroff", "limited"]).await;
    assert!(
        !out.success,
        "a failed action is an error: {}\n{}",
        out.stdout, out.stderr
    );
}
