//! Confirmation dialogs, drawn over the body. Every dialog names the machine (handle, user, slot),
//! shows Cancel focused until the operator moves focus, and marks the focused button with a glyph
//! as well as reverse video.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::centered;
use super::theme::Theme;
use crate::strings::tui as s;
use crate::tui::fleet::{fmt_age, fmt_bytes};
use crate::tui::state::{Dialog, DialogKind, Focus, State};

pub fn render(
    frame: &mut Frame,
    body: Rect,
    state: &State,
    dialog: &Dialog,
    now: Instant,
    theme: &Theme,
) {
    let t = &dialog.target;
    let mut lines: Vec<Line> = vec![
        Line::from(vec![
            Span::raw(format!("{} ", s::DIALOG_MACHINE)),
            Span::styled(t.handle.to_string(), theme.title()),
            Span::raw(format!(
                " · {} {} · {} {}",
                s::DIALOG_USER,
                t.user,
                s::DIALOG_SLOT,
                t.slot
            )),
        ]),
        Line::styled(
            format!("{} {}", s::DIALOG_MACHINE_ID, t.machine_id),
            theme.dim(),
        ),
        Line::raw(""),
    ];
    let (title, confirm_label, input) = match &dialog.kind {
        DialogKind::Recover { backup, no_backup } => {
            let now_ms = state.snapshot.as_ref().map(|snap| snap.server_now_ms(now));
            if *no_backup {
                lines.push(Line::styled(
                    format!("{} ", s::WARN_NO_BACKUP),
                    theme.alarm(),
                ));
                lines.push(Line::raw(s::WARN_NO_BACKUP_DETAIL));
                if let Some(p) = &backup.problem {
                    lines.push(Line::raw(format!("{} {p}", s::DIALOG_PROBLEM)));
                }
            } else if backup.key.is_none() {
                // Never checked: a normal recover; the platform checks and refuses (409) if empty.
                lines.push(Line::styled(
                    format!("{} ", s::WARN_UNVERIFIED_BACKUP),
                    theme.alarm(),
                ));
                lines.push(Line::raw(s::WARN_UNVERIFIED_BACKUP_DETAIL));
            } else {
                let age = match (backup.snapshot_at, now_ms) {
                    (Some(at), Some(now)) => fmt_age((now - at.timestamp_millis()) / 1000),
                    _ => s::CELL_NONE.to_owned(),
                };
                lines.push(Line::raw(s::DIALOG_RESTORES_FROM));
                lines.push(Line::raw(format!(
                    "  {} {}",
                    s::DIALOG_KEY,
                    backup.key.as_deref().unwrap_or(s::CELL_NONE)
                )));
                lines.push(Line::raw(format!(
                    "  {} {age} {} ({}){}",
                    s::DIALOG_TAKEN,
                    s::AGO,
                    backup.freshness.as_str(),
                    backup
                        .size_bytes
                        .map(|b| format!(", {}", fmt_bytes(b)))
                        .unwrap_or_default()
                )));
                let old = matches!(
                    backup.freshness,
                    control_plane::health::BackupFreshness::Stale
                        | control_plane::health::BackupFreshness::Critical
                ) || backup.problem.is_some();
                if old {
                    lines.push(Line::raw(""));
                    lines.push(Line::styled(
                        format!(
                            "{} {} {age} {} ",
                            s::WARN_OLD_BACKUP,
                            backup.freshness.as_str().to_uppercase(),
                            s::AGO
                        ),
                        theme.alarm(),
                    ));
                    lines.push(Line::raw(s::WARN_OLD_BACKUP_DETAIL));
                }
            }
            lines.push(Line::raw(""));
            lines.push(Line::raw(s::DIALOG_RECOVER_EXPLAIN));
            let confirm = if *no_backup {
                s::BUTTON_CONTINUE
            } else {
                s::BUTTON_RECOVER
            };
            (s::DIALOG_RECOVER_TITLE, confirm, None)
        }
        DialogKind::RecoverEmpty { input } => {
            lines.push(Line::styled(
                format!("{} ", s::WARN_EMPTY_STEP),
                theme.alarm(),
            ));
            lines.push(Line::raw(s::WARN_EMPTY_STEP_DETAIL));
            lines.push(Line::raw(""));
            lines.push(Line::raw(format!(
                "{} `{}`:",
                s::DIALOG_TYPE_WORD,
                s::EMPTY_CONFIRM_WORD
            )));
            (
                s::DIALOG_RECOVER_EMPTY_TITLE,
                s::BUTTON_RECOVER_EMPTY,
                Some(input),
            )
        }
        DialogKind::Delete { input } => {
            lines.push(Line::raw(s::DIALOG_DELETE_EXPLAIN));
            lines.push(Line::raw(""));
            lines.push(Line::raw(format!(
                "{} `{}`:",
                s::DIALOG_TYPE_HANDLE,
                t.handle
            )));
            (s::DIALOG_DELETE_TITLE, s::BUTTON_DELETE, Some(input))
        }
    };
    let mut input_row = None;
    if let Some(input) = input {
        input_row = Some(lines.len());
        lines.push(Line::styled(format!("> {}", input.value()), theme.accent()));
    }
    if let Some(err) = &dialog.error {
        lines.push(Line::styled(
            format!("{} {err}", s::GLYPH_ERROR),
            theme.bad(),
        ));
    }
    lines.push(Line::raw(""));
    let button = |label: &str, focused: bool| {
        if focused {
            Span::styled(format!("▸[ {label} ]"), theme.selected())
        } else {
            Span::raw(format!(" [ {label} ]"))
        }
    };
    lines.push(Line::from(vec![
        button(s::BUTTON_CANCEL, dialog.focus == Focus::Cancel),
        Span::raw("   "),
        button(confirm_label, dialog.focus == Focus::Confirm),
    ]));
    lines.push(Line::styled(s::DIALOG_KEYS, theme.dim()));

    let width = body.width.saturating_sub(4).min(76);
    let height = (lines.len() as u16 + 2).min(body.height);
    let area = centered(body, width, height);
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(format!(" {title} "));
    let inner = block.inner(area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
    if let (Some(row), Some(input)) = (input_row, input) {
        let x = inner.x + 2 + input.visual_cursor() as u16;
        let y = inner.y + row as u16;
        if y < inner.bottom() {
            frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), y));
        }
    }
}
