//! The HLS state of one room while this worker's publish session writes it (sans-IO): the live
//! playlist (continued from the room's head when the session claimed it, on whichever worker
//! wrote it before), the replay it adds to, the segment journal, and the objects to upload for
//! each finished segment. Closing the replay is `zhibo_store::live_room::close_replay`'s, from
//! what the bucket holds.
//!
//! A replay holds at most [`MAX_REPLAY_SEGMENTS`] segments and its playlist at most
//! [`MAX_PLAYLIST_BYTES`]: a segment beyond either is refused ([`ReplayFull`]) and the caller
//! ends the stream.

use std::sync::Arc;

use bytes::Bytes;
use zhibo_core::live_room::{HeadState, JournalChunk, LiveHead, SegmentEntry, JOURNAL_CHUNK};
use zhibo_core::object_keys;
use zhibo_core::replay::MAX_PLAYLIST_BYTES;
use zhibo_core::room::RoomId;
use zhibo_media::hls::{LivePlaylist, LivePlaylistConfig, PlaylistSegment, Segment};
use zhibo_store::live_room::{Claimed, Fence};

use crate::sink::{ObjectPut, PutCondition};

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

/// What to upload, in this order: `objects` as they are, then `playlist` through the session's
/// write fence.
#[derive(Debug, Default)]
pub struct RoomWrites {
    /// Segments and journal chunks.
    pub objects: Vec<ObjectPut>,
    /// The live playlist with the room's head.
    pub playlist: Option<ObjectPut>,
}

/// Per-room HLS state of the session writing it.
#[derive(Debug)]
pub struct RoomHls {
    app_id: String,
    room_id: RoomId,
    live: LivePlaylist,
    replay_id: String,
    /// Segments in the replay, earlier sessions' included.
    replay_segments: u64,
    /// Upper bound of the rendered replay playlist's size.
    replay_playlist_bytes: usize,
    session_id: String,
    started_ms: i64,
    first_segment_pending: bool,
    /// Entries not yet in a journal chunk, from segment `journal_first` on.
    journal: Vec<SegmentEntry>,
    journal_first: u64,
    fence: Arc<Fence>,
    continued: bool,
    ended: bool,
}

impl RoomHls {
    /// The live playlist a room without one starts from (written by the first claim).
    pub fn empty_playlist(live: LivePlaylistConfig) -> Bytes {
        Bytes::from(LivePlaylist::new(live).render())
    }

    /// The state of session `session_id`, started at `now_ms`, which claimed the room.
    pub fn from_claim(
        app_id: &str,
        room_id: RoomId,
        live: LivePlaylistConfig,
        session_id: &str,
        now_ms: i64,
        claimed: Claimed,
    ) -> RoomHls {
        let playlist = match claimed.playlist {
            Some(parsed) => LivePlaylist::resume(live, parsed),
            None => LivePlaylist::new(live),
        };
        let uri = object_keys::replay_segment_uri(app_id, room_id, session_id, 0);
        let prior = usize::try_from(claimed.segments).unwrap_or(usize::MAX);
        RoomHls {
            app_id: app_id.to_string(),
            room_id,
            live: playlist,
            replay_id: claimed.replay_id,
            replay_segments: claimed.segments,
            replay_playlist_bytes: PLAYLIST_OVERHEAD
                .saturating_add(prior.saturating_mul(uri.len() + 8 + ENTRY_OVERHEAD)),
            session_id: session_id.to_string(),
            started_ms: now_ms,
            first_segment_pending: true,
            journal: Vec::new(),
            journal_first: 0,
            fence: Arc::new(claimed.fence),
            continued: claimed.continued,
            ended: false,
        }
    }

    /// The room's app.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The room.
    pub fn room_id(&self) -> RoomId {
        self.room_id
    }

    /// The replay this room's sessions are adding to.
    pub fn replay_id(&self) -> &str {
        &self.replay_id
    }

    /// The session writing the room.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Whether the session continues a replay (a reconnect inside the window).
    pub fn continued(&self) -> bool {
        self.continued
    }

    /// The session's write fence over the live playlist.
    pub fn fence(&self) -> &Arc<Fence> {
        &self.fence
    }

    /// A segment of the session is finished at `now_ms`: returns the segment object (its
    /// journal entry as metadata), a journal chunk when one filled up, and the live playlist
    /// that names the segment (upload in this order). A segment the replay has no room for
    /// changes nothing and is refused.
    pub fn on_segment(&mut self, segment: &Segment, now_ms: i64) -> Result<RoomWrites, ReplayFull> {
        if self.ended {
            return Ok(RoomWrites::default());
        }
        let replay_uri = object_keys::replay_segment_uri(
            &self.app_id,
            self.room_id,
            &self.session_id,
            segment.sequence,
        );
        let playlist_bytes = self
            .replay_playlist_bytes
            .saturating_add(replay_uri.len() + ENTRY_OVERHEAD);
        if self.replay_segments >= MAX_REPLAY_SEGMENTS as u64
            || playlist_bytes as u64 > MAX_PLAYLIST_BYTES
        {
            return Err(ReplayFull {
                segments: usize::try_from(self.replay_segments).unwrap_or(usize::MAX),
                playlist_bytes: self.replay_playlist_bytes,
            });
        }
        self.replay_playlist_bytes = playlist_bytes;
        // The first segment of a session that continues a playlist follows a gap.
        let discontinuity =
            segment.discontinuity || (self.first_segment_pending && self.live.segments().len() > 0);
        self.first_segment_pending = false;
        let pdt = self.started_ms + (segment.start_offset * 1000.0).round() as i64;
        let entry = SegmentEntry {
            n: segment.sequence,
            duration_ms: (segment.duration * 1000.0).round().max(0.0) as u64,
            pdt_ms: pdt,
            discontinuity: segment.discontinuity,
        };
        self.live.push(PlaylistSegment {
            uri: object_keys::live_segment_uri(&self.session_id, segment.sequence),
            duration: segment.duration,
            discontinuity,
            program_date_time_ms: Some(pdt),
        });
        self.replay_segments += 1;
        let mut objects = vec![ObjectPut {
            key: object_keys::live_segment(
                &self.app_id,
                self.room_id,
                &self.session_id,
                segment.sequence,
            ),
            body: segment.data.clone(),
            content_type: object_keys::CONTENT_TYPE_SEGMENT,
            cache_control: object_keys::CACHE_SEGMENT,
            metadata: entry.metadata(),
            condition: PutCondition::None,
        }];
        if self.journal.is_empty() {
            self.journal_first = entry.n;
        }
        self.journal.push(entry);
        if self.journal.len() >= JOURNAL_CHUNK {
            objects.extend(self.journal_chunk());
        }
        Ok(RoomWrites {
            objects,
            playlist: Some(self.live_playlist(HeadState::Live, now_ms)),
        })
    }

    /// The session ended at `now_ms` (its reconnect window starts): the last journal chunk,
    /// and the live playlist with a `waiting` head. Nothing more is written after it.
    pub fn end_session(&mut self, now_ms: i64) -> RoomWrites {
        if self.ended {
            return RoomWrites::default();
        }
        self.ended = true;
        RoomWrites {
            objects: self.journal_chunk().into_iter().collect(),
            playlist: Some(self.live_playlist(HeadState::Waiting, now_ms)),
        }
    }

    /// The pending journal entries as one chunk, if any.
    fn journal_chunk(&mut self) -> Option<ObjectPut> {
        if self.journal.is_empty() {
            return None;
        }
        let chunk = JournalChunk {
            session_id: self.session_id.clone(),
            entries: std::mem::take(&mut self.journal),
        };
        let body = serde_json::to_vec(&chunk).unwrap_or_default();
        Some(ObjectPut {
            key: object_keys::journal_chunk(
                &self.app_id,
                self.room_id,
                &self.session_id,
                self.journal_first,
            ),
            body: Bytes::from(body),
            content_type: object_keys::CONTENT_TYPE_JSON,
            cache_control: object_keys::CACHE_SEGMENT,
            metadata: Vec::new(),
            condition: PutCondition::None,
        })
    }

    fn live_playlist(&self, state: HeadState, now_ms: i64) -> ObjectPut {
        let head = LiveHead {
            session_id: self.session_id.clone(),
            replay_id: self.replay_id.clone(),
            state,
            at_ms: now_ms,
            segments: self.replay_segments,
        };
        ObjectPut {
            key: object_keys::live_playlist(&self.app_id, self.room_id),
            body: Bytes::from(head.stamp(self.live.render().as_bytes())),
            content_type: object_keys::CONTENT_TYPE_PLAYLIST,
            cache_control: object_keys::CACHE_LIVE_PLAYLIST,
            metadata: head.metadata(),
            // The fence sets it.
            condition: PutCondition::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{FsSink, MediaObjects};
    use zhibo_media::hls::parse_media_playlist;
    use zhibo_store::live_room::{claim_room, close_replay, CloseRule, Closed};

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

    const WINDOW_MS: i64 = 60_000;

    async fn claim(objects: &FsSink, session: &str, now_ms: i64) -> RoomHls {
        let cfg = LivePlaylistConfig::default();
        let claimed = claim_room(
            objects,
            "demo",
            7,
            session,
            now_ms,
            WINDOW_MS,
            RoomHls::empty_playlist(cfg),
        )
        .await
        .unwrap();
        RoomHls::from_claim("demo", 7, cfg, session, now_ms, claimed)
    }

    /// Writes what the room asks, the playlist through its fence (as the upload queue does).
    async fn write(
        objects: &FsSink,
        room: &RoomHls,
        writes: RoomWrites,
    ) -> Result<(), crate::sink::ObjectError> {
        for o in &writes.objects {
            objects.put(o).await?;
        }
        if let Some(p) = &writes.playlist {
            room.fence().put(objects, p).await?;
        }
        Ok(())
    }

    async fn text(objects: &FsSink, key: &str) -> String {
        let o = objects.get(key).await.unwrap().expect(key);
        String::from_utf8(o.body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_reconnect_continues_the_playlist_and_the_replay_is_rebuilt_from_the_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let objects = FsSink::new(dir.path().to_path_buf());
        let mut room = claim(&objects, "s1", 1_000).await;
        assert!(!room.continued());
        let w = room.on_segment(&seg(0, 0.0, false), 3_000).unwrap();
        assert_eq!(w.objects[0].key, "live/demo/7/s1/0.ts");
        assert_eq!(w.objects[0].content_type, "video/mp2t");
        let playlist = w.playlist.as_ref().unwrap();
        assert_eq!(playlist.key, "live/demo/7/index.m3u8");
        assert_eq!(playlist.cache_control, "max-age=1");
        write(&objects, &room, w).await.unwrap();
        let w = room.on_segment(&seg(1, 2.0, false), 5_000).unwrap();
        write(&objects, &room, w).await.unwrap();
        let w = room.end_session(5_000);
        assert_eq!(w.objects[0].key, "live/demo/7/s1/journal-0000000000.json");
        write(&objects, &room, w).await.unwrap();

        // The reconnect may land on any worker: all it has is the bucket.
        let mut again = claim(&objects, "s2", 20_000).await;
        assert!(again.continued());
        assert_eq!(again.replay_id(), "s1");
        let w = again.on_segment(&seg(0, 0.0, false), 22_000).unwrap();
        write(&objects, &again, w).await.unwrap();
        let live = parse_media_playlist(&text(&objects, "live/demo/7/index.m3u8").await).unwrap();
        let uris: Vec<_> = live.segments.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["s1/0.ts", "s1/1.ts", "s2/0.ts"]);
        assert!(live.segments[2].discontinuity);
        assert!(!live.segments[1].discontinuity);
        assert!(!live.ended);
        // The first session's old fence is shut out now.
        let stale = room.live_playlist(HeadState::Waiting, 30_000);
        let refused = room.fence().put(&objects, &stale).await.unwrap_err();
        assert!(
            refused.precondition_failed && refused.message.contains("superseded by session s2"),
            "{refused}"
        );
        let w = again.end_session(30_000);
        write(&objects, &again, w).await.unwrap();

        // Only the waiting session itself may close before the window passes.
        let by_other = close_replay(
            &objects,
            "demo",
            7,
            31_000,
            CloseRule::Own {
                session_id: "s1".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(by_other, Closed::NotAllowed);
        let early = close_replay(
            &objects,
            "demo",
            7,
            31_000,
            CloseRule::WindowPassed {
                window_ms: WINDOW_MS,
            },
        )
        .await
        .unwrap();
        assert_eq!(early, Closed::NotAllowed);
        let Closed::Now(Some(summary)) = close_replay(
            &objects,
            "demo",
            7,
            90_000,
            CloseRule::Own {
                session_id: "s2".into(),
            },
        )
        .await
        .unwrap() else {
            panic!("the session's own close must write the replay");
        };
        assert!(
            parse_media_playlist(&text(&objects, "live/demo/7/index.m3u8").await)
                .unwrap()
                .ended
        );
        let replay = parse_media_playlist(&text(&objects, "replays/demo/7/s1.m3u8").await).unwrap();
        assert!(replay.ended);
        assert_eq!(replay.segments.len(), 3);
        assert_eq!(replay.segments[0].uri, "../../../live/demo/7/s1/0.ts");
        assert!(replay.segments[2].discontinuity);
        assert_eq!(summary.segments, 3);
        assert_eq!(summary.discontinuities, 1);
        assert_eq!(summary.sessions, ["s1", "s2"]);
        assert_eq!(summary.end_ms, 30_000);
        assert!((summary.duration_s - 6.0).abs() < 1e-9);
        let json: zhibo_core::replay::ReplaySummary =
            serde_json::from_str(&text(&objects, "replays/demo/7/s1.json").await).unwrap();
        assert_eq!(json, summary);
        // The indexer reads size and times from the playlist object's metadata.
        let head = objects
            .head("replays/demo/7/s1.m3u8")
            .await
            .unwrap()
            .unwrap();
        let meta: std::collections::HashMap<_, _> = head.metadata.into_iter().collect();
        assert_eq!(
            meta[zhibo_core::replay::metadata::SIZE_BYTES],
            summary.size_bytes.to_string()
        );
        assert_eq!(meta[zhibo_core::replay::metadata::END_MS], "30000");
        // Closing again changes nothing; a later claim starts a new replay.
        let twice = close_replay(&objects, "demo", 7, 91_000, CloseRule::Any)
            .await
            .unwrap();
        assert_eq!(twice, Closed::Already(None));
        let next = claim(&objects, "s3", 100_000).await;
        assert!(!next.continued());
        assert_eq!(next.replay_id(), "s3");
    }

    #[tokio::test]
    async fn a_replay_whose_journal_was_never_written_is_rebuilt_from_segment_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let objects = FsSink::new(dir.path().to_path_buf());
        let mut room = claim(&objects, "s1", 0).await;
        // JOURNAL_CHUNK + 3 segments: one chunk, three segments known only by their metadata
        // (the worker died before its session ended).
        for n in 0..(JOURNAL_CHUNK as u64 + 3) {
            let w = room
                .on_segment(&seg(n, n as f64 * 2.0, false), 1_000 + n as i64)
                .unwrap();
            write(&objects, &room, w).await.unwrap();
        }
        let listing = objects.list("live/demo/7/s1/", false).await.unwrap();
        let chunks = listing
            .objects
            .iter()
            .filter(|(k, _)| k.contains("journal-"))
            .count();
        assert_eq!(chunks, 1);
        // A claim after the window closes the dead session's replay first.
        let next = claim(&objects, "s2", 10_000_000).await;
        assert!(!next.continued());
        let replay = parse_media_playlist(&text(&objects, "replays/demo/7/s1.m3u8").await).unwrap();
        assert_eq!(replay.segments.len(), JOURNAL_CHUNK + 3);
        for (n, s) in replay.segments.iter().enumerate() {
            assert_eq!(s.uri, format!("../../../live/demo/7/s1/{n}.ts"));
        }
    }

    #[tokio::test]
    async fn a_full_replay_refuses_segments_and_stays_within_the_indexer_cap() {
        let dir = tempfile::tempdir().unwrap();
        let objects = FsSink::new(dir.path().to_path_buf());
        let mut room = claim(&objects, "s1", 0).await;
        let mut refused = None;
        for n in 0..=MAX_REPLAY_SEGMENTS as u64 {
            match room.on_segment(&seg(n, n as f64 * 0.001, n % 2 == 1), 0) {
                Ok(w) => assert!(w.playlist.is_some()),
                Err(e) => {
                    refused = Some((n, e));
                    break;
                }
            }
        }
        let (n, e) = refused.expect("the replay must refuse segments beyond its cap");
        assert_eq!(n, MAX_REPLAY_SEGMENTS as u64);
        assert!(e.to_string().contains("publish again"), "{e}");
        assert!(room.on_segment(&seg(n + 1, 0.0, false), 0).is_err());
        assert!(room.replay_playlist_bytes as u64 <= MAX_PLAYLIST_BYTES);
    }
}
