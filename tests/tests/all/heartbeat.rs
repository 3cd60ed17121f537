//! Heartbeats: authentication and the states a heartbeat is refused in.

use control_plane::cloud_init::parse_env_lines;
use fleet_tests::platform::TestPlatform;
use serde_json::{Value, json};

#[tokio::test]
async fn heartbeats_are_refused_with_a_wrong_token_for_unknown_machines_and_before_running() {
    let p = TestPlatform::start().await;
    let (id, server) = p.running_machine("user_hbr", "hbr").await;
    let env = parse_env_lines(server.user_data.as_deref().unwrap());
    let send = |token: String, machine: String| {
        let http = p.http.clone();
        let url = p.url("/vps/heartbeat");
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"machineId": machine, "imageVersion": "2026.11.1", "healthy": true}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(
        send(env["MATRIX_HEARTBEAT_TOKEN"].clone(), id.clone())
            .await
            .0,
        200
    );
    // Another machine's token, the registration token, the platform secret: all 401.
    for token in [
        env["MATRIX_REGISTRATION_TOKEN"].clone(),
        fleet_tests::platform::PLATFORM_SECRET.to_owned(),
        "f".repeat(64),
    ] {
        assert_eq!(
            send(token, id.clone()).await,
            (401, json!({"error": "Unauthorized"}))
        );
    }
    // A valid token for an id that has no row (the token is derived from the id, so it verifies).
    let ghost = "00000000-0000-4000-8000-00000000abcd".to_owned();
    let ghost_token = control_plane::cloud_init::heartbeat_token(
        &control_plane::secret::Secret::new(fleet_tests::platform::PLATFORM_SECRET),
        control_plane::ids::MachineId::parse(&ghost).unwrap(),
    );
    assert_eq!(send(ghost_token.expose().to_owned(), ghost).await.0, 404);
    // A machine that is not running yet.
    let pending: Value = p.provision("user_hbp", "hbp").await.json().await.unwrap();
    let pending_id = pending["machineId"].as_str().unwrap().to_owned();
    let pending_server = p.servers_of(&pending_id).pop().unwrap();
    let pending_env = parse_env_lines(pending_server.user_data.as_deref().unwrap());
    assert_eq!(
        send(pending_env["MATRIX_HEARTBEAT_TOKEN"].clone(), pending_id)
            .await
            .0,
        409
    );
    // A deleted machine.
    assert_eq!(p.delete(&id).await.status(), 200);
    assert_eq!(send(env["MATRIX_HEARTBEAT_TOKEN"].clone(), id).await.0, 409);
}

#[tokio::test]
async fn a_heartbeat_reporting_a_backup_is_shown_but_freshness_comes_from_r2() {
    let p = TestPlatform::start().await;
    let (id, server) = p.running_machine("user_hbb", "hbb").await;
    let env = parse_env_lines(server.user_data.as_deref().unwrap());
    let r = p
        .http
        .post(p.url("/vps/heartbeat"))
        .bearer_auth(&env["MATRIX_HEARTBEAT_TOKEN"])
        .json(&json!({"machineId": id, "imageVersion": "2026.11.1", "healthy": false,
            "lastBackup": {"key": "system/db/snapshots/2026-11-24T0400Z.dump", "at": "2026-11-24T04:00:00Z", "sizeBytes": 123}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"ok": true, "nextHeartbeatSeconds": 300}));
    let row = p.row(&id).await;
    assert_eq!(
        row["reported_backup_key"],
        "system/db/snapshots/2026-11-24T0400Z.dump"
    );
    assert_eq!(row["heartbeat_healthy"], false);
    p.reconcile().await;
    // R2 holds nothing for this user: the verified freshness is not "fresh", whatever the host said.
    let status = p.status(&id).await;
    assert_ne!(status["backup"]["freshness"], "fresh");
    assert_eq!(status["backup"]["problem"], "missing_pointer");
    assert_eq!(status["heartbeat"]["healthyReported"], false);
}
