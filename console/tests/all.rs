//! The console's integration tests for the command line and the demo, in one binary (one process,
//! so one shared harness Postgres): a module per area.
//!
//! - `cli_binary`: the built `matrix-console` run as a process against a simulated fleet, checking
//!   output and exit codes as a script would see them;
//! - `cli_prompts`: the subcommands in-process with scripted answers (the confirmation paths that
//!   need a terminal);
//! - `demo`: the demo fleet's start-up and stop.

#[path = "all/cli_binary.rs"]
mod cli_binary;
#[path = "all/cli_prompts.rs"]
mod cli_prompts;
#[path = "all/demo.rs"]
mod demo;
#[path = "all/support.rs"]
mod support;
