//! The reconciler: stale rows, registration timeout, orphans, health, replicas.

use std::time::Duration;

use fleet_tests::platform::{BUCKET, TestPlatform, start_time};
use serde_json::Value;
use sim::fake_hetzner::{FaultEffect, FaultOp, FaultRule, FaultWhen};

async fn id_of(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["machineId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn stale_rows_get_the_right_failure_codes() {
    let p = TestPlatform::start().await;
    // (a) the create never got through (provider down): no server id.
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Always,
        effect: FaultEffect::Error {
            status: 503,
            code: "unavailable".into(),
        },
    });
    let no_server = id_of(p.provision("user_s1", "s1").await).await;
    p.hetzner.clear_faults();
    // (b) the server vanished at the provider.
    let vanished = id_of(p.provision("user_s2", "s2").await).await;
    p.hetzner.vanish(p.servers_of(&vanished)[0].id);

    // Younger than the threshold: nothing happens.
    p.advance(Duration::from_secs(9 * 60));
    // The step task would retry the create (a); stop it from succeeding so the row stays serverless.
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Always,
        effect: FaultEffect::Error {
            status: 503,
            code: "unavailable".into(),
        },
    });
    p.reconcile().await;
    assert_eq!(p.status(&no_server).await["status"], "provisioning");
    assert_eq!(p.status(&vanished).await["status"], "provisioning");

    p.advance(Duration::from_secs(2 * 60));
    p.reconcile().await;
    let a = p.status(&no_server).await;
    assert_eq!(
        (a["status"].as_str(), a["failureCode"].as_str()),
        (Some("failed"), Some("provider_unavailable"))
    );
    let b = p.status(&vanished).await;
    assert_eq!(
        (b["status"].as_str(), b["failureCode"].as_str()),
        (Some("failed"), Some("not_found"))
    );
}

#[tokio::test]
async fn a_host_that_never_registers_times_out_and_its_server_is_deleted() {
    let p = TestPlatform::start().await;
    let id = id_of(p.provision("user_tmo", "tmo").await).await;
    let server = p.servers_of(&id).pop().unwrap();
    // Stale at 10 min, but the token lives 15 min: the host still has time.
    p.advance(Duration::from_secs(11 * 60));
    p.reconcile().await;
    assert_eq!(p.status(&id).await["status"], "provisioning");
    p.advance(Duration::from_secs(5 * 60));
    p.reconcile().await;
    let s = p.status(&id).await;
    assert_eq!(
        (s["status"].as_str(), s["failureCode"].as_str()),
        (Some("failed"), Some("registration_timeout"))
    );
    assert!(p.server_gone(server.id), "server deleted");
    assert!(p.pending_deletions().await.is_empty());
}

#[tokio::test]
async fn orphan_servers_are_deleted_after_the_grace_period() {
    let p = TestPlatform::start().await;
    let (id, server) = p.running_machine("user_orph", "orph").await;
    // Make the row forget its server (as if the registry lost it): the server is now an orphan.
    sqlx::query(
        "UPDATE user_machines SET deleted_at = $2, status = 'deleted' WHERE machine_id = $1::uuid",
    )
    .bind(&id)
    .bind(start_time())
    .execute(&p.app.db)
    .await
    .unwrap();
    p.reconcile().await;
    assert!(p.server_alive(server.id), "inside the grace period");
    // Past the grace period (30 min) and the sweep interval (hourly: a sweep lists every server).
    p.advance(Duration::from_secs(61 * 60));
    p.reconcile().await;
    assert!(p.server_gone(server.id), "orphan deleted");
}

#[tokio::test]
async fn backup_freshness_is_verified_from_r2_and_shown_in_the_fleet() {
    let p = TestPlatform::start().await;
    let (fresh_id, _) = p.running_machine("user_bf", "bf").await;
    let (broken_id, _) = p.running_machine("user_bk", "bk").await;
    p.seed_backup("user_bf", start_time(), b"PGDMP");
    p.s3.put(
        BUCKET,
        "matrixos-sync/user_bk/system/db/latest",
        b"system/db/snapshots/2026-11-24T0300Z.dump\n".to_vec(),
    );
    p.advance(Duration::from_secs(30 * 60));
    p.reconcile().await;
    let fleet: Value = p.get_json("/vps/fleet").await;
    let by_id = |id: &str| {
        fleet["machines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["machineId"] == id)
            .unwrap()
            .clone()
    };
    let fresh = by_id(&fresh_id);
    assert_eq!(fresh["backup"]["freshness"], "fresh");
    assert_eq!(
        fresh["backup"]["key"],
        "system/db/snapshots/2026-11-24T0400Z.dump"
    );
    assert_eq!(fresh["backup"]["sizeBytes"], 5);
    assert_eq!(fresh["backup"]["ageSeconds"], 1800);
    let broken = by_id(&broken_id);
    assert_eq!(broken["backup"]["freshness"], "critical");
    assert_eq!(broken["backup"]["problem"], "missing_object");
    assert_eq!(fleet["summary"]["byBackup"]["fresh"], 1);
    assert_eq!(fleet["summary"]["byBackup"]["critical"], 1);
    let events = p.events(&broken_id).await;
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "backup_problem" && e["reason"] == "missing_object")
    );

    // Three hours later with no new backup: stale.
    p.advance(Duration::from_secs(3 * 3600));
    p.reconcile().await;
    let filtered: Value = p.get_json("/vps/fleet?backup=stale").await;
    assert_eq!(filtered["total"], 1);
    assert_eq!(filtered["machines"][0]["machineId"], fresh_id);
}

#[tokio::test]
async fn heartbeat_staleness_is_evaluated_and_recorded() {
    let p = TestPlatform::start().await;
    let (id, server) = p.running_machine("user_hb", "hb").await;
    p.advance(Duration::from_secs(11 * 60));
    p.reconcile().await;
    assert_eq!(p.status(&id).await["heartbeat"]["health"], "late");
    p.advance(Duration::from_secs(5 * 60));
    p.reconcile().await;
    assert_eq!(p.status(&id).await["heartbeat"]["health"], "unreachable");
    let fleet: Value = p.get_json("/vps/fleet?heartbeat=unreachable").await;
    assert_eq!(fleet["total"], 1);
    assert_eq!(p.heartbeat_as_host(&server, &id).await.status(), 200);
    assert_eq!(p.status(&id).await["heartbeat"]["health"], "ok");
    let kinds: Vec<String> = p
        .events(&id)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.ends_with(&[
            "heartbeat_late".into(),
            "heartbeat_unreachable".into(),
            "heartbeat_ok".into()
        ]),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn two_replicas_never_act_twice_on_one_queue_entry_or_row() {
    let p = TestPlatform::start().await;
    // A second control plane on the same database (its own clients, same providers).
    let other = control_plane::reconciler::Reconciler::new({
        let mut app = p.app.clone();
        app.replica_id = uuid::Uuid::from_u128(7);
        app
    });
    let mut servers = Vec::new();
    for i in 0..8 {
        let (id, server) = p
            .running_machine(&format!("user_rep{i}"), &format!("rep{i}"))
            .await;
        servers.push(server.id);
        p.hetzner.inject(FaultRule {
            op: FaultOp::DeleteServer,
            // Every attempt of the client's internal retries fails, so the deletion is queued.
            when: FaultWhen::Times(3),
            effect: FaultEffect::Error {
                status: 503,
                code: "unavailable".into(),
            },
        });
        assert_eq!(p.delete(&id).await.status(), 200);
    }
    p.advance(Duration::from_secs(120));
    let before = p
        .hetzner
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    let (_a, _b) = tokio::join!(p.reconcile(), other.run_pass());
    let deletes = p
        .hetzner
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count()
        - before;
    assert_eq!(
        deletes,
        servers.len(),
        "each queued server deleted exactly once across both replicas"
    );
    assert!(p.pending_deletions().await.is_empty());
}

#[tokio::test]
async fn a_duplicate_server_labelled_with_a_live_machine_is_swept_as_an_orphan() {
    let p = TestPlatform::start().await;
    let (id, server) = p.running_machine("user_dup", "dup").await;
    // A second server carrying the same machine label (a create whose slow success went unseen).
    let labels: serde_json::Map<String, Value> = server
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let body = serde_json::json!({"name": "matrix-dup-extra", "server_type": "cpx22", "image": "ubuntu-24.04", "location": "nbg1", "labels": labels});
    let created: Value = p
        .http
        .post(format!("{}/servers", p.hetzner.base_url()))
        .bearer_auth(fleet_tests::platform::HETZNER_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dup = created["server"]["id"].as_i64().unwrap();
    p.advance(Duration::from_secs(61 * 60));
    p.reconcile().await;
    assert!(p.server_alive(server.id), "the row's own server stays");
    assert!(p.server_gone(dup), "the duplicate is deleted");
    assert_eq!(p.status(&id).await["status"], "running");
}
