//! `check_events`: `GET /vps/:id/events` of the user's live machine (the operator's timeline)
//! must mention `contains` (an event kind, status or failure code).

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::expect_code;
use crate::scenario::format::check_user;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckEvents {
    pub user: String,
    pub contains: String,
}

impl CheckEvents {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        if self.contains.is_empty() || self.contains.len() > 200 {
            return Err("contains must be 1-200 characters".into());
        }
        Ok(())
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let row = run
            .live_row(&self.user)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} has no live machine", self.user))?;
        let r = run
            .call(
                Method::GET,
                &format!("/vps/{}/events", row.machine_id),
                None,
            )
            .await;
        expect_code(&format!("events of {}", self.user), 200, r.status, &r.body)?;
        anyhow::ensure!(
            r.body.to_string().contains(&self.contains),
            "{}'s events do not mention {:?}",
            self.user,
            self.contains
        );
        Ok(())
    }
}
