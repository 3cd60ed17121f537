//! The console's whole state and the one function that changes it.
//!
//! Flow: the runtime turns terminal events, timer ticks and the background tasks' answers into
//! [`Msg`]s and calls [`update`]`(state, msg, now)`. `update` is pure: it reads no clock (the caller
//! passes `now`), does no I/O, and returns the [`Effect`]s it wants performed (refresh now, load an
//! inspect view, run an action). The runtime performs them and feeds their results back as
//! messages. Tests drive the same function with scripted keys and assert the effects.
//!
//! Guarantees:
//! - read-only mode and "one action per machine" are enforced in [`State::authorize`], the only
//!   path from an action intent to an [`Effect::Run`] (the executor checks read-only again);
//! - the selection follows the machine id across refreshes, filters and sorts (then the user and
//!   slot, since a recovery gives the row a new id), and otherwise stays at the same index, clamped;
//! - the last good fleet is never cleared by a failed refresh.

use std::cell::Cell;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use control_plane::api::types::{
    BackupView, DeleteResponse, EventsResponse, MachineStatusResponse, RecoverResponse,
    RouteResponse,
};
use control_plane::ids::{ClerkUserId, Handle, MachineId, RuntimeSlot};
use control_plane::status::MachineStatus;
use crossterm::event::{Event, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use crate::client::ClientError;
use crate::strings::tui as s;
use crate::tui::filter::Filter;
use crate::tui::fleet::{FleetRow, FleetSnapshot, Pulse, machine_has_no_backup};
use crate::tui::keys::{self, Action, Context, Key};
use crate::tui::sort::{self, SortSpec};

/// How long a transient message stays in the footer.
pub const TOAST_FOR: Duration = Duration::from_secs(6);
/// How many entries the messages screen keeps (oldest dropped first).
pub const LOG_CAPACITY: usize = 1000;
/// Rows of the fleet screen that are not table rows: 4 header lines, the table's column titles,
/// the filter/sort line and the footer.
pub const FLEET_CHROME_ROWS: u16 = 7;
/// How long an action the platform accepted keeps its machine locked when no refresh shows it
/// pending or settled (the platform still refuses a duplicate with 409 after that).
pub const SETTLE_FOR: Duration = Duration::from_secs(30);
/// How many events the inspect view asks for.
pub const INSPECT_EVENTS: u32 = 200;

/// What the runtime feeds into [`update`].
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// Once a second: ages moved.
    Tick,
    FleetLoaded(Box<FleetSnapshot>),
    FleetFailed {
        error: ClientError,
        /// Consecutive failures so far.
        attempt: u32,
        /// When the refresher tries again.
        retry_in: Duration,
    },
    Inspect {
        machine_id: MachineId,
        part: InspectPart,
    },
    ActionDone {
        id: u64,
        outcome: Result<ActionSuccess, ActionFailure>,
    },
}

#[derive(Debug)]
pub enum InspectPart {
    Status(Result<Box<MachineStatusResponse>, ClientError>),
    Events(Result<EventsResponse, ClientError>),
    Route(Result<RouteResponse, ClientError>),
}

#[derive(Debug, Clone)]
pub enum ActionSuccess {
    Recovered(RecoverResponse),
    Deleted(DeleteResponse),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFailure {
    /// The executor's own read-only check refused it (the state should already have).
    ReadOnly,
    Client(ClientError),
}

/// What [`update`] asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Refresh the fleet now instead of at the next interval.
    RefreshNow,
    LoadInspect {
        machine_id: MachineId,
        user: ClerkUserId,
        slot: RuntimeSlot,
    },
    Run(ActionRequest),
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    /// Matches the [`Msg::ActionDone`] that reports the outcome.
    pub id: u64,
    pub kind: ActionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    Recover {
        machine_id: MachineId,
        handle: Handle,
        user: ClerkUserId,
        slot: RuntimeSlot,
        allow_empty: bool,
    },
    Delete {
        machine_id: MachineId,
        handle: Handle,
    },
}

impl ActionKind {
    pub fn machine_id(&self) -> MachineId {
        match self {
            ActionKind::Recover { machine_id, .. } | ActionKind::Delete { machine_id, .. } => {
                *machine_id
            }
        }
    }
}

/// The machine an action or view is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub machine_id: MachineId,
    pub handle: Handle,
    pub user: ClerkUserId,
    pub slot: RuntimeSlot,
}

impl Target {
    pub fn of(m: &MachineStatusResponse) -> Self {
        Self {
            machine_id: m.machine_id,
            handle: m.handle.clone(),
            user: m.clerk_user_id.clone(),
            slot: m.runtime_slot.clone(),
        }
    }
}

/// An action the console sent and has no answer for yet.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub id: u64,
    pub target: Target,
    pub recover: bool,
    pub allow_empty: bool,
}

/// An action the platform accepted (or whose outcome is unknown) that no fleet snapshot shows yet:
/// the machine stays locked, as if the action were still in flight.
#[derive(Debug, Clone)]
pub struct Settling {
    pub target: Target,
    pub recover: bool,
    /// The replacement's machine id, when a recovery was accepted.
    pub new_machine_id: Option<MachineId>,
    /// When the outcome arrived: only snapshots received after it count.
    pub since: Instant,
}

impl Settling {
    fn matches(&self, target: &Target) -> bool {
        self.target.machine_id == target.machine_id
            || self.new_machine_id == Some(target.machine_id)
            || (self.target.user == target.user && self.target.slot == target.slot)
    }

    /// True when `snap` (received after the outcome) shows the action pending or done.
    fn seen_in(&self, snap: &FleetSnapshot) -> bool {
        if snap.received_at <= self.since {
            return false;
        }
        let mut rows =
            snap.rows.iter().map(|r| &r.machine).filter(|m| {
                m.clerk_user_id == self.target.user && m.runtime_slot == self.target.slot
            });
        if self.recover {
            rows.any(|m| {
                m.pending_action.is_some()
                    || m.status == MachineStatus::Recovering
                    || m.machine_id != self.target.machine_id
            })
        } else {
            let row = snap
                .rows
                .iter()
                .find(|r| r.machine.machine_id == self.target.machine_id);
            row.is_none_or(|r| {
                r.machine.pending_action.is_some() || r.machine.status == MachineStatus::Deleted
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Recover { allow_empty: bool },
    Delete,
}

/// Why an action was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    ReadOnly,
    InFlight,
    PlatformBusy(String),
    NoSelection,
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::ReadOnly => s::REFUSED_READ_ONLY.to_owned(),
            Refusal::InFlight => s::REFUSED_IN_FLIGHT.to_owned(),
            Refusal::PlatformBusy(what) => format!("{} ({what})", s::REFUSED_PLATFORM_BUSY),
            Refusal::NoSelection => s::REFUSED_NO_SELECTION.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loadable<T> {
    Loading,
    Loaded(T),
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct InspectView {
    pub target: Target,
    pub status: Loadable<MachineStatusResponse>,
    /// Why the last status reload failed, while an older copy is still shown.
    pub status_error: Option<String>,
    pub events: Loadable<EventsResponse>,
    pub route: Loadable<RouteResponse>,
    pub scroll: u16,
}

#[derive(Debug, Clone)]
pub enum Screen {
    Fleet,
    Inspect(Box<InspectView>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagerKind {
    Help,
    Messages,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pager {
    pub kind: PagerKind,
    pub scroll: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Cancel,
    Confirm,
}

#[derive(Debug, Clone)]
pub enum DialogKind {
    /// Step one of a recovery: what will be restored, with a loud warning when the backup is old
    /// or missing. With no backup, confirming leads to [`DialogKind::RecoverEmpty`].
    Recover { backup: BackupView, no_backup: bool },
    /// Step two of a recovery without a backup: the operator types [`s::EMPTY_CONFIRM_WORD`].
    RecoverEmpty { input: Input },
    /// Deletion: the operator types the handle.
    Delete { input: Input },
}

#[derive(Debug, Clone)]
pub struct Dialog {
    pub target: Target,
    pub kind: DialogKind,
    /// Cancel when the dialog opens.
    pub focus: Focus,
    /// Why the last confirm did nothing (wrong text typed).
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FilterBar {
    pub input: Input,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub at: Instant,
    pub level: Level,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Toast {
    pub level: Level,
    pub text: String,
    pub until: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownKind {
    /// No answer at all.
    Unreachable,
    /// An answer, but an error (refused token, 5xx): the data is stale.
    Erroring,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// No answer yet since start.
    Connecting,
    Live,
    Down {
        kind: DownKind,
        error: String,
        attempt: u32,
        retry_at: Instant,
    },
}

/// Everything the screens show. Owned by one task; see the module docs.
#[derive(Debug)]
pub struct State {
    pub read_only: bool,
    /// False when `NO_COLOR` is set: glyphs and words still carry every signal.
    pub color: bool,
    pub log_file: Option<PathBuf>,
    pub snapshot: Option<FleetSnapshot>,
    pub pulse: Pulse,
    pub connection: Connection,
    /// When the last successful refresh arrived.
    pub last_ok: Option<Instant>,
    /// Indices into `snapshot.rows` that pass the filter, in sort order. Recomputed only when the
    /// data, the filter, the sort or (for age filters) the time changes, never per frame.
    pub view: Vec<u32>,
    /// Position of the selection in `view`.
    pub cursor: usize,
    /// First visible position in `view` (kept so the cursor stays visible).
    pub offset: usize,
    /// The selected machine (pinned across refreshes, filters and sorts).
    pub selected: Option<Target>,
    /// Table rows that fit on the screen (from the last resize).
    pub viewport_rows: usize,
    pub filter: Filter,
    pub filter_bar: Option<FilterBar>,
    pub faults_only: bool,
    pub sort: SortSpec,
    pub screen: Screen,
    pub pager: Option<Pager>,
    pub dialog: Option<Dialog>,
    pub in_flight: Vec<InFlight>,
    /// Actions answered but not yet visible in a refresh (see [`Settling`]).
    pub settling: Vec<Settling>,
    /// The user and slot whose normal recover the platform refused for lack of a backup (409): the
    /// next recover dialog for them is the `allowEmpty` path.
    pub offer_empty: Option<(ClerkUserId, RuntimeSlot)>,
    pub log: VecDeque<LogEntry>,
    pub toast: Option<Toast>,
    next_action_id: u64,
    pub quitting: bool,
    /// The operator pressed quit once with an action in flight; the next quit goes.
    pub quit_armed: bool,
    /// The largest useful scroll of the open pager or inspect view, as last drawn (the renderer
    /// knows the content and the area; `None` until drawn). `update` clamps scrolling to it, so
    /// End then Up moves up at once.
    pub scroll_max: Cell<Option<u16>>,
}

impl State {
    pub fn new(read_only: bool, color: bool, log_file: Option<PathBuf>) -> Self {
        Self {
            read_only,
            color,
            log_file,
            snapshot: None,
            pulse: Pulse::default(),
            connection: Connection::Connecting,
            last_ok: None,
            view: Vec::new(),
            cursor: 0,
            offset: 0,
            selected: None,
            viewport_rows: 17,
            filter: Filter::default(),
            filter_bar: None,
            faults_only: false,
            sort: SortSpec::default(),
            screen: Screen::Fleet,
            pager: None,
            dialog: None,
            in_flight: Vec::new(),
            settling: Vec::new(),
            offer_empty: None,
            log: VecDeque::new(),
            toast: None,
            next_action_id: 1,
            quitting: false,
            quit_armed: false,
            scroll_max: Cell::new(None),
        }
    }

    /// The context keys are dispatched in.
    pub fn context(&self) -> Context {
        if self.dialog.is_some() {
            Context::Dialog
        } else if self.filter_bar.is_some() {
            Context::Filter
        } else if self.pager.is_some() {
            Context::Pager
        } else {
            match self.screen {
                Screen::Fleet => Context::Fleet,
                Screen::Inspect(_) => Context::Inspect,
            }
        }
    }

    pub fn rows(&self) -> &[FleetRow] {
        self.snapshot.as_ref().map_or(&[], |s| &s.rows)
    }

    /// The row under the cursor.
    pub fn selected_row(&self) -> Option<&FleetRow> {
        let i = *self.view.get(self.cursor)?;
        self.rows().get(i as usize)
    }

    /// The console's own marker for a machine with an action in flight.
    pub fn in_flight_marker(&self, id: &MachineId) -> Option<&'static str> {
        self.in_flight
            .iter()
            .find(|f| &f.target.machine_id == id)
            .map(|f| {
                if f.recover {
                    s::PENDING_RECOVERING_LOCAL
                } else {
                    s::PENDING_DELETING_LOCAL
                }
            })
    }

    /// What the pending column shows: the console's in-flight marker, else the platform's.
    pub fn pending_text<'a>(&'a self, row: &'a FleetRow) -> Option<&'a str> {
        self.in_flight_marker(&row.machine.machine_id)
            .or(row.machine.pending_action.as_deref())
    }

    /// The one gate between an action intent and an [`Effect::Run`]: read-only mode, one action per
    /// machine, and what the platform already reports in flight.
    pub fn authorize(&self, target: &Target, intent: Intent) -> Result<(), Refusal> {
        if self.read_only {
            return Err(Refusal::ReadOnly);
        }
        if self.in_flight.iter().any(|f| {
            f.target.machine_id == target.machine_id
                || (f.target.user == target.user && f.target.slot == target.slot)
        }) || self.settling.iter().any(|s| s.matches(target))
        {
            return Err(Refusal::InFlight);
        }
        let platform_pending = self
            .rows()
            .iter()
            .find(|r| r.machine.machine_id == target.machine_id)
            .and_then(|r| r.machine.pending_action.clone());
        match (intent, platform_pending) {
            // The platform answers 409 to both; say so before asking.
            (Intent::Recover { .. }, Some(p)) => Err(Refusal::PlatformBusy(p)),
            (Intent::Delete, Some(p)) if p == "creating_server" => Err(Refusal::PlatformBusy(p)),
            _ => Ok(()),
        }
    }

    /// Turns an authorized intent into the effect that runs it, and records it as in flight.
    fn start_action(
        &mut self,
        target: Target,
        intent: Intent,
        now: Instant,
    ) -> Result<Effect, Refusal> {
        self.authorize(&target, intent)?;
        let id = self.next_action_id;
        self.next_action_id += 1;
        let kind = match intent {
            Intent::Recover { allow_empty } => ActionKind::Recover {
                machine_id: target.machine_id,
                handle: target.handle.clone(),
                user: target.user.clone(),
                slot: target.slot.clone(),
                allow_empty,
            },
            Intent::Delete => ActionKind::Delete {
                machine_id: target.machine_id,
                handle: target.handle.clone(),
            },
        };
        let verb = match intent {
            Intent::Recover { allow_empty: false } => s::LOG_RECOVER_SENT,
            Intent::Recover { allow_empty: true } => s::LOG_RECOVER_EMPTY_SENT,
            Intent::Delete => s::LOG_DELETE_SENT,
        };
        self.push_log(
            now,
            Level::Info,
            format!("{verb} {} ({}/{})", target.handle, target.user, target.slot),
        );
        self.in_flight.push(InFlight {
            id,
            target,
            recover: matches!(intent, Intent::Recover { .. }),
            allow_empty: matches!(intent, Intent::Recover { allow_empty: true }),
        });
        self.recompute_view(now);
        Ok(Effect::Run(ActionRequest { id, kind }))
    }

    pub fn push_log(&mut self, now: Instant, level: Level, text: String) {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            at: now,
            level,
            text,
        });
    }

    /// A transient message that also lands in the messages screen.
    pub fn notify(&mut self, now: Instant, level: Level, text: String) {
        self.push_log(now, level, text.clone());
        self.toast = Some(Toast {
            level,
            text,
            until: now + TOAST_FOR,
        });
    }

    /// Re-applies faults-only, the filter and the sort, then puts the cursor back on the selected
    /// machine.
    pub fn recompute_view(&mut self, now: Instant) {
        let Some(snap) = &self.snapshot else {
            self.view.clear();
            self.cursor = 0;
            self.offset = 0;
            return;
        };
        let now_ms = snap.server_now_ms(now);
        let rows = &snap.rows;
        let view: Vec<u32> = if self.sort == SortSpec::default() {
            // The default order was computed with the snapshot: filtering keeps it.
            self.filter
                .select(snap, snap.by_rank.iter().copied(), self.faults_only, now_ms)
        } else {
            let mut view = self
                .filter
                .select(snap, 0..rows.len() as u32, self.faults_only, now_ms);
            sort::sort_indices(&mut view, rows, self.sort, &|r: &FleetRow| {
                self.pending_text(r)
            });
            view
        };
        self.view = view;
        self.reselect();
    }

    /// Finds the selected machine in the view again (by id, then by user and slot), or keeps the
    /// index, clamped (and the pin, while the machine is still in the data).
    fn reselect(&mut self) {
        let rows = self.rows();
        let found = self.selected.as_ref().and_then(|sel| {
            self.view
                .iter()
                .position(|&i| rows[i as usize].machine.machine_id == sel.machine_id)
                .or_else(|| {
                    self.view.iter().position(|&i| {
                        let m = &rows[i as usize].machine;
                        m.clerk_user_id == sel.user && m.runtime_slot == sel.slot
                    })
                })
        });
        // A machine only filtered out stays pinned, so clearing the filter finds it again; only
        // navigating or its disappearance from the data moves the pin.
        let still_in_data = found.is_some()
            || self.selected.as_ref().is_some_and(|sel| {
                rows.iter().any(|r| {
                    r.machine.machine_id == sel.machine_id
                        || (r.machine.clerk_user_id == sel.user
                            && r.machine.runtime_slot == sel.slot)
                })
            });
        self.cursor = match found {
            Some(p) => p,
            None => self.cursor.min(self.view.len().saturating_sub(1)),
        };
        if found.is_some() || !still_in_data {
            self.selected = self.selected_row().map(|r| Target::of(&r.machine));
        }
        self.scroll_to_cursor();
    }

    fn scroll_to_cursor(&mut self) {
        let h = self.viewport_rows.max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + h {
            self.offset = self.cursor + 1 - h;
        }
        let max_offset = self.view.len().saturating_sub(h);
        self.offset = self.offset.min(max_offset);
    }

    fn move_cursor(&mut self, to: usize) {
        if self.view.is_empty() {
            return;
        }
        self.cursor = to.min(self.view.len() - 1);
        self.selected = self.selected_row().map(|r| Target::of(&r.machine));
        self.scroll_to_cursor();
    }
}

/// Applies one message. Pure: see the module docs.
pub fn update(state: &mut State, msg: Msg, now: Instant) -> Vec<Effect> {
    match msg {
        Msg::Key(ev) => on_key(state, ev, now),
        Msg::Resize { height, .. } => {
            state.viewport_rows = usize::from(height.saturating_sub(FLEET_CHROME_ROWS)).max(1);
            state.scroll_to_cursor();
            vec![]
        }
        Msg::Tick => {
            state
                .settling
                .retain(|s| now.saturating_duration_since(s.since) < SETTLE_FOR);
            if let Some(snap) = &state.snapshot {
                state.pulse = Pulse::compute(snap, now);
                if state.filter.depends_on_time() {
                    state.recompute_view(now);
                }
            }
            if state.toast.as_ref().is_some_and(|t| t.until <= now) {
                state.toast = None;
            }
            vec![]
        }
        Msg::FleetLoaded(snap) => {
            if let Connection::Down { .. } = state.connection {
                state.push_log(now, Level::Info, s::LOG_CONNECTION_RESTORED.to_owned());
            }
            state.connection = Connection::Live;
            state.last_ok = Some(snap.received_at);
            state.pulse = Pulse::compute(&snap, now);
            state.settling.retain(|s| {
                !s.seen_in(&snap) && now.saturating_duration_since(s.since) < SETTLE_FOR
            });
            state.snapshot = Some(*snap);
            state.recompute_view(now);
            vec![]
        }
        Msg::FleetFailed {
            error,
            attempt,
            retry_in,
        } => {
            let kind = if error.is_unreachable() {
                DownKind::Unreachable
            } else {
                DownKind::Erroring
            };
            if !matches!(state.connection, Connection::Down { .. }) {
                state.push_log(
                    now,
                    Level::Warn,
                    format!("{}: {error}", s::LOG_REFRESH_FAILED),
                );
            }
            state.connection = Connection::Down {
                kind,
                error: error.to_string(),
                attempt,
                retry_at: now + retry_in,
            };
            vec![]
        }
        Msg::Inspect { machine_id, part } => {
            on_inspect_part(state, machine_id, part);
            vec![]
        }
        Msg::ActionDone { id, outcome } => on_action_done(state, id, outcome, now),
    }
}

fn on_inspect_part(state: &mut State, machine_id: MachineId, part: InspectPart) {
    let Screen::Inspect(view) = &mut state.screen else {
        return;
    };
    if view.target.machine_id != machine_id {
        return; // an answer for a view the operator already left
    }
    match part {
        InspectPart::Status(Ok(m)) => {
            view.status = Loadable::Loaded(*m);
            view.status_error = None;
        }
        InspectPart::Status(Err(e)) => {
            if matches!(view.status, Loadable::Loaded(_)) {
                view.status_error = Some(e.to_string());
            } else {
                view.status = Loadable::Failed(e.to_string());
            }
        }
        InspectPart::Events(r) => {
            view.events = r.map_or_else(|e| Loadable::Failed(e.to_string()), Loadable::Loaded)
        }
        InspectPart::Route(r) => {
            view.route = r.map_or_else(|e| Loadable::Failed(e.to_string()), Loadable::Loaded)
        }
    }
}

fn on_action_done(
    state: &mut State,
    id: u64,
    outcome: Result<ActionSuccess, ActionFailure>,
    now: Instant,
) -> Vec<Effect> {
    let Some(pos) = state.in_flight.iter().position(|f| f.id == id) else {
        return vec![];
    };
    let done = state.in_flight.remove(pos);
    // Until a refresh shows it, the machine stays locked: the platform may not report it pending yet.
    let accepted = match &outcome {
        Ok(ActionSuccess::Recovered(r)) => Some(Some(r.machine_id)),
        Ok(ActionSuccess::Deleted(_)) => Some(None),
        // No answer: the write may have landed.
        Err(ActionFailure::Client(e)) if e.is_unreachable() => Some(None),
        Err(_) => None,
    };
    if let Some(new_machine_id) = accepted {
        state.settling.push(Settling {
            target: done.target.clone(),
            recover: done.recover,
            new_machine_id,
            since: now,
        });
    }
    let who = format!(
        "{} ({}/{})",
        done.target.handle, done.target.user, done.target.slot
    );
    match outcome {
        Ok(ActionSuccess::Recovered(r)) => state.notify(
            now,
            Level::Info,
            format!(
                "{} {who}: {} {} ({} {}s)",
                s::DONE_RECOVER,
                s::DONE_RECOVER_REPLACEMENT,
                r.machine_id.short(),
                s::DONE_RECOVER_ETA,
                r.eta_seconds
            ),
        ),
        Ok(ActionSuccess::Deleted(_)) => {
            state.notify(now, Level::Info, format!("{} {who}", s::DONE_DELETE))
        }
        Err(ActionFailure::ReadOnly) => state.notify(
            now,
            Level::Error,
            format!("{who}: {}", s::REFUSED_READ_ONLY),
        ),
        Err(ActionFailure::Client(e)) => {
            let verb = if done.recover {
                s::FAILED_RECOVER
            } else {
                s::FAILED_DELETE
            };
            if done.recover && !done.allow_empty && is_no_backup_refusal(&e) {
                // Same as the CLI's hint: the platform found nothing to restore.
                state.offer_empty = Some((done.target.user.clone(), done.target.slot.clone()));
                state.notify(
                    now,
                    Level::Error,
                    format!("{verb} {who}: {e} — {}", s::NO_BACKUP_OFFER_EMPTY),
                )
            } else {
                state.notify(now, Level::Error, format!("{verb} {who}: {e}"))
            }
        }
    }
    state.recompute_view(now);
    let mut effects = vec![Effect::RefreshNow];
    if let Screen::Inspect(v) = &state.screen
        && v.target.machine_id == done.target.machine_id
    {
        effects.push(Effect::LoadInspect {
            machine_id: v.target.machine_id,
            user: v.target.user.clone(),
            slot: v.target.slot.clone(),
        });
    }
    effects
}

/// The platform's 409 for a recover with nothing to restore ("No backup snapshot available").
fn is_no_backup_refusal(e: &ClientError) -> bool {
    matches!(e, ClientError::Conflict(m) if m.to_ascii_lowercase().contains("backup"))
}

fn on_key(state: &mut State, ev: KeyEvent, now: Instant) -> Vec<Effect> {
    let Some(key) = Key::from_event(&ev) else {
        return vec![];
    };
    let context = state.context();
    match keys::dispatch(context, key) {
        Some(action) => on_action(state, action, now),
        None if context.is_text() => {
            type_into(state, &ev);
            vec![]
        }
        None => vec![],
    }
}

/// Feeds a key that no binding claimed into the open text field.
fn type_into(state: &mut State, ev: &KeyEvent) {
    let Some(req) = to_input_request(&Event::Key(*ev)) else {
        return;
    };
    if let Some(d) = &mut state.dialog {
        match &mut d.kind {
            DialogKind::RecoverEmpty { input } | DialogKind::Delete { input } => {
                input.handle(req);
                d.error = None;
            }
            DialogKind::Recover { .. } => {}
        }
    } else if let Some(bar) = &mut state.filter_bar {
        bar.input.handle(req);
    }
}

fn on_action(state: &mut State, action: Action, now: Instant) -> Vec<Effect> {
    let armed = std::mem::take(&mut state.quit_armed);
    match action {
        Action::Quit => {
            if !state.in_flight.is_empty() && !armed {
                // Quitting would drop the outcome unseen: ask once more.
                state.quit_armed = true;
                state.notify(now, Level::Warn, s::QUIT_IN_FLIGHT.to_owned());
                return vec![];
            }
            state.quitting = true;
            return vec![Effect::Quit];
        }
        Action::Help => {
            state.scroll_max.set(None);
            state.pager = Some(Pager {
                kind: PagerKind::Help,
                scroll: 0,
            })
        }
        Action::Messages => {
            state.scroll_max.set(None);
            state.pager = Some(Pager {
                kind: PagerKind::Messages,
                scroll: 0,
            })
        }
        Action::Refresh => {
            let mut effects = vec![Effect::RefreshNow];
            if let Screen::Inspect(v) = &mut state.screen {
                v.events = Loadable::Loading;
                v.route = Loadable::Loading;
                effects.push(Effect::LoadInspect {
                    machine_id: v.target.machine_id,
                    user: v.target.user.clone(),
                    slot: v.target.slot.clone(),
                });
            }
            return effects;
        }
        Action::Back => {
            state.scroll_max.set(None);
            if state.pager.is_some() {
                state.pager = None;
            } else if matches!(state.screen, Screen::Inspect(_)) {
                state.screen = Screen::Fleet;
            }
        }
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => navigate(state, action),
        Action::FilterOpen => {
            state.filter_bar = Some(FilterBar {
                input: Input::new(state.filter.to_string()),
                error: None,
            })
        }
        Action::FilterClear => {
            state.filter = Filter::default();
            state.recompute_view(now);
        }
        Action::FilterApply => {
            if let Some(bar) = &mut state.filter_bar {
                match Filter::parse(bar.input.value()) {
                    Ok(f) => {
                        state.filter = f;
                        state.filter_bar = None;
                        state.recompute_view(now);
                    }
                    // Keep the previous filter and the bar open, with the reason.
                    Err(e) => bar.error = Some(e.to_string()),
                }
            }
        }
        Action::FilterCancel => state.filter_bar = None,
        Action::FaultsToggle => {
            state.faults_only = !state.faults_only;
            state.recompute_view(now);
        }
        Action::SortNext | Action::SortPrev | Action::SortReverse => {
            match action {
                Action::SortNext => state.sort.column = state.sort.column.next(),
                Action::SortPrev => state.sort.column = state.sort.column.prev(),
                _ => state.sort.descending = !state.sort.descending,
            }
            state.recompute_view(now);
        }
        Action::Inspect => {
            if let Some(row) = state.selected_row() {
                let target = Target::of(&row.machine);
                let effect = Effect::LoadInspect {
                    machine_id: target.machine_id,
                    user: target.user.clone(),
                    slot: target.slot.clone(),
                };
                state.scroll_max.set(None);
                state.screen = Screen::Inspect(Box::new(InspectView {
                    target,
                    status: Loadable::Loaded(row.machine.clone()),
                    status_error: None,
                    events: Loadable::Loading,
                    route: Loadable::Loading,
                    scroll: 0,
                }));
                return vec![effect];
            }
        }
        Action::Recover | Action::Delete => open_dialog(state, action, now),
        Action::DialogFocusNext => {
            if let Some(d) = &mut state.dialog {
                d.focus = match d.focus {
                    Focus::Cancel => Focus::Confirm,
                    Focus::Confirm => Focus::Cancel,
                };
            }
        }
        Action::DialogCancel => {
            state.dialog = None;
            state.notify(now, Level::Info, s::CANCELLED.to_owned());
        }
        Action::DialogActivate => return activate_dialog(state, now),
    }
    vec![]
}

fn navigate(state: &mut State, action: Action) {
    let page = state.viewport_rows.max(1);
    // Not drawn yet: the renderer clamps, and the next key after a draw clamps here.
    let max = state.scroll_max.get().unwrap_or(u16::MAX / 2);
    let scroll = |v: &mut u16| {
        let from = (*v).min(max);
        let to = match action {
            Action::Up => from.saturating_sub(1),
            Action::Down => from.saturating_add(1),
            Action::PageUp => from.saturating_sub(page as u16),
            Action::PageDown => from.saturating_add(page as u16),
            Action::Top => 0,
            _ => max,
        };
        *v = to.min(max);
    };
    if let Some(p) = &mut state.pager {
        scroll(&mut p.scroll);
        return;
    }
    if let Screen::Inspect(v) = &mut state.screen {
        scroll(&mut v.scroll);
        return;
    }
    let c = state.cursor;
    let to = match action {
        Action::Up => c.saturating_sub(1),
        Action::Down => c + 1,
        Action::PageUp => c.saturating_sub(page),
        Action::PageDown => c + page,
        Action::Top => 0,
        _ => usize::MAX,
    };
    state.move_cursor(to);
}

/// The machine an action key refers to: the inspected one, else the selected row.
fn action_target(state: &State) -> Option<(Target, MachineStatusResponse)> {
    match &state.screen {
        Screen::Inspect(v) => {
            let m = match &v.status {
                Loadable::Loaded(m) => m.clone(),
                _ => state
                    .rows()
                    .iter()
                    .find(|r| r.machine.machine_id == v.target.machine_id)?
                    .machine
                    .clone(),
            };
            Some((v.target.clone(), m))
        }
        Screen::Fleet => state
            .selected_row()
            .map(|r| (Target::of(&r.machine), r.machine.clone())),
    }
}

fn open_dialog(state: &mut State, action: Action, now: Instant) {
    let Some((target, machine)) = action_target(state) else {
        state.notify(now, Level::Warn, Refusal::NoSelection.message());
        return;
    };
    let intent = if action == Action::Recover {
        Intent::Recover { allow_empty: false }
    } else {
        Intent::Delete
    };
    // Refuse before asking anything (the same check runs again on confirm).
    if let Err(refusal) = state.authorize(&target, intent) {
        state.notify(now, Level::Warn, refusal.message());
        return;
    }
    let kind = if action == Action::Recover {
        // The platform said "no backup" for this user and slot: go the allowEmpty way this time.
        let refused_empty = state
            .offer_empty
            .take_if(|(user, slot)| *user == target.user && *slot == target.slot)
            .is_some();
        DialogKind::Recover {
            no_backup: refused_empty || machine_has_no_backup(&machine),
            backup: machine.backup.clone(),
        }
    } else {
        DialogKind::Delete {
            input: Input::default(),
        }
    };
    state.dialog = Some(Dialog {
        target,
        kind,
        focus: Focus::Cancel,
        error: None,
    });
}

fn activate_dialog(state: &mut State, now: Instant) -> Vec<Effect> {
    let Some(dialog) = state.dialog.take() else {
        return vec![];
    };
    if dialog.focus == Focus::Cancel {
        state.notify(now, Level::Info, s::CANCELLED.to_owned());
        return vec![];
    }
    let intent = match &dialog.kind {
        DialogKind::Recover {
            no_backup: true, ..
        } => {
            // No backup: a second, explicit step before `allowEmpty`.
            state.dialog = Some(Dialog {
                target: dialog.target,
                kind: DialogKind::RecoverEmpty {
                    input: Input::default(),
                },
                focus: Focus::Cancel,
                error: None,
            });
            return vec![];
        }
        DialogKind::Recover { .. } => Intent::Recover { allow_empty: false },
        DialogKind::RecoverEmpty { input } => {
            if input.value().trim() != s::EMPTY_CONFIRM_WORD {
                state.dialog = Some(Dialog {
                    error: Some(s::DIALOG_EMPTY_MISMATCH.to_owned()),
                    ..dialog
                });
                return vec![];
            }
            Intent::Recover { allow_empty: true }
        }
        DialogKind::Delete { input } => {
            if input.value() != dialog.target.handle.as_str() {
                state.dialog = Some(Dialog {
                    error: Some(s::DIALOG_HANDLE_MISMATCH.to_owned()),
                    ..dialog
                });
                return vec![];
            }
            Intent::Delete
        }
    };
    match state.start_action(dialog.target, intent, now) {
        Ok(effect) => vec![effect],
        Err(refusal) => {
            state.notify(now, Level::Warn, refusal.message());
            vec![]
        }
    }
}
