//! Fixed fleets built from the wire types, for screen snapshots, key-script tests and the bench:
//! a small fleet with one machine in every interesting condition ([`small`]), and a large
//! synthetic one ([`large`]). Every time is relative to [`GENERATED_AT`], so rendering with a fixed
//! `now` is deterministic.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use control_plane::api::types::{
    BackupView, FleetResponse, FleetSummaryView, HeartbeatView, MachineStatusResponse, RecoveryView,
};
use control_plane::health::{BackupFreshness, HeartbeatHealth};
use control_plane::ids::{
    ClerkUserId, Handle, HetznerServerId, ImageVersion, MachineId, PublicIpv4, RuntimeSlot,
};
use control_plane::status::{FailureCode, MachineStatus};

/// The platform's clock when the fixture fleet was "fetched".
pub fn generated_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

/// Same as [`generated_at`], as a constant for docs.
pub const GENERATED_AT: &str = "2026-11-24T08:00:00Z";

/// A deterministic machine id.
pub fn machine_id(n: u128) -> MachineId {
    MachineId::parse(&format!(
        "5eed0000-0000-4000-8000-{:012x}",
        n & 0xffff_ffff_ffff
    ))
    .expect("a valid uuid")
}

/// How one fixture machine looks.
#[derive(Debug, Clone)]
pub struct Spec {
    pub n: u128,
    pub handle: &'static str,
    pub user: &'static str,
    pub slot: &'static str,
    pub status: MachineStatus,
    /// Seconds since the last heartbeat (`None`: never).
    pub hb_age: Option<i64>,
    pub health: HeartbeatHealth,
    /// Seconds since the backup snapshot (`None`: no backup).
    pub backup_age: Option<i64>,
    pub freshness: BackupFreshness,
    pub problem: Option<&'static str>,
    pub ip: Option<[u8; 4]>,
    pub image: &'static str,
    pub failure: Option<FailureCode>,
    pub pending: Option<&'static str>,
}

impl Spec {
    pub fn running(n: u128, handle: &'static str, user: &'static str) -> Self {
        Self {
            n,
            handle,
            user,
            slot: "primary",
            status: MachineStatus::Running,
            hb_age: Some(42),
            health: HeartbeatHealth::Ok,
            backup_age: Some(20 * 60),
            freshness: BackupFreshness::Fresh,
            problem: None,
            ip: Some([95, 217, 10, (n % 250) as u8 + 1]),
            image: "2026.11.1",
            failure: None,
            pending: None,
        }
    }

    pub fn build(&self, now: DateTime<Utc>) -> MachineStatusResponse {
        let seen = self.hb_age.map(|a| now - Duration::seconds(a));
        let snap = self.backup_age.map(|a| now - Duration::seconds(a));
        let live = self.status != MachineStatus::Deleted;
        MachineStatusResponse {
            machine_id: machine_id(self.n),
            clerk_user_id: ClerkUserId::parse(self.user).expect("fixture user"),
            handle: Handle::parse(self.handle).expect("fixture handle"),
            runtime_slot: RuntimeSlot::parse(self.slot).expect("fixture slot"),
            status: self.status,
            image_version: ImageVersion::parse(self.image).expect("fixture image"),
            public_ipv4: self
                .ip
                .map(|o| PublicIpv4::parse(&std::net::Ipv4Addr::from(o).to_string()).unwrap()),
            public_ipv6: None,
            provisioned_at: now - Duration::days(3),
            last_seen_at: seen,
            deleted_at: (!live).then(|| now - Duration::hours(1)),
            failure_code: self.failure,
            failure_at: self.failure.map(|_| now - Duration::minutes(25)),
            hetzner_server_id: self
                .ip
                .map(|_| HetznerServerId::new(40_000_000 + self.n as i64).unwrap()),
            attempt: 1,
            heartbeat: HeartbeatView {
                health: self.health,
                last_seen_at: seen,
                age_seconds: self.hb_age,
                healthy_reported: seen.map(|_| true),
            },
            backup: BackupView {
                freshness: self.freshness,
                key: snap.map(|t| {
                    format!(
                        "users/{}/{}/snapshots/{}.dump",
                        self.user,
                        self.slot,
                        t.format("%Y%m%dT%H%M%SZ")
                    )
                }),
                snapshot_at: snap,
                age_seconds: self.backup_age,
                size_bytes: snap.map(|_| 48_234_112 + self.n as i64 * 1024),
                problem: self.problem.map(str::to_owned),
                // Unknown freshness with no key: the platform has not checked yet.
                checked_at: (snap.is_some() || self.freshness != BackupFreshness::Unknown)
                    .then(|| now - Duration::minutes(4)),
            },
            pending_action: self.pending.map(str::to_owned),
            recovery: (self.status == MachineStatus::Recovering).then(|| RecoveryView {
                old_machine_id: machine_id(self.n + 1000),
                old_hetzner_server_id: HetznerServerId::new(30_000_000 + self.n as i64).ok(),
                old_public_ipv4: self
                    .ip
                    .map(|o| PublicIpv4::parse(&std::net::Ipv4Addr::from(o).to_string()).unwrap()),
                previous_status: "running".into(),
            }),
        }
    }
}

/// The small fleet: one machine in every condition the screens distinguish.
pub fn small_specs() -> Vec<Spec> {
    use BackupFreshness as B;
    use HeartbeatHealth as H;
    use MachineStatus as M;
    vec![
        Spec::running(1, "alice", "user_alice"),
        Spec {
            slot: "staging",
            hb_age: Some(95),
            backup_age: Some(50 * 60),
            ..Spec::running(2, "alice", "user_alice")
        },
        Spec {
            hb_age: Some(11 * 60 + 5),
            health: H::Late,
            backup_age: Some(90 * 60),
            freshness: B::Aging,
            ..Spec::running(3, "bob", "user_bob")
        },
        Spec {
            hb_age: Some(47 * 60),
            health: H::Unreachable,
            backup_age: Some(3 * 3600 + 10 * 60),
            freshness: B::Stale,
            ..Spec::running(4, "carol", "user_carol")
        },
        Spec {
            status: M::Failed,
            hb_age: Some(2 * 3600),
            health: H::Unknown,
            backup_age: Some(2 * 3600 + 5 * 60),
            freshness: B::Stale,
            failure: Some(FailureCode::RegistrationTimeout),
            ..Spec::running(5, "dave", "user_dave")
        },
        Spec {
            status: M::Failed,
            hb_age: None,
            health: H::Unknown,
            backup_age: None,
            freshness: B::Critical,
            problem: Some("missing_pointer"),
            ip: None,
            failure: Some(FailureCode::QuotaExceeded),
            ..Spec::running(6, "erin", "user_erin")
        },
        Spec {
            status: M::Recovering,
            hb_age: Some(30 * 60),
            health: H::Unknown,
            backup_age: Some(40 * 60),
            pending: Some("recovering"),
            ..Spec::running(7, "frank", "user_frank")
        },
        Spec {
            status: M::Provisioning,
            hb_age: None,
            health: H::Unknown,
            backup_age: None,
            freshness: B::Unknown,
            ip: None,
            pending: Some("creating_server"),
            ..Spec::running(8, "grace", "user_grace")
        },
        Spec {
            image: "2026.10.3",
            hb_age: Some(3),
            backup_age: Some(7 * 3600),
            freshness: B::Critical,
            ..Spec::running(9, "heidi", "user_heidi")
        },
        Spec {
            ip: Some([9, 9, 9, 9]),
            ..Spec::running(10, "ivan", "user_ivan")
        },
        Spec {
            ip: Some([100, 200, 1, 1]),
            hb_age: Some(42),
            ..Spec::running(11, "judy", "user_judy")
        },
        Spec {
            status: M::Running,
            hb_age: None,
            health: H::Unreachable,
            backup_age: None,
            freshness: B::Unknown,
            ..Spec::running(12, "mallory", "user_mallory")
        },
    ]
}

/// A fleet answer holding `machines`, generated at [`generated_at`].
pub fn response(machines: Vec<MachineStatusResponse>) -> FleetResponse {
    let mut by_status = BTreeMap::new();
    for m in &machines {
        *by_status.entry(m.status.as_str().to_owned()).or_insert(0) += 1;
    }
    let total = machines.len() as i64;
    FleetResponse {
        generated_at: generated_at(),
        summary: FleetSummaryView {
            total,
            by_status,
            ..FleetSummaryView::default()
        },
        page: 1,
        per_page: 1000,
        total,
        machines,
    }
}

/// The small fleet as the platform would answer it.
pub fn small() -> FleetResponse {
    let now = generated_at();
    response(small_specs().iter().map(|s| s.build(now)).collect())
}

/// `n` synthetic machines with a spread of statuses, ages and addresses (deterministic).
pub fn large(n: usize) -> FleetResponse {
    use BackupFreshness as B;
    use HeartbeatHealth as H;
    use MachineStatus as M;
    let now = generated_at();
    // Names must outlive the specs: leak-free by building responses directly.
    let machines = (0..n)
        .map(|i| {
            let x = (i as u64).wrapping_mul(2_654_435_761) % 1_000_003;
            let status = match x % 50 {
                0 => M::Failed,
                1 => M::Recovering,
                2 => M::Provisioning,
                _ => M::Running,
            };
            let hb = (x % 1900) as i64;
            let backup = (x % 30_000) as i64;
            let mut m = Spec {
                status,
                hb_age: (!x.is_multiple_of(97)).then_some(hb),
                health: if hb > 900 {
                    H::Unreachable
                } else if hb > 600 {
                    H::Late
                } else {
                    H::Ok
                },
                backup_age: (!x.is_multiple_of(89)).then_some(backup),
                freshness: if backup > 21_600 {
                    B::Critical
                } else if backup > 7200 {
                    B::Stale
                } else {
                    B::Fresh
                },
                ip: Some([
                    95,
                    (x % 200) as u8 + 1,
                    (i / 250 % 250) as u8,
                    (i % 250) as u8 + 1,
                ]),
                ..Spec::running(i as u128 + 1, "placeholder", "user_placeholder")
            }
            .build(now);
            m.handle = Handle::parse(&format!("u{:07}", x)).unwrap();
            m.clerk_user_id = ClerkUserId::parse(&format!("user_{i:07}")).unwrap();
            if i % 7 == 0 {
                m.runtime_slot = RuntimeSlot::parse("staging").unwrap();
            }
            m
        })
        .collect();
    response(machines)
}
