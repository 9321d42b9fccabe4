//! [`ApiError`]: what a caller sees, an HTTP status and `{"errcode","errmsg"}` (codes in
//! [`zhibo_core::error::codes`]); internal errors are logged with a request id, never shown.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use zhibo_core::error::{codes, Error, Invalid};

/// The body of every error response.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable numeric code (0 is success on the WeChat-compatible endpoints).
    pub errcode: i64,
    /// What was wrong and what to do.
    pub errmsg: String,
}

/// An error answered to a caller: an HTTP status with a JSON [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, errcode: i64, errmsg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                errcode,
                errmsg: errmsg.into(),
            },
        }
    }
    /// 400: a field is wrong; the message names it.
    pub fn bad_field(field: &str, what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            http::StatusCode::BAD_REQUEST,
            codes::BAD_FIELD,
            format!("{field}: {what}"),
        )
    }
    /// 400 with a free-form message.
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(http::StatusCode::BAD_REQUEST, codes::BAD_FIELD, msg)
    }
    /// 401: authentication failed.
    pub fn unauthorized(msg: impl Into<String>) -> ApiError {
        ApiError::new(http::StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, msg)
    }
    /// 404.
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(http::StatusCode::NOT_FOUND, codes::NOT_FOUND, msg)
    }
    /// 409: wrong state.
    pub fn conflict(msg: impl Into<String>) -> ApiError {
        ApiError::new(http::StatusCode::CONFLICT, codes::CONFLICT, msg)
    }
    /// 413: body over the limit.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_LARGE,
            format!("request body is over {limit} bytes; send a smaller body"),
        )
    }
    /// 429: a quota is exhausted.
    pub fn quota(msg: impl Into<String>) -> ApiError {
        ApiError::new(http::StatusCode::TOO_MANY_REQUESTS, codes::QUOTA, msg)
    }
    /// 500: logs `err` with a fresh request id and answers only that id.
    pub fn internal(err: &dyn std::fmt::Display) -> ApiError {
        let id = zhibo_core::ids::random_hex(8);
        tracing::error!(request_id = %id, error = %err, "internal error");
        ApiError::new(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            format!("internal error; retry later, and quote request id {id} if it persists"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::internal(&e)
    }
}

impl From<zhibo_store::StoreError> for ApiError {
    fn from(e: zhibo_store::StoreError) -> ApiError {
        use zhibo_store::StoreError as S;
        match e {
            S::Conflict => ApiError::conflict(
                "the room changed while this request ran; read it again and retry",
            ),
            S::NotFound => ApiError::not_found("no such room"),
            S::LivesPerDay { day, max } => ApiError::quota(format!(
                "quota: at most {max} lives may be scheduled on {day}; delete a room of that day or pick another day"
            )),
            S::ConcurrentLives { max } => ApiError::quota(format!(
                "quota: at most {max} rooms may be live at once; end a live first"
            )),
            S::IdempotencyMismatch => ApiError::conflict(
                "Idempotency-Key was already used with a different request body; use a new key for a new request",
            ),
            S::UnknownApp => ApiError::unauthorized("unknown app"),
            S::Internal(e) => ApiError::internal(&e),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.body.errcode,
            self.body.errmsg
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        match e {
            Invalid::Field { .. } => ApiError::new(
                http::StatusCode::BAD_REQUEST,
                codes::BAD_FIELD,
                e.to_string(),
            ),
            Invalid::Conflict(msg) => ApiError::conflict(msg),
        }
    }
}
