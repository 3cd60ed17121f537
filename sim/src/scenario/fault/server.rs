//! `target = "server"`: something happens to the user's current server at the provider —
//! `vanish` (deleted behind the platform's back: Hetzner answers 404 and no longer lists it, and the
//! host on it is gone with it) or `stuck` (its status is pinned, e.g. `off`, and no longer moves).

use serde::{Deserialize, Serialize};

use crate::fake_hetzner::ServerStatus;
use crate::scenario::format::check_user;
use crate::scenario::run::Run;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerEffect {
    Vanish,
    Stuck,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFault {
    pub user: String,
    pub effect: ServerEffect,
    /// For `stuck`: the status it stays in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl ServerFault {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        match (self.effect, self.status.as_deref()) {
            (ServerEffect::Stuck, Some(s)) if s.parse::<ServerStatus>().is_ok() => Ok(()),
            (ServerEffect::Stuck, _) => Err(format!(
                "effect stuck needs status, one of {:?}",
                ServerStatus::ALL.map(|s| s.as_str())
            )),
            (ServerEffect::Vanish, Some(_)) => {
                Err("status applies only to effect = \"stuck\"".into())
            }
            (ServerEffect::Vanish, None) => Ok(()),
        }
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let host = run.host_of_user(&self.user).await?;
        match self.effect {
            ServerEffect::Vanish => {
                anyhow::ensure!(
                    run.fleet.hetzner.vanish(host.server_id),
                    "{}'s server {} does not exist at the provider",
                    self.user,
                    host.server_id
                );
                host.crash();
            }
            ServerEffect::Stuck => {
                // Validated above: one of Hetzner's statuses (`set_status` panics on others).
                let status = self.status.as_deref().unwrap_or("off");
                anyhow::ensure!(
                    run.fleet.hetzner.set_status(host.server_id, status),
                    "{}'s server {} does not exist at the provider",
                    self.user,
                    host.server_id
                );
            }
        }
        Ok(())
    }
}
