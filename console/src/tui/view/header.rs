//! The header "pulse": connection state and data age (a loud banner when the data is stale),
//! counts per status, late heartbeats, stale backups, and one-line histograms of heartbeat and
//! backup ages across the fleet.

use std::time::Instant;

use control_plane::status::MachineStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::{Theme, status_label};
use crate::strings::tui as s;
use crate::tui::fleet::fmt_age;
use crate::tui::state::{Connection, DownKind, State};

pub fn render(frame: &mut Frame, area: Rect, state: &State, now: Instant, theme: &Theme) {
    let p = &state.pulse;
    let data_age = state
        .last_ok
        .map(|t| fmt_age(now.saturating_duration_since(t).as_secs() as i64));

    // Line 1: who we are and how fresh the data is; a banner when it is not.
    let line1 = match &state.connection {
        Connection::Down {
            kind,
            error,
            attempt,
            retry_at,
        } => {
            let word = match kind {
                DownKind::Unreachable => s::CONN_UNREACHABLE,
                DownKind::Erroring => s::CONN_STALE,
            };
            let retry = fmt_age(retry_at.saturating_duration_since(now).as_secs() as i64);
            let shown = match &data_age {
                Some(age) => format!("{} {age} {}", s::BANNER_DATA_FROM, s::AGO),
                None => s::BANNER_NO_DATA.to_owned(),
            };
            Line::from(vec![Span::styled(
                format!(
                    "▲ {word} · {error} · {shown} · {} {attempt} · {} {retry} ",
                    s::BANNER_ATTEMPT,
                    s::BANNER_RETRY_IN
                ),
                theme.alarm(),
            )])
        }
        Connection::Connecting => Line::from(vec![
            Span::styled(s::APP_TITLE, theme.title()),
            Span::raw(" · "),
            Span::styled(format!("○ {}", s::CONN_CONNECTING), theme.dim()),
        ]),
        Connection::Live => Line::from(vec![
            Span::styled(s::APP_TITLE, theme.title()),
            Span::raw(" · "),
            Span::styled(format!("● {}", s::CONN_LIVE), theme.ok()),
            Span::raw(format!(
                " · {} {} {} · {} {}",
                s::REFRESHED,
                data_age.unwrap_or_default(),
                s::AGO,
                p.total,
                s::MACHINES
            )),
        ]),
    };
    let mut line1 = line1;
    if state.read_only {
        line1.push_span(Span::raw("  "));
        line1.push_span(Span::styled(
            format!("[{}]", s::READ_ONLY_BADGE),
            theme.warn(),
        ));
    }

    // Line 2: counts per status, then the two health counts.
    let mut counts = Vec::new();
    for (i, st) in MachineStatus::ALL.iter().enumerate() {
        if *st == MachineStatus::Deleted && p.by_status[i] == 0 {
            continue;
        }
        if !counts.is_empty() {
            counts.push(Span::raw("  "));
        }
        let style = if p.by_status[i] > 0 {
            theme.status(*st)
        } else {
            theme.dim()
        };
        counts.push(Span::styled(
            format!("{} {}", status_label(*st), p.by_status[i]),
            style,
        ));
    }
    counts.push(Span::raw("  │ "));
    counts.push(Span::styled(
        format!("{} {}", s::PULSE_LATE_HB, p.late_heartbeats),
        if p.late_heartbeats > 0 {
            theme.warn()
        } else {
            theme.dim()
        },
    ));
    counts.push(Span::raw("  "));
    counts.push(Span::styled(
        format!("{} {}", s::PULSE_STALE_BACKUPS, p.stale_backups),
        if p.stale_backups > 0 {
            theme.warn()
        } else {
            theme.dim()
        },
    ));

    let hb = histogram(
        s::PULSE_HB_AGES,
        &p.hb_ages,
        s::HB_BUCKET_LABELS,
        s::PULSE_NEVER,
        p.hb_never,
        theme,
    );
    let backup = histogram(
        s::PULSE_BACKUP_AGES,
        &p.backup_ages,
        s::BACKUP_BUCKET_LABELS,
        s::PULSE_NONE,
        p.backup_none,
        theme,
    );
    frame.render_widget(
        Paragraph::new(vec![line1, Line::from(counts), hb, backup]),
        area,
    );
}

const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One bar per bucket, height on a log scale (one bucket usually dwarfs the others), with the
/// bucket bounds and counts written out so the picture is never the only signal.
fn histogram<'a>(
    title: &'a str,
    counts: &[usize],
    labels: &[&'a str],
    missing_label: &'a str,
    missing: usize,
    theme: &Theme,
) -> Line<'a> {
    let max = counts.iter().copied().max().unwrap_or(0).max(missing);
    let bar = |c: usize| -> char {
        if c == 0 || max == 0 {
            ' '
        } else {
            let level = ((c as f64).ln_1p() / (max as f64).ln_1p() * 7.0).round() as usize;
            LEVELS[level.min(7)]
        }
    };
    let spark: String = counts.iter().map(|&c| bar(c)).collect();
    let mut spans = vec![
        Span::styled(format!("{title:<11}"), theme.dim()),
        Span::styled(format!("▕{spark}▏"), theme.accent()),
    ];
    for (label, c) in labels.iter().zip(counts) {
        spans.push(Span::styled(format!(" {label}:"), theme.dim()));
        spans.push(Span::raw(c.to_string()));
    }
    spans.push(Span::styled(format!(" {missing_label}:"), theme.dim()));
    spans.push(Span::styled(
        missing.to_string(),
        if missing > 0 {
            theme.warn()
        } else {
            theme.dim()
        },
    ));
    Line::from(spans)
}
