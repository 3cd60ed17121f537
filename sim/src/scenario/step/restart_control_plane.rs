//! `restart_control_plane`: the API server and reconciler stop and a new control plane starts on
//! the same address (same database, clock, id stream, providers), as a process restart would.
//! With `down_for`, it stays down that long (in ticks of a minute, at most an hour) while ready
//! hosts keep trying to register — their attempts end in `info` (connection refused).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::scenario::duration::SimDuration;
use crate::scenario::history::Kind;
use crate::scenario::run::Run;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartControlPlane {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_for: Option<SimDuration>,
    /// Start a reconciler pass and kill the process while it runs (after 500 ms of wall time,
    /// e.g. while a slowed provider call is in flight): the pass is dropped mid-call, its claims
    /// stay until they expire, and the new process must settle what it left.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub during_reconcile: bool,
}

/// How long the doomed pass runs before the process dies (wall time).
const KILL_AFTER: Duration = Duration::from_millis(500);

impl RestartControlPlane {
    pub fn validate(&self) -> Result<(), String> {
        match self.down_for {
            Some(d) if d.0.is_zero() || d.0.as_secs() > 3600 => {
                Err("down_for must be more than 0s and at most 1h".into())
            }
            _ => Ok(()),
        }
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        if self.during_reconcile {
            let reconciler = run.fleet.reconciler.clone();
            let pass = tokio::spawn(async move { reconciler.run_pass().await });
            tokio::time::sleep(KILL_AFTER).await;
            let finished = pass.is_finished();
            pass.abort();
            let _ = pass.await;
            run.history.record(
                Kind::Fault,
                "control_plane",
                "killed_mid_pass",
                json!({"pass_had_finished": finished}),
            );
            run.drain_fakes_sorted();
        }
        run.fleet.stop_control_plane().await;
        run.history
            .record(Kind::Event, "control_plane", "stopped", json!(null));
        if let Some(down) = self.down_for {
            let tick = Duration::from_secs(60).min(down.0);
            let ticks = (down.0.as_secs() / tick.as_secs().max(1)).max(1);
            for _ in 0..ticks {
                run.fleet.advance(tick);
                run.register_ready().await;
            }
        }
        run.fleet.start_control_plane().await?;
        run.history
            .record(Kind::Event, "control_plane", "started", json!(null));
        Ok(())
    }
}
