//! Errors: [`Error`] is what went wrong inside (kept with its source, logged, never shown to
//! callers); [`Invalid`] is a request the domain rules refuse (the HTTP shell answers it with
//! 400 or 409 and the message); [`codes`] are the `errcode`s callers see.

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

/// A request the domain rules refuse; the message says what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A field is missing, malformed or out of range (400, [`codes::BAD_FIELD`]).
    #[error("{field}: {what}")]
    Field {
        /// The field's name as the caller sent it.
        field: String,
        /// What is wrong with it.
        what: String,
    },
    /// The resource is in the wrong state for this request (409, [`codes::CONFLICT`]).
    #[error("{0}")]
    Conflict(String),
}

impl Invalid {
    /// A bad field; the message names it.
    pub fn field(field: &str, what: impl std::fmt::Display) -> Invalid {
        Invalid::Field {
            field: field.to_string(),
            what: what.to_string(),
        }
    }
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
    /// Not available now: not configured, or at a capacity limit.
    pub const UNAVAILABLE: i64 = 50300;
}
