//! Sorting the fleet table on raw values: ages as durations, IPs as numbers, statuses by severity,
//! never the rendered text. Machines without a value (never heard from, no IP) come last in both
//! directions, and ties always fall back to (handle, slot, machine id) ascending, so equal rows
//! never swap places between refreshes.

use std::cmp::Ordering;

use control_plane::status::MachineStatus;

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

/// `Some` values in the requested direction, `None` last either way.
fn opt<T: Ord>(a: Option<T>, b: Option<T>, descending: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) if descending => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
    }
}

/// Compares two rows for `spec`; `pending` gives the pending-action text shown for a row (the
/// console's own in-flight marker wins over the platform's).
pub fn compare<'a>(
    a: &'a FleetRow,
    b: &'a FleetRow,
    spec: SortSpec,
    pending: &impl Fn(&'a FleetRow) -> Option<&'a str>,
) -> Ordering {
    let (ma, mb) = (&a.machine, &b.machine);
    let d = spec.descending;
    let primary = match spec.column {
        // The tie-break rank already is the handle order.
        Column::Handle => opt(Some(a.rank), Some(b.rank), d),
        Column::User => opt(
            Some(ma.clerk_user_id.as_str()),
            Some(mb.clerk_user_id.as_str()),
            d,
        ),
        Column::Slot => opt(
            Some(ma.runtime_slot.as_str()),
            Some(mb.runtime_slot.as_str()),
            d,
        ),
        Column::Status => opt(
            Some(status_rank(ma.status)),
            Some(status_rank(mb.status)),
            d,
        ),
        // Youngest first ascending: a later timestamp is a smaller age.
        Column::Heartbeat => opt(a.hb_at.map(|t| -t), b.hb_at.map(|t| -t), d),
        Column::Backup => opt(a.backup_at.map(|t| -t), b.backup_at.map(|t| -t), d),
        Column::Image => opt(
            Some(ma.image_version.as_str()),
            Some(mb.image_version.as_str()),
            d,
        ),
        Column::Ip => opt(a.ip_key, b.ip_key, d),
        Column::Failure => opt(
            ma.failure_code.map(|c| c.as_str()),
            mb.failure_code.map(|c| c.as_str()),
            d,
        ),
        Column::Pending => opt(pending(a), pending(b), d),
    };
    primary.then_with(|| a.rank.cmp(&b.rank))
}

/// Sorts `indices` (into `rows`) for `spec`. The rank makes the order total, so an unstable sort
/// is deterministic.
pub fn sort_indices<'a>(
    indices: &mut [u32],
    rows: &'a [FleetRow],
    spec: SortSpec,
    pending: &impl Fn(&'a FleetRow) -> Option<&'a str>,
) {
    if spec.column == Column::Handle {
        indices.sort_unstable_by_key(|&i| rows[i as usize].rank);
        if spec.descending {
            indices.reverse();
        }
        return;
    }
    indices.sort_unstable_by(|&x, &y| compare(&rows[x as usize], &rows[y as usize], spec, pending));
}
