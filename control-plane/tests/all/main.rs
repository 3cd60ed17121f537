//! Integration tests of the control-plane library's provider clients over real loopback sockets.

mod hetzner_client;
mod r2_client;
