//! The command line: argument parsing and the non-interactive subcommands for scripts and CI.
//!
//! Flow: `main` reads the arguments and the environment, [`args::parse`] turns them into an
//! [`Invocation`] (or a usage error, exit 2), and [`run`] sets up logging (to a file, never the
//! terminal: see [`logging`]), builds the runtime and dispatches: no subcommand opens the
//! interactive console (`crate::tui::run`), `demo` starts [`crate::demo`] first, the rest are one
//! module each, writing results to stdout and everything else (plans, warnings, prompts, errors) to
//! stderr, and ending with an [`Exit`] code documented in `--help` and `docs/operator-guide.md`.
//!
//! Every subcommand takes the [`PlatformClient`] and an [`Io`], so tests run them in-process against
//! a simulated fleet with scripted answers as well as through the built binary.

pub mod args;
pub mod delete;
pub mod events;
pub mod exit;
pub mod fleet;
pub mod format;
pub mod logging;
pub mod prompt;
pub mod recover;
pub mod status;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use control_plane::api::types::MachineStatusResponse;

pub use args::{Command, Env, Invocation, MachineRef, UsageError};
pub use exit::Exit;
pub use prompt::{Prompt, TerminalPrompt};

use crate::client::{ClientError, FleetQuery, PlatformClient};
use crate::strings::cli as s;
use crate::tui::TuiOptions;

/// How long one API call may take before the control plane counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the interactive console refreshes a real fleet, and the demo's (one tick a second).
const REFRESH: Duration = Duration::from_secs(2);
const DEMO_REFRESH: Duration = Duration::from_secs(1);

/// Where a subcommand writes: results to `out`, everything else to `err`; questions through `prompt`.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub prompt: &'a mut dyn Prompt,
}

impl Io<'_> {
    /// One line of results. Write errors (a closed pipe) are ignored: the exit code still tells.
    pub fn out(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }

    /// One line of plans, warnings and errors.
    pub fn err(&mut self, line: &str) {
        let _ = writeln!(self.err, "{line}");
    }
}

/// The whole program after argument parsing: prints help, or sets up logging and a runtime and runs
/// the command.
pub fn run(invocation: Invocation, env: &Env) -> ExitCode {
    match invocation.command {
        Command::Help => {
            print!("{}", s::USAGE);
            return Exit::Ok.into();
        }
        Command::Version => {
            println!("{}", s::VERSION);
            return Exit::Ok.into();
        }
        _ => {}
    }
    let log_file = logging::init(invocation.log_file.clone(), env);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}", s::error_line(&e.to_string()));
            return Exit::Failed.into();
        }
    };
    let exit = runtime.block_on(dispatch(invocation, log_file));
    // Background tasks of the console or the demo fleet must not hold the process open.
    runtime.shutdown_timeout(Duration::from_secs(5));
    exit.into()
}

async fn dispatch(invocation: Invocation, log_file: Option<std::path::PathBuf>) -> Exit {
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut prompt = TerminalPrompt;
    let mut io = Io {
        out: &mut stdout,
        err: &mut stderr,
        prompt: &mut prompt,
    };
    let tui_options = |refresh_every| TuiOptions {
        read_only: invocation.read_only,
        refresh_every,
        log_file: log_file.clone(),
    };
    if let Command::Demo(demo) = &invocation.command {
        let log = log_file
            .as_deref()
            .map_or_else(|| s::NONE.to_owned(), |p| p.display().to_string());
        io.err(&s::demo_starting(demo.hosts, demo.seed, &log));
        let options = crate::demo::DemoOptions {
            hosts: demo.hosts,
            seed: demo.seed,
        };
        let fleet = match crate::demo::start(options).await {
            Ok(fleet) => fleet,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "demo fleet failed to start");
                io.err(&s::demo_failed(&format!("{e:#}")));
                return Exit::Failed;
            }
        };
        let exit = match fleet.client(CALL_TIMEOUT) {
            Ok(client) => interactive(client, tui_options(DEMO_REFRESH), &mut io).await,
            Err(e) => {
                io.err(&s::error_line(&e.to_string()));
                Exit::Failed
            }
        };
        io.err(s::DEMO_STOPPING);
        fleet.stop().await;
        return exit;
    }
    let Some(connection) = invocation.connection.clone() else {
        // `args::parse` gives every other command a connection.
        io.err(&s::error_line(&s::missing_url()));
        return Exit::Usage;
    };
    let client = match PlatformClient::new(connection.url, connection.token, CALL_TIMEOUT) {
        Ok(client) => client,
        Err(_) => {
            io.err(&s::error_line(s::BAD_URL));
            return Exit::Usage;
        }
    };
    match &invocation.command {
        Command::Interactive => interactive(client, tui_options(REFRESH), &mut io).await,
        Command::Fleet(a) => fleet::run(&client, a, &mut io).await,
        Command::Status { machine, json } => status::run(&client, machine, *json, &mut io).await,
        Command::Events {
            machine,
            json,
            limit,
        } => events::run(&client, machine, *json, *limit, &mut io).await,
        Command::Recover(a) => recover::run(&client, a, invocation.read_only, &mut io).await,
        Command::Delete(a) => delete::run(&client, a, invocation.read_only, &mut io).await,
        Command::Help | Command::Version | Command::Demo(_) => Exit::Ok,
    }
}

async fn interactive(client: PlatformClient, options: TuiOptions, io: &mut Io<'_>) -> Exit {
    match crate::tui::run(client, options).await {
        Ok(()) => Exit::Ok,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "interactive console failed");
            io.err(&s::console_failed(&format!("{e:#}")));
            Exit::Failed
        }
    }
}

/// Prints what went wrong with a call and what to do next; returns the exit code for it.
/// `write` marks calls that change something: for those, "unreachable" means "outcome unknown".
pub fn report(client: &PlatformClient, error: &ClientError, write: bool, io: &mut Io<'_>) -> Exit {
    tracing::warn!(%error, write, "platform call failed");
    let line = match error {
        ClientError::Unreachable => s::unreachable(client.base_url().as_str()),
        ClientError::Unauthorized(_) => s::TOKEN_REFUSED.to_owned(),
        ClientError::NotFound(what) => s::not_found(what),
        ClientError::Conflict(message) => s::conflict(message),
        ClientError::Rejected { status, message } => s::rejected(*status, message),
        ClientError::Protocol => s::PROTOCOL.to_owned(),
    };
    io.err(&s::error_line(&line));
    if write && error.is_unreachable() {
        io.err(s::UNREACHABLE_WRITE);
    }
    Exit::from(error)
}

/// The live machine a [`MachineRef`] names, with all its fields. An id is looked up directly (and
/// may name a deleted machine); a handle must name exactly one live machine.
pub async fn lookup(
    client: &PlatformClient,
    machine: &MachineRef,
    io: &mut Io<'_>,
) -> Result<MachineStatusResponse, Exit> {
    match machine {
        MachineRef::Id(id) => client
            .status(&id.to_string())
            .await
            .map_err(|e| report(client, &e, false, io)),
        MachineRef::Handle(handle) => {
            let fleet = client
                .fleet_all(&FleetQuery::default())
                .await
                .map_err(|e| report(client, &e, false, io))?;
            let mut matches: Vec<_> = fleet
                .machines
                .into_iter()
                .filter(|m| m.handle == *handle)
                .collect();
            match matches.len() {
                0 => {
                    io.err(&s::error_line(&s::no_handle(handle.as_str())));
                    Err(Exit::NotFound)
                }
                1 => Ok(matches.remove(0)),
                n => {
                    io.err(&s::error_line(&s::ambiguous_handle(handle.as_str(), n)));
                    for m in &matches {
                        io.err(&format!("  {}  {}", m.machine_id, m.runtime_slot));
                    }
                    Err(Exit::Usage)
                }
            }
        }
    }
}
