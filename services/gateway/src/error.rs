//! The API's one error type: client mistakes become 4xx with a message that says what
//! to do, outages 503/504 with the reason, and anything else a 500 whose details go to
//! the log only. The body is always `{"error": "..."}`.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// What went wrong and what is allowed, in words for a person.
    pub error: String,
}

/// An API error.
#[derive(Debug)]
pub enum AppError {
    /// The request is invalid (400).
    BadRequest(String),
    /// Nothing has this name (404).
    NotFound(String),
    /// The request body is larger than allowed (413).
    TooLarge(String),
    /// The request body is not of the media type the route reads (415).
    UnsupportedMediaType(String),
    /// Busy: the request may be sent again after `retry_after` seconds (503 with
    /// `Retry-After`).
    Busy {
        /// What is at its limit.
        message: String,
        /// When to try again, seconds.
        retry_after: u32,
    },
    /// A service the request needs is down (503).
    Unavailable(String),
    /// A service did not answer in time (504).
    Timeout(String),
    /// A bug or an unexpected failure (500; logged, not shown).
    Internal(anyhow::Error),
}

impl AppError {
    /// What the response's body says.
    pub fn message(&self) -> String {
        match self {
            Self::BadRequest(m)
            | Self::NotFound(m)
            | Self::TooLarge(m)
            | Self::UnsupportedMediaType(m)
            | Self::Unavailable(m)
            | Self::Timeout(m) => m.clone(),
            Self::Busy { message, .. } => message.clone(),
            Self::Internal(_) => "internal error; see the gateway's log".to_owned(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Self::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            Self::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
            Self::Busy {
                message,
                retry_after,
            } => {
                let headers = [(header::RETRY_AFTER, retry_after.to_string())];
                let body = Json(ErrorBody { error: message });
                return (StatusCode::SERVICE_UNAVAILABLE, headers, body).into_response();
            }
            Self::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            Self::Timeout(m) => (StatusCode::GATEWAY_TIMEOUT, m),
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the gateway's log".to_owned(),
                )
            }
        };
        (status, Json(ErrorBody { error: message })).into_response()
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}
