//! Replays: the summary JSON the worker writes next to each replay playlist
//! (`replays/{app_id}/{room_id}/{replay_id}.json`, see [`crate::keys`]).

use serde::{Deserialize, Serialize};

use crate::room::RoomId;

/// What the worker knows about a finished replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    /// Time-ordered id, unique per room.
    pub replay_id: String,
    /// The room's app.
    pub app_id: String,
    /// The room.
    pub room_id: RoomId,
    /// `{app_id}_{room_id}`.
    pub stream_name: String,
    /// First publish of the replay, unix milliseconds.
    pub start_ms: i64,
    /// Last publish ended, unix milliseconds.
    pub end_ms: i64,
    /// Sum of the segment durations, seconds.
    pub duration_s: f64,
    /// Number of segments.
    pub segments: u64,
    /// Sum of the segment sizes.
    pub size_bytes: u64,
    /// The publish sessions it spans, in order (more than one after reconnects).
    pub sessions: Vec<String>,
    /// `EXT-X-DISCONTINUITY` tags in the playlist.
    pub discontinuities: u64,
}
