//! End to end: the console's state machine drives a real recovery through the real platform API of
//! a simulated fleet (real control plane, Postgres, fake Hetzner and R2, simulated hosts with real
//! `pg_dump`/`pg_restore`). Keys go into `update`; the emitted effect is run by the console's own
//! executor with a `PlatformClient`; refreshes go through the refresher's `refresh_once`.

use std::time::{Duration, Instant};

use control_plane::health::HeartbeatHealth;
use control_plane::secret::Secret;
use control_plane::status::MachineStatus;
use matrix_console::client::PlatformClient;
use matrix_console::tui::runtime::{execute, refresh_once};
use matrix_console::tui::state::{
    ActionKind, ActionSuccess, DialogKind, Effect, Msg, State, update,
};
use reqwest::Method;
use serde_json::json;
use sim::fleet::{FleetConfig, SimFleet};
use sim::host::GateOutcome;

use crate::support::{press, screen, select};

async fn refresh(state: &mut State, client: &PlatformClient) {
    let mut attempt = 0;
    let msg = refresh_once(client, &mut attempt).await;
    assert!(
        matches!(msg, Msg::FleetLoaded(_)),
        "refresh failed: {msg:?}"
    );
    update(state, msg, Instant::now());
}

fn row_of<'a>(
    state: &'a State,
    handle: &str,
) -> &'a control_plane::api::types::MachineStatusResponse {
    &state
        .rows()
        .iter()
        .find(|r| r.machine.handle.as_str() == handle)
        .unwrap_or_else(|| panic!("{handle} not in the fleet"))
        .machine
}

#[tokio::test]
async fn the_console_recovers_a_crashed_machine_through_the_real_api() {
    let fleet = SimFleet::start(FleetConfig::default(), |_| {})
        .await
        .unwrap();
    let client = PlatformClient::new(
        url::Url::parse(&fleet.platform_url).unwrap(),
        Secret::new(fleet.config.platform_secret.clone()),
        Duration::from_secs(30),
    )
    .unwrap();

    // One user, booted, registered, with a verified backup.
    let r = fleet
        .platform(Method::POST, "/vps/provision")
        .json(&json!({"clerkUserId": "user_console", "handle": "console"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["machineId"]
        .as_str()
        .unwrap()
        .to_owned();
    fleet.boot_new_hosts().await.unwrap();
    let host = fleet.host_of(&id).unwrap();
    assert_eq!(host.run_gate().await.unwrap(), GateOutcome::Fresh);
    host.register_once().await.unwrap();
    host.write_rows(25).await.unwrap();
    fleet.advance(Duration::from_secs(3600));
    let backup = host.backup(fleet.now()).await.unwrap();
    assert_eq!(host.heartbeat(None).await.unwrap(), 200);
    fleet.advance(Duration::from_secs(60));
    fleet.reconcile().await;

    // The console sees it running.
    let mut state = State::new(false, true, None);
    refresh(&mut state, &client).await;
    assert_eq!(row_of(&state, "console").status, MachineStatus::Running);

    // The host crashes; time passes until the platform calls its heartbeat unreachable.
    host.crash();
    for _ in 0..4 {
        fleet.advance(Duration::from_secs(5 * 60));
        fleet.reconcile().await;
    }
    refresh(&mut state, &client).await;
    let m = row_of(&state, "console");
    assert_eq!(m.heartbeat.health, HeartbeatHealth::Unreachable, "{m:?}");
    press(&mut state, "f", Instant::now());
    assert_eq!(state.view.len(), 1, "the crashed machine is a fault");
    press(&mut state, "f", Instant::now());

    // The operator selects it, presses r, sees the backup it restores from, and confirms.
    let now = Instant::now();
    select(&mut state, "console", "primary", now);
    press(&mut state, "r", now);
    match &state.dialog.as_ref().expect("the recover dialog").kind {
        DialogKind::Recover {
            backup: b,
            no_backup,
        } => {
            assert!(!no_backup);
            assert_eq!(b.key.as_deref(), Some(backup.key.as_str()));
        }
        other => panic!("unexpected dialog {other:?}"),
    }
    assert!(screen(&state, 200, 50, now).contains(&backup.key));
    let effects = press(&mut state, "<Tab><Enter>", now);
    let [Effect::Run(request)] = &effects[..] else {
        panic!("expected exactly one action, got {effects:?}")
    };
    let ActionKind::Recover {
        user,
        slot,
        allow_empty,
        ..
    } = &request.kind
    else {
        panic!("expected a recover, got {request:?}")
    };
    assert_eq!(
        (user.as_str(), slot.as_str(), *allow_empty),
        ("user_console", "primary", false)
    );

    // The console's own executor calls the platform.
    let done = execute(&client, false, request).await;
    let new_id = match &done {
        Msg::ActionDone {
            outcome: Ok(ActionSuccess::Recovered(r)),
            ..
        } => r.machine_id,
        other => panic!("recover failed: {other:?}"),
    };
    let effects = update(&mut state, done, Instant::now());
    assert_eq!(effects, vec![Effect::RefreshNow]);
    refresh(&mut state, &client).await;
    let m = row_of(&state, "console");
    assert_eq!(m.status, MachineStatus::Recovering);
    assert_eq!(m.pending_action.as_deref(), Some("recovering"));
    assert!(screen(&state, 200, 50, Instant::now()).contains("recovering"));

    // A second recover while the platform reports one in flight is refused before asking.
    let effects = press(&mut state, "r", Instant::now());
    assert!(effects.is_empty(), "{effects:?}");
    assert!(state.dialog.is_none());

    // The replacement boots from the backup and registers; the row is running again.
    fleet.boot_new_hosts().await.unwrap();
    let replacement = fleet.host_of(&new_id.to_string()).unwrap();
    assert_eq!(
        replacement.run_gate().await.unwrap(),
        GateOutcome::Restored {
            key: backup.key.clone()
        }
    );
    replacement.register_once().await.unwrap();
    fleet.reconcile().await;
    refresh(&mut state, &client).await;
    let m = row_of(&state, "console");
    assert_eq!(m.status, MachineStatus::Running);
    assert_eq!(m.machine_id, new_id);
    assert_eq!(
        replacement.row_ids().await.unwrap(),
        (1..=25).collect::<Vec<i64>>()
    );
    // The selection followed the user and slot to the new machine id.
    assert_eq!(state.selected_row().unwrap().machine.machine_id, new_id);
    assert!(screen(&state, 200, 50, Instant::now()).contains("✓ running"));
}

#[tokio::test]
async fn the_executor_refuses_in_read_only_mode_without_calling_the_platform() {
    // No platform at all: a call would fail as unreachable, the refusal must come first.
    let client = PlatformClient::new(
        url::Url::parse("http://127.0.0.1:9").unwrap(),
        Secret::new("unused"),
        Duration::from_secs(1),
    )
    .unwrap();
    let request = matrix_console::tui::state::ActionRequest {
        id: 7,
        kind: ActionKind::Delete {
            machine_id: matrix_console::tui::fixture::machine_id(1),
            handle: control_plane::ids::Handle::parse("alice").unwrap(),
        },
    };
    match execute(&client, true, &request).await {
        Msg::ActionDone { id: 7, outcome } => assert_eq!(
            outcome.unwrap_err(),
            matrix_console::tui::state::ActionFailure::ReadOnly
        ),
        other => panic!("{other:?}"),
    }
    // And an unreachable platform is reported as such by the refresher.
    let mut attempt = 0;
    match refresh_once(&client, &mut attempt).await {
        Msg::FleetFailed {
            error,
            attempt: 1,
            retry_in,
        } => {
            assert!(error.is_unreachable());
            assert_eq!(retry_in, Duration::from_secs(1));
        }
        other => panic!("{other:?}"),
    }
}
