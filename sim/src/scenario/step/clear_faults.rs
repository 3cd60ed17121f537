//! `clear_faults`: removes the faults of a target (`all`, `hetzner`, `r2`, `host`, `proxy`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::proxy::ProxyMode;
use crate::scenario::format::check_user;
use crate::scenario::history::Kind;
use crate::scenario::run::Run;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearTarget {
    All,
    Hetzner,
    R2,
    Host,
    Proxy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearFaults {
    #[serde(default = "all")]
    pub target: ClearTarget,
    /// For `host`: whose host (default: every host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

fn all() -> ClearTarget {
    ClearTarget::All
}

impl ClearFaults {
    pub fn validate(&self) -> Result<(), String> {
        if self.user.is_some() && self.target != ClearTarget::Host {
            return Err("user applies only to target = \"host\"".into());
        }
        self.user.as_deref().map_or(Ok(()), check_user)
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        use ClearTarget::*;
        if matches!(self.target, All | Hetzner) {
            run.fleet.hetzner.clear_faults();
        }
        if matches!(self.target, All | R2) {
            run.fleet.r2.clear_faults();
        }
        if matches!(self.target, All | Proxy) {
            run.fleet.db_proxy.set_mode(ProxyMode::Pass);
            run.fleet.hetzner_proxy.set_mode(ProxyMode::Pass);
            run.fleet.r2_proxy.set_mode(ProxyMode::Pass);
        }
        if matches!(self.target, All | Host) {
            let hosts = match &self.user {
                Some(u) => vec![run.host_of_user(u).await?],
                None => run.fleet.hosts(),
            };
            for host in hosts {
                for f in [
                    crate::host::HostFault::DumpFails,
                    crate::host::HostFault::UploadFails,
                    crate::host::HostFault::Hang,
                ] {
                    host.clear(f);
                }
            }
        }
        run.history.record(
            Kind::Event,
            "runner",
            "faults_cleared",
            json!({"target": self.target}),
        );
        Ok(())
    }
}
