//! `delete`: `DELETE /vps/:id` of the user's live machine (`expect`, default 200).

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::expect_code;
use crate::scenario::format::{check_status_code, check_user};
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delete {
    pub user: String,
    #[serde(default = "ok")]
    pub expect: u16,
}

fn ok() -> u16 {
    200
}

impl Delete {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        check_status_code(self.expect)
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let row = run
            .live_row(&self.user)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} has no live machine to delete", self.user))?;
        let r = run
            .call(Method::DELETE, &format!("/vps/{}", row.machine_id), None)
            .await;
        expect_code(
            &format!("delete {}", self.user),
            self.expect,
            r.status,
            &r.body,
        )
    }
}
