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
    /// Prove the calls overlapped: every call's backup check (a GetObject/HeadObject of the
    /// user's `latest`, in the fake R2's request log) must have completed before the first call
    /// answered. Combine with an R2 `latency` fault on that key so the checks take a while.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overlap: bool,
}

/// Backup checks of `user`'s `latest` logged by the fake R2 from `from` on.
fn latest_checks(run: &Run<'_>, user: &str, from: u64) -> usize {
    let key = format!("matrixos-sync/{user}/system/db/latest");
    run.fleet
        .r2
        .requests_since(from)
        .iter()
        .filter(|r| {
            matches!(r.op.as_deref(), Some("GetObject" | "HeadObject"))
                && r.key.as_deref() == Some(key.as_str())
        })
        .count()
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
        let r2_from = run.fleet.r2.requests().last().map_or(0, |r| r.seq + 1);
        let shared: &Run<'_> = run;
        let user = self.user.as_str();
        let body = &body;
        let requests = (0..calls).map(|_| async move {
            let response = shared
                .fleet
                .platform(Method::POST, "/vps/recover")
                .json(body)
                .send()
                .await;
            // How many backup checks had completed when this call answered.
            (response, latest_checks(shared, user, r2_from))
        });
        let answered = futures::future::join_all(requests).await;
        let checks_at_first_answer = answered.iter().map(|(_, c)| *c).min().unwrap_or(0);
        let mut codes: Vec<Option<u16>> = answered
            .iter()
            .map(|(r, _)| r.as_ref().ok().map(|r| r.status().as_u16()))
            .collect();
        codes.sort();
        // A transport error leaves the call's outcome unknown: `info`, as `Run::call` records it.
        let kind = if codes.iter().any(Option::is_none) {
            Kind::Info
        } else {
            Kind::Ok
        };
        let mut detail = json!({"statuses": codes});
        if self.overlap {
            detail["backup_checks_before_first_answer"] = json!(checks_at_first_answer);
        }
        run.history
            .record(kind, "operator", "POST /vps/recover", detail);
        run.drain_fakes_sorted();
        let mut expected: Vec<Option<u16>> = self.expect.iter().map(|c| Some(*c)).collect();
        expected.sort();
        anyhow::ensure!(
            codes == expected,
            "concurrent recovers of {} answered {codes:?}, expected {expected:?}",
            self.user
        );
        anyhow::ensure!(
            !self.overlap || checks_at_first_answer >= calls,
            "concurrent recovers of {} did not overlap: {checks_at_first_answer} of {calls} backup \
             checks had happened when the first call answered",
            self.user
        );
        Ok(())
    }
}
