//! Postgres for tests and scenarios: one server per test process, a fresh database per test.
//!
//! Flow: [`PgCluster::shared`] starts a server once per process (provider chosen by
//! [`resolve_provider`] from `MATRIX_SIM_DATABASE_URL`, `MATRIX_SIM_PG_PROVIDER` and a probe of
//! the Docker engine: an explicit URL → a container when an engine answers and has the image
//! (`MATRIX_SIM_PG_IMAGE`, default built by `scripts/build-postgres-image.sh`) → the local
//! PostgreSQL binaries); each test then asks for its own database, either empty
//! ([`PgCluster::fresh_database`]) or cloned from a template that is initialised (e.g. migrated)
//! once per process ([`PgCluster::database_from_template`]).
//!
//! Guarantees:
//! - usable from many `#[tokio::test]` runtimes in one binary: the cluster holds no connection
//!   pool (a pool is tied to the runtime that created it); every operation opens, uses and closes
//!   one admin connection;
//! - database names are unique across processes sharing one server (`sim_<kind>_<pid>_<nonce>_<n>`);
//! - a local server dies with the test process and never outlives a dropped cluster
//!   (see [`local`]); so does a container (see [`docker`]).
//!
//! Caveats: with the `Url` provider, databases are left on the server when the process exits
//! (they all start with `sim_`); call [`PgCluster::drop_database`] to clean up earlier. Cold start of
//! the local provider (initdb + start) takes ≈ 1 s on the CI machine, of the docker provider ≈ 2 s.

mod bin;
mod docker;
mod error;
mod local;
mod provider;
mod spawner;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::OnceCell;

pub use bin::{BinSearch, pg_bin};
pub use error::PgError;
pub use provider::{
    DATABASE_URL_VAR, DEFAULT_IMAGE, DockerStatus, IMAGE_VAR, PROVIDER_VAR, PgEnv, ProviderPlan,
    resolve_provider,
};

use docker::DockerServer;
use error::redact_url;
use local::LocalServer;

/// Where a cluster's server comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgProviderKind {
    /// An existing server, reached through `MATRIX_SIM_DATABASE_URL`.
    Url,
    /// A container started through testcontainers from `MATRIX_SIM_PG_IMAGE`.
    Docker,
    /// A private server started from the local PostgreSQL binaries.
    Local,
}

/// A database made for one test or scenario.
#[derive(Clone, PartialEq, Eq)]
pub struct TestDatabase {
    /// Connection URL of this database (superuser credentials of the cluster).
    pub url: String,
    pub name: String,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &redact_url(&self.url))
            .field("name", &self.name)
            .finish()
    }
}

/// How long one admin connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `CREATE DATABASE … TEMPLATE` fails while anyone is connected to the template; retry this often.
const CLONE_ATTEMPTS: usize = 50;
const CLONE_RETRY_DELAY: Duration = Duration::from_millis(100);
/// SQLSTATE `object_in_use` ("source database is being accessed by other users").
const OBJECT_IN_USE: &str = "55006";

/// One Postgres server and the databases this process made on it.
pub struct PgCluster {
    kind: PgProviderKind,
    admin_url: String,
    /// What runs the server; dropping it stops the server (`Local`) or removes the container.
    server: Server,
    /// Template name given by callers → the database initialised for it. A tokio mutex per name,
    /// held across the initialisation, so that concurrent callers wait for one `init`; a failed
    /// one leaves `None` and the next caller retries. The outer std mutex only guards the map
    /// lookup, never an await.
    templates: Mutex<HashMap<String, TemplateSlot>>,
    /// Suffix counter for generated database names.
    seq: AtomicU64,
}

/// The server a cluster owns, if any.
enum Server {
    /// Someone else's (the `Url` provider).
    External,
    Local(LocalServer),
    /// Boxed: a testcontainers handle is about 1 kB.
    Docker(Box<DockerServer>),
}

type TemplateSlot = Arc<tokio::sync::Mutex<Option<String>>>;
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A template initialiser with its type erased (see [`PgCluster::database_from_template`]).
type TemplateInit<'a> = Box<dyn FnOnce(String) -> BoxFuture<'a, anyhow::Result<()>> + Send + 'a>;

static SHARED: OnceCell<PgCluster> = OnceCell::const_new();

impl PgCluster {
    /// Starts a cluster with the provider chosen from this process's environment.
    ///
    /// Provider order: `MATRIX_SIM_DATABASE_URL` (an admin URL to an existing server) → a
    /// container, when a Docker engine answers and has the image → local binaries.
    /// `MATRIX_SIM_PG_PROVIDER=url|docker|local` forces one; a forced provider that cannot start
    /// is an error, never a silent fallback.
    pub async fn start() -> Result<PgCluster, PgError> {
        Self::start_with(&PgEnv::from_process()).await
    }

    /// Like [`PgCluster::start`], from an explicit environment snapshot. The Docker engine is
    /// probed first when the snapshot has not been and the choice depends on it.
    pub async fn start_with(env: &PgEnv) -> Result<PgCluster, PgError> {
        let started = Instant::now();
        let probed;
        let env = if env.docker_probe_needed() {
            probed = env.clone().probe_docker().await;
            &probed
        } else {
            env
        };
        let plan = resolve_provider(env)?;
        if let (
            ProviderPlan::Local { forced: false },
            DockerStatus::Answers {
                image_present: false,
            },
        ) = (&plan, &env.docker)
        {
            tracing::info!(
                image = env.image(),
                "a Docker engine answers but has no Postgres image; using the local binaries \
                 (build the image with scripts/build-postgres-image.sh to use Docker)"
            );
        }
        let cluster = match plan {
            ProviderPlan::Url { admin_url, .. } => {
                url::Url::parse(&admin_url).map_err(|source| PgError::InvalidUrl {
                    url: redact_url(&admin_url),
                    source,
                })?;
                let cluster = PgCluster::new(PgProviderKind::Url, admin_url, Server::External);
                cluster.admin_connection().await?.close().await.ok();
                cluster
            }
            ProviderPlan::Docker { image, .. } => {
                let server = DockerServer::start(&image).await?;
                PgCluster::new(
                    PgProviderKind::Docker,
                    server.admin_url(),
                    Server::Docker(Box::new(server)),
                )
            }
            ProviderPlan::Local { .. } => {
                let server = LocalServer::start().await?;
                PgCluster::new(
                    PgProviderKind::Local,
                    server.admin_url(),
                    Server::Local(server),
                )
            }
        };
        tracing::info!(
            kind = ?cluster.kind,
            url = %redact_url(&cluster.admin_url),
            elapsed = ?started.elapsed(),
            "Postgres cluster ready"
        );
        Ok(cluster)
    }

    /// The process-wide cluster, started on first use and shared by every test in the binary.
    ///
    /// Safe to call from many `#[tokio::test]` runtimes at once: callers wait for one start; if
    /// it fails, each caller gets the error and a later call tries again. Since a `static` is
    /// never dropped, a local server is stopped by the kernel when the process exits
    /// (parent-death signal) and a container by a reaper process (see [`docker`]).
    pub async fn shared() -> Result<&'static PgCluster, PgError> {
        SHARED.get_or_try_init(PgCluster::start).await
    }

    fn new(kind: PgProviderKind, admin_url: String, server: Server) -> PgCluster {
        PgCluster {
            kind,
            admin_url,
            server,
            templates: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
        }
    }

    pub fn kind(&self) -> PgProviderKind {
        self.kind
    }

    /// A superuser URL to the server's maintenance database.
    pub fn admin_url(&self) -> String {
        self.admin_url.clone()
    }

    fn local(&self) -> Option<&LocalServer> {
        match &self.server {
            Server::Local(server) => Some(server),
            _ => None,
        }
    }

    /// The data directory of a `Local` cluster.
    pub fn data_dir(&self) -> Option<&Path> {
        self.local().map(LocalServer::data_dir)
    }

    /// The server log of a `Local` cluster.
    pub fn log_path(&self) -> Option<&Path> {
        self.local().map(LocalServer::log_path)
    }

    /// The container name of a `Docker` cluster (`docker logs <name>` shows the server log).
    pub fn container_name(&self) -> Option<&str> {
        match &self.server {
            Server::Docker(server) => Some(server.container_name()),
            _ => None,
        }
    }

    /// A new, empty database.
    pub async fn fresh_database(&self) -> Result<TestDatabase, PgError> {
        let name = self.unique_name("db");
        let mut conn = self.admin_connection().await?;
        let created = execute(&mut conn, format!("CREATE DATABASE {}", quote_ident(&name))).await;
        conn.close().await.ok();
        created.map_err(|e| PgError::sql(format!("creating database {name}"), e))?;
        Ok(self.test_database(name))
    }

    /// A new database cloned from the template called `template`, which is created and
    /// initialised by `init(template_url)` the first time this cluster sees that name.
    ///
    /// Guarantees: `init` runs once per cluster per name even under concurrent callers (the
    /// others wait, and their `init` is dropped unused); after `init`, the template's other
    /// sessions are terminated and it is closed to new connections, so clones cannot race with a
    /// connection pool that `init` forgot to close. If `init` fails, the half-made template is
    /// dropped and the next caller runs its own `init`.
    ///
    /// `init` and its future must be `Send` (tests call this from spawned tasks). Inside it, run
    /// SQL through `sqlx::Executor::execute(&mut conn, "…")`, a pool or a migrator rather than
    /// `sqlx::raw_sql`, whose future rustc cannot prove `Send` in that position.
    pub async fn database_from_template<F, Fut>(
        &self,
        template: &str,
        init: F,
    ) -> Result<TestDatabase, PgError>
    where
        F: FnOnce(String) -> Fut + Send,
        Fut: Future<Output = anyhow::Result<()>> + Send,
    {
        // Erase the closure's type before the body: awaiting generic code around sqlx and tokio
        // locks inside a generic `async fn` trips rustc's higher-ranked `Send` inference at
        // `tokio::spawn` call sites ("implementation of `Send` is not general enough").
        let init: TemplateInit<'_> = Box::new(move |url| Box::pin(init(url)));
        self.clone_template(template, init).await
    }

    async fn clone_template(
        &self,
        template: &str,
        init: TemplateInit<'_>,
    ) -> Result<TestDatabase, PgError> {
        let slot = {
            let mut templates = self.templates.lock().unwrap_or_else(|p| p.into_inner());
            templates.entry(template.to_string()).or_default().clone()
        };
        let template_db = {
            // Held across the initialisation: concurrent callers for this name wait here.
            let mut slot = slot.lock().await;
            match slot.as_ref() {
                Some(name) => name.clone(),
                None => {
                    let name = self.create_template(template, init).await?;
                    *slot = Some(name.clone());
                    name
                }
            }
        };
        let name = self.unique_name("db");
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(&template_db)
        );
        let mut conn = self.admin_connection().await?;
        let mut attempt = 1;
        let created = loop {
            match execute(&mut conn, sql.clone()).await {
                Err(e) if is_object_in_use(&e) && attempt < CLONE_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(CLONE_RETRY_DELAY).await;
                }
                other => break other,
            }
        };
        conn.close().await.ok();
        created.map_err(|e| PgError::sql(format!("cloning {template_db} into {name}"), e))?;
        Ok(self.test_database(name))
    }

    async fn create_template(
        &self,
        template: &str,
        init: TemplateInit<'_>,
    ) -> Result<String, PgError> {
        let started = Instant::now();
        let name = self.unique_name(&format!("tpl_{}", sanitize(template)));
        let quoted = quote_ident(&name);
        let mut conn = self.admin_connection().await?;
        execute(&mut conn, format!("CREATE DATABASE {quoted}"))
            .await
            .map_err(|e| PgError::sql(format!("creating template database {name}"), e))?;
        if let Err(e) = init(self.database_url(&name)).await {
            let _ = execute(
                &mut conn,
                format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"),
            )
            .await;
            conn.close().await.ok();
            return Err(PgError::TemplateInit {
                template: template.to_string(),
                source: e.into(),
            });
        }
        // Close the template to new sessions, then end the ones `init` left behind (a dropped
        // sqlx pool closes its connections in the background, possibly after `init` returned).
        let sealed = execute(
            &mut conn,
            format!(
                "ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid();"
            ),
        )
        .await;
        conn.close().await.ok();
        sealed.map_err(|e| PgError::sql(format!("sealing template database {name}"), e))?;
        tracing::info!(template, database = %name, elapsed = ?started.elapsed(), "template database ready");
        Ok(name)
    }

    /// Drops a database made by this cluster (terminating its sessions); absent is fine.
    pub async fn drop_database(&self, name: &str) -> Result<(), PgError> {
        let mut conn = self.admin_connection().await?;
        let dropped = execute(
            &mut conn,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)),
        )
        .await;
        conn.close().await.ok();
        dropped.map_err(|e| PgError::sql(format!("dropping database {name}"), e))
    }

    /// Stops the server (fast shutdown) and starts it again on the same port and data
    /// directory (container), for "control-plane Postgres restarted mid-run" scenarios. `Local`
    /// and `Docker` only.
    pub async fn restart(&self) -> Result<(), PgError> {
        match &self.server {
            Server::Local(server) => server.restart().await,
            Server::Docker(server) => server.restart().await,
            Server::External => Err(PgError::Unsupported {
                operation: "restarting the Postgres server",
                kind: self.kind,
            }),
        }
    }

    async fn admin_connection(&self) -> Result<PgConnection, PgError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&self.admin_url)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(source)) => Err(PgError::Connect {
                url: redact_url(&self.admin_url),
                source,
            }),
            Err(_) => Err(PgError::ConnectTimeout {
                url: redact_url(&self.admin_url),
                waited: CONNECT_TIMEOUT,
            }),
        }
    }

    fn test_database(&self, name: String) -> TestDatabase {
        TestDatabase {
            url: self.database_url(&name),
            name,
        }
    }

    /// The admin URL with its database replaced by `name`.
    fn database_url(&self, name: &str) -> String {
        // Cannot fail: the admin URL was parsed (Url) or built (Local) when the cluster started.
        let mut url = url::Url::parse(&self.admin_url).expect("admin URL was validated at start");
        url.set_path(&format!("/{name}"));
        url.to_string()
    }

    /// `sim_<kind>_<pid>_<nonce>_<n>`: unique across processes sharing one server, ≤ 63 bytes.
    fn unique_name(&self, kind: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "sim_{kind}_{}_{:08x}_{n}",
            std::process::id(),
            process_nonce()
        );
        debug_assert!(name.len() <= 63, "{name}");
        name
    }
}

/// A random number fixed for this process, so that two machines' pid 1 don't collide.
fn process_nonce() -> u32 {
    static NONCE: OnceLock<u32> = OnceLock::new();
    *NONCE.get_or_init(rand::random)
}

/// Lowercase alphanumerics and `_`, at most 20 bytes: safe inside an identifier.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(20)
        .collect()
}

/// Runs `sql` (simple protocol, so several statements and `CREATE DATABASE` are fine).
///
/// Boxed on purpose: awaiting sqlx's generic `execute` directly inside the generic
/// `database_from_template` makes rustc fail to prove the caller's future `Send` ("implementation
/// of `Executor` is not general enough"); a boxed `Send` future hides those lifetimes.
fn execute(conn: &mut PgConnection, sql: String) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    // A bare `&str` has no arguments, so sqlx sends it with the simple query protocol.
    Box::pin(async move {
        sqlx::Executor::execute(conn, sql.as_str())
            .await
            .map(|_| ())
    })
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn is_object_in_use(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == OBJECT_IN_USE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_unique_identifiers() {
        let cluster = PgCluster::new(
            PgProviderKind::Url,
            "postgres://u@127.0.0.1:1/postgres".into(),
            Server::External,
        );
        let a = cluster.unique_name(&format!("tpl_{}", sanitize("Control-Plane Migrations v2")));
        let b = cluster.unique_name("db");
        assert_ne!(a, b);
        for name in [&a, &b] {
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
        assert!(a.starts_with("sim_tpl_control_plane_migrat_"), "{a}");
    }

    #[test]
    fn database_urls_replace_only_the_path() {
        let cluster = PgCluster::new(
            PgProviderKind::Url,
            "postgres://admin:pw@db.example:5433/postgres?sslmode=disable".into(),
            Server::External,
        );
        assert_eq!(
            cluster.database_url("sim_db_1"),
            "postgres://admin:pw@db.example:5433/sim_db_1?sslmode=disable"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
