//! Sorting on raw values with a stable tie-break, through the state (as the keys do it).

use matrix_console::tui::sort::{Column, SortSpec};
use matrix_console::tui::state::State;

use crate::support::{Clock, small};

fn sorted(state: &mut State, column: Column, descending: bool) -> Vec<String> {
    state.sort = SortSpec { column, descending };
    state.recompute_view(Clock::new().at(0));
    state
        .view
        .iter()
        .map(|&i| {
            let m = &state.rows()[i as usize].machine;
            format!("{}/{}", m.handle, m.runtime_slot)
        })
        .collect()
}

#[test]
fn heartbeat_ages_sort_as_durations_with_never_seen_last_both_ways() {
    let clock = Clock::new();
    let mut state = small(clock);
    let asc = sorted(&mut state, Column::Heartbeat, false);
    // 3s, 42s ×4 (tie-break by handle), 95s, 11m05s, 30m, 47m, 2h, then never (erin, grace, mallory).
    assert_eq!(
        asc,
        [
            "heidi/primary",
            "alice/primary",
            "ivan/primary",
            "judy/primary",
            "alice/staging",
            "bob/primary",
            "frank/primary",
            "carol/primary",
            "dave/primary",
            "erin/primary",
            "grace/primary",
            "mallory/primary",
        ]
    );
    let desc = sorted(&mut state, Column::Heartbeat, true);
    assert_eq!(
        desc,
        [
            "dave/primary",
            "carol/primary",
            "frank/primary",
            "bob/primary",
            "alice/staging",
            // Equal ages keep the ascending (handle, slot, id) tie-break in both directions.
            "alice/primary",
            "ivan/primary",
            "judy/primary",
            "heidi/primary",
            "erin/primary",
            "grace/primary",
            "mallory/primary",
        ]
    );
}

#[test]
fn ips_sort_numerically_not_as_text() {
    let clock = Clock::new();
    let mut state = small(clock);
    let asc = sorted(&mut state, Column::Ip, false);
    assert_eq!(asc[0], "ivan/primary", "9.9.9.9 first");
    let judy = asc.iter().position(|h| h == "judy/primary").unwrap();
    assert_eq!(
        judy,
        asc.len() - 3,
        "100.200.1.1 after every 95.x, before no-IP rows"
    );
    assert_eq!(&asc[asc.len() - 2..], ["erin/primary", "grace/primary"]);
}

#[test]
fn backup_ages_sort_as_durations() {
    let clock = Clock::new();
    let mut state = small(clock);
    let asc = sorted(&mut state, Column::Backup, false);
    assert_eq!(
        asc,
        [
            "alice/primary",
            "ivan/primary",
            "judy/primary",
            "frank/primary",
            "alice/staging",
            "bob/primary",
            "dave/primary",
            "carol/primary",
            "heidi/primary",
            "erin/primary",
            "grace/primary",
            "mallory/primary",
        ]
    );
}

#[test]
fn status_sorts_by_severity_and_failure_codes_put_none_last() {
    let clock = Clock::new();
    let mut state = small(clock);
    let asc = sorted(&mut state, Column::Status, false);
    assert_eq!(&asc[..3], ["dave/primary", "erin/primary", "frank/primary"]);
    assert_eq!(asc[3], "grace/primary");
    let failures = sorted(&mut state, Column::Failure, true);
    assert_eq!(
        &failures[..2],
        ["dave/primary", "erin/primary"],
        "registration_timeout > quota_exceeded"
    );
    let failures = sorted(&mut state, Column::Failure, false);
    assert_eq!(&failures[..2], ["erin/primary", "dave/primary"]);
}

#[test]
fn the_handle_sort_reverses_exactly() {
    let clock = Clock::new();
    let mut state = small(clock);
    let mut asc = sorted(&mut state, Column::Handle, false);
    let desc = sorted(&mut state, Column::Handle, true);
    asc.reverse();
    assert_eq!(asc, desc);
}
