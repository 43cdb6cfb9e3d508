//! The one error type every client returns and every host function raises.
//!
//! Scripts see it as a map `#{kind, system, message, hint, status}` in `catch (e)`, so
//! runbooks branch on `e.kind` instead of parsing messages.

use std::fmt;

/// What kind of failure this is: decides whether `retry` tries again and what the operator
/// should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Worth retrying: 5xx, 408, 429, connection resets, SSH exit 255.
    Transient,
    /// The thing asked for does not exist.
    NotFound,
    /// Missing or rejected credentials.
    Auth,
    /// The remote is busy or the request conflicts with its state (409).
    Conflict,
    /// The request itself is wrong: bad arguments, bad files, rejected by validation.
    Invalid,
    /// The remote system failed in a way retrying will not fix.
    Remote,
    /// The operator pressed Ctrl-C. Never catchable by scripts.
    Interrupted,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Auth => "auth",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Remote => "remote",
            ErrorKind::Interrupted => "interrupted",
        }
    }

    /// A kind a script may name. `interrupted` is not one: only Ctrl-C interrupts.
    pub fn parse(s: &str) -> Option<ErrorKind> {
        Some(match s {
            "transient" => ErrorKind::Transient,
            "not_found" => ErrorKind::NotFound,
            "auth" => ErrorKind::Auth,
            "conflict" => ErrorKind::Conflict,
            "invalid" => ErrorKind::Invalid,
            "remote" => ErrorKind::Remote,
            _ => return None,
        })
    }

    /// The kind an HTTP status code stands for.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            401 | 403 => ErrorKind::Auth,
            404 => ErrorKind::NotFound,
            408 | 429 | 500..=599 => ErrorKind::Transient,
            409 => ErrorKind::Conflict,
            400..=499 => ErrorKind::Invalid,
            _ => ErrorKind::Remote,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of one external system (or of the host itself), told so a human can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// Which system failed: `phala`, `mux`, `ssh`, `registry`, `host`, ...
    pub system: String,
    pub message: String,
    /// What this usually means or the next command to run.
    pub hint: Option<String>,
    /// The HTTP status or process exit code, when there was one.
    pub status: Option<i64>,
}

impl Error {
    pub fn new(kind: ErrorKind, system: impl Into<String>, message: impl Into<String>) -> Error {
        Error {
            kind,
            system: system.into(),
            message: message.into(),
            hint: None,
            status: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_status(mut self, status: i64) -> Error {
        self.status = Some(status);
        self
    }

    pub fn invalid(system: impl Into<String>, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid, system, message)
    }

    pub fn interrupted() -> Error {
        Error::new(ErrorKind::Interrupted, "host", "interrupted by Ctrl-C")
    }

    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error ({}): {}", self.system, self.kind, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
