//! Words of the non-interactive subcommands: the help text, prompts, warnings and error messages.
//!
//! Kept apart from the code so the wording can be reviewed in one place. Nothing here ever takes the
//! operator token as a parameter: no message can carry it.

/// Program name used as the prefix of every error line.
pub const PROGRAM: &str = "matrix-console";

pub const ENV_URL: &str = "MATRIX_PLATFORM_URL";
pub const ENV_TOKEN: &str = "MATRIX_PLATFORM_TOKEN";
pub const ENV_LOG: &str = "MATRIX_LOG";

/// `--help`. The exit-code table here, in `cli::exit` and in `docs/operator-guide.md` must agree
/// (a test checks the codes listed here against `Exit::ALL`).
pub const USAGE: &str = "\
matrix-console: the operator console of Matrix Fleet

USAGE
  matrix-console [OPTIONS]                    open the interactive console
  matrix-console [OPTIONS] fleet   [--json] [--status S[,S...]] [--faults]
  matrix-console [OPTIONS] status  MACHINE [--json]
  matrix-console [OPTIONS] events  MACHINE [--json] [--limit N]
  matrix-console [OPTIONS] recover USER [--slot SLOT] [--allow-empty] [--yes] [--json]
  matrix-console [OPTIONS] delete  MACHINE [--yes] [--json]
  matrix-console [--read-only] [--log-file PATH] demo [--hosts N] [--seed N]

OPTIONS
  --platform-url URL  control plane base URL (default: $MATRIX_PLATFORM_URL)
  --token TOKEN       operator token (default: $MATRIX_PLATFORM_TOKEN; prefer the
                      variable, command lines are visible to other local users)
  --read-only         recover and delete are refused
  --log-file PATH     where logs go (default: $XDG_STATE_HOME/matrix-console/console.log,
                      else ~/.local/state/matrix-console/console.log); never the terminal
  -h, --help          this text
  -V, --version       the version

SUBCOMMANDS
  fleet     every live machine as a table, or the platform's JSON with --json;
            --status keeps the listed statuses (provisioning, running, failed,
            recovering, deleted); --faults keeps failed, recovering, late or
            unreachable heartbeats and stale or critical backups
  status    every field of one machine
  events    the machine's timeline, oldest first (the last N events, default 200)
  recover   replace the user's server from the latest backup (slot default: primary);
            shows the backup first and asks for confirmation unless --yes;
            --allow-empty skips the platform's backup check: without --yes it asks
            a second question, and with --yes it is the acknowledgement
  delete    delete a machine (R2 data is kept); without --yes type the handle;
            recover --json and delete --json print the platform's answer as JSON
  demo      a simulated fleet on this machine with the console attached
            (default 24 hosts, seed 1); needs no URL or token

MACHINE is a machine id or a handle (a handle used by several slots needs the id).
USER is a Clerk user id. MATRIX_LOG sets the log filter (default: info).

EXIT CODES
  0  done
  1  refused or failed by the platform (409 conflict, other 4xx/5xx, unexpected
     answer), or a local failure (the demo fleet could not start)
  2  usage error: bad arguments, missing URL or token, --read-only
  3  control plane unreachable (for recover/delete the outcome is unknown:
     check with status or fleet before retrying)
  4  not found: no such machine, handle, or live machine for the user and slot
  5  operator token refused (HTTP 401/403)
  6  confirmation declined, or needed while stdin is not a terminal (use --yes)
";

pub const VERSION: &str = concat!("matrix-console ", env!("CARGO_PKG_VERSION"));

// Usage errors. `{}` placeholders are filled by the functions below, never with a value the operator
// typed for `--token`.
pub fn missing_url() -> String {
    format!("no platform URL: pass --platform-url URL or set {ENV_URL}")
}
pub fn missing_token() -> String {
    format!("no operator token: pass --token TOKEN or set {ENV_TOKEN}")
}
pub const BAD_URL: &str = "the platform URL (--platform-url or MATRIX_PLATFORM_URL) must be an \
                           http:// or https:// URL without credentials, query or fragment in it";
pub const BAD_TOKEN: &str = "the operator token (--token or MATRIX_PLATFORM_TOKEN) has characters \
                             not allowed in an HTTP header (only visible ASCII)";
pub fn unknown_option(name: &str) -> String {
    format!("unknown option {name} (see --help)")
}
pub const UNKNOWN_SUBCOMMAND: &str =
    "unknown subcommand: expected fleet, status, events, recover, delete or demo (see --help)";
pub fn needs_value(flag: &str) -> String {
    format!("{flag} needs a value")
}
pub fn takes_no_value(flag: &str) -> String {
    format!("{flag} takes no value")
}
pub fn option_not_for(flag: &str, sub: &str) -> String {
    format!("{flag} does not apply to {sub} (see --help)")
}
pub fn option_needs_subcommand(flag: &str) -> String {
    format!("{flag} needs a subcommand (see --help)")
}
pub fn missing_argument(sub: &str, what: &str) -> String {
    format!("{sub} needs {what} (see --help)")
}
pub fn extra_argument(sub: &str) -> String {
    format!("{sub}: too many arguments (see --help)")
}
pub const NOT_UTF8: &str = "arguments must be valid UTF-8";
pub const BAD_SLOT: &str = "--slot takes a runtime slot: 1-32 characters of a-z, 0-9 and '-', \
                            beginning and ending with a letter or digit";
pub const BAD_USER: &str =
    "USER must be a Clerk user id: 3-256 characters of A-Z, a-z, 0-9, '_' and '-'";
pub const BAD_MACHINE: &str = "MACHINE must be a machine id (a UUID) or a handle";
pub const BAD_LIMIT: &str = "--limit takes a number from 1 to 1000";
pub const BAD_HOSTS: &str = "--hosts takes a number from 1 to 1000";
pub const BAD_SEED: &str = "--seed takes an unsigned integer";
pub const BAD_STATUS: &str = "--status takes a comma-separated list of: provisioning, running, \
                              failed, recovering, deleted";
pub const READ_ONLY: &str = "read-only mode: recover and delete are disabled";
pub const DEMO_NO_CONNECTION: &str =
    "demo runs its own control plane: --platform-url and --token do not apply";

// Errors from the platform, with what the operator can do next.
pub fn error_line(message: &str) -> String {
    format!("{PROGRAM}: {message}")
}
pub fn unreachable(url: &str) -> String {
    format!("control plane unreachable at {url}")
}
pub const UNREACHABLE_WRITE: &str =
    "the outcome is unknown: check with `status` or `fleet` before retrying";
pub const TOKEN_REFUSED: &str = "the operator token was refused (HTTP 401/403): check \
                                 --token / MATRIX_PLATFORM_TOKEN";
pub const PROTOCOL: &str = "unexpected response from the control plane";
pub fn not_found(what: &str) -> String {
    format!("not found: {what}")
}
pub fn no_live_machine(user: &str, slot: &str) -> String {
    format!("no live machine for user {user}, slot {slot}")
}
pub fn no_handle(handle: &str) -> String {
    format!("no live machine with handle {handle}")
}
pub fn ambiguous_handle(handle: &str, n: usize) -> String {
    format!("handle {handle} names {n} live machines (one per slot): pass the machine id")
}
pub fn conflict(message: &str) -> String {
    format!("refused by the platform (409): {message}")
}
pub fn rejected(status: u16, message: &str) -> String {
    format!("refused by the platform (HTTP {status}): {message}")
}
pub const HINT_NO_BACKUP: &str = "hint: the platform found no usable backup; if the user's data is \
                                  truly gone (or the user never had any), rerun with \
                                  --allow-empty --yes to start the replacement empty";
pub const HINT_RETRY_LATER: &str = "hint: the replacement could not be created and the machine was restored as it was; retry later";
pub const HINT_IN_PROGRESS: &str =
    "hint: follow the operation in flight with `events MACHINE`, then retry if needed";

// Confirmation.
pub const CONFIRM_NEEDS_TTY: &str =
    "confirmation required, but stdin is not a terminal: pass --yes to proceed without asking";
pub const DECLINED: &str = "not confirmed: nothing was done";
pub fn ask_recover(handle: &str, user: &str, slot: &str) -> String {
    format!("Recover {handle} (user {user}, slot {slot}) onto a new server? [y/N] ")
}
/// What the operator types to accept a recovery that may start empty (the same word as in the
/// interactive console).
pub const EMPTY_CONFIRM_WORD: &str = "empty";
pub fn ask_recover_empty(handle: &str) -> String {
    format!(
        "{handle}'s replacement may start with an EMPTY database. Type \"{EMPTY_CONFIRM_WORD}\" to accept: "
    )
}
pub fn ask_delete(handle: &str) -> String {
    format!("Type the handle ({handle}) to delete this machine: ")
}

// Recover.
pub fn recover_plan(handle: &str, user: &str, slot: &str, id: &str, status: &str) -> String {
    format!("recover {handle}: user {user}, slot {slot}, machine {id}, now {status}")
}
pub fn backup_line(freshness: &str, key: &str, age: &str) -> String {
    format!("  restores from: {key} ({age} old, {freshness})")
}
pub const WARN_BACKUP_MISSING: &str = "WARNING: NO USABLE BACKUP. The platform will refuse this \
                                       recovery unless --allow-empty is given, and then the user's \
                                       data is NOT restored.";
pub fn warn_backup_absent(problem: &str) -> String {
    format!(
        "WARNING: THERE IS NO BACKUP IN R2 ({problem}). The platform will refuse this recovery \
         unless --allow-empty is given, and then the replacement starts with an EMPTY database."
    )
}
pub fn warn_backup_problem(problem: &str) -> String {
    format!(
        "WARNING: THE BACKUP IS BROKEN ({problem}). The platform will refuse this recovery \
             unless --allow-empty is given, and then the user's data is NOT restored."
    )
}
pub fn warn_backup_critical(age: &str) -> String {
    format!("WARNING: THE BACKUP IS CRITICALLY OLD ({age}). Everything written since is lost.")
}
pub fn warn_backup_stale(age: &str) -> String {
    format!("WARNING: the backup is stale ({age} old). Everything written since is lost.")
}
pub const WARN_BACKUP_UNKNOWN: &str = "WARNING: the backup has not been verified yet; the platform \
                                       checks R2 itself before recovering.";
pub const NOTE_ALLOW_EMPTY: &str = "--allow-empty: the platform will not check the backup; the \
                                    replacement still restores the latest snapshot if a valid one \
                                    exists, otherwise it starts EMPTY.";
pub fn already_recovering(handle: &str) -> String {
    format!("{handle} is already recovering: wait for it to finish (see `events`)")
}
pub fn recover_started(handle: &str, eta: u64) -> String {
    format!("recovery of {handle} started; the replacement should register in about {eta}s")
}
pub fn old_machine(id: &str) -> String {
    format!("old machine: {id}")
}
pub fn new_machine(id: &str) -> String {
    format!("new machine: {id}")
}
pub fn follow_with(id: &str) -> String {
    format!("follow it with: matrix-console events {id}")
}

// Delete.
pub fn delete_plan(handle: &str, user: &str, slot: &str, id: &str, status: &str) -> String {
    format!("delete {handle}: user {user}, slot {slot}, machine {id}, now {status}")
}
pub const DELETE_NOTE: &str =
    "  the server is deleted at Hetzner; the user's backups in R2 are kept";
pub fn already_deleted(handle: &str) -> String {
    format!("{handle} is already deleted")
}
pub fn deleted(handle: &str, id: &str, status: &str) -> String {
    format!("deleted {handle} ({id}): status {status}")
}
pub const DELETED_NOTE: &str =
    "the platform retries the provider deletion until Hetzner confirms it";

// Fleet, status and events.
pub const FLEET_HEADERS: [&str; 11] = [
    "HANDLE",
    "USER",
    "SLOT",
    "STATUS",
    "HEARTBEAT",
    "BACKUP",
    "IMAGE",
    "IP",
    "FAILURE",
    "PENDING",
    "MACHINE",
];
pub fn fleet_footer(shown: usize, total: i64, summary: &str) -> String {
    if summary.is_empty() {
        format!("{shown} of {total} machines shown")
    } else {
        format!("{shown} of {total} machines shown ({summary})")
    }
}
pub const EVENTS_HEADERS: [&str; 6] = ["AT", "KIND", "CHANGE", "ACTOR", "REASON", "RELATED"];
pub const NO_EVENTS: &str = "no events";
pub const NONE: &str = "-";

// Logging and demo.
pub fn log_unavailable(path: &str, error: &str) -> String {
    format!("{PROGRAM}: logging disabled: cannot open {path}: {error}")
}
pub fn demo_starting(hosts: usize, seed: u64, log: &str) -> String {
    format!("starting the simulated fleet ({hosts} hosts, seed {seed})... logs: {log}")
}
pub const DEMO_STOPPING: &str = "stopping the simulated fleet...";
pub fn demo_failed(error: &str) -> String {
    format!("{PROGRAM}: the simulated fleet could not start: {error}")
}
pub fn console_failed(error: &str) -> String {
    format!("{PROGRAM}: the interactive console stopped with an error: {error}")
}

/// Labels of `status` (one field per line).
pub mod labels {
    pub const MACHINE: &str = "machine";
    pub const HANDLE: &str = "handle";
    pub const USER: &str = "user";
    pub const SLOT: &str = "slot";
    pub const STATUS: &str = "status";
    pub const PENDING: &str = "pending action";
    pub const FAILURE: &str = "failure";
    pub const FAILURE_AT: &str = "failed at";
    pub const ATTEMPT: &str = "attempt";
    pub const IMAGE: &str = "image";
    pub const IPV4: &str = "IPv4";
    pub const IPV6: &str = "IPv6";
    pub const SERVER: &str = "hetzner server";
    pub const PROVISIONED_AT: &str = "provisioned at";
    pub const LAST_SEEN_AT: &str = "last seen at";
    pub const DELETED_AT: &str = "deleted at";
    pub const HEARTBEAT: &str = "heartbeat";
    pub const HEARTBEAT_AGE: &str = "heartbeat age";
    pub const HEALTHY_REPORTED: &str = "host says healthy";
    pub const BACKUP: &str = "backup";
    pub const BACKUP_AGE: &str = "backup age";
    pub const BACKUP_KEY: &str = "backup key";
    pub const BACKUP_AT: &str = "backup taken at";
    pub const BACKUP_SIZE: &str = "backup size";
    pub const BACKUP_PROBLEM: &str = "backup problem";
    pub const BACKUP_CHECKED_AT: &str = "backup checked at";
    pub const RECOVERY: &str = "recovery";
    pub const RECOVERY_OLD_MACHINE: &str = "replacing machine";
    pub const RECOVERY_OLD_SERVER: &str = "old server";
    pub const RECOVERY_OLD_IPV4: &str = "old IPv4";
    pub const RECOVERY_PREVIOUS: &str = "status before";
    pub const YES: &str = "yes";
    pub const NO: &str = "no";
}
