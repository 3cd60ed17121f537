//! `check_status`: `GET /vps/:id/status` of the user's live machine, compared field by field with
//! what the step names (status, failure code, backup freshness or problem, heartbeat health).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::expect_code;
use crate::scenario::format::check_user;
use crate::scenario::run::Run;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckStatus {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// `fresh`, `stale`, `critical`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_freshness: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_problem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<String>,
}

impl CheckStatus {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        if let Some(s) = &self.status
            && !crate::scenario::step::wait_for::STATUSES.contains(&s.as_str())
        {
            return Err(format!("status {s:?} is not a machine status"));
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
                &format!("/vps/{}/status", row.machine_id),
                None,
            )
            .await;
        expect_code(&format!("status of {}", self.user), 200, r.status, &r.body)?;
        let checks = [
            ("status", &self.status, &r.body["status"]),
            ("failureCode", &self.failure_code, &r.body["failureCode"]),
            (
                "backup.freshness",
                &self.backup_freshness,
                &r.body["backup"]["freshness"],
            ),
            (
                "backup.problem",
                &self.backup_problem,
                &r.body["backup"]["problem"],
            ),
            (
                "heartbeat.health",
                &self.heartbeat,
                &r.body["heartbeat"]["health"],
            ),
        ];
        for (field, expected, got) in checks {
            if let Some(expected) = expected
                && got.as_str() != Some(expected.as_str())
            {
                anyhow::bail!(
                    "{}: {field} is {}, expected {expected:?}",
                    self.user,
                    if *got == Value::Null {
                        "null".to_owned()
                    } else {
                        got.to_string()
                    }
                );
            }
        }
        Ok(())
    }
}
