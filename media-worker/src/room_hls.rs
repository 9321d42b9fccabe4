//! The HLS state of one room across publish sessions (sans-IO): the stable live playlist, the
//! replay being accumulated, and the objects to upload for each finished segment. Reconnects
//! inside the window continue both with a discontinuity; [`RoomHls::close`] ends them.
//!
//! A replay holds at most [`MAX_REPLAY_SEGMENTS`] segments and its playlist at most
//! [`MAX_PLAYLIST_BYTES`]: a segment beyond either is refused ([`ReplayFull`]) and the caller
//! ends the stream.

use bytes::Bytes;
use zhibo_core::object_keys;
use zhibo_core::replay::{ReplaySummary, MAX_PLAYLIST_BYTES};
use zhibo_core::room::{stream_name, RoomId};
use zhibo_media::hls::{
    render_vod_playlist, LivePlaylist, LivePlaylistConfig, PlaylistSegment, Segment,
};

use crate::sink::ObjectPut;

/// Most segments one replay holds (12 hours of 0.5-s segments is 86 400).
pub const MAX_REPLAY_SEGMENTS: usize = 100_000;
/// Most bytes one replay playlist entry takes besides its URI (discontinuity, date-time and
/// `EXTINF` lines).
const ENTRY_OVERHEAD: usize = 128;
/// Bytes of the replay playlist's header and end tag, at most.
const PLAYLIST_OVERHEAD: usize = 256;

/// A segment the room's replay cannot take: the stream must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the replay is full ({segments} segments, about {playlist_bytes} playlist bytes; at most \
     {MAX_REPLAY_SEGMENTS} segments and {MAX_PLAYLIST_BYTES} bytes): publish again to start a \
     new replay, with continuous timestamps"
)]
pub struct ReplayFull {
    /// Segments in the replay.
    pub segments: usize,
    /// Upper bound of the replay playlist's size.
    pub playlist_bytes: usize,
}

/// Per-room HLS state.
#[derive(Debug)]
pub struct RoomHls {
    app_id: String,
    room_id: RoomId,
    live: LivePlaylist,
    target_duration_secs: u64,
    replay_id: String,
    replay_segments: Vec<PlaylistSegment>,
    replay_start_ms: i64,
    replay_bytes: u64,
    /// Upper bound of the rendered replay playlist's size.
    replay_playlist_bytes: usize,
    sessions: Vec<String>,
    session: Option<ActiveSession>,
    ended_at_ms: Option<i64>,
}

#[derive(Debug)]
struct ActiveSession {
    id: String,
    started_ms: i64,
    first_segment_pending: bool,
}

impl RoomHls {
    /// A room's first session starts: a new live playlist and a new replay.
    pub fn new(app_id: &str, room_id: RoomId, live: LivePlaylistConfig, now_ms: i64) -> RoomHls {
        RoomHls {
            app_id: app_id.to_string(),
            room_id,
            live: LivePlaylist::new(live),
            target_duration_secs: live.target_duration_secs,
            replay_id: zhibo_core::ids::time_ordered_id(now_ms),
            replay_segments: Vec::new(),
            replay_start_ms: now_ms,
            replay_bytes: 0,
            replay_playlist_bytes: PLAYLIST_OVERHEAD,
            sessions: Vec::new(),
            session: None,
            ended_at_ms: None,
        }
    }

    /// The replay this room's sessions are adding to.
    pub fn replay_id(&self) -> &str {
        &self.replay_id
    }

    /// When the last session ended, if none is running.
    pub fn ended_at_ms(&self) -> Option<i64> {
        self.ended_at_ms
    }

    /// A publish session starts (the first, or a reconnect inside the window).
    pub fn begin_session(&mut self, session_id: &str, now_ms: i64) {
        self.sessions.push(session_id.to_string());
        self.session = Some(ActiveSession {
            id: session_id.to_string(),
            started_ms: now_ms,
            first_segment_pending: true,
        });
        self.ended_at_ms = None;
    }

    /// A segment of the running session is finished: returns the segment object, then the
    /// live playlist that names it (upload in this order). A segment the replay has no room
    /// for changes nothing and is refused.
    pub fn on_segment(&mut self, segment: &Segment) -> Result<Vec<ObjectPut>, ReplayFull> {
        let Some(session) = self.session.as_mut() else {
            return Ok(Vec::new());
        };
        let replay_uri = object_keys::replay_segment_uri(
            &self.app_id,
            self.room_id,
            &session.id,
            segment.sequence,
        );
        let playlist_bytes = self
            .replay_playlist_bytes
            .saturating_add(replay_uri.len() + ENTRY_OVERHEAD);
        if self.replay_segments.len() >= MAX_REPLAY_SEGMENTS
            || playlist_bytes as u64 > MAX_PLAYLIST_BYTES
        {
            return Err(ReplayFull {
                segments: self.replay_segments.len(),
                playlist_bytes: self.replay_playlist_bytes,
            });
        }
        self.replay_playlist_bytes = playlist_bytes;
        // The first segment of every session after the first follows a gap.
        let discontinuity = segment.discontinuity
            || (session.first_segment_pending && !self.replay_segments.is_empty());
        let pdt = session.started_ms + (segment.start_offset * 1000.0).round() as i64;
        session.first_segment_pending = false;
        let live_entry = PlaylistSegment {
            uri: object_keys::live_segment_uri(&session.id, segment.sequence),
            duration: segment.duration,
            discontinuity: discontinuity && self.live.segments().len() > 0,
            program_date_time_ms: Some(pdt),
        };
        let replay_entry = PlaylistSegment {
            uri: replay_uri,
            duration: segment.duration,
            discontinuity: discontinuity && !self.replay_segments.is_empty(),
            program_date_time_ms: Some(pdt),
        };
        let key =
            object_keys::live_segment(&self.app_id, self.room_id, &session.id, segment.sequence);
        self.live.push(live_entry);
        self.replay_segments.push(replay_entry);
        self.replay_bytes += segment.byte_size() as u64;
        Ok(vec![
            ObjectPut {
                key,
                body: segment.data.clone(),
                content_type: object_keys::CONTENT_TYPE_SEGMENT,
                cache_control: object_keys::CACHE_SEGMENT,
                metadata: Vec::new(),
            },
            self.live_playlist_object(),
        ])
    }

    /// The running session ended (the reconnect window starts).
    pub fn end_session(&mut self, now_ms: i64) {
        self.session = None;
        self.ended_at_ms = Some(now_ms);
    }

    /// The room's live is over (window closed, or shutdown): the live playlist gets
    /// `#EXT-X-ENDLIST`, and when any segment was written, the replay playlist and then its
    /// summary JSON follow. Upload in this order, after every segment.
    pub fn close(&mut self, now_ms: i64) -> (Vec<ObjectPut>, Option<ReplaySummary>) {
        self.session = None;
        if self.replay_segments.is_empty() {
            return (Vec::new(), None);
        }
        self.live.set_ended(true);
        let summary = ReplaySummary {
            replay_id: self.replay_id.clone(),
            app_id: self.app_id.clone(),
            room_id: self.room_id,
            stream_name: stream_name(&self.app_id, self.room_id),
            start_ms: self.replay_start_ms,
            end_ms: self.ended_at_ms.unwrap_or(now_ms),
            duration_s: self.replay_segments.iter().map(|s| s.duration).sum(),
            segments: self.replay_segments.len() as u64,
            size_bytes: self.replay_bytes,
            sessions: self.sessions.clone(),
            discontinuities: self
                .replay_segments
                .iter()
                .filter(|s| s.discontinuity)
                .count() as u64,
        };
        let playlist = render_vod_playlist(&self.replay_segments, self.target_duration_secs);
        let json = serde_json::to_vec(&summary).unwrap_or_default();
        let objects = vec![
            self.live_playlist_object(),
            ObjectPut {
                key: object_keys::replay_playlist(&self.app_id, self.room_id, &self.replay_id),
                body: Bytes::from(playlist),
                content_type: object_keys::CONTENT_TYPE_PLAYLIST,
                cache_control: object_keys::CACHE_REPLAY,
                metadata: summary.playlist_metadata(),
            },
            ObjectPut {
                key: object_keys::replay_summary(&self.app_id, self.room_id, &self.replay_id),
                body: Bytes::from(json),
                content_type: object_keys::CONTENT_TYPE_JSON,
                cache_control: object_keys::CACHE_REPLAY,
                metadata: Vec::new(),
            },
        ];
        (objects, Some(summary))
    }

    fn live_playlist_object(&self) -> ObjectPut {
        ObjectPut {
            key: object_keys::live_playlist(&self.app_id, self.room_id),
            body: Bytes::from(self.live.render()),
            content_type: object_keys::CONTENT_TYPE_PLAYLIST,
            cache_control: object_keys::CACHE_LIVE_PLAYLIST,
            metadata: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhibo_media::hls::parse_media_playlist;

    fn seg(sequence: u64, start: f64, discontinuity: bool) -> Segment {
        Segment {
            sequence,
            duration: 2.0,
            discontinuity,
            start_offset: start,
            start_dts_90k: 0,
            start_timestamp_ms: 0,
            starts_with_keyframe: true,
            has_video: true,
            has_audio: true,
            data: Bytes::from(vec![0x47; 188]),
        }
    }

    #[test]
    fn segment_before_playlist_and_reconnect_is_a_discontinuity() {
        let mut room = RoomHls::new("demo", 7, LivePlaylistConfig::default(), 1_000);
        room.begin_session("s1", 1_000);
        let objs = room.on_segment(&seg(0, 0.0, false)).unwrap();
        assert_eq!(objs[0].key, "live/demo/7/s1/0.ts");
        assert_eq!(objs[0].content_type, "video/mp2t");
        assert_eq!(objs[1].key, "live/demo/7/index.m3u8");
        assert_eq!(objs[1].cache_control, "max-age=1");
        room.on_segment(&seg(1, 2.0, false)).unwrap();
        room.end_session(5_000);
        assert_eq!(room.ended_at_ms(), Some(5_000));
        room.begin_session("s2", 20_000);
        let objs = room.on_segment(&seg(0, 0.0, false)).unwrap();
        let live = parse_media_playlist(std::str::from_utf8(&objs[1].body).unwrap()).unwrap();
        let uris: Vec<_> = live.segments.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["s1/0.ts", "s1/1.ts", "s2/0.ts"]);
        assert!(live.segments[2].discontinuity);
        assert!(!live.segments[1].discontinuity);
        assert!(!live.ended);

        room.end_session(30_000);
        let (objs, summary) = room.close(90_000);
        let keys: Vec<_> = objs.iter().map(|o| o.key.as_str()).collect();
        let rid = room.replay_id().to_string();
        assert_eq!(
            keys,
            [
                "live/demo/7/index.m3u8".to_string(),
                format!("replays/demo/7/{rid}.m3u8"),
                format!("replays/demo/7/{rid}.json")
            ]
        );
        assert!(
            parse_media_playlist(std::str::from_utf8(&objs[0].body).unwrap())
                .unwrap()
                .ended
        );
        let replay = parse_media_playlist(std::str::from_utf8(&objs[1].body).unwrap()).unwrap();
        assert!(replay.ended);
        assert_eq!(replay.segments.len(), 3);
        assert_eq!(replay.segments[0].uri, "../../../live/demo/7/s1/0.ts");
        assert!(replay.segments[2].discontinuity);
        let summary = summary.unwrap();
        assert_eq!(summary.segments, 3);
        assert_eq!(summary.discontinuities, 1);
        assert_eq!(summary.sessions, ["s1", "s2"]);
        assert_eq!(summary.end_ms, 30_000);
        assert!((summary.duration_s - 6.0).abs() < 1e-9);
        let json: ReplaySummary = serde_json::from_slice(&objs[2].body).unwrap();
        assert_eq!(json, summary);
        // The indexer reads size and times from the playlist object's metadata.
        let meta: std::collections::HashMap<_, _> = objs[1].metadata.iter().cloned().collect();
        assert_eq!(
            meta[zhibo_core::replay::metadata::SIZE_BYTES],
            summary.size_bytes.to_string()
        );
        assert_eq!(meta[zhibo_core::replay::metadata::END_MS], "30000");
        assert!(objs[0].metadata.is_empty() && objs[2].metadata.is_empty());
    }

    #[test]
    fn a_session_without_segments_leaves_no_replay() {
        let mut room = RoomHls::new("demo", 7, LivePlaylistConfig::default(), 0);
        room.begin_session("s1", 0);
        room.end_session(1);
        let (objs, summary) = room.close(2);
        assert!(objs.is_empty() && summary.is_none());
    }

    #[test]
    fn a_full_replay_refuses_segments_and_stays_within_the_indexer_cap() {
        let mut room = RoomHls::new("demo", 7, LivePlaylistConfig::default(), 0);
        room.begin_session("s1", 0);
        let mut refused = None;
        for n in 0..=MAX_REPLAY_SEGMENTS as u64 {
            match room.on_segment(&seg(n, n as f64 * 0.001, n % 2 == 1)) {
                Ok(objs) => assert_eq!(objs.len(), 2),
                Err(e) => {
                    refused = Some((n, e));
                    break;
                }
            }
        }
        let (n, e) = refused.expect("the replay must refuse segments beyond its cap");
        assert_eq!(n, MAX_REPLAY_SEGMENTS as u64);
        assert!(e.to_string().contains("publish again"), "{e}");
        // Refused again, nothing changed.
        assert!(room.on_segment(&seg(n + 1, 0.0, false)).is_err());
        room.end_session(1);
        let (objs, summary) = room.close(2);
        assert_eq!(summary.unwrap().segments, MAX_REPLAY_SEGMENTS as u64);
        let playlist = &objs[1].body;
        assert!(playlist.len() as u64 <= MAX_PLAYLIST_BYTES);
        assert!(
            playlist.len() <= room.replay_playlist_bytes,
            "the estimate is an upper bound"
        );
        assert_eq!(
            parse_media_playlist(std::str::from_utf8(playlist).unwrap())
                .unwrap()
                .segments
                .len(),
            MAX_REPLAY_SEGMENTS
        );
    }

    #[test]
    fn long_uris_hit_the_playlist_byte_cap_first() {
        let app = "a".repeat(60);
        let mut room = RoomHls::new(&app, 7, LivePlaylistConfig::default(), 0);
        let session = "s".repeat(2000);
        room.begin_session(&session, 0);
        let mut accepted = 0u64;
        while room.on_segment(&seg(accepted, 0.0, false)).is_ok() {
            accepted += 1;
            assert!(
                accepted < MAX_REPLAY_SEGMENTS as u64,
                "the byte cap must apply first"
            );
        }
        assert!(room.replay_playlist_bytes as u64 <= MAX_PLAYLIST_BYTES);
        room.end_session(1);
        let (objs, _) = room.close(2);
        assert!(objs[1].body.len() as u64 <= MAX_PLAYLIST_BYTES);
    }
}
