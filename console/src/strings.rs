//! Every string the console shows, in one place (gitui's `strings.rs`): the screens' words in
//! [`tui`], the subcommands' words in [`cli`]. Keeping them here makes wording reviewable at a glance
//! and keeps screens free of literals.

pub mod cli;
pub mod tui;
