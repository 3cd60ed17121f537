//! `recover`: `POST /vps/recover` for a user (`allow_empty`, `expect`).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::expect_code;
use crate::scenario::format::{check_status_code, check_user};
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    pub user: String,
    #[serde(default)]
    pub allow_empty: bool,
    #[serde(default = "accepted")]
    pub expect: u16,
}

fn accepted() -> u16 {
    202
}

pub(crate) fn body(user: &str, allow_empty: bool) -> Value {
    if allow_empty {
        json!({"clerkUserId": user, "allowEmpty": true})
    } else {
        json!({"clerkUserId": user})
    }
}

impl Recover {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        check_status_code(self.expect)
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let r = run
            .call(
                Method::POST,
                "/vps/recover",
                Some(body(&self.user, self.allow_empty)),
            )
            .await;
        expect_code(
            &format!("recover {}", self.user),
            self.expect,
            r.status,
            &r.body,
        )
    }
}
