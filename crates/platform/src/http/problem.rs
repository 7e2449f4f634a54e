//! RFC 9457 problem details: the wire form of every error the API answers.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, FieldError};

/// `application/problem+json` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:salesos:problem:<slug>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: each invalid field and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:salesos:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}

impl Error {
    /// The one mapping from error to HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Invalid(_) | Error::IdempotencyMismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document shown to the caller; internal causes stay in the log.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        match self {
            Error::BadRequest(detail) => Problem::new(status, "bad-request", "Bad request", detail),
            Error::Invalid(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                let mut p = Problem::new(
                    status,
                    "validation",
                    "Invalid input",
                    format!("invalid value for: {}", fields.join(", ")),
                );
                p.errors = errors.clone();
                p
            }
            Error::Unauthenticated(detail) => {
                Problem::new(status, "unauthenticated", "Authentication required", detail)
            }
            Error::Forbidden(detail) => Problem::new(status, "forbidden", "Forbidden", detail),
            Error::NotFound(what) => Problem::new(
                status,
                "not-found",
                "Not found",
                format!("{what} not found"),
            ),
            Error::Conflict { field, message } => {
                let mut p = Problem::new(status, "conflict", "Conflict", message.clone());
                p.errors = vec![FieldError::new(field.clone(), message.clone())];
                p
            }
            Error::IdempotencyMismatch(detail) => Problem::new(
                status,
                "idempotency-key-reused",
                "Idempotency key reused",
                detail,
            ),
            Error::UnsupportedMediaType(detail) => Problem::new(
                status,
                "unsupported-media-type",
                "Unsupported media type",
                detail,
            ),
            Error::PayloadTooLarge => Problem::new(
                status,
                "payload-too-large",
                "Payload too large",
                "the request body exceeds the size limit",
            ),
            Error::RateLimited { retry_after_secs } => Problem::new(
                status,
                "rate-limited",
                "Too many requests",
                format!("rate limit exceeded; retry after {retry_after_secs} s"),
            ),
            Error::Store(_) | Error::Internal(_) => Problem::new(
                status,
                "internal",
                "Internal server error",
                "an unexpected error occurred; it has been logged",
            ),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if matches!(self, Error::Store(_) | Error::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
        let retry = match &self {
            Error::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let mut res = self.problem().into_response();
        if let Some(secs) = retry {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire format is a contract with API clients: pin it.
    #[test]
    fn validation_problem_wire_format() {
        let err = Error::Invalid(vec![FieldError::new("email", "not an email address")]);
        let body = serde_json::to_value(err.problem()).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:salesos:problem:validation",
                "title": "Invalid input",
                "status": 422,
                "detail": "invalid value for: email",
                "errors": [{"field": "email", "message": "not an email address"}]
            })
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = Error::Internal(anyhow::anyhow!("password=hunter2 leaked"));
        let body = serde_json::to_string(&err.problem()).expect("json");
        assert!(!body.contains("hunter2"));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
