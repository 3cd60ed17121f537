//! Rendering: pure functions of the [`State`] and `now`. Nothing here reads a clock, touches the
//! network or changes the state, so a screen rendered on a `TestBackend` with a fixed `now` is the
//! same every time (the snapshot tests rely on it).
//!
//! Layout of every screen: four header lines ([`header`]), the body (fleet table, inspect view,
//! help or messages), a status line, and a footer (transient message, key hints or the filter
//! input). Dialogs are drawn over the body. Only the visible slice of the table is ever built.

pub mod dialog;
pub mod header;
pub mod inspect;
pub mod pager;
pub mod table;
pub mod theme;

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::strings::tui as s;
use crate::tui::state::{Level, Screen, State};
use theme::Theme;

/// Draws the whole screen.
pub fn render(frame: &mut Frame, state: &State, now: Instant) {
    let theme = Theme::new(state.color);
    let [head, body, status, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    header::render(frame, head, state, now, &theme);
    match (&state.pager, &state.screen) {
        (Some(p), _) => pager::render(frame, body, state, *p, now, &theme),
        (None, Screen::Fleet) => table::render(frame, body, state, now, &theme),
        (None, Screen::Inspect(v)) => inspect::render(frame, body, state, v, now, &theme),
    }
    render_status_line(frame, status, state, &theme);
    render_footer(frame, footer, state, now, &theme);
    if let Some(d) = &state.dialog {
        dialog::render(frame, body, state, d, now, &theme);
    }
}

fn render_status_line(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut spans = vec![Span::styled(format!("{} ", s::STATUS_FILTER), theme.dim())];
    if state.filter.is_empty() {
        spans.push(Span::styled(s::STATUS_NO_FILTER, theme.dim()));
    } else {
        spans.push(Span::styled(state.filter.to_string(), theme.accent()));
    }
    if state.faults_only {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(s::STATUS_FAULTS_ONLY, theme.warn()));
    }
    spans.push(Span::styled(format!("  {} ", s::STATUS_SORT), theme.dim()));
    spans.push(Span::raw(format!(
        "{} {}",
        table::column_title(state.sort.column),
        if state.sort.descending {
            s::SORT_DESC
        } else {
            s::SORT_ASC
        }
    )));
    let total = state.rows().len();
    let shown = state.view.len();
    let position = if shown == 0 { 0 } else { state.cursor + 1 };
    spans.push(Span::styled(
        format!("  {} {position}/{shown}", s::STATUS_ROW),
        theme.dim(),
    ));
    if shown != total {
        spans.push(Span::styled(
            format!(" ({} {total})", s::STATUS_FILTERED_FROM),
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_footer(frame: &mut Frame, area: Rect, state: &State, now: Instant, theme: &Theme) {
    if let Some(bar) = &state.filter_bar {
        // Everything in display columns (the input's scroll and cursor are): a wide character
        // takes two, whatever its length in bytes or chars.
        let prompt = Span::styled(format!("{} ", s::FILTER_PROMPT), theme.accent());
        let prompt_width = prompt.width() as u16;
        let width = area.width.saturating_sub(prompt_width + 1) as usize;
        let scroll = bar.input.visual_scroll(width);
        let mut spans = vec![prompt, Span::raw(skip_columns(bar.input.value(), scroll))];
        if let Some(err) = &bar.error {
            spans.push(Span::styled(
                format!("  ✗ {} {err}", s::FILTER_REFUSED),
                theme.bad(),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        if state.dialog.is_none() {
            let x = area.x + prompt_width + bar.input.visual_cursor().saturating_sub(scroll) as u16;
            frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
        }
        return;
    }
    if let Some(toast) = state.toast.as_ref().filter(|t| t.until > now) {
        let (glyph, style) = match toast.level {
            Level::Info => (s::GLYPH_INFO, theme.ok()),
            Level::Warn => (s::GLYPH_WARN, theme.warn()),
            Level::Error => (s::GLYPH_ERROR, theme.bad()),
        };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                format!("{glyph} {}", toast.text),
                style,
            ))),
            area,
        );
        return;
    }
    // The hints name keys through the registry, so they change with it.
    use crate::tui::keys::{Action as A, Context as C};
    let (context, hints): (C, &[(A, &str)]) = match (&state.pager, &state.screen) {
        (Some(_), _) => (
            C::Pager,
            &[
                (A::Back, s::HINT_BACK),
                (A::Down, s::HINT_SCROLL),
                (A::Quit, s::HINT_QUIT),
            ],
        ),
        (None, Screen::Inspect(_)) => (
            C::Inspect,
            &[
                (A::Back, s::HINT_BACK),
                (A::Recover, s::HINT_RECOVER),
                (A::Delete, s::HINT_DELETE),
                (A::Refresh, s::HINT_RELOAD),
                (A::Help, s::HINT_HELP),
                (A::Quit, s::HINT_QUIT),
            ],
        ),
        (None, Screen::Fleet) => (
            C::Fleet,
            &[
                (A::Help, s::HINT_HELP),
                (A::FilterOpen, s::HINT_FILTER),
                (A::FaultsToggle, s::HINT_FAULTS),
                (A::SortNext, s::HINT_SORT),
                (A::Inspect, s::HINT_INSPECT),
                (A::Recover, s::HINT_RECOVER),
                (A::Delete, s::HINT_DELETE),
                (A::Messages, s::HINT_MESSAGES),
                (A::Quit, s::HINT_QUIT),
            ],
        ),
    };
    let mut spans = Vec::new();
    for (action, what) in hints {
        let Some(key) = crate::tui::keys::key_for(context, *action) else {
            continue;
        };
        spans.push(Span::styled(key.label(), theme.key()));
        spans.push(Span::styled(format!(" {what}  "), theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A rectangle of `width` × `height` centred in `area` (clamped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// `text` without its first `columns` display columns (a wide character counts two).
fn skip_columns(text: &str, columns: usize) -> &str {
    let mut skipped = 0;
    for (i, c) in text.char_indices() {
        if skipped >= columns {
            return &text[i..];
        }
        let mut buf = [0u8; 4];
        skipped += Span::raw(&*c.encode_utf8(&mut buf)).width();
    }
    ""
}
