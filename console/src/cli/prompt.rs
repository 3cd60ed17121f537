//! Questions to the operator before an action. Behind a trait so tests can script the answers; the
//! real one asks on stderr and reads stdin, and only when stdin is a terminal: a script piping
//! input in never confirms an action by accident (it must say `--yes`).

use std::io::{BufRead, IsTerminal, Write};

pub trait Prompt {
    /// Whether an operator can answer (stdin is a terminal).
    fn is_interactive(&self) -> bool;
    /// Shows `question` and reads one line, without its line ending. `None` at end of input.
    fn ask(&mut self, question: &str) -> Option<String>;
}

/// The terminal the console runs in.
#[derive(Debug, Default, Clone, Copy)]
pub struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn is_interactive(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn ask(&mut self, question: &str) -> Option<String> {
        let mut err = std::io::stderr();
        let _ = write!(err, "{question}");
        let _ = err.flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
        }
    }
}

/// `y` or `yes`, in any case; anything else (including nothing) is no.
pub fn is_yes(answer: Option<&str>) -> bool {
    answer.is_some_and(|a| matches!(a.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_yes_confirms() {
        for yes in ["y", "Y", "yes", " YES "] {
            assert!(is_yes(Some(yes)), "{yes}");
        }
        for no in ["", "n", "no", "yess", "ok"] {
            assert!(!is_yes(Some(no)), "{no}");
        }
        assert!(!is_yes(None));
    }
}
