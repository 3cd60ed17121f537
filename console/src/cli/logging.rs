//! Logs go to a file, never to the terminal: the interactive console draws on it, and scripts read
//! stdout and stderr.
//!
//! The file is `--log-file PATH`, else `$XDG_STATE_HOME/matrix-console/console.log`, else
//! `$HOME/.local/state/matrix-console/console.log`, else `./matrix-console.log`. It is appended to,
//! created `0600` (it names users and machines), and filtered by `MATRIX_LOG` (an `EnvFilter`
//! directive, default `info`; the HTTP stack is held at `warn` unless named). When the file cannot be
//! opened the console says so once on stderr and runs without logs rather than refusing to work.
//!
//! The token never reaches the log: the client keeps it in a `Secret` and logs no request headers.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Env;
use crate::strings::cli as s;

const DEFAULT_FILTER: &str = "info,hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn";

/// The log file used when `--log-file` is not given.
pub fn default_path(env: &Env) -> PathBuf {
    let dir = env
        .xdg_state_home
        .clone()
        .or_else(|| env.home.as_ref().map(|h| h.join(".local").join("state")));
    match dir {
        Some(dir) => dir.join("matrix-console").join("console.log"),
        None => PathBuf::from("matrix-console.log"),
    }
}

/// Installs the global subscriber writing to the log file; returns the file's path, or `None` when
/// logging is off. Safe to call twice (the second call changes nothing).
pub fn init(explicit: Option<PathBuf>, env: &Env) -> Option<PathBuf> {
    let path = explicit.unwrap_or_else(|| default_path(env));
    let file = match open(&path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!(
                "{}",
                s::log_unavailable(&path.display().to_string(), &e.to_string())
            );
            return None;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(s::ENV_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    Some(path)
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_log_file_follows_xdg_then_home_then_the_working_directory() {
        let mut env = Env {
            xdg_state_home: Some("/state".into()),
            home: Some("/home/op".into()),
            ..Env::default()
        };
        assert_eq!(
            default_path(&env),
            PathBuf::from("/state/matrix-console/console.log")
        );
        env.xdg_state_home = None;
        assert_eq!(
            default_path(&env),
            PathBuf::from("/home/op/.local/state/matrix-console/console.log")
        );
        env.home = None;
        assert_eq!(default_path(&env), PathBuf::from("matrix-console.log"));
    }
}
