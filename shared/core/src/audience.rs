//! Audience interaction (docs/api.md "Audience interaction"): the pure rules behind comments,
//! likes, gifts and viewer numbers. No I/O: the functions store and publish what these decide.
//!
//! - [`token`]: viewer tokens, issued by the customer's backend through the signed API, bound to
//!   one room and one user, verified without a database read.
//! - [`moderation`]: blocked words that survive case, full-width forms, spaces and punctuation.
//! - [`rate_limit`]: the token bucket behind per-user limits (429 with `Retry-After`).
//! - [`channel`]: the per-room realtime channel and who may subscribe to it.

pub mod channel;
pub mod moderation;
pub mod rate_limit;
pub mod token;
