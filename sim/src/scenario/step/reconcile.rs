//! `reconcile`: the control plane's reconciler runs `passes` full passes, now.

use serde::{Deserialize, Serialize};

use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconcile {
    #[serde(default = "one")]
    pub passes: u32,
}

fn one() -> u32 {
    1
}

impl Reconcile {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.passes) {
            return Err("passes must be 1..=100".into());
        }
        Ok(())
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        for _ in 0..self.passes {
            run.reconcile().await;
        }
        Ok(())
    }
}
