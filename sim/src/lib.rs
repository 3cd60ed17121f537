//! Matrix Fleet simulation harness.
//!
//! The harness runs the real control-plane library against fake provider endpoints, a real
//! Postgres and simulated customer hosts (see `shared/reference/simulation.md`). This crate holds
//! the pieces that do not need the control plane itself, so it never depends on it:
//!
//! - [`postgres`]: one Postgres server per test process, a fresh database per test or scenario;
//! - [`fake_hetzner`]: a stateful, fault-injectable fake of the Hetzner Cloud API on 127.0.0.1.

pub mod fake_hetzner;
pub mod postgres;
