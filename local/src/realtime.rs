//! The local stand-in for AWS AppSync Events: `zhibo serve` speaks the same client protocol, so
//! the demo page and the mini-program run unchanged against a laptop and against the deployment.
//!
//! - [`protocol`]: the WebSocket protocol as a pure state machine (frames in, frames and
//!   subscription changes out), with the size and count limits applied before anything else.
//! - [`server`]: the shell: `GET /event/realtime` (WebSocket, subprotocols
//!   `aws-appsync-event-ws` and `header-{base64url(JSON authorization)}`), `POST /event` (HTTP
//!   publish) and the in-process [`server::Hub`] that fans events out to subscribers.
//!
//! Who may connect, subscribe and publish is decided by zhibo's own rule
//! ([`zhibo_core::audience::channel::authorize`]), the one the deployment's Lambda authorizer
//! applies; publishing is for zhibo's functions only (IAM on AWS, a local key here).

pub mod protocol;
pub mod server;
