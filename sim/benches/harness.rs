//! Simulation-harness performance (issue targets in parentheses):
//! - the harness starts — Postgres, fake Hetzner, fake R2, control plane — without Docker (≤ 2 s);
//! - the core recovery story, Postgres already started (≤ 3 s wall);
//! - 1,000 light hosts reach `running` (≤ 60 s);
//! - the fake R2 serves small-object PUT/GET at ≥ 10× the rate of `moto_server`, side by side.
//!
//! Run: `cargo bench -p sim --bench harness`. The moto comparison needs `moto_server` (PyPI
//! `moto[server]`): set `MOTO_SERVER=/path/to/moto_server`, or have it on PATH; without it that part
//! fails with the install command. Every loop is bounded in count and time.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use control_plane::r2::{R2Client, R2Config};
use control_plane::secret::Secret;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use sim::fleet::{FleetConfig, SimFleet};
use sim::host::HostMode;
use sim::postgres::PgCluster;

fn r2_client(endpoint: &str, bucket: &str, key: &str, secret: &str) -> R2Client {
    R2Client::new(
        R2Config {
            endpoint: url::Url::parse(endpoint).unwrap(),
            bucket: bucket.into(),
            access_key_id: key.into(),
            secret_access_key: Secret::new(secret),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        },
        Arc::new(control_plane::metrics::Metrics::new()),
    )
}

async fn json(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

async fn core_story() -> Duration {
    let started = Instant::now();
    let fleet = SimFleet::start(FleetConfig::default(), |_| {})
        .await
        .unwrap();
    let r = fleet
        .platform(Method::POST, "/vps/provision")
        .json(&json!({"clerkUserId": "user_bench", "handle": "bench"}))
        .send()
        .await
        .unwrap();
    let id = json(r).await["machineId"].as_str().unwrap().to_owned();
    fleet.boot_new_hosts().await.unwrap();
    let host = fleet.host_of(&id).unwrap();
    host.run_gate().await.unwrap();
    host.register_once().await.unwrap();
    host.write_rows(100).await.unwrap();
    fleet.advance(Duration::from_secs(3600));
    host.backup(fleet.now()).await.unwrap();
    host.crash();
    let r = fleet
        .platform(Method::POST, "/vps/recover")
        .json(&json!({"clerkUserId": "user_bench"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let new_id = json(r).await["machineId"].as_str().unwrap().to_owned();
    fleet.boot_new_hosts().await.unwrap();
    let replacement = fleet.host_of(&new_id).unwrap();
    replacement.run_gate().await.unwrap();
    replacement.register_once().await.unwrap();
    assert_eq!(replacement.row_ids().await.unwrap().len(), 100);
    started.elapsed()
}

async fn light_hosts(n: usize) -> Duration {
    let fleet = SimFleet::start(
        FleetConfig {
            mode: HostMode::Light,
            hetzner_rate_limit: 100_000,
            ..FleetConfig::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    let started = Instant::now();
    let fleet = &fleet;
    futures::stream::iter(0..n)
        .map(|i| async move {
            let r = fleet
                .platform(Method::POST, "/vps/provision")
                .json(
                    &json!({"clerkUserId": format!("user_l{i:05}"), "handle": format!("l-{i:05}")}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let hosts = fleet.boot_new_hosts().await.unwrap();
    futures::stream::iter(hosts)
        .map(|h| async move {
            h.run_gate().await.unwrap();
            h.register_once().await.unwrap();
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let summary = json(
        fleet
            .platform(Method::GET, "/vps/fleet?perPage=1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        summary["summary"]["byStatus"]["running"].as_u64(),
        Some(n as u64),
        "{summary}"
    );
    started.elapsed()
}

/// PUT then GET of `n` 1 KiB objects, 8 at a time. Returns operations per second.
async fn put_get_rate(client: &R2Client, n: usize, prefix: &str) -> f64 {
    let body = Bytes::from(vec![7u8; 1024]);
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let body = body.clone();
            async move {
                let key = format!("{prefix}/obj-{i:05}");
                client
                    .put_object(&key, body, Default::default())
                    .await
                    .unwrap();
                assert_eq!(client.get_object(&key).await.unwrap().unwrap().len(), 1024);
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    (2 * n) as f64 / started.elapsed().as_secs_f64()
}

fn moto_path() -> Result<String, String> {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return Ok(p);
    }
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v moto_server"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    found
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .ok_or_else(|| "moto_server not found: python3 -m venv /tmp/moto-venv && /tmp/moto-venv/bin/pip install 'moto[server]', then MOTO_SERVER=/tmp/moto-venv/bin/moto_server".into())
}

async fn moto_rate(n: usize) -> Result<f64, String> {
    let bin = moto_path()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("moto_server: {e}"))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    // moto checks no signature; create the bucket with a plain request (it rejects CreateBucket
    // signed for region `auto`).
    loop {
        if let Ok(r) = http.put(format!("{endpoint}/moto-bench")).send().await
            && r.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill().await;
            return Err("moto_server did not come up within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = r2_client(&endpoint, "moto-bench", "moto", "moto-secret");
    let rate = put_get_rate(&client, n, "bench").await;
    let _ = child.kill().await;
    Ok(rate)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // 1. Harness start without Docker: the shared Postgres (initdb + start) and one fleet.
        let started = Instant::now();
        let cluster = PgCluster::shared().await.expect("postgres (local binaries; set MATRIX_SIM_PG_PROVIDER=local)");
        let pg = started.elapsed();
        let fleet = SimFleet::start(FleetConfig::default(), |_| {}).await.unwrap();
        println!(
            "harness start without Docker ({:?} provider): {:.2} s (Postgres {:.2} s, fakes + control plane {:.2} s)",
            cluster.kind(),
            started.elapsed().as_secs_f64(),
            pg.as_secs_f64(),
            (started.elapsed() - pg).as_secs_f64()
        );
        drop(fleet);

        // 2. The core recovery story, Postgres already started.
        let mut walls: Vec<Duration> = Vec::new();
        for _ in 0..5 {
            walls.push(core_story().await);
        }
        walls.sort();
        println!(
            "core recovery story (provision → backup → crash → recover → restore → running): median {:.2} s, max {:.2} s over {} runs",
            walls[walls.len() / 2].as_secs_f64(),
            walls.last().unwrap().as_secs_f64(),
            walls.len()
        );

        // 3. 1,000 light hosts.
        let light = light_hosts(1000).await;
        println!("1000 light hosts provisioned, booted, registered, all running: {:.1} s", light.as_secs_f64());

        // 4. Fake R2 vs moto_server, side by side in this run.
        let fleet = SimFleet::start(FleetConfig::default(), |_| {}).await.unwrap();
        let info = fleet.connection_info();
        let fake = r2_client(&info.r2_endpoint, &info.r2_bucket, &info.r2_access_key_id, &info.r2_secret_access_key);
        let n = 1000;
        let fake_rate = put_get_rate(&fake, n, "bench").await;
        match moto_rate(n).await {
            Ok(moto) => println!(
                "small-object PUT+GET ({n} of each, 1 KiB, 8 in flight): fake R2 {fake_rate:.0} ops/s, moto_server {moto:.0} ops/s, ratio {:.1}×",
                fake_rate / moto
            ),
            Err(e) => {
                println!("small-object PUT+GET: fake R2 {fake_rate:.0} ops/s; moto_server comparison FAILED: {e}");
                std::process::exit(1);
            }
        }
    });
}
