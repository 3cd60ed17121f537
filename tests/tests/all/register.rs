//! Register: every rejection, and single use.

use std::time::Duration;

use control_plane::cloud_init::parse_env_lines;
use fleet_tests::platform::TestPlatform;
use serde_json::{Value, json};
use sim::fake_hetzner::FakeServer;

struct Host {
    env: std::collections::BTreeMap<String, String>,
    server: FakeServer,
}

async fn provisioned(p: &TestPlatform, user: &str) -> Host {
    let body: Value = p
        .provision(user, &user.replace('_', "-"))
        .await
        .json()
        .await
        .unwrap();
    let server = p
        .servers_of(body["machineId"].as_str().unwrap())
        .pop()
        .unwrap();
    Host {
        env: parse_env_lines(server.user_data.as_deref().unwrap()),
        server,
    }
}

async fn register(p: &TestPlatform, token: &str, body: Value) -> (u16, Value) {
    let r = p
        .http
        .post(p.url("/vps/register"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn body(h: &Host) -> Value {
    json!({
        "machineId": h.env["MATRIX_MACHINE_ID"],
        "hetznerServerId": h.server.id,
        "publicIPv4": h.server.ipv4.to_string(),
        "publicIPv6": "2a01:4f8:c0c:1234::1",
        "imageVersion": "2026.11.1",
    })
}

async fn still_provisioning(p: &TestPlatform, h: &Host) {
    let s = p.status(&h.env["MATRIX_MACHINE_ID"]).await;
    assert_eq!(
        s["status"], "provisioning",
        "a rejected registration changes nothing"
    );
}

#[tokio::test]
async fn register_rejects_a_wrong_token() {
    let p = TestPlatform::start().await;
    let h = provisioned(&p, "user_r1").await;
    let (status, err) = register(&p, &"0".repeat(64), body(&h)).await;
    assert_eq!((status, err), (401, json!({"error": "Unauthorized"})));
    let (status, _) = register(&p, &h.env["MATRIX_HEARTBEAT_TOKEN"], body(&h)).await;
    assert_eq!(
        status, 401,
        "the heartbeat token is not a registration token"
    );
    let r = p
        .http
        .post(p.url("/vps/register"))
        .json(&body(&h))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no token at all");
    still_provisioning(&p, &h).await;
}

#[tokio::test]
async fn register_rejects_an_expired_token() {
    let p = TestPlatform::start().await;
    let h = provisioned(&p, "user_r2").await;
    p.advance(Duration::from_secs(15 * 60 + 1));
    let (status, _) = register(&p, &h.env["MATRIX_REGISTRATION_TOKEN"], body(&h)).await;
    assert_eq!(status, 401);
    still_provisioning(&p, &h).await;
}

#[tokio::test]
async fn register_rejects_a_server_id_that_is_not_the_rows() {
    let p = TestPlatform::start().await;
    let h = provisioned(&p, "user_r3").await;
    let mut b = body(&h);
    b["hetznerServerId"] = json!(h.server.id + 1000);
    let (status, _) = register(&p, &h.env["MATRIX_REGISTRATION_TOKEN"], b).await;
    assert_eq!(status, 401);
    still_provisioning(&p, &h).await;
}

#[tokio::test]
async fn register_rejects_private_and_malformed_addresses() {
    let p = TestPlatform::start().await;
    let h = provisioned(&p, "user_r4").await;
    for ip in [
        "10.0.0.5",
        "192.168.1.1",
        "127.0.0.1",
        "100.64.1.1",
        "not-an-ip",
        "1.2.3.04",
    ] {
        let mut b = body(&h);
        b["publicIPv4"] = json!(ip);
        let (status, err) = register(&p, &h.env["MATRIX_REGISTRATION_TOKEN"], b).await;
        assert_eq!(
            (status, err),
            (400, json!({"error": "Invalid request"})),
            "{ip}"
        );
    }
    still_provisioning(&p, &h).await;
}

#[tokio::test]
async fn register_is_single_use() {
    let p = TestPlatform::start().await;
    let h = provisioned(&p, "user_r5").await;
    let (status, ok) = register(&p, &h.env["MATRIX_REGISTRATION_TOKEN"], body(&h)).await;
    assert_eq!(status, 200);
    assert_eq!(ok["registered"], true);
    let (status, _) = register(&p, &h.env["MATRIX_REGISTRATION_TOKEN"], body(&h)).await;
    assert_eq!(status, 401, "the token was cleared by the first use");
    let row = p.row(&h.env["MATRIX_MACHINE_ID"]).await;
    assert!(row["registration_token_hash"].is_null());
    assert_eq!(row["public_ipv6"], "2a01:4f8:c0c:1234::1");
}

#[tokio::test]
async fn register_for_an_unknown_machine_is_404() {
    let p = TestPlatform::start().await;
    let h = provisioned(&p, "user_r6").await;
    let mut b = body(&h);
    b["machineId"] = json!("00000000-0000-4000-8000-000000000000");
    let (status, _) = register(&p, &h.env["MATRIX_REGISTRATION_TOKEN"], b).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn vps_meta_json_is_exactly_as_specified_and_a_failed_write_is_a_warning() {
    let p = TestPlatform::start().await;
    let h = provisioned(&p, "user_meta").await;
    let (status, _) = register(&p, &h.env["MATRIX_REGISTRATION_TOKEN"], body(&h)).await;
    assert_eq!(status, 200);
    let raw =
        p.s3.get(
            fleet_tests::platform::BUCKET,
            "matrixos-sync/user_meta/system/vps-meta.json",
        )
        .unwrap();
    let meta: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        meta,
        json!({
            "version": 1,
            "userId": "user_meta",
            "machineId": h.env["MATRIX_MACHINE_ID"],
            "hetznerServerId": h.server.id,
            "imageVersion": "2026.11.1",
            "status": "running",
            "provisionedAt": "2026-11-24T04:00:00.000Z",
            "lastSyncAt": "2026-11-24T04:00:00.000Z",
            "publicIPv4": h.server.ipv4.to_string(),
            "publicIPv6": "2a01:4f8:c0c:1234::1",
        })
    );

    // R2 down at registration: still running, with the warning; the reconciler re-writes it later.
    let h2 = provisioned(&p, "user_meta2").await;
    p.s3.fail_next(10, 500);
    let (status, ok) = register(&p, &h2.env["MATRIX_REGISTRATION_TOKEN"], body(&h2)).await;
    assert_eq!(status, 200);
    assert_eq!(
        ok,
        json!({"registered": true, "status": "running", "warnings": ["vps_meta_persistence_failed"]})
    );
    assert_eq!(
        p.status(&h2.env["MATRIX_MACHINE_ID"]).await["status"],
        "running"
    );
    p.s3.fail_next(0, 500);
    p.reconcile().await;
    assert!(
        p.s3.get(
            fleet_tests::platform::BUCKET,
            "matrixos-sync/user_meta2/system/vps-meta.json"
        )
        .is_some()
    );
}
