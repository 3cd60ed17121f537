//! `provision_burst`: provisions many users one after another, as fast as the runner can issue them.

use serde::{Deserialize, Serialize};

use super::provision::{default_handle, provision_one};
use crate::scenario::format::check_user;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionBurst {
    /// How many users (`<prefix>_0000` …).
    pub users: u32,
    #[serde(default = "burst_prefix")]
    pub prefix: String,
}

fn burst_prefix() -> String {
    "burst".into()
}

impl ProvisionBurst {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.users) {
            return Err("users must be 1..=1000".into());
        }
        check_user(&format!("{}_0000", self.prefix))
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        for i in 0..self.users {
            let user = format!("{}_{i:04}", self.prefix);
            let handle = default_handle(&user);
            provision_one(run, &user, &handle, 202).await?;
        }
        Ok(())
    }
}
