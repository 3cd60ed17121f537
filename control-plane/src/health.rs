//! Health beside status: heartbeat health and backup freshness.
//!
//! `status` says where a machine is in its lifecycle; health says whether a running machine is
//! actually alive and protected. Heartbeats come every interval: ok within 2 intervals, late past 2,
//! unreachable past 3. Backups run hourly and are verified from R2 (never trusted from the host):
//! fresh ≤ 75 min, aging until 2 h, stale past 2 h, critical past 6 h or when missing or broken.
//! The same thresholds are used by the fleet SQL (`store::fleet`), which receives them as parameters.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::status::MachineStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeartbeatHealth {
    Ok,
    Late,
    Unreachable,
    /// Not running (nothing to hear from yet).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupFreshness {
    Fresh,
    Aging,
    Stale,
    Critical,
    /// Not verified yet, or the machine is younger than one backup period.
    Unknown,
}

impl HeartbeatHealth {
    pub const ALL: [Self; 4] = [Self::Ok, Self::Late, Self::Unreachable, Self::Unknown];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Late => "late",
            Self::Unreachable => "unreachable",
            Self::Unknown => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

impl BackupFreshness {
    pub const ALL: [Self; 5] = [
        Self::Fresh,
        Self::Aging,
        Self::Stale,
        Self::Critical,
        Self::Unknown,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::Aging => "aging",
            Self::Stale => "stale",
            Self::Critical => "critical",
            Self::Unknown => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

/// Thresholds; all configurable so the simulator can compress them.
#[derive(Debug, Clone, Copy)]
pub struct HealthPolicy {
    pub heartbeat_interval: Duration,
    pub backup_fresh: Duration,
    pub backup_stale: Duration,
    pub backup_critical: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::minutes(5),
            backup_fresh: Duration::minutes(75),
            backup_stale: Duration::hours(2),
            backup_critical: Duration::hours(6),
        }
    }
}

impl HealthPolicy {
    pub fn heartbeat_late_after(&self) -> Duration {
        self.heartbeat_interval * 2
    }
    pub fn heartbeat_unreachable_after(&self) -> Duration {
        self.heartbeat_interval * 3
    }

    pub fn heartbeat(
        &self,
        status: MachineStatus,
        last_seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> HeartbeatHealth {
        match (status, last_seen) {
            (MachineStatus::Running, Some(seen)) => {
                let age = now - seen;
                if age > self.heartbeat_unreachable_after() {
                    HeartbeatHealth::Unreachable
                } else if age > self.heartbeat_late_after() {
                    HeartbeatHealth::Late
                } else {
                    HeartbeatHealth::Ok
                }
            }
            (MachineStatus::Running, None) => HeartbeatHealth::Unreachable,
            _ => HeartbeatHealth::Unknown,
        }
    }

    /// `snapshot_at`/`problem` come from the last R2 verification (`checked` is false when none ran).
    pub fn backup(
        &self,
        checked: bool,
        snapshot_at: Option<DateTime<Utc>>,
        problem: Option<&str>,
        machine_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> BackupFreshness {
        if !checked {
            return BackupFreshness::Unknown;
        }
        match (problem, snapshot_at) {
            // A brand-new user has no backup during the first period: not yet a problem.
            (Some("missing_pointer"), _) if now - machine_since <= self.backup_fresh => {
                BackupFreshness::Unknown
            }
            (Some(_), _) | (None, None) => BackupFreshness::Critical,
            (None, Some(at)) => {
                let age = now - at;
                if age <= self.backup_fresh {
                    BackupFreshness::Fresh
                } else if age <= self.backup_stale {
                    BackupFreshness::Aging
                } else if age <= self.backup_critical {
                    BackupFreshness::Stale
                } else {
                    BackupFreshness::Critical
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_health_follows_interval_multiples() {
        let p = HealthPolicy::default();
        let now = DateTime::UNIX_EPOCH + Duration::days(1);
        let at = |m: i64| Some(now - Duration::minutes(m));
        assert_eq!(
            p.heartbeat(MachineStatus::Running, at(10), now),
            HeartbeatHealth::Ok
        );
        assert_eq!(
            p.heartbeat(MachineStatus::Running, at(11), now),
            HeartbeatHealth::Late
        );
        assert_eq!(
            p.heartbeat(MachineStatus::Running, at(16), now),
            HeartbeatHealth::Unreachable
        );
        assert_eq!(
            p.heartbeat(MachineStatus::Provisioning, None, now),
            HeartbeatHealth::Unknown
        );
    }

    #[test]
    fn backup_freshness_bands() {
        let p = HealthPolicy::default();
        let now = DateTime::UNIX_EPOCH + Duration::days(1);
        let old = now - Duration::days(1);
        let f = |m: i64| p.backup(true, Some(now - Duration::minutes(m)), None, old, now);
        assert_eq!(f(75), BackupFreshness::Fresh);
        assert_eq!(f(76), BackupFreshness::Aging);
        assert_eq!(f(121), BackupFreshness::Stale);
        assert_eq!(f(361), BackupFreshness::Critical);
        assert_eq!(
            p.backup(true, None, Some("missing_object"), old, now),
            BackupFreshness::Critical
        );
        assert_eq!(
            p.backup(
                true,
                None,
                Some("missing_pointer"),
                now - Duration::minutes(5),
                now
            ),
            BackupFreshness::Unknown
        );
        assert_eq!(
            p.backup(false, None, None, old, now),
            BackupFreshness::Unknown
        );
    }
}
