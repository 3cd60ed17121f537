//! The explicit steps of a scenario, one file per `action`, each in the order parse (the serde
//! struct and `validate`), apply (what it does to the fleet), encode (serde back to TOML/JSON).
//!
//! A step is a `[[step]]` table whose `action` names the kind; every other key belongs to that kind
//! and unknown keys are refused. A step fails when what it expects does not happen (a status code,
//! a backup outcome, a condition within its bound); the runner then stops and reports it.

pub mod advance;
pub mod backup;
pub mod boot;
pub mod check_events;
pub mod check_status;
pub mod clear_faults;
pub mod crash;
pub mod delete;
pub mod fault;
pub mod heartbeat;
pub mod lose_disk;
pub mod provision;
pub mod provision_burst;
pub mod reconcile;
pub mod recover;
pub mod recover_concurrent;
pub mod restart_control_plane;
pub mod restart_database;
pub mod wait_for;
pub mod workload;

use serde::{Deserialize, Serialize};

use super::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    Provision(provision::Provision),
    ProvisionBurst(provision_burst::ProvisionBurst),
    Boot(boot::Boot),
    Workload(workload::WriteRows),
    Backup(backup::Backup),
    Heartbeat(heartbeat::Heartbeat),
    Crash(crash::Crash),
    LoseDisk(lose_disk::LoseDisk),
    Recover(recover::Recover),
    RecoverConcurrent(recover_concurrent::RecoverConcurrent),
    Delete(delete::Delete),
    CheckStatus(check_status::CheckStatus),
    CheckEvents(check_events::CheckEvents),
    Advance(advance::Advance),
    Reconcile(reconcile::Reconcile),
    WaitFor(wait_for::WaitFor),
    RestartControlPlane(restart_control_plane::RestartControlPlane),
    RestartDatabase(restart_database::RestartDatabase),
    Fault(fault::Fault),
    ClearFaults(clear_faults::ClearFaults),
}

impl Step {
    /// The `action` value.
    pub fn action(&self) -> &'static str {
        match self {
            Step::Provision(_) => "provision",
            Step::ProvisionBurst(_) => "provision_burst",
            Step::Boot(_) => "boot",
            Step::Workload(_) => "workload",
            Step::Backup(_) => "backup",
            Step::Heartbeat(_) => "heartbeat",
            Step::Crash(_) => "crash",
            Step::LoseDisk(_) => "lose_disk",
            Step::Recover(_) => "recover",
            Step::RecoverConcurrent(_) => "recover_concurrent",
            Step::Delete(_) => "delete",
            Step::CheckStatus(_) => "check_status",
            Step::CheckEvents(_) => "check_events",
            Step::Advance(_) => "advance",
            Step::Reconcile(_) => "reconcile",
            Step::WaitFor(_) => "wait_for",
            Step::RestartControlPlane(_) => "restart_control_plane",
            Step::RestartDatabase(_) => "restart_database",
            Step::Fault(_) => "fault",
            Step::ClearFaults(_) => "clear_faults",
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match self {
            Step::Provision(s) => s.validate(),
            Step::ProvisionBurst(s) => s.validate(),
            Step::Boot(_) => Ok(()),
            Step::Workload(s) => s.validate(),
            Step::Backup(s) => s.validate(),
            Step::Heartbeat(s) => s.validate(),
            Step::Crash(s) => s.validate(),
            Step::LoseDisk(s) => s.validate(),
            Step::Recover(s) => s.validate(),
            Step::RecoverConcurrent(s) => s.validate(),
            Step::Delete(s) => s.validate(),
            Step::CheckStatus(s) => s.validate(),
            Step::CheckEvents(s) => s.validate(),
            Step::Advance(s) => s.validate(),
            Step::Reconcile(s) => s.validate(),
            Step::WaitFor(s) => s.validate(),
            Step::RestartControlPlane(s) => s.validate(),
            Step::RestartDatabase(s) => s.validate(),
            Step::Fault(s) => s.validate(),
            Step::ClearFaults(s) => s.validate(),
        }
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        match self {
            Step::Provision(s) => s.apply(run).await,
            Step::ProvisionBurst(s) => s.apply(run).await,
            Step::Boot(s) => s.apply(run).await,
            Step::Workload(s) => s.apply(run).await,
            Step::Backup(s) => s.apply(run).await,
            Step::Heartbeat(s) => s.apply(run).await,
            Step::Crash(s) => s.apply(run).await,
            Step::LoseDisk(s) => s.apply(run).await,
            Step::Recover(s) => s.apply(run).await,
            Step::RecoverConcurrent(s) => s.apply(run).await,
            Step::Delete(s) => s.apply(run).await,
            Step::CheckStatus(s) => s.apply(run).await,
            Step::CheckEvents(s) => s.apply(run).await,
            Step::Advance(s) => s.apply(run).await,
            Step::Reconcile(s) => s.apply(run).await,
            Step::WaitFor(s) => s.apply(run).await,
            Step::RestartControlPlane(s) => s.apply(run).await,
            Step::RestartDatabase(s) => s.apply(run).await,
            Step::Fault(s) => s.apply(run).await,
            Step::ClearFaults(s) => s.apply(run).await,
        }
    }

    /// The step as one JSON object (its history record and progress line).
    pub fn encode(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// `expect = N`, defaulting per step.
pub(crate) fn expect_code(
    what: &str,
    expected: u16,
    got: Option<u16>,
    body: &serde_json::Value,
) -> anyhow::Result<()> {
    match got {
        Some(code) if code == expected => Ok(()),
        Some(code) => anyhow::bail!("{what}: expected HTTP {expected}, got {code} {body}"),
        None => anyhow::bail!("{what}: expected HTTP {expected}, got no response ({body})"),
    }
}
