//! The impure edge of the console: terminal setup and restore, the event loop, and the background
//! tasks that talk to the platform.
//!
//! Tasks and channels:
//! - the UI task (this module's [`run_loop`]) owns the [`State`]; it alone calls [`update`] and
//!   draws. No lock is shared with the I/O tasks: they send [`Msg`]s over `msgs`;
//! - the refresher ([`refresher`]) fetches the whole fleet every `refresh_every`, or with
//!   exponential backoff ([`backoff`], capped at 30 s) while the platform does not answer; it also
//!   wakes when the UI asks for a refresh now (`refresh_now`);
//! - the executor ([`executor`]) runs each action request it receives on `actions`, checking
//!   read-only mode again before calling the API ([`execute`]);
//! - inspect loads ([`load_inspect`]) run as one task per opened view; the previous one is aborted.
//!
//! The UI task redraws only after something changed, at most [`FRAME`] apart, and otherwise
//! sleeps: a 1 s tick (ages move) is the only timer while idle. Every exit path (quit, SIGTERM,
//! SIGHUP, SIGINT, SIGQUIT) restores the terminal and logs any action still in flight: the guard's
//! `Drop`, and a panic hook that restores it and then exits the process (a
//! panicking background task must not leave a half-dead UI on a restored terminal).

use std::io::{self, Stdout};
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::client::{FleetQuery, PlatformClient};
use crate::tui::TuiOptions;
use crate::tui::fleet::FleetSnapshot;
use crate::tui::state::{
    ActionFailure, ActionKind, ActionRequest, ActionSuccess, Effect, InspectPart, Msg, State,
    update,
};
use crate::tui::view;

/// Shortest time between two frames (30 frames per second at most).
pub const FRAME: Duration = Duration::from_millis(33);
/// How often ages are re-rendered while nothing else happens.
pub const TICK: Duration = Duration::from_secs(1);
/// The shortest refresh interval honoured (a smaller one is raised to it).
pub const MIN_REFRESH: Duration = Duration::from_millis(500);
/// The longest wait between two refresh attempts while the platform does not answer.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Wait before retry number `attempt` (1-based): 1 s, 2 s, 4 s, … capped at [`BACKOFF_CAP`].
pub fn backoff(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exp).min(BACKOFF_CAP)
}

/// True while the alternate screen and raw mode are on; the panic hook restores only then.
static UI_ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

fn restore_terminal() {
    if UI_ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let was_active = UI_ACTIVE.load(Ordering::SeqCst);
            restore_terminal();
            tracing::error!(panic = %info, "console panicked");
            previous(info);
            if was_active {
                // A panic in any task would otherwise leave the UI task drawing on a restored
                // terminal, or a dead UI on a live one.
                std::process::exit(101);
            }
        }));
    });
}

/// Raw mode + alternate screen for as long as it lives.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        UI_ACTIVE.store(true, Ordering::SeqCst);
        if let Err(e) = execute!(io::stdout(), EnterAlternateScreen, cursor::Hide) {
            restore_terminal();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(Self { terminal }),
            Err(e) => {
                restore_terminal();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Aborts the background tasks when the UI loop ends, however it ends.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Runs the console until the operator quits (see [`crate::tui::run`]).
pub async fn run(client: PlatformClient, options: TuiOptions) -> anyhow::Result<()> {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let state = State::new(options.read_only, color, options.log_file.clone());
    tracing::info!(read_only = options.read_only, base = %client.base_url(), "console starting");
    let mut guard = TerminalGuard::enter()?;
    let result = run_loop(&mut guard.terminal, state, client, &options).await;
    drop(guard);
    tracing::info!("console stopped");
    result
}

async fn run_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    mut state: State,
    client: PlatformClient,
    options: &TuiOptions,
) -> anyhow::Result<()> {
    // Bounded: a flood of answers waits for the UI instead of growing memory.
    let (msg_tx, mut msg_rx) = mpsc::channel::<Msg>(256);
    let (action_tx, action_rx) = mpsc::unbounded_channel::<ActionRequest>();
    let refresh_now = Arc::new(Notify::new());
    let mut tasks = Tasks(vec![
        tokio::spawn(refresher(
            client.clone(),
            options.refresh_every,
            msg_tx.clone(),
            refresh_now.clone(),
        )),
        tokio::spawn(executor(
            client.clone(),
            options.read_only,
            action_rx,
            msg_tx.clone(),
        )),
    ]);
    let mut inspect_task: Option<JoinHandle<()>> = None;

    let size = terminal.size()?;
    update(
        &mut state,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
        Instant::now(),
    );
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    // Raw mode turns Ctrl-C into a key, but `kill -INT`/`-QUIT` still arrive as signals: restore.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sigquit = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::quit())?;

    loop {
        let draw_at = last_draw.map_or_else(Instant::now, |t| t + FRAME);
        if dirty && Instant::now() >= draw_at {
            let now = Instant::now();
            terminal.draw(|frame| view::render(frame, &state, now))?;
            last_draw = Some(now);
            dirty = false;
        }
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(key))) => Msg::Key(key),
                Some(Ok(Event::Resize(width, height))) => {
                    terminal.autoresize()?;
                    Msg::Resize { width, height }
                }
                Some(Ok(_)) => continue,
                // The terminal went away: nothing left to draw on.
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(msg) = msg_rx.recv() => msg,
            _ = tick.tick() => Msg::Tick,
            _ = tokio::time::sleep_until(draw_at.into()), if dirty => continue,
            _ = sigterm.recv() => return exit_with_in_flight(&state, "SIGTERM"),
            _ = sighup.recv() => return exit_with_in_flight(&state, "SIGHUP"),
            _ = sigint.recv() => return exit_with_in_flight(&state, "SIGINT"),
            _ = sigquit.recv() => return exit_with_in_flight(&state, "SIGQUIT"),
        };
        let effects = update(&mut state, msg, Instant::now());
        dirty = true;
        for effect in effects {
            match effect {
                Effect::Quit => return exit_with_in_flight(&state, "quit"),
                Effect::RefreshNow => refresh_now.notify_one(),
                Effect::Run(request) => {
                    let _ = action_tx.send(request);
                }
                Effect::LoadInspect {
                    machine_id,
                    user,
                    slot,
                } => {
                    if let Some(t) = inspect_task.take() {
                        t.abort();
                    }
                    let (client, tx) = (client.clone(), msg_tx.clone());
                    inspect_task = Some(tokio::spawn(async move {
                        load_inspect(&client, machine_id, &user, &slot, &tx).await;
                    }));
                }
            }
        }
        tasks.0.retain(|t| !t.is_finished());
    }
}

/// Ends the loop, logging every action whose outcome will not be seen (the platform may have
/// accepted it: `events` shows what happened).
fn exit_with_in_flight(state: &State, why: &str) -> anyhow::Result<()> {
    for f in &state.in_flight {
        tracing::warn!(
            id = f.id,
            machine = %f.target.machine_id,
            user = %f.target.user,
            slot = %f.target.slot,
            recover = f.recover,
            why,
            "console stopped with an action in flight: outcome unknown"
        );
    }
    Ok(())
}

/// Fetches the fleet forever (see the module docs); ends when the UI drops its receiver.
pub async fn refresher(
    client: PlatformClient,
    every: Duration,
    tx: mpsc::Sender<Msg>,
    refresh_now: Arc<Notify>,
) {
    // A zero interval would refresh in a tight loop.
    let every = every.max(MIN_REFRESH);
    let mut attempt = 0u32;
    loop {
        let msg = refresh_once(&client, &mut attempt).await;
        let wait = match &msg {
            Msg::FleetFailed { retry_in, .. } => *retry_in,
            _ => every,
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = refresh_now.notified() => {}
        }
    }
}

/// One refresh: the whole fleet as a [`Msg::FleetLoaded`], or a [`Msg::FleetFailed`] carrying the
/// backoff before the next try. `attempt` counts consecutive failures.
pub async fn refresh_once(client: &PlatformClient, attempt: &mut u32) -> Msg {
    match client.fleet_all(&FleetQuery::default()).await {
        Ok(response) => {
            *attempt = 0;
            let received_at = Instant::now();
            // Precomputing 100k rows takes tens of milliseconds: not on the UI task.
            let snapshot =
                tokio::task::spawn_blocking(move || FleetSnapshot::new(response, received_at))
                    .await;
            match snapshot {
                Ok(s) => Msg::FleetLoaded(Box::new(s)),
                Err(_) => {
                    *attempt += 1;
                    Msg::FleetFailed {
                        error: crate::client::ClientError::Protocol,
                        attempt: *attempt,
                        retry_in: backoff(*attempt),
                    }
                }
            }
        }
        Err(error) => {
            *attempt += 1;
            tracing::warn!(%error, attempt = *attempt, "fleet refresh failed");
            Msg::FleetFailed {
                error,
                attempt: *attempt,
                retry_in: backoff(*attempt),
            }
        }
    }
}

/// Runs every request it receives, each in its own task, until the UI drops the sender.
pub async fn executor(
    client: PlatformClient,
    read_only: bool,
    mut requests: mpsc::UnboundedReceiver<ActionRequest>,
    tx: mpsc::Sender<Msg>,
) {
    while let Some(request) = requests.recv().await {
        let (client, tx) = (client.clone(), tx.clone());
        tokio::spawn(async move {
            let msg = execute(&client, read_only, &request).await;
            let _ = tx.send(msg).await;
        });
    }
}

/// Calls the platform for one action. Read-only mode is checked here again, so a request that
/// somehow got past the state's gate still never reaches the API.
pub async fn execute(client: &PlatformClient, read_only: bool, request: &ActionRequest) -> Msg {
    let id = request.id;
    if read_only {
        tracing::error!(id, "action refused by the executor: read-only mode");
        return Msg::ActionDone {
            id,
            outcome: Err(ActionFailure::ReadOnly),
        };
    }
    let outcome = match &request.kind {
        ActionKind::Recover {
            user,
            slot,
            allow_empty,
            machine_id,
            ..
        } => {
            tracing::info!(%machine_id, %user, %slot, allow_empty, "recover requested");
            client
                .recover(user, slot, *allow_empty)
                .await
                .map(ActionSuccess::Recovered)
        }
        ActionKind::Delete { machine_id, .. } => {
            tracing::info!(%machine_id, "delete requested");
            client
                .delete(&machine_id.to_string())
                .await
                .map(ActionSuccess::Deleted)
        }
    };
    match &outcome {
        Ok(_) => tracing::info!(id, "action accepted"),
        Err(e) => tracing::warn!(id, error = %e, "action failed"),
    }
    Msg::ActionDone {
        id,
        outcome: outcome.map_err(ActionFailure::Client),
    }
}

/// Loads the three parts of an inspect view concurrently, sending each as it arrives.
pub async fn load_inspect(
    client: &PlatformClient,
    machine_id: control_plane::ids::MachineId,
    user: &control_plane::ids::ClerkUserId,
    slot: &control_plane::ids::RuntimeSlot,
    tx: &mpsc::Sender<Msg>,
) {
    let id = machine_id.to_string();
    let send = |part| async move {
        let _ = tx.send(Msg::Inspect { machine_id, part }).await;
    };
    tokio::join!(
        async { send(InspectPart::Status(client.status(&id).await.map(Box::new))).await },
        async {
            send(InspectPart::Events(
                client.events(&id, crate::tui::state::INSPECT_EVENTS).await,
            ))
            .await
        },
        async { send(InspectPart::Route(client.route(user, slot).await)).await },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_and_stops_at_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(6), BACKOFF_CAP);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
    }
}
