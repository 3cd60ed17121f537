//! Matrix Fleet simulation harness.
//!
//! The harness runs the real control-plane library against fake provider endpoints, a real
//! Postgres and simulated customer hosts (see `shared/reference/simulation.md`). It depends on the
//! control-plane library only for what a real host shares with it (the R2 client and key layout, the
//! cloud-init format); the fakes know nothing of the control plane.
//!
//! - [`postgres`]: one Postgres server per test process, a fresh database per test or scenario;
//! - [`fake_hetzner`]: a stateful, fault-injectable fake of the Hetzner Cloud API on 127.0.0.1;
//! - [`fake_r2`]: an in-memory, fault-injectable fake of R2 (the S3 API, on `s3s`) on 127.0.0.1;
//! - [`host`]: simulated customer hosts that boot from the cloud-init the fake received;
//! - [`fleet`]: all of the above around the real control plane, in one process;
//! - [`live`]: a fleet that runs by itself (the console demo, `matrix-sim serve`);
//! - [`proxy`]: a transport fault proxy (latency, reset, blackhole, down) for any of them;
//! - [`scenario`]: seeded TOML scenarios, their runner, history, invariants and reports
//!   (`matrix-sim run` / `replay`; the format is in `docs/scenarios.md`).

pub mod fake_hetzner;
pub mod fake_r2;
pub mod fleet;
pub mod host;
pub mod live;
pub mod postgres;
pub mod proxy;
pub mod scenario;
