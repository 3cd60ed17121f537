//! The `docker` provider: PostgreSQL in a container started through testcontainers.
//!
//! One code path drives the official `postgres` image and the image that
//! `scripts/build-postgres-image.sh` builds offline from the host's binaries (the default, since
//! no registry is reachable here): both honour the official environment contract
//! (`POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_DB`, `POSTGRES_INITDB_ARGS`, port 5432) and
//! print the ready line twice, once for the init server (through `pg_ctl`, on stdout) and once for
//! the real one (on stderr), so waiting for it on stderr waits for the server that listens on TCP.
//!
//! Flow of a start: ping the engine (a missing socket fails at once with testcontainers'
//! client-init error, matched here) → remove stale containers → start a named, labelled container
//! with 5432 published on 127.0.0.1 only, on a port chosen here (so that a restart keeps it) →
//! wait for the ready line → poll until a connection succeeds → start a reaper.
//!
//! Guarantees (cleanup):
//! - a dropped [`DockerServer`] removes its container (testcontainers' `ContainerAsync` drop; we
//!   give it a runtime when dropped outside one);
//! - a start that fails or times out removes its container, after reading its log tail;
//! - the shared cluster lives in a `static` and is never dropped: a reaper process (`sh` waiting
//!   for EOF on a pipe from us, then `docker rm -f`) removes the container when this process
//!   exits, however it exits (panic, SIGKILL);
//! - containers labelled as ours whose owner process is gone (no `docker` CLI for the reaper, a
//!   reboot) are removed by the next start on the same machine.
//!
//! Caveats: image references with a digest (`name@sha256:…`) are not supported; the container runs
//! with fsync off (test data only).

use std::collections::HashMap;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::HostConfig;
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::core::client::{ClientError, docker_client_instance};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};

use super::PgError;
use super::local::SUPERUSER;
use super::provider::DockerStatus;

/// Logged by PostgreSQL when it accepts connections; see the module docs for why stderr.
pub(crate) const READY_LINE: &str = "database system is ready to accept connections";
const CONTAINER_PORT: u16 = 5432;
/// The server command: the same test tuning as the local provider. Both images pass it to
/// `postgres` after initialisation.
const SERVER_COMMAND: [&str; 9] = [
    "postgres",
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=300",
];
/// Marks our containers, so that the stale sweep never touches anyone else's.
const ROLE_LABEL: &str = "matrix-fleet.sim.role";
const ROLE: &str = "postgres";
/// `<hostname>/<boot id>/<pid>/<process start time>` of the process that started the container.
const OWNER_LABEL: &str = "matrix-fleet.sim.owner";
const NAME_PREFIX: &str = "matrix-sim-pg-";
/// Ping and image lookup of the probe, each.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Container start to ready line (initdb, init server, real server: ≈ 2.5 s on the CI machine).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// The whole start, including an attempt to pull a missing image.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// From the ready line (or a restart) to a successful connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const STOP_TIMEOUT_SECS: i32 = 30;
/// Listing, log reading and removal during cleanup, each.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many stale containers are removed per start.
const MAX_STALE: usize = 64;
const LOG_TAIL_LINES: &str = "40";
/// Attempts at a free host port (another process may take the one we probed).
const PORT_ATTEMPTS: usize = 3;
/// Waits for EOF on stdin (this process closed the pipe or died), then removes the container.
const REAPER_SCRIPT: &str = r#"read -r _ || true; exec docker rm --force --volumes "$1""#;

/// Distinguishes several containers started by one process.
static CONTAINER_SEQ: AtomicU32 = AtomicU32::new(0);

/// Asks the engine whether it answers and has `image`. Never hangs: client initialisation fails at
/// once without a socket, and the ping and lookup are bounded.
pub(crate) async fn probe(image: &str) -> DockerStatus {
    let docker = match client().await {
        Ok(docker) => docker,
        Err(reason) => return DockerStatus::Unavailable { reason },
    };
    let image_present = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, docker.inspect_image(image)).await,
        Ok(Ok(_))
    );
    DockerStatus::Answers { image_present }
}

/// testcontainers' Docker client, once the engine has answered a ping; else why not.
async fn client() -> Result<Docker, String> {
    let docker = docker_client_instance().await.map_err(|e| match e {
        // No socket at DOCKER_HOST or /var/run/docker.sock: fails at once, without a request.
        ClientError::Init(source) => format!("no Docker client could be initialised ({source})"),
        other => format!("invalid Docker configuration ({other})"),
    })?;
    match tokio::time::timeout(PROBE_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(format!("the engine did not answer a ping ({e})")),
        Err(_) => Err(format!(
            "the engine did not answer a ping within {PROBE_TIMEOUT:?}"
        )),
    }
}

/// A PostgreSQL container that this process owns.
pub(crate) struct DockerServer {
    /// `None` only inside `Drop`; dropping it removes the container.
    container: Option<ContainerAsync<GenericImage>>,
    /// `matrix-sim-pg-<pid>-<n>-<nonce>`.
    name: String,
    image: String,
    /// Host port on 127.0.0.1, fixed for the container's life (kept across restarts).
    port: u16,
    /// Superuser password, random per container.
    password: String,
    /// Removes the container if this process ends without dropping us; dropping it closes the
    /// pipe the reaper waits on. `None` if it could not be started (the sweep covers that).
    reaper: Option<Reaper>,
    /// Serialises restarts (held across the stop/start awaits, hence tokio's mutex).
    restarting: tokio::sync::Mutex<()>,
}

impl DockerServer {
    /// Starts a container from `image` and returns once it accepts connections.
    pub(crate) async fn start(image: &str) -> Result<DockerServer, PgError> {
        let docker = client()
            .await
            .map_err(|reason| PgError::DockerNotAvailable { reason })?;
        sweep_stale(&docker).await;
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::start_on(&docker, image, free_port()?).await {
                Err(err) if chain_contains(&err, "address already in use") => {
                    tracing::warn!("host port taken before the container bound it; retrying");
                    last_error = Some(err);
                }
                other => return other,
            }
        }
        Err(last_error.expect("PORT_ATTEMPTS > 0"))
    }

    async fn start_on(docker: &Docker, image: &str, port: u16) -> Result<DockerServer, PgError> {
        let name = format!(
            "{NAME_PREFIX}{}-{}-{:08x}",
            std::process::id(),
            CONTAINER_SEQ.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let password = format!("{:032x}", rand::random::<u128>());
        let (repository, tag) = split_image(image);
        let request = GenericImage::new(repository, tag)
            .with_exposed_port(CONTAINER_PORT.tcp())
            .with_wait_for(WaitFor::message_on_stderr(READY_LINE))
            .with_env_var("POSTGRES_USER", SUPERUSER)
            .with_env_var("POSTGRES_PASSWORD", password.clone())
            .with_env_var("POSTGRES_DB", "postgres")
            // The data dies with the container: skip initdb's fsync (≈ 1 s).
            .with_env_var("POSTGRES_INITDB_ARGS", "--no-sync")
            .with_cmd(SERVER_COMMAND)
            .with_container_name(name.clone())
            .with_label(ROLE_LABEL, ROLE)
            .with_label(
                OWNER_LABEL,
                Owner::current().map_or_else(String::new, |o| o.label()),
            )
            .with_mapped_port(port, CONTAINER_PORT.tcp())
            .with_host_config_modifier(bind_to_loopback)
            .with_startup_timeout(STARTUP_TIMEOUT);

        let error = match tokio::time::timeout(START_TIMEOUT, request.start()).await {
            Ok(Ok(container)) => {
                let server = DockerServer {
                    reaper: Reaper::spawn(container.id()),
                    container: Some(container),
                    name,
                    image: image.to_string(),
                    port,
                    password,
                    restarting: tokio::sync::Mutex::new(()),
                };
                // On error the server is dropped here, which removes the container.
                server.wait_connectable().await?;
                return Ok(server);
            }
            Ok(Err(error)) => error,
            Err(_) => TestcontainersError::other(format!(
                "no ready line within {START_TIMEOUT:?} (including any image pull)"
            )),
        };
        let log_tail = log_tail(docker, &name).await;
        remove_quietly(docker, &name).await;
        Err(match error {
            TestcontainersError::Client(ClientError::Init(source)) => PgError::DockerNotAvailable {
                reason: format!("no Docker client could be initialised ({source})"),
            },
            error @ TestcontainersError::Client(ClientError::PullImage { .. }) => {
                PgError::ImageUnavailable {
                    image: image.to_string(),
                    source: error,
                }
            }
            error => PgError::ContainerStart {
                image: image.to_string(),
                container: name,
                log_tail,
                source: Box::new(error),
            },
        })
    }

    /// Superuser URL of the `postgres` database, through the published port.
    pub(crate) fn admin_url(&self) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/postgres",
            self.password, self.port
        )
    }

    pub(crate) fn container_name(&self) -> &str {
        &self.name
    }

    /// Stops the container (SIGINT: fast shutdown) and starts it again; the data and the host
    /// port survive, sessions do not.
    pub(crate) async fn restart(&self) -> Result<(), PgError> {
        let _one_at_a_time = self.restarting.lock().await;
        let container = self.container.as_ref().expect("present until drop");
        container
            .stop_with_timeout(Some(STOP_TIMEOUT_SECS))
            .await
            .map_err(|source| PgError::Docker {
                what: format!("stopping the Postgres container {}", self.name),
                source,
            })?;
        container.start().await.map_err(|source| PgError::Docker {
            what: format!("starting the Postgres container {} again", self.name),
            source,
        })?;
        self.wait_connectable().await
    }

    /// Polls until a connection succeeds: right after the ready line the port proxy may still
    /// refuse, and after a restart there is no fresh line to wait for.
    async fn wait_connectable(&self) -> Result<(), PgError> {
        let url = self.admin_url();
        let started = Instant::now();
        loop {
            let last_error = match tokio::time::timeout(
                CONNECT_ATTEMPT_TIMEOUT,
                PgConnection::connect(&url),
            )
            .await
            {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    tracing::debug!(container = %self.name, elapsed = ?started.elapsed(), "postgres container accepts connections");
                    return Ok(());
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {CONNECT_ATTEMPT_TIMEOUT:?}"),
            };
            if started.elapsed() >= CONNECT_TIMEOUT {
                let log_tail = match docker_client_instance().await {
                    Ok(docker) => log_tail(&docker, &self.name).await,
                    Err(e) => format!("<no Docker client to read the log: {e}>"),
                };
                return Err(PgError::ContainerStart {
                    image: self.image.clone(),
                    container: self.name.clone(),
                    log_tail,
                    source: format!(
                        "no connection to 127.0.0.1:{} within {CONNECT_TIMEOUT:?}; last error: {last_error}",
                        self.port
                    )
                    .into(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        if let Some(container) = self.container.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                drop(container);
            } else {
                // testcontainers' drop needs a runtime (it panics without one): lend it one.
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(async move { drop(container) }),
                    Err(e) => {
                        tracing::warn!(container = %self.name, error = %e, "no runtime to remove the container; leaving it to the reaper");
                        std::mem::forget(container);
                    }
                }
            }
        }
        // The reaper now finds the container gone, and exits.
        self.reaper.take();
    }
}

/// Whether `needle` appears in the message of `err` or of any of its sources.
fn chain_contains(err: &(dyn std::error::Error + 'static), needle: &str) -> bool {
    std::iter::successors(Some(err), |e| e.source()).any(|e| e.to_string().contains(needle))
}

/// Publishes ports on 127.0.0.1 only (testcontainers binds every address by default).
fn bind_to_loopback(host_config: &mut HostConfig) {
    let bindings = host_config.port_bindings.iter_mut().flat_map(|ports| {
        ports
            .values_mut()
            .flat_map(|bindings| bindings.iter_mut().flatten())
    });
    for binding in bindings {
        binding.host_ip = Some("127.0.0.1".into());
    }
}

/// `name:tag` → (`name`, `tag`); a missing tag is `latest`. A registry port is not a tag.
fn split_image(image: &str) -> (&str, &str) {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], &image[name_start + i + 1..]),
        None => (image, "latest"),
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16, PgError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| PgError::io("finding a free port", e))
}

/// The last lines the container logged (stdout and stderr), or why there are none.
async fn log_tail(docker: &Docker, container: &str) -> String {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(LOG_TAIL_LINES)
        .build();
    let read = async {
        let mut out = String::new();
        let mut logs = docker.logs(container, Some(options));
        while let Some(chunk) = logs.next().await {
            match chunk {
                Ok(chunk) => out.push_str(&chunk.to_string()),
                Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                }) => {
                    out.push_str("<the container is gone; what it printed is in the cause below>");
                    break;
                }
                Err(e) => {
                    out.push_str(&format!("<log read failed: {e}>"));
                    break;
                }
            }
        }
        out
    };
    tokio::time::timeout(CLEANUP_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| format!("<log not read within {CLEANUP_TIMEOUT:?}>"))
}

async fn remove_quietly(docker: &Docker, container: &str) {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    match tokio::time::timeout(
        CLEANUP_TIMEOUT,
        docker.remove_container(container, Some(options)),
    )
    .await
    {
        Ok(Ok(())) => tracing::debug!(container, "removed container"),
        Ok(Err(e)) => tracing::debug!(container, error = %e, "container not removed"),
        Err(_) => tracing::warn!(container, "removing the container timed out"),
    }
}

/// Removes our containers (by label) whose owner process on this machine is gone.
async fn sweep_stale(docker: &Docker) {
    let Some(me) = Owner::current() else {
        return;
    };
    let filters = HashMap::from([("label", vec![format!("{ROLE_LABEL}={ROLE}")])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let listed =
        match tokio::time::timeout(CLEANUP_TIMEOUT, docker.list_containers(Some(options))).await {
            Ok(Ok(listed)) => listed,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not list containers to remove stale ones");
                return;
            }
            Err(_) => {
                tracing::warn!("listing containers timed out; stale ones are left");
                return;
            }
        };
    for summary in listed.into_iter().take(MAX_STALE) {
        let owner = summary
            .labels
            .as_ref()
            .and_then(|labels| labels.get(OWNER_LABEL))
            .and_then(|label| Owner::parse(label));
        if let (Some(id), Some(owner)) = (summary.id, owner)
            && owner.is_stale_for(&me)
        {
            tracing::info!(container = %id, owner = %owner.label(), "removing a stale Postgres container");
            remove_quietly(docker, &id).await;
        }
    }
}

/// The process that started a container, precise enough to tell whether it still runs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owner {
    host: String,
    /// `/proc/sys/kernel/random/boot_id`: pids restart after a reboot.
    boot: String,
    pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22): pids are reused.
    start: u64,
}

impl Owner {
    /// This process; `None` without `/proc` (the sweep is then skipped).
    fn current() -> Option<Owner> {
        let pid = std::process::id();
        Some(Owner {
            host: read_trimmed("/proc/sys/kernel/hostname")?,
            boot: read_trimmed("/proc/sys/kernel/random/boot_id")?,
            pid,
            start: process_start_time(pid)?,
        })
    }

    fn label(&self) -> String {
        format!("{}/{}/{}/{}", self.host, self.boot, self.pid, self.start)
    }

    fn parse(label: &str) -> Option<Owner> {
        let mut parts = label.split('/');
        let owner = Owner {
            host: parts.next()?.to_string(),
            boot: parts.next()?.to_string(),
            pid: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(owner)
    }

    /// Started on `me`'s machine by a process that no longer runs. Containers of other machines
    /// sharing the engine are never stale from here.
    fn is_stale_for(&self, me: &Owner) -> bool {
        self.host == me.host
            && (self.boot != me.boot || process_start_time(self.pid) != Some(self.start))
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Field 22 of `/proc/<pid>/stat`; `None` if there is no such process.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; fields 3… follow the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// A child process that removes a container once its stdin reaches EOF: when the
/// [`DockerServer`] is dropped or when this process ends, however it ends (the kernel closes the
/// pipe). It runs in its own process group so that a Ctrl-C aimed at the test run reaches it only
/// through the pipe.
struct Reaper {
    /// Write end of the pipe; dropping it is the signal.
    stdin: Option<ChildStdin>,
    child: Option<Child>,
}

impl Reaper {
    fn spawn(container_id: &str) -> Option<Reaper> {
        use std::os::unix::process::CommandExt;
        if !on_path("docker") {
            tracing::warn!(
                "no `docker` CLI on PATH: a container this process cannot drop (the shared \
                 cluster) is removed by the next start instead of at exit"
            );
            return None;
        }
        let spawned = Command::new("sh")
            .args(["-c", REAPER_SCRIPT, "matrix-sim-pg-reaper", container_id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        match spawned {
            Ok(mut child) => Some(Reaper {
                stdin: child.stdin.take(),
                child: Some(child),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not start the container reaper");
                None
            }
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(mut child) = self.child.take() {
            // Collect its exit status off this thread, so it never lingers as a zombie.
            let _ = std::thread::Builder::new()
                .name("sim-pg-reaper-wait".into())
                .spawn(move || child.wait());
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_recognised_in_the_error_chain() {
        let err = PgError::ContainerStart {
            image: "i".into(),
            container: "c".into(),
            log_tail: String::new(),
            source: "driver failed programming external connectivity: bind: address already in use"
                .into(),
        };
        assert!(!err.to_string().contains("address already in use"));
        assert!(chain_contains(&err, "address already in use"));
    }

    #[test]
    fn image_references_split_into_name_and_tag() {
        assert_eq!(
            split_image("matrix-fleet/postgres:15-local"),
            ("matrix-fleet/postgres", "15-local")
        );
        assert_eq!(split_image("postgres"), ("postgres", "latest"));
        assert_eq!(
            split_image("localhost:5000/pg/postgres"),
            ("localhost:5000/pg/postgres", "latest")
        );
        assert_eq!(
            split_image("localhost:5000/postgres:15"),
            ("localhost:5000/postgres", "15")
        );
    }

    #[test]
    fn owner_labels_round_trip() {
        let me = Owner::current().expect("/proc is mounted");
        assert_eq!(Owner::parse(&me.label()), Some(me.clone()));
        assert_eq!(Owner::parse("host/boot/12"), None);
        assert_eq!(Owner::parse("host/boot/12/34/extra"), None);
        assert_eq!(Owner::parse("host/boot/pid/34"), None);
    }

    #[test]
    fn only_containers_of_dead_processes_on_this_machine_are_stale() {
        let me = Owner::current().expect("/proc is mounted");
        assert!(!me.is_stale_for(&me), "this process runs");

        let pid_reused = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert!(pid_reused.is_stale_for(&me));

        let mut exited = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = exited.id();
        exited.wait().unwrap();
        let dead = Owner {
            pid: dead_pid,
            ..me.clone()
        };
        assert!(dead.is_stale_for(&me));

        let before_reboot = Owner {
            boot: "another-boot".into(),
            ..me.clone()
        };
        assert!(before_reboot.is_stale_for(&me));

        let elsewhere = Owner {
            host: "another-host".into(),
            pid: dead_pid,
            ..me.clone()
        };
        assert!(!elsewhere.is_stale_for(&me));
    }

    /// Needs an engine and the image: runs only when `MATRIX_SIM_PG_PROVIDER=docker` (as in CI).
    #[tokio::test]
    async fn the_sweep_removes_containers_of_dead_processes_only() {
        use testcontainers::bollard::models::ContainerCreateBody;
        use testcontainers::bollard::query_parameters::CreateContainerOptionsBuilder;

        let env = crate::postgres::PgEnv::from_process();
        if !env
            .provider
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("docker"))
        {
            eprintln!("skipped: runs only with MATRIX_SIM_PG_PROVIDER=docker");
            return;
        }
        let docker = client()
            .await
            .unwrap_or_else(|e| panic!("no Docker engine: {e}"));
        let me = Owner::current().unwrap();
        let mut exited = std::process::Command::new("true").spawn().unwrap();
        let dead = Owner {
            pid: exited.id(),
            ..me.clone()
        };
        exited.wait().unwrap();

        let mut names = Vec::new();
        for (what, owner) in [("dead", &dead), ("alive", &me)] {
            let name = format!(
                "{NAME_PREFIX}sweep-test-{what}-{:08x}",
                rand::random::<u32>()
            );
            let body = ContainerCreateBody {
                image: Some(env.image().to_string()),
                labels: Some(HashMap::from([
                    (ROLE_LABEL.to_string(), ROLE.to_string()),
                    (OWNER_LABEL.to_string(), owner.label()),
                ])),
                ..ContainerCreateBody::default()
            };
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            docker
                .create_container(Some(options), body)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "creating a container from {}: {e} (build the image: \
                         scripts/build-postgres-image.sh)",
                        env.image()
                    )
                });
            names.push(name);
        }
        sweep_stale(&docker).await;
        let dead_left = docker.inspect_container(&names[0], None).await.is_ok();
        let alive_left = docker.inspect_container(&names[1], None).await.is_ok();
        for name in &names {
            remove_quietly(&docker, name).await;
        }
        assert!(!dead_left, "the dead process's container is removed");
        assert!(alive_left, "a running process's container is kept");
    }

    #[test]
    fn loopback_binding_covers_every_published_port() {
        use testcontainers::bollard::models::PortBinding;
        let binding = |port: &str| {
            Some(vec![PortBinding {
                host_ip: None,
                host_port: Some(port.into()),
            }])
        };
        let mut host_config = HostConfig {
            port_bindings: Some(HashMap::from([
                ("5432/tcp".to_string(), binding("40000")),
                ("9187/tcp".to_string(), binding("40001")),
            ])),
            ..HostConfig::default()
        };
        bind_to_loopback(&mut host_config);
        let bindings = host_config.port_bindings.unwrap();
        for list in bindings.values() {
            for b in list.as_ref().unwrap() {
                assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
            }
        }
        assert_eq!(
            bindings["5432/tcp"].as_ref().unwrap()[0]
                .host_port
                .as_deref(),
            Some("40000")
        );
    }
}
