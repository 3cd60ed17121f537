//! `target = "hetzner"`: a rule for the fake Hetzner API (an error status and code, latency,
//! commit-then-drop, drop-before-commit, an action ending in `error`).

use serde::{Deserialize, Serialize};

use super::{When, check_effect_keys};
use crate::fake_hetzner::{FaultEffect, FaultOp, FaultRule};
use crate::scenario::duration::SimDuration;
use crate::scenario::run::Run;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HetznerOp {
    CreateServer,
    GetServer,
    ListServers,
    DeleteServer,
    ServerAction,
    GetAction,
    ListActions,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HetznerEffect {
    Error,
    Latency,
    CommitThenDrop,
    DropBeforeCommit,
    ActionError,
    /// Commit, then hold the response until the runner releases it (see `restart_control_plane`
    /// with `during_reconcile`): a call deterministically in flight.
    CommitThenHold,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HetznerFault {
    pub op: HetznerOp,
    pub effect: HetznerEffect,
    /// For `error`: the HTTP status and Hetzner error code (default 503 `unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For `latency` (wall time: it exists to trip client timeouts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl HetznerFault {
    fn when(&self) -> When {
        When {
            nth: self.nth,
            times: self.times,
            probability: self.probability,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.when().validate()?;
        check_effect_keys(
            self.effect == HetznerEffect::Latency,
            self.effect == HetznerEffect::Error,
            self.latency,
            self.status,
            self.code.is_some(),
        )?;
        Ok(())
    }

    pub fn rule(&self) -> FaultRule {
        let op = match self.op {
            HetznerOp::CreateServer => FaultOp::CreateServer,
            HetznerOp::GetServer => FaultOp::GetServer,
            HetznerOp::ListServers => FaultOp::ListServers,
            HetznerOp::DeleteServer => FaultOp::DeleteServer,
            HetznerOp::ServerAction => FaultOp::ServerAction,
            HetznerOp::GetAction => FaultOp::GetAction,
            HetznerOp::ListActions => FaultOp::ListActions,
            HetznerOp::Any => FaultOp::Any,
        };
        let effect = match self.effect {
            HetznerEffect::Error => FaultEffect::Error {
                status: self.status.unwrap_or(503),
                code: self.code.clone().unwrap_or_else(|| "unavailable".into()),
            },
            HetznerEffect::Latency => {
                FaultEffect::Latency(self.latency.map(|d| d.0).unwrap_or_default())
            }
            HetznerEffect::CommitThenDrop => FaultEffect::CommitThenDrop,
            HetznerEffect::DropBeforeCommit => FaultEffect::DropBeforeCommit,
            HetznerEffect::ActionError => FaultEffect::ActionError,
            HetznerEffect::CommitThenHold => FaultEffect::CommitThenHold,
        };
        FaultRule::new(op, self.when().to_rule(), effect)
    }

    pub fn apply(&self, run: &mut Run<'_>) {
        run.fleet.hetzner.inject(self.rule());
    }
}
