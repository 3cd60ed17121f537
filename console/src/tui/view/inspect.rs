//! The inspect view: every field of the machine's status, its backup detail, where its traffic is
//! routed, the recovery in flight, and its event timeline. Wide terminals show the events beside
//! the details; narrow ones stack them and scroll.

use std::time::Instant;

use chrono::{DateTime, Utc};
use control_plane::api::types::{EventsResponse, MachineStatusResponse, RouteResponse};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::theme::{Theme, freshness_mark, health_mark, status_label};
use crate::strings::tui as s;
use crate::tui::fleet::{fmt_age, fmt_bytes};
use crate::tui::state::{InspectView, Loadable, State};

/// Wide enough for two panels side by side.
const TWO_PANELS_FROM: u16 = 140;

pub fn render(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    view: &InspectView,
    now: Instant,
    theme: &Theme,
) {
    let now_ms = state.snapshot.as_ref().map(|snap| snap.server_now_ms(now));
    let details = detail_lines(view, now_ms, theme);
    let events = event_lines(&view.events, now_ms, theme);
    let title = format!(
        " {} {} · {} · {} ",
        s::INSPECT_TITLE,
        view.target.handle,
        view.target.slot,
        view.target.machine_id
    );
    // Both panels follow the same scroll, each clamped to its own content, so the events panel
    // scrolls too; the largest useful scroll goes back to the state for `update` to clamp.
    let max_for = |lines: usize, area: Rect| {
        lines.saturating_sub(area.height.saturating_sub(2) as usize) as u16
    };
    if area.width >= TWO_PANELS_FROM {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(area);
        let (left_max, right_max) = (max_for(details.len(), left), max_for(events.len(), right));
        state.scroll_max.set(Some(left_max.max(right_max)));
        frame.render_widget(
            Paragraph::new(details)
                .block(Block::bordered().title(title))
                .scroll((view.scroll.min(left_max), 0)),
            left,
        );
        frame.render_widget(
            Paragraph::new(events)
                .block(Block::bordered().title(format!(" {} ", s::INSPECT_EVENTS)))
                .scroll((view.scroll.min(right_max), 0)),
            right,
        );
    } else {
        let mut all = details;
        all.push(Line::raw(""));
        all.push(section(s::INSPECT_EVENTS, theme));
        all.extend(events);
        let max = max_for(all.len(), area);
        state.scroll_max.set(Some(max));
        frame.render_widget(
            Paragraph::new(all)
                .block(Block::bordered().title(title))
                .scroll((view.scroll.min(max), 0)),
            area,
        );
    }
}

fn section<'a>(title: &'a str, theme: &Theme) -> Line<'a> {
    Line::from(Span::styled(
        format!("{} {title}", s::SECTION_MARK),
        theme.title(),
    ))
}

fn field<'a>(name: &'a str, value: String) -> Line<'a> {
    Line::from(vec![Span::raw(format!("  {name:<19} ")), Span::raw(value)])
}

fn styled_field<'a>(name: &'a str, value: String, style: ratatui::style::Style) -> Line<'a> {
    Line::from(vec![
        Span::raw(format!("  {name:<19} ")),
        Span::styled(value, style),
    ])
}

fn or_none<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string())
        .unwrap_or_else(|| s::CELL_NONE.to_owned())
}

/// A time with its age relative to the platform's clock.
fn when(t: Option<DateTime<Utc>>, now_ms: Option<i64>) -> String {
    match (t, now_ms) {
        (Some(t), Some(now)) => format!(
            "{} ({} {})",
            t.format("%Y-%m-%d %H:%M:%SZ"),
            fmt_age((now - t.timestamp_millis()) / 1000),
            s::AGO
        ),
        (Some(t), None) => t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        (None, _) => s::CELL_NONE.to_owned(),
    }
}

fn detail_lines<'a>(view: &'a InspectView, now_ms: Option<i64>, theme: &Theme) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    match &view.status {
        Loadable::Loading => lines.push(Line::styled(s::LOADING, theme.dim())),
        Loadable::Failed(e) => lines.push(Line::styled(
            format!("{} {} {e}", s::GLYPH_ERROR, s::INSPECT_STATUS_FAILED),
            theme.bad(),
        )),
        Loadable::Loaded(m) => {
            if let Some(e) = &view.status_error {
                lines.push(Line::styled(
                    format!("{} {} {e}", s::GLYPH_WARN, s::INSPECT_STATUS_OLD),
                    theme.warn(),
                ));
            }
            machine_lines(&mut lines, m, now_ms, theme);
        }
    }
    lines.push(Line::raw(""));
    lines.push(section(s::INSPECT_ROUTING, theme));
    route_lines(&mut lines, &view.route, theme);
    lines
}

fn machine_lines(
    lines: &mut Vec<Line<'_>>,
    m: &MachineStatusResponse,
    now_ms: Option<i64>,
    theme: &Theme,
) {
    lines.push(section(s::INSPECT_MACHINE, theme));
    lines.push(field(s::F_MACHINE_ID, m.machine_id.to_string()));
    lines.push(field(s::F_USER, m.clerk_user_id.to_string()));
    lines.push(field(s::F_HANDLE, m.handle.to_string()));
    lines.push(field(s::F_SLOT, m.runtime_slot.to_string()));
    lines.push(styled_field(
        s::F_STATUS,
        status_label(m.status),
        theme.status(m.status),
    ));
    lines.push(field(s::F_IMAGE, m.image_version.to_string()));
    lines.push(field(s::F_IPV4, or_none(m.public_ipv4)));
    lines.push(field(s::F_IPV6, or_none(m.public_ipv6)));
    lines.push(field(s::F_HETZNER_ID, or_none(m.hetzner_server_id)));
    lines.push(field(s::F_ATTEMPT, m.attempt.to_string()));
    lines.push(field(
        s::F_PROVISIONED_AT,
        when(Some(m.provisioned_at), now_ms),
    ));
    lines.push(field(s::F_LAST_SEEN_AT, when(m.last_seen_at, now_ms)));
    lines.push(field(s::F_DELETED_AT, when(m.deleted_at, now_ms)));
    match m.failure_code {
        Some(code) => lines.push(styled_field(
            s::F_FAILURE_CODE,
            format!("{} {code}", s::GLYPH_ERROR),
            theme.bad(),
        )),
        None => lines.push(field(s::F_FAILURE_CODE, s::CELL_NONE.to_owned())),
    }
    lines.push(field(s::F_FAILURE_AT, when(m.failure_at, now_ms)));
    lines.push(field(s::F_PENDING, or_none(m.pending_action.as_deref())));

    lines.push(section(s::INSPECT_HEARTBEAT, theme));
    let h = m.heartbeat.health;
    lines.push(styled_field(
        s::F_HEALTH,
        format!("{} {}", h.as_str(), health_mark(h))
            .trim_end()
            .to_owned(),
        theme.health(h),
    ));
    lines.push(field(
        s::F_LAST_SEEN_AT,
        when(m.heartbeat.last_seen_at, now_ms),
    ));
    lines.push(field(
        s::F_HEALTHY_REPORTED,
        or_none(m.heartbeat.healthy_reported),
    ));

    lines.push(section(s::INSPECT_BACKUP, theme));
    let b = &m.backup;
    lines.push(styled_field(
        s::F_FRESHNESS,
        format!("{} {}", b.freshness.as_str(), freshness_mark(b.freshness))
            .trim_end()
            .to_owned(),
        theme.freshness(b.freshness),
    ));
    lines.push(field(s::F_KEY, or_none(b.key.as_deref())));
    lines.push(field(s::F_SNAPSHOT_AT, when(b.snapshot_at, now_ms)));
    lines.push(field(s::F_SIZE, or_none(b.size_bytes.map(fmt_bytes))));
    match &b.problem {
        Some(p) => lines.push(styled_field(
            s::F_PROBLEM,
            format!("{} {p}", s::GLYPH_ERROR),
            theme.bad(),
        )),
        None => lines.push(field(s::F_PROBLEM, s::CELL_NONE.to_owned())),
    }
    lines.push(field(s::F_CHECKED_AT, when(b.checked_at, now_ms)));

    if let Some(r) = &m.recovery {
        lines.push(section(s::INSPECT_RECOVERY, theme));
        lines.push(field(s::F_OLD_MACHINE, r.old_machine_id.to_string()));
        lines.push(field(s::F_OLD_SERVER, or_none(r.old_hetzner_server_id)));
        lines.push(field(s::F_OLD_IPV4, or_none(r.old_public_ipv4)));
        lines.push(field(s::F_PREVIOUS_STATUS, r.previous_status.clone()));
    }
}

fn route_lines(lines: &mut Vec<Line<'_>>, route: &Loadable<RouteResponse>, theme: &Theme) {
    match route {
        Loadable::Loading => lines.push(Line::styled(format!("  {}", s::LOADING), theme.dim())),
        Loadable::Failed(e) => lines.push(Line::styled(
            format!("  {} {} {e}", s::GLYPH_ERROR, s::INSPECT_LOAD_FAILED),
            theme.bad(),
        )),
        Loadable::Loaded(r) => {
            let (word, style) = if r.routable {
                (
                    format!("{} {}", s::GLYPH_RUNNING, s::ROUTE_ROUTABLE),
                    theme.ok(),
                )
            } else {
                (
                    format!("{} {}", s::GLYPH_ERROR, s::ROUTE_NOT_ROUTABLE),
                    theme.bad(),
                )
            };
            lines.push(styled_field(s::F_ROUTABLE, word, style));
            lines.push(field(s::F_VIA, or_none(r.via.as_deref())));
            lines.push(field(
                s::F_TARGET,
                r.target
                    .as_ref()
                    .map(|t| format!("{} ({})", t.public_ipv4, t.machine_id))
                    .unwrap_or_else(|| s::CELL_NONE.to_owned()),
            ));
            lines.push(field(s::F_ROUTE_MACHINE, or_none(r.machine_id)));
            lines.push(field(s::F_REPLACEMENT, or_none(r.replacement_machine_id)));
            lines.push(field(s::F_REASON, or_none(r.reason.as_deref())));
        }
    }
}

fn event_lines<'a>(
    events: &'a Loadable<EventsResponse>,
    now_ms: Option<i64>,
    theme: &Theme,
) -> Vec<Line<'a>> {
    match events {
        Loadable::Loading => vec![Line::styled(format!("  {}", s::LOADING), theme.dim())],
        Loadable::Failed(e) => vec![Line::styled(
            format!("  {} {} {e}", s::GLYPH_ERROR, s::INSPECT_LOAD_FAILED),
            theme.bad(),
        )],
        Loadable::Loaded(r) if r.events.is_empty() => {
            vec![Line::styled(
                format!("  {}", s::INSPECT_NO_EVENTS),
                theme.dim(),
            )]
        }
        // Newest first: what just happened is what the operator came for.
        Loadable::Loaded(r) => r
            .events
            .iter()
            .rev()
            .map(|e| {
                let age = now_ms
                    .map(|n| format!("{:>6}", fmt_age((n - e.at.timestamp_millis()) / 1000)))
                    .unwrap_or_default();
                let change = match (&e.from, &e.to) {
                    (Some(f), Some(t)) => format!(" {f}→{t}"),
                    (None, Some(t)) => format!(" →{t}"),
                    _ => String::new(),
                };
                let reason = e
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                let style = match e.kind.as_str() {
                    "fail" | "recover_abandon" | "heartbeat_unreachable" | "backup_problem" => {
                        theme.bad()
                    }
                    "heartbeat_late" | "recover_rollback" => theme.warn(),
                    _ => ratatui::style::Style::new(),
                };
                Line::from(vec![
                    Span::styled(format!("  {age} "), theme.dim()),
                    Span::styled(e.kind.clone(), style),
                    Span::raw(change),
                    Span::styled(format!(" [{}]", e.actor), theme.dim()),
                    Span::raw(reason),
                ])
            })
            .collect(),
    }
}
