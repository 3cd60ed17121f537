//! The interactive console. (Being built: see issue 4.)

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
pub async fn run(client: PlatformClient, options: TuiOptions) -> anyhow::Result<()> {
    let _ = (client, options);
    anyhow::bail!("the interactive console is not built yet")
}
