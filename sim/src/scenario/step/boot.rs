//! `boot`: every server the fake created since the last boot becomes a host (as cloud-init would
//! start it), runs its restore-or-fresh gate and, unless `register = false`, registers once.

use serde::{Deserialize, Serialize};

use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    #[serde(default = "yes")]
    pub register: bool,
    /// Fail unless exactly this many hosts booted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_hosts: Option<usize>,
}

fn yes() -> bool {
    true
}

impl Boot {
    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let n = run.boot_hosts(self.register).await?;
        if let Some(expected) = self.expect_hosts {
            anyhow::ensure!(n == expected, "expected {expected} new hosts, {n} booted");
        }
        Ok(())
    }
}
