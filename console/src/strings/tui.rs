//! Words of the interactive screens.

// Header.
pub const APP_TITLE: &str = "Matrix Fleet";
pub const CONN_CONNECTING: &str = "○ connecting…";
pub const CONN_LIVE: &str = "● live";
pub const CONN_STALE: &str = "▲ STALE DATA";
pub const CONN_UNREACHABLE: &str = "▲ UNREACHABLE";
pub const REFRESHED: &str = "refreshed";
pub const AGO: &str = "ago";
pub const MACHINES: &str = "machines";
pub const READ_ONLY_BADGE: &str = "READ-ONLY";
pub const BANNER_DATA_FROM: &str = "data from";
pub const BANNER_NO_DATA: &str = "no data yet";
pub const BANNER_ATTEMPT: &str = "attempt";
pub const BANNER_RETRY_IN: &str = "retry in";
pub const PULSE_LATE_HB: &str = "late";
pub const PULSE_STALE_BACKUPS: &str = "stale";
pub const PULSE_HB_AGES: &str = "heartbeat";
pub const PULSE_BACKUP_AGES: &str = "backup";
pub const PULSE_NEVER: &str = "never";
pub const PULSE_NONE: &str = "none";
/// One label per bucket of `fleet::HB_BUCKETS`, then the open bucket.
pub const HB_BUCKET_LABELS: &[&str] = &["≤1m", "≤5m", "≤10m", "≤15m", "≤1h", ">1h"];
/// One label per bucket of `fleet::BACKUP_BUCKETS`, then the open bucket.
pub const BACKUP_BUCKET_LABELS: &[&str] = &["≤30m", "≤1h", "≤75m", "≤2h", "≤6h", "≤1d", ">1d"];

// Glyphs: every status and level has one, so colour is never the only signal.
pub const GLYPH_RUNNING: &str = "✓";
pub const GLYPH_FAILED: &str = "✗";
pub const GLYPH_RECOVERING: &str = "↻";
pub const GLYPH_PROVISIONING: &str = "◌";
pub const GLYPH_DELETED: &str = "·";
pub const GLYPH_INFO: &str = "ℹ";
pub const GLYPH_WARN: &str = "!";
pub const GLYPH_ERROR: &str = "✗";
pub const GLYPH_SELECTED: &str = "▶";
pub const SECTION_MARK: &str = "──";

// Table.
pub const COL_HANDLE: &str = "HANDLE";
pub const COL_USER: &str = "USER";
pub const COL_SLOT: &str = "SLOT";
pub const COL_STATUS: &str = "STATUS";
pub const COL_HEARTBEAT: &str = "HEARTBEAT";
pub const COL_BACKUP: &str = "BACKUP";
pub const COL_IMAGE: &str = "IMAGE";
pub const COL_IP: &str = "IPV4";
pub const COL_FAILURE: &str = "FAILURE";
pub const COL_PENDING: &str = "PENDING";
pub const SORT_ASC: &str = "▲";
pub const SORT_DESC: &str = "▼";
pub const CELL_NONE: &str = "—";
pub const CELL_NEVER: &str = "never";
pub const CELL_NO_BACKUP: &str = "none";
pub const MARK_LATE: &str = "!";
pub const MARK_UNREACHABLE: &str = "✗";
pub const MARK_AGING: &str = "~";
pub const MARK_STALE: &str = "!";
pub const MARK_CRITICAL: &str = "✗";
pub const PENDING_RECOVERING_LOCAL: &str = "recovering…";
pub const PENDING_DELETING_LOCAL: &str = "deleting…";
pub const TABLE_LOADING: &str = "Loading the fleet…";
pub const TABLE_NO_DATA: &str = "No fleet data yet: the control plane has not answered.";
pub const TABLE_EMPTY_FLEET: &str = "The fleet is empty: no machine has been provisioned.";
pub const TABLE_NOTHING_MATCHES: &str =
    "No machine matches the filter (c clears it, f toggles faults only).";

// Status line and footer.
pub const STATUS_FILTER: &str = "filter:";
pub const STATUS_NO_FILTER: &str = "none";
pub const STATUS_FAULTS_ONLY: &str = "[faults only]";
pub const STATUS_SORT: &str = "sort:";
pub const STATUS_ROW: &str = "row";
pub const STATUS_FILTERED_FROM: &str = "filtered from";
pub const FILTER_PROMPT: &str = "/";
pub const FILTER_REFUSED: &str = "filter not applied:";
pub const HINT_HELP: &str = "help";
pub const HINT_FILTER: &str = "filter";
pub const HINT_FAULTS: &str = "faults";
pub const HINT_SORT: &str = "sort";
pub const HINT_INSPECT: &str = "inspect";
pub const HINT_RECOVER: &str = "recover";
pub const HINT_DELETE: &str = "delete";
pub const HINT_MESSAGES: &str = "messages";
pub const HINT_QUIT: &str = "quit";
pub const HINT_BACK: &str = "back";
pub const HINT_SCROLL: &str = "scroll";
pub const HINT_RELOAD: &str = "reload";

// Filter errors.
pub const FILTER_ERR_EMPTY_NEGATION: &str = "`!` must be followed by a term";
pub const FILTER_ERR_UNKNOWN_FIELD: &str = "unknown field (status, slot, hb, backup)";
pub const FILTER_ERR_EMPTY_VALUE: &str = "missing value after";
pub const FILTER_ERR_UNKNOWN_VALUE: &str = "is not a value of";
pub const FILTER_ERR_BAD_DURATION: &str = "bad duration (use 30s, 5m, 2h, 1d, 1h30m):";
pub const FILTER_ERR_BAD_COMPARISON: &str = "only hb and backup compare with < or >:";

// Actions, refusals and outcomes.
pub const REFUSED_READ_ONLY: &str = "refused: the console is in read-only mode";
pub const REFUSED_IN_FLIGHT: &str = "refused: an action on this machine is already in flight";
pub const REFUSED_PLATFORM_BUSY: &str = "refused: the platform reports an operation in progress";
pub const REFUSED_NO_SELECTION: &str = "no machine selected";
pub const QUIT_IN_FLIGHT: &str = "an action is in flight — press q again to quit";
pub const CANCELLED: &str = "cancelled: nothing was sent";
pub const LOG_RECOVER_SENT: &str = "recover sent for";
pub const LOG_RECOVER_EMPTY_SENT: &str = "recover WITHOUT backup (allowEmpty) sent for";
pub const LOG_DELETE_SENT: &str = "delete sent for";
pub const DONE_RECOVER: &str = "recovery started for";
pub const DONE_RECOVER_REPLACEMENT: &str = "replacement";
pub const DONE_RECOVER_ETA: &str = "eta";
pub const DONE_DELETE: &str = "deleted";
pub const FAILED_RECOVER: &str = "recover failed for";
pub const FAILED_DELETE: &str = "delete failed for";
pub const LOG_REFRESH_FAILED: &str = "fleet refresh failed";
pub const LOG_CONNECTION_RESTORED: &str = "control plane answering again";

// Dialogs.
pub const DIALOG_RECOVER_TITLE: &str = "Recover machine";
pub const DIALOG_RECOVER_EMPTY_TITLE: &str = "Recover WITHOUT a backup";
pub const DIALOG_DELETE_TITLE: &str = "Delete machine";
pub const DIALOG_MACHINE: &str = "Machine";
pub const DIALOG_USER: &str = "user";
pub const DIALOG_SLOT: &str = "slot";
pub const DIALOG_MACHINE_ID: &str = "machine id";
pub const DIALOG_RESTORES_FROM: &str = "Restores from the latest verified backup:";
pub const DIALOG_KEY: &str = "key  ";
pub const DIALOG_TAKEN: &str = "taken";
pub const DIALOG_PROBLEM: &str = "backup problem:";
pub const DIALOG_RECOVER_EXPLAIN: &str =
    "Builds a replacement; traffic stays on the old server until it registers.";
pub const DIALOG_DELETE_EXPLAIN: &str =
    "Deletes the server(s) at the provider. R2 backups are kept.";
pub const DIALOG_TYPE_HANDLE: &str = "Type the handle to confirm";
pub const DIALOG_TYPE_WORD: &str = "Type";
pub const DIALOG_HANDLE_MISMATCH: &str = "the typed text is not the handle: nothing sent";
pub const DIALOG_EMPTY_MISMATCH: &str = "type the word exactly: nothing sent";
pub const DIALOG_KEYS: &str = "Tab/←/→ move focus · Enter activates · Esc cancels";
pub const EMPTY_CONFIRM_WORD: &str = "empty";
pub const WARN_NO_BACKUP: &str = "⚠ NO BACKUP TO RESTORE";
pub const WARN_NO_BACKUP_DETAIL: &str =
    "The replacement would start EMPTY: every row of this user's data is lost.";
pub const WARN_UNVERIFIED_BACKUP: &str = "⚠ BACKUP NOT VERIFIED YET";
pub const WARN_UNVERIFIED_BACKUP_DETAIL: &str =
    "The platform has not checked R2 yet: it checks now and refuses if there is no backup.";
pub const NO_BACKUP_OFFER_EMPTY: &str =
    "press r again to recover WITHOUT a backup (allowEmpty, asks first)";
pub const WARN_OLD_BACKUP: &str = "⚠ BACKUP IS";
pub const WARN_OLD_BACKUP_DETAIL: &str =
    "Everything written since this backup is lost by recovering from it.";
pub const WARN_EMPTY_STEP: &str = "⚠ LAST STEP: RECOVER WITH NO DATA (allowEmpty)";
pub const WARN_EMPTY_STEP_DETAIL: &str =
    "The platform will not check for a backup. The user starts from nothing.";
pub const BUTTON_CANCEL: &str = "Cancel";
pub const BUTTON_RECOVER: &str = "Recover";
pub const BUTTON_CONTINUE: &str = "Continue…";
pub const BUTTON_RECOVER_EMPTY: &str = "Recover empty";
pub const BUTTON_DELETE: &str = "Delete";

// Inspect.
pub const INSPECT_TITLE: &str = "Inspect";
pub const INSPECT_MACHINE: &str = "Machine";
pub const INSPECT_HEARTBEAT: &str = "Heartbeat";
pub const INSPECT_BACKUP: &str = "Backup";
pub const INSPECT_RECOVERY: &str = "Recovery in flight";
pub const INSPECT_ROUTING: &str = "Routing";
pub const INSPECT_EVENTS: &str = "Events (newest first)";
pub const INSPECT_NO_EVENTS: &str = "no events";
pub const INSPECT_LOAD_FAILED: &str = "could not load:";
pub const INSPECT_STATUS_FAILED: &str = "could not load the status:";
pub const INSPECT_STATUS_OLD: &str = "showing the last known status; reload failed:";
pub const LOADING: &str = "loading…";
pub const F_MACHINE_ID: &str = "machine id";
pub const F_USER: &str = "user";
pub const F_HANDLE: &str = "handle";
pub const F_SLOT: &str = "slot";
pub const F_STATUS: &str = "status";
pub const F_IMAGE: &str = "image version";
pub const F_IPV4: &str = "public IPv4";
pub const F_IPV6: &str = "public IPv6";
pub const F_HETZNER_ID: &str = "hetzner server";
pub const F_ATTEMPT: &str = "attempt";
pub const F_PROVISIONED_AT: &str = "provisioned at";
pub const F_LAST_SEEN_AT: &str = "last seen at";
pub const F_DELETED_AT: &str = "deleted at";
pub const F_FAILURE_CODE: &str = "failure code";
pub const F_FAILURE_AT: &str = "failed at";
pub const F_PENDING: &str = "pending action";
pub const F_HEALTH: &str = "health";
pub const F_HEALTHY_REPORTED: &str = "healthy (reported)";
pub const F_FRESHNESS: &str = "freshness";
pub const F_KEY: &str = "key";
pub const F_SNAPSHOT_AT: &str = "snapshot at";
pub const F_SIZE: &str = "size";
pub const F_PROBLEM: &str = "problem";
pub const F_CHECKED_AT: &str = "checked at";
pub const F_OLD_MACHINE: &str = "old machine";
pub const F_OLD_SERVER: &str = "old server";
pub const F_OLD_IPV4: &str = "old IPv4";
pub const F_PREVIOUS_STATUS: &str = "previous status";
pub const F_ROUTABLE: &str = "routable";
pub const F_VIA: &str = "via";
pub const F_TARGET: &str = "target";
pub const F_ROUTE_MACHINE: &str = "machine";
pub const F_REPLACEMENT: &str = "replacement";
pub const F_REASON: &str = "reason";
pub const ROUTE_ROUTABLE: &str = "yes";
pub const ROUTE_NOT_ROUTABLE: &str = "no";

// Help and messages.
pub const HELP_TITLE: &str = "Help";
pub const HELP_REFERENCE_TITLE: &str = "Filter language and marks";
pub const MESSAGES_TITLE: &str = "Messages (newest first)";
pub const MESSAGES_EMPTY: &str = "No messages yet.";
pub const CTX_GLOBAL: &str = "Everywhere";
pub const CTX_FLEET: &str = "Fleet table";
pub const CTX_INSPECT: &str = "Inspect view";
pub const CTX_PAGER: &str = "Help and messages";
pub const CTX_FILTER: &str = "Typing a filter";
pub const CTX_DIALOG: &str = "Confirmation dialogs";
pub const KEY_SPACE: &str = "Space";
pub const KEY_ENTER: &str = "Enter";
pub const KEY_ESC: &str = "Esc";
pub const KEY_TAB: &str = "Tab";
pub const KEY_BACKTAB: &str = "Shift-Tab";
pub const KEY_PAGE_UP: &str = "PgUp";
pub const KEY_PAGE_DOWN: &str = "PgDn";
pub const KEY_HOME: &str = "Home";
pub const KEY_END: &str = "End";
pub const KEY_CTRL: &str = "Ctrl-";
pub const HELP_QUIT_NOW: &str = "quit, from anywhere";
pub const HELP_QUIT: &str = "quit";
pub const HELP_HELP: &str = "this help";
pub const HELP_MESSAGES: &str = "messages: every action outcome and connection change";
pub const HELP_REFRESH: &str = "refresh now (and reload the inspect view)";
pub const HELP_UP: &str = "up";
pub const HELP_DOWN: &str = "down";
pub const HELP_PAGE_UP: &str = "page up";
pub const HELP_PAGE_DOWN: &str = "page down";
pub const HELP_TOP: &str = "first row";
pub const HELP_BOTTOM: &str = "last row";
pub const HELP_BACK: &str = "back (close help, messages or inspect)";
pub const HELP_FILTER: &str = "edit the filter";
pub const HELP_FILTER_CLEAR: &str = "clear the filter";
pub const HELP_FAULTS: &str = "faults only: failed, recovering, late heartbeat, stale backup";
pub const HELP_SORT_NEXT: &str = "sort by the next column";
pub const HELP_SORT_PREV: &str = "sort by the previous column";
pub const HELP_SORT_REVERSE: &str = "reverse the sort order";
pub const HELP_INSPECT: &str = "inspect the selected machine";
pub const HELP_RECOVER: &str = "recover the machine (asks first)";
pub const HELP_DELETE: &str = "delete the machine (asks for the handle)";
pub const HELP_FILTER_APPLY: &str = "apply the filter";
pub const HELP_FILTER_CANCEL: &str = "close without applying";
pub const HELP_DIALOG_FOCUS: &str = "move focus between Cancel and the action";
pub const HELP_DIALOG_ACTIVATE: &str = "press the focused button (Cancel at first)";
pub const HELP_DIALOG_CANCEL: &str = "cancel";
pub const HELP_FILTER_TITLE: &str = "Filter language (terms are AND-ed; `!` negates any term)";
pub const HELP_FILTER_LANGUAGE: &[(&str, &str)] = &[
    (
        "alice 95.217",
        "substring of handle, user id, machine id or IPv4",
    ),
    ("status:failed,recovering", "status is one of the list"),
    ("slot:primary", "runtime slot is one of the list"),
    (
        "hb:late,unreachable",
        "heartbeat health (ok, late, unreachable, unknown)",
    ),
    (
        "backup:stale,critical",
        "backup freshness (fresh, aging, stale, critical, unknown)",
    ),
    (
        "hb>5m   hb<30s",
        "heartbeat age; never heard from counts as older than anything",
    ),
    (
        "backup>2h   backup<1d",
        "backup age; no backup counts as older than anything",
    ),
    ("!status:running", "negation of any term"),
];
pub const HELP_MARKS_TITLE: &str = "Marks (colour is never the only signal)";
pub const HELP_MARKS: &[(&str, &str)] = &[
    (
        "✓ ✗ ↻ ◌ ·",
        "running, failed, recovering, provisioning, deleted",
    ),
    (
        "heartbeat 12m !   47m ✗",
        "heartbeat late / unreachable; never ✗: never heard from",
    ),
    ("backup 1h30m ~   3h !", "backup aging / stale"),
    ("backup 7h ✗   none ✗", "backup critical / missing"),
    ("recovering…", "an action this console sent is in flight"),
    ("▶", "the selected row"),
];
pub const HELP_LOG_FILE: &str = "Log file:";
pub const HELP_NO_LOG_FILE: &str = "none (logging is off)";
pub const HELP_READ_ONLY: &str = "Read-only mode: recover and delete are refused.";
