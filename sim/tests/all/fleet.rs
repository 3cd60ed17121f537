//! The core recovery story through [`SimFleet`]: the real control plane, the fake Hetzner, the fake
//! R2 (s3s) and simulated hosts with real `pg_dump`/`pg_restore`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sim::fleet::{FleetConfig, SimFleet};
use sim::host::GateOutcome;

async fn json(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

#[tokio::test]
async fn provision_backup_crash_recover_restores_the_backed_up_rows() {
    let fleet = SimFleet::start(FleetConfig::default(), |_| {})
        .await
        .unwrap();
    let r = fleet
        .platform(Method::POST, "/vps/provision")
        .json(&json!({"clerkUserId": "user_core", "handle": "core"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = json(r).await["machineId"].as_str().unwrap().to_owned();
    let booted = fleet.boot_new_hosts().await.unwrap();
    assert_eq!(booted.len(), 1);
    let host = fleet.host_of(&id).unwrap();
    assert_eq!(host.run_gate().await.unwrap(), GateOutcome::Fresh);
    host.register_once().await.unwrap();

    host.write_rows(40).await.unwrap();
    fleet.advance(Duration::from_secs(3600));
    let backup = host.backup(fleet.now()).await.unwrap();
    host.write_rows(7).await.unwrap(); // never backed up: lost with the host, by design
    fleet.advance(Duration::from_secs(10 * 60));
    fleet.reconcile().await;
    let status = json(
        fleet
            .platform(Method::GET, &format!("/vps/{id}/status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status["backup"]["freshness"], "fresh");
    assert_eq!(status["backup"]["key"], backup.key);

    host.crash();
    let r = fleet
        .platform(Method::POST, "/vps/recover")
        .json(&json!({"clerkUserId": "user_core"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let new_id = json(r).await["machineId"].as_str().unwrap().to_owned();
    fleet.boot_new_hosts().await.unwrap();
    let replacement = fleet.host_of(&new_id).unwrap();
    assert_eq!(
        replacement.run_gate().await.unwrap(),
        GateOutcome::Restored {
            key: backup.key.clone()
        }
    );
    replacement.register_once().await.unwrap();
    let status = json(
        fleet
            .platform(Method::GET, &format!("/vps/{new_id}/status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status["status"], "running");
    assert_eq!(
        replacement.row_ids().await.unwrap(),
        (1..=40).collect::<Vec<i64>>()
    );
    // The old server is gone at the provider once the replacement registered.
    let old_server = host.server_id;
    assert!(
        fleet
            .hetzner
            .server(old_server)
            .is_none_or(|s| s.status == sim::fake_hetzner::ServerStatus::Deleting)
    );
}

#[tokio::test]
async fn the_connection_info_lets_an_external_client_attach() {
    let fleet = SimFleet::start(FleetConfig::default(), |_| {})
        .await
        .unwrap();
    let info = fleet.connection_info();
    let r = reqwest::Client::new()
        .get(format!("{}/vps/fleet", info.platform_url))
        .bearer_auth(&info.platform_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .get(format!("{}/servers", info.hetzner_url))
        .bearer_auth(&info.hetzner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
