//! `sim::postgres` against a real server: the shared cluster, fresh and templated databases,
//! the URL provider, and restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sim::postgres::{PgCluster, PgEnv, PgProviderKind};
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
