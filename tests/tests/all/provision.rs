//! Provision: idempotency, concurrency, failure handling, adoption, rate limits.

use std::time::Duration;

use fleet_tests::platform::{Options, TestPlatform};
use futures::future::join_all;
use serde_json::Value;
use sim::fake_hetzner::{FaultEffect, FaultOp, FaultRule, FaultWhen};

async fn json(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

fn fail_creates(p: &TestPlatform, status: u16, code: &str) {
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Always,
        effect: FaultEffect::Error {
            status,
            code: code.into(),
        },
    });
}

#[tokio::test]
async fn provision_is_idempotent_per_user_and_slot_and_ignores_the_handle() {
    let p = TestPlatform::start().await;
    let first = json(p.provision("user_bob", "bob").await).await;
    let again = p.provision("user_bob", "bob-renamed").await;
    assert_eq!(again.status(), 202);
    let again = json(again).await;
    assert_eq!(first["machineId"], again["machineId"]);
    assert_eq!(p.hetzner.create_count(), 1);

    // Another slot is another machine.
    let other = json(p.provision_slot("user_bob", "bob", "dev").await).await;
    assert_ne!(other["machineId"], first["machineId"]);
    assert_eq!(p.hetzner.create_count(), 2);

    // A running row is returned as it is.
    let server = p
        .servers_of(first["machineId"].as_str().unwrap())
        .pop()
        .unwrap();
    assert_eq!(p.register_as_host(&server).await.status(), 200);
    let running = json(p.provision("user_bob", "bob").await).await;
    assert_eq!(running["status"], "running");
    assert_eq!(running["machineId"], first["machineId"]);
}

#[tokio::test]
async fn twenty_concurrent_provisions_for_one_user_give_one_row_and_one_create() {
    let p = TestPlatform::start().await;
    let calls = (0..20).map(|_| p.provision("user_many", "many"));
    let responses = join_all(calls).await;
    let mut ids = Vec::new();
    for r in responses {
        assert_eq!(r.status(), 202);
        ids.push(json(r).await["machineId"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all calls converge on one machine: {ids:?}");
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM user_machines WHERE clerk_user_id = 'user_many'")
            .fetch_one(&p.app.db)
            .await
            .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(p.hetzner.create_count(), 1);
}

#[tokio::test]
async fn a_handle_held_by_another_user_is_refused_without_a_provider_call() {
    let p = TestPlatform::start().await;
    assert_eq!(p.provision("user_one", "shared").await.status(), 202);
    let r = p.provision("user_two", "shared").await;
    assert_eq!(r.status(), 409);
    assert_eq!(p.hetzner.create_count(), 1);
}

#[tokio::test]
async fn failed_rows_are_retired_and_replaced_until_the_attempt_cap() {
    let p = TestPlatform::start().await;
    fail_creates(&p, 412, "resource_unavailable");

    let r = p.provision("user_quota", "quota").await;
    assert_eq!(r.status(), 429, "capacity failure is a 429");
    let body = json(r).await;
    assert_eq!(
        body,
        serde_json::json!({"error": "Provider capacity unavailable"})
    );
    let first: String = sqlx::query_scalar(
        "SELECT machine_id::text FROM user_machines WHERE clerk_user_id = 'user_quota'",
    )
    .fetch_one(&p.app.db)
    .await
    .unwrap();
    let status = p.status(&first).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["failureCode"], "quota_exceeded");
    assert_eq!(status["attempt"], 1);

    assert_eq!(p.provision("user_quota", "quota").await.status(), 429);
    assert_eq!(p.provision("user_quota", "quota").await.status(), 429);
    // Three attempts used: the fourth is refused and changes nothing.
    let before: Vec<(String, i32, bool)> = sqlx::query_as(
        "SELECT status, attempt, deleted_at IS NOT NULL FROM user_machines WHERE clerk_user_id = 'user_quota' ORDER BY attempt",
    )
    .fetch_all(&p.app.db)
    .await
    .unwrap();
    assert_eq!(
        before,
        vec![
            ("failed".into(), 1, true),
            ("failed".into(), 2, true),
            ("failed".into(), 3, false)
        ],
        "earlier attempts are retired (soft-deleted), the last is live"
    );
    let r = p.provision("user_quota", "quota").await;
    assert_eq!(r.status(), 409);
    assert_eq!(json(r).await["error"], "Provisioning retry limit reached");
    let after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM user_machines WHERE clerk_user_id = 'user_quota'")
            .fetch_one(&p.app.db)
            .await
            .unwrap();
    assert_eq!(after, 3);

    // A retry after the provider recovers succeeds once the operator deletes the failed row.
    p.hetzner.clear_faults();
    let live: String = sqlx::query_scalar(
        "SELECT machine_id::text FROM user_machines WHERE clerk_user_id = 'user_quota' AND deleted_at IS NULL",
    )
    .fetch_one(&p.app.db)
    .await
    .unwrap();
    assert_eq!(p.delete(&live).await.status(), 200);
    let fresh = json(p.provision("user_quota", "quota").await).await;
    assert_eq!(fresh["status"], "provisioning");
}

#[tokio::test]
async fn oversize_user_data_fails_the_row_without_a_provider_call() {
    let p = TestPlatform::start_with(Options {
        tweak: |s| s.user_data_limit = 512,
        ..Options::default()
    })
    .await;
    let r = p.provision("user_big", "big").await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        json(r).await,
        serde_json::json!({"error": "Internal error"})
    );
    assert_eq!(p.hetzner.create_count(), 0);
    assert!(
        p.hetzner.requests().iter().all(|r| r.method != "POST"),
        "no create was sent"
    );
    let code: String = sqlx::query_scalar(
        "SELECT failure_code FROM user_machines WHERE clerk_user_id = 'user_big'",
    )
    .fetch_one(&p.app.db)
    .await
    .unwrap();
    assert_eq!(code, "user_data_too_large");
}

#[tokio::test]
async fn a_lost_create_response_followed_by_a_retry_adopts_the_server_by_label() {
    let p = TestPlatform::start().await;
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Nth(1),
        effect: FaultEffect::CommitThenDrop,
    });
    let r = p.provision("user_lost", "lost").await;
    assert_eq!(r.status(), 202, "an unknown outcome is still accepted");
    let body = json(r).await;
    assert_eq!(body["status"], "provisioning");
    let id = body["machineId"].as_str().unwrap().to_owned();
    assert_eq!(
        p.hetzner.create_count(),
        1,
        "the create did happen at the provider"
    );
    let status = p.status(&id).await;
    assert!(
        status["hetznerServerId"].is_null(),
        "the row cannot know the server yet"
    );
    assert_eq!(status["pendingAction"], "creating_server");

    // The caller retries (as upstream clients do); the step looks the server up by label.
    p.advance(Duration::from_secs(60));
    let again = json(p.provision("user_lost", "lost").await).await;
    assert_eq!(again["machineId"], body["machineId"]);
    assert_eq!(p.hetzner.create_count(), 1, "no second server");
    let server = p.servers_of(&id).pop().unwrap();
    let status = p.status(&id).await;
    assert_eq!(status["hetznerServerId"], server.id);
    assert!(status["pendingAction"].is_null());
    // The adopted server's host registers with the token rendered into its cloud-init.
    assert_eq!(p.register_as_host(&server).await.status(), 200);
}

#[tokio::test]
async fn a_fast_retried_provision_waits_for_the_create_steps_backoff() {
    let p = TestPlatform::start().await;
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Nth(1),
        effect: FaultEffect::CommitThenDrop,
    });
    let id = json(p.provision("user_fast", "fast").await).await["machineId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(p.status(&id).await["pendingAction"], "creating_server");
    let lookups = |p: &TestPlatform| {
        p.hetzner
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/v1/servers"))
            .count()
    };
    let before = lookups(&p);

    // Retried at once (the step's backoff is 15 s): nothing is attempted, the row stays pending.
    let again = json(p.provision("user_fast", "fast").await).await;
    assert_eq!(again["machineId"], id.as_str());
    assert_eq!(again["status"], "provisioning");
    assert_eq!(
        lookups(&p),
        before,
        "no provider call before the backoff ends"
    );
    assert_eq!(p.status(&id).await["pendingAction"], "creating_server");

    // Once the backoff is over, the retry resumes the step and adopts the server by label.
    p.advance(Duration::from_secs(16));
    json(p.provision("user_fast", "fast").await).await;
    assert!(lookups(&p) > before);
    assert_eq!(p.hetzner.create_count(), 1, "no second server");
    assert!(p.status(&id).await["pendingAction"].is_null());
}

#[tokio::test]
async fn the_reconciler_adopts_a_lost_create_by_label_too() {
    let p = TestPlatform::start().await;
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Nth(1),
        effect: FaultEffect::CommitThenDrop,
    });
    let id = json(p.provision("user_lost2", "lost2").await).await["machineId"]
        .as_str()
        .unwrap()
        .to_owned();
    p.advance(Duration::from_secs(60));
    p.reconcile().await;
    assert_eq!(p.hetzner.create_count(), 1);
    let server = p.servers_of(&id).pop().unwrap();
    assert_eq!(p.status(&id).await["hetznerServerId"], server.id);
}

#[tokio::test]
async fn a_provisioning_burst_waits_for_rate_limit_budget_instead_of_failing_rows() {
    let p = TestPlatform::start_with(Options {
        rate_limit: 5,
        refill_per_second: 1.0,
        ..Options::default()
    })
    .await;
    let n = 12;
    let mut ids = Vec::new();
    for i in 0..n {
        let r = p
            .provision(&format!("user_burst_{i}"), &format!("burst-{i}"))
            .await;
        assert_eq!(r.status(), 202, "no row fails because of the rate limit");
        ids.push(json(r).await["machineId"].as_str().unwrap().to_owned());
    }
    // Time passes and the reconciler runs pending creates as budget returns.
    for _ in 0..60 {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM user_machines WHERE pending_step IS NOT NULL")
                .fetch_one(&p.app.db)
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        p.advance(Duration::from_secs(5));
        p.reconcile().await;
    }
    for id in &ids {
        let s = p.status(id).await;
        assert_eq!(s["status"], "provisioning", "{id}");
        assert!(s["hetznerServerId"].is_number(), "{id} has its server");
    }
    assert_eq!(p.hetzner.create_count(), n);
    let rejected = p
        .hetzner
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert_eq!(
        rejected, 0,
        "the client paced itself: the provider never had to refuse"
    );
}

#[tokio::test]
async fn server_names_stay_valid_hostnames_for_long_handles_and_other_slots() {
    let p = TestPlatform::start().await;
    let handle = format!("a{}", "b".repeat(62));
    let id = json(
        p.provision_slot("user_long", &handle, "workspace-dev")
            .await,
    )
    .await["machineId"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = p.servers_of(&id).pop().expect("created");
    assert!(server.name.len() <= 63, "{}", server.name);
    assert!(
        server.name.starts_with("matrix-ab") && server.name.ends_with("-workspace-dev"),
        "{}",
        server.name
    );
}

#[tokio::test]
async fn a_taken_server_name_falls_back_to_a_unique_one() {
    let p = TestPlatform::start().await;
    // A failed row's server still holds `matrix-taken` (its deletion keeps failing).
    p.hetzner.inject(FaultRule {
        op: FaultOp::DeleteServer,
        when: FaultWhen::Always,
        effect: FaultEffect::Error {
            status: 503,
            code: "unavailable".into(),
        },
    });
    let first = json(p.provision("user_taken", "taken").await).await["machineId"]
        .as_str()
        .unwrap()
        .to_owned();
    p.advance(Duration::from_secs(16 * 60));
    p.reconcile().await;
    assert_eq!(
        p.status(&first).await["failureCode"],
        "registration_timeout"
    );
    assert!(
        p.servers_of(&first)
            .iter()
            .any(|s| s.name == "matrix-taken"),
        "old server still there"
    );
    let second = p.provision("user_taken", "taken").await;
    assert_eq!(second.status(), 202);
    let second = json(second).await["machineId"].as_str().unwrap().to_owned();
    let server = p
        .servers_of(&second)
        .pop()
        .expect("created under another name");
    assert_eq!(
        server.name,
        format!("matrix-taken-{}", &second.replace('-', "")[..8])
    );
}
