//! Delete: soft delete first, provider second, queue on failure.

use std::time::Duration;

use fleet_tests::platform::TestPlatform;
use serde_json::Value;
use sim::fake_hetzner::{FaultEffect, FaultOp, FaultRule, FaultWhen};

#[tokio::test]
async fn delete_with_a_failing_provider_answers_200_and_the_reconciler_retries_until_gone() {
    let p = TestPlatform::start().await;
    let (id, server) = p.running_machine("user_del", "del").await;
    p.hetzner.inject(FaultRule {
        op: FaultOp::DeleteServer,
        when: FaultWhen::Times(6),
        effect: FaultEffect::Error {
            status: 503,
            code: "unavailable".into(),
        },
    });
    let r = p.delete(&id).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "deleted");
    assert_eq!(p.status(&id).await["status"], "deleted");
    assert!(p.server_alive(server.id), "server still there");
    assert_eq!(p.pending_deletions().await, vec![(server.id, 1)]);

    // Not due yet: the reconciler leaves it alone.
    p.reconcile().await;
    assert_eq!(p.pending_deletions().await, vec![(server.id, 1)]);
    // Due after the backoff (60 s, then 120 s): still failing, attempts grow.
    p.advance(Duration::from_secs(61));
    p.reconcile().await;
    assert_eq!(p.pending_deletions().await, vec![(server.id, 2)]);
    p.advance(Duration::from_secs(121));
    p.reconcile().await;
    assert_eq!(
        p.pending_deletions().await.len(),
        0,
        "provider recovered (each logical call retried internally); entry done"
    );
    assert!(p.server_gone(server.id));
}

#[tokio::test]
async fn a_provider_404_on_delete_counts_as_done() {
    let p = TestPlatform::start().await;
    let (id, server) = p.running_machine("user_gone", "gone").await;
    p.hetzner.vanish(server.id);
    assert_eq!(p.delete(&id).await.status(), 200);
    assert!(p.pending_deletions().await.is_empty());
}

#[tokio::test]
async fn deleting_mid_recovery_removes_both_servers() {
    let p = TestPlatform::start().await;
    let (_old_id, old_server) = p.running_machine("user_dr", "dr").await;
    let body: Value = p.recover("user_dr", true).await.json().await.unwrap();
    let new_id = body["machineId"].as_str().unwrap().to_owned();
    let replacement = p.servers_of(&new_id).pop().unwrap();
    assert_eq!(p.delete(&new_id).await.status(), 200);
    for s in [old_server.id, replacement.id] {
        assert!(p.server_gone(s), "server {s} deleted");
    }
}

#[tokio::test]
async fn delete_of_an_unknown_machine_is_404_and_a_bad_id_is_400() {
    let p = TestPlatform::start().await;
    assert_eq!(
        p.delete("00000000-0000-4000-8000-000000000001")
            .await
            .status(),
        404
    );
    assert_eq!(p.delete("not-a-uuid").await.status(), 400);
}
