//! The fleet table. Only the rows that fit on the screen are built (building 10k rows per frame
//! costs tens of milliseconds; the visible slice well under one). Columns are dropped by priority
//! when the terminal is narrow; the inspect view always shows every field.

use std::time::Instant;

use control_plane::health::{BackupFreshness, HeartbeatHealth};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::theme::{Theme, freshness_mark, health_mark, status_label};
use crate::strings::tui as s;
use crate::tui::fleet::{FleetRow, fmt_age};
use crate::tui::sort::Column;
use crate::tui::state::{Connection, State};

/// Minimum width of each column.
fn min_width(c: Column) -> u16 {
    match c {
        Column::Handle => 12,
        Column::User => 14,
        Column::Slot => 8,
        Column::Status => 14,
        Column::Heartbeat => 9,
        Column::Backup => 9,
        Column::Image => 10,
        Column::Ip => 15,
        Column::Failure => 20,
        Column::Pending => 15,
    }
}

/// Which columns survive on a narrow screen, most important first.
const PRIORITY: [Column; 10] = [
    Column::Handle,
    Column::Status,
    Column::Heartbeat,
    Column::Backup,
    Column::Pending,
    Column::Slot,
    Column::User,
    Column::Failure,
    Column::Ip,
    Column::Image,
];

pub fn column_title(c: Column) -> &'static str {
    match c {
        Column::Handle => s::COL_HANDLE,
        Column::User => s::COL_USER,
        Column::Slot => s::COL_SLOT,
        Column::Status => s::COL_STATUS,
        Column::Heartbeat => s::COL_HEARTBEAT,
        Column::Backup => s::COL_BACKUP,
        Column::Image => s::COL_IMAGE,
        Column::Ip => s::COL_IP,
        Column::Failure => s::COL_FAILURE,
        Column::Pending => s::COL_PENDING,
    }
}

/// The columns that fit in `width` (in display order) and their widths.
pub fn layout_columns(width: u16) -> Vec<(Column, u16)> {
    const MARKER_AND_GAP: u16 = 2;
    let mut chosen: Vec<Column> = Vec::new();
    let mut used = MARKER_AND_GAP;
    for c in PRIORITY {
        let need = min_width(c) + 1;
        if used + need <= width {
            chosen.push(c);
            used += need;
        }
    }
    let mut cols: Vec<(Column, u16)> = Column::ALL
        .iter()
        .filter(|c| chosen.contains(c))
        .map(|c| (*c, min_width(*c)))
        .collect();
    // Spare width goes to the text columns that can be long.
    let mut spare = width.saturating_sub(used);
    for grow in [Column::Handle, Column::User, Column::Handle, Column::User] {
        if let Some(entry) = cols.iter_mut().find(|(c, _)| *c == grow) {
            let add = spare.min(10);
            entry.1 += add;
            spare -= add;
        }
    }
    cols
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, now: Instant, theme: &Theme) {
    let cols = layout_columns(area.width);
    let header = Row::new(
        std::iter::once(Cell::from(" ")).chain(cols.iter().map(|(c, _)| {
            let mut title = column_title(*c).to_owned();
            if *c == state.sort.column {
                title.push_str(if state.sort.descending {
                    s::SORT_DESC
                } else {
                    s::SORT_ASC
                });
            }
            Cell::from(title)
        })),
    )
    .style(theme.title());
    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(1))
        .chain(cols.iter().map(|(_, w)| Constraint::Length(*w)))
        .collect();

    let visible = usize::from(area.height.saturating_sub(1));
    let Some(snap) = &state.snapshot else {
        let text = match state.connection {
            Connection::Connecting => s::TABLE_LOADING,
            _ => s::TABLE_NO_DATA,
        };
        render_empty(frame, area, header, widths, text, theme);
        return;
    };
    if state.view.is_empty() {
        let text = if snap.rows.is_empty() {
            s::TABLE_EMPTY_FLEET
        } else {
            s::TABLE_NOTHING_MATCHES
        };
        render_empty(frame, area, header, widths, text, theme);
        return;
    }
    // Same rule as the state's scrolling, recomputed here so a resize between updates is safe.
    let mut offset = state.offset.min(state.cursor);
    if visible > 0 && state.cursor >= offset + visible {
        offset = state.cursor + 1 - visible;
    }
    let now_ms = snap.server_now_ms(now);
    let end = (offset + visible).min(state.view.len());
    let rows: Vec<Row> = state.view[offset..end]
        .iter()
        .enumerate()
        .map(|(i, &ri)| {
            let row = &snap.rows[ri as usize];
            let selected = offset + i == state.cursor;
            build_row(row, &cols, state, now_ms, selected, theme)
        })
        .collect();
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}

fn render_empty(
    frame: &mut Frame,
    area: Rect,
    header: Row<'_>,
    widths: Vec<Constraint>,
    text: &str,
    theme: &Theme,
) {
    frame.render_widget(
        Table::new(Vec::<Row>::new(), widths)
            .header(header)
            .column_spacing(1),
        area,
    );
    if area.height > 2 {
        let line = Rect {
            y: area.y + 2,
            height: 1,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(text, theme.dim()))).centered(),
            line,
        );
    }
}

fn age_cell(at: Option<i64>, now_ms: i64, mark: &str, missing: &str) -> String {
    match at {
        Some(at) => {
            let age = fmt_age((now_ms - at) / 1000);
            if mark.is_empty() {
                age
            } else {
                format!("{age} {mark}")
            }
        }
        None if mark.is_empty() => missing.to_owned(),
        None => format!("{missing} {mark}"),
    }
}

fn build_row<'a>(
    row: &'a FleetRow,
    cols: &[(Column, u16)],
    state: &'a State,
    now_ms: i64,
    selected: bool,
    theme: &Theme,
) -> Row<'a> {
    let m = &row.machine;
    let mut cells = Vec::with_capacity(cols.len() + 1);
    cells.push(Cell::from(if selected { s::GLYPH_SELECTED } else { " " }));
    for (c, _) in cols {
        let cell = match c {
            Column::Handle => Cell::from(m.handle.as_str()),
            Column::User => Cell::from(m.clerk_user_id.as_str()),
            Column::Slot => Cell::from(m.runtime_slot.as_str()),
            Column::Status => {
                Cell::from(Span::styled(status_label(m.status), theme.status(m.status)))
            }
            Column::Heartbeat => {
                let h = m.heartbeat.health;
                let missing = if h == HeartbeatHealth::Unknown {
                    s::CELL_NONE
                } else {
                    s::CELL_NEVER
                };
                Cell::from(Span::styled(
                    age_cell(row.hb_at, now_ms, health_mark(h), missing),
                    theme.health(h),
                ))
            }
            Column::Backup => {
                let f = m.backup.freshness;
                let missing = if f == BackupFreshness::Unknown {
                    s::CELL_NONE
                } else {
                    s::CELL_NO_BACKUP
                };
                Cell::from(Span::styled(
                    age_cell(row.backup_at, now_ms, freshness_mark(f), missing),
                    theme.freshness(f),
                ))
            }
            Column::Image => Cell::from(m.image_version.as_str()),
            Column::Ip => Cell::from(
                m.public_ipv4
                    .map(|ip| ip.to_string())
                    .unwrap_or_else(|| s::CELL_NONE.to_owned()),
            ),
            Column::Failure => match m.failure_code {
                Some(code) => Cell::from(Span::styled(code.as_str(), theme.bad())),
                None => Cell::from(""),
            },
            Column::Pending => match state.in_flight_marker(&m.machine_id) {
                Some(marker) => Cell::from(Span::styled(marker, theme.warn())),
                None => Cell::from(m.pending_action.as_deref().unwrap_or("")),
            },
        };
        cells.push(cell);
    }
    let r = Row::new(cells);
    if selected {
        r.style(theme.selected())
    } else {
        r.style(Style::new())
    }
}
