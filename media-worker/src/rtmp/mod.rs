//! RTMP ingest: the sans-IO protocol session, publish authorization, and the per-connection
//! I/O shell.

pub mod chunk_guard;
pub mod connection;
pub mod publish_auth;
pub mod session;
