//! `sim::postgres` against a real server: the shared cluster, fresh and templated databases,
//! the URL, docker and local providers, and restart.
//!
//! The shared cluster uses whatever provider the environment picks. The tests that need a Docker
//! engine and the Postgres image run only when `MATRIX_SIM_PG_PROVIDER=docker` (CI sets it after
//! `scripts/build-postgres-image.sh`), so that a plain `cargo test` never depends on Docker; with
//! it set they fail, never skip, when the engine or image is missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sim::postgres::{PgCluster, PgEnv, PgError, PgProviderKind};
use sqlx::{Connection, PgConnection};

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("connect")
}

#[tokio::test]
async fn shared_cluster_starts_once_across_runtimes() {
    let started = Instant::now();
    let first = PgCluster::shared().await.expect("shared cluster");
    eprintln!(
        "PgCluster::shared() took {:?} (cold if this test ran first)",
        started.elapsed()
    );

    // Other tests run on other runtimes; so does this thread.
    let other = std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let cluster = PgCluster::shared().await.expect("shared cluster");
                (cluster as *const PgCluster as usize, cluster.admin_url())
            })
    })
    .join()
    .unwrap();
    assert_eq!(other.0, first as *const PgCluster as usize);
    assert_eq!(other.1, first.admin_url());

    let mut conn = connect(&first.admin_url()).await;
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
}

#[tokio::test]
async fn two_fresh_databases_are_independent() {
    let cluster = PgCluster::shared().await.unwrap();
    let a = cluster.fresh_database().await.unwrap();
    let b = cluster.fresh_database().await.unwrap();
    assert_ne!(a.name, b.name);
    assert_ne!(a.url, b.url);

    let mut ca = connect(&a.url).await;
    sqlx::raw_sql("CREATE TABLE only_in_a (x int); INSERT INTO only_in_a VALUES (1);")
        .execute(&mut ca)
        .await
        .unwrap();
    let mut cb = connect(&b.url).await;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('only_in_a') IS NOT NULL")
        .fetch_one(&mut cb)
        .await
        .unwrap();
    assert!(
        !exists,
        "a table made in one database must not appear in another"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_init_runs_once_under_ten_concurrent_callers() {
    let cluster = PgCluster::shared().await.unwrap();
    let inits = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let inits = inits.clone();
        tasks.push(tokio::spawn(async move {
            cluster
                .database_from_template("concurrent-init", move |url| async move {
                    inits.fetch_add(1, Ordering::SeqCst);
                    let mut conn = PgConnection::connect(&url).await?;
                    // `Executor::execute` with a bare string (simple protocol): unlike
                    // `raw_sql`, its future is provably `Send` inside a spawned task.
                    sqlx::Executor::execute(
                        &mut conn,
                        "CREATE TABLE migrated (id int PRIMARY KEY); INSERT INTO migrated VALUES (42);",
                    )
                    .await?;
                    // Deliberately not closed: the template must be sealed regardless.
                    std::mem::forget(conn);
                    Ok(())
                })
                .await
        }));
    }
    let mut names = std::collections::HashSet::new();
    for task in tasks {
        let db = task.await.unwrap().expect("database from template");
        let mut conn = connect(&db.url).await;
        let id: i32 = sqlx::query_scalar("SELECT id FROM migrated")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(id, 42);
        assert!(names.insert(db.name));
    }
    assert_eq!(inits.load(Ordering::SeqCst), 1);
    assert_eq!(names.len(), 10);
}

#[tokio::test]
async fn a_failed_template_init_is_reported_and_retried() {
    let cluster = PgCluster::shared().await.unwrap();
    let err = cluster
        .database_from_template("fails-first", |_| async {
            anyhow::bail!("migration 3 is broken")
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("fails-first"), "{err}");
    assert!(
        format!("{:?}", anyhow::Error::from(err)).contains("migration 3 is broken"),
        "the cause must be kept as the source"
    );
    let db = cluster
        .database_from_template("fails-first", |_| async { Ok(()) })
        .await
        .expect("a later caller initialises the template again");
    connect(&db.url).await;
}

#[tokio::test]
async fn the_url_provider_uses_an_existing_server() {
    let shared = PgCluster::shared().await.unwrap();
    let env = PgEnv {
        database_url: Some(shared.admin_url()),
        provider: Some("url".into()),
        ..PgEnv::default()
    };
    let cluster = PgCluster::start_with(&env).await.expect("url provider");
    assert_eq!(cluster.kind(), PgProviderKind::Url);
    let db = cluster.fresh_database().await.unwrap();
    connect(&db.url).await;
    cluster.drop_database(&db.name).await.unwrap();
    assert!(PgConnection::connect(&db.url).await.is_err());
    assert!(cluster.restart().await.is_err(), "restart is local-only");
}

#[tokio::test]
async fn an_unreachable_forced_url_is_an_error_not_a_fallback() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = PgEnv {
        database_url: Some(format!(
            "postgres://postgres:secret@127.0.0.1:{port}/postgres"
        )),
        provider: None,
        ..PgEnv::default()
    };
    let err = match PgCluster::start_with(&env).await {
        Ok(_) => panic!("nothing listens on port {port}"),
        Err(err) => err,
    };
    let msg = err.to_string();
    assert!(msg.contains("could not connect"), "{msg}");
    assert!(!msg.contains("secret"), "passwords are redacted: {msg}");
}

#[tokio::test]
async fn a_local_cluster_survives_restart_and_is_removed_on_drop() {
    let env = PgEnv {
        database_url: None,
        provider: Some("local".into()),
        ..PgEnv::default()
    };
    let started = Instant::now();
    let cluster = PgCluster::start_with(&env).await.expect("local cluster");
    eprintln!("a private local cluster started in {:?}", started.elapsed());
    assert_eq!(cluster.kind(), PgProviderKind::Local);
    let data_dir = cluster.data_dir().unwrap().to_path_buf();
    assert!(data_dir.join("PG_VERSION").exists());

    let db = cluster.fresh_database().await.unwrap();
    let mut conn = connect(&db.url).await;
    sqlx::raw_sql("CREATE TABLE t (x int); INSERT INTO t VALUES (7);")
        .execute(&mut conn)
        .await
        .unwrap();

    let restarted = Instant::now();
    cluster.restart().await.expect("restart");
    eprintln!("restart took {:?}", restarted.elapsed());
    assert!(
        sqlx::query("SELECT 1").execute(&mut conn).await.is_err(),
        "sessions do not survive a restart"
    );
    let mut conn = connect(&db.url).await;
    let x: i32 = sqlx::query_scalar("SELECT x FROM t")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(x, 7);
    drop(conn);

    let admin_url = cluster.admin_url();
    drop(cluster);
    assert!(!data_dir.exists(), "the directory is removed on drop");
    assert!(
        PgConnection::connect(&admin_url).await.is_err(),
        "the server is stopped"
    );
}

/// Whether the docker provider is forced, i.e. the Docker tests must run (and pass).
fn docker_forced() -> bool {
    PgEnv::from_process().provider.is_some_and(|p| {
        p.eq_ignore_ascii_case("docker") || p.eq_ignore_ascii_case("testcontainers")
    })
}

#[tokio::test]
async fn a_docker_cluster_runs_queries_survives_restart_and_is_removed_on_drop() {
    if !docker_forced() {
        eprintln!("skipped: runs only with MATRIX_SIM_PG_PROVIDER=docker");
        return;
    }
    let env = PgEnv::from_process();
    let started = Instant::now();
    let cluster = match PgCluster::start_with(&env).await {
        Ok(cluster) => cluster,
        Err(e) => panic!("{:#}", anyhow::Error::from(e)),
    };
    eprintln!(
        "a private docker cluster ({}) started in {:?}",
        env.image(),
        started.elapsed()
    );
    assert_eq!(cluster.kind(), PgProviderKind::Docker);
    assert!(cluster.data_dir().is_none());
    let container = cluster.container_name().unwrap().to_string();

    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .unwrap();
    let inspected = docker.inspect_container(&container, None).await.unwrap();
    let bindings = inspected.host_config.unwrap().port_bindings.unwrap();
    for binding in bindings["5432/tcp"].as_ref().unwrap() {
        assert_eq!(
            binding.host_ip.as_deref(),
            Some("127.0.0.1"),
            "published on loopback only"
        );
    }

    let db = cluster.fresh_database().await.unwrap();
    let mut conn = connect(&db.url).await;
    sqlx::raw_sql("CREATE TABLE t (x int); INSERT INTO t VALUES (7);")
        .execute(&mut conn)
        .await
        .unwrap();
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(version.starts_with("PostgreSQL "), "{version}");

    let restarted = Instant::now();
    cluster.restart().await.expect("restart");
    eprintln!("container restart took {:?}", restarted.elapsed());
    assert!(
        sqlx::query("SELECT 1").execute(&mut conn).await.is_err(),
        "sessions do not survive a restart"
    );
    let mut conn = connect(&db.url).await;
    let x: i32 = sqlx::query_scalar("SELECT x FROM t")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(x, 7, "data survives a restart");
    drop(conn);

    let admin_url = cluster.admin_url();
    let dropped = Instant::now();
    drop(cluster);
    eprintln!("container removal on drop took {:?}", dropped.elapsed());
    assert!(
        docker.inspect_container(&container, None).await.is_err(),
        "the container {container} is removed on drop"
    );
    assert!(PgConnection::connect(&admin_url).await.is_err());
}

#[tokio::test]
async fn a_missing_docker_image_is_a_clear_error_naming_the_build_script() {
    if !docker_forced() {
        eprintln!("skipped: runs only with MATRIX_SIM_PG_PROVIDER=docker");
        return;
    }
    let env = PgEnv {
        image: Some("matrix-fleet/postgres:does-not-exist".into()),
        ..PgEnv::from_process()
    };
    let started = Instant::now();
    let err = match PgCluster::start_with(&env).await {
        Ok(_) => panic!("no such image"),
        Err(err) => err,
    };
    let msg = err.to_string();
    assert!(matches!(err, PgError::ImageUnavailable { .. }), "{err:?}");
    assert!(
        msg.contains("matrix-fleet/postgres:does-not-exist"),
        "{msg}"
    );
    assert!(msg.contains("scripts/build-postgres-image.sh"), "{msg}");
    assert!(msg.contains("MATRIX_SIM_PG_IMAGE"), "{msg}");
    eprintln!("failed in {:?}: {msg}", started.elapsed());
}

/// Set only in the child process that
/// `forcing_docker_without_an_engine_fails_at_once_naming_the_fix` starts.
const CHILD_VAR: &str = "MATRIX_SIM_TEST_CHILD";
const CHILD_TEST: &str = "postgres::child_forced_docker_without_an_engine";

/// Runs in a child process (this test binary again) whose `DOCKER_HOST` names a socket that does
/// not exist: changing the environment of this process would race with the other tests.
#[tokio::test]
async fn forcing_docker_without_an_engine_fails_at_once_naming_the_fix() {
    let started = Instant::now();
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1")
        .env("MATRIX_SIM_PG_PROVIDER", "docker")
        .env("DOCKER_HOST", "unix:///nonexistent/matrix-sim/docker.sock")
        .env_remove("MATRIX_SIM_DATABASE_URL")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .expect("the child test finishes")
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!("child test took {:?} in all", started.elapsed());
}

#[tokio::test]
async fn child_forced_docker_without_an_engine() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return; // only meaningful in the child process started above
    }
    let started = Instant::now();
    let err = match PgCluster::start().await {
        Ok(_) => panic!("there is no Docker engine at DOCKER_HOST"),
        Err(err) => err,
    };
    let elapsed = started.elapsed();
    let msg = err.to_string();
    assert!(matches!(err, PgError::DockerNotAvailable { .. }), "{err:?}");
    assert!(
        msg.contains("no Docker client could be initialised"),
        "{msg}"
    );
    assert!(msg.contains("/nonexistent/matrix-sim/docker.sock"), "{msg}");
    assert!(msg.contains("docker info"), "names the fix: {msg}");
    assert!(
        elapsed < Duration::from_secs(5),
        "fails at once, took {elapsed:?}"
    );
    eprintln!("forced docker without an engine failed in {elapsed:?}: {msg}");
}
