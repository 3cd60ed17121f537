//! `matrix-console`: parses the command line and hands over to [`matrix_console::cli::run`]. Usage
//! errors end here with exit code 2; everything else is in the library.

use std::process::ExitCode;

use matrix_console::cli::{self, Env, Exit};
use matrix_console::strings::cli as s;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let env = Env::from_process();
    match cli::args::parse(&args, &env) {
        Ok(invocation) => cli::run(invocation, &env),
        Err(e) => {
            eprintln!("{}", s::error_line(&e.to_string()));
            Exit::Usage.into()
        }
    }
}
