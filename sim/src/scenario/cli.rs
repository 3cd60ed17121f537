//! `matrix-sim run [FILES…] [--seed N] [--junit PATH] [--history DIR]` and
//! `matrix-sim replay FILE --seed N [--history DIR]`: argument parsing and the commands
//! themselves, so the binary only hands over its arguments.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::Scenario;
use super::history;
use super::report;
use super::run::{Outcome, RunOptions, run_scenario};

/// Where history files go unless `--history` says otherwise.
pub const DEFAULT_HISTORY_DIR: &str = "target/sim-history";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    pub files: Vec<PathBuf>,
    pub seed: Option<u64>,
    pub junit: Option<PathBuf>,
    pub history: PathBuf,
}

/// Parses the arguments after `run` (or after `replay`, with `replay = true`: exactly one file
/// and a seed, no JUnit).
pub fn parse(args: &[String], replay: bool) -> Result<RunArgs, String> {
    let mut out = RunArgs {
        files: Vec::new(),
        seed: None,
        junit: None,
        history: PathBuf::from(DEFAULT_HISTORY_DIR),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seed" => {
                out.seed = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--seed takes an unsigned 64-bit integer")?,
                )
            }
            "--junit" if !replay => {
                out.junit = Some(PathBuf::from(it.next().ok_or("--junit takes a path")?))
            }
            "--history" => {
                out.history = PathBuf::from(it.next().ok_or("--history takes a directory")?)
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag:?}")),
            file => out.files.push(PathBuf::from(file)),
        }
    }
    if replay {
        if out.files.len() != 1 {
            return Err("replay takes exactly one scenario file".into());
        }
        if out.seed.is_none() {
            return Err("replay needs --seed N".into());
        }
    }
    Ok(out)
}

/// `scenarios/*.toml` under `dir`, sorted.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// `s` as one POSIX shell word: as is when it is made of safe characters only, else in single
/// quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// How to invoke the harness again: `matrix-sim` is not installed on PATH, so through cargo
/// (from the workspace).
pub const REPLAY_PREFIX: &str = "cargo run -p sim --bin matrix-sim --";

/// The one command that replays `outcome` of `file` exactly (paths shell-quoted).
pub fn replay_command(file: &Path, outcome: &Outcome, history_dir: &Path) -> String {
    format!(
        "{REPLAY_PREFIX} replay {} --seed {} --history {}",
        shell_quote(&file.display().to_string()),
        outcome.seed,
        shell_quote(&history_dir.display().to_string())
    )
}

/// Runs every file (all of `scenarios/` when none is given); progress and the table go to `out`.
/// Returns whether every scenario passed.
pub async fn run(args: &RunArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<bool> {
    let files = if args.files.is_empty() {
        let dir = std::env::var_os("MATRIX_SIM_SCENARIOS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("scenarios"));
        scenario_files(&dir).map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?
    } else {
        args.files.clone()
    };
    anyhow::ensure!(!files.is_empty(), "no scenario files to run");
    // Parse everything first: a typo in the last file should not cost a whole run.
    let scenarios: Vec<(PathBuf, Scenario)> = files
        .iter()
        .map(|f| Scenario::load(f).map(|s| (f.clone(), s)))
        .collect::<Result<_, _>>()?;
    // Two files with one name would overwrite each other's history and JUnit case.
    let mut names: std::collections::BTreeMap<&str, &Path> = std::collections::BTreeMap::new();
    for (file, scenario) in &scenarios {
        if let Some(first) = names.insert(&scenario.name, file) {
            anyhow::bail!(
                "{} and {} both name their scenario {:?}",
                first.display(),
                file.display(),
                scenario.name
            );
        }
    }
    let mut outcomes = Vec::new();
    let mut replays = Vec::new();
    for (file, scenario) in &scenarios {
        let seed = args.seed.unwrap_or(scenario.seed);
        writeln!(out, "== {} (seed {seed})", scenario.name)?;
        let mut progress = |line: &str| {
            let _ = writeln!(out, "{line}");
        };
        let started = std::time::Instant::now();
        let result = run_scenario(
            scenario,
            &RunOptions {
                seed: args.seed,
                ..RunOptions::default()
            },
            &mut progress,
        )
        .await;
        let outcome = match result {
            Ok(outcome) => outcome,
            // One scenario's harness error must not cost the rest of the batch.
            Err(e) => Outcome::errored(scenario, seed, started.elapsed(), format!("{e:#}")),
        };
        let replay = replay_command(file, &outcome, &args.history);
        if let Some(e) = &outcome.run_error {
            writeln!(out, "   ERROR: {e}")?;
            writeln!(out, "   replay: {replay}")?;
            outcomes.push(outcome);
            replays.push(replay);
            continue;
        }
        let path = history::write(&args.history, &scenario.name, &outcome.history)?;
        std::fs::write(
            args.history.join(format!("{}.log", scenario.name)),
            &outcome.logs,
        )?;
        if outcome.passed() {
            writeln!(
                out,
                "   pass in {:.1}s, history {}",
                outcome.duration.as_secs_f64(),
                path.display()
            )?;
        } else {
            writeln!(out, "   FAIL: {}", outcome.failure().unwrap_or_default())?;
            for v in outcome.violations.iter().skip(1) {
                writeln!(out, "         {}: {}", v.invariant.name(), v.message)?;
            }
            writeln!(out, "   history {}", path.display())?;
            writeln!(out, "   replay: {replay}")?;
        }
        outcomes.push(outcome);
        replays.push(replay);
    }
    writeln!(out)?;
    write!(out, "{}", report::table(&outcomes))?;
    if let Some(junit) = &args.junit {
        if let Some(parent) = junit.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(junit, report::junit(&outcomes, &replays))?;
    }
    let failed: Vec<&String> = outcomes
        .iter()
        .zip(&replays)
        .filter(|(o, _)| !o.passed())
        .map(|(_, r)| r)
        .collect();
    if failed.len() == 1 {
        writeln!(out, "\nreplay the failure exactly with:\n  {}", failed[0])?;
    } else if !failed.is_empty() {
        writeln!(
            out,
            "\n{} scenarios failed; replay each with:",
            failed.len()
        )?;
        for r in failed {
            writeln!(out, "  {r}")?;
        }
    }
    Ok(outcomes.iter().all(Outcome::passed))
}

/// Reruns one scenario with its seed and prints its history path and verdict.
pub async fn replay(args: &RunArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<bool> {
    run(args, out).await
}
