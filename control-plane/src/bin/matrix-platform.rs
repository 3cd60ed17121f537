//! `matrix-platform`: the control-plane server.
//!
//! - `matrix-platform serve`: apply migrations, then run the API and the reconciler until SIGINT/SIGTERM.
//! - `matrix-platform migrate`: apply migrations and exit.
//!
//! Configuration comes from the environment (see README "Configuration"); every problem is reported
//! at start with the variable's name, never its value.

use std::process::ExitCode;
use std::sync::Arc;

use control_plane::clock::{RandomIds, SystemClock};
use control_plane::config::Config;
use control_plane::server::{self, Providers};
use control_plane::store;

fn usage() -> ExitCode {
    eprintln!(
        "usage: matrix-platform <serve|migrate>\n\nConfiguration is read from the environment; see README.md."
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    let Some(command) = command.filter(|c| c == "serve" || c == "migrate") else {
        return usage();
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MATRIX_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::from_process_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("matrix-platform: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: &str, config: Config) -> anyhow::Result<()> {
    let db = store::connect(config.database_url.expose(), config.db_max_connections).await?;
    store::migrate(&db)
        .await
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    if command == "migrate" {
        println!("migrations applied");
        return Ok(());
    }
    let app = server::build_app(
        db,
        &Providers::from_config(&config),
        config.settings.clone(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
    )?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    server::run(listener, app, true, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
