//! Control-plane performance with 10,000 machines in the registry (issue targets in parentheses):
//! - `GET /vps/fleet` first page latency, p50 (≤ 50 ms);
//! - heartbeat ingestion over HTTP, heartbeats per second (≥ 2,000/s on 2 cores);
//! - one full reconciler pass over 10,000 running machines, database time (≤ 1 s).
//!
//! Run: `cargo bench -p fleet-tests --bench control_plane`. Everything runs on this machine: the API
//! server, its Postgres (started by the sim harness) and the load generator share the cores, so the
//! numbers are a floor for a dedicated server. Every loop is bounded in count and time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use control_plane::cloud_init::heartbeat_token;
use control_plane::ids::MachineId;
use control_plane::secret::Secret;
use fleet_tests::platform::{PLATFORM_SECRET, TestPlatform, start_time};
use reqwest::Method;
use serde_json::json;

const MACHINES: i64 = 10_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn seed(p: &TestPlatform) -> Vec<String> {
    // Running machines with public addresses, a fresh heartbeat and, for half of them, a verified backup.
    sqlx::query(
        "INSERT INTO user_machines (machine_id, clerk_user_id, handle, runtime_slot, hetzner_server_id, public_ipv4,
             status, image_version, server_type, location, provisioned_at, last_seen_at, attempt, created_at, updated_at,
             heartbeat_state, vps_meta_written_at)
         SELECT md5('m' || i)::uuid, 'user_bench_' || i, 'bench-' || i, 'primary', 1000000 + i,
             '49.12.' || (i / 250) || '.' || (i % 250 + 1), 'running', '2026.11.1', 'cpx22', 'nbg1',
             $1, $1, 1, $1, $1, 'ok', $1
         FROM generate_series(1, $2) AS i",
    )
    .bind(start_time())
    .bind(MACHINES)
    .execute(&p.app.db)
    .await
    .expect("seed machines");
    sqlx::query(
        "INSERT INTO backup_observations (clerk_user_id, runtime_slot, checked_at, latest_key, snapshot_at, size_bytes)
         SELECT 'user_bench_' || i, 'primary', $1, 'system/db/snapshots/2026-11-24T0300Z.dump', $1 - interval '1 hour', 4096
         FROM generate_series(1, $2, 2) AS i",
    )
    .bind(start_time())
    .bind(MACHINES)
    .execute(&p.app.db)
    .await
    .expect("seed backups");
    sqlx::query("ANALYZE").execute(&p.app.db).await.unwrap();
    sqlx::query_scalar("SELECT machine_id::text FROM user_machines ORDER BY machine_id")
        .fetch_all(&p.app.db)
        .await
        .unwrap()
}

async fn bench_fleet(p: &TestPlatform) {
    let mut samples = Vec::new();
    for _ in 0..10 {
        p.platform(Method::GET, "/vps/fleet")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    for _ in 0..200 {
        let started = Instant::now();
        let r = p.platform(Method::GET, "/vps/fleet").send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "fleet first page (100 of {MACHINES}): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} requests",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.95).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        samples.len()
    );
}

async fn bench_heartbeats(p: &TestPlatform, ids: &[String]) {
    let secret = Secret::new(PLATFORM_SECRET);
    let bodies: Arc<Vec<(String, String)>> = Arc::new(
        ids.iter()
            .map(|id| {
                let token = heartbeat_token(&secret, MachineId::parse(id).unwrap())
                    .expose()
                    .to_owned();
                let body = json!({"machineId": id, "imageVersion": "2026.11.1", "healthy": true})
                    .to_string();
                (token, body)
            })
            .collect(),
    );
    let url = p.url("/vps/heartbeat");
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers = 48;
    let limit = Duration::from_secs(8);
    let max_per_worker = 20_000u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (bodies, url, done, failed) =
            (bodies.clone(), url.clone(), done.clone(), failed.clone());
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let mut i = w as usize;
            for _ in 0..max_per_worker {
                if started.elapsed() >= limit {
                    break;
                }
                let (token, body) = &bodies[i % bodies.len()];
                i += workers as usize;
                let r = http
                    .post(&url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => done.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    println!(
        "heartbeats over HTTP: {ok} accepted in {elapsed:.2} s = {:.0}/s ({} failed, {workers} concurrent clients)",
        ok as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
}

/// Cumulative milliseconds Postgres backends spent executing statements in this database.
async fn db_active_ms(p: &TestPlatform) -> f64 {
    // An idle backend flushes its statistics within 10 s (PostgreSQL's idle stats interval); wait
    // that out so a pass is billed for exactly its own statements.
    tokio::time::sleep(Duration::from_secs(11)).await;
    sqlx::query_scalar(
        "SELECT active_time FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&p.app.db)
    .await
    .unwrap()
}

async fn bench_reconciler(p: &TestPlatform) {
    for round in 0..3 {
        // Move time so that every task has work: heartbeats go unreachable (pass 0 changes every
        // machine's state and writes 10,000 events), backups are due for a scan, vps-meta comes due.
        p.advance(Duration::from_secs(if round == 0 {
            20 * 60
        } else {
            45 * 60
        }));
        let before = db_active_ms(p).await;
        let started = Instant::now();
        let report = p.reconcile().await;
        let wall = started.elapsed();
        let after = db_active_ms(p).await;
        let hb = report.task("heartbeat_health").unwrap();
        println!(
            "reconciler pass {round} over {MACHINES} running machines: wall {:.0} ms, database time {:.0} ms \
             (heartbeat states changed: {}, backups scanned: {}, vps-meta written: {})",
            wall.as_secs_f64() * 1e3,
            after - before,
            hb.changed,
            report.task("backup_scan").unwrap().processed,
            report.task("vps_meta").unwrap().changed,
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = TestPlatform::start().await;
        let started = Instant::now();
        let ids = seed(&p).await;
        println!(
            "seeded {} machines in {:.1} s",
            ids.len(),
            started.elapsed().as_secs_f64()
        );
        bench_fleet(&p).await;
        bench_heartbeats(&p, &ids).await;
        bench_reconciler(&p).await;
        p.stop().await;
    });
}
