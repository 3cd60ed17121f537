//! Plain-text rendering for the subcommands: compact ages, aligned tables, the one-line health
//! summaries. No colour and no terminal queries, so output is the same in a pipe, in CI and in a
//! snapshot; every state is spelled as a word.

use control_plane::api::types::{BackupView, HeartbeatView};
use control_plane::health::{BackupFreshness, HeartbeatHealth};

use crate::strings::cli as s;

/// An age as operators read it: `45s`, `12m`, `3h`, `2d` (whole units, rounded down; a negative age
/// from clock skew shows as `0s`).
pub fn compact_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `45s ok`, `12m late`, `unknown`: the age of the last heartbeat and its health word.
pub fn heartbeat_cell(hb: &HeartbeatView) -> String {
    match hb.age_seconds {
        Some(age) => format!("{} {}", compact_age(age), hb.health.as_str()),
        None => hb.health.as_str().to_owned(),
    }
}

/// `12m fresh`, `7h critical`, `critical missing_pointer`: the backup's age, freshness and problem.
pub fn backup_cell(b: &BackupView) -> String {
    let mut cell = match b.age_seconds {
        Some(age) => format!("{} {}", compact_age(age), b.freshness.as_str()),
        None => b.freshness.as_str().to_owned(),
    };
    if let Some(problem) = &b.problem {
        cell.push(' ');
        cell.push_str(problem);
    }
    cell
}

/// Whether a machine belongs to the faults-only view: failed or recovering, a late or unreachable
/// heartbeat, a stale or critical backup.
pub fn is_fault(m: &control_plane::api::types::MachineStatusResponse) -> bool {
    use control_plane::status::MachineStatus as St;
    matches!(m.status, St::Failed | St::Recovering)
        || matches!(
            m.heartbeat.health,
            HeartbeatHealth::Late | HeartbeatHealth::Unreachable
        )
        || matches!(
            m.backup.freshness,
            BackupFreshness::Stale | BackupFreshness::Critical
        )
}

/// `-` for an absent value.
pub fn or_none<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| s::NONE.to_owned(), |v| v.to_string())
}

/// Byte counts as `512 B`, `3.4 KiB`, `1.2 MiB`, `2.0 GiB`.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Columns separated by two spaces, each as wide as its widest cell, trailing spaces trimmed.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_compact_and_round_down() {
        let cases = [
            (-5, "0s"),
            (0, "0s"),
            (45, "45s"),
            (59, "59s"),
            (60, "1m"),
            (12 * 60 + 59, "12m"),
            (3_599, "59m"),
            (3_600, "1h"),
            (3 * 3_600 + 1, "3h"),
            (86_399, "23h"),
            (86_400, "1d"),
            (2 * 86_400 + 7, "2d"),
        ];
        for (secs, want) in cases {
            assert_eq!(compact_age(secs), want, "{secs}");
        }
    }

    #[test]
    fn tables_align_columns_and_trim_trailing_space() {
        let t = table(
            &["A", "LONGER"],
            &[
                vec!["wide-cell".into(), "x".into()],
                vec!["y".into(), String::new()],
            ],
        );
        assert_eq!(t, "A          LONGER\nwide-cell  x\ny\n");
    }

    #[test]
    fn byte_sizes_use_binary_units() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 + 512 * 1024), "5.5 MiB");
    }
}
