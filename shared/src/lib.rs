//! # zhibo-shared
//!
//! What every zhibo function and the media worker share, in three layers:
//!
//! - **Pure core** (no I/O, the caller passes `now`): [`live_status`] (WeChat codes 101–107),
//!   [`lifecycle`] (the status state machine: hooks, actions, timers → new state and events),
//!   [`webhook`] (customer events, their signature check, the retry schedule),
//!   [`room`] (rooms and their validation rules), [`app`] (tenants), [`signing`] (every
//!   signature: management API requests, push/play URLs, webhooks and hooks), [`schema`] (the
//!   single DynamoDB table and the only place that builds its keys), [`keys`] (the media bucket's
//!   object layout), [`hooks`] (the worker → functions hook contract), [`replay`] (replay summaries and records), [`playback`] (public or signed playback URLs), [`config`] (environment,
//!   every problem reported at once) and [`error`] (the JSON error body of the API).
//! - **Adapters**: [`store`] (DynamoDB), [`aws`] (SDK clients with local endpoint overrides),
//!   [`takedown`] (removing banned and `close_replay` media) and [`cdn`] (its CloudFront
//!   invalidations).
//! - **HTTP shell**: [`http`] (the state every router shares, the signed-request extractor,
//!   JSON parsing that names the bad field, the 64 KiB body limit).
#![warn(missing_docs)]

pub mod app;
pub mod aws;
pub mod cdn;
pub mod config;
pub mod error;
pub mod hooks;
pub mod http;
pub mod ids;
pub mod keys;
pub mod lifecycle;
pub mod live_status;
pub mod playback;
pub mod replay;
pub mod room;
pub mod schema;
pub mod signing;
pub mod store;
pub mod takedown;
pub mod webhook;

pub use config::Config;
pub use error::{ApiError, Error, Result};
pub use live_status::LiveStatus;
