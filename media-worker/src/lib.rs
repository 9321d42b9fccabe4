//! # zhibo-media-worker
//!
//! RTMP in, HLS in S3 out. Anchors publish to `rtmp://{host}/live/{stream_name}?txSecret=..&txTime=..`;
//! viewers play `live/{app_id}/{room_id}/index.m3u8` from the bucket a segment later.
//!
//! Layers, from pure to I/O:
//!
//! - **Pure cores**: [`rtmp::session`] (handshake + `rml_rtmp` session: bytes in, events and
//!   bytes out; every byte first through [`rtmp::chunk_guard`], which bounds message sizes and
//!   AMF nesting before `rml_rtmp` parses them), [`admission`] (pre-publish and publishing
//!   connection budgets), [`rtmp::publish_auth`] (app, stream name, push signature), [`room_hls`] (a
//!   room's live playlist and replay across reconnects: segments in, objects to upload out), and
//!   the remuxer itself in the `zhibo-media` crate (FLV → MPEG-TS → HLS).
//! - **State**: [`registry`] (one publisher per stream name; rooms inside their reconnect
//!   window), [`metrics`], [`limits`] (what ends a misbehaving stream).
//! - **I/O shells**: [`rtmp::connection`] (socket ↔ session, admission, idle timeout,
//!   heartbeats), [`sink`] (the media bucket's `MediaObjects` port with S3 and filesystem adapters, and the
//!   ordered, bounded, spilling upload queue), [`hooks`] (signed calls to the functions),
//!   [`http`] (health, metrics and HTTP-FLV playback through [`flv`]), [`tcp_tuning`] (socket
//!   options), [`worker`] (accept loop and graceful shutdown).
#![warn(missing_docs)]

pub mod admission;
pub mod config;
pub mod ecs_metadata;
pub mod flv;
pub mod hooks;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod registry;
pub mod room_hls;
pub mod rtmp;
pub mod sink;
pub mod tcp_tuning;
pub mod worker;

pub use config::WorkerConfig;
pub use worker::Worker;
