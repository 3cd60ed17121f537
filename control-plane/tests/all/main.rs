//! Integration tests of the control-plane crate: its provider clients over real loopback sockets and
//! its binary as a real process.

mod binary;
mod hetzner_client;
mod r2_client;
