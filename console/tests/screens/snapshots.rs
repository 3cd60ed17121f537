//! Whole screens at 80×24 and 200×50 with the fixture fleet and a fixed `now` (two seconds after
//! the fleet arrived). Text snapshots check layout; the two styled ones check that colour is
//! used, and that without colour the same signals remain as glyphs and words.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use control_plane::api::types::{EventView, EventsResponse, RouteResponse, RouteTarget};
use matrix_console::client::ClientError;
use matrix_console::tui::fixture;
use matrix_console::tui::state::{InspectPart, Msg, update};

use crate::support::{Clock, loaded, press, select, settings, small, snap_both, styled};

#[test]
fn the_fleet_table_shows_every_condition_with_glyphs() {
    let clock = Clock::new();
    let mut state = small(clock);
    snap_both("fleet", &mut state, clock.at(2));
}

#[test]
fn a_filter_narrows_the_table_and_is_shown_in_the_status_line() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "/status:failed,recovering<Enter>", clock.at(2));
    snap_both("filtered", &mut state, clock.at(2));
}

#[test]
fn a_bad_filter_is_refused_with_its_reason_in_the_footer() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "/status:bogus<Enter>", clock.at(2));
    snap_both("filter_error", &mut state, clock.at(2));
}

#[test]
fn faults_only_keeps_failed_recovering_late_and_stale_machines() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "f", clock.at(2));
    snap_both("faults_only", &mut state, clock.at(2));
}

#[test]
fn the_inspect_view_shows_every_field_events_and_routing() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "frank", "primary", clock.at(2));
    press(&mut state, "<Enter>", clock.at(2));
    let machine = state.selected_row().unwrap().machine.clone();
    let at = fixture::generated_at();
    let event =
        |id: i64, mins: i64, kind: &str, from: Option<&str>, to: &str, actor: &str| EventView {
            id,
            at: at - ChronoDuration::minutes(mins),
            machine_id: machine.machine_id,
            clerk_user_id: machine.clerk_user_id.to_string(),
            runtime_slot: "primary".into(),
            kind: kind.into(),
            from: from.map(str::to_owned),
            to: Some(to.into()),
            actor: actor.into(),
            reason: None,
            related_machine_id: None,
        };
    let events = EventsResponse {
        machine_id: machine.machine_id,
        events: vec![
            event(1, 3 * 24 * 60, "provision", None, "provisioning", "api"),
            event(
                2,
                3 * 24 * 60 - 2,
                "register",
                Some("provisioning"),
                "running",
                "host",
            ),
            event(3, 5, "recover", Some("running"), "recovering", "operator"),
        ],
    };
    let route = RouteResponse {
        clerk_user_id: machine.clerk_user_id.clone(),
        runtime_slot: machine.runtime_slot.clone(),
        routable: true,
        via: Some("previous_server".into()),
        target: Some(RouteTarget {
            machine_id: fixture::machine_id(1007),
            public_ipv4: machine.public_ipv4.unwrap(),
            public_ipv6: None,
        }),
        replacement_machine_id: Some(machine.machine_id),
        machine_id: Some(fixture::machine_id(1007)),
        reason: None,
    };
    for part in [
        InspectPart::Events(Ok(events)),
        InspectPart::Route(Ok(route)),
    ] {
        update(
            &mut state,
            Msg::Inspect {
                machine_id: machine.machine_id,
                part,
            },
            clock.at(2),
        );
    }
    snap_both("inspect", &mut state, clock.at(2));
}

#[test]
fn the_inspect_view_shows_loading_and_errors_per_part() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "alice", "primary", clock.at(2));
    press(&mut state, "<Enter>", clock.at(2));
    let id = state.selected_row().unwrap().machine.machine_id;
    update(
        &mut state,
        Msg::Inspect {
            machine_id: id,
            part: InspectPart::Events(Err(ClientError::Unreachable)),
        },
        clock.at(2),
    );
    snap_both("inspect_loading", &mut state, clock.at(2));
}

#[test]
fn the_recover_dialog_names_the_backup_it_restores() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "alice", "primary", clock.at(2));
    press(&mut state, "r", clock.at(2));
    snap_both("recover_fresh", &mut state, clock.at(2));
}

#[test]
fn the_recover_dialog_warns_loudly_about_a_stale_backup() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "carol", "primary", clock.at(2));
    press(&mut state, "r", clock.at(2));
    snap_both("recover_stale", &mut state, clock.at(2));
}

#[test]
fn the_recover_dialog_warns_loudly_about_a_missing_backup() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "erin", "primary", clock.at(2));
    press(&mut state, "r", clock.at(2));
    snap_both("recover_missing", &mut state, clock.at(2));
}

#[test]
fn recovering_without_a_backup_needs_a_second_typed_confirmation() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "erin", "primary", clock.at(2));
    press(&mut state, "r<Tab><Enter>emp", clock.at(2));
    snap_both("recover_allow_empty", &mut state, clock.at(2));
}

#[test]
fn the_delete_dialog_asks_for_the_handle() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "bob", "primary", clock.at(2));
    press(&mut state, "dbo", clock.at(2));
    snap_both("delete", &mut state, clock.at(2));
}

#[test]
fn the_help_is_generated_from_the_key_registry() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "?", clock.at(2));
    snap_both("help", &mut state, clock.at(2));
}

#[test]
fn an_unreachable_control_plane_shows_a_banner_and_keeps_the_table() {
    let clock = Clock::new();
    let mut state = small(clock);
    update(
        &mut state,
        Msg::FleetFailed {
            error: ClientError::Unreachable,
            attempt: 3,
            retry_in: Duration::from_secs(4),
        },
        clock.at(125),
    );
    snap_both("unreachable", &mut state, clock.at(127));
}

#[test]
fn an_empty_fleet_says_so() {
    let clock = Clock::new();
    let mut state = loaded(fixture::response(vec![]), clock, false, 50);
    snap_both("empty_fleet", &mut state, clock.at(2));
}

#[test]
fn outcomes_land_in_the_messages_screen() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "alice", "primary", clock.at(2));
    let effects = press(&mut state, "r<Tab><Enter>", clock.at(2));
    let id = match &effects[..] {
        [matrix_console::tui::state::Effect::Run(r)] => r.id,
        other => panic!("expected one action, got {other:?}"),
    };
    update(
        &mut state,
        Msg::ActionDone {
            id,
            outcome: Err(matrix_console::tui::state::ActionFailure::Client(
                ClientError::Conflict("Recovery already in progress".into()),
            )),
        },
        clock.at(3),
    );
    press(&mut state, "m", clock.at(5));
    snap_both("messages", &mut state, clock.at(5));
}

#[test]
fn colours_mark_status_and_health() {
    let clock = Clock::new();
    let mut state = small(clock);
    update(
        &mut state,
        Msg::Resize {
            width: 80,
            height: 24,
        },
        clock.at(2),
    );
    let text = styled(&state, 80, 24, clock.at(2));
    assert!(text.contains("fg: Red"), "failed machines are red");
    settings().bind(|| insta::assert_snapshot!("fleet_styles_color", text));
}

#[test]
fn no_color_keeps_every_signal_without_any_colour() {
    let clock = Clock::new();
    let mut state = small(clock);
    state.color = false;
    update(
        &mut state,
        Msg::Resize {
            width: 80,
            height: 24,
        },
        clock.at(2),
    );
    let text = styled(&state, 80, 24, clock.at(2));
    for colour in ["fg: Red", "fg: Green", "fg: Yellow", "bg: Red"] {
        assert!(!text.contains(colour), "{colour} used under NO_COLOR");
    }
    for glyph in [
        "✓ running",
        "✗ failed",
        "↻ recovering",
        "11m07s !",
        "47m02s ✗",
        "none ✗",
    ] {
        assert!(text.contains(glyph), "{glyph} missing under NO_COLOR");
    }
    settings().bind(|| insta::assert_snapshot!("fleet_styles_no_color", text));
}

#[test]
fn every_screen_renders_on_tiny_terminals_without_panicking() {
    let clock = Clock::new();
    let scripts = [
        "",
        "f",
        "/status:bogus<Enter>",
        "?",
        "m",
        "<Enter>",
        "r",
        "d",
        "gjjjjr<Tab><Enter>",
    ];
    for script in scripts {
        let mut state = small(clock);
        press(&mut state, script, clock.at(1));
        for (w, h) in [(1u16, 1u16), (10, 5), (20, 8), (40, 10), (79, 23)] {
            update(
                &mut state,
                Msg::Resize {
                    width: w,
                    height: h,
                },
                clock.at(1),
            );
            let _ = crate::support::screen(&state, w, h, clock.at(1));
        }
    }
}
