//! The one error type of use cases and the HTTP edge. It says what went wrong in business
//! terms; `platform::http::problem` maps each case to one status and an RFC 9457 body.
//! Internal causes are kept for the log and never shown to the caller.

use serde::Serialize;
use utoipa::ToSchema;

/// One invalid input value: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be read at all (malformed JSON, bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// The request was read, but values in it break the rules.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The value of `field` collides with an existing record.
    #[error("conflict on {field}: {message}")]
    Conflict { field: String, message: String },
    /// The request repeats an idempotency key with a different body.
    #[error("{0}")]
    IdempotencyMismatch(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("storage error: {0}")]
    Store(#[from] sea_orm::DbErr),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
