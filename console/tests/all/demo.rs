//! The demo fleet started through the library, observed through the binary, then stopped.

use std::time::Duration;

use matrix_console::client::{ClientError, FleetQuery};
use matrix_console::demo::{self, DemoOptions};

use crate::support::{run_binary, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fleet_brings_its_hosts_to_running_and_stops_with_everything_it_started() {
    let fleet = demo::start(DemoOptions { hosts: 3, seed: 7 })
        .await
        .unwrap();
    let url = fleet.platform_url().to_owned();
    let token = fleet.token();
    let state = tempfile::tempdir().unwrap();
    let running = wait_for(
        "3 running machines in `fleet`",
        Duration::from_secs(90),
        || {
            let (url, token, state) = (url.clone(), token.clone(), state.path().to_owned());
            async move {
                let run = run_binary(
                    &["--platform-url", &url, "fleet", "--json"],
                    &[
                        ("MATRIX_PLATFORM_TOKEN", token.expose()),
                        ("XDG_STATE_HOME", state.to_str().unwrap()),
                    ],
                )
                .await;
                if run.code != 0 {
                    return Err(format!("{run:?}"));
                }
                let fleet = run.json();
                let statuses: Vec<String> = fleet["machines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["status"].as_str().unwrap().to_owned())
                    .collect();
                if statuses.len() == 3 && statuses.iter().all(|s| s == "running") {
                    Ok(fleet)
                } else {
                    Err(format!("statuses {statuses:?}"))
                }
            }
        },
    )
    .await;
    assert_eq!(running["summary"]["total"], 3);

    let client = fleet.client(Duration::from_secs(2)).unwrap();
    fleet.stop().await;
    // A fresh connection finds nobody listening once the fleet is dropped.
    let fresh = matrix_console::client::PlatformClient::new(
        url::Url::parse(&url).unwrap(),
        token,
        Duration::from_secs(2),
    )
    .unwrap();
    drop(client);
    wait_for("the control plane to stop", Duration::from_secs(20), || {
        let fresh = fresh.clone();
        async move {
            match fresh.fleet_all(&FleetQuery::default()).await {
                Err(ClientError::Unreachable) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
}
