//! Sorting the fleet table on raw values: ages as durations, IPs as numbers, statuses by severity,
//! never the rendered text. Machines without a value (never heard from, no IP) come last in both
//! directions, and ties always fall back to (handle, slot, machine id) ascending, so equal rows
//! never swap places between refreshes.

use std::collections::HashMap;

use control_plane::status::{FailureCode, MachineStatus};

use crate::tui::fleet::FleetRow;

/// The table's columns, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Handle,
    User,
    Slot,
    Status,
    Heartbeat,
    Backup,
    Image,
    Ip,
    Failure,
    Pending,
}

impl Column {
    pub const ALL: [Column; 10] = [
        Column::Handle,
        Column::User,
        Column::Slot,
        Column::Status,
        Column::Heartbeat,
        Column::Backup,
        Column::Image,
        Column::Ip,
        Column::Failure,
        Column::Pending,
    ];

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    pub fn next(self) -> Self {
        Self::ALL[(self.index() + 1) % Self::ALL.len()]
    }

    pub fn prev(self) -> Self {
        Self::ALL[(self.index() + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortSpec {
    pub column: Column,
    pub descending: bool,
}

impl Default for SortSpec {
    fn default() -> Self {
        Self {
            column: Column::Handle,
            descending: false,
        }
    }
}

/// Severity order: what needs attention first when sorting ascending.
pub fn status_rank(s: MachineStatus) -> u8 {
    match s {
        MachineStatus::Failed => 0,
        MachineStatus::Recovering => 1,
        MachineStatus::Provisioning => 2,
        MachineStatus::Running => 3,
        MachineStatus::Deleted => 4,
    }
}

/// The raw value of `column` for `row` as an order-preserving integer below `i64::MAX` (`None`
/// when the row has no value). `pending` is the ordinal of the row's pending-action text.
fn primary(row: &FleetRow, column: Column, pending: Option<u32>) -> Option<u64> {
    // A later timestamp is a smaller age: youngest first ascending.
    let age = |at: Option<i64>| at.map(|t| (i64::MAX as u64).saturating_sub(t.max(0) as u64));
    let m = &row.machine;
    match column {
        Column::Handle => Some(u64::from(row.handle_rank)),
        Column::User => Some(u64::from(row.user_rank)),
        Column::Slot => Some(u64::from(row.slot_rank)),
        Column::Status => Some(u64::from(status_rank(m.status))),
        Column::Heartbeat => age(row.hb_at),
        Column::Backup => age(row.backup_at),
        Column::Image => Some(u64::from(row.image_rank)),
        Column::Ip => row.ip_key.map(u64::from),
        Column::Failure => m.failure_code.map(failure_rank),
        Column::Pending => pending.map(u64::from),
    }
}

/// Failure codes in the order of their names (what the column shows).
fn failure_rank(code: FailureCode) -> u64 {
    let name = code.as_str();
    FailureCode::ALL
        .iter()
        .filter(|c| c.as_str() < name)
        .count() as u64
}

/// One sortable key: the value in the requested direction with `None` last either way, then the
/// ascending tie-break rank (unique per row, so the order is total).
fn key(primary: Option<u64>, descending: bool, rank: u32) -> u128 {
    let p = match primary {
        None => u64::MAX,
        Some(v) if descending => (i64::MAX as u64) - v.min(i64::MAX as u64),
        Some(v) => v,
    };
    (u128::from(p) << 32) | u128::from(rank)
}

/// Sorts `indices` (into `rows`) for `spec`; `pending` gives the pending-action text shown for a
/// row (the console's own in-flight marker wins over the platform's).
///
/// Every row gets one integer key (strings were ranked once per snapshot, in
/// [`crate::tui::fleet::FleetSnapshot::new`]), so sorting 100k rows compares integers only.
pub fn sort_indices<'a>(
    indices: &mut [u32],
    rows: &'a [FleetRow],
    spec: SortSpec,
    pending: &impl Fn(&'a FleetRow) -> Option<&'a str>,
) {
    if spec.column == Column::Handle && !spec.descending {
        // The tie-break rank is the ascending handle order itself.
        indices.sort_unstable_by_key(|&i| rows[i as usize].rank);
        return;
    }
    // Pending texts are a handful of distinct values: rank them on the spot.
    let pending_ordinals: HashMap<&str, u32> = if spec.column == Column::Pending {
        // A BTreeSet iterates in order.
        let distinct: std::collections::BTreeSet<&str> = indices
            .iter()
            .filter_map(|&i| pending(&rows[i as usize]))
            .collect();
        distinct
            .into_iter()
            .enumerate()
            .map(|(n, s)| (s, n as u32))
            .collect()
    } else {
        HashMap::new()
    };
    let mut keyed: Vec<(u128, u32)> = indices
        .iter()
        .map(|&i| {
            let row = &rows[i as usize];
            let p = if spec.column == Column::Pending {
                pending(row).and_then(|s| pending_ordinals.get(s).copied())
            } else {
                None
            };
            (
                key(primary(row, spec.column, p), spec.descending, row.rank),
                i,
            )
        })
        .collect();
    keyed.sort_unstable_by_key(|k| k.0);
    for (slot, (_, i)) in indices.iter_mut().zip(keyed) {
        *slot = i;
    }
}
