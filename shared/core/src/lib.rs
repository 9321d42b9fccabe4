//! # zhibo-core
//!
//! The pure core every zhibo function and the media worker share: no I/O, no AWS SDK, no HTTP
//! framework; the caller passes `now`.
//!
//! - [`live_status`] (WeChat codes 101–107), [`lifecycle`] (the status state machine: hooks,
//!   actions, timers → new state and events), [`room`] (rooms and their validation rules),
//!   [`app`] (tenants).
//! - [`signing`] (every signature: management API requests, push/play URLs, webhooks and hooks),
//!   [`hooks`] (the worker → functions hook contract), [`webhook`] (customer events, their
//!   signature, the retry schedule, endpoints and delivery records).
//! - [`table`] (the single DynamoDB table and the only place that builds its keys),
//!   [`object_keys`] (the media bucket's object layout), [`replay`] (replay summaries and
//!   records), [`playback`] (public or signed playback URLs), [`takedown`] (what a ban or
//!   `close_replay` removes), [`live_room`] (one room's media across many workers: the fenced
//!   live-playlist head, claims, the segment journal and replays rebuilt from it).
//! - [`backoff`] (the one capped exponential retry schedule).
//! - [`config`] (environment, every problem reported at once, read with [`env`]), [`error`] (internal errors,
//!   refused requests, the `errcode`s), [`clock`] and [`ids`].
#![warn(missing_docs)]

pub mod app;
pub mod audience;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod env;
pub mod error;
pub mod hooks;
pub mod ids;
pub mod lifecycle;
pub mod live_room;
pub mod live_status;
pub mod object_keys;
pub mod playback;
pub mod replay;
pub mod room;
pub mod signing;
pub mod table;
pub mod takedown;
pub mod webhook;

pub use backoff::Backoff;
pub use config::Config;
pub use env::{EnvError, EnvReader};
pub use error::{Error, Invalid, Result};
pub use live_status::LiveStatus;
