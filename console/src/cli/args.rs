//! Argument parsing, by hand (the workspace carries no argument-parsing crate; the grammar is small).
//!
//! Options may come before or after the subcommand, as `--flag value` or `--flag=value`. The parser
//! validates every value into its typed form (`ClerkUserId`, `RuntimeSlot`, `url::Url`, `Secret`)
//! so the subcommands receive only valid input.
//!
//! Guarantee: a [`UsageError`] never contains the token. Errors name options, never echo positional
//! values, and echo an unknown option only up to its `=`: a token typed in the wrong place cannot
//! reach the terminal or a log.

use std::path::PathBuf;

use control_plane::ids::{ClerkUserId, Handle, MachineId, RuntimeSlot};
use control_plane::secret::Secret;
use control_plane::status::MachineStatus;

use crate::strings::cli as s;

/// What the process environment contributes (read once in `main`, injected in tests).
#[derive(Clone, Default)]
pub struct Env {
    pub platform_url: Option<String>,
    pub token: Option<Secret>,
    pub xdg_state_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("platform_url", &self.platform_url)
            .field("token", &self.token)
            .field("xdg_state_home", &self.xdg_state_home)
            .field("home", &self.home)
            .finish()
    }
}

impl Env {
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            platform_url: var(s::ENV_URL),
            // Trimmed: a token read from a file often ends with a newline.
            token: var(s::ENV_TOKEN).map(|v| Secret::new(v.trim())),
            xdg_state_home: std::env::var_os("XDG_STATE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            home: std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// Where the control plane is and how to authenticate. `Debug` shows the token as `[redacted]`.
#[derive(Debug, Clone)]
pub struct Connection {
    pub url: url::Url,
    pub token: Secret,
}

/// A parsed command line.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Present for every command that talks to a control plane.
    pub connection: Option<Connection>,
    pub read_only: bool,
    /// `--log-file`; `None` means the default place (see `cli::logging`).
    pub log_file: Option<PathBuf>,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    /// No subcommand: the interactive console.
    Interactive,
    Fleet(FleetArgs),
    Status {
        machine: MachineRef,
        json: bool,
    },
    Events {
        machine: MachineRef,
        json: bool,
        limit: u32,
    },
    Recover(RecoverArgs),
    Delete(DeleteArgs),
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetArgs {
    pub json: bool,
    /// Keep only these statuses (empty: every live status).
    pub statuses: Vec<MachineStatus>,
    pub faults: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverArgs {
    pub user: ClerkUserId,
    pub slot: RuntimeSlot,
    pub allow_empty: bool,
    pub yes: bool,
    /// Print the platform's answer as JSON instead of sentences.
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteArgs {
    pub machine: MachineRef,
    pub yes: bool,
    /// Print the platform's answer as JSON instead of a sentence.
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoArgs {
    pub hosts: usize,
    pub seed: u64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self { hosts: 24, seed: 1 }
    }
}

/// How the operator named a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineRef {
    Id(MachineId),
    Handle(Handle),
}

impl MachineRef {
    pub fn parse(value: &str) -> Result<Self, UsageError> {
        if let Ok(id) = MachineId::parse(value) {
            return Ok(Self::Id(id));
        }
        Handle::parse(value)
            .map(Self::Handle)
            .map_err(|_| UsageError::new(s::BAD_MACHINE))
    }
}

/// A command line that cannot run (exit code 2). The message never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

impl UsageError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

const DEFAULT_EVENT_LIMIT: u32 = 200;

/// Options that take a value, and the subcommands each applies to (`None`: global).
const VALUE_OPTIONS: &[(&str, Option<&[&str]>)] = &[
    ("--platform-url", None),
    ("--token", None),
    ("--log-file", None),
    ("--status", Some(&["fleet"])),
    ("--limit", Some(&["events"])),
    ("--slot", Some(&["recover"])),
    ("--hosts", Some(&["demo"])),
    ("--seed", Some(&["demo"])),
];

/// Options without a value, and the subcommands each applies to (`None`: global).
const SWITCHES: &[(&str, Option<&[&str]>)] = &[
    ("--read-only", None),
    ("--help", None),
    ("-h", None),
    ("--version", None),
    ("-V", None),
    (
        "--json",
        Some(&["fleet", "status", "events", "recover", "delete"]),
    ),
    ("--faults", Some(&["fleet"])),
    ("--allow-empty", Some(&["recover"])),
    ("--yes", Some(&["recover", "delete"])),
    ("-y", Some(&["recover", "delete"])),
];

const SUBCOMMANDS: &[&str] = &[
    "fleet", "status", "events", "recover", "delete", "demo", "help",
];

/// Parses the arguments after the program name.
pub fn parse(args: &[std::ffi::OsString], env: &Env) -> Result<Invocation, UsageError> {
    let args: Vec<&str> = args
        .iter()
        .map(|a| a.to_str().ok_or_else(|| UsageError::new(s::NOT_UTF8)))
        .collect::<Result<_, _>>()?;

    let mut values: Vec<(&'static str, String)> = Vec::new();
    let mut switches: Vec<&'static str> = Vec::new();
    let mut positionals: Vec<&str> = Vec::new();
    let mut it = args.into_iter();
    let mut only_positionals = false;
    while let Some(arg) = it.next() {
        if only_positionals || !arg.starts_with('-') || arg == "-" {
            positionals.push(arg);
            continue;
        }
        if arg == "--" {
            only_positionals = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg, None),
        };
        if let Some((known, _)) = VALUE_OPTIONS.iter().find(|(n, _)| *n == name) {
            let value = match inline {
                Some(v) => v.to_owned(),
                None => it
                    .next()
                    .ok_or_else(|| UsageError::new(s::needs_value(known)))?
                    .to_owned(),
            };
            values.push((known, value));
        } else if let Some((known, _)) = SWITCHES.iter().find(|(n, _)| *n == name) {
            if inline.is_some() {
                return Err(UsageError::new(s::takes_no_value(known)));
            }
            switches.push(known);
        } else {
            return Err(UsageError::new(s::unknown_option(name)));
        }
    }

    if switches.iter().any(|f| matches!(*f, "--help" | "-h"))
        || positionals.first() == Some(&"help")
    {
        return Ok(Invocation {
            connection: None,
            read_only: false,
            log_file: None,
            command: Command::Help,
        });
    }
    if switches.iter().any(|f| matches!(*f, "--version" | "-V")) {
        return Ok(Invocation {
            connection: None,
            read_only: false,
            log_file: None,
            command: Command::Version,
        });
    }

    let sub = positionals.first().copied();
    if let Some(name) = sub
        && !SUBCOMMANDS.contains(&name)
    {
        // Not echoed: a token pasted in the wrong place would otherwise land on the terminal.
        return Err(UsageError::new(s::UNKNOWN_SUBCOMMAND));
    }
    let applies = |flag: &str, scope: Option<&[&str]>| -> Result<(), UsageError> {
        match (scope, sub) {
            (None, _) => Ok(()),
            (Some(subs), Some(sub)) if subs.contains(&sub) => Ok(()),
            (Some(_), Some(sub)) => Err(UsageError::new(s::option_not_for(flag, sub))),
            (Some(_), None) => Err(UsageError::new(s::option_needs_subcommand(flag))),
        }
    };
    for (flag, _) in &values {
        let scope = VALUE_OPTIONS
            .iter()
            .find(|(n, _)| n == flag)
            .and_then(|e| e.1);
        applies(flag, scope)?;
    }
    for flag in &switches {
        let scope = SWITCHES.iter().find(|(n, _)| n == flag).and_then(|e| e.1);
        applies(flag, scope)?;
    }

    let value = |name: &str| -> Option<&str> {
        values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    let switch = |name: &str| switches.contains(&name);
    let yes = switch("--yes") || switch("-y");
    let json = switch("--json");
    let read_only = switch("--read-only");
    let rest = positionals.get(1..).unwrap_or_default();
    let one = |sub: &str, what: &str| -> Result<&str, UsageError> {
        match rest {
            [] => Err(UsageError::new(s::missing_argument(sub, what))),
            [one] => Ok(*one),
            _ => Err(UsageError::new(s::extra_argument(sub))),
        }
    };
    let none = |sub: &str| -> Result<(), UsageError> {
        if rest.is_empty() {
            Ok(())
        } else {
            Err(UsageError::new(s::extra_argument(sub)))
        }
    };

    let command = match sub {
        None => Command::Interactive,
        Some("fleet") => {
            none("fleet")?;
            let statuses = match value("--status") {
                None => Vec::new(),
                Some(list) => parse_statuses(list)?,
            };
            Command::Fleet(FleetArgs {
                json,
                statuses,
                faults: switch("--faults"),
            })
        }
        Some("status") => Command::Status {
            machine: MachineRef::parse(one("status", "MACHINE")?)?,
            json,
        },
        Some("events") => Command::Events {
            machine: MachineRef::parse(one("events", "MACHINE")?)?,
            json,
            limit: match value("--limit") {
                None => DEFAULT_EVENT_LIMIT,
                Some(v) => v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| UsageError::new(s::BAD_LIMIT))?,
            },
        },
        Some("recover") => Command::Recover(RecoverArgs {
            user: ClerkUserId::parse(one("recover", "USER")?)
                .map_err(|_| UsageError::new(s::BAD_USER))?,
            slot: match value("--slot") {
                None => RuntimeSlot::primary(),
                Some(v) => RuntimeSlot::parse(v).map_err(|_| UsageError::new(s::BAD_SLOT))?,
            },
            allow_empty: switch("--allow-empty"),
            yes,
            json,
        }),
        Some("delete") => Command::Delete(DeleteArgs {
            machine: MachineRef::parse(one("delete", "MACHINE")?)?,
            yes,
            json,
        }),
        Some("demo") => {
            none("demo")?;
            if value("--platform-url").is_some() || value("--token").is_some() {
                return Err(UsageError::new(s::DEMO_NO_CONNECTION));
            }
            let defaults = DemoArgs::default();
            Command::Demo(DemoArgs {
                hosts: match value("--hosts") {
                    None => defaults.hosts,
                    Some(v) => v
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| UsageError::new(s::BAD_HOSTS))?,
                },
                seed: match value("--seed") {
                    None => defaults.seed,
                    Some(v) => v.parse().map_err(|_| UsageError::new(s::BAD_SEED))?,
                },
            })
        }
        Some(_) => unreachable!("checked against SUBCOMMANDS above"),
    };

    if read_only && matches!(command, Command::Recover(_) | Command::Delete(_)) {
        return Err(UsageError::new(s::READ_ONLY));
    }

    let connection = match command {
        Command::Demo(_) | Command::Help | Command::Version => None,
        _ => Some(connection(value("--platform-url"), value("--token"), env)?),
    };
    Ok(Invocation {
        connection,
        read_only,
        log_file: value("--log-file").map(PathBuf::from),
        command,
    })
}

fn connection(url: Option<&str>, token: Option<&str>, env: &Env) -> Result<Connection, UsageError> {
    let url = url
        .filter(|v| !v.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| env.platform_url.clone())
        .ok_or_else(|| UsageError::new(s::missing_url()))?;
    let url = url::Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .filter(|u| u.username().is_empty() && u.password().is_none())
        .filter(|u| u.host().is_some())
        // Printed and logged: no query or fragment that could carry anything secret.
        .filter(|u| u.query().is_none() && u.fragment().is_none())
        .ok_or_else(|| UsageError::new(s::BAD_URL))?;
    let token = token
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .or_else(|| env.token.clone())
        .ok_or_else(|| UsageError::new(s::missing_token()))?;
    if !crate::client::token_fits_a_header(&token) {
        return Err(UsageError::new(s::BAD_TOKEN));
    }
    Ok(Connection { url, token })
}

fn parse_statuses(list: &str) -> Result<Vec<MachineStatus>, UsageError> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let status = MachineStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == part)
            .ok_or_else(|| UsageError::new(s::BAD_STATUS))?;
        if !out.contains(&status) {
            out.push(status);
        }
    }
    if out.is_empty() {
        return Err(UsageError::new(s::BAD_STATUS));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tok-SECRET-4242";

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(Into::into).collect()
    }

    fn env_full() -> Env {
        Env {
            platform_url: Some("http://127.0.0.1:9".into()),
            token: Some(Secret::new(TOKEN)),
            ..Env::default()
        }
    }

    fn parse_ok(list: &[&str]) -> Invocation {
        parse(&args(list), &env_full()).unwrap()
    }

    fn parse_err(list: &[&str], env: &Env) -> String {
        parse(&args(list), env).unwrap_err().to_string()
    }

    #[test]
    fn no_subcommand_opens_the_interactive_console() {
        let inv = parse_ok(&[]);
        assert_eq!(inv.command, Command::Interactive);
        assert_eq!(inv.connection.unwrap().url.as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn a_missing_url_names_the_flag_and_the_environment_variable() {
        let env = Env {
            token: Some(Secret::new(TOKEN)),
            ..Env::default()
        };
        let e = parse_err(&["fleet"], &env);
        assert!(
            e.contains("--platform-url") && e.contains("MATRIX_PLATFORM_URL"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_token_names_the_flag_and_the_environment_variable() {
        let env = Env {
            platform_url: Some("http://127.0.0.1:9".into()),
            ..Env::default()
        };
        let e = parse_err(&["status", "alpha"], &env);
        assert!(
            e.contains("--token") && e.contains("MATRIX_PLATFORM_TOKEN"),
            "{e}"
        );
        // The interactive console needs both as well.
        let e = parse_err(&[], &env);
        assert!(e.contains("MATRIX_PLATFORM_TOKEN"), "{e}");
    }

    #[test]
    fn flags_win_over_the_environment() {
        let inv = parse_ok(&["--platform-url", "https://cp.example:8443", "fleet"]);
        assert_eq!(
            inv.connection.unwrap().url.as_str(),
            "https://cp.example:8443/"
        );
        let inv = parse_ok(&["fleet", "--token=other"]);
        assert_eq!(inv.connection.unwrap().token.expose(), "other");
    }

    #[test]
    fn options_may_follow_the_subcommand() {
        let inv = parse_ok(&[
            "fleet",
            "--json",
            "--read-only",
            "--status",
            "failed,running",
        ]);
        assert!(inv.read_only);
        assert_eq!(
            inv.command,
            Command::Fleet(FleetArgs {
                json: true,
                statuses: vec![MachineStatus::Failed, MachineStatus::Running],
                faults: false,
            })
        );
    }

    #[test]
    fn unknown_options_are_refused_without_echoing_their_value() {
        let e = parse_err(&["fleet", &format!("--tokn={TOKEN}")], &env_full());
        assert!(e.contains("--tokn"), "{e}");
        assert!(!e.contains(TOKEN), "{e}");
        let e = parse_err(&["--frobnicate"], &env_full());
        assert!(e.contains("unknown option --frobnicate"), "{e}");
    }

    #[test]
    fn a_stray_positional_is_never_echoed() {
        let e = parse_err(&["status", "alpha", TOKEN], &env_full());
        assert!(!e.contains(TOKEN), "{e}");
        let e = parse_err(&["fleet", TOKEN], &env_full());
        assert!(!e.contains(TOKEN), "{e}");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let inv = parse_ok(&["--token", TOKEN, "fleet"]);
        let debug = format!("{inv:?} {:?}", env_full());
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }

    #[test]
    fn options_of_other_subcommands_are_refused() {
        let e = parse_err(&["fleet", "--yes"], &env_full());
        assert!(e.contains("--yes does not apply to fleet"), "{e}");
        let e = parse_err(&["--json"], &env_full());
        assert!(e.contains("--json needs a subcommand"), "{e}");
        let e = parse_err(&["recover", "user_a", "--limit", "3"], &env_full());
        assert!(e.contains("--limit"), "{e}");
    }

    #[test]
    fn slot_is_validated_and_defaults_to_primary() {
        let Command::Recover(r) = parse_ok(&["recover", "user_a"]).command else {
            panic!("recover")
        };
        assert_eq!(r.slot.as_str(), "primary");
        assert!(!r.yes && !r.allow_empty);
        let Command::Recover(r) =
            parse_ok(&["recover", "user_a", "--slot=gpu-1", "-y", "--allow-empty"]).command
        else {
            panic!("recover")
        };
        assert_eq!(r.slot.as_str(), "gpu-1");
        assert!(r.yes && r.allow_empty);
        for bad in ["", "-gpu", "GPU", "gpu_1", &"a".repeat(33)] {
            let e = parse_err(&["recover", "user_a", "--slot", bad], &env_full());
            assert!(e.contains("--slot"), "{bad:?}: {e}");
        }
        let e = parse_err(&["recover", "user_a", "--slot"], &env_full());
        assert_eq!(e, "--slot needs a value");
    }

    #[test]
    fn the_user_must_be_a_clerk_user_id() {
        let e = parse_err(&["recover", "a b"], &env_full());
        assert!(e.contains("Clerk user id"), "{e}");
        let e = parse_err(&["recover"], &env_full());
        assert!(e.contains("recover needs USER"), "{e}");
    }

    #[test]
    fn a_machine_is_an_id_or_a_handle() {
        let id = "7f9c2a4e-1b3d-4c5e-8f60-123456789abc";
        let Command::Status { machine, json } = parse_ok(&["status", id, "--json"]).command else {
            panic!("status")
        };
        assert!(json);
        assert_eq!(machine, MachineRef::Id(MachineId::parse(id).unwrap()));
        let Command::Delete(d) = parse_ok(&["delete", "alpha", "--json"]).command else {
            panic!("delete")
        };
        assert!(!d.yes && d.json);
        assert_eq!(
            d.machine,
            MachineRef::Handle(Handle::parse("alpha").unwrap())
        );
        let e = parse_err(&["events", "Not/A/Handle"], &env_full());
        assert!(e.contains("MACHINE"), "{e}");
    }

    #[test]
    fn the_event_limit_is_bounded() {
        let Command::Events { limit, .. } = parse_ok(&["events", "alpha"]).command else {
            panic!("events")
        };
        assert_eq!(limit, 200);
        for bad in ["0", "1001", "x", "-3"] {
            let e = parse_err(&["events", "alpha", "--limit", bad], &env_full());
            assert_eq!(e, s::BAD_LIMIT, "{bad}");
        }
    }

    #[test]
    fn status_filters_are_validated() {
        let e = parse_err(&["fleet", "--status", "runing"], &env_full());
        assert_eq!(e, s::BAD_STATUS);
    }

    #[test]
    fn read_only_refuses_actions_at_parse_time() {
        let e = parse_err(&["--read-only", "delete", "alpha", "--yes"], &env_full());
        assert_eq!(e, s::READ_ONLY);
        let e = parse_err(&["recover", "user_a", "--read-only"], &env_full());
        assert_eq!(e, s::READ_ONLY);
        assert!(parse_ok(&["--read-only"]).read_only);
    }

    #[test]
    fn demo_needs_no_connection_and_validates_its_knobs() {
        let inv = parse(
            &args(&["demo", "--hosts", "3", "--seed=9"]),
            &Env::default(),
        )
        .unwrap();
        assert!(inv.connection.is_none());
        assert_eq!(inv.command, Command::Demo(DemoArgs { hosts: 3, seed: 9 }));
        let e = parse_err(&["demo", "--hosts", "0"], &Env::default());
        assert_eq!(e, s::BAD_HOSTS);
        let e = parse_err(&["demo", "--token", "x"], &Env::default());
        assert_eq!(e, s::DEMO_NO_CONNECTION);
    }

    #[test]
    fn help_and_version_need_nothing() {
        let inv = parse(&args(&["fleet", "--help"]), &Env::default()).unwrap();
        assert_eq!(inv.command, Command::Help);
        let inv = parse(&args(&["help"]), &Env::default()).unwrap();
        assert_eq!(inv.command, Command::Help);
        let inv = parse(&args(&["-V"]), &Env::default()).unwrap();
        assert_eq!(inv.command, Command::Version);
    }

    #[test]
    fn unknown_subcommands_and_bad_urls_are_usage_errors() {
        let e = parse_err(&["fleeet"], &env_full());
        assert!(e.contains("unknown subcommand"), "{e}");
        for bad in ["ftp://x", "not a url", "http://user:pw@host"] {
            let e = parse_err(&["--platform-url", bad, "fleet"], &env_full());
            assert_eq!(e, s::BAD_URL, "{bad}");
        }
    }

    #[test]
    fn a_platform_url_with_a_query_or_fragment_is_a_usage_error() {
        for bad in [
            "http://127.0.0.1:9/?token=x",
            "http://127.0.0.1:9/#x",
            "https://cp.example/?",
        ] {
            let e = parse_err(&["--platform-url", bad, "fleet"], &env_full());
            assert_eq!(e, s::BAD_URL, "{bad}");
        }
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_a_usage_error_and_not_echoed() {
        for bad in ["tok\nen", "tök-SECRET", "tok\u{7f}en"] {
            let e = parse_err(&["fleet", "--token", bad], &env_full());
            assert_eq!(e, s::BAD_TOKEN, "{bad:?}");
            let env = Env {
                token: Some(Secret::new(bad)),
                ..env_full()
            };
            assert_eq!(parse_err(&["fleet"], &env), s::BAD_TOKEN, "{bad:?}");
        }
    }

    #[test]
    fn a_token_given_as_the_subcommand_is_not_echoed() {
        let e = parse_err(&[TOKEN], &env_full());
        assert_eq!(e, s::UNKNOWN_SUBCOMMAND);
    }
}
