//! `recover_concurrent`: the same recover issued once per `expect` entry, at once; the status
//! codes must be exactly `expect`, compared sorted since which call wins is a race (the history
//! records them sorted too).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::recover::body;
use crate::scenario::format::{check_status_code, check_user};
use crate::scenario::history::Kind;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverConcurrent {
    pub user: String,
    #[serde(default)]
    pub allow_empty: bool,
    /// The status codes, in any order (default `[202, 409]`: one wins, one is refused).
    #[serde(default = "one_wins")]
    pub expect: Vec<u16>,
}

fn one_wins() -> Vec<u16> {
    vec![202, 409]
}

impl RecoverConcurrent {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        if !(2..=8).contains(&self.expect.len()) {
            return Err("expect must list 2..=8 status codes (one per call)".into());
        }
        self.expect.iter().try_for_each(|c| check_status_code(*c))
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let calls = self.expect.len();
        let body = body(&self.user, self.allow_empty);
        run.user(&self.user).recover_allow_empty = self.allow_empty;
        run.history.record(
            Kind::Invoke,
            "operator",
            "POST /vps/recover",
            json!({"concurrent": calls, "body": body}),
        );
        let requests = (0..calls).map(|_| {
            run.fleet
                .platform(Method::POST, "/vps/recover")
                .json(&body)
                .send()
        });
        let responses = futures::future::join_all(requests).await;
        let mut codes: Vec<Option<u16>> = responses
            .iter()
            .map(|r| r.as_ref().ok().map(|r| r.status().as_u16()))
            .collect();
        codes.sort();
        run.history.record(
            Kind::Ok,
            "operator",
            "POST /vps/recover",
            json!({"statuses": codes}),
        );
        run.drain_fakes_sorted();
        let mut expected: Vec<Option<u16>> = self.expect.iter().map(|c| Some(*c)).collect();
        expected.sort();
        anyhow::ensure!(
            codes == expected,
            "concurrent recovers of {} answered {codes:?}, expected {expected:?}",
            self.user
        );
        Ok(())
    }
}
