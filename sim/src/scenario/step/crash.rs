//! `crash`: the user's host stops; nothing it does succeeds afterwards.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::scenario::format::check_user;
use crate::scenario::history::Kind;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    pub user: String,
}

impl Crash {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let host = run.host_of_user(&self.user).await?;
        host.crash();
        run.history.record(
            Kind::Fault,
            &format!("host/{}", host.server_id),
            "crash",
            json!({"user": self.user}),
        );
        Ok(())
    }
}
