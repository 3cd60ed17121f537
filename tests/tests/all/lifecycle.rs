//! The whole lifecycle of one machine through the API.

use fleet_tests::platform::{BUCKET, TestPlatform};
use serde_json::Value;

#[tokio::test]
async fn full_lifecycle_provision_register_heartbeat_status_delete() {
    let p = TestPlatform::start().await;

    let r = p.provision("user_alice", "alice").await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "provisioning");
    assert_eq!(body["etaSeconds"], 90);
    let id = body["machineId"].as_str().unwrap().to_owned();

    // The server was created with the reference name, labels and a rendered cloud-init.
    let servers = p.servers_of(&id);
    assert_eq!(servers.len(), 1);
    let server = &servers[0];
    assert_eq!(server.name, "matrix-alice");
    assert_eq!(server.labels["clerk_user_id"], "user_alice");
    assert_eq!(server.labels["runtime_slot"], "primary");
    assert_eq!(server.labels["app"], "matrix-customer-vps");
    assert!(
        server
            .user_data
            .as_deref()
            .unwrap()
            .starts_with("#cloud-config")
    );

    let status = p.status(&id).await;
    assert_eq!(status["status"], "provisioning");
    assert_eq!(status["hetznerServerId"], server.id);

    let reg = p.register_as_host(server).await;
    assert_eq!(reg.status(), 200);
    let reg: Value = reg.json().await.unwrap();
    assert_eq!(
        reg,
        serde_json::json!({"registered": true, "status": "running"})
    );

    let status = p.status(&id).await;
    assert_eq!(status["status"], "running");
    assert_eq!(status["publicIPv4"], server.ipv4.to_string());
    assert_eq!(status["lastSeenAt"], "2026-11-24T04:00:00Z");
    assert_eq!(status["heartbeat"]["health"], "ok");
    // vps-meta.json was written to the user's prefix.
    assert!(
        p.s3.get(BUCKET, "matrixos-sync/user_alice/system/vps-meta.json")
            .is_some()
    );

    p.advance(std::time::Duration::from_secs(300));
    let hb = p.heartbeat_as_host(server, &id).await;
    assert_eq!(hb.status(), 200);
    let status = p.status(&id).await;
    assert_eq!(status["lastSeenAt"], "2026-11-24T04:05:00Z");

    let del = p.delete(&id).await;
    assert_eq!(del.status(), 200);
    let del: Value = del.json().await.unwrap();
    assert_eq!(
        del,
        serde_json::json!({"deleted": true, "machineId": id, "status": "deleted"})
    );
    assert!(p.server_gone(server.id), "server deleted at the provider");
    let status = p.status(&id).await;
    assert_eq!(status["status"], "deleted");
    assert!(status["deletedAt"].is_string());
    assert!(p.pending_deletions().await.is_empty());

    // The timeline has every step, in order, with actors.
    let kinds: Vec<(String, String)> = p
        .events(&id)
        .await
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("provision", "api"),
        ("server_created", "api"),
        ("register", "host"),
        ("delete", "operator"),
    ];
    assert_eq!(kinds, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));

    // Deleting again is 404.
    assert_eq!(p.delete(&id).await.status(), 404);
    let fleet: Value = p.get_json("/vps/fleet").await;
    assert_eq!(fleet["total"], 0);
}
