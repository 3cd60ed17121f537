//! Words of the non-interactive subcommands.
