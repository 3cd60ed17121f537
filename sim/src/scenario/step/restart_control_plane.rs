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
    /// Start a reconciler pass and kill the process while one of its provider calls is in flight:
    /// combine with a Hetzner `commit_then_hold` fault, which commits the call and holds its
    /// response; the process dies as soon as the fake says a call is held (no wall-time race),
    /// then the held response is released to a caller that is gone. The step fails if the pass
    /// ends without any call held. The pass's claims stay until they expire, and the new process
    /// must settle what it left.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub during_reconcile: bool,
}

/// A safety net only: how long (wall time) the doomed pass may run without any call held.
const HOLD_TIMEOUT: Duration = Duration::from_secs(60);

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
            let held_before = run.fleet.hetzner.held_count();
            let mut pass = tokio::spawn(async move { reconciler.run_pass().await });
            let mut pass_ended = false;
            let held = tokio::select! {
                () = run.fleet.hetzner.wait_held(held_before + 1) => true,
                _ = &mut pass => {
                    pass_ended = true;
                    false
                }
                () = tokio::time::sleep(HOLD_TIMEOUT) => false,
            };
            if !pass_ended {
                pass.abort();
                let _ = pass.await;
            }
            // The caller is gone: let the held response go nowhere.
            run.fleet.hetzner.release_held();
            run.history.record(
                Kind::Fault,
                "control_plane",
                "killed_mid_call",
                json!({"call_in_flight": held}),
            );
            run.drain_fakes_sorted();
            anyhow::ensure!(
                held,
                "during_reconcile: the reconciler pass ended with no provider call in flight \
                 (inject a hetzner commit_then_hold fault on the call to kill it in)"
            );
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
