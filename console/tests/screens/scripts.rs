//! Key scripts: keys in, effects and screens out.

use control_plane::api::types::{DeleteResponse, RecoverResponse};
use control_plane::status::MachineStatus;
use matrix_console::strings::tui as s;
use matrix_console::tui::fixture::{self, Spec};
use matrix_console::tui::fleet::FleetSnapshot;
use matrix_console::tui::state::{
    ActionFailure, ActionKind, ActionSuccess, Effect, Msg, Screen, update,
};

use crate::support::{Clock, loaded, press, screen, select, small};

fn runs(effects: &[Effect]) -> Vec<&ActionKind> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Run(r) => Some(&r.kind),
            _ => None,
        })
        .collect()
}

#[test]
fn a_confirmed_recover_emits_exactly_one_recover_for_the_right_user_and_slot() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "alice", "staging", clock.at(1));
    let expected_id = state.selected_row().unwrap().machine.machine_id;
    let effects = press(&mut state, "r<Tab><Enter>", clock.at(1));
    assert_eq!(effects.len(), 1, "{effects:?}");
    match runs(&effects)[..] {
        [
            ActionKind::Recover {
                machine_id,
                user,
                slot,
                allow_empty,
                ..
            },
        ] => {
            assert_eq!(*machine_id, expected_id);
            assert_eq!(user.as_str(), "user_alice");
            assert_eq!(slot.as_str(), "staging");
            assert!(!allow_empty);
        }
        ref other => panic!("expected one recover, got {other:?}"),
    }
    assert!(state.dialog.is_none());
    // The row shows the console's own in-flight marker until the answer arrives.
    let text = screen(&state, 200, 50, clock.at(1));
    assert!(text.contains(s::PENDING_RECOVERING_LOCAL), "{text}");
}

#[test]
fn cancel_is_focused_so_enter_and_esc_send_nothing() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "alice", "primary", clock.at(1));
    assert!(press(&mut state, "r<Enter>", clock.at(1)).is_empty());
    assert!(state.dialog.is_none());
    assert!(press(&mut state, "r<Esc>", clock.at(1)).is_empty());
    assert!(press(&mut state, "r<Tab><Tab><Enter>", clock.at(1)).is_empty());
    assert!(press(&mut state, "d<Esc>", clock.at(1)).is_empty());
    assert!(press(&mut state, "dalice<Enter>", clock.at(1)).is_empty());
    assert!(state.in_flight.is_empty());
    assert!(screen(&state, 80, 24, clock.at(1)).contains(s::CANCELLED));
}

#[test]
fn read_only_mode_refuses_recover_and_delete_and_says_so() {
    let clock = Clock::new();
    let mut state = loaded(fixture::small(), clock, true, 50);
    select(&mut state, "dave", "primary", clock.at(1));
    let effects = press(&mut state, "r", clock.at(1));
    assert!(effects.is_empty(), "{effects:?}");
    assert!(state.dialog.is_none(), "no dialog opens in read-only mode");
    let text = screen(&state, 80, 24, clock.at(1));
    assert!(text.contains(s::REFUSED_READ_ONLY), "{text}");
    assert!(text.contains(s::READ_ONLY_BADGE), "{text}");
    let effects = press(&mut state, "d", clock.at(1));
    assert!(effects.is_empty(), "{effects:?}");
    assert!(state.dialog.is_none());
    assert!(state.in_flight.is_empty());
}

#[test]
fn delete_sends_nothing_until_the_handle_is_typed_exactly() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "bob", "primary", clock.at(1));
    let effects = press(&mut state, "dbobby<Tab><Enter>", clock.at(1));
    assert!(effects.is_empty(), "{effects:?}");
    assert!(
        state.dialog.is_some(),
        "the dialog stays open to fix the typo"
    );
    let text = screen(&state, 80, 24, clock.at(1));
    assert!(text.contains(s::DIALOG_HANDLE_MISMATCH), "{text}");
    let effects = press(&mut state, "<Backspace><Backspace><Enter>", clock.at(1));
    match runs(&effects)[..] {
        [ActionKind::Delete { handle, .. }] => assert_eq!(handle.as_str(), "bob"),
        ref other => panic!("expected one delete, got {other:?}"),
    }
}

#[test]
fn recovering_without_a_backup_sends_allow_empty_only_after_the_typed_word() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "erin", "primary", clock.at(1));
    // Step one confirmed: only the second dialog opens.
    assert!(press(&mut state, "r<Tab><Enter>", clock.at(1)).is_empty());
    assert!(state.dialog.is_some());
    // Wrong word, then the right word but Cancel focused: nothing.
    assert!(press(&mut state, "yes<Tab><Enter>", clock.at(1)).is_empty());
    assert!(
        press(
            &mut state,
            "<Backspace><Backspace><Backspace><Tab>empty<Enter>",
            clock.at(1)
        )
        .is_empty()
    );
    assert!(state.dialog.is_none());
    let effects = press(&mut state, "r<Tab><Enter>empty<Tab><Enter>", clock.at(1));
    match runs(&effects)[..] {
        [
            ActionKind::Recover {
                allow_empty, user, ..
            },
        ] => {
            assert!(*allow_empty);
            assert_eq!(user.as_str(), "user_erin");
        }
        ref other => panic!("expected one recover, got {other:?}"),
    }
}

#[test]
fn a_second_action_on_a_machine_with_one_in_flight_is_refused() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "dave", "primary", clock.at(1));
    assert_eq!(
        runs(&press(&mut state, "r<Tab><Enter>", clock.at(1))).len(),
        1
    );
    let effects = press(&mut state, "r", clock.at(2));
    assert!(effects.is_empty(), "{effects:?}");
    assert!(state.dialog.is_none());
    let effects = press(&mut state, "d", clock.at(2));
    assert!(runs(&effects).is_empty(), "{effects:?}");
    assert!(state.dialog.is_none());
    let text = screen(&state, 200, 50, clock.at(2));
    assert!(text.contains(s::REFUSED_IN_FLIGHT), "{text}");
    // Another machine is not blocked.
    select(&mut state, "bob", "primary", clock.at(2));
    assert_eq!(
        runs(&press(&mut state, "r<Tab><Enter>", clock.at(2))).len(),
        1
    );
}

#[test]
fn recover_is_refused_while_the_platform_reports_a_recovery_in_flight() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "frank", "primary", clock.at(1));
    assert!(press(&mut state, "r", clock.at(1)).is_empty());
    assert!(state.dialog.is_none());
    assert!(screen(&state, 200, 50, clock.at(1)).contains(s::REFUSED_PLATFORM_BUSY));
    // Deleting mid-recovery is allowed by the platform, so the dialog opens.
    press(&mut state, "d", clock.at(1));
    assert!(state.dialog.is_some());
}

#[test]
fn the_outcome_clears_the_in_flight_marker_and_asks_for_a_refresh() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "dave", "primary", clock.at(1));
    let effects = press(&mut state, "r<Tab><Enter>", clock.at(1));
    let Effect::Run(request) = &effects[0] else {
        panic!("{effects:?}")
    };
    let ActionKind::Recover {
        machine_id, slot, ..
    } = &request.kind
    else {
        panic!()
    };
    let effects = update(
        &mut state,
        Msg::ActionDone {
            id: request.id,
            outcome: Ok(ActionSuccess::Recovered(RecoverResponse {
                old_machine_id: *machine_id,
                machine_id: fixture::machine_id(99),
                runtime_slot: slot.clone(),
                status: MachineStatus::Recovering,
                eta_seconds: 90,
            })),
        },
        clock.at(2),
    );
    assert_eq!(effects, vec![Effect::RefreshNow]);
    assert!(state.in_flight.is_empty());
    let text = screen(&state, 200, 50, clock.at(2));
    assert!(text.contains(s::DONE_RECOVER), "{text}");
    assert!(!text.contains(s::PENDING_RECOVERING_LOCAL), "{text}");
    // A failure is reported too, with the platform's message.
    select(&mut state, "bob", "primary", clock.at(3));
    let effects = press(&mut state, "dbob<Tab><Enter>", clock.at(3));
    let Effect::Run(request) = &effects[0] else {
        panic!("{effects:?}")
    };
    update(
        &mut state,
        Msg::ActionDone {
            id: request.id,
            outcome: Err(ActionFailure::Client(
                matrix_console::client::ClientError::Conflict(
                    "Another operation is in progress for this machine".into(),
                ),
            )),
        },
        clock.at(4),
    );
    let text = screen(&state, 200, 50, clock.at(4));
    assert!(text.contains("Another operation is in progress"), "{text}");
    // And a successful delete names the machine.
    select(&mut state, "ivan", "primary", clock.at(5));
    let effects = press(&mut state, "divan<Tab><Enter>", clock.at(5));
    let Effect::Run(request) = &effects[0] else {
        panic!("{effects:?}")
    };
    let effects = update(
        &mut state,
        Msg::ActionDone {
            id: request.id,
            outcome: Ok(ActionSuccess::Deleted(DeleteResponse {
                deleted: true,
                machine_id: request.kind.machine_id(),
                status: MachineStatus::Deleted,
            })),
        },
        clock.at(6),
    );
    assert_eq!(effects, vec![Effect::RefreshNow]);
    let text = screen(&state, 200, 50, clock.at(6));
    assert!(
        text.contains(&format!("{} ivan (user_ivan/primary)", s::DONE_DELETE)),
        "{text}"
    );
    assert!(!text.contains(s::PENDING_DELETING_LOCAL), "{text}");
}

#[test]
fn the_selection_follows_the_machine_when_a_refresh_reorders_rows() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "s", clock.at(1)); // sort by user
    select(&mut state, "ivan", "primary", clock.at(1));
    let ivan = state.selected_row().unwrap().machine.machine_id;
    let before = state.cursor;
    // A refresh where a new user sorts before ivan and bob's row is gone.
    let now = fixture::generated_at();
    let mut specs = fixture::small_specs();
    specs.retain(|s| s.handle != "bob");
    specs.push(Spec::running(40, "aaron", "user_aaron"));
    specs.push(Spec::running(41, "abby", "user_abby"));
    let fleet = fixture::response(specs.iter().map(|s| s.build(now)).collect());
    update(
        &mut state,
        Msg::FleetLoaded(Box::new(FleetSnapshot::new(fleet, clock.at(5)))),
        clock.at(5),
    );
    assert_eq!(state.selected_row().unwrap().machine.machine_id, ivan);
    assert_eq!(state.cursor, before + 1, "two rows before it, one gone");
    // And across a filter and a sort.
    press(&mut state, "/ivan<Enter>", clock.at(5));
    assert_eq!(state.selected_row().unwrap().machine.machine_id, ivan);
    press(&mut state, "c", clock.at(5));
    press(&mut state, "so", clock.at(5));
    assert_eq!(state.selected_row().unwrap().machine.machine_id, ivan);
}

#[test]
fn when_the_selected_machine_disappears_the_index_is_kept_clamped() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "G", clock.at(1));
    let last = state.cursor;
    let now = fixture::generated_at();
    let mut specs = fixture::small_specs();
    let gone = state.selected_row().unwrap().machine.handle.to_string();
    specs.retain(|s| s.handle != gone);
    let fleet = fixture::response(specs.iter().map(|s| s.build(now)).collect());
    update(
        &mut state,
        Msg::FleetLoaded(Box::new(FleetSnapshot::new(fleet, clock.at(5)))),
        clock.at(5),
    );
    assert_eq!(state.cursor, last - 1);
    assert!(state.selected_row().is_some());
}

#[test]
fn a_bad_filter_keeps_the_previous_one() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "/status:failed<Enter>", clock.at(1));
    assert_eq!(state.view.len(), 2);
    press(&mut state, "/<C-c>", clock.at(1));
    // Ctrl-C quits from anywhere, even while typing.
    assert!(state.quitting);
    let mut state = small(clock);
    press(&mut state, "/status:failed<Enter>", clock.at(1));
    press(&mut state, "/ hb>5q<Enter>", clock.at(1));
    assert_eq!(state.filter.to_string(), "status:failed");
    assert_eq!(state.view.len(), 2);
    assert!(state.filter_bar.as_ref().unwrap().error.is_some());
    press(&mut state, "<Esc>", clock.at(1));
    assert!(state.filter_bar.is_none());
    assert_eq!(state.view.len(), 2);
}

#[test]
fn keys_typed_into_the_filter_do_not_trigger_actions() {
    let clock = Clock::new();
    let mut state = small(clock);
    let effects = press(&mut state, "/rdq", clock.at(1));
    assert!(effects.is_empty());
    assert!(!state.quitting);
    assert!(state.dialog.is_none());
    assert_eq!(state.filter_bar.as_ref().unwrap().input.value(), "rdq");
}

#[test]
fn a_failed_refresh_keeps_the_table_and_the_next_success_clears_the_banner() {
    let clock = Clock::new();
    let mut state = small(clock);
    let rows = state.view.len();
    update(
        &mut state,
        Msg::FleetFailed {
            error: matrix_console::client::ClientError::Unreachable,
            attempt: 1,
            retry_in: std::time::Duration::from_secs(1),
        },
        clock.at(10),
    );
    assert_eq!(state.view.len(), rows);
    let text = screen(&state, 80, 24, clock.at(10));
    assert!(text.contains(s::CONN_UNREACHABLE), "{text}");
    assert!(text.contains("alice"), "{text}");
    update(
        &mut state,
        Msg::FleetLoaded(Box::new(FleetSnapshot::new(fixture::small(), clock.at(12)))),
        clock.at(12),
    );
    let text = screen(&state, 80, 24, clock.at(12));
    assert!(!text.contains(s::CONN_UNREACHABLE), "{text}");
    assert!(text.contains(s::CONN_LIVE), "{text}");
}

#[test]
fn enter_opens_inspect_with_a_load_effect_and_esc_goes_back() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "bob", "primary", clock.at(1));
    let effects = press(&mut state, "<Enter>", clock.at(1));
    assert!(
        matches!(&effects[..], [Effect::LoadInspect { user, .. }] if user.as_str() == "user_bob")
    );
    assert!(matches!(state.screen, Screen::Inspect(_)));
    // Actions work from the inspect view too.
    let effects = press(&mut state, "r<Tab><Enter>", clock.at(1));
    assert_eq!(runs(&effects).len(), 1);
    press(&mut state, "<Esc>", clock.at(1));
    assert!(matches!(state.screen, Screen::Fleet));
}

#[test]
fn the_help_lists_every_binding_of_the_registry_and_the_log_file() {
    let clock = Clock::new();
    let state = small(clock);
    let theme = matrix_console::tui::view::theme::Theme::new(false);
    let (keys, reference) = matrix_console::tui::view::pager::help_lines(&state, &theme);
    let text: String = keys
        .iter()
        .chain(&reference)
        .map(|l| l.to_string() + "\n")
        .collect();
    for b in matrix_console::tui::keys::BINDINGS {
        assert!(text.contains(b.help), "{:?} missing from help", b.action);
        for k in b.keys {
            assert!(text.contains(&k.label()), "{} missing from help", k.label());
        }
    }
    assert!(text.contains(crate::support::LOG_FILE));
    assert!(text.contains("hb>5m"));
}

#[test]
fn transient_messages_expire_on_a_tick_but_stay_in_the_messages_screen() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "r<Esc>", clock.at(1));
    assert!(screen(&state, 80, 24, clock.at(2)).contains(s::CANCELLED));
    update(&mut state, Msg::Tick, clock.at(30));
    assert!(state.toast.is_none());
    assert!(!screen(&state, 80, 24, clock.at(30)).contains(s::CANCELLED));
    press(&mut state, "m", clock.at(30));
    assert!(screen(&state, 80, 24, clock.at(30)).contains(s::CANCELLED));
}

#[test]
fn paging_keeps_the_cursor_on_screen_after_a_resize() {
    let clock = Clock::new();
    let mut state = loaded(fixture::large(500), clock, false, 24);
    assert_eq!(state.viewport_rows, 17);
    press(&mut state, "<Down><Down>", clock.at(1));
    assert_eq!(state.cursor, 2);
    for _ in 0..3 {
        update(
            &mut state,
            Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::PageDown,
                crossterm::event::KeyModifiers::NONE,
            )),
            clock.at(1),
        );
    }
    assert_eq!(state.cursor, 2 + 3 * 17);
    assert!(state.cursor >= state.offset && state.cursor < state.offset + 17);
    // A smaller terminal: the cursor is still visible, on the rendered screen too.
    update(
        &mut state,
        Msg::Resize {
            width: 80,
            height: 12,
        },
        clock.at(1),
    );
    assert!(state.cursor < state.offset + state.viewport_rows);
    let handle = state.selected_row().unwrap().machine.handle.to_string();
    let text = screen(&state, 80, 12, clock.at(1));
    assert!(text.contains(&format!("▶ {handle}")), "{text}");
    press(&mut state, "G", clock.at(1));
    assert_eq!(state.cursor, 499);
    press(&mut state, "g", clock.at(1));
    assert_eq!((state.cursor, state.offset), (0, 0));
}

#[test]
fn answers_for_an_inspect_view_already_left_are_ignored() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "alice", "primary", clock.at(1));
    press(&mut state, "<Enter>", clock.at(1));
    let alice = state.selected_row().unwrap().machine.clone();
    press(&mut state, "<Esc>j<Enter>", clock.at(1));
    update(
        &mut state,
        Msg::Inspect {
            machine_id: alice.machine_id,
            part: matrix_console::tui::state::InspectPart::Status(Ok(Box::new(alice.clone()))),
        },
        clock.at(2),
    );
    let Screen::Inspect(view) = &state.screen else {
        panic!("inspect view expected")
    };
    assert_eq!(view.target.slot.as_str(), "staging");
    let matrix_console::tui::state::Loadable::Loaded(m) = &view.status else {
        panic!()
    };
    assert_eq!(m.runtime_slot.as_str(), "staging");
}

#[test]
fn key_releases_are_ignored() {
    let clock = Clock::new();
    let mut state = small(clock);
    let mut release = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('q'),
        crossterm::event::KeyModifiers::NONE,
    );
    release.kind = crossterm::event::KeyEventKind::Release;
    assert!(update(&mut state, Msg::Key(release), clock.at(1)).is_empty());
    assert!(!state.quitting);
    assert_eq!(press(&mut state, "q", clock.at(1)), vec![Effect::Quit]);
}

#[test]
fn an_unverified_backup_gets_a_normal_recover_and_a_no_backup_409_offers_allow_empty() {
    let clock = Clock::new();
    let mut state = small(clock);
    // mallory: no key, freshness unknown, never checked by the platform.
    select(&mut state, "mallory", "primary", clock.at(1));
    press(&mut state, "r", clock.at(1));
    let text = screen(&state, 200, 50, clock.at(1));
    assert!(text.contains(s::WARN_UNVERIFIED_BACKUP), "{text}");
    assert!(!text.contains(s::WARN_NO_BACKUP), "{text}");
    let effects = press(&mut state, "<Tab><Enter>", clock.at(1));
    let (id, allow_empty) = match &effects[..] {
        [Effect::Run(r)] => match &r.kind {
            ActionKind::Recover { allow_empty, .. } => (r.id, *allow_empty),
            other => panic!("{other:?}"),
        },
        other => panic!("expected one recover, got {other:?}"),
    };
    assert!(!allow_empty, "an unverified backup is not a missing one");
    // The platform checks and finds nothing.
    update(
        &mut state,
        Msg::ActionDone {
            id,
            outcome: Err(ActionFailure::Client(
                matrix_console::client::ClientError::Conflict(
                    "No backup snapshot available".into(),
                ),
            )),
        },
        clock.at(2),
    );
    let text = screen(&state, 200, 50, clock.at(2));
    assert!(text.contains(s::NO_BACKUP_OFFER_EMPTY), "{text}");
    // r again: step one leads to the typed `empty` step, then allowEmpty.
    assert!(press(&mut state, "r<Tab><Enter>", clock.at(3)).is_empty());
    let effects = press(&mut state, "empty<Tab><Enter>", clock.at(3));
    match runs(&effects)[..] {
        [ActionKind::Recover { allow_empty, .. }] => assert!(*allow_empty),
        ref other => panic!("expected one allowEmpty recover, got {other:?}"),
    }
}

#[test]
fn a_checked_backup_with_no_key_or_a_broken_pointer_counts_as_none() {
    use control_plane::health::BackupFreshness;
    use matrix_console::tui::fleet::machine_has_no_backup;
    let now = fixture::generated_at();
    let mut m = Spec::running(1, "alice", "user_alice").build(now);
    assert!(!machine_has_no_backup(&m));
    for p in [
        "missing_pointer",
        "invalid_pointer",
        "missing_object",
        "empty_object",
    ] {
        m.backup.problem = Some(p.into());
        assert!(machine_has_no_backup(&m), "{p}");
    }
    m.backup.problem = None;
    m.backup.key = None;
    m.backup.freshness = BackupFreshness::Unknown;
    m.backup.checked_at = None;
    assert!(
        !machine_has_no_backup(&m),
        "never checked: unverified, not missing"
    );
    m.backup.checked_at = Some(now);
    assert!(machine_has_no_backup(&m), "checked and found nothing");
}

#[test]
fn an_accepted_action_keeps_the_machine_locked_until_a_later_refresh_shows_it() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "dave", "primary", clock.at(1));
    let effects = press(&mut state, "r<Tab><Enter>", clock.at(1));
    let Effect::Run(request) = &effects[0] else {
        panic!("{effects:?}")
    };
    let ActionKind::Recover {
        machine_id, slot, ..
    } = request.kind.clone()
    else {
        panic!()
    };
    update(
        &mut state,
        Msg::ActionDone {
            id: request.id,
            outcome: Ok(ActionSuccess::Recovered(RecoverResponse {
                old_machine_id: machine_id,
                machine_id: fixture::machine_id(99),
                runtime_slot: slot,
                status: MachineStatus::Recovering,
                eta_seconds: 90,
            })),
        },
        clock.at(2),
    );
    assert!(state.in_flight.is_empty());
    // The HTTP call returned; no refresh shows it pending yet: a second action is refused.
    let refused = |state: &mut matrix_console::tui::state::State, at| {
        assert!(press(state, "r", clock.at(at)).is_empty());
        assert!(state.dialog.is_none(), "recover slipped through at {at}s");
        assert!(runs(&press(state, "d", clock.at(at))).is_empty());
        assert!(state.dialog.is_none(), "delete slipped through at {at}s");
        let text = screen(state, 200, 50, clock.at(at));
        assert!(text.contains(s::REFUSED_IN_FLIGHT), "{text}");
    };
    refused(&mut state, 3);
    // A refresh that still shows the old row, not pending: still locked.
    update(
        &mut state,
        Msg::FleetLoaded(Box::new(FleetSnapshot::new(fixture::small(), clock.at(4)))),
        clock.at(4),
    );
    select(&mut state, "dave", "primary", clock.at(4));
    refused(&mut state, 4);
    // The refresh showing the replacement (new id, pending) releases the console's own lock.
    let now = fixture::generated_at();
    let mut machines: Vec<_> = fixture::small_specs()
        .iter()
        .map(|s| s.build(now))
        .collect();
    let dave = machines
        .iter_mut()
        .find(|m| m.handle.as_str() == "dave")
        .unwrap();
    dave.machine_id = fixture::machine_id(99);
    dave.status = MachineStatus::Recovering;
    dave.pending_action = Some("recovering".into());
    update(
        &mut state,
        Msg::FleetLoaded(Box::new(FleetSnapshot::new(
            fixture::response(machines),
            clock.at(5),
        ))),
        clock.at(5),
    );
    assert!(state.settling.is_empty(), "{:?}", state.settling);

    // Without any refresh, the lock lasts a bounded time.
    select(&mut state, "bob", "primary", clock.at(6));
    let effects = press(&mut state, "dbob<Tab><Enter>", clock.at(6));
    let Effect::Run(request) = &effects[0] else {
        panic!("{effects:?}")
    };
    update(
        &mut state,
        Msg::ActionDone {
            id: request.id,
            outcome: Ok(ActionSuccess::Deleted(DeleteResponse {
                deleted: true,
                machine_id: request.kind.machine_id(),
                status: MachineStatus::Deleted,
            })),
        },
        clock.at(7),
    );
    refused(&mut state, 8);
    update(&mut state, Msg::Tick, clock.at(7 + 31));
    press(&mut state, "r", clock.at(7 + 31));
    assert!(state.dialog.is_some(), "the lock expires");
}

#[test]
fn after_end_one_up_scrolls_up_at_once_in_the_pager() {
    use matrix_console::tui::state::Level;
    let clock = Clock::new();
    let mut state = small(clock);
    for i in 0..100 {
        state.push_log(clock.at(1), Level::Info, format!("message number {i:03}"));
    }
    press(&mut state, "m", clock.at(1));
    screen(&state, 80, 24, clock.at(1));
    press(&mut state, "G", clock.at(1));
    let bottom = screen(&state, 80, 24, clock.at(1));
    let max = state.scroll_max.get().expect("drawn");
    assert_eq!(
        state.pager.unwrap().scroll,
        max,
        "End stops at the last page"
    );
    press(&mut state, "<Up>", clock.at(1));
    assert_eq!(state.pager.unwrap().scroll, max - 1);
    let up = screen(&state, 80, 24, clock.at(1));
    assert_ne!(bottom, up, "Up after End moves the text");
    // Down past the end stays at the end.
    press(&mut state, "<Down><Down><Down>", clock.at(1));
    assert_eq!(state.pager.unwrap().scroll, max);
}

#[test]
fn the_inspect_events_scroll_on_a_wide_layout_and_up_works_after_end() {
    use chrono::Duration as ChronoDuration;
    use control_plane::api::types::{EventView, EventsResponse};
    use matrix_console::tui::state::InspectPart;
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "alice", "primary", clock.at(1));
    press(&mut state, "<Enter>", clock.at(1));
    let machine = state.selected_row().unwrap().machine.clone();
    let at = fixture::generated_at();
    let events = EventsResponse {
        machine_id: machine.machine_id,
        events: (0..120)
            .map(|i| EventView {
                id: i,
                at: at - ChronoDuration::minutes(200 - i),
                machine_id: machine.machine_id,
                clerk_user_id: machine.clerk_user_id.to_string(),
                runtime_slot: "primary".into(),
                kind: format!("kind{i:03}"),
                from: None,
                to: Some("running".into()),
                actor: "api".into(),
                reason: None,
                related_machine_id: None,
            })
            .collect(),
    };
    update(
        &mut state,
        Msg::Inspect {
            machine_id: machine.machine_id,
            part: InspectPart::Events(Ok(events)),
        },
        clock.at(1),
    );
    let top = screen(&state, 200, 50, clock.at(1));
    press(&mut state, "G", clock.at(1));
    let bottom = screen(&state, 200, 50, clock.at(1));
    assert_ne!(top, bottom, "the events panel scrolls on a wide layout");
    let scroll = |state: &matrix_console::tui::state::State| match &state.screen {
        Screen::Inspect(v) => v.scroll,
        _ => panic!(),
    };
    let max = state.scroll_max.get().expect("drawn");
    assert_eq!(scroll(&state), max);
    press(&mut state, "<Up>", clock.at(1));
    assert_eq!(scroll(&state), max - 1);
    assert_ne!(screen(&state, 200, 50, clock.at(1)), bottom);
}

#[test]
fn a_machine_filtered_out_is_selected_again_when_the_filter_is_cleared() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "ivan", "primary", clock.at(1));
    let ivan = state.selected_row().unwrap().machine.machine_id;
    press(&mut state, "/alice<Enter>", clock.at(1));
    assert!(
        state
            .view
            .iter()
            .all(|&i| state.rows()[i as usize].machine.machine_id != ivan)
    );
    // A refresh while filtered does not move the pin either.
    update(
        &mut state,
        Msg::FleetLoaded(Box::new(FleetSnapshot::new(fixture::small(), clock.at(2)))),
        clock.at(2),
    );
    press(&mut state, "c", clock.at(2));
    assert_eq!(state.selected_row().unwrap().machine.machine_id, ivan);
    // Navigating while filtered does move it.
    press(&mut state, "/alice<Enter>j", clock.at(3));
    let chosen = state.selected_row().unwrap().machine.machine_id;
    press(&mut state, "c", clock.at(3));
    assert_eq!(state.selected_row().unwrap().machine.machine_id, chosen);
}

#[test]
fn quitting_with_an_action_in_flight_asks_for_a_second_q() {
    let clock = Clock::new();
    let mut state = small(clock);
    select(&mut state, "dave", "primary", clock.at(1));
    assert_eq!(
        runs(&press(&mut state, "r<Tab><Enter>", clock.at(1))).len(),
        1
    );
    assert!(press(&mut state, "q", clock.at(2)).is_empty());
    assert!(!state.quitting);
    let text = screen(&state, 200, 50, clock.at(2));
    assert!(text.contains(s::QUIT_IN_FLIGHT), "{text}");
    // Another key disarms it; then q asks again, and q again quits.
    press(&mut state, "j", clock.at(2));
    assert!(press(&mut state, "q", clock.at(3)).is_empty());
    assert_eq!(press(&mut state, "q", clock.at(3)), vec![Effect::Quit]);
    assert!(state.quitting);
    // With nothing in flight, q quits at once.
    let mut state = small(clock);
    assert_eq!(press(&mut state, "q", clock.at(1)), vec![Effect::Quit]);
}

#[test]
fn a_long_filter_of_wide_characters_scrolls_by_display_width() {
    let clock = Clock::new();
    let mut state = small(clock);
    let typed: String = std::iter::repeat_n('日', 60).collect();
    press(&mut state, &format!("/{typed}"), clock.at(1));
    let text = screen(&state, 80, 24, clock.at(1));
    let footer = text.lines().last().unwrap();
    // 80 columns: "/ ", then 77 columns of text before the cursor: 38 wide characters.
    let shown = footer.matches('日').count();
    assert!((37..=39).contains(&shown), "{shown} shown: {footer}");
}
