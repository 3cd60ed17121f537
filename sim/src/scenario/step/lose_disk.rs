//! `lose_disk`: the user's host loses its disk (gate marker and database rows) but keeps running.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::scenario::format::check_user;
use crate::scenario::history::Kind;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoseDisk {
    pub user: String,
}

impl LoseDisk {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let host = run.host_of_user(&self.user).await?;
        host.lose_disk().await?;
        run.history.record(
            Kind::Fault,
            &format!("host/{}", host.server_id),
            "lose_disk",
            json!({"user": self.user}),
        );
        Ok(())
    }
}
