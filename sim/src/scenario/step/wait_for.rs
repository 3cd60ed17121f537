//! `wait_for`: drive the world (clock `tick`, boot new servers, ready hosts register, a reconciler
//! pass) until a user's machine has a `status`, or a fleet-wide `condition` holds — at most
//! `within` of simulated time. Not reaching it fails the step with what was seen last.

use serde::{Deserialize, Serialize};

use crate::scenario::duration::SimDuration;
use crate::scenario::format::check_user;
use crate::scenario::run::Run;

pub const STATUSES: [&str; 5] = ["provisioning", "running", "failed", "recovering", "deleted"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Every user the scenario provisioned has a running machine.
    AllRunning,
    /// No row is provisioning or recovering.
    NoTransientRows,
    /// The user has no live row and no server at the provider (deleted and gone).
    UserGone,
    /// No server at the provider carries the user's label (its row may still exist, e.g. failed).
    UserHasNoServer,
    /// No transient rows, no orphan or doubled servers.
    Converged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    #[serde(default = "thirty_minutes")]
    pub within: SimDuration,
    #[serde(default = "one_minute")]
    pub tick: SimDuration,
    /// Whether hosts boot and register while waiting (default true).
    #[serde(default = "yes")]
    pub drive: bool,
}

fn thirty_minutes() -> SimDuration {
    SimDuration::secs(30 * 60)
}
fn one_minute() -> SimDuration {
    SimDuration::secs(60)
}
fn yes() -> bool {
    true
}

/// Most rounds one `wait_for` may take (bounds a run whatever the file says).
pub const MAX_ROUNDS: u64 = 2000;

impl WaitFor {
    pub fn validate(&self) -> Result<(), String> {
        match (&self.status, &self.condition) {
            (Some(_), Some(_)) => return Err("give status or condition, not both".into()),
            (None, None) => return Err("give a status or a condition to wait for".into()),
            (Some(s), None) => {
                if !STATUSES.contains(&s.as_str()) {
                    return Err(format!("status {s:?} is not one of {STATUSES:?}"));
                }
                if self.user.is_none() {
                    return Err("waiting for a status needs a user".into());
                }
            }
            (None, Some(Condition::UserGone | Condition::UserHasNoServer))
                if self.user.is_none() =>
            {
                return Err("conditions user_gone and user_has_no_server need a user".into());
            }
            _ => {}
        }
        if let Some(u) = &self.user {
            check_user(u)?;
        }
        if self.tick.0.is_zero() || self.tick > self.within {
            return Err("tick must be more than 0s and at most `within`".into());
        }
        if self.within.0.as_secs() / self.tick.0.as_secs().max(1) > MAX_ROUNDS {
            return Err(format!("within/tick is more than {MAX_ROUNDS} rounds"));
        }
        Ok(())
    }

    /// `Ok(None)` when it holds, `Ok(Some(what was seen))` when not yet.
    async fn holds(&self, run: &Run<'_>) -> anyhow::Result<Option<String>> {
        if let Some(status) = &self.status {
            let user = self.user.as_deref().unwrap_or_default();
            let row = run.live_row(user).await?;
            return Ok(match row {
                Some(r) if &r.status == status => None,
                Some(r) => Some(format!("{user} is {}", r.status)),
                None if status == "deleted" => None,
                None => Some(format!("{user} has no live machine")),
            });
        }
        match self.condition {
            Some(Condition::AllRunning) => {
                for user in run.users.keys() {
                    match run.live_row(user).await? {
                        Some(r) if r.status == "running" => {}
                        Some(r) => return Ok(Some(format!("{user} is {}", r.status))),
                        None => return Ok(Some(format!("{user} has no live machine"))),
                    }
                }
                Ok(None)
            }
            Some(Condition::NoTransientRows) => {
                let n = run.transient_rows().await?;
                Ok((n > 0).then(|| format!("{n} rows provisioning or recovering")))
            }
            Some(c @ (Condition::UserGone | Condition::UserHasNoServer)) => {
                let user = self.user.as_deref().unwrap_or_default();
                if c == Condition::UserGone
                    && let Some(r) = run.live_row(user).await?
                {
                    return Ok(Some(format!("{user} still has a live row ({})", r.status)));
                }
                let servers = run
                    .fleet
                    .hetzner
                    .servers()
                    .into_iter()
                    .filter(|s| {
                        s.status != crate::fake_hetzner::ServerStatus::Deleting
                            && s.labels.get("clerk_user_id").map(String::as_str) == Some(user)
                    })
                    .count();
                Ok((servers > 0).then(|| format!("{user} still has {servers} server(s)")))
            }
            Some(Condition::Converged) => {
                let n = run.transient_rows().await?;
                if n > 0 {
                    return Ok(Some(format!("{n} rows provisioning or recovering")));
                }
                let problems = crate::scenario::invariant::server_problems(run).await?;
                Ok(problems.first().cloned())
            }
            None => Ok(None),
        }
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let rounds = self.within.0.as_secs() / self.tick.0.as_secs().max(1);
        let mut seen = String::new();
        for round in 0..=rounds {
            match self.holds(run).await? {
                None => return Ok(()),
                Some(s) => seen = s,
            }
            if round == rounds {
                break;
            }
            if self.drive {
                run.world_round(self.tick.0).await?;
            } else {
                run.fleet.advance(self.tick.0);
                run.reconcile().await;
            }
        }
        anyhow::bail!("not reached within {}: {seen}", self.within.encode())
    }
}
