//! End-to-end tests of the control plane through its HTTP API, against real Postgres, the
//! simulator's fake Hetzner and an in-memory S3. One binary, one module per area.

mod api_surface;
mod boot_failure;
mod delete;
mod heartbeat;
mod lifecycle;
mod logs;
mod provision;
mod reconciler;
mod recover;
mod register;
mod sim_host;
