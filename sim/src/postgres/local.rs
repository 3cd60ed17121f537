//! A private PostgreSQL server from the local binaries: `initdb` into a temporary directory, then
//! `postgres` on a free 127.0.0.1 port, tuned for tests (no fsync).
//!
//! Guarantees:
//! - the server never outlives the test process: it is forked from the spawner thread with a
//!   parent-death signal (see [`super::spawner`]), and a dropped [`LocalServer`] stops it and
//!   removes its directory;
//! - directories of earlier runs whose process is gone are removed on the next start (the shared
//!   cluster lives in a `static`, is never dropped, and so always leaves one behind);
//! - every wait is bounded, and a failure to start carries the tail of the server log.
//!
//! `initdb` and `postgres` refuse to run as root, so as root both run as the `postgres` user, with
//! the directory chowned to it. Set `MATRIX_SIM_KEEP_PG=1` to keep the directory (data and
//! `server.log`) after a cluster is dropped.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::Mutex;

use super::PgError;
use super::bin::pg_bin;
use super::spawner::spawn_tied_to_process;

/// Prefix of every directory this module creates under the system temp dir:
/// `matrix-sim-pg-<pid>-<n>`.
const DIR_PREFIX: &str = "matrix-sim-pg-";
/// The superuser `initdb` creates; every URL connects as it.
pub(crate) const SUPERUSER: &str = "postgres";
const INITDB_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `Drop` waits for an immediate shutdown before SIGKILL.
const DROP_TIMEOUT: Duration = Duration::from_secs(5);
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Attempts at finding a free port (another process may take the one we probed).
const PORT_ATTEMPTS: usize = 3;
/// At most this many leftover directories are examined per start.
const MAX_STALE_DIRS: usize = 256;
const LOG_TAIL_LINES: usize = 40;

/// Distinguishes several clusters started by one process.
static CLUSTER_SEQ: AtomicU32 = AtomicU32::new(0);

/// The identity the server runs as when this process is root.
#[derive(Clone, Copy, Debug)]
struct RunAs {
    uid: Uid,
    gid: Gid,
}

/// A running PostgreSQL server that this process owns.
pub(crate) struct LocalServer {
    /// `matrix-sim-pg-<pid>-<n>`: holds `data/`, `sock/`, `server.log`, `initdb.log`.
    root: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    postgres: PathBuf,
    run_as: Option<RunAs>,
    /// The postmaster. A tokio mutex because `restart` holds it across the stop/start awaits; it
    /// is `None` only between a stop and the next successful start.
    child: Mutex<Option<Child>>,
    keep_dir: bool,
}

impl LocalServer {
    /// Runs `initdb` and starts the server; returns once it accepts connections.
    pub(crate) async fn start() -> Result<LocalServer, PgError> {
        let initdb = pg_bin("initdb")?;
        let postgres = pg_bin("postgres")?;
        let run_as = run_as()?;
        let tmp = std::env::temp_dir();
        remove_stale_dirs(&tmp);

        let root = tmp.join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            CLUSTER_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        // From here on, `Drop` removes `root` (and stops the server) on any early return.
        let mut server = LocalServer {
            data_dir: root.join("data"),
            socket_dir: root.join("sock"),
            log_path: root.join("server.log"),
            root,
            port: 0,
            postgres,
            run_as,
            child: Mutex::new(None),
            keep_dir: std::env::var_os("MATRIX_SIM_KEEP_PG").is_some_and(|v| v == "1"),
        };
        server.prepare_dirs()?;
        server.initdb(&initdb).await?;

        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port()?;
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(err @ PgError::ServerExited { .. })
                    if err.to_string().contains("could not bind") =>
                {
                    tracing::warn!(
                        port = server.port,
                        "port taken before postgres bound it; retrying"
                    );
                    last_error = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_error.expect("PORT_ATTEMPTS > 0"))
    }

    /// Connects as the superuser over TCP to the `postgres` database.
    pub(crate) fn admin_url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Fast shutdown (SIGINT: sessions are terminated, a checkpoint is written), then a start on
    /// the same port and data directory.
    pub(crate) async fn restart(&self) -> Result<(), PgError> {
        let mut guard = self.child.lock().await;
        if let Some(mut child) = guard.take() {
            signal_child(&child, Signal::SIGINT);
            if wait_exit(&mut child, STOP_TIMEOUT).await.is_none() {
                tracing::warn!("postgres ignored SIGINT for {STOP_TIMEOUT:?}; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let child = spawn_tied_to_process(self.server_command()?, Signal::SIGQUIT)
            .await
            .map_err(|e| PgError::io("spawning postgres", e))?;
        *guard = Some(child);
        let child = guard.as_mut().expect("just stored");
        self.wait_ready(child).await
    }

    fn prepare_dirs(&self) -> Result<(), PgError> {
        for dir in [&self.root, &self.socket_dir] {
            std::fs::create_dir(dir)
                .map_err(|e| PgError::io(format!("creating {}", dir.display()), e))?;
            if let Some(who) = self.run_as {
                std::os::unix::fs::chown(dir, Some(who.uid.as_raw()), Some(who.gid.as_raw()))
                    .map_err(|e| {
                        PgError::io(format!("chowning {} to postgres", dir.display()), e)
                    })?;
            }
        }
        Ok(())
    }

    async fn initdb(&self, initdb: &Path) -> Result<(), PgError> {
        let log_path = self.root.join("initdb.log");
        let log = create_log(&log_path)?;
        let mut command = Command::new(initdb);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"]);
        self.prepare_command(&mut command, log)?;
        let mut child = spawn_tied_to_process(command, Signal::SIGKILL)
            .await
            .map_err(|e| PgError::io(format!("spawning {}", initdb.display()), e))?;
        let status = match wait_exit(&mut child, INITDB_TIMEOUT).await {
            Some(status) => status.to_string(),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                format!("killed after {INITDB_TIMEOUT:?}")
            }
        };
        if status == "exit status: 0" {
            return Ok(());
        }
        Err(PgError::Initdb {
            data_dir: self.data_dir.clone(),
            status,
            output: log_tail(&log_path),
        })
    }

    /// Spawns the postmaster and waits until it accepts connections.
    async fn spawn_and_wait(&self) -> Result<(), PgError> {
        let mut guard = self.child.lock().await;
        let child = spawn_tied_to_process(self.server_command()?, Signal::SIGQUIT)
            .await
            .map_err(|e| PgError::io(format!("spawning {}", self.postgres.display()), e))?;
        *guard = Some(child);
        let child = guard.as_mut().expect("just stored");
        let ready = self.wait_ready(child).await;
        if ready.is_err()
            && let Some(mut child) = guard.take()
        {
            signal_child(&child, Signal::SIGQUIT);
            if wait_exit(&mut child, DROP_TIMEOUT).await.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        ready
    }

    fn server_command(&self) -> Result<Command, PgError> {
        let mut command = Command::new(&self.postgres);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args(["-c", "max_connections=300"]);
        self.prepare_command(&mut command, create_log(&self.log_path)?)?;
        Ok(command)
    }

    /// Identity, working directory, a clean environment and output to `log`.
    fn prepare_command(&self, command: &mut Command, log: File) -> Result<(), PgError> {
        use std::os::unix::process::CommandExt;
        let log_err = log
            .try_clone()
            .map_err(|e| PgError::io("duplicating a log file handle", e))?;
        command
            .current_dir(&self.root)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(who) = self.run_as {
            command.uid(who.uid.as_raw()).gid(who.gid.as_raw());
        }
        Ok(())
    }

    async fn wait_ready(&self, child: &mut Child) -> Result<(), PgError> {
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .database("postgres");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(PgError::ServerExited {
                    port: self.port,
                    status: status.to_string(),
                    log: self.log_path.clone(),
                    log_tail: log_tail(&self.log_path),
                });
            }
            let attempt =
                tokio::time::timeout(Duration::from_secs(2), PgConnection::connect_with(&options))
                    .await;
            if let Ok(Ok(conn)) = attempt {
                let _ = conn.close().await;
                tracing::debug!(port = self.port, elapsed = ?started.elapsed(), "postgres is ready");
                return Ok(());
            }
            if started.elapsed() >= START_TIMEOUT {
                return Err(PgError::StartTimeout {
                    port: self.port,
                    waited: START_TIMEOUT,
                    log: self.log_path.clone(),
                    log_tail: log_tail(&self.log_path),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.get_mut().take() {
            // Immediate shutdown: nothing here needs to survive.
            signal_child(&child, Signal::SIGQUIT);
            let deadline = Instant::now() + DROP_TIMEOUT;
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(POLL_INTERVAL),
                }
            }
        }
        if self.keep_dir {
            tracing::info!(dir = %self.root.display(), "keeping the Postgres directory (MATRIX_SIM_KEEP_PG=1)");
        } else if let Err(e) = std::fs::remove_dir_all(&self.root)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.root.display(), error = %e, "could not remove the Postgres directory");
        }
    }
}

/// `Some(postgres user)` when this process is root, `None` to run as ourselves.
fn run_as() -> Result<Option<RunAs>, PgError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name(SUPERUSER) {
        Ok(Some(user)) => Ok(Some(RunAs {
            uid: user.uid,
            gid: user.gid,
        })),
        Ok(None) | Err(_) => Err(PgError::NoPostgresUser),
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16, PgError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| PgError::io("finding a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| PgError::io("finding a free port", e))
}

fn create_log(path: &Path) -> Result<File, PgError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| PgError::io(format!("opening {}", path.display()), e))
}

fn signal_child(child: &Child, signal: Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// Polls until `child` exits or `timeout` passes (`None`).
async fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if started.elapsed() >= timeout => return None,
            Ok(None) => tokio::time::sleep(POLL_INTERVAL).await,
            Err(_) => return None,
        }
    }
}

/// The last lines of a log file, or a note saying why there are none.
fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            lines[start..].join("\n")
        }
        Err(e) => format!("<could not read {}: {e}>", path.display()),
    }
}

fn pid_alive(pid: i32) -> bool {
    // EPERM means it exists but belongs to someone else.
    !matches!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Removes `matrix-sim-pg-<pid>-<n>` directories whose process has exited, first stopping a
/// postmaster that somehow survived it.
fn remove_stale_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let ours = std::process::id();
    for entry in entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(DIR_PREFIX))
        .take(MAX_STALE_DIRS)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name[DIR_PREFIX.len()..]
            .split('-')
            .next()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == ours as i32 || pid_alive(pid) {
            continue;
        }
        let dir = entry.path();
        stop_leftover_postmaster(&dir.join("data/postmaster.pid"));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "removed a Postgres directory left by an earlier run")
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a stale Postgres directory")
            }
        }
    }
}

fn stop_leftover_postmaster(pid_file: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok())
    else {
        return;
    };
    let is_postgres = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmd| String::from_utf8_lossy(&cmd).contains("postgres"))
        .unwrap_or(false);
    if !is_postgres {
        return;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
    let deadline = Instant::now() + DROP_TIMEOUT;
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_directories_of_dead_processes_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22 on Linux, so this pid cannot be alive.
        let dead = tmp.path().join(format!("{DIR_PREFIX}{}-0", 4_194_304 + 7));
        let alive = tmp
            .path()
            .join(format!("{DIR_PREFIX}{}-0", std::process::id()));
        let unrelated = tmp.path().join("something-else-1-0");
        for dir in [&dead, &alive, &unrelated] {
            std::fs::create_dir_all(dir.join("data")).unwrap();
        }
        remove_stale_dirs(tmp.path());
        assert!(!dead.exists());
        assert!(alive.exists());
        assert!(unrelated.exists());
    }

    #[test]
    fn log_tail_keeps_only_the_last_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log");
        let text: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
        std::fs::write(&path, text.join("\n")).unwrap();
        let tail = log_tail(&path);
        assert!(tail.starts_with("line 60"));
        assert!(tail.ends_with("line 99"));
    }
}
