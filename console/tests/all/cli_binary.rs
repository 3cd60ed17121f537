//! The built `matrix-console` against a simulated fleet: what a script sees (stdout, stderr, exit
//! code). Every run has stdin that is not a terminal.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Story, run_binary};

const UNKNOWN_ID: &str = "0b5c3e8a-9d41-4f27-a3c6-5e2f1d7b9a40";

/// Three users: alpha backed up and healthy, bravo backed up then crashed (heartbeat unreachable),
/// charlie never backed up. Returns the machine ids.
async fn three_machines(story: &Story) -> [String; 3] {
    let alpha = story.running("user_alpha", "alpha").await;
    let bravo = story.running("user_bravo", "bravo").await;
    let charlie = story.running("user_charlie", "charlie").await;
    story.back_up(&[&alpha, &bravo]).await;
    for id in [&alpha, &bravo, &charlie] {
        story.host(id).heartbeat(None).await.unwrap();
    }
    story.host(&bravo).crash();
    story.fleet.advance(Duration::from_secs(20 * 60));
    for id in [&alpha, &charlie] {
        story.host(id).heartbeat(None).await.unwrap();
    }
    story.fleet.reconcile().await;
    [alpha, bravo, charlie]
}

fn handles(fleet: &Value) -> Vec<&str> {
    fleet["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["handle"].as_str().unwrap())
        .collect()
}

/// Machine ids and the backup keys' timestamps vary with the seed; the snapshot keeps the layout.
fn normalise(text: &str) -> String {
    let uuid =
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    uuid.replace_all(text, "<machine-id>").into_owned()
}

#[tokio::test]
async fn fleet_json_lists_every_machine_with_the_wire_field_names() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;
    let bravo = story.running("user_bravo", "bravo").await;
    let run = story.cli(&["fleet", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let fleet = run.json();
    assert_eq!(fleet["total"], 2);
    assert_eq!(handles(&fleet), ["alpha", "bravo"]);
    let ids: Vec<&str> = fleet["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["machineId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [alpha.as_str(), bravo.as_str()]);
    let m = &fleet["machines"][0];
    assert_eq!(m["status"], "running");
    assert_eq!(m["clerkUserId"], "user_alpha");
    assert_eq!(m["runtimeSlot"], "primary");
    assert!(m["heartbeat"]["health"].is_string(), "{m}");
    assert!(m["backup"]["freshness"].is_string(), "{m}");
    assert!(m["publicIPv4"].is_string(), "{m}");
    assert_eq!(fleet["summary"]["byStatus"]["running"], 2);
    assert!(!run.stdout.contains(story.token()) && !run.stderr.contains(story.token()));
}

#[tokio::test]
async fn fleet_table_shows_status_heartbeat_and_backup_in_words() {
    let story = Story::start().await;
    let [_, _, _] = three_machines(&story).await;
    let run = story.cli(&["fleet"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("HANDLE  "), "{}", run.stdout);
    for column in [
        "USER",
        "SLOT",
        "STATUS",
        "HEARTBEAT",
        "BACKUP",
        "IMAGE",
        "IP",
        "FAILURE",
        "PENDING",
        "MACHINE",
    ] {
        assert!(lines[0].contains(column), "{column}: {}", lines[0]);
    }
    let row = |handle: &str| *lines.iter().find(|l| l.starts_with(handle)).unwrap();
    assert!(
        row("alpha").contains("0s ok") && row("alpha").contains("30m fresh"),
        "{}",
        run.stdout
    );
    assert!(row("bravo").contains("20m unreachable"), "{}", run.stdout);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("cli_binary__fleet_table", normalise(&run.stdout));
    });

    let run = story.cli(&["fleet", "--faults", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let faults = run.json();
    assert!(handles(&faults).contains(&"bravo"), "{faults}");
    assert!(!handles(&faults).contains(&"alpha"), "{faults}");
    assert_eq!(
        faults["total"].as_u64().unwrap() as usize,
        handles(&faults).len()
    );

    let run = story.cli(&["fleet", "--status", "failed", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(handles(&run.json()).is_empty(), "{}", run.stdout);
}

#[tokio::test]
async fn status_prints_every_field_by_id_or_handle() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;
    story.back_up(&[&alpha]).await;
    let by_handle = story.cli(&["status", "alpha"]).await;
    assert_eq!(by_handle.code, 0, "{by_handle:?}");
    let by_id = story.cli(&["status", &alpha]).await;
    assert_eq!(by_id.stdout, by_handle.stdout);
    let field = |label: &str| {
        by_id
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("{label} in {}", by_id.stdout))
            .split_at(18)
            .1
            .to_owned()
    };
    assert_eq!(field("machine"), alpha);
    assert_eq!(field("handle"), "alpha");
    assert_eq!(field("user"), "user_alpha");
    assert_eq!(field("status"), "running");
    assert_eq!(field("backup"), "fresh");
    assert_eq!(field("backup age"), "10m");
    assert!(
        field("backup key").contains("snapshots/"),
        "{}",
        by_id.stdout
    );
    assert_eq!(field("recovery"), "-");
    assert_eq!(by_id.stdout.lines().count(), 27, "{}", by_id.stdout);

    let json = story.cli(&["status", "alpha", "--json"]).await;
    assert_eq!(json.code, 0, "{json:?}");
    let (_, api) = story.status(&alpha).await;
    assert_eq!(json.json(), api);
}

#[tokio::test]
async fn events_show_the_timeline_oldest_first() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;
    let run = story.cli(&["events", "alpha"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("AT "), "{}", run.stdout);
    let position = |kind: &str| {
        lines
            .iter()
            .position(|l| l.split_whitespace().nth(1) == Some(kind))
            .unwrap_or_else(|| panic!("{kind} in {}", run.stdout))
    };
    assert!(
        position("provision") < position("register"),
        "{}",
        run.stdout
    );
    assert!(
        lines[position("register")].contains("provisioning -> running"),
        "{}",
        run.stdout
    );

    let json = story
        .cli(&["events", &alpha, "--json", "--limit", "1"])
        .await;
    assert_eq!(json.code, 0, "{json:?}");
    let events = json.json();
    assert_eq!(events["machineId"], alpha.as_str());
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(events["events"][0]["kind"], "register");
}

#[tokio::test]
async fn recover_with_yes_replaces_a_crashed_host_and_prints_both_ids() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;
    story.back_up(&[&alpha]).await;
    let (_, before) = story.status(&alpha).await;
    let key = before["backup"]["key"].as_str().unwrap().to_owned();
    story.host(&alpha).crash();

    let run = story.cli(&["recover", "user_alpha", "--yes"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(&key),
        "shows the backup it restores from: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("WARNING"), "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("old machine: {alpha}")),
        "{}",
        run.stdout
    );
    let new_id = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("new machine: "))
        .expect("the new machine id")
        .to_owned();
    assert_ne!(new_id, alpha);
    let (code, after) = story.status(&new_id).await;
    assert_eq!(code, 200);
    assert_eq!(after["status"], "recovering");
    assert_eq!(after["recovery"]["oldMachineId"], alpha.as_str());

    // The old id no longer names a row, but its timeline stays readable and links to the new one.
    assert_eq!(story.cli(&["status", &alpha]).await.code, 4);
    let events = story.cli(&["events", &alpha, "--json"]).await;
    assert_eq!(events.code, 0, "{events:?}");
    assert!(
        events.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "recover"),
        "{}",
        events.stdout
    );
}

#[tokio::test]
async fn recover_without_a_backup_is_refused_until_allow_empty_is_given() {
    let story = Story::start().await;
    let charlie = story.running("user_charlie", "charlie").await;

    let run = story.cli(&["recover", "user_charlie", "--yes"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("No backup snapshot available"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow-empty --yes"), "{}", run.stderr);
    let (_, row) = story.status(&charlie).await;
    assert_eq!(row["status"], "running", "nothing changed: {row}");

    let run = story
        .cli(&[
            "recover",
            "user_charlie",
            "--allow-empty",
            "--yes",
            "--json",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("EMPTY"), "{}", run.stderr);
    let answer = run.json();
    assert_eq!(answer["oldMachineId"], charlie.as_str());
    assert_eq!(answer["status"], "recovering");
    assert_ne!(answer["machineId"], charlie.as_str());
    let run = story.cli(&["fleet", "--json"]).await;
    assert_eq!(run.json()["machines"][0]["status"], "recovering");
}

#[tokio::test]
async fn recover_without_yes_and_without_a_terminal_changes_nothing() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;
    story.back_up(&[&alpha]).await;
    story.host(&alpha).crash();

    let run = story.cli(&["recover", "user_alpha"]).await;
    assert_eq!(run.code, 6, "{run:?}");
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let (code, row) = story.status(&alpha).await;
    assert_eq!(code, 200, "same machine id: {row}");
    assert_eq!(row["status"], "running");
    let events = story.cli(&["events", &alpha, "--json"]).await.json();
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "recover"),
        "{events}"
    );

    let run = story.cli(&["delete", "alpha"]).await;
    assert_eq!(run.code, 6, "{run:?}");
    assert_eq!(story.status(&alpha).await.1["status"], "running");
}

#[tokio::test]
async fn delete_with_yes_deletes_the_machine() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;
    let bravo = story.running("user_bravo", "bravo").await;
    let run = story.cli(&["delete", &bravo, "--yes", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let answer = run.json();
    assert_eq!(answer["deleted"], true);
    assert_eq!(answer["machineId"], bravo.as_str());
    assert_eq!(answer["status"], "deleted");

    let run = story.cli(&["delete", "alpha", "--yes"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("deleted alpha ({alpha}): status deleted")),
        "{}",
        run.stdout
    );
    let (_, row) = story.status(&alpha).await;
    assert_eq!(row["status"], "deleted");

    // The handle no longer names a live machine; the id names a deleted one.
    assert_eq!(story.cli(&["delete", "alpha", "--yes"]).await.code, 4);
    let again = story.cli(&["delete", &alpha, "--yes"]).await;
    assert_eq!(again.code, 4, "{again:?}");
    assert!(again.stderr.contains("already deleted"), "{}", again.stderr);
}

#[tokio::test]
async fn unknown_machines_handles_and_users_are_not_found() {
    let story = Story::start().await;
    story.running("user_alpha", "alpha").await;
    for args in [
        vec!["status", UNKNOWN_ID],
        vec!["events", UNKNOWN_ID],
        vec!["delete", UNKNOWN_ID, "--yes"],
        vec!["status", "nobody"],
        vec!["recover", "user_nobody", "--yes"],
        vec!["recover", "user_alpha", "--slot", "gpu", "--yes"],
    ] {
        let run = story.cli(&args).await;
        assert_eq!(run.code, 4, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
}

#[tokio::test]
async fn a_refused_token_exits_5_and_is_never_printed() {
    let story = Story::start().await;
    story.running("user_alpha", "alpha").await;
    let wrong = "wrong-operator-token-8c1f";
    let url = story.fleet.platform_url.clone();
    for args in [
        vec!["--platform-url", &url, "--token", wrong, "fleet"],
        vec!["--platform-url", &url, "--token", wrong, "status", "alpha"],
        vec![
            "--platform-url",
            &url,
            "--token",
            wrong,
            "recover",
            "user_alpha",
            "--yes",
        ],
    ] {
        let run = run_binary(&args, &[]).await;
        assert_eq!(run.code, 5, "{args:?}: {run:?}");
        assert!(run.stderr.contains("token was refused"), "{run:?}");
        assert!(
            !run.stdout.contains(wrong) && !run.stderr.contains(wrong),
            "{run:?}"
        );
    }
    let run = run_binary(
        &["fleet"],
        &[
            ("MATRIX_PLATFORM_URL", &url),
            ("MATRIX_PLATFORM_TOKEN", wrong),
        ],
    )
    .await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        !run.stdout.contains(wrong) && !run.stderr.contains(wrong),
        "{run:?}"
    );
}

#[tokio::test]
async fn an_unreachable_control_plane_exits_3_quickly() {
    // A port that stays ours and hangs up on every connection: a dropped port could be reused
    // by anything, and a listener that never accepts would be a hang, not "unreachable".
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hang_up = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let started = Instant::now();
    let run = run_binary(&["--platform-url", &url, "--token", "t0k", "fleet"], &[]).await;
    hang_up.abort();
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("unreachable"), "{run:?}");
    // The point is "does not hang": generous for a loaded 2-core machine.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_missing_url_or_token_is_a_usage_error_naming_the_variable() {
    let run = run_binary(&["fleet"], &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("MATRIX_PLATFORM_URL") && run.stderr.contains("--platform-url"),
        "{run:?}"
    );
    let run = run_binary(
        &["status", "alpha"],
        &[("MATRIX_PLATFORM_URL", "http://127.0.0.1:9")],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("MATRIX_PLATFORM_TOKEN") && run.stderr.contains("--token"),
        "{run:?}"
    );
    let run = run_binary(&["fleet", "--frobnicate"], &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn help_documents_the_exit_codes_and_never_shows_the_token() {
    let token = "help-must-not-show-this-token";
    let run = run_binary(&["--help"], &[("MATRIX_PLATFORM_TOKEN", token)]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("EXIT CODES"), "{}", run.stdout);
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token));
}

#[tokio::test]
async fn logs_go_to_the_log_file_and_never_contain_the_token() {
    let story = Story::start().await;
    story.running("user_alpha", "alpha").await;
    let log = story.state_dir.path().join("trace.log");
    let run = run_binary(
        &[
            "--platform-url",
            &story.fleet.platform_url,
            "--log-file",
            log.to_str().unwrap(),
            "fleet",
        ],
        &[
            ("MATRIX_PLATFORM_TOKEN", story.token()),
            ("MATRIX_LOG", "trace"),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let text = std::fs::read_to_string(&log).expect("a log file");
    assert!(!text.is_empty(), "trace logging wrote something");
    assert!(!text.contains(story.token()), "token in the log:\n{text}");
    assert!(
        !run.stderr.contains("TRACE") && !run.stderr.contains("DEBUG"),
        "{}",
        run.stderr
    );

    // Without --log-file: under XDG_STATE_HOME.
    let run = story.cli(&["fleet"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        story
            .state_dir
            .path()
            .join("matrix-console/console.log")
            .exists()
    );
}
