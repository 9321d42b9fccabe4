//! Errors: [`ApiError`] is what a caller sees (HTTP status + `{"errcode","errmsg"}`), [`Error`]
//! is what went wrong inside (kept with its source, logged, never shown to callers).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

/// An internal failure: storage, configuration or an AWS SDK call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A DynamoDB call failed.
    #[error("dynamodb {op}: {source}")]
    Dynamo {
        /// Which operation.
        op: &'static str,
        /// The SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored item does not have the shape this code expects.
    #[error("corrupt item {key}: {what}")]
    CorruptItem {
        /// The item's key.
        key: String,
        /// What was wrong.
        what: String,
    },
    /// Configuration is missing or invalid (every problem, one per line).
    #[error("invalid configuration:\n{0}")]
    Config(String),
    /// A media bucket or CDN call failed (takedown).
    #[error("media {0}")]
    Media(String),
}

/// Crate-wide result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an SDK error from DynamoDB operation `op`.
    pub fn dynamo(op: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Dynamo {
            op,
            source: Box::new(e),
        }
    }
}

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

/// Error codes of the management API (`/v1`), one per HTTP status family.
pub mod codes {
    /// A field is missing, malformed or out of range.
    pub const BAD_FIELD: i64 = 40000;
    /// The request's JSON could not be parsed.
    pub const BAD_JSON: i64 = 40001;
    /// Missing, malformed, expired or wrong signature.
    pub const UNAUTHORIZED: i64 = 40100;
    /// The nonce was already used.
    pub const REPLAYED: i64 = 40101;
    /// Not allowed.
    pub const FORBIDDEN: i64 = 40300;
    /// No such room or route.
    pub const NOT_FOUND: i64 = 40400;
    /// The HTTP method is not served on this path.
    pub const METHOD_NOT_ALLOWED: i64 = 40500;
    /// The resource is in the wrong state for this request.
    pub const CONFLICT: i64 = 40900;
    /// The body is over 64 KiB.
    pub const TOO_LARGE: i64 = 41300;
    /// A quota is exhausted.
    pub const QUOTA: i64 = 42900;
    /// Something failed inside zhibo.
    pub const INTERNAL: i64 = 50000;
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
            StatusCode::BAD_REQUEST,
            codes::BAD_FIELD,
            format!("{field}: {what}"),
        )
    }
    /// 400 with a free-form message.
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_FIELD, msg)
    }
    /// 401: authentication failed.
    pub fn unauthorized(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, msg)
    }
    /// 404.
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, msg)
    }
    /// 409: wrong state.
    pub fn conflict(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, msg)
    }
    /// 413: body over the limit.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_LARGE,
            format!("request body is over {limit} bytes; send a smaller body"),
        )
    }
    /// 429: a quota is exhausted.
    pub fn quota(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, codes::QUOTA, msg)
    }
    /// 500: logs `err` with a fresh request id and answers only that id.
    pub fn internal(err: &dyn std::fmt::Display) -> ApiError {
        let id = crate::ids::random_hex(8);
        tracing::error!(request_id = %id, error = %err, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
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

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        use crate::store::StoreError as S;
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
