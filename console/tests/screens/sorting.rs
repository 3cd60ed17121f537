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
fn a_descending_handle_sort_keeps_the_slots_of_one_handle_ascending() {
    let clock = Clock::new();
    let mut state = small(clock);
    let asc = sorted(&mut state, Column::Handle, false);
    let desc = sorted(&mut state, Column::Handle, true);
    assert_eq!(&asc[..2], ["alice/primary", "alice/staging"]);
    assert_eq!(&desc[desc.len() - 2..], ["alice/primary", "alice/staging"]);
    assert_eq!(desc[0], "mallory/primary");
}

mod properties {
    use std::cmp::Ordering;

    use control_plane::ids::{ClerkUserId, Handle, PublicIpv4, RuntimeSlot};
    use control_plane::status::MachineStatus;
    use matrix_console::tui::fixture::{self, Spec};
    use matrix_console::tui::fleet::{FleetRow, FleetSnapshot};
    use matrix_console::tui::sort::{Column, SortSpec, sort_indices, status_rank};
    use proptest::prelude::*;

    /// A row's raw value for a column, as the operator means it (ages as durations).
    fn raw(row: &FleetRow, column: Column) -> Option<(i64, String)> {
        let m = &row.machine;
        match column {
            Column::Handle => Some((0, m.handle.to_string())),
            Column::User => Some((0, m.clerk_user_id.to_string())),
            Column::Slot => Some((0, m.runtime_slot.to_string())),
            Column::Status => Some((i64::from(status_rank(m.status)), String::new())),
            Column::Heartbeat => row.hb_at.map(|t| (-t, String::new())),
            Column::Backup => row.backup_at.map(|t| (-t, String::new())),
            Column::Image => Some((0, m.image_version.to_string())),
            Column::Ip => m
                .public_ipv4
                .map(|ip| (i64::from(u32::from(ip.addr())), String::new())),
            Column::Failure => m.failure_code.map(|c| (0, c.as_str().to_owned())),
            Column::Pending => m.pending_action.clone().map(|p| (0, p)),
        }
    }

    fn expected(a: &FleetRow, b: &FleetRow, spec: SortSpec) -> Ordering {
        let primary = match (raw(a, spec.column), raw(b, spec.column)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) if spec.descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
        };
        let tie = |r: &FleetRow| {
            (
                r.machine.handle.to_string(),
                r.machine.runtime_slot.to_string(),
                r.machine.machine_id,
            )
        };
        primary.then_with(|| tie(a).cmp(&tie(b)))
    }

    fn pending(r: &FleetRow) -> Option<&str> {
        r.machine.pending_action.as_deref()
    }

    fn machine() -> impl Strategy<Value = (u8, u8, Option<i64>, Option<i64>, Option<u8>, u8, u8)> {
        (
            0u8..6,
            0u8..2,
            proptest::option::of(0i64..4000),
            proptest::option::of(0i64..40_000),
            proptest::option::of(1u8..4),
            0u8..5,
            0u8..3,
        )
    }

    proptest! {
        #[test]
        fn every_column_sorts_by_raw_value_with_none_last_and_a_total_tie_break(
            specs in proptest::collection::vec(machine(), 0..40),
            column in proptest::sample::select(Column::ALL.to_vec()),
            descending in any::<bool>(),
            shuffle_seed in any::<u64>(),
        ) {
            let now = fixture::generated_at();
            let machines = specs
                .iter()
                .enumerate()
                .map(|(n, (h, slot, hb, backup, ip, status, pending))| {
                    let mut m = Spec {
                        hb_age: *hb,
                        backup_age: *backup,
                        ..Spec::running(n as u128 + 1, "placeholder", "user_placeholder")
                    }
                    .build(now);
                    m.handle = Handle::parse(&format!("h{h}")).unwrap();
                    m.clerk_user_id = ClerkUserId::parse(&format!("user_{}", h % 3)).unwrap();
                    m.runtime_slot = RuntimeSlot::parse(["primary", "staging"][*slot as usize]).unwrap();
                    m.public_ipv4 = ip.map(|o| PublicIpv4::parse(&format!("{}.1.1.1", o * 40)).unwrap());
                    m.status = MachineStatus::ALL[*status as usize];
                    m.pending_action = [None, Some("recovering"), Some("creating_server")][*pending as usize]
                        .map(str::to_owned);
                    m
                })
                .collect();
            let snap = FleetSnapshot::new(fixture::response(machines), std::time::Instant::now());
            let spec = SortSpec { column, descending };
            let mut indices: Vec<u32> = (0..snap.rows.len() as u32).collect();
            // Input order must not matter.
            let n = indices.len().max(1);
            indices.rotate_left((shuffle_seed as usize) % n);
            if shuffle_seed % 2 == 1 { indices.reverse(); }
            sort_indices(&mut indices, &snap.rows, spec, &pending);
            let mut reference: Vec<u32> = (0..snap.rows.len() as u32).collect();
            reference.sort_by(|&a, &b| expected(&snap.rows[a as usize], &snap.rows[b as usize], spec));
            prop_assert_eq!(indices, reference);
        }
    }
}
