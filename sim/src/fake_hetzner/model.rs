//! The fake's in-memory state: servers, actions, and how they progress.
//!
//! Progress is driven by polls, never by time. With `N = polls_until_running`:
//! - a created server is `initializing`; each *poll* of it (a `GET /servers/{id}`, or a GET of its
//!   `create_server`/`start_server` action — once per request) advances it: after more than `N/2`
//!   polls it is `starting` and `create_server` has succeeded, after more than `N` polls it is
//!   `running` (or `off` with `start_after_create: false`) and `start_server` has succeeded. So
//!   exactly `N` polls observe it not running. `N = 0` creates it `running`, actions done;
//! - a deleted server is `deleting`; its polls (GET of it or of its `delete_server` action) advance
//!   it, and after more than `N` it is gone (404) and the action has succeeded (`N = 0`: at once);
//! - power actions change the status at once and their action succeeds after `N` GETs of it;
//! - an [`ActionError`](super::FaultEffect::ActionError) fault makes the operation's action end in
//!   `error` where it would have succeeded: a create leaves the server `off`, a delete leaves it
//!   in place with its previous status, a power action changes nothing;
//! - `set_status` pins a status and stops progress (its pending actions stay `running`);
//!   `vanish` removes a server at once (its pending actions stay `running`).
//!
//! Listing servers shows the current status without advancing anything. Ids, IPs and root
//! passwords come from a generator seeded by the fake's seed, so a run is reproducible.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::catalog::{Image, Location, ServerType};
use super::labels::Labels;

/// Hetzner's server statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerStatus {
    Initializing,
    Starting,
    Running,
    Stopping,
    Off,
    Deleting,
    Migrating,
    Rebuilding,
    Unknown,
}

impl ServerStatus {
    pub const ALL: [ServerStatus; 9] = [
        ServerStatus::Initializing,
        ServerStatus::Starting,
        ServerStatus::Running,
        ServerStatus::Stopping,
        ServerStatus::Off,
        ServerStatus::Deleting,
        ServerStatus::Migrating,
        ServerStatus::Rebuilding,
        ServerStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServerStatus::Initializing => "initializing",
            ServerStatus::Starting => "starting",
            ServerStatus::Running => "running",
            ServerStatus::Stopping => "stopping",
            ServerStatus::Off => "off",
            ServerStatus::Deleting => "deleting",
            ServerStatus::Migrating => "migrating",
            ServerStatus::Rebuilding => "rebuilding",
            ServerStatus::Unknown => "unknown",
        }
    }
}

impl std::str::FromStr for ServerStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ServerStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown server status {s:?}"))
    }
}

impl std::fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one server as the fake holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FakeServer {
    pub id: i64,
    pub name: String,
    pub status: ServerStatus,
    pub created: DateTime<Utc>,
    pub labels: Labels,
    /// The cloud-init document the server was created with.
    pub user_data: Option<String>,
    pub ipv4: Ipv4Addr,
    /// The server's IPv6 network, e.g. `2a01:4f8:c17:1a2b::/64`.
    pub ipv6_prefix: String,
    pub server_type: String,
    pub image: String,
    pub location: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ActionStatus {
    Running,
    Success,
    Error,
}

impl ActionStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Running => "running",
            ActionStatus::Success => "success",
            ActionStatus::Error => "error",
        }
    }
}

/// What moves an action to its end.
#[derive(Clone, Copy, Debug)]
enum ActionDriver {
    /// The lifecycle of the server it belongs to.
    Server,
    /// Its own GETs: finishes after this many more.
    OwnPolls { left: u32, fail: bool },
}

#[derive(Clone, Debug)]
pub(crate) struct ActionRec {
    pub id: i64,
    pub command: &'static str,
    pub status: ActionStatus,
    pub progress: u8,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub error: Option<(&'static str, &'static str)>,
    pub server_id: i64,
    driver: ActionDriver,
}

#[derive(Clone, Copy, Debug)]
enum Lifecycle {
    Idle,
    Booting {
        polls: u32,
        create: i64,
        start: Option<i64>,
        fail: bool,
    },
    Deleting {
        polls: u32,
        action: i64,
        fail: bool,
        previous: ServerStatus,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct ServerRec {
    pub id: i64,
    pub name: String,
    pub status: ServerStatus,
    pub created: DateTime<Utc>,
    pub labels: Labels,
    pub user_data: Option<String>,
    pub ipv4: Ipv4Addr,
    pub ipv4_id: i64,
    pub ipv6_prefix: String,
    pub ipv6_id: i64,
    pub server_type: &'static ServerType,
    pub image: &'static Image,
    pub location: &'static Location,
    lifecycle: Lifecycle,
}

impl ServerRec {
    pub(crate) fn snapshot(&self) -> FakeServer {
        FakeServer {
            id: self.id,
            name: self.name.clone(),
            status: self.status,
            created: self.created,
            labels: self.labels.clone(),
            user_data: self.user_data.clone(),
            ipv4: self.ipv4,
            ipv6_prefix: self.ipv6_prefix.clone(),
            server_type: self.server_type.name.to_string(),
            image: self.image.name.to_string(),
            location: self.location.name.to_string(),
        }
    }

    /// An action (other than a delete) may not start while another runs.
    pub(crate) fn is_locked(&self) -> bool {
        !matches!(self.lifecycle, Lifecycle::Idle)
    }
}

/// A validated create request.
pub(crate) struct NewServer {
    pub name: String,
    pub server_type: &'static ServerType,
    pub image: &'static Image,
    pub location: &'static Location,
    pub labels: Labels,
    pub user_data: Option<String>,
    pub start_after_create: bool,
    /// Whether SSH keys were given (then there is no root password).
    pub with_ssh_keys: bool,
}

pub(crate) struct Created {
    pub server: ServerRec,
    pub action: ActionRec,
    pub next_actions: Vec<ActionRec>,
    pub root_password: Option<String>,
}

/// Deterministic ids, addresses and passwords.
#[derive(Debug)]
struct IdSource {
    rng: ChaCha8Rng,
    next_server: i64,
    next_action: i64,
    next_primary_ip: i64,
}

impl IdSource {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        IdSource {
            next_server: rng.random_range(40_000_000..60_000_000),
            next_action: rng.random_range(200_000_000..400_000_000),
            next_primary_ip: rng.random_range(50_000_000..70_000_000),
            rng,
        }
    }

    /// Increasing with gaps, as if other projects were creating resources too.
    fn bump(rng: &mut ChaCha8Rng, next: &mut i64) -> i64 {
        let id = *next;
        *next += rng.random_range(1..=9);
        id
    }

    fn server(&mut self) -> i64 {
        Self::bump(&mut self.rng, &mut self.next_server)
    }
    fn action(&mut self) -> i64 {
        Self::bump(&mut self.rng, &mut self.next_action)
    }
    fn primary_ip(&mut self) -> i64 {
        Self::bump(&mut self.rng, &mut self.next_primary_ip)
    }

    fn password(&mut self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        (0..20)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }
}

/// Bounds the search for an unused address (the range holds 65 024 of them).
const MAX_ADDRESS_DRAWS: usize = 100_000;

pub(crate) struct Store {
    pub servers: BTreeMap<i64, ServerRec>,
    pub actions: BTreeMap<i64, ActionRec>,
    ids: IdSource,
    polls_until_running: u32,
    ipv4_base: [u8; 2],
    used_ipv4: HashSet<Ipv4Addr>,
    /// Servers ever created (vanished and deleted ones included).
    pub created_total: usize,
    /// Every server ever created, as it was at its create, with whether its actions were made
    /// to fail (a failed create): deleted and vanished ones stay here.
    pub ever_created: Vec<(FakeServer, bool)>,
}

impl Store {
    pub(crate) fn new(seed: u64, polls_until_running: u32, ipv4_base: [u8; 2]) -> Self {
        Store {
            servers: BTreeMap::new(),
            actions: BTreeMap::new(),
            ids: IdSource::new(seed),
            polls_until_running,
            ipv4_base,
            used_ipv4: HashSet::new(),
            created_total: 0,
            ever_created: Vec::new(),
        }
    }

    pub(crate) fn name_taken(&self, name: &str) -> bool {
        self.servers.values().any(|s| s.name == name)
    }

    /// Creates a server; `fail` makes its actions end in `error`.
    pub(crate) fn create(
        &mut self,
        new: NewServer,
        now: DateTime<Utc>,
        fail: bool,
    ) -> Result<Created, &'static str> {
        let ipv4 = self
            .fresh_ipv4()
            .ok_or("no IPv4 address left in the fake's range")?;
        let id = self.ids.server();
        let prefix_bits: u32 = self.ids.rng.random();
        let ipv6_prefix = format!(
            "2a01:4f8:{:x}:{:x}::/64",
            0xc000 | (prefix_bits >> 16 & 0x0fff),
            prefix_bits & 0xffff
        );
        let create = self.new_action("create_server", id, now, ActionDriver::Server);
        let start = new
            .start_after_create
            .then(|| self.new_action("start_server", id, now, ActionDriver::Server));
        let root_password = (!new.with_ssh_keys).then(|| self.ids.password());
        let server = ServerRec {
            id,
            name: new.name,
            status: ServerStatus::Initializing,
            created: now,
            labels: new.labels,
            user_data: new.user_data,
            ipv4,
            ipv4_id: self.ids.primary_ip(),
            ipv6_prefix,
            ipv6_id: self.ids.primary_ip(),
            server_type: new.server_type,
            image: new.image,
            location: new.location,
            lifecycle: Lifecycle::Booting {
                polls: 0,
                create,
                start,
                fail,
            },
        };
        self.ever_created.push((server.snapshot(), fail));
        self.servers.insert(id, server);
        self.created_total += 1;
        if self.polls_until_running == 0 {
            self.poll_server(id, now);
        }
        Ok(Created {
            server: self.servers[&id].clone(),
            action: self.actions[&create].clone(),
            next_actions: start
                .map(|a| self.actions[&a].clone())
                .into_iter()
                .collect(),
            root_password,
        })
    }

    /// Starts deleting a server; a second delete returns the running delete action.
    pub(crate) fn delete(&mut self, id: i64, now: DateTime<Utc>, fail: bool) -> Option<ActionRec> {
        let server = self.servers.get(&id)?;
        let (lifecycle, status) = (server.lifecycle, server.status);
        let previous = match lifecycle {
            // idempotency: a retried delete gets the action of the first one.
            Lifecycle::Deleting { action, .. } => return Some(self.actions[&action].clone()),
            Lifecycle::Booting { create, start, .. } => {
                // Deleting a booting server aborts its boot.
                for action in std::iter::once(create).chain(start) {
                    self.finish(action, now, Some(("server_deleted", "server was deleted")));
                }
                ServerStatus::Off
            }
            Lifecycle::Idle => status,
        };
        let action = self.new_action("delete_server", id, now, ActionDriver::Server);
        let server = self.servers.get_mut(&id).expect("checked above");
        server.status = ServerStatus::Deleting;
        server.lifecycle = Lifecycle::Deleting {
            polls: 0,
            action,
            fail,
            previous,
        };
        if self.polls_until_running == 0 {
            self.poll_server(id, now);
        }
        Some(self.actions[&action].clone())
    }

    /// `start_server`, `stop_server`, `shutdown_server` or `reboot_server` (the commands of
    /// `poweron`, `poweroff`, `shutdown`, `reboot`): the status changes at once.
    pub(crate) fn power(
        &mut self,
        id: i64,
        command: &'static str,
        now: DateTime<Utc>,
        fail: bool,
    ) -> ActionRec {
        let left = self.polls_until_running;
        let action = self.new_action(command, id, now, ActionDriver::OwnPolls { left, fail });
        if !fail && let Some(server) = self.servers.get_mut(&id) {
            server.status = match command {
                "stop_server" | "shutdown_server" => ServerStatus::Off,
                _ => ServerStatus::Running,
            };
        }
        if left == 0 {
            self.finish(action, now, fail.then_some(ACTION_FAILED));
        }
        self.actions[&action].clone()
    }

    /// Advances a server's lifecycle by one poll. Returns whether it still exists.
    pub(crate) fn poll_server(&mut self, id: i64, now: DateTime<Utc>) -> bool {
        let n = self.polls_until_running;
        let Some(server) = self.servers.get_mut(&id) else {
            return false;
        };
        match server.lifecycle {
            Lifecycle::Idle => true,
            Lifecycle::Booting {
                polls,
                create,
                start,
                fail,
            } => {
                let polls = polls + 1;
                let progress = (polls * 100 / (n + 1)).min(99) as u8;
                server.lifecycle = Lifecycle::Booting {
                    polls,
                    create,
                    start,
                    fail,
                };
                if polls > n / 2 {
                    if fail {
                        server.status = ServerStatus::Off;
                        server.lifecycle = Lifecycle::Idle;
                        for action in std::iter::once(create).chain(start) {
                            self.finish(action, now, Some(ACTION_FAILED));
                        }
                        return true;
                    }
                    server.status = ServerStatus::Starting;
                    self.finish(create, now, None);
                }
                if polls > n {
                    let server = self.servers.get_mut(&id).expect("present above");
                    server.status = if start.is_some() {
                        ServerStatus::Running
                    } else {
                        ServerStatus::Off
                    };
                    server.lifecycle = Lifecycle::Idle;
                    if let Some(start) = start {
                        self.finish(start, now, None);
                    }
                } else {
                    for action in std::iter::once(create).chain(start) {
                        self.set_progress(action, progress);
                    }
                }
                true
            }
            Lifecycle::Deleting {
                polls,
                action,
                fail,
                previous,
            } => {
                let polls = polls + 1;
                if polls <= n {
                    server.lifecycle = Lifecycle::Deleting {
                        polls,
                        action,
                        fail,
                        previous,
                    };
                    self.set_progress(action, (polls * 100 / (n + 1)).min(99) as u8);
                    return true;
                }
                if fail {
                    server.status = previous;
                    server.lifecycle = Lifecycle::Idle;
                    self.finish(action, now, Some(ACTION_FAILED));
                    true
                } else {
                    self.servers.remove(&id);
                    self.finish(action, now, None);
                    false
                }
            }
        }
    }

    /// Polls the given actions (and so their servers, each once) and returns them, in id order.
    pub(crate) fn poll_actions(
        &mut self,
        ids: &BTreeSet<i64>,
        now: DateTime<Utc>,
    ) -> Vec<ActionRec> {
        let mut servers = BTreeSet::new();
        for id in ids {
            let Some(action) = self.actions.get_mut(id) else {
                continue;
            };
            match action.driver {
                ActionDriver::Server => {
                    servers.insert(action.server_id);
                }
                ActionDriver::OwnPolls { left, fail } if action.status == ActionStatus::Running => {
                    let left = left.saturating_sub(1);
                    action.driver = ActionDriver::OwnPolls { left, fail };
                    if left == 0 {
                        self.finish(*id, now, fail.then_some(ACTION_FAILED));
                    }
                }
                ActionDriver::OwnPolls { .. } => {}
            }
        }
        for server in servers {
            self.poll_server(server, now);
        }
        ids.iter()
            .filter_map(|id| self.actions.get(id).cloned())
            .collect()
    }

    pub(crate) fn vanish(&mut self, id: i64) -> bool {
        self.servers.remove(&id).is_some()
    }

    pub(crate) fn set_status(&mut self, id: i64, status: ServerStatus) -> bool {
        match self.servers.get_mut(&id) {
            Some(server) => {
                server.status = status;
                server.lifecycle = Lifecycle::Idle;
                true
            }
            None => false,
        }
    }

    fn new_action(
        &mut self,
        command: &'static str,
        server_id: i64,
        now: DateTime<Utc>,
        driver: ActionDriver,
    ) -> i64 {
        let id = self.ids.action();
        self.actions.insert(
            id,
            ActionRec {
                id,
                command,
                status: ActionStatus::Running,
                progress: 0,
                started: now,
                finished: None,
                error: None,
                server_id,
                driver,
            },
        );
        id
    }

    fn finish(&mut self, id: i64, now: DateTime<Utc>, error: Option<(&'static str, &'static str)>) {
        if let Some(action) = self.actions.get_mut(&id)
            && action.status == ActionStatus::Running
        {
            action.status = if error.is_some() {
                ActionStatus::Error
            } else {
                ActionStatus::Success
            };
            action.progress = 100;
            action.finished = Some(now);
            action.error = error;
        }
    }

    fn set_progress(&mut self, id: i64, progress: u8) {
        if let Some(action) = self.actions.get_mut(&id)
            && action.status == ActionStatus::Running
        {
            action.progress = progress;
        }
    }

    fn fresh_ipv4(&mut self) -> Option<Ipv4Addr> {
        let [a, b] = self.ipv4_base;
        for _ in 0..MAX_ADDRESS_DRAWS {
            let ip = Ipv4Addr::new(
                a,
                b,
                self.ids.rng.random_range(0..=255),
                self.ids.rng.random_range(1..=254),
            );
            if self.used_ipv4.insert(ip) {
                return Some(ip);
            }
        }
        None
    }
}

/// The error an [`ActionError`](super::FaultEffect::ActionError) fault gives an action.
pub(crate) const ACTION_FAILED: (&str, &str) = ("action_failed", "Action failed (injected fault)");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_hetzner::catalog;
    use chrono::TimeZone;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000, 0).unwrap()
    }

    fn new_server(name: &str) -> NewServer {
        NewServer {
            name: name.into(),
            server_type: catalog::server_type(&json!("cx22")).unwrap(),
            image: catalog::image(&json!("debian-12")).unwrap(),
            location: catalog::location(&json!("fsn1")).unwrap(),
            labels: Labels::new(),
            user_data: None,
            start_after_create: true,
            with_ssh_keys: false,
        }
    }

    fn statuses_over_polls(n: u32) -> Vec<ServerStatus> {
        let mut store = Store::new(1, n, [49, 12]);
        let now = t0();
        let created = store.create(new_server("a"), now, false).unwrap();
        let id = created.server.id;
        let mut seen = vec![created.server.status];
        for _ in 0..=n {
            store.poll_server(id, now);
            seen.push(store.servers[&id].status);
        }
        seen
    }

    #[test]
    fn exactly_n_polls_see_a_server_not_running() {
        use ServerStatus::*;
        assert_eq!(statuses_over_polls(0), [Running, Running]);
        assert_eq!(statuses_over_polls(1), [Initializing, Starting, Running]);
        assert_eq!(
            statuses_over_polls(3),
            [Initializing, Initializing, Starting, Starting, Running]
        );
    }

    #[test]
    fn action_polls_drive_the_server_once_per_request() {
        let mut store = Store::new(1, 2, [49, 12]);
        let now = t0();
        let created = store.create(new_server("a"), now, false).unwrap();
        let ids: BTreeSet<i64> = [created.action.id, created.next_actions[0].id].into();
        let first = store.poll_actions(&ids, now);
        assert!(first.iter().all(|a| a.status == ActionStatus::Running));
        assert_eq!(
            store.servers[&created.server.id].status,
            ServerStatus::Initializing
        );
        let second = store.poll_actions(&ids, now);
        assert_eq!(
            second[0].status,
            ActionStatus::Success,
            "create is done once starting"
        );
        assert_eq!(second[1].status, ActionStatus::Running);
        assert_eq!(
            store.servers[&created.server.id].status,
            ServerStatus::Starting
        );
        let third = store.poll_actions(&ids, now);
        assert!(third.iter().all(|a| a.status == ActionStatus::Success));
        assert_eq!(
            store.servers[&created.server.id].status,
            ServerStatus::Running
        );
    }

    #[test]
    fn a_failed_create_leaves_the_server_off_with_failed_actions() {
        let mut store = Store::new(1, 0, [49, 12]);
        let created = store.create(new_server("a"), t0(), true).unwrap();
        assert_eq!(created.server.status, ServerStatus::Off);
        assert_eq!(created.action.status, ActionStatus::Error);
        assert_eq!(created.action.error, Some(ACTION_FAILED));
        assert_eq!(created.next_actions[0].status, ActionStatus::Error);
    }

    #[test]
    fn delete_goes_through_deleting_then_gone() {
        let mut store = Store::new(1, 1, [49, 12]);
        let now = t0();
        let id = store.create(new_server("a"), now, false).unwrap().server.id;
        store.set_status(id, ServerStatus::Running);
        let action = store.delete(id, now, false).unwrap();
        assert_eq!(action.command, "delete_server");
        assert_eq!(store.servers[&id].status, ServerStatus::Deleting);
        assert_eq!(
            store.delete(id, now, false).unwrap().id,
            action.id,
            "retried delete"
        );
        assert!(
            store.poll_server(id, now),
            "one poll still sees it deleting"
        );
        assert!(!store.poll_server(id, now), "then it is gone");
        assert_eq!(store.actions[&action.id].status, ActionStatus::Success);
        assert!(!store.name_taken("a"), "the name is free again");
    }

    #[test]
    fn same_seed_same_ids_and_addresses() {
        let run = |seed| {
            let mut store = Store::new(seed, 0, [49, 12]);
            (0..5)
                .map(|i| {
                    let c = store
                        .create(new_server(&format!("s{i}")), t0(), false)
                        .unwrap();
                    (
                        c.server.id,
                        c.server.ipv4,
                        c.server.ipv6_prefix,
                        c.action.id,
                        c.root_password,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
