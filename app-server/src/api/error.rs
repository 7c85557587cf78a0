//! API errors and the extractors that turn malformed requests into them. Every error answers with
//! `{"error": {"code", "message"}}` (`../shared/API.md`, conventions).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::store::StoreError;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read (bad JSON, wrong types, unknown fields).
    #[error("{0}")]
    Malformed(String),
    /// 401: no token, or a token that is unknown, revoked or expired.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 403: an action the caller's role may never take.
    #[error("the {0} role may not do this")]
    Forbidden(&'static str),
    /// 404: no such object (or one outside the caller's scope).
    #[error("{0} not found")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413: the body is larger than the route takes.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// 409: the object exists already.
    #[error("{0}")]
    Conflict(String),
    /// 409: the object is still referenced by others and cannot be deleted.
    #[error("{0}")]
    InUse(String),
    /// 422: rows of an import that are invalid, each with its line; nothing was imported.
    #[error("{} of the rows are invalid; nothing was imported", .0.len())]
    InvalidRows(Vec<RowError>),
    /// 422: well-formed but invalid values.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    /// 500: the server failed at something that is not the request's fault.
    #[error("internal error")]
    Internal(String),
    /// 500: the store failed.
    #[error("internal error")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// A 422 naming the field and what is wrong with it.
    pub fn invalid(field: &'static str, reason: impl std::fmt::Display) -> Self {
        ApiError::Invalid {
            field,
            reason: reason.to_string(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "already_exists"),
            ApiError::InUse(_) => (StatusCode::CONFLICT, "still_referenced"),
            ApiError::InvalidRows(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_rows"),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),

            ApiError::Store(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            ApiError::Store(error) => tracing::error!(%error, "API request failed in the store"),
            ApiError::Internal(error) => tracing::error!(%error, "API request failed"),
            _ => {}
        }
        let mut body = json!({"error": {"code": code, "message": self.to_string()}});
        if let ApiError::InvalidRows(rows) = &self {
            body["error"]["rows"] = json!(rows);
        }
        (status, axum::Json(body)).into_response()
    }
}

/// A bad row of an import: its line in the file (the header is line 1) and what is wrong.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// A JSON body whose every reading failure is a 400 with the parser's message.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| ApiJson(value))
            .map_err(|rejection: JsonRejection| ApiError::Malformed(rejection.body_text()))
    }
}

/// Query parameters whose reading failures are a 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection: QueryRejection| ApiError::Malformed(rejection.body_text()))
    }
}
