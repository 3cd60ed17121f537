//! Shared helpers: a state loaded with the fixture fleet at a fixed instant, key scripts, and
//! rendering to text (layout) or to the buffer's debug form (styles).

use std::time::{Duration, Instant};

use control_plane::api::types::FleetResponse;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use matrix_console::tui::fixture;
use matrix_console::tui::fleet::FleetSnapshot;
use matrix_console::tui::state::{Effect, Msg, State, update};
use matrix_console::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub const LOG_FILE: &str = "/var/log/matrix-console/console.log";

/// A clock for one test: `at(secs)` is `secs` after the fleet arrived.
#[derive(Clone, Copy)]
pub struct Clock(pub Instant);

impl Clock {
    pub fn new() -> Self {
        Self(Instant::now())
    }
    pub fn at(&self, secs: u64) -> Instant {
        self.0 + Duration::from_secs(secs)
    }
}

/// A state sized for `height` rows with `fleet` loaded at `clock.at(0)`.
pub fn loaded(fleet: FleetResponse, clock: Clock, read_only: bool, height: u16) -> State {
    let mut state = State::new(read_only, true, Some(LOG_FILE.into()));
    update(&mut state, Msg::Resize { width: 200, height }, clock.at(0));
    let effects = update(
        &mut state,
        Msg::FleetLoaded(Box::new(FleetSnapshot::new(fleet, clock.at(0)))),
        clock.at(0),
    );
    assert!(effects.is_empty());
    state
}

/// The small fixture fleet, 50 rows high.
pub fn small(clock: Clock) -> State {
    loaded(fixture::small(), clock, false, 50)
}

/// Parses a key script: plain characters, and `<Enter>`, `<Esc>`, `<Tab>`, `<Up>`, `<Down>`,
/// `<Left>`, `<Right>`, `<Backspace>`, `<C-c>`.
pub fn keys(script: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '<' && chars.peek().is_some_and(|n| n.is_ascii_uppercase()) {
            let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
            let ev = match name.as_str() {
                "Enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
                "Esc" => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
                "Tab" => KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE),
                "Up" => KeyEvent::new(KeyCode::Up, KeyModifiers::NONE),
                "Down" => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
                "Left" => KeyEvent::new(KeyCode::Left, KeyModifiers::NONE),
                "Right" => KeyEvent::new(KeyCode::Right, KeyModifiers::NONE),
                "Backspace" => KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
                "C-c" => KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
                other => panic!("unknown key <{other}>"),
            };
            out.push(ev);
        } else {
            let mods = if c.is_ascii_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            out.push(KeyEvent::new(KeyCode::Char(c), mods));
        }
    }
    out
}

/// Feeds a key script at `now`, returning every effect emitted.
pub fn press(state: &mut State, script: &str, now: Instant) -> Vec<Effect> {
    keys(script)
        .into_iter()
        .flat_map(|k| update(state, Msg::Key(k), now))
        .collect()
}

/// Moves the selection to the row whose handle and slot are given (by key presses).
pub fn select(state: &mut State, handle: &str, slot: &str, now: Instant) {
    press(state, "g", now);
    for _ in 0..state.view.len() {
        let row = state.selected_row().expect("a selection");
        if row.machine.handle.as_str() == handle && row.machine.runtime_slot.as_str() == slot {
            return;
        }
        press(state, "j", now);
    }
    panic!("{handle}/{slot} is not in the view");
}

fn terminal(state: &State, width: u16, height: u16, now: Instant) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| view::render(frame, state, now))
        .unwrap();
    terminal
}

/// The screen as text, one quoted line per row.
pub fn screen(state: &State, width: u16, height: u16, now: Instant) -> String {
    terminal(state, width, height, now).backend().to_string()
}

/// The screen's buffer with its styles.
pub fn styled(state: &State, width: u16, height: u16, now: Instant) -> String {
    format!(
        "{:?}",
        terminal(state, width, height, now).backend().buffer()
    )
}

/// Snapshots in `tests/snapshots/`, named without the module prefix.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

/// Snapshots the screen at 80×24 and 200×50 (`<name>_80x24`, `<name>_200x50`). The state's
/// viewport is resized to each size first, as the runtime would.
pub fn snap_both(name: &str, state: &mut State, now: Instant) {
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        update(
            state,
            Msg::Resize {
                width: w,
                height: h,
            },
            now,
        );
        let text = screen(state, w, h, now);
        settings().bind(|| insta::assert_snapshot!(format!("{name}_{w}x{h}"), text));
    }
}
