//! Exit codes and the one error type that reaches `main`.
//!
//! Modules keep their own typed errors; each converts into [`Failure`] with the exit
//! code it deserves and a message a user can act on.

use std::fmt;
use std::path::Path;

/// Documented exit codes (README, `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Success = 0,
    /// Credential-helper mode only: the protocol's failure status (the message, e.g.
    /// "credentials not found in native keychain", is on stdout).
    Protocol = 1,
    /// Bad usage or bad input (a flag, a variable, a file).
    Usage = 2,
    /// No credential found, or none can serve the intent.
    NoCredential = 3,
    /// The registry rejected the credential or granted less than asked.
    Rejected = 4,
    /// The registry or GitLab cannot be reached.
    Unreachable = 5,
    /// The engine is missing or its login failed.
    Engine = 6,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The worse of two outcomes, for one call that serves several registries.
    pub fn worst(self, other: Exit) -> Exit {
        self.max(other)
    }
}

/// A failure as the user sees it: what went wrong, and what to do about it.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Exit::Usage, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// A file-system operation that failed: the path, what was being done, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {action}: {source}")]
pub struct FsError {
    pub path: String,
    pub action: &'static str,
    pub source: std::io::Error,
}

/// A `map_err` adapter: `fs::read(p).map_err(fs_error(p, "cannot read"))?`.
pub fn fs_error<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> FsError + 'a {
    move |source| FsError {
        path: path.display().to_string(),
        action,
        source,
    }
}
