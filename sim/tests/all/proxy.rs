//! The transport fault proxy in front of a real Postgres: every mode as a client experiences it.

use std::time::{Duration, Instant};

use sim::postgres::PgCluster;
use sim::proxy::{FaultProxy, ProxyMode};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

async fn proxied_url() -> (FaultProxy, String) {
    let cluster = PgCluster::shared().await.expect("postgres");
    let db = cluster.fresh_database().await.unwrap();
    let url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(upstream).await.unwrap();
    let mut proxied = url.clone();
    proxied.set_port(Some(proxy.addr().port())).unwrap();
    (proxy, proxied.to_string())
}

async fn one(url: &str) -> Result<i32, sqlx::Error> {
    let mut c = PgConnection::connect(url).await?;
    sqlx::query_scalar("SELECT 1").fetch_one(&mut c).await
}

#[tokio::test]
async fn pass_down_and_back_up() {
    let (proxy, url) = proxied_url().await;
    assert_eq!(one(&url).await.unwrap(), 1);
    proxy.set_mode(ProxyMode::Down);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(one(&url).await.is_err(), "refused while down");
    proxy.set_mode(ProxyMode::Pass);
    let started = Instant::now();
    loop {
        if one(&url).await.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "back up on the same port"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reset_cuts_open_connections() {
    let (proxy, url) = proxied_url().await;
    let mut c = PgConnection::connect(&url).await.unwrap();
    let v: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(v, 1);
    proxy.set_mode(ProxyMode::Reset);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&mut c)
            .await
            .is_err(),
        "the open connection was cut"
    );
    assert!(one(&url).await.is_err(), "new connections are closed too");
    proxy.set_mode(ProxyMode::Pass);
    assert_eq!(one(&url).await.unwrap(), 1);
}

#[tokio::test]
async fn blackhole_never_answers_and_latency_delays() {
    let (proxy, url) = proxied_url().await;
    proxy.set_mode(ProxyMode::Blackhole);
    let waited = tokio::time::timeout(Duration::from_millis(500), one(&url)).await;
    assert!(
        waited.is_err(),
        "no answer at all: the client's own timeout decides"
    );
    proxy.set_mode(ProxyMode::Latency(Duration::from_millis(100)));
    let started = Instant::now();
    assert_eq!(one(&url).await.unwrap(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "several round trips, each delayed"
    );
    assert!(proxy.accepted() >= 2);
}
