//! The fleet as the console holds it: one [`FleetSnapshot`] per successful refresh, with every
//! machine's wire status plus the few values that filtering, sorting and the header read in their
//! hot loops (lower-cased search text, timestamps as integers, the IP as a number, the tie-break rank).
//!
//! Ages are never taken from the operator's clock against the platform's timestamps (the two clocks
//! may disagree): the platform's time "now" is estimated as its `generatedAt` plus the local time
//! elapsed since the answer arrived ([`FleetSnapshot::server_now_ms`]). In tests that makes every
//! age a pure function of the fixture and a fixed `now`.

use std::time::Instant;

use control_plane::api::types::{FleetResponse, MachineStatusResponse};
use control_plane::health::{BackupFreshness, HeartbeatHealth};
use control_plane::status::MachineStatus;

/// Problems of the latest backup pointer that mean "there is nothing to restore from".
pub const NO_BACKUP_PROBLEMS: [&str; 4] = [
    "missing_pointer",
    "invalid_pointer",
    "missing_object",
    "empty_object",
];

/// One machine and its precomputed keys.
#[derive(Debug, Clone)]
pub struct FleetRow {
    pub machine: MachineStatusResponse,
    /// Lower-cased `handle \n user \n machine id \n ipv4`: what free filter text is searched in.
    pub search: String,
    /// Last heartbeat, Unix milliseconds.
    pub hb_at: Option<i64>,
    /// Snapshot time of the latest verified backup, Unix milliseconds.
    pub backup_at: Option<i64>,
    /// The IPv4 address as a number, so addresses sort numerically.
    pub ip_key: Option<u32>,
    /// Position in the (handle, slot, machine id) order: the tie-break of every sort.
    pub rank: u32,
    /// Dense ranks of the handle, user id, slot and image version (equal text, equal rank), so sorting on
    /// them compares integers.
    pub handle_rank: u32,
    pub user_rank: u32,
    pub slot_rank: u32,
    pub image_rank: u32,
    /// Failed ∪ recovering ∪ late/unreachable heartbeat ∪ stale/critical backup.
    pub fault: bool,
}

impl FleetRow {
    fn new(machine: MachineStatusResponse) -> Self {
        let ip = machine.public_ipv4.map(|ip| ip.addr());
        let search = format!(
            "{}\n{}\n{}\n{}",
            machine.handle.as_str(),
            machine.clerk_user_id.as_str(),
            machine.machine_id,
            ip.map(|ip| ip.to_string()).unwrap_or_default()
        )
        .to_lowercase();
        let hb_at = machine
            .heartbeat
            .last_seen_at
            .or(machine.last_seen_at)
            .map(|t| t.timestamp_millis());
        let backup_at = machine.backup.snapshot_at.map(|t| t.timestamp_millis());
        let fault = is_fault(&machine);
        Self {
            search,
            hb_at,
            backup_at,
            ip_key: ip.map(u32::from),
            rank: 0,
            handle_rank: 0,
            user_rank: 0,
            slot_rank: 0,
            image_rank: 0,
            fault,
            machine,
        }
    }

    /// True when recovering would have nothing to restore from (so it needs `allowEmpty`).
    pub fn has_no_backup(&self) -> bool {
        machine_has_no_backup(&self.machine)
    }
}

/// True when recovering `machine` would have nothing to restore from: the platform's check found
/// a broken or missing pointer, or a check happened (or the backup was graded) and found no key.
///
/// Before the platform's first check the key is absent and the freshness `unknown`: that backup is
/// merely unverified (see [`backup_is_unverified`]), and a normal recover is offered; the platform
/// checks for itself and answers 409 when there is nothing.
pub fn machine_has_no_backup(machine: &MachineStatusResponse) -> bool {
    let b = &machine.backup;
    b.problem
        .as_deref()
        .is_some_and(|p| NO_BACKUP_PROBLEMS.contains(&p))
        || (b.key.is_none() && (b.checked_at.is_some() || b.freshness != BackupFreshness::Unknown))
}

/// True when no backup has been verified yet for `machine` (no key, never checked), as opposed to
/// a check that found nothing.
pub fn backup_is_unverified(machine: &MachineStatusResponse) -> bool {
    machine.backup.key.is_none() && !machine_has_no_backup(machine)
}

/// True when the backup exists but an operator must be warned before restoring it.
pub fn backup_is_old(machine: &MachineStatusResponse) -> bool {
    matches!(
        machine.backup.freshness,
        BackupFreshness::Stale | BackupFreshness::Critical
    )
}

fn is_fault(m: &MachineStatusResponse) -> bool {
    matches!(m.status, MachineStatus::Failed | MachineStatus::Recovering)
        || matches!(
            m.heartbeat.health,
            HeartbeatHealth::Late | HeartbeatHealth::Unreachable
        )
        || backup_is_old(m)
}

/// The few values the filter reads for every row, packed together so a filter pass over 100k rows
/// reads 4 MB of contiguous memory instead of 100k scattered rows.
#[derive(Debug, Clone, Copy)]
pub struct Hot {
    pub hb_at: Option<i64>,
    pub backup_at: Option<i64>,
    /// Positions in `MachineStatus::ALL`, `HeartbeatHealth::ALL`, `BackupFreshness::ALL`.
    pub status: u8,
    pub health: u8,
    pub freshness: u8,
    pub fault: bool,
    /// Index into [`FleetSnapshot::slot_names`].
    pub slot_rank: u32,
}

/// Position of `value` in `all` (the enums' `ALL` tables), as a bit index.
fn ordinal<T: PartialEq>(all: &[T], value: &T) -> u8 {
    all.iter().position(|x| x == value).unwrap_or(0) as u8
}

/// Everything one successful refresh brought.
#[derive(Debug, Clone)]
pub struct FleetSnapshot {
    pub rows: Vec<FleetRow>,
    /// The platform's clock when it answered (`generatedAt`), Unix milliseconds.
    pub generated_at_ms: i64,
    /// When the answer arrived, on the console's monotonic clock.
    pub received_at: Instant,
    /// Row indices in (handle, slot, machine id) order: the default sort, already done.
    pub by_rank: Vec<u32>,
    /// One [`Hot`] per row, same index.
    pub hot: Vec<Hot>,
    /// Every row's search text, `\0`-separated, and where each row's starts: free filter text is
    /// one substring scan of this string.
    pub haystack: String,
    pub starts: Vec<u32>,
    /// Distinct runtime slots, sorted; a row's `slot_rank` indexes it.
    pub slot_names: Vec<String>,
}

impl FleetSnapshot {
    /// Precomputes the keys (done by the refresher task, off the UI task).
    pub fn new(response: FleetResponse, received_at: Instant) -> Self {
        let generated_at_ms = response.generated_at.timestamp_millis();
        let mut rows: Vec<FleetRow> = response.machines.into_iter().map(FleetRow::new).collect();
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&rows[a as usize].machine, &rows[b as usize].machine);
            a.handle
                .cmp(&b.handle)
                .then_with(|| a.runtime_slot.cmp(&b.runtime_slot))
                .then_with(|| a.machine_id.cmp(&b.machine_id))
        });
        for (rank, &i) in order.iter().enumerate() {
            rows[i as usize].rank = rank as u32;
        }
        let _ = dense_rank(&mut rows, |m| m.handle.as_str(), |r, v| r.handle_rank = v);
        let _ = dense_rank(
            &mut rows,
            |m| m.clerk_user_id.as_str(),
            |r, v| r.user_rank = v,
        );
        let slot_names = dense_rank(
            &mut rows,
            |m| m.runtime_slot.as_str(),
            |r, v| r.slot_rank = v,
        );
        let _ = dense_rank(
            &mut rows,
            |m| m.image_version.as_str(),
            |r, v| r.image_rank = v,
        );
        let hot = rows
            .iter()
            .map(|r| Hot {
                hb_at: r.hb_at,
                backup_at: r.backup_at,
                status: ordinal(&MachineStatus::ALL, &r.machine.status),
                health: ordinal(&HeartbeatHealth::ALL, &r.machine.heartbeat.health),
                freshness: ordinal(&BackupFreshness::ALL, &r.machine.backup.freshness),
                fault: r.fault,
                slot_rank: r.slot_rank,
            })
            .collect();
        let mut haystack = String::with_capacity(rows.iter().map(|r| r.search.len() + 1).sum());
        let mut starts = Vec::with_capacity(rows.len());
        for r in &rows {
            starts.push(haystack.len() as u32);
            haystack.push_str(&r.search);
            haystack.push('\0');
        }
        Self {
            rows,
            generated_at_ms,
            received_at,
            by_rank: order,
            hot,
            haystack,
            starts,
            slot_names,
        }
    }

    /// The platform's clock at local time `now`, Unix milliseconds.
    pub fn server_now_ms(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.received_at);
        self.generated_at_ms
            .saturating_add(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn position_of(&self, id: &control_plane::ids::MachineId) -> Option<usize> {
        self.rows.iter().position(|r| &r.machine.machine_id == id)
    }
}

/// Gives every row the rank of its `text` among the distinct values (equal text, equal rank);
/// returns the distinct values in rank order.
fn dense_rank(
    rows: &mut [FleetRow],
    text: impl Fn(&MachineStatusResponse) -> &str,
    set: impl Fn(&mut FleetRow, u32),
) -> Vec<String> {
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        text(&rows[a as usize].machine).cmp(text(&rows[b as usize].machine))
    });
    let mut rank = 0u32;
    let mut names = Vec::new();
    for n in 0..order.len() {
        if n == 0 {
            names.push(text(&rows[order[n] as usize].machine).to_owned());
        } else if text(&rows[order[n] as usize].machine)
            != text(&rows[order[n - 1] as usize].machine)
        {
            rank += 1;
            names.push(text(&rows[order[n] as usize].machine).to_owned());
        }
        set(&mut rows[order[n] as usize], rank);
    }
    names
}

/// Age buckets of the header sparkline (upper bounds in seconds; the last bucket is open).
pub const HB_BUCKETS: [i64; 5] = [60, 5 * 60, 10 * 60, 15 * 60, 60 * 60];
pub const BACKUP_BUCKETS: [i64; 6] = [30 * 60, 60 * 60, 75 * 60, 2 * 3600, 6 * 3600, 86_400];

/// The header's numbers, recomputed when data arrives and once per tick (ages move).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulse {
    pub total: usize,
    /// Counts per status, in [`MachineStatus::ALL`] order.
    pub by_status: [usize; 5],
    /// Running machines whose heartbeat is late or unreachable.
    pub late_heartbeats: usize,
    /// Machines whose backup is stale or critical.
    pub stale_backups: usize,
    /// Heartbeat ages of running machines: one count per [`HB_BUCKETS`] bound, one open bucket.
    pub hb_ages: [usize; 6],
    /// Running machines never heard from.
    pub hb_never: usize,
    /// Backup ages: one count per [`BACKUP_BUCKETS`] bound, one open bucket.
    pub backup_ages: [usize; 7],
    /// Live machines without a backup snapshot.
    pub backup_none: usize,
}

impl Pulse {
    pub fn compute(snapshot: &FleetSnapshot, now: Instant) -> Self {
        let now_ms = snapshot.server_now_ms(now);
        let mut p = Pulse {
            total: snapshot.rows.len(),
            ..Pulse::default()
        };
        for row in &snapshot.rows {
            let m = &row.machine;
            let si = MachineStatus::ALL
                .iter()
                .position(|s| *s == m.status)
                .unwrap_or(0);
            p.by_status[si] += 1;
            if matches!(
                m.heartbeat.health,
                HeartbeatHealth::Late | HeartbeatHealth::Unreachable
            ) {
                p.late_heartbeats += 1;
            }
            if backup_is_old(m) {
                p.stale_backups += 1;
            }
            if m.status == MachineStatus::Running {
                match row.hb_at {
                    Some(at) => p.hb_ages[bucket(&HB_BUCKETS, (now_ms - at) / 1000)] += 1,
                    None => p.hb_never += 1,
                }
            }
            if m.status != MachineStatus::Deleted {
                match row.backup_at {
                    Some(at) => p.backup_ages[bucket(&BACKUP_BUCKETS, (now_ms - at) / 1000)] += 1,
                    None => p.backup_none += 1,
                }
            }
        }
        p
    }
}

fn bucket(bounds: &[i64], age_secs: i64) -> usize {
    bounds
        .iter()
        .position(|b| age_secs <= *b)
        .unwrap_or(bounds.len())
}

/// A compact age: `42s`, `4m12s`, `3h05m`, `2d03h`.
pub fn fmt_age(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// A byte count for people: `512 B`, `3.4 MiB`.
pub fn fmt_bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.max(0) as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_compact_and_never_negative() {
        assert_eq!(fmt_age(-5), "0s");
        assert_eq!(fmt_age(42), "42s");
        assert_eq!(fmt_age(252), "4m12s");
        assert_eq!(fmt_age(3 * 3600 + 5 * 60), "3h05m");
        assert_eq!(fmt_age(2 * 86_400 + 3 * 3600), "2d03h");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(3 * 1024 * 1024 + 400 * 1024), "3.4 MiB");
    }

    #[test]
    fn buckets_put_each_age_under_its_first_upper_bound() {
        assert_eq!(bucket(&HB_BUCKETS, 0), 0);
        assert_eq!(bucket(&HB_BUCKETS, 60), 0);
        assert_eq!(bucket(&HB_BUCKETS, 61), 1);
        assert_eq!(bucket(&HB_BUCKETS, 100_000), HB_BUCKETS.len());
    }
}
