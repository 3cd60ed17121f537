//! Recover: the backup gate, make-before-break, rollback and concurrency.

use std::time::Duration;

use fleet_tests::platform::{BUCKET, TestPlatform, start_time};
use reqwest::Method;
use serde_json::{Value, json};
use sim::fake_hetzner::{FaultEffect, FaultOp, FaultRule, FaultWhen};

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

#[tokio::test]
async fn recover_is_refused_without_a_valid_latest_pointer_and_nothing_changes() {
    let p = TestPlatform::start().await;
    let (id, _server) = p.running_machine("user_nb", "nb").await;
    let before = p.row(&id).await;
    let creates = p.hetzner.create_count();

    // No pointer at all.
    let r = p.recover("user_nb", false).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        json_of(r).await,
        json!({"error": "No backup snapshot available"})
    );
    // A pointer that is not a valid snapshot key.
    p.s3.put(
        BUCKET,
        "matrixos-sync/user_nb/system/db/latest",
        b"../../etc/passwd\n".to_vec(),
    );
    assert_eq!(p.recover("user_nb", false).await.status(), 409);
    // A valid pointer to a missing object is not a backup.
    p.s3.put(
        BUCKET,
        "matrixos-sync/user_nb/system/db/latest",
        b"system/db/snapshots/2026-11-24T0300Z.dump\n".to_vec(),
    );
    assert_eq!(p.recover("user_nb", false).await.status(), 409);
    // An empty snapshot is not a backup either.
    p.s3.put(
        BUCKET,
        "matrixos-sync/user_nb/system/db/snapshots/2026-11-24T0300Z.dump",
        Vec::new(),
    );
    assert_eq!(p.recover("user_nb", false).await.status(), 409);

    assert_eq!(p.hetzner.create_count(), creates, "no provider call");
    let mut after = p.row(&id).await;
    let mut before = before;
    for v in [&mut before, &mut after] {
        v.as_object_mut().unwrap().remove("updated_at");
    }
    assert_eq!(before, after, "the row is untouched");

    // allowEmpty skips the gate.
    let r = p.recover("user_nb", true).await;
    assert_eq!(r.status(), 202);
    let body = json_of(r).await;
    assert_eq!(body["oldMachineId"], id);
    assert_eq!(body["status"], "recovering");
    assert_eq!(body["runtimeSlot"], "primary");
}

#[tokio::test]
async fn recovery_is_make_before_break() {
    let p = TestPlatform::start().await;
    let (old_id, old_server) = p.running_machine("user_mbb", "mbb").await;
    p.seed_backup("user_mbb", start_time(), b"PGDMP custom dump bytes");

    let r = p.recover("user_mbb", false).await;
    assert_eq!(r.status(), 202);
    let body = json_of(r).await;
    let new_id = body["machineId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(body["etaSeconds"], 90);

    let replacement = p.servers_of(&new_id).pop().expect("replacement created");
    assert_eq!(
        replacement.name,
        format!("matrix-mbb-{}", &new_id.replace('-', "")[..8])
    );
    assert_eq!(replacement.location, old_server.location);

    // While the replacement boots, the old server lives and still takes the user's traffic.
    p.reconcile().await;
    assert!(p.server_alive(old_server.id), "old server kept");
    let route: Value = p.get_json("/vps/route?clerkUserId=user_mbb").await;
    assert_eq!(route["routable"], true);
    assert_eq!(route["via"], "previous_server");
    assert_eq!(route["target"]["machineId"], old_id);
    assert_eq!(route["target"]["publicIPv4"], old_server.ipv4.to_string());
    let status = p.status(&new_id).await;
    assert_eq!(status["status"], "recovering");
    assert_eq!(status["recovery"]["oldMachineId"], old_id);

    // The replacement registers: running, and only now the old server goes.
    assert_eq!(p.register_as_host(&replacement).await.status(), 200);
    assert_eq!(p.status(&new_id).await["status"], "running");
    assert!(p.server_gone(old_server.id), "old server deleted");
    let route: Value = p.get_json("/vps/route?clerkUserId=user_mbb").await;
    assert_eq!(route["via"], "machine");
    assert_eq!(route["target"]["machineId"], new_id);

    // The old id's timeline links to the replacement.
    let old_events = p.events(&old_id).await;
    assert!(
        old_events
            .iter()
            .any(|e| e["kind"] == "replaced" && e["relatedMachineId"] == new_id.as_str())
    );
}

#[tokio::test]
async fn a_definitive_replacement_failure_restores_the_row_exactly() {
    let p = TestPlatform::start().await;
    let (id, _) = p.running_machine("user_rb", "rb").await;
    p.seed_backup("user_rb", start_time(), b"PGDMP");
    let before = p.row(&id).await;
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Always,
        effect: FaultEffect::Error {
            status: 422,
            code: "invalid_input".into(),
        },
    });
    let r = p.recover("user_rb", false).await;
    assert_eq!(r.status(), 503);
    assert_eq!(json_of(r).await, json!({"error": "Service unavailable"}));
    let after = p.row(&id).await;
    assert_eq!(
        before, after,
        "every column restored, including machine id and updated_at"
    );
    assert_eq!(p.status(&id).await["status"], "running");
}

#[tokio::test]
async fn two_concurrent_recovers_give_one_202_and_one_409() {
    let p = TestPlatform::start().await;
    p.running_machine("user_cc", "cc").await;
    p.seed_backup("user_cc", start_time(), b"PGDMP");
    let (a, b) = tokio::join!(p.recover("user_cc", false), p.recover("user_cc", false));
    let mut codes = [a.status().as_u16(), b.status().as_u16()];
    codes.sort();
    assert_eq!(codes, [202, 409]);
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_machines WHERE clerk_user_id = 'user_cc' AND deleted_at IS NULL",
    )
    .fetch_one(&p.app.db)
    .await
    .unwrap();
    assert_eq!(live, 1);
    let replacements = p
        .hetzner
        .servers()
        .into_iter()
        .filter(|s| s.name.starts_with("matrix-cc-"))
        .count();
    assert_eq!(replacements, 1);
}

#[tokio::test]
async fn a_replacement_that_never_registers_is_rolled_back_by_the_reconciler() {
    let p = TestPlatform::start().await;
    let (old_id, old_server) = p.running_machine("user_nr", "nr").await;
    p.seed_backup("user_nr", start_time(), b"PGDMP");
    let body = json_of(p.recover("user_nr", false).await).await;
    let new_id = body["machineId"].as_str().unwrap().to_owned();
    let replacement = p.servers_of(&new_id).pop().unwrap();

    p.advance(Duration::from_secs(16 * 60));
    p.reconcile().await;
    let status = p.status(&old_id).await;
    assert_eq!(
        status["status"], "running",
        "the user keeps the old machine"
    );
    assert_eq!(status["hetznerServerId"], old_server.id);
    assert!(p.server_gone(replacement.id), "replacement deleted");
    assert_eq!(p.status_code(&new_id).await, 404);
    let events = p.events(&old_id).await;
    let rollback = events
        .iter()
        .find(|e| e["kind"] == "recover_rollback")
        .expect("rollback event");
    assert_eq!(rollback["reason"], "registration_timeout");
    assert_eq!(rollback["actor"], "reconciler");
}

#[tokio::test]
async fn recover_of_an_unknown_user_is_404_and_bad_input_is_400() {
    let p = TestPlatform::start().await;
    assert_eq!(p.recover("user_nobody", true).await.status(), 404);
    let r = p
        .platform(Method::POST, "/vps/recover")
        .json(&json!({"clerkUserId": "a/b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn recover_answers_503_when_r2_is_unavailable_and_changes_nothing() {
    let p = TestPlatform::start().await;
    let (id, _) = p.running_machine("user_r2down", "r2down").await;
    p.seed_backup("user_r2down", start_time(), b"PGDMP");
    let before = p.row(&id).await;
    p.s3.fail_next(20, 503);
    let r = p.recover("user_r2down", false).await;
    assert_eq!(r.status(), 503);
    assert_eq!(json_of(r).await, json!({"error": "Service unavailable"}));
    p.s3.fail_next(0, 503);
    assert_eq!(before, p.row(&id).await);
    assert_eq!(p.hetzner.create_count(), 1);
}
