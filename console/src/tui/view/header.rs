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
                    "{word} · {shown} · {} {retry} ({} {attempt}) · {error} ",
                    s::BANNER_RETRY_IN,
                    s::BANNER_ATTEMPT,
                ),
                theme.alarm(),
            )])
        }
        Connection::Connecting => Line::from(vec![
            Span::styled(s::APP_TITLE, theme.title()),
            Span::raw(" · "),
            Span::styled(s::CONN_CONNECTING, theme.dim()),
        ]),
        Connection::Live => Line::from(vec![
            Span::styled(s::APP_TITLE, theme.title()),
            Span::raw(" · "),
            Span::styled(s::CONN_LIVE, theme.ok()),
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

    // Line 2: counts per status, most alarming first.
    let mut counts = Vec::new();
    for st in [
        MachineStatus::Running,
        MachineStatus::Failed,
        MachineStatus::Recovering,
        MachineStatus::Provisioning,
        MachineStatus::Deleted,
    ] {
        let n = p.by_status[MachineStatus::ALL
            .iter()
            .position(|x| *x == st)
            .unwrap_or(0)];
        if st == MachineStatus::Deleted && n == 0 {
            continue;
        }
        if !counts.is_empty() {
            counts.push(Span::raw("  "));
        }
        let style = if n > 0 { theme.status(st) } else { theme.dim() };
        counts.push(Span::styled(format!("{} {n}", status_label(st)), style));
    }

    // Lines 3 and 4: the alarming counts first, then the age histogram.
    let hb = histogram(
        s::PULSE_HB_AGES,
        (s::PULSE_LATE_HB, p.late_heartbeats),
        (s::PULSE_NEVER, p.hb_never),
        &p.hb_ages,
        s::HB_BUCKET_LABELS,
        theme,
    );
    let backup = histogram(
        s::PULSE_BACKUP_AGES,
        (s::PULSE_STALE_BACKUPS, p.stale_backups),
        (s::PULSE_NONE, p.backup_none),
        &p.backup_ages,
        s::BACKUP_BUCKET_LABELS,
        theme,
    );
    frame.render_widget(
        Paragraph::new(vec![line1, Line::from(counts), hb, backup]),
        area,
    );
}

const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The two counts that need attention, then one bar per age bucket (height on a log scale, since
/// one bucket usually dwarfs the others) with the bucket bounds and counts written out, so the
/// picture is never the only signal.
fn histogram<'a>(
    title: &'a str,
    (bad_label, bad): (&'a str, usize),
    (missing_label, missing): (&'a str, usize),
    counts: &[usize],
    labels: &[&'a str],
    theme: &Theme,
) -> Line<'a> {
    let max = counts.iter().copied().max().unwrap_or(0);
    let bar = |c: usize| -> char {
        if c == 0 || max == 0 {
            ' '
        } else {
            let level = ((c as f64).ln_1p() / (max as f64).ln_1p() * 7.0).round() as usize;
            LEVELS[level.min(7)]
        }
    };
    let spark: String = counts.iter().map(|&c| bar(c)).collect();
    let alarm = |n: usize| if n > 0 { theme.warn() } else { theme.dim() };
    let mut spans = vec![
        Span::styled(format!("{title:<10}"), theme.title()),
        Span::styled(format!("{bad_label} "), theme.dim()),
        Span::styled(format!("{bad:<3}"), alarm(bad)),
        Span::styled(format!("{missing_label} "), theme.dim()),
        Span::styled(format!("{missing:<3}"), alarm(missing)),
        Span::styled(format!("▕{spark}▏"), theme.accent()),
    ];
    for (label, c) in labels.iter().zip(counts) {
        spans.push(Span::styled(format!(" {label}:"), theme.dim()));
        spans.push(Span::raw(c.to_string()));
    }
    Line::from(spans)
}
