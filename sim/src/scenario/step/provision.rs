//! `provision`: `POST /vps/provision` for one user.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::expect_code;
use crate::scenario::format::{check_status_code, check_user};
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provision {
    pub user: String,
    /// Default: the user id lower-cased with `_` → `-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Expected HTTP status (default 202).
    #[serde(default = "accepted")]
    pub expect: u16,
}

fn accepted() -> u16 {
    202
}

pub(crate) fn default_handle(user: &str) -> String {
    user.to_ascii_lowercase().replace('_', "-")
}

impl Provision {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        check_status_code(self.expect)?;
        if let Some(h) = &self.handle
            && (h.len() < 2
                || h.len() > 63
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        {
            return Err(format!("handle {h:?} must match [a-z0-9][a-z0-9-]{{1,62}}"));
        }
        Ok(())
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let handle = self
            .handle
            .clone()
            .unwrap_or_else(|| default_handle(&self.user));
        provision_one(run, &self.user, &handle, self.expect).await
    }
}

pub(crate) async fn provision_one(
    run: &mut Run<'_>,
    user: &str,
    handle: &str,
    expect: u16,
) -> anyhow::Result<()> {
    run.user(user).handle = handle.to_owned();
    let r = run
        .call(
            Method::POST,
            "/vps/provision",
            Some(json!({"clerkUserId": user, "handle": handle})),
        )
        .await;
    expect_code(&format!("provision {user}"), expect, r.status, &r.body)
}
