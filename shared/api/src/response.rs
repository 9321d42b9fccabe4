//! JSON responses and the JSON 404/405 fallbacks every router ends with.

use crate::ApiError;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// A JSON response with a status.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Adds the JSON 404 and 405 answers to a complete router (a function's, or the local
/// server's merge of all of them: axum allows one fallback per merged router).
pub fn with_fallbacks(router: axum::Router) -> axum::Router {
    router
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
}

/// JSON 404 for unknown routes.
pub async fn not_found_fallback(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; see docs/api.md for the routes",
        req.method(),
        req.uri().path()
    ))
}

/// JSON 405 for a known path with another method.
pub async fn method_not_allowed_fallback(req: Request) -> ApiError {
    ApiError::new(
        http::StatusCode::METHOD_NOT_ALLOWED,
        zhibo_core::error::codes::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}
