//! The exit codes of the `tandem` command, documented here and in `docs/service.md`.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | an unexpected failure (I/O, an internal error) |
//! | 2 | the configuration (file, policy, secrets) or the command line is invalid |
//! | 3 | a connection failed (`check`: token, identity, policy or folder access) |
//! | 4 | a sync failed for at least one user (the others ran; see the output) |
//! | 5 | the state store failed |
//! | 6 | nothing matched (unknown user, held delete or quarantined item) |
//! | 7 | refused: a destructive command without `--yes` and no terminal to ask on |
//! | 8 | `sync`: a user was busy (its cycle was running in another worker) and none failed |
//! | 130 | interrupted (Ctrl-C) before the work finished |

use std::process::ExitCode;

/// Why the command ended, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: an unexpected failure.
    Failure = 1,
    /// 2: the configuration or the command line is invalid.
    Config = 2,
    /// 3: a connection failed.
    Connection = 3,
    /// 4: a sync failed for at least one user.
    SyncFailed = 4,
    /// 5: the state store failed.
    Store = 5,
    /// 6: nothing matched.
    NotFound = 6,
    /// 7: refused without `--yes`.
    Refused = 7,
    /// 8: a user was busy: its cycle was running elsewhere (another worker).
    Busy = 8,
    /// 130: interrupted.
    Interrupted = 130,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// A command's failure: the exit code and a message for standard error (never a secret).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A failure with `exit` and `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure { exit, message: message.into() }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Self {
        Failure::new(Exit::Config, e.to_string())
    }
}

impl From<tandem_store::StoreError> for Failure {
    fn from(e: tandem_store::StoreError) -> Self {
        Failure::new(Exit::Store, format!("state store: {e}"))
    }
}

impl From<tandem_engine::EngineError> for Failure {
    fn from(e: tandem_engine::EngineError) -> Self {
        use tandem_engine::EngineError;
        let exit = match &e {
            EngineError::Store(_) => Exit::Store,
            EngineError::Config(_) | EngineError::Policy { .. } => Exit::Config,
            EngineError::Connector { .. } => Exit::Connection,
            _ => Exit::Failure,
        };
        Failure::new(exit, e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::new(Exit::Failure, format!("I/O: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(Exit::Config.code(), 2);
        assert_eq!(Exit::Connection.code(), 3);
        assert_eq!(Exit::Interrupted.code(), 130);
        let doc = include_str!("../../../docs/service.md");
        for exit in [
            Exit::Ok,
            Exit::Failure,
            Exit::Config,
            Exit::Connection,
            Exit::SyncFailed,
            Exit::Store,
            Exit::NotFound,
            Exit::Refused,
            Exit::Interrupted,
        ] {
            assert!(doc.contains(&format!("| {} |", exit.code())), "docs/service.md lacks exit code {}", exit.code());
        }
    }
}
