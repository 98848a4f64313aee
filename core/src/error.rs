//! The one error type every public function of sociallens returns.

use std::fmt;

/// Result alias used throughout sociallens.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, as a closed set of kinds callers can match on.
///
/// Bindings map each kind to an idiomatic error of their language (Python exception
/// classes, a stable `code` on Node errors); [`Error::code`] is that stable name.
///
/// ```
/// use sociallens::{Error, UserId};
///
/// let err = UserId::new("").unwrap_err();
/// assert!(matches!(err, Error::InvalidInput(_)));
/// assert_eq!(err.code(), "INVALID_INPUT");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller passed something unusable (an empty id, a malformed URL, a bad weight).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The request is well formed but contradicts what is stored
    /// (an event id reused for a different event).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Something that was asked for does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// What kind of thing was looked up ("post", "event").
        what: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// The engine or a component is not configured for the request
    /// (for example a post without interests and no extractor).
    #[error("configuration: {0}")]
    Config(String),
    /// The storage backend failed; nothing was written by the failed operation.
    #[error("storage: {message}")]
    Storage {
        /// What was being done.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The storage service could not be reached or kept refusing (throttling, timeouts, lost
    /// connections) until the retry deadline passed; nothing was written by the failed
    /// operation, and trying again later may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A model (captioner, extractor, embedder) failed.
    #[error("model: {0}")]
    Model(String),
    /// A remote service (an LLM API) said to slow down, and retrying within the deadline did
    /// not get through.
    #[error("rate limited: {message}")]
    RateLimited {
        /// What the service said.
        message: String,
        /// How long the service asked to wait, when it said.
        retry_after: Option<std::time::Duration>,
    },
    /// A remote service answered with an error status.
    #[error("HTTP {status}: {message}")]
    Http {
        /// The HTTP status code (0 when no response arrived).
        status: u16,
        /// What went wrong (never contains credentials).
        message: String,
        /// The service's request id, when it sent one.
        request_id: Option<String>,
    },
    /// A request or the overall deadline ran out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Refused to protect users' privacy (an audience smaller than the configured minimum).
    #[error("privacy: {0}")]
    Privacy(String),
    /// The operation is not supported by this backend or build.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A bug in sociallens (for example a panic caught at a language boundary).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A stable, machine-readable name for the kind of error, identical in every language.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::Conflict(_) => "CONFLICT",
            Error::NotFound { .. } => "NOT_FOUND",
            Error::Config(_) => "CONFIG",
            Error::Storage { .. } => "STORAGE",
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::Model(_) => "MODEL",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::Http { .. } => "HTTP",
            Error::Timeout(_) => "TIMEOUT",
            Error::Privacy(_) => "PRIVACY",
            Error::Unsupported(_) => "UNSUPPORTED",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// The message with every cause in the chain appended (`a: b: c`).
    pub fn full_message(&self) -> String {
        let mut out = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(cause) = cur {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            cur = cause.source();
        }
        out
    }

    pub(crate) fn invalid(msg: impl fmt::Display) -> Self {
        Error::InvalidInput(msg.to_string())
    }

    pub(crate) fn storage(
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Storage {
            message: message.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// Turns a panic payload caught at a boundary into an [`Error::Internal`].
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".to_string());
        Error::Internal(format!("panic: {msg}"))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::storage("sqlite", e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::storage("corrupt record", e)
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        if e.is_panic() {
            Error::from_panic(&*e.into_panic())
        } else {
            Error::Internal(format!("background task cancelled: {e}"))
        }
    }
}
