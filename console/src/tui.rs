//! The interactive console: a k9s-style terminal view of the fleet with inspection, recovery and
//! deletion. Design notes: `shared/reference/console.md`; the pieces:
//!
//! - [`state`]: the whole state and the pure `update(state, msg, now) -> effects`;
//! - [`keys`]: the key registry that both dispatches keys and generates the `?` help;
//! - [`filter`] and [`sort`]: the `/` filter language and sorting on raw values;
//! - [`fleet`]: the fleet as held between refreshes, with precomputed keys and the header pulse;
//! - [`view`]: rendering, a pure function of the state and `now`;
//! - [`runtime`]: terminal setup and restore, the event loop and the background tasks;
//! - [`fixture`]: fixed fleets for snapshots, key-script tests and the bench.

pub mod filter;
pub mod fixture;
pub mod fleet;
pub mod keys;
pub mod runtime;
pub mod sort;
pub mod state;
pub mod view;

use std::path::PathBuf;
use std::time::Duration;

use crate::client::PlatformClient;

/// How the interactive console runs.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// Refuse every action (recover, delete); enforced inside the console.
    pub read_only: bool,
    /// How often the fleet is refreshed while the control plane answers.
    pub refresh_every: Duration,
    /// Where the log file is, to show in the help screen (logs never go to the terminal).
    pub log_file: Option<PathBuf>,
}

/// Runs the console on the current terminal until the operator quits.
///
/// Contract:
/// - takes over the terminal (raw mode, alternate screen) and restores it on every exit path,
///   including a panic (the panic hook restores the terminal and exits the process with 101);
/// - never writes to stdout/stderr itself while the UI is up: diagnostics go through `tracing`,
///   which the caller routes to a file;
/// - honours `NO_COLOR` (glyphs and words carry every signal without colour);
/// - returns `Ok` when the operator quits (or on SIGTERM/SIGHUP), `Err` when the terminal fails.
pub async fn run(client: PlatformClient, options: TuiOptions) -> anyhow::Result<()> {
    runtime::run(client, options).await
}
