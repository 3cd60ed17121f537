//! `restart_database`: the control plane's Postgres server is really restarted (a scenario with this
//! step gives the control plane a server of its own; fast shutdown cuts every connection, then the
//! same data starts again) and stays unreachable (the proxy in front of it refuses connections) for
//! `down_for` of simulated time, during which the API must answer a generic 503; then it comes back
//! and the API must answer again with the pool dialling fresh connections.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::proxy::ProxyMode;
use crate::scenario::duration::SimDuration;
use crate::scenario::history::Kind;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartDatabase {
    #[serde(default = "one_minute")]
    pub down_for: SimDuration,
}

fn one_minute() -> SimDuration {
    SimDuration::secs(60)
}

/// Attempts (100 ms apart, wall time) for the API to answer again once the database is back.
const RECOVERY_ATTEMPTS: u32 = 100;

impl RestartDatabase {
    pub fn validate(&self) -> Result<(), String> {
        if self.down_for.0.is_zero() {
            return Err("down_for must be more than 0s".into());
        }
        Ok(())
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        run.fleet.db_proxy.set_mode(ProxyMode::Down);
        run.fleet.restart_database_server().await?;
        run.history
            .record(Kind::Fault, "postgres", "restarted", json!(null));
        let r = run.call(Method::GET, "/vps/fleet", None).await;
        anyhow::ensure!(
            r.status == Some(503),
            "with the database down, GET /vps/fleet answered {:?}, expected 503",
            r.status
        );
        anyhow::ensure!(
            r.body
                .as_object()
                .is_some_and(|o| o.len() == 1 && o.contains_key("error")),
            "the 503 body is not a generic error: {}",
            r.body
        );
        run.fleet.advance(self.down_for.0);
        run.fleet.db_proxy.set_mode(ProxyMode::Pass);
        run.history
            .record(Kind::Event, "postgres", "up", json!(null));
        // The pool notices its dead connections and dials again; a few attempts may still fail.
        for _ in 0..RECOVERY_ATTEMPTS {
            let ok = run
                .fleet
                .platform(Method::GET, "/vps/fleet")
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                let r = run.call(Method::GET, "/vps/fleet", None).await;
                anyhow::ensure!(
                    r.status == Some(200),
                    "GET /vps/fleet answered {:?}",
                    r.status
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the API did not answer 200 within 10 s of the database coming back")
    }
}
