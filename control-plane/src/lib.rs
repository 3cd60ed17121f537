//! Matrix Fleet control plane.
//!
//! The control plane of a "one VPS per user" platform: a Postgres registry of customer machines, the
//! Hetzner Cloud and Cloudflare R2 clients, the provision / register / heartbeat / recover / delete
//! flows, a reconciler that settles whatever a crash or a provider left half-done, and the HTTP API
//! (`matrix-platform serve`). Behaviour follows `shared/reference/control-plane.md`.
//!
//! Layers, top to bottom:
//! - [`api`]: HTTP handlers — parse, authorise, call `app`, convert. No SQL, no provider calls.
//! - [`app`]: the flows, one file per operation, each a list of named steps.
//! - [`reconciler`]: periodic tasks, one file per task, and their driver.
//! - [`store`]: Postgres, one file per table. No provider calls.
//! - [`hetzner`], [`r2`]: provider clients with typed outcomes.
//!
//! Time and identity are injected ([`clock`]) so the simulator can drive and replay runs.

pub mod api;
pub mod app;
pub mod clock;
pub mod cloud_init;
pub mod config;
pub mod error;
pub mod health;
pub mod hetzner;
pub mod ids;
pub mod metrics;
pub mod r2;
pub mod reconciler;
pub mod secret;
pub mod server;
pub mod status;
pub mod store;

pub use error::{Error, ErrorKind, Result};
