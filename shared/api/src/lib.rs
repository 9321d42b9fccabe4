//! # zhibo-api
//!
//! The HTTP shell every router shares: the [`SignedRequest`] extractor, [`ApiError`] answers,
//! parsing that names the bad field ([`parse_json`], [`query_pairs`], …) and the JSON 404/405
//! fallbacks ([`with_fallbacks`]). The same routers run in Lambda (lambda_http) and in the local
//! server; each router's state is [`zhibo_store::Deps`].
#![warn(missing_docs)]

mod error;
mod parse;
mod response;
mod signed_request;

pub use error::{ApiError, ErrorBody};
pub use parse::{parse_json, parse_room_id, query_number, query_pairs, read_body, MAX_BODY_BYTES};
pub use response::{
    json_response, method_not_allowed_fallback, not_found_fallback, with_fallbacks,
};
pub use signed_request::{repeated_query_key, SignedRequest, UNKNOWN_APP_OR_MISMATCH};
