//! Exit codes: the contract with scripts. `--help` (`strings::cli::USAGE`) and
//! `docs/operator-guide.md` list the same table; a unit test keeps `--help` in step with [`Exit::ALL`].

use std::process::ExitCode;

use crate::client::ClientError;

/// How a subcommand ended. The discriminant is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    /// Refused or failed by the platform (409, other 4xx/5xx, an unexpected answer), or a local
    /// failure such as the demo fleet not starting.
    Failed = 1,
    /// Bad arguments, missing URL or token, an action under `--read-only`.
    Usage = 2,
    /// No answer from the control plane. For a write the outcome is unknown.
    Unreachable = 3,
    /// No such machine, handle, or live machine for the user and slot.
    NotFound = 4,
    /// The operator token was refused (401/403).
    TokenRefused = 5,
    /// Confirmation declined, or needed while stdin is not a terminal.
    NotConfirmed = 6,
}

impl Exit {
    pub const ALL: [Exit; 7] = [
        Exit::Ok,
        Exit::Failed,
        Exit::Usage,
        Exit::Unreachable,
        Exit::NotFound,
        Exit::TokenRefused,
        Exit::NotConfirmed,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

impl From<&ClientError> for Exit {
    fn from(error: &ClientError) -> Self {
        match error {
            ClientError::Unreachable => Exit::Unreachable,
            ClientError::Unauthorized(_) => Exit::TokenRefused,
            ClientError::NotFound(_) => Exit::NotFound,
            ClientError::Conflict(_) | ClientError::Rejected { .. } | ClientError::Protocol => {
                Exit::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strings::cli::USAGE;

    #[test]
    fn help_lists_every_exit_code_once_and_in_order() {
        let section = USAGE
            .split("EXIT CODES")
            .nth(1)
            .expect("an exit code section");
        let listed: Vec<u8> = section
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        let expected: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn the_operator_guide_lists_the_same_exit_codes() {
        let guide = include_str!("../../../docs/operator-guide.md");
        let section = guide
            .split("### Exit codes")
            .nth(1)
            .expect("an exit code section in docs/operator-guide.md");
        let listed: Vec<u8> = section
            .lines()
            .take_while(|l| !l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse().ok())
            .collect();
        let expected: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn client_errors_map_to_their_documented_codes() {
        assert_eq!(Exit::from(&ClientError::Unreachable).code(), 3);
        assert_eq!(Exit::from(&ClientError::Unauthorized(403)).code(), 5);
        assert_eq!(Exit::from(&ClientError::NotFound("x".into())).code(), 4);
        assert_eq!(Exit::from(&ClientError::Conflict("x".into())).code(), 1);
        let rejected = ClientError::Rejected {
            status: 503,
            message: "x".into(),
        };
        assert_eq!(Exit::from(&rejected).code(), 1);
    }
}
