//! The flows: provision, register, heartbeat, recover, delete, and the reads the API serves.
//!
//! Each operation reads as its named steps (`provision_claim_row`, `create_server_step`, …). The
//! pattern every multi-step flow follows:
//! 1. make the intent durable in one transaction (the row, its claim, queued deletions);
//! 2. call the provider with no transaction open;
//! 3. record the outcome in one transaction guarded by the claim.
//!
//! A crash between any two steps leaves a row with a pending step, an expired claim or a queued
//! deletion — each of which the reconciler settles. See `docs/architecture.md`.

pub mod boot_failure;
pub mod create_server;
pub mod delete;
pub mod deletions;
pub mod heartbeat;
pub mod provision;
pub mod queries;
pub mod recover;
pub mod register;
pub mod vps_meta;

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::{Clock, IdSource};
use crate::cloud_init::PlatformBootstrap;
use crate::config::Settings;
use crate::health::HealthPolicy;
use crate::hetzner::HetznerClient;
use crate::metrics::Metrics;
use crate::r2::R2Client;
use crate::secret::Secret;

/// Everything a flow needs. Cheap to clone (all shared).
#[derive(Clone)]
pub struct App {
    pub db: PgPool,
    pub hetzner: HetznerClient,
    pub r2: R2Client,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub settings: Arc<Settings>,
    pub bootstrap: Arc<PlatformBootstrap>,
    pub metrics: Arc<Metrics>,
    /// Poked by handlers after a write that leaves work for the reconciler (a deferred create);
    /// the provision-step task waits on it between intervals.
    pub activate_steps: Arc<Notify>,
    /// Identifies this replica's claims in the database.
    pub replica_id: Uuid,
}

impl App {
    pub fn health_policy(&self) -> HealthPolicy {
        HealthPolicy {
            heartbeat_interval: chrono::Duration::from_std(self.settings.heartbeat_interval)
                .unwrap_or(chrono::Duration::minutes(5)),
            ..HealthPolicy::default()
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub(crate) fn claim_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.claim_ttl).unwrap_or(chrono::Duration::minutes(5))
    }

    /// A fresh claim id for one provider step. Random per step (not per replica) so a replica never
    /// mistakes an old claim of its own for the current one.
    pub(crate) fn new_claim(&self) -> Uuid {
        Uuid::from_bytes(self.ids.secret_bytes()[..16].try_into().expect("16 bytes"))
    }

    /// A new secret token: 32 random bytes, hex.
    pub(crate) fn new_token(&self) -> Secret {
        Secret::new(hex::encode(self.ids.secret_bytes()))
    }

    pub(crate) fn platform_secret(&self) -> crate::Result<&Secret> {
        self.settings.platform_secret.as_ref().ok_or_else(|| {
            crate::Error::new(
                crate::ErrorKind::Unavailable,
                crate::error::msg::NOT_CONFIGURED,
                "no platform secret",
            )
        })
    }
}
