//! Matrix Fleet operator console (`matrix-console`).
//!
//! - [`client`]: the typed client of the platform API that everything else goes through;
//! - [`tui`]: the interactive terminal console (state, keys, screens, background tasks);
//! - [`cli`]: argument parsing and the non-interactive subcommands for scripts and CI;
//! - [`demo`]: an embedded simulated fleet for `matrix-console demo`;
//! - [`strings`]: every string the console shows.

pub mod cli;
pub mod client;
pub mod demo;
pub mod strings;
pub mod tui;
