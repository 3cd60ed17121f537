//! `heartbeat`: registered hosts (or one user's) post `POST /vps/heartbeat`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::host::SimHost;
use crate::scenario::format::check_user;
use crate::scenario::history::Kind;
use crate::scenario::run::{HostPhase, Run};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// Only this user's host; default every registered host that is up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl Heartbeat {
    pub fn validate(&self) -> Result<(), String> {
        self.user.as_deref().map_or(Ok(()), check_user)
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let hosts = match &self.user {
            Some(u) => vec![run.host_of_user(u).await?],
            None => run
                .fleet
                .hosts()
                .into_iter()
                .filter(|h| run.phases.get(&h.server_id) == Some(&HostPhase::Registered))
                .collect(),
        };
        for host in hosts {
            heartbeat_host(run, &host).await;
        }
        Ok(())
    }
}

pub(crate) async fn heartbeat_host(run: &mut Run<'_>, host: &SimHost) {
    if !host.is_up() {
        return;
    }
    let who = format!("host/{}", host.server_id);
    run.history
        .record(Kind::Invoke, &who, "POST /vps/heartbeat", json!(null));
    match host.heartbeat(None).await {
        Ok(code) if code < 400 => run.history.record(
            Kind::Ok,
            &who,
            "POST /vps/heartbeat",
            json!({"status": code}),
        ),
        Ok(code) => run.history.record(
            Kind::Fail,
            &who,
            "POST /vps/heartbeat",
            json!({"status": code}),
        ),
        Err(e) => run.history.record(
            Kind::Info,
            &who,
            "POST /vps/heartbeat",
            json!({"error": e.to_string()}),
        ),
    }
}
