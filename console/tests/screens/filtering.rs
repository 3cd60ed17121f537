//! The filter language and faults-only on the fixture fleet.

use matrix_console::tui::filter::Filter;
use matrix_console::tui::state::{Msg, update};

use crate::support::{Clock, press, small};

fn handles(filter: &str, faults_only: bool) -> Vec<String> {
    let clock = Clock::new();
    let mut state = small(clock);
    state.filter = Filter::parse(filter).unwrap();
    state.faults_only = faults_only;
    state.recompute_view(clock.at(0));
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
fn older_than_matches_machines_never_heard_from_and_younger_than_does_not() {
    assert_eq!(
        handles("hb>40m", false),
        [
            "carol/primary",
            "dave/primary",
            "erin/primary",
            "grace/primary",
            "mallory/primary"
        ]
    );
    assert_eq!(handles("hb<10s", false), ["heidi/primary"]);
    assert_eq!(
        handles("backup>6h", false),
        [
            "erin/primary",
            "grace/primary",
            "heidi/primary",
            "mallory/primary"
        ]
    );
}

#[test]
fn ages_move_with_the_clock() {
    let clock = Clock::new();
    let mut state = small(clock);
    press(&mut state, "/hb<1m<Enter>", clock.at(0));
    assert_eq!(state.view.len(), 4, "heidi 3s, alice, ivan, judy 42s");
    // 30 s later only heidi is younger than a minute; a tick re-applies the filter.
    let effects = update(&mut state, Msg::Tick, clock.at(30));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(state.view.len(), 1);
}

#[test]
fn terms_are_and_ed_and_any_term_can_be_negated() {
    assert_eq!(handles("alice !slot:primary", false), ["alice/staging"]);
    assert_eq!(
        handles("status:failed,recovering", false),
        ["dave/primary", "erin/primary", "frank/primary"]
    );
    assert_eq!(
        handles("!status:running !status:failed", false),
        ["frank/primary", "grace/primary"]
    );
    assert_eq!(
        handles("hb:late,unreachable", false),
        ["bob/primary", "carol/primary", "mallory/primary"]
    );
    assert_eq!(
        handles("backup:critical", false),
        ["erin/primary", "heidi/primary"]
    );
}

#[test]
fn free_text_searches_handle_user_machine_id_and_ip() {
    assert_eq!(handles("9.9.9", false), ["ivan/primary"]);
    assert_eq!(handles("USER_JUDY", false), ["judy/primary"]);
    assert_eq!(handles("-00000000000c", false), ["mallory/primary"]);
}

#[test]
fn faults_only_is_failed_recovering_late_or_stale() {
    assert_eq!(
        handles("", true),
        [
            "bob/primary",
            "carol/primary",
            "dave/primary",
            "erin/primary",
            "frank/primary",
            "heidi/primary",
            "mallory/primary",
        ]
    );
    // Faults-only combines with the filter.
    assert_eq!(
        handles("status:failed", true),
        ["dave/primary", "erin/primary"]
    );
}

mod properties {
    use matrix_console::tui::filter::Filter;
    use matrix_console::tui::fixture;
    use matrix_console::tui::fleet::FleetSnapshot;
    use proptest::prelude::*;

    const TERMS: [&str; 14] = [
        "alice",
        "user_",
        "9.9",
        "95.217.10.1",
        "status:failed",
        "status:running,recovering",
        "slot:staging",
        "hb:late,unreachable",
        "backup:critical",
        "hb>5m",
        "hb<1m",
        "backup>2h",
        "backup<45m",
        "-00000000000",
    ];

    proptest! {
        #[test]
        fn terms_combine_as_and_and_negation_is_the_complement(
            picks in proptest::collection::vec((0..TERMS.len(), any::<bool>()), 0..5),
            secs in 0i64..7200,
        ) {
            let snap = FleetSnapshot::new(fixture::small(), std::time::Instant::now());
            let now_ms = fixture::generated_at().timestamp_millis() + secs * 1000;
            let terms: Vec<String> = picks
                .iter()
                .map(|(i, neg)| format!("{}{}", if *neg { "!" } else { "" }, TERMS[*i]))
                .collect();
            let whole = Filter::parse(&terms.join(" ")).unwrap();
            for row in &snap.rows {
                let each = terms.iter().all(|t| Filter::parse(t).unwrap().matches(row, now_ms));
                prop_assert_eq!(whole.matches(row, now_ms), each);
                for t in &terms {
                    let plain = t.trim_start_matches('!');
                    let positive = Filter::parse(plain).unwrap().matches(row, now_ms);
                    let negative = Filter::parse(&format!("!{plain}")).unwrap().matches(row, now_ms);
                    prop_assert_eq!(positive, !negative);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn the_fast_path_selects_exactly_what_the_reference_matcher_accepts(
            picks in proptest::collection::vec((0..TERMS.len(), any::<bool>()), 0..4),
            secs in 0i64..7200,
            faults_only in any::<bool>(),
            large in any::<bool>(),
        ) {
            let fleet = if large { fixture::large(3000) } else { fixture::small() };
            let snap = FleetSnapshot::new(fleet, std::time::Instant::now());
            let now_ms = fixture::generated_at().timestamp_millis() + secs * 1000;
            let text = picks
                .iter()
                .map(|(i, neg)| format!("{}{}", if *neg { "!" } else { "" }, TERMS[*i]))
                .collect::<Vec<_>>()
                .join(" ");
            let filter = Filter::parse(&text).unwrap();
            let fast = filter.select(&snap, snap.by_rank.iter().copied(), faults_only, now_ms);
            let reference: Vec<u32> = snap
                .by_rank
                .iter()
                .copied()
                .filter(|&i| {
                    let row = &snap.rows[i as usize];
                    (!faults_only || row.fault) && filter.matches(row, now_ms)
                })
                .collect();
            prop_assert_eq!(fast, reference);
        }
    }
}
