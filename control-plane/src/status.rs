//! Machine status, its transition table, and the failure codes operators see.
//!
//! The table in [`TRANSITIONS`] is the whole state machine of `control-plane.md` §2, as data. Every
//! status change in the store goes through [`check_transition`]; the SQL that applies it also carries
//! the expected `from` status in its `WHERE` clause, so a concurrent change makes the update match
//! nothing instead of silently overwriting.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineStatus {
    Provisioning,
    Running,
    Failed,
    Recovering,
    Deleted,
}

impl MachineStatus {
    pub const ALL: [MachineStatus; 5] = [
        Self::Provisioning,
        Self::Running,
        Self::Failed,
        Self::Recovering,
        Self::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Running => "running",
            Self::Failed => "failed",
            Self::Recovering => "recovering",
            Self::Deleted => "deleted",
        }
    }

    /// A live status is any but `deleted` (a retired `failed` row is told apart by `deleted_at`).
    pub fn is_live(self) -> bool {
        self != Self::Deleted
    }

    /// Statuses a row may not linger in: the reconciler settles them after the stale threshold.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Provisioning | Self::Recovering)
    }
}

impl fmt::Display for MachineStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MachineStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or(())
    }
}

/// Why a status changed: the edge of the state machine being taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// ∅ → provisioning
    Provision,
    /// provisioning|recovering → running
    Register,
    /// provisioning → failed: definitive create failure, stale row, registration timeout
    Fail,
    /// provisioning|running|failed → recovering
    Recover,
    /// recovering → the status held before the recovery (row restored exactly)
    RecoverRollback,
    /// recovering → failed, when the rollback is impossible
    RecoverAbandon,
    /// any live → deleted
    Delete,
    /// failed → retired (soft-deleted; a new row with attempt + 1 replaces it)
    Retire,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Register => "register",
            Self::Fail => "fail",
            Self::Recover => "recover",
            Self::RecoverRollback => "recover_rollback",
            Self::RecoverAbandon => "recover_abandon",
            Self::Delete => "delete",
            Self::Retire => "retire",
        }
    }
}

use MachineStatus::*;

/// `(from, to, via)`; `from == None` is the creation of a row. `RecoverRollback` lists every status a
/// recovery may have started from. `Retire` keeps `failed` as the status and sets `deleted_at`.
pub const TRANSITIONS: &[(Option<MachineStatus>, MachineStatus, Transition)] = &[
    (None, Provisioning, Transition::Provision),
    (Some(Provisioning), Running, Transition::Register),
    (Some(Recovering), Running, Transition::Register),
    (Some(Provisioning), Failed, Transition::Fail),
    (Some(Provisioning), Recovering, Transition::Recover),
    (Some(Running), Recovering, Transition::Recover),
    (Some(Failed), Recovering, Transition::Recover),
    (Some(Recovering), Provisioning, Transition::RecoverRollback),
    (Some(Recovering), Running, Transition::RecoverRollback),
    (Some(Recovering), Failed, Transition::RecoverRollback),
    (Some(Recovering), Failed, Transition::RecoverAbandon),
    (Some(Provisioning), Deleted, Transition::Delete),
    (Some(Running), Deleted, Transition::Delete),
    (Some(Failed), Deleted, Transition::Delete),
    (Some(Recovering), Deleted, Transition::Delete),
    (Some(Failed), Failed, Transition::Retire),
];

/// A transition the table does not allow. Reported to clients as a generic 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("transition {via:?} from {from:?} to {to} is not allowed")]
pub struct TransitionRefused {
    pub from: Option<MachineStatus>,
    pub to: MachineStatus,
    pub via: Transition,
}

/// The single gate every status change passes through.
pub fn check_transition(
    from: Option<MachineStatus>,
    to: MachineStatus,
    via: Transition,
) -> Result<(), TransitionRefused> {
    if TRANSITIONS
        .iter()
        .any(|(f, t, v)| *f == from && *t == to && *v == via)
    {
        Ok(())
    } else {
        Err(TransitionRefused { from, to, via })
    }
}

/// Generic, operator-facing failure codes. Never raw provider text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    QuotaExceeded,
    ProviderUnavailable,
    ProviderTimeout,
    UserDataTooLarge,
    R2Unavailable,
    InvalidState,
    NotFound,
    RegistrationRejected,
    RegistrationTimeout,
    RetryExhausted,
    Unknown,
}

impl FailureCode {
    pub const ALL: [FailureCode; 11] = [
        Self::QuotaExceeded,
        Self::ProviderUnavailable,
        Self::ProviderTimeout,
        Self::UserDataTooLarge,
        Self::R2Unavailable,
        Self::InvalidState,
        Self::NotFound,
        Self::RegistrationRejected,
        Self::RegistrationTimeout,
        Self::RetryExhausted,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuotaExceeded => "quota_exceeded",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ProviderTimeout => "provider_timeout",
            Self::UserDataTooLarge => "user_data_too_large",
            Self::R2Unavailable => "r2_unavailable",
            Self::InvalidState => "invalid_state",
            Self::NotFound => "not_found",
            Self::RegistrationRejected => "registration_rejected",
            Self::RegistrationTimeout => "registration_timeout",
            Self::RetryExhausted => "retry_exhausted",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureCode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or(())
    }
}

/// Who caused an event in the machine log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Api,
    Reconciler,
    Operator,
    Host,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Reconciler => "reconciler",
            Self::Operator => "operator",
            Self::Host => "host",
        }
    }
}

/// Where a host's restore-or-fresh gate failed closed (`POST /vps/boot-failure`). A closed set of
/// words: hosts never send free text to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BootFailureReason {
    /// The completion marker exists but is not a regular file (e.g. a symlink).
    MarkerInvalid,
    /// `latest` could not be read or does not name a snapshot.
    InvalidPointer,
    /// The snapshot could not be downloaded.
    SnapshotDownloadFailed,
    /// The snapshot is empty.
    SnapshotEmpty,
    /// The snapshot's SHA-256 does not match the one recorded when it was uploaded.
    SnapshotChecksumMismatch,
    /// `pg_restore` failed.
    RestoreFailed,
}

impl BootFailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BootFailureReason::MarkerInvalid => "marker_invalid",
            BootFailureReason::InvalidPointer => "invalid_pointer",
            BootFailureReason::SnapshotDownloadFailed => "snapshot_download_failed",
            BootFailureReason::SnapshotEmpty => "snapshot_empty",
            BootFailureReason::SnapshotChecksumMismatch => "snapshot_checksum_mismatch",
            BootFailureReason::RestoreFailed => "restore_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = Option<MachineStatus>> {
        prop_oneof![
            Just(None),
            proptest::sample::select(MachineStatus::ALL.to_vec()).prop_map(Some)
        ]
    }
    fn via() -> impl Strategy<Value = Transition> {
        proptest::sample::select(vec![
            Transition::Provision,
            Transition::Register,
            Transition::Fail,
            Transition::Recover,
            Transition::RecoverRollback,
            Transition::RecoverAbandon,
            Transition::Delete,
            Transition::Retire,
        ])
    }

    proptest! {
        /// Invariants of the reference table, checked over every triple the type allows.
        #[test]
        fn transition_table_invariants(from in status(), to in proptest::sample::select(MachineStatus::ALL.to_vec()), via in via()) {
            let allowed = check_transition(from, to, via).is_ok();
            // Nothing leaves `deleted`, and nothing but `provision` creates a row.
            if from == Some(Deleted) { prop_assert!(!allowed); }
            if from.is_none() { prop_assert_eq!(allowed, to == Provisioning && via == Transition::Provision); }
            // Only `register` makes a machine running from provisioning: a provider never does.
            if allowed && to == Running && from == Some(Provisioning) { prop_assert_eq!(via, Transition::Register); }
            // `recovering` is entered only through `recover`, and never from itself (one recovery at a time).
            if allowed && to == Recovering { prop_assert_eq!(via, Transition::Recover); prop_assert_ne!(from, Some(Recovering)); }
            // A rollback only ever starts from `recovering`.
            if allowed && via == Transition::RecoverRollback { prop_assert_eq!(from, Some(Recovering)); }
            // Every live status can be deleted.
            if via == Transition::Delete && to == Deleted { prop_assert_eq!(allowed, from.is_some_and(|f| f.is_live())); }
        }

        #[test]
        fn status_and_failure_code_names_round_trip(i in 0usize..5, j in 0usize..11) {
            let s = MachineStatus::ALL[i];
            prop_assert_eq!(s.as_str().parse::<MachineStatus>(), Ok(s));
            let c = FailureCode::ALL[j];
            prop_assert_eq!(c.as_str().parse::<FailureCode>(), Ok(c));
            prop_assert_eq!(serde_json::to_value(c).unwrap(), serde_json::Value::String(c.as_str().into()));
        }
    }

    #[test]
    fn running_cannot_fail_directly_or_go_back_to_provisioning() {
        assert!(check_transition(Some(Running), Failed, Transition::Fail).is_err());
        assert!(check_transition(Some(Running), Provisioning, Transition::Provision).is_err());
        assert!(check_transition(Some(Recovering), Recovering, Transition::Recover).is_err());
    }
}
