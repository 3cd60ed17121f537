//! Full-screen text: the `?` help (generated from the key registry, plus the filter language and
//! where the log file is) and the messages screen (every action outcome and connection change).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::strings::tui as s;
use crate::tui::fleet::fmt_age;
use crate::tui::keys::{self, HELP_GROUPS};
use crate::tui::state::{Level, Pager, PagerKind, State};

pub fn render(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    pager: Pager,
    now: Instant,
    theme: &Theme,
) {
    let (title, lines) = match pager.kind {
        PagerKind::Help => {
            let (mut keys, reference) = help_lines(state, theme);
            if area.width >= TWO_COLUMNS_FROM {
                let [left, right] =
                    Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area);
                let a = render_lines(frame, left, s::HELP_TITLE, keys, pager.scroll);
                let b = render_lines(
                    frame,
                    right,
                    s::HELP_REFERENCE_TITLE,
                    reference,
                    pager.scroll,
                );
                state.scroll_max.set(Some(a.max(b)));
                return;
            }
            keys.extend(reference);
            (s::HELP_TITLE, keys)
        }
        PagerKind::Messages => (s::MESSAGES_TITLE, message_lines(state, now, theme)),
    };
    let max = render_lines(frame, area, title, lines, pager.scroll);
    state.scroll_max.set(Some(max));
}

/// Wide enough for the help's keys and reference side by side.
const TWO_COLUMNS_FROM: u16 = 140;

fn render_lines(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'_>>,
    scroll: u16,
) -> u16 {
    // Never scroll past the end; the largest scroll goes back to the state for `update` to clamp.
    let inner_height = area.height.saturating_sub(2) as usize;
    let max_scroll = lines.len().saturating_sub(inner_height) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(format!(" {title} ")))
            .wrap(Wrap { trim: false })
            .scroll((scroll.min(max_scroll), 0)),
        area,
    );
    max_scroll
}

/// The help text: the keys, generated from [`keys::BINDINGS`], and the reference (filter
/// language, marks).
pub fn help_lines(state: &State, theme: &Theme) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let mut lines = Vec::new();
    let log = state
        .log_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| s::HELP_NO_LOG_FILE.to_owned());
    lines.push(Line::from(vec![
        Span::styled(format!("{} ", s::HELP_LOG_FILE), theme.title()),
        Span::raw(log),
    ]));
    if state.read_only {
        lines.push(Line::styled(s::HELP_READ_ONLY, theme.warn()));
    }
    lines.push(Line::raw(""));
    for group in HELP_GROUPS {
        let bindings: Vec<_> = keys::bindings_of(group).collect();
        if bindings.is_empty() {
            continue;
        }
        lines.push(Line::styled(group.title(), theme.title()));
        for b in bindings {
            let keys = b
                .keys
                .iter()
                .map(|k| k.label())
                .collect::<Vec<_>>()
                .join(" / ");
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<24} "), theme.key()),
                Span::raw(b.help),
            ]));
        }
        lines.push(Line::raw(""));
    }
    (lines, reference_lines(theme))
}

/// The filter language and the marks: the right half of the help on wide screens.
fn reference_lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    lines.push(Line::styled(s::HELP_FILTER_TITLE, theme.title()));
    for (syntax, meaning) in s::HELP_FILTER_LANGUAGE {
        lines.push(Line::from(vec![
            Span::styled(format!("  {syntax:<28}"), theme.accent()),
            Span::raw(*meaning),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(s::HELP_MARKS_TITLE, theme.title()));
    for (mark, meaning) in s::HELP_MARKS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {mark:<28}"), theme.accent()),
            Span::raw(*meaning),
        ]));
    }
    lines
}

fn message_lines<'a>(state: &'a State, now: Instant, theme: &Theme) -> Vec<Line<'a>> {
    if state.log.is_empty() {
        return vec![Line::styled(s::MESSAGES_EMPTY, theme.dim())];
    }
    state
        .log
        .iter()
        .rev()
        .map(|e| {
            let (glyph, style) = match e.level {
                Level::Info => (s::GLYPH_INFO, theme.ok()),
                Level::Warn => (s::GLYPH_WARN, theme.warn()),
                Level::Error => (s::GLYPH_ERROR, theme.bad()),
            };
            let age = fmt_age(now.saturating_duration_since(e.at).as_secs() as i64);
            Line::from(vec![
                Span::styled(format!("{age:>7} {} ", s::AGO), theme.dim()),
                Span::styled(format!("{glyph} "), style),
                Span::raw(e.text.as_str()),
            ])
        })
        .collect()
}
