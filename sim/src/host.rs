//! Simulated customer hosts: what a real VPS does from its cloud-init, driven by the harness.
//!
//! A [`SimHost`] boots from exactly the `user_data` the fake Hetzner received (as cloud-init would),
//! and then follows the host contract of `control-plane.md` §8:
//! 1. the restore-or-fresh gate ([`gate`]): a regular completion marker means "already decided"; a
//!    symlinked or non-regular marker is an error; otherwise no `latest` → fresh, a valid `latest` →
//!    download, verify (non-empty, SHA-256 from object metadata), `pg_restore`, then write the marker
//!    atomically. Any failure keeps the host from registering (fail closed);
//! 2. register with bounded exponential backoff until success or token expiry;
//! 3. heartbeat;
//! 4. backup ([`backup`]): `pg_dump -Fc` → upload `snapshots/<ts>.dump` with its SHA-256 → confirm it
//!    exists → only then replace `latest`. A failed dump or upload leaves `latest` untouched.
//!
//! Each host has its own database on the harness Postgres (real `pg_dump`/`pg_restore`), or none in
//! light mode (synthetic dumps) for large fleets. Faults ([`HostFault`]) make a step fail the way a
//! real host would. Steps are explicit methods, so a test or a scenario decides when each happens.

pub mod backup;
pub mod bootstrap;
pub mod gate;
pub mod workload;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use control_plane::r2::{R2Client, R2Config};
use control_plane::secret::Secret;
use serde_json::json;

pub use bootstrap::HostEnv;
pub use gate::GateOutcome;

/// Whether the host runs a real database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMode {
    /// Its own Postgres database; backups are real `pg_dump` custom-format archives.
    Postgres,
    /// No database: the workload counts rows in memory and backups are synthetic bytes.
    Light,
}

/// Failures a scenario can inject into a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostFault {
    /// `pg_dump` fails: the backup exits non-zero, `latest` untouched.
    DumpFails,
    /// The snapshot upload fails: `latest` untouched.
    UploadFails,
    /// The host stops answering: no heartbeat, no backup, no register.
    Hang,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("user_data is not a Matrix host bootstrap: {0}")]
    Bootstrap(String),
    #[error("restore gate failed closed: {0}")]
    Gate(String),
    #[error("host is down (crashed or hung)")]
    Down,
    #[error("registration refused with HTTP {0}")]
    RegisterRefused(u16),
    #[error("registration token expired before the host could register")]
    TokenExpired,
    #[error("backup failed: {0}")]
    Backup(String),
    #[error("database: {0}")]
    Database(String),
    #[error("platform unreachable: {0}")]
    Platform(String),
}

/// What the harness gives every host: where its database lives and how to reach things.
#[derive(Clone)]
pub struct HostContext {
    pub mode: HostMode,
    /// Admin URL of the Postgres cluster; each Postgres-mode host gets its own database on it.
    pub database_url: Option<String>,
    /// Directory holding each host's "disk" (marker files, dump files).
    pub disk_root: PathBuf,
    pub http: reqwest::Client,
}

/// One simulated VPS.
pub struct SimHost {
    pub server_id: i64,
    pub public_ipv4: std::net::Ipv4Addr,
    pub env: HostEnv,
    pub(crate) r2: R2Client,
    pub(crate) http: reqwest::Client,
    pub(crate) mode: HostMode,
    /// This host's own database URL (Postgres mode).
    pub(crate) database_url: Option<String>,
    pub(crate) disk: PathBuf,
    /// std mutex: flags only, never held across an await.
    pub(crate) state: Mutex<HostState>,
}

#[derive(Debug, Default)]
pub(crate) struct HostState {
    pub(crate) up: bool,
    pub(crate) registered: bool,
    pub(crate) faults: std::collections::HashSet<HostFault>,
    /// Light mode's stand-in for the database: the rows written so far.
    pub(crate) light_rows: u64,
}

impl SimHost {
    /// Boots from a server's `user_data`: parses the bootstrap and prepares the disk. The database
    /// (Postgres mode) is `database_url`, a fresh database the harness created for this host.
    pub fn boot(
        server_id: i64,
        public_ipv4: std::net::Ipv4Addr,
        user_data: &str,
        ctx: &HostContext,
        database_url: Option<String>,
    ) -> Result<Self, HostError> {
        let env = HostEnv::parse(user_data)?;
        let endpoint = url::Url::parse(&env.r2_endpoint)
            .map_err(|_| HostError::Bootstrap("R2_ENDPOINT".into()))?;
        let r2 = R2Client::new(
            R2Config {
                endpoint,
                bucket: env.r2_bucket.clone(),
                access_key_id: env.r2_access_key_id.clone(),
                secret_access_key: Secret::new(env.r2_secret_access_key.expose()),
                read_timeout: Duration::from_secs(10),
                write_timeout: Duration::from_secs(30),
            },
            std::sync::Arc::new(control_plane::metrics::Metrics::new()),
        );
        let disk = ctx.disk_root.join(format!("host-{server_id}"));
        std::fs::create_dir_all(&disk).map_err(|e| HostError::Bootstrap(format!("disk: {e}")))?;
        Ok(Self {
            server_id,
            public_ipv4,
            env,
            r2,
            http: ctx.http.clone(),
            mode: ctx.mode,
            database_url,
            disk,
            state: Mutex::new(HostState {
                up: true,
                ..HostState::default()
            }),
        })
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut HostState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn is_up(&self) -> bool {
        self.with_state(|s| s.up && !s.faults.contains(&HostFault::Hang))
    }

    pub fn is_registered(&self) -> bool {
        self.with_state(|s| s.registered)
    }

    pub fn inject(&self, fault: HostFault) {
        self.with_state(|s| s.faults.insert(fault));
    }

    pub fn clear(&self, fault: HostFault) {
        self.with_state(|s| s.faults.remove(&fault));
    }

    pub(crate) fn has_fault(&self, fault: HostFault) -> bool {
        self.with_state(|s| s.faults.contains(&fault))
    }

    /// The machine stops: nothing it does succeeds from now on.
    pub fn crash(&self) {
        self.with_state(|s| s.up = false);
    }

    /// The disk is gone: the gate marker and, in Postgres mode, every application row.
    pub async fn lose_disk(&self) -> Result<(), HostError> {
        let _ = std::fs::remove_dir_all(&self.disk);
        std::fs::create_dir_all(&self.disk).map_err(|e| HostError::Database(e.to_string()))?;
        self.with_state(|s| s.light_rows = 0);
        if let Some(url) = &self.database_url {
            workload::drop_schema(url).await?;
        }
        Ok(())
    }

    /// Runs the restore-or-fresh gate (step 1). Fail closed: an error means "do not serve".
    pub async fn run_gate(&self) -> Result<GateOutcome, HostError> {
        if !self.is_up() {
            return Err(HostError::Down);
        }
        match gate::run(self).await {
            Ok(outcome) => Ok(outcome),
            Err((reason, error)) => {
                // Best effort: the platform learns why this host will never register. A report
                // that cannot be delivered changes nothing; the host stays closed either way.
                let reported = self.report_boot_failure(reason).await;
                tracing::info!(
                    server_id = self.server_id,
                    reason = reason.as_str(),
                    ?reported,
                    "restore gate failed closed"
                );
                Err(match error {
                    HostError::Gate(detail) => {
                        HostError::Gate(format!("{}: {detail}", reason.as_str()))
                    }
                    other => other,
                })
            }
        }
    }

    /// Tells the platform where the gate failed (`POST /vps/boot-failure` with the registration
    /// token). Returns the HTTP status, or why nothing was answered.
    pub async fn report_boot_failure(
        &self,
        reason: control_plane::status::BootFailureReason,
    ) -> Result<u16, HostError> {
        let body = json!({
            "machineId": self.env.machine_id,
            "hetznerServerId": self.server_id,
            "reason": reason,
        });
        let response = self
            .http
            .post(&self.env.boot_failure_url)
            .bearer_auth(self.env.registration_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| HostError::Platform(e.without_url().to_string()))?;
        Ok(response.status().as_u16())
    }

    /// Registers once. `Ok(true)` when registered, `Ok(false)` when refused in a way worth retrying.
    pub async fn register_once(&self) -> Result<(), HostError> {
        if !self.is_up() {
            return Err(HostError::Down);
        }
        if !gate::marker_is_regular(&self.disk)? {
            return Err(HostError::Gate("restore gate has not completed".into()));
        }
        let body = json!({
            "machineId": self.env.machine_id,
            "hetznerServerId": self.server_id,
            "publicIPv4": self.public_ipv4.to_string(),
            "imageVersion": self.env.image_version,
        });
        let response = self
            .http
            .post(&self.env.register_url)
            .bearer_auth(self.env.registration_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| HostError::Platform(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200 => {
                self.with_state(|s| s.registered = true);
                Ok(())
            }
            code => Err(HostError::RegisterRefused(code)),
        }
    }

    /// Registers with bounded exponential backoff (step 2): retries refusals that may pass later
    /// (the control plane has not recorded the server id yet, 5xx, unreachable) until `deadline`
    /// passes on `now()`, at most `max_attempts` times. `sleep` waits between attempts.
    pub async fn register_with_backoff<S, F>(
        &self,
        max_attempts: u32,
        now: impl Fn() -> DateTime<Utc>,
        deadline: DateTime<Utc>,
        mut sleep: S,
    ) -> Result<u32, HostError>
    where
        S: FnMut(Duration) -> F,
        F: std::future::Future<Output = ()>,
    {
        let mut delay = Duration::from_millis(50);
        let mut last = HostError::TokenExpired;
        for attempt in 1..=max_attempts.max(1) {
            if now() >= deadline {
                return Err(HostError::TokenExpired);
            }
            match self.register_once().await {
                Ok(()) => return Ok(attempt),
                // Definitive: the token is wrong or used, the request is invalid.
                Err(HostError::RegisterRefused(code))
                    if code == 400 || code == 404 || code == 409 =>
                {
                    return Err(HostError::RegisterRefused(code));
                }
                Err(HostError::Down) => return Err(HostError::Down),
                Err(HostError::Gate(g)) => return Err(HostError::Gate(g)),
                Err(e) => {
                    // Out of attempts: report the last refusal, not a made-up expiry.
                    last = e;
                    if attempt < max_attempts {
                        sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }
        Err(last)
    }

    /// One heartbeat (step 4). Returns the HTTP status.
    pub async fn heartbeat(
        &self,
        last_backup: Option<(&str, DateTime<Utc>, i64)>,
    ) -> Result<u16, HostError> {
        if !self.is_up() {
            return Err(HostError::Down);
        }
        let mut body = json!({"machineId": self.env.machine_id, "imageVersion": self.env.image_version, "healthy": true});
        if let Some((key, at, size)) = last_backup {
            body["lastBackup"] = json!({"key": key, "at": at, "sizeBytes": size});
        }
        let response = self
            .http
            .post(&self.env.heartbeat_url)
            .bearer_auth(self.env.heartbeat_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| HostError::Platform(e.without_url().to_string()))?;
        Ok(response.status().as_u16())
    }

    pub fn disk(&self) -> &std::path::Path {
        &self.disk
    }
}
