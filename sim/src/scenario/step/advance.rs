//! `advance`: the harness clock moves forward (`by = "2h"`); nothing else happens on its own.

use serde::{Deserialize, Serialize};

use crate::scenario::duration::SimDuration;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    pub by: SimDuration,
}

impl Advance {
    pub fn validate(&self) -> Result<(), String> {
        if self.by.0.is_zero() {
            return Err("by must be more than 0s".into());
        }
        Ok(())
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        run.fleet.advance(self.by.0);
        Ok(())
    }
}
