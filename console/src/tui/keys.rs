//! The key registry: one table of (key, context, action, help text). [`dispatch`] reads it to turn a
//! key press into an [`Action`], and the `?` screen is generated from it, so the help can never
//! disagree with what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::strings::tui as s;

/// Where the operator is; decides which bindings apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere, even while typing.
    Always,
    /// Every screen without a text field.
    Global,
    Fleet,
    Inspect,
    /// The help and messages screens.
    Pager,
    /// Typing a filter.
    Filter,
    /// A confirmation dialog (its text field, if any, gets the other keys).
    Dialog,
}

impl Context {
    /// Contexts whose unbound keys are typed into a text field.
    pub fn is_text(self) -> bool {
        matches!(self, Context::Filter | Context::Dialog)
    }

    pub fn title(self) -> &'static str {
        match self {
            Context::Always | Context::Global => s::CTX_GLOBAL,
            Context::Fleet => s::CTX_FLEET,
            Context::Inspect => s::CTX_INSPECT,
            Context::Pager => s::CTX_PAGER,
            Context::Filter => s::CTX_FILTER,
            Context::Dialog => s::CTX_DIALOG,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Messages,
    Back,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    FilterOpen,
    FilterClear,
    FaultsToggle,
    SortNext,
    SortPrev,
    SortReverse,
    Inspect,
    Refresh,
    Recover,
    Delete,
    FilterApply,
    FilterCancel,
    DialogFocusNext,
    DialogActivate,
    DialogCancel,
}

/// A key: code plus the modifiers that matter (Shift is folded into the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Self {
        Self { code, ctrl: false }
    }
    pub const fn ch(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }
    pub const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            ctrl: true,
        }
    }

    pub fn from_event(ev: &KeyEvent) -> Option<Self> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        // Shift is already in the character (`S`, `?`); Shift+Tab arrives as BackTab.
        Some(Self {
            code: ev.code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
        })
    }

    /// How the key is written in the help screen.
    pub fn label(self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => s::KEY_SPACE.to_owned(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => s::KEY_ENTER.to_owned(),
            KeyCode::Esc => s::KEY_ESC.to_owned(),
            KeyCode::Tab => s::KEY_TAB.to_owned(),
            KeyCode::BackTab => s::KEY_BACKTAB.to_owned(),
            KeyCode::Up => "↑".to_owned(),
            KeyCode::Down => "↓".to_owned(),
            KeyCode::Left => "←".to_owned(),
            KeyCode::Right => "→".to_owned(),
            KeyCode::PageUp => s::KEY_PAGE_UP.to_owned(),
            KeyCode::PageDown => s::KEY_PAGE_DOWN.to_owned(),
            KeyCode::Home => s::KEY_HOME.to_owned(),
            KeyCode::End => s::KEY_END.to_owned(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("{}{base}", s::KEY_CTRL)
        } else {
            base
        }
    }
}

/// One row of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub context: Context,
    pub action: Action,
    pub help: &'static str,
}

use Action as A;
use Context as C;

/// Every binding of the console. Order matters only for the help screen.
pub static BINDINGS: &[Binding] = &[
    Binding {
        keys: &[Key::ctrl('c')],
        context: C::Always,
        action: A::Quit,
        help: s::HELP_QUIT_NOW,
    },
    Binding {
        keys: &[Key::ch('q')],
        context: C::Global,
        action: A::Quit,
        help: s::HELP_QUIT,
    },
    Binding {
        keys: &[Key::ch('?')],
        context: C::Global,
        action: A::Help,
        help: s::HELP_HELP,
    },
    Binding {
        keys: &[Key::ch('m')],
        context: C::Global,
        action: A::Messages,
        help: s::HELP_MESSAGES,
    },
    Binding {
        keys: &[Key::ch('R'), Key::plain(KeyCode::F(5))],
        context: C::Global,
        action: A::Refresh,
        help: s::HELP_REFRESH,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Up), Key::ch('k')],
        context: C::Global,
        action: A::Up,
        help: s::HELP_UP,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Down), Key::ch('j')],
        context: C::Global,
        action: A::Down,
        help: s::HELP_DOWN,
    },
    Binding {
        keys: &[Key::plain(KeyCode::PageUp), Key::ctrl('b')],
        context: C::Global,
        action: A::PageUp,
        help: s::HELP_PAGE_UP,
    },
    Binding {
        keys: &[Key::plain(KeyCode::PageDown), Key::ctrl('f')],
        context: C::Global,
        action: A::PageDown,
        help: s::HELP_PAGE_DOWN,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Home), Key::ch('g')],
        context: C::Global,
        action: A::Top,
        help: s::HELP_TOP,
    },
    Binding {
        keys: &[Key::plain(KeyCode::End), Key::ch('G')],
        context: C::Global,
        action: A::Bottom,
        help: s::HELP_BOTTOM,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        context: C::Global,
        action: A::Back,
        help: s::HELP_BACK,
    },
    Binding {
        keys: &[Key::ch('/')],
        context: C::Fleet,
        action: A::FilterOpen,
        help: s::HELP_FILTER,
    },
    Binding {
        keys: &[Key::ch('c')],
        context: C::Fleet,
        action: A::FilterClear,
        help: s::HELP_FILTER_CLEAR,
    },
    Binding {
        keys: &[Key::ch('f')],
        context: C::Fleet,
        action: A::FaultsToggle,
        help: s::HELP_FAULTS,
    },
    Binding {
        keys: &[Key::ch('s'), Key::plain(KeyCode::Right)],
        context: C::Fleet,
        action: A::SortNext,
        help: s::HELP_SORT_NEXT,
    },
    Binding {
        keys: &[Key::ch('S'), Key::plain(KeyCode::Left)],
        context: C::Fleet,
        action: A::SortPrev,
        help: s::HELP_SORT_PREV,
    },
    Binding {
        keys: &[Key::ch('o')],
        context: C::Fleet,
        action: A::SortReverse,
        help: s::HELP_SORT_REVERSE,
    },
    Binding {
        keys: &[Key::ch('i'), Key::plain(KeyCode::Enter)],
        context: C::Fleet,
        action: A::Inspect,
        help: s::HELP_INSPECT,
    },
    Binding {
        keys: &[Key::ch('r')],
        context: C::Fleet,
        action: A::Recover,
        help: s::HELP_RECOVER,
    },
    Binding {
        keys: &[Key::ch('d')],
        context: C::Fleet,
        action: A::Delete,
        help: s::HELP_DELETE,
    },
    Binding {
        keys: &[Key::ch('r')],
        context: C::Inspect,
        action: A::Recover,
        help: s::HELP_RECOVER,
    },
    Binding {
        keys: &[Key::ch('d')],
        context: C::Inspect,
        action: A::Delete,
        help: s::HELP_DELETE,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Enter)],
        context: C::Filter,
        action: A::FilterApply,
        help: s::HELP_FILTER_APPLY,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        context: C::Filter,
        action: A::FilterCancel,
        help: s::HELP_FILTER_CANCEL,
    },
    Binding {
        keys: &[
            Key::plain(KeyCode::Tab),
            Key::plain(KeyCode::BackTab),
            Key::plain(KeyCode::Left),
            Key::plain(KeyCode::Right),
        ],
        context: C::Dialog,
        action: A::DialogFocusNext,
        help: s::HELP_DIALOG_FOCUS,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Enter)],
        context: C::Dialog,
        action: A::DialogActivate,
        help: s::HELP_DIALOG_ACTIVATE,
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        context: C::Dialog,
        action: A::DialogCancel,
        help: s::HELP_DIALOG_CANCEL,
    },
];

/// The action bound to `key` in `context`: the context's own bindings first, then the global ones
/// (not while typing), then the ones that work everywhere.
pub fn dispatch(context: Context, key: Key) -> Option<Action> {
    let find = |ctx: Context| {
        BINDINGS
            .iter()
            .find(|b| b.context == ctx && b.keys.contains(&key))
            .map(|b| b.action)
    };
    find(Context::Always).or_else(|| find(context)).or_else(|| {
        (!context.is_text())
            .then(|| find(Context::Global))
            .flatten()
    })
}

/// The first key that triggers `action` in `context` (as [`dispatch`] would find it), for hints.
pub fn key_for(context: Context, action: Action) -> Option<Key> {
    [context, Context::Global, Context::Always]
        .into_iter()
        .filter(|ctx| *ctx == context || *ctx == Context::Always || !context.is_text())
        .find_map(|ctx| {
            BINDINGS
                .iter()
                .find(|b| b.context == ctx && b.action == action)
                .and_then(|b| b.keys.first().copied())
        })
}

/// The help screen's groups, in display order.
pub const HELP_GROUPS: [Context; 6] = [
    Context::Global,
    Context::Fleet,
    Context::Inspect,
    Context::Filter,
    Context::Dialog,
    Context::Pager,
];

/// The bindings shown under `group` (the `Always` ones are listed with the global ones).
pub fn bindings_of(group: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| {
        b.context == group || (group == Context::Global && b.context == Context::Always)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reachable_from_the_fleet_is_in_the_registry() {
        assert_eq!(dispatch(C::Fleet, Key::ch('r')), Some(A::Recover));
        assert_eq!(dispatch(C::Fleet, Key::ch('q')), Some(A::Quit));
        assert_eq!(dispatch(C::Fleet, Key::ch('x')), None);
    }

    #[test]
    fn typing_contexts_do_not_see_global_letters_but_ctrl_c_always_quits() {
        assert_eq!(dispatch(C::Filter, Key::ch('q')), None);
        assert_eq!(dispatch(C::Dialog, Key::ch('r')), None);
        assert_eq!(dispatch(C::Dialog, Key::ctrl('c')), Some(A::Quit));
        assert_eq!(
            dispatch(C::Filter, Key::plain(KeyCode::Esc)),
            Some(A::FilterCancel)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.context == b.context {
                    for k in a.keys {
                        assert!(!b.keys.contains(k), "{k:?} bound twice in {:?}", a.context);
                    }
                }
            }
        }
    }

    #[test]
    fn every_binding_appears_in_a_help_group() {
        for b in BINDINGS {
            assert!(
                HELP_GROUPS
                    .iter()
                    .any(|g| bindings_of(*g).any(|x| std::ptr::eq(x, b))),
                "{:?} missing from help",
                b.action
            );
        }
    }
}
