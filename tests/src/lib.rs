//! Support for the cross-crate end-to-end tests: a real control plane (API server on a loopback
//! port, real Postgres, real clients) wired to the simulator's fake Hetzner and fake R2, with
//! a manual clock the test drives.

pub mod platform;
pub mod test_r2;
pub mod wait;
