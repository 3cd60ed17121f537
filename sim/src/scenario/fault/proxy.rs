//! `target = "proxy"`: a transport fault (toxiproxy's modes: `down` (connections refused), `reset`
//! (cut), `blackhole` (no answer), `latency`, `pass`) between the control plane and one of its
//! dependencies, chosen with `link`: `database` (default), `hetzner` or `r2` (hosts reach R2 through
//! the same link).

use serde::{Deserialize, Serialize};

use crate::proxy::ProxyMode;
use crate::scenario::duration::SimDuration;
use crate::scenario::run::Run;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyModeName {
    Pass,
    Latency,
    Reset,
    Blackhole,
    Down,
}

/// Which connection the proxy sits on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyLink {
    #[default]
    Database,
    Hetzner,
    R2,
}

impl ProxyLink {
    fn is_database(&self) -> bool {
        *self == ProxyLink::Database
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyFault {
    pub mode: ProxyModeName,
    #[serde(default, skip_serializing_if = "ProxyLink::is_database")]
    pub link: ProxyLink,
    /// For `latency`: added per chunk (wall time), at most 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<SimDuration>,
}

impl ProxyFault {
    pub fn validate(&self) -> Result<(), String> {
        match (self.mode, self.latency) {
            (ProxyModeName::Latency, Some(d)) if d.0.as_secs() <= 10 => Ok(()),
            (ProxyModeName::Latency, _) => Err("mode latency needs latency (at most 10s)".into()),
            (_, Some(_)) => Err("latency applies only to mode = \"latency\"".into()),
            _ => Ok(()),
        }
    }

    pub fn apply(&self, run: &mut Run<'_>) {
        let proxy = match self.link {
            ProxyLink::Database => &run.fleet.db_proxy,
            ProxyLink::Hetzner => &run.fleet.hetzner_proxy,
            ProxyLink::R2 => &run.fleet.r2_proxy,
        };
        proxy.set_mode(match self.mode {
            ProxyModeName::Pass => ProxyMode::Pass,
            ProxyModeName::Latency => {
                ProxyMode::Latency(self.latency.map(|d| d.0).unwrap_or_default())
            }
            ProxyModeName::Reset => ProxyMode::Reset,
            ProxyModeName::Blackhole => ProxyMode::Blackhole,
            ProxyModeName::Down => ProxyMode::Down,
        });
    }
}
