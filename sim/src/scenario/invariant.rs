//! The invariants a scenario names in `expect.invariants`, checked over the history and the end
//! state: the control plane's registry (read directly with sqlx), the fake Hetzner's servers and
//! the fake R2's objects. Each violation says, in one line, what broke and where.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::run::Run;
use crate::fake_hetzner::ServerStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// At most one live row and at most one live server per (user, slot) (checked at every step
    /// boundary and at the end), and at most one successful create per `machine_id` over the
    /// whole run (deleted servers included).
    SingleLiveRow,
    /// After convergence, every server at the provider belongs to exactly one live row, and no
    /// live row has two servers.
    NoOrphanServers,
    /// A recovered host holds exactly the rows of the latest successful backup.
    RestoreMatchesBackup,
    /// A failed backup never moves `latest`.
    FailedBackupKeepsLatest,
    /// Every row leaves `provisioning`/`recovering` within `expect.transition_bound`.
    TransitionsBounded,
    /// No secret appears in a log line or a recorded API response.
    NoSecrets,
    /// The control plane paces itself: the fake Hetzner answers it at most
    /// `expect.max_throttled` (default 0) 429s over the run.
    RateLimitRespected,
}

impl Invariant {
    pub fn all() -> Vec<Invariant> {
        vec![
            Invariant::SingleLiveRow,
            Invariant::NoOrphanServers,
            Invariant::RestoreMatchesBackup,
            Invariant::FailedBackupKeepsLatest,
            Invariant::TransitionsBounded,
            Invariant::NoSecrets,
            Invariant::RateLimitRespected,
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Invariant::SingleLiveRow => "single_live_row",
            Invariant::NoOrphanServers => "no_orphan_servers",
            Invariant::RestoreMatchesBackup => "restore_matches_backup",
            Invariant::FailedBackupKeepsLatest => "failed_backup_keeps_latest",
            Invariant::TransitionsBounded => "transitions_bounded",
            Invariant::NoSecrets => "no_secrets",
            Invariant::RateLimitRespected => "rate_limit_respected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub message: String,
}

impl Violation {
    pub fn new(invariant: Invariant, message: String) -> Self {
        Violation { invariant, message }
    }
}

/// `(machine id, at, from status, to status)` of one `machine_events` row.
type EventRow = (
    String,
    chrono::DateTime<chrono::Utc>,
    Option<String>,
    Option<String>,
);

/// Servers that exist for us at the provider (not being deleted).
fn live_servers(run: &Run<'_>) -> Vec<crate::fake_hetzner::FakeServer> {
    run.fleet
        .hetzner
        .servers()
        .into_iter()
        .filter(|s| s.status != ServerStatus::Deleting)
        .collect()
}

/// Orphans (a server no live row points at) and doubles (two servers for one live row).
pub async fn server_problems(run: &Run<'_>) -> anyhow::Result<Vec<String>> {
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT machine_id::text, hetzner_server_id FROM user_machines WHERE deleted_at IS NULL",
    )
    .fetch_all(&run.db)
    .await?;
    let owned: BTreeMap<i64, String> = rows
        .iter()
        .filter_map(|(m, s)| s.map(|s| (s, m.clone())))
        .collect();
    let mut problems = Vec::new();
    let mut per_machine: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for server in live_servers(run) {
        let machine = server.labels.get("machine_id").cloned().unwrap_or_default();
        per_machine
            .entry(machine.clone())
            .or_default()
            .push(server.id);
        if !owned.contains_key(&server.id) {
            problems.push(format!(
                "server {} ({}, machine {machine}) has no live row",
                server.id, server.name
            ));
        }
    }
    for (machine, servers) in per_machine {
        if servers.len() > 1 {
            problems.push(format!(
                "machine {machine} has {} servers: {servers:?}",
                servers.len()
            ));
        }
    }
    Ok(problems)
}

/// `single_live_row` over the whole run: each `machine_id` label got at most one successful
/// create at the provider (a recovery or a retry after `failed` takes a new machine id, so one
/// create per machine id is the contract). Reads the fake's memory of every server it ever
/// created, so a duplicate that the orphan sweep later deleted still counts.
pub fn duplicate_creates(run: &Run<'_>) -> Vec<Violation> {
    let mut per_machine: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (server, failed) in run.fleet.hetzner.created_servers() {
        if failed {
            continue;
        }
        let machine = server.labels.get("machine_id").cloned().unwrap_or_default();
        per_machine.entry(machine).or_default().push(server.id);
    }
    per_machine
        .into_iter()
        .filter(|(_, servers)| servers.len() > 1)
        .map(|(machine, servers)| {
            Violation::new(
                Invariant::SingleLiveRow,
                format!(
                    "machine {machine} was created {} times at the provider: servers {servers:?}",
                    servers.len()
                ),
            )
        })
        .collect()
}

/// `single_live_row` at a step boundary: per (user, slot), at most one live server at the
/// provider that belongs to a live row, not counting the old server a recovery is replacing.
/// Servers of retired rows are the orphan sweep's business (`no_orphan_servers`), not this one.
pub async fn slot_doubles(run: &Run<'_>) -> anyhow::Result<Vec<String>> {
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT machine_id::text, recovery_old_server_id FROM user_machines \
         WHERE deleted_at IS NULL",
    )
    .fetch_all(&run.db)
    .await?;
    let live_machines: std::collections::BTreeSet<String> =
        rows.iter().map(|(m, _)| m.clone()).collect();
    let replaced: std::collections::BTreeSet<i64> = rows.iter().filter_map(|(_, s)| *s).collect();
    let mut per_slot: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for s in live_servers(run) {
        let machine = s.labels.get("machine_id").cloned().unwrap_or_default();
        if replaced.contains(&s.id) || !live_machines.contains(&machine) {
            continue;
        }
        let user = s.labels.get("clerk_user_id").cloned().unwrap_or_default();
        let slot = s.labels.get("runtime_slot").cloned().unwrap_or_default();
        per_slot.entry((user, slot)).or_default().push(s.id);
    }
    Ok(per_slot
        .into_iter()
        .filter(|(_, servers)| servers.len() > 1)
        .map(|((user, slot), servers)| {
            format!(
                "{user}/{slot} has {} live servers of live rows: {servers:?}",
                servers.len()
            )
        })
        .collect())
}

/// Every end-state invariant (the ones collected while running are in `run.violations`).
pub async fn check_end_state(run: &mut Run<'_>, logs: &str) -> anyhow::Result<Vec<Violation>> {
    let mut out = Vec::new();
    // single_live_row: the registry and the provider.
    let doubles: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT clerk_user_id, runtime_slot, count(*) FROM user_machines \
         WHERE deleted_at IS NULL GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2",
    )
    .fetch_all(&run.db)
    .await?;
    for (user, slot, n) in doubles {
        out.push(Violation::new(
            Invariant::SingleLiveRow,
            format!("{user}/{slot} has {n} live rows"),
        ));
    }
    out.extend(duplicate_creates(run));
    if run.scenario.expect.converge {
        let mut per_slot: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
        for s in live_servers(run) {
            let user = s.labels.get("clerk_user_id").cloned().unwrap_or_default();
            let slot = s.labels.get("runtime_slot").cloned().unwrap_or_default();
            per_slot.entry((user, slot)).or_default().push(s.id);
        }
        for ((user, slot), servers) in per_slot {
            if servers.len() > 1 {
                out.push(Violation::new(
                    Invariant::SingleLiveRow,
                    format!(
                        "{user}/{slot} has {} live servers: {servers:?}",
                        servers.len()
                    ),
                ));
            }
        }
        for p in server_problems(run).await? {
            out.push(Violation::new(Invariant::NoOrphanServers, p));
        }
    }
    // failed_backup_keeps_latest, end state: each user's `latest` in R2 names the last backup the
    // host completed (a failed one never moved it; a successful one did).
    let users: Vec<(String, Option<String>)> = run
        .users
        .iter()
        .map(|(u, s)| (u.clone(), s.last_good_backup.clone()))
        .collect();
    for (user, last_good) in users {
        if let Some(expected) = last_good {
            let latest = run.latest_pointer(&user);
            if latest.as_deref() != Some(expected.as_str()) {
                out.push(Violation::new(
                    Invariant::FailedBackupKeepsLatest,
                    format!(
                        "{user}: latest is {latest:?}, but the last successful backup wrote {expected}"
                    ),
                ));
            }
        }
    }
    // transitions_bounded: from the event log, each entry into a transient status must be left
    // within the bound (or still be within it now).
    let bound = run
        .scenario
        .expect
        .transition_bound
        .map(|d| d.0)
        .unwrap_or(run.stale_after() + std::time::Duration::from_secs(15 * 60));
    let bound = chrono::Duration::from_std(bound)?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT machine_id::text, at, from_status, to_status FROM machine_events ORDER BY id",
    )
    .fetch_all(&run.db)
    .await?;
    let transient =
        |s: &Option<String>| matches!(s.as_deref(), Some("provisioning" | "recovering"));
    let mut entered: BTreeMap<String, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
    for (machine, at, from, to) in &events {
        if transient(from)
            && !transient(to)
            && let Some(since) = entered.remove(machine)
            && *at - since > bound
        {
            out.push(Violation::new(
                Invariant::TransitionsBounded,
                format!(
                    "machine {machine} stayed {} for {} min (bound {} min)",
                    from.as_deref().unwrap_or("?"),
                    (*at - since).num_minutes(),
                    bound.num_minutes()
                ),
            ));
        }
        if transient(to) && !transient(from) {
            entered.insert(machine.clone(), *at);
        }
    }
    let now = run.fleet.now();
    let still: Vec<(String, String)> = sqlx::query_as(
        "SELECT machine_id::text, status FROM user_machines WHERE deleted_at IS NULL \
         AND status IN ('provisioning', 'recovering') ORDER BY 1",
    )
    .fetch_all(&run.db)
    .await?;
    for (machine, status) in still {
        if let Some(since) = entered.get(&machine)
            && now - *since > bound
        {
            out.push(Violation::new(
                Invariant::TransitionsBounded,
                format!(
                    "machine {machine} is still {status} after {} min (bound {} min)",
                    (now - *since).num_minutes(),
                    bound.num_minutes()
                ),
            ));
        }
    }
    // no_secrets: log lines and everything recorded (response bodies included).
    let secrets = run.fleet.secrets();
    let recorded: String = run.history.normalised_lines().join("\n");
    for secret in &secrets {
        let label = redacted_label(secret);
        if logs.contains(secret.as_str()) {
            let line = logs
                .lines()
                .find(|l| l.contains(secret.as_str()))
                .unwrap_or_default()
                .replace(secret.as_str(), "<SECRET>");
            out.push(Violation::new(
                Invariant::NoSecrets,
                format!(
                    "secret {label} appears in a log line: {}",
                    truncate(&line, 200)
                ),
            ));
        }
        if recorded.contains(secret.as_str()) {
            out.push(Violation::new(
                Invariant::NoSecrets,
                format!("secret {label} appears in a recorded API response or event"),
            ));
        }
    }
    if logs.is_empty() {
        out.push(Violation::new(
            Invariant::NoSecrets,
            "no log line was captured (run the scenario on a current-thread runtime)".into(),
        ));
    }
    // rate_limit_respected: the control plane paces itself on the `RateLimit-*` headers (its
    // `hetzner::rate_limit::Pacer` waits for budget, never sends into an empty bucket on purpose),
    // so the fake should answer (almost) no 429 at all. Counting what the fake *admitted* would be
    // tautological: its own bucket decides that.
    let allowed = run.scenario.expect.max_throttled.unwrap_or(0) as usize;
    let throttled: Vec<_> = run
        .fleet
        .hetzner
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(429))
        .collect();
    if throttled.len() > allowed {
        let first = &throttled[0];
        out.push(Violation::new(
            Invariant::RateLimitRespected,
            format!(
                "the fake Hetzner answered {} requests with 429 (allowed {allowed}); the first: {} {}",
                throttled.len(),
                first.method,
                first.path
            ),
        ));
    }
    Ok(out)
}

fn redacted_label(secret: &str) -> String {
    // Never any part of the secret itself: only its length.
    format!("of {} characters", secret.len())
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
