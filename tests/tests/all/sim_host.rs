//! The core story with simulated hosts: provision → boot from cloud-init → register → workload →
//! backup (real pg_dump) → crash → recover → the replacement restores (real pg_restore) exactly the
//! data of the last successful backup → running. Plus the gate's refusals.

use std::time::Duration;

use fleet_tests::platform::{BUCKET, TestPlatform};
use serde_json::{Value, json};
use sim::host::{GateOutcome, HostContext, HostError, HostFault, HostMode, SimHost};
use sim::postgres::PgCluster;

async fn boot(p: &TestPlatform, machine_id: &str, disk: &std::path::Path) -> SimHost {
    let server = p.servers_of(machine_id).pop().expect("server created");
    let db = PgCluster::shared()
        .await
        .unwrap()
        .fresh_database()
        .await
        .unwrap();
    let ctx = HostContext {
        mode: HostMode::Postgres,
        database_url: None,
        disk_root: disk.to_owned(),
        http: p.http.clone(),
    };
    SimHost::boot(
        server.id,
        server.ipv4,
        server.user_data.as_deref().unwrap(),
        &ctx,
        Some(db.url),
    )
    .expect("boots from its cloud-init")
}

async fn machine_id(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["machineId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn recovery_restores_exactly_the_data_of_the_last_successful_backup() {
    let p = TestPlatform::start().await;
    let disk = tempfile::tempdir().unwrap();
    let id = machine_id(p.provision("user_story", "story").await).await;
    let host = boot(&p, &id, disk.path()).await;
    assert_eq!(host.run_gate().await.unwrap(), GateOutcome::Fresh);
    host.register_once().await.unwrap();
    assert_eq!(p.status(&id).await["status"], "running");
    assert_eq!(host.heartbeat(None).await.unwrap(), 200);

    host.write_rows(25).await.unwrap();
    p.advance(Duration::from_secs(3600));
    let backup = host.backup(p.clock_now()).await.unwrap();
    assert_eq!(backup.key, "system/db/snapshots/2026-11-24T0500Z.dump");
    // A failed backup later never moves `latest`.
    host.write_rows(10).await.unwrap();
    host.inject(HostFault::UploadFails);
    p.advance(Duration::from_secs(3600));
    assert!(matches!(
        host.backup(p.clock_now()).await,
        Err(HostError::Backup(_))
    ));
    let latest =
        p.s3.get(BUCKET, "matrixos-sync/user_story/system/db/latest")
            .unwrap();
    assert_eq!(
        String::from_utf8(latest).unwrap(),
        "system/db/snapshots/2026-11-24T0500Z.dump\n"
    );
    let acknowledged_at_backup: Vec<i64> = (1..=25).collect();

    host.crash();
    p.advance(Duration::from_secs(20 * 60));
    p.reconcile().await;
    assert_eq!(
        p.status(&id).await["heartbeat"]["health"],
        "unreachable",
        "the operator sees the host is gone"
    );

    let r = p.recover("user_story", false).await;
    assert_eq!(r.status(), 202);
    let new_id = machine_id(r).await;
    let replacement = boot(&p, &new_id, disk.path()).await;
    assert_eq!(
        replacement.run_gate().await.unwrap(),
        GateOutcome::Restored {
            key: "system/db/snapshots/2026-11-24T0500Z.dump".into()
        }
    );
    replacement.register_once().await.unwrap();
    assert_eq!(p.status(&new_id).await["status"], "running");
    assert_eq!(
        replacement.row_ids().await.unwrap(),
        acknowledged_at_backup,
        "restored exactly the backed-up rows"
    );
    // The gate decided once: a reboot does not restore again.
    assert_eq!(
        replacement.run_gate().await.unwrap(),
        GateOutcome::AlreadyDecided
    );
}

#[tokio::test]
async fn a_corrupted_snapshot_is_refused_and_the_host_never_registers() {
    let p = TestPlatform::start().await;
    let disk = tempfile::tempdir().unwrap();
    let id = machine_id(p.provision("user_corrupt", "corrupt").await).await;
    let host = boot(&p, &id, disk.path()).await;
    host.run_gate().await.unwrap();
    host.register_once().await.unwrap();
    host.write_rows(5).await.unwrap();
    let done = host.backup(p.clock_now()).await.unwrap();
    // Flip bytes of the stored snapshot, keeping its recorded SHA-256.
    let key = format!("matrixos-sync/user_corrupt/{}", done.key);
    let mut body = p.s3.get(BUCKET, &key).unwrap();
    let n = body.len();
    body[n / 2] ^= 0xff;
    let meta = p.s3.metadata(BUCKET, &key).unwrap();
    p.s3.put_with_metadata(BUCKET, &key, body, meta);

    let new_id = machine_id(p.recover("user_corrupt", false).await).await;
    let replacement = boot(&p, &new_id, disk.path()).await;
    let refused = replacement.run_gate().await.unwrap_err();
    assert!(refused.to_string().contains("SHA-256"), "{refused}");
    // The host told the platform why: the operator sees it on the replacement's timeline.
    let events = p.events(&new_id).await;
    let why: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "boot_failed")
        .map(|e| (e["actor"].clone(), e["reason"].clone()))
        .collect();
    assert_eq!(
        why,
        vec![(json!("host"), json!("snapshot_checksum_mismatch"))],
        "{events:?}"
    );
    assert!(
        matches!(replacement.register_once().await, Err(HostError::Gate(_))),
        "fail closed: no registration"
    );
    assert_eq!(p.status(&new_id).await["status"], "recovering");
    // The user is still served by the old machine meanwhile.
    let route = p.get_json("/vps/route?clerkUserId=user_corrupt").await;
    assert_eq!(route["via"], "previous_server");
}

#[tokio::test]
async fn a_symlinked_marker_is_an_error_not_a_decision() {
    let p = TestPlatform::start().await;
    let disk = tempfile::tempdir().unwrap();
    let id = machine_id(p.provision("user_marker", "marker").await).await;
    let host = boot(&p, &id, disk.path()).await;
    std::os::unix::fs::symlink("/etc/hostname", host.disk().join(sim::host::gate::MARKER)).unwrap();
    assert!(matches!(host.run_gate().await, Err(HostError::Gate(_))));
    assert!(host.register_once().await.is_err());
}

#[tokio::test]
async fn a_host_retries_registration_until_the_control_plane_adopts_its_server() {
    use sim::fake_hetzner::{FaultEffect, FaultOp, FaultRule, FaultWhen};
    let p = TestPlatform::start().await;
    let disk = tempfile::tempdir().unwrap();
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Nth(1),
        effect: FaultEffect::CommitThenDrop,
    });
    let id = machine_id(p.provision("user_slowreg", "slowreg").await).await;
    let host = boot(&p, &id, disk.path()).await;
    host.run_gate().await.unwrap();
    // The control plane does not know the server id yet: registration is refused (401) for now.
    assert!(matches!(
        host.register_once().await,
        Err(HostError::RegisterRefused(401))
    ));
    // The host keeps trying with backoff; meanwhile the reconciler adopts the server by label.
    let platform = &p;
    let deadline = p.clock_now() + chrono::Duration::minutes(15);
    let attempts = host
        .register_with_backoff(
            10,
            || platform.clock_now(),
            deadline,
            |_delay| async move {
                platform.advance(Duration::from_secs(30));
                platform.reconcile().await;
            },
        )
        .await
        .unwrap();
    assert!(attempts >= 2, "registered after {attempts} attempts");
    assert_eq!(p.status(&id).await["status"], "running");
    assert_eq!(p.hetzner.create_count(), 1);
}

#[tokio::test]
async fn a_host_that_boots_past_its_token_ttl_never_registers_and_the_row_times_out() {
    let p = TestPlatform::start().await;
    let disk = tempfile::tempdir().unwrap();
    let id = machine_id(p.provision("user_slowboot", "slowboot").await).await;
    let host = boot(&p, &id, disk.path()).await;
    // Slow boot: 16 minutes pass before the host is ready.
    p.advance(Duration::from_secs(16 * 60));
    host.run_gate().await.unwrap();
    let deadline = p.clock_now() - chrono::Duration::minutes(1);
    let platform = &p;
    let result = host
        .register_with_backoff(5, || platform.clock_now(), deadline, |_| async {})
        .await;
    assert!(matches!(result, Err(HostError::TokenExpired)));
    // Even trying anyway is refused: the token expired.
    assert!(matches!(
        host.register_once().await,
        Err(HostError::RegisterRefused(401))
    ));
    p.reconcile().await;
    let s = p.status(&id).await;
    assert_eq!(
        (s["status"].as_str(), s["failureCode"].as_str()),
        (Some("failed"), Some("registration_timeout"))
    );
}
