//! Styles, with and without colour. Without colour (`NO_COLOR`) every style keeps its modifiers
//! (bold, reversed) and drops its colours; the glyphs and words next to each value carry the
//! meaning either way.

use control_plane::health::{BackupFreshness, HeartbeatHealth};
use control_plane::status::MachineStatus;
use ratatui::style::{Color, Modifier, Style};

use crate::strings::tui as s;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn dim(&self) -> Style {
        self.fg(Color::DarkGray)
    }
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    /// The stale-data banner and the loud warnings of dialogs.
    pub fn alarm(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }

    pub fn status(&self, st: MachineStatus) -> Style {
        match st {
            MachineStatus::Running => self.ok(),
            MachineStatus::Failed => self.bad(),
            MachineStatus::Recovering => self.warn(),
            MachineStatus::Provisioning => self.accent(),
            MachineStatus::Deleted => self.dim(),
        }
    }

    pub fn health(&self, h: HeartbeatHealth) -> Style {
        match h {
            HeartbeatHealth::Ok => self.ok(),
            HeartbeatHealth::Late => self.warn(),
            HeartbeatHealth::Unreachable => self.bad(),
            HeartbeatHealth::Unknown => self.dim(),
        }
    }

    pub fn freshness(&self, f: BackupFreshness) -> Style {
        match f {
            BackupFreshness::Fresh => self.ok(),
            BackupFreshness::Aging => Style::new(),
            BackupFreshness::Stale => self.warn(),
            BackupFreshness::Critical => self.bad(),
            BackupFreshness::Unknown => self.dim(),
        }
    }
}

/// A status as glyph and word: never colour alone.
pub fn status_label(st: MachineStatus) -> String {
    let glyph = match st {
        MachineStatus::Running => s::GLYPH_RUNNING,
        MachineStatus::Failed => s::GLYPH_FAILED,
        MachineStatus::Recovering => s::GLYPH_RECOVERING,
        MachineStatus::Provisioning => s::GLYPH_PROVISIONING,
        MachineStatus::Deleted => s::GLYPH_DELETED,
    };
    format!("{glyph} {}", st.as_str())
}

/// The mark appended to a heartbeat age.
pub fn health_mark(h: HeartbeatHealth) -> &'static str {
    match h {
        HeartbeatHealth::Ok | HeartbeatHealth::Unknown => "",
        HeartbeatHealth::Late => s::MARK_LATE,
        HeartbeatHealth::Unreachable => s::MARK_UNREACHABLE,
    }
}

/// The mark appended to a backup age.
pub fn freshness_mark(f: BackupFreshness) -> &'static str {
    match f {
        BackupFreshness::Fresh | BackupFreshness::Unknown => "",
        BackupFreshness::Aging => s::MARK_AGING,
        BackupFreshness::Stale => s::MARK_STALE,
        BackupFreshness::Critical => s::MARK_CRITICAL,
    }
}
