//! The sim crate's one integration-test binary: a module per area, sharing one process (and so
//! one shared Postgres cluster).

mod fake_hetzner;
mod postgres;
