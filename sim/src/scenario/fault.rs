//! Faults a scenario injects, one file per target, each in the order parse (serde struct and
//! `validate`), apply (the rule handed to the fake, host or proxy), encode (serde).
//!
//! The vocabulary borrows toxiproxy's for transport (`down`, `reset`, `blackhole`, `latency`) and
//! LocalStack-style rules for API faults (`op`, `nth` / `times` / `probability`, `status`, `code`).
//! `nth`, `times` and `probability` are exclusive; none of them means every matching call.

pub mod hetzner;
pub mod host;
pub mod proxy;
pub mod r2;
pub mod server;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::duration::SimDuration;
use super::format::{check_error_status, check_probability};
use super::history::Kind;
use super::run::Run;
use crate::fake_hetzner::FaultWhen;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum FaultSpec {
    Hetzner(hetzner::HetznerFault),
    R2(r2::R2Fault),
    Host(host::HostFaultSpec),
    Proxy(proxy::ProxyFault),
    Server(server::ServerFault),
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        match self {
            FaultSpec::Hetzner(f) => f.validate(),
            FaultSpec::R2(f) => f.validate(),
            FaultSpec::Host(f) => f.validate(),
            FaultSpec::Proxy(f) => f.validate(),
            FaultSpec::Server(f) => f.validate(),
        }
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        match self {
            FaultSpec::Hetzner(f) => f.apply(run),
            FaultSpec::R2(f) => f.apply(run),
            FaultSpec::Host(f) => f.apply(run).await?,
            FaultSpec::Proxy(f) => f.apply(run),
            FaultSpec::Server(f) => f.apply(run).await?,
        }
        let encoded = serde_json::to_value(self).unwrap_or_default();
        run.history
            .record(Kind::Event, "runner", "fault_injected", json!(encoded));
        Ok(())
    }
}

/// The keys that belong to an API fault's effect: `latency` (at most 60 s) with `effect = "latency"`
/// and only there; `status`/`code` only with `effect = "error"`. Shared by the Hetzner and R2 targets.
pub(crate) fn check_effect_keys(
    is_latency: bool,
    is_error: bool,
    latency: Option<SimDuration>,
    status: Option<u16>,
    has_code: bool,
) -> Result<(), String> {
    if let Some(s) = status {
        check_error_status(s)?;
    }
    if is_latency {
        match latency {
            Some(d) if d.0.as_secs() <= 60 => {}
            _ => return Err("effect latency needs latency = \"…s\" (at most 60s)".into()),
        }
    } else if latency.is_some() {
        return Err("latency applies only to effect = \"latency\"".into());
    }
    if !is_error && (status.is_some() || has_code) {
        return Err("status and code apply only to effect = \"error\"".into());
    }
    Ok(())
}

/// When a rule fires, from the exclusive `nth` / `times` / `probability` keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl When {
    pub fn validate(&self) -> Result<(), String> {
        let given = [
            self.nth.is_some(),
            self.times.is_some(),
            self.probability.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given > 1 {
            return Err("nth, times and probability are exclusive".into());
        }
        if self.nth == Some(0) || self.times == Some(0) {
            return Err("nth and times count from 1".into());
        }
        if let Some(p) = self.probability {
            check_probability("probability", p)?;
        }
        Ok(())
    }

    pub fn to_rule(self) -> FaultWhen {
        match (self.nth, self.times, self.probability) {
            (Some(n), _, _) => FaultWhen::Nth(n),
            (_, Some(n), _) => FaultWhen::Times(n),
            (_, _, Some(p)) => FaultWhen::Probability { p },
            _ => FaultWhen::Always,
        }
    }
}
