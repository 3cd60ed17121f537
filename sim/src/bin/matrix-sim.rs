//! `matrix-sim`: the simulation harness from the command line.
//!
//! `matrix-sim serve [--hosts N] [--seed N] [--light]` stands up a live simulated fleet (the real
//! control plane, fake Hetzner, fake R2, N hosts with a background workload and occasional crashes)
//! until interrupted, and prints one JSON line on stdout with everything an external tool needs to
//! attach. Time is compressed: one simulated minute per real second. Logs go to stderr.
//!
//! `matrix-sim run [FILES…] [--seed N] [--junit PATH] [--history DIR]` runs scenario files (all
//! of `scenarios/*.toml` when none is given) and exits non-zero on any broken invariant or failed
//! step, printing the command that replays a failure; `matrix-sim replay FILE --seed N
//! [--history DIR]` reruns one exactly. The logic is in `sim::scenario::cli`.

use std::process::ExitCode;
use std::time::Duration;

use sim::fleet::{FleetConfig, SimFleet};
use sim::host::HostMode;
use sim::live::{LiveConfig, LiveFleet};

const USAGE: &str = "usage: matrix-sim serve [--hosts N] [--seed N] [--light]
       matrix-sim run [FILES...] [--seed N] [--junit PATH] [--history DIR]
       matrix-sim replay FILE --seed N [--history DIR]";

struct ServeArgs {
    hosts: usize,
    seed: u64,
    light: bool,
}

fn parse_serve(args: &[String]) -> Result<ServeArgs, String> {
    let mut out = ServeArgs {
        hosts: 24,
        seed: 1,
        light: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--hosts" => {
                out.hosts = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| (1..=5000).contains(n))
                    .ok_or("--hosts takes 1..=5000")?
            }
            "--seed" => {
                out.seed = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--seed takes an unsigned integer")?
            }
            "--light" => out.light = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(out)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(command @ ("run" | "replay")) => {
            let replay = command == "replay";
            let parsed = match sim::scenario::cli::parse(&args[1..], replay) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("matrix-sim: {e}\n{USAGE}");
                    return ExitCode::from(2);
                }
            };
            // Current-thread: the runner captures every task's log lines on this thread.
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("matrix-sim: runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut out = std::io::stdout();
            match runtime.block_on(sim::scenario::cli::run(&parsed, &mut out)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("matrix-sim: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        _ => serve_main(args),
    }
}

#[tokio::main]
async fn serve_main(args: Vec<String>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MATRIX_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match args.first().map(String::as_str) {
        Some("serve") => match parse_serve(&args[1..]) {
            Ok(a) => match serve(a).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("matrix-sim: {e:#}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("matrix-sim: {e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mode = if args.light || args.hosts > 50 {
        HostMode::Light
    } else {
        HostMode::Postgres
    };
    let fleet = SimFleet::start(
        FleetConfig {
            seed: args.seed,
            mode,
            ..FleetConfig::default()
        },
        |s| {
            s.heartbeat_interval = Duration::from_secs(60);
            s.backup_scan_interval = Duration::from_secs(10 * 60);
        },
    )
    .await?;
    let mut live = LiveFleet::start(
        fleet,
        LiveConfig {
            hosts: args.hosts,
            ..LiveConfig::default()
        },
    )
    .await?;
    println!("{}", serde_json::to_string(&live.fleet.connection_info())?);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => {
                if let Err(e) = live.tick().await {
                    tracing::warn!(error = %e, "live fleet tick failed");
                }
            }
        }
    }
    eprintln!("matrix-sim: stopping");
    Ok(())
}
