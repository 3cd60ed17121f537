//! `workload`: the user's host writes `rows` more application rows (acknowledged writes).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::scenario::format::check_user;
use crate::scenario::history::Kind;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRows {
    pub user: String,
    pub rows: u64,
}

impl WriteRows {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        if !(1..=100_000).contains(&self.rows) {
            return Err("rows must be 1..=100000".into());
        }
        Ok(())
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let host = run.host_of_user(&self.user).await?;
        host.write_rows(self.rows).await?;
        run.history.record(
            Kind::Event,
            &format!("host/{}", host.server_id),
            "write_rows",
            json!({"rows": self.rows}),
        );
        Ok(())
    }
}
