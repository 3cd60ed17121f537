//! Support for the cross-crate end-to-end tests: a real control plane (API server on a loopback
//! port, real Postgres, real clients) wired to the simulator's fake Hetzner and an in-memory S3, with
//! a manual clock the test drives.

pub mod memory_s3;
pub mod platform;
pub mod wait;
