//! The sim crate's one integration-test binary: a module per area, sharing one process (and so
//! one shared Postgres cluster).

mod fake_hetzner;
mod fake_r2;
mod fleet;
mod hcloud_cli;
mod postgres;
mod proxy;
mod scenario;
mod scenario_cli;
mod scenario_format;
mod serve;
