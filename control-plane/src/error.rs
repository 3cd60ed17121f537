//! The one public error type and its single conversion into an HTTP response.
//!
//! An [`Error`] pairs a generic external message (a `&'static str`, so it can never carry provider
//! text, SQL or a token) with an internal context that only the server log sees. 500 means "a bug",
//! 503 means "a dependency is unavailable, retry". The conversion in [`IntoResponse`] is the only
//! place a status code and body are chosen; it stashes the internal context in a response extension
//! that the logging middleware (`api::logging`) writes inside the request span.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::status::FailureCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Unauthorized,
    NotFound,
    Conflict,
    PayloadTooLarge,
    MethodNotAllowed,
    Capacity,
    Internal,
    Unavailable,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Capacity => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Generic external messages. Every response body an error produces is one of these.
pub mod msg {
    pub const INVALID_REQUEST: &str = "Invalid request";
    pub const UNAUTHORIZED: &str = "Unauthorized";
    pub const NOT_FOUND: &str = "Not found";
    pub const NOT_ALLOWED: &str = "Machine is not in a state that allows this operation";
    pub const ALREADY_RECOVERING: &str = "Recovery already in progress";
    pub const NO_BACKUP: &str = "No backup snapshot available";
    pub const RETRY_EXHAUSTED: &str = "Provisioning retry limit reached";
    pub const HANDLE_TAKEN: &str = "Handle already in use for this runtime slot";
    pub const BUSY: &str = "Another operation is in progress for this machine";
    pub const TOO_LARGE: &str = "Request body too large";
    pub const METHOD_NOT_ALLOWED: &str = "Method not allowed";
    pub const CAPACITY: &str = "Provider capacity unavailable";
    pub const INTERNAL: &str = "Internal error";
    pub const UNAVAILABLE: &str = "Service unavailable";
    pub const NOT_CONFIGURED: &str = "Platform authentication is not configured";
}

#[derive(Debug, thiserror::Error)]
#[error("{public} ({context})")]
pub struct Error {
    pub kind: ErrorKind,
    /// What the client sees. Static, so it cannot accidentally interpolate a secret.
    pub public: &'static str,
    /// What the server log sees. Must itself be free of secrets (provider error *codes* are fine,
    /// tokens never are); provider clients already strip bodies down to codes.
    pub context: String,
    /// Set when the failure is also recorded on a machine row.
    pub failure_code: Option<FailureCode>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, public: &'static str, context: impl Into<String>) -> Self {
        Self {
            kind,
            public,
            context: context.into(),
            failure_code: None,
        }
    }
    pub fn invalid(context: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, msg::INVALID_REQUEST, context)
    }
    pub fn unauthorized(context: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, msg::UNAUTHORIZED, context)
    }
    pub fn not_found(context: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, msg::NOT_FOUND, context)
    }
    pub fn conflict(public: &'static str, context: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, public, context)
    }
    pub fn internal(context: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, msg::INTERNAL, context)
    }
    pub fn unavailable(context: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, msg::UNAVAILABLE, context)
    }
    pub fn with_code(mut self, code: FailureCode) -> Self {
        self.failure_code = Some(code);
        self
    }
    /// Whether the same request may succeed later without any change by the caller.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Capacity)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // A pool timeout or a dropped connection is the database being unavailable; anything else
        // (constraint the code did not expect, bad SQL) is a bug.
        let kind = match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Internal,
        };
        let public = if kind == ErrorKind::Unavailable {
            msg::UNAVAILABLE
        } else {
            msg::INTERNAL
        };
        Self::new(kind, public, format!("database: {e}"))
    }
}

/// The internal side of an error response, picked up by the logging middleware.
#[derive(Debug, Clone)]
pub struct ErrorContext {
    pub kind: ErrorKind,
    pub context: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut response = (
            self.kind.status(),
            Json(serde_json::json!({ "error": self.public })),
        )
            .into_response();
        response.extensions_mut().insert(ErrorContext {
            kind: self.kind,
            context: self.context,
        });
        response
    }
}
