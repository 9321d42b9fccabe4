//! Replays: the summary JSON the worker writes next to each replay playlist
//! (`replays/{app_id}/{room_id}/{replay_id}.json`, see [`crate::object_keys`]).

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

/// S3 user metadata on the replay playlist (`x-amz-meta-…`): what the indexer cannot read from
/// the playlist itself, so it needs no second object (the `.json` is written after the
/// playlist, and the S3 event fires on the playlist).
pub mod metadata {
    /// Sum of the segment sizes in bytes.
    pub const SIZE_BYTES: &str = "zhibo-size-bytes";
    /// First publish of the replay, unix milliseconds.
    pub const START_MS: &str = "zhibo-start-ms";
    /// End of the last publish, unix milliseconds.
    pub const END_MS: &str = "zhibo-end-ms";
}

impl ReplaySummary {
    /// The metadata the worker puts on the replay playlist object (see [`metadata`]).
    pub fn playlist_metadata(&self) -> Vec<(&'static str, String)> {
        vec![
            (metadata::SIZE_BYTES, self.size_bytes.to_string()),
            (metadata::START_MS, self.start_ms.to_string()),
            (metadata::END_MS, self.end_ms.to_string()),
        ]
    }
}

/// Largest replay playlist: the indexer reads no more, and the worker ends a stream whose
/// replay would grow beyond it (a 12-hour replay of 2-s segments is about 1.5 MB).
pub const MAX_PLAYLIST_BYTES: u64 = 32 * 1024 * 1024;

/// Longest replay id.
pub const MAX_REPLAY_ID_LEN: usize = 64;

/// Whether `id` can be a replay id: 1–64 of `[0-9A-Za-z_-]` (the worker writes
/// [`crate::ids::time_ordered_id`]s).
pub fn is_valid_replay_id(id: &str) -> bool {
    (1..=MAX_REPLAY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An indexed replay: what the replay indexer records and the replay APIs list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// The room's app.
    pub app_id: String,
    /// The room.
    pub room_id: RoomId,
    /// Time-ordered id, unique per room.
    pub replay_id: String,
    /// The playlist's key in the media bucket.
    pub playlist_key: String,
    /// When the replay's first segment was recorded, unix seconds.
    pub create_time: i64,
    /// When the recording ended, unix seconds.
    pub end_time: i64,
    /// When the replay is deleted (`create_time` + `REPLAY_TTL_DAYS`), unix seconds.
    pub expire_time: i64,
    /// Sum of the segment durations, seconds.
    pub duration_s: f64,
    /// Number of segments.
    pub segments: u64,
    /// Sum of the segment sizes.
    pub size_bytes: u64,
    /// `EXT-X-DISCONTINUITY` tags (reconnects inside the window).
    pub discontinuities: u64,
    /// When the indexer recorded it, unix milliseconds.
    pub indexed_at_ms: i64,
    /// The id of its `replay.ready` event.
    pub event_id: String,
}

impl Replay {
    /// The `data` of its `replay.ready` event (`media_url` only when playback is public: a
    /// signed URL would expire in the receiver's hands).
    pub fn ready_event_data(&self, media_url: Option<&str>) -> serde_json::Value {
        let mut data = serde_json::json!({
            "replay_id": self.replay_id,
            "create_time": self.create_time,
            "end_time": self.end_time,
            "expire_time": self.expire_time,
            "duration_s": self.duration_s,
            "segments": self.segments,
            "size_bytes": self.size_bytes,
            "discontinuities": self.discontinuities,
            "playlist_key": self.playlist_key,
        });
        if let (Some(url), Some(obj)) = (media_url, data.as_object_mut()) {
            obj.insert("media_url".into(), url.into());
        }
        data
    }
}
