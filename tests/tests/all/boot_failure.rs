//! Boot failure: a host whose restore gate failed closed reports why, with its registration token;
//! the report lands on the timeline once and changes nothing else.

use std::time::Duration;

use control_plane::cloud_init::parse_env_lines;
use fleet_tests::platform::TestPlatform;
use serde_json::{Value, json};
use sim::fake_hetzner::FakeServer;

async fn provisioned(p: &TestPlatform, user: &str) -> (String, FakeServer) {
    let body: Value = p
        .provision(user, &user.replace('_', "-"))
        .await
        .json()
        .await
        .unwrap();
    let id = body["machineId"].as_str().unwrap().to_owned();
    let server = p.servers_of(&id).pop().unwrap();
    (id, server)
}

async fn report(
    p: &TestPlatform,
    server: &FakeServer,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let env = parse_env_lines(server.user_data.as_deref().unwrap());
    let token = token
        .unwrap_or(&env["MATRIX_REGISTRATION_TOKEN"])
        .to_owned();
    p.http
        .post(&env["MATRIX_BOOT_FAILURE_URL"])
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn boot_failed(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "boot_failed")
        .collect()
}

#[tokio::test]
async fn a_reported_boot_failure_is_on_the_timeline_once_and_the_row_is_unchanged() {
    let p = TestPlatform::start().await;
    let (id, server) = provisioned(&p, "user_boot").await;
    let before = p.row(&id).await;
    let body = json!({"machineId": id, "hetznerServerId": server.id, "reason": "snapshot_checksum_mismatch"});

    let r = report(&p, &server, None, body.clone()).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"recorded": true}));
    // A host retrying its report adds nothing.
    let again = report(&p, &server, None, body).await;
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({"recorded": false})
    );

    let events = p.events(&id).await;
    let failed = boot_failed(&events);
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0]["actor"], "host");
    assert_eq!(failed[0]["reason"], "snapshot_checksum_mismatch");
    assert_eq!(p.row(&id).await, before, "the row is untouched");
    // The token was not consumed: the reconciler still settles the row when it expires.
    p.advance(Duration::from_secs(16 * 60));
    p.reconcile().await;
    let status = p.status(&id).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["failureCode"], "registration_timeout");
}

#[tokio::test]
async fn a_boot_failure_report_without_the_right_proof_is_refused_and_writes_nothing() {
    let p = TestPlatform::start().await;
    let (id, server) = provisioned(&p, "user_proof").await;
    let ok = json!({"machineId": id, "hetznerServerId": server.id, "reason": "restore_failed"});

    let wrong_token = report(&p, &server, Some("not-the-token"), ok.clone()).await;
    assert_eq!(wrong_token.status(), 401);
    let other_server =
        json!({"machineId": id, "hetznerServerId": server.id + 1, "reason": "restore_failed"});
    assert_eq!(report(&p, &server, None, other_server).await.status(), 401);
    // Only the closed set of reasons: no free text reaches the timeline.
    let free_text =
        json!({"machineId": id, "hetznerServerId": server.id, "reason": "disk on fire"});
    let r = report(&p, &server, None, free_text).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Invalid request"})
    );
    assert!(boot_failed(&p.events(&id).await).is_empty());

    // Once the host registered, a boot failure makes no sense any more.
    assert_eq!(p.register_as_host(&server).await.status(), 200);
    let late = report(&p, &server, None, ok).await;
    assert_eq!(late.status(), 401, "the token was consumed by register");
    assert!(boot_failed(&p.events(&id).await).is_empty());
}
