//! One live room across many media workers (docs/api.md "Many workers, one room"),
//! pure: the rules every writer of a room's media follows,
//! with the I/O left to the callers (the worker's uploads, `zhibo_store::live_room`).
//!
//! - **The head.** The room's live playlist object carries, in its S3 user metadata, a
//!   [`LiveHead`]: the publish session that writes the room now, the replay it adds to, and
//!   whether that replay is open (`live`: a session is writing; `waiting`: the last session ended
//!   at `at_ms`, its reconnect window is running) or `closed`. Every write of the live playlist
//!   is conditional on the ETag its writer last wrote or read (`If-Match`, or `If-None-Match: *`
//!   for a room without one), so the head is a compare-and-swap register: a claim by a newer
//!   session makes every later write of a superseded writer fail, and that writer then stops
//!   for good ([`LiveHead::supersedes`]). The fence is the store's, not timing.
//! - **Claims.** A session granted by the `publish` hook reads the head and follows
//!   [`plan_claim`]: continue the open replay inside the window (on any worker), close a replay
//!   whose window passed and start a new one, or give up when a newer session already writes.
//! - **The journal.** Each segment object carries its playlist entry as metadata
//!   ([`SegmentEntry::metadata`]), and every [`JOURNAL_CHUNK`] segments a session writes the
//!   entries as one immutable chunk next to them ([`crate::object_keys::journal_chunk`]). A
//!   replay is rebuilt from what is in the bucket ([`assemble_replay`]): the sessions listed
//!   under the room, their chunks, and the metadata of the few segments after the last chunk,
//!   so a worker that dies loses no segment that reached the bucket.

use crate::object_keys;
use crate::replay::ReplaySummary;
use crate::room::{stream_name, RoomId};

/// S3 user metadata names of the head and of segments (`x-amz-meta-…`).
pub mod metadata {
    /// The session writing the room (head).
    pub const SESSION: &str = "zhibo-session";
    /// The replay the sessions add to (head).
    pub const REPLAY: &str = "zhibo-replay";
    /// `live`, `waiting` or `closed` (head).
    pub const STATE: &str = "zhibo-state";
    /// When the state was entered or last renewed, unix ms (head).
    pub const AT_MS: &str = "zhibo-at-ms";
    /// Segments in the replay so far (head).
    pub const SEGMENTS: &str = "zhibo-segments";
    /// A segment's duration in milliseconds.
    pub const DURATION_MS: &str = "zhibo-duration-ms";
    /// A segment's first sample, unix ms (program date-time).
    pub const PDT_MS: &str = "zhibo-pdt-ms";
    /// `1` when a timestamp jump inside the session precedes the segment.
    pub const DISCONTINUITY: &str = "zhibo-discontinuity";
}

/// How the head's comment line in the live playlist starts ([`LiveHead::stamp`]).
pub const HEAD_COMMENT: &str = "# zhibo-head ";

/// Segments per journal chunk: a crash leaves at most this many segments per session to be
/// read one by one (their metadata) instead of from a chunk.
pub const JOURNAL_CHUNK: usize = 32;

/// Whether the room's current replay is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadState {
    /// A session is writing (`at_ms`: its last write).
    Live,
    /// The last session ended at `at_ms`; a republish inside the window continues the replay.
    Waiting,
    /// The replay is closed (its playlist is written, or being written from the journal).
    Closed,
}

impl HeadState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            HeadState::Live => "live",
            HeadState::Waiting => "waiting",
            HeadState::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Option<HeadState> {
        match s {
            "live" => Some(HeadState::Live),
            "waiting" => Some(HeadState::Waiting),
            "closed" => Some(HeadState::Closed),
            _ => None,
        }
    }
}

/// What the live playlist object says about who writes the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveHead {
    /// The publish session that wrote it (time-ordered id; a newer one sorts after).
    pub session_id: String,
    /// The replay its sessions add to (the id of the replay's first session).
    pub replay_id: String,
    /// Open or closed.
    pub state: HeadState,
    /// See [`HeadState`].
    pub at_ms: i64,
    /// Segments in the replay so far.
    pub segments: u64,
}

impl LiveHead {
    /// The user metadata to store it as.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        vec![
            (metadata::SESSION, self.session_id.clone()),
            (metadata::REPLAY, self.replay_id.clone()),
            (metadata::STATE, self.state.as_str().to_string()),
            (metadata::AT_MS, self.at_ms.to_string()),
            (metadata::SEGMENTS, self.segments.to_string()),
        ]
    }

    /// Reads it back from user metadata (names compared without case, as S3 lowercases them);
    /// `None` when a field is missing or malformed (a playlist written by an older version).
    pub fn from_metadata<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let (mut session, mut replay, mut state, mut at, mut segments) =
            (None, None, None, None, None);
        for (k, v) in pairs {
            let k = k.to_ascii_lowercase();
            match k.as_str() {
                metadata::SESSION => session = Some(v),
                metadata::REPLAY => replay = Some(v),
                metadata::STATE => state = HeadState::parse(v),
                metadata::AT_MS => at = v.parse().ok(),
                metadata::SEGMENTS => segments = v.parse().ok(),
                _ => {}
            }
        }
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let (session, replay) = (session.filter(|s| valid(s))?, replay.filter(|s| valid(s))?);
        Some(LiveHead {
            session_id: session.to_string(),
            replay_id: replay.to_string(),
            state: state?,
            at_ms: at?,
            segments: segments?,
        })
    }

    /// `body` (a live playlist) with this head as a comment on its second line, replacing the
    /// one there: S3's ETag is the hash of the body, so a head written over the same segments
    /// must change the body too, or a stale writer's `If-Match` would still hold. Players
    /// ignore `#` lines that are not `#EXT` tags (RFC 8216 §4.1).
    pub fn stamp(&self, body: &[u8]) -> Vec<u8> {
        let comment = format!(
            "{HEAD_COMMENT}session={} replay={} state={} at={} segments={}\n",
            self.session_id,
            self.replay_id,
            self.state.as_str(),
            self.at_ms,
            self.segments
        );
        let (first, rest) = match body.iter().position(|&b| b == b'\n') {
            Some(i) => body.split_at(i + 1),
            None => (body, &[][..]),
        };
        let rest = if rest.starts_with(HEAD_COMMENT.as_bytes()) {
            rest.iter()
                .position(|&b| b == b'\n')
                .map_or(&[][..], |i| &rest[i + 1..])
        } else {
            rest
        };
        let mut out = Vec::with_capacity(body.len() + comment.len());
        out.extend_from_slice(first);
        if !first.ends_with(b"\n") && !first.is_empty() {
            out.push(b'\n');
        }
        out.extend_from_slice(comment.as_bytes());
        out.extend_from_slice(rest);
        out
    }

    /// Whether this head, written by `session_id`, shuts out `other` (an older session).
    pub fn supersedes(&self, other: &str) -> bool {
        self.session_id.as_str() > other
    }
}

/// What a newly granted session does with the room's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimPlan {
    /// No open replay: start a new one (named after this session); the live playlist, if any,
    /// goes on after a discontinuity.
    NewReplay,
    /// Continue the open replay `replay_id` (which has `segments` segments) after a
    /// discontinuity.
    Continue {
        /// The replay.
        replay_id: String,
        /// Its segments so far.
        segments: u64,
    },
    /// The open replay's window passed with no writer: close it (from the journal), then read
    /// the head again.
    CloseFirst,
    /// A newer session already writes the room: this one must not.
    Superseded {
        /// That session.
        by: String,
    },
}

/// The plan of session `session_id` claiming a room whose head is `head` (`None`: no live
/// playlist yet, or one without a head), at `now_ms`, with the reconnect window `window_ms`.
/// A `live` head whose writer wrote nothing for the window is as dead as a `waiting` one.
pub fn plan_claim(
    head: Option<&LiveHead>,
    session_id: &str,
    now_ms: i64,
    window_ms: i64,
) -> ClaimPlan {
    let Some(head) = head else {
        return ClaimPlan::NewReplay;
    };
    if head.supersedes(session_id) {
        return ClaimPlan::Superseded {
            by: head.session_id.clone(),
        };
    }
    match head.state {
        HeadState::Closed => ClaimPlan::NewReplay,
        HeadState::Live | HeadState::Waiting if now_ms.saturating_sub(head.at_ms) > window_ms => {
            ClaimPlan::CloseFirst
        }
        HeadState::Live | HeadState::Waiting => ClaimPlan::Continue {
            replay_id: head.replay_id.clone(),
            segments: head.segments,
        },
    }
}

/// One segment as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentEntry {
    /// Its number in the session (`{n}.ts`).
    pub n: u64,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// First sample, unix ms.
    pub pdt_ms: i64,
    /// A timestamp jump inside the session precedes it.
    #[serde(default)]
    pub discontinuity: bool,
}

impl SegmentEntry {
    /// The user metadata on the segment object.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        vec![
            (metadata::DURATION_MS, self.duration_ms.to_string()),
            (metadata::PDT_MS, self.pdt_ms.to_string()),
            (
                metadata::DISCONTINUITY,
                u8::from(self.discontinuity).to_string(),
            ),
        ]
    }

    /// Segment `n` from its object's user metadata; `None` when a field is missing or bad.
    pub fn from_metadata<'a>(
        n: u64,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Self> {
        let (mut duration, mut pdt, mut disc) = (None, None, false);
        for (k, v) in pairs {
            match k.to_ascii_lowercase().as_str() {
                metadata::DURATION_MS => duration = v.parse().ok(),
                metadata::PDT_MS => pdt = v.parse().ok(),
                metadata::DISCONTINUITY => disc = v == "1",
                _ => {}
            }
        }
        Some(SegmentEntry {
            n,
            duration_ms: duration?,
            pdt_ms: pdt?,
            discontinuity: disc,
        })
    }
}

/// One journal chunk: up to [`JOURNAL_CHUNK`] consecutive entries of one session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JournalChunk {
    /// The session.
    pub session_id: String,
    /// Its entries, by `n`.
    pub entries: Vec<SegmentEntry>,
}

/// What the bucket holds of one session of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMedia {
    /// The session.
    pub session_id: String,
    /// Its segments with their entries, by `n`; `bytes` from the listing.
    pub segments: Vec<(SegmentEntry, u64)>,
}

/// One line group of a replay playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayEntry {
    /// URI relative to the replay playlist.
    pub uri: String,
    /// Seconds.
    pub duration: f64,
    /// Preceded by `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// Program date-time, unix ms.
    pub pdt_ms: i64,
}

/// Builds a replay from its sessions (any order; sorted here by session id, segments by `n`):
/// the playlist entries, with a discontinuity before every session after the first and wherever
/// a segment says so, and the summary. `end_ms` is when the last session ended (the head's
/// `at_ms`). `None` when no session has a segment (no replay is written).
pub fn assemble_replay(
    app_id: &str,
    room_id: RoomId,
    replay_id: &str,
    mut sessions: Vec<SessionMedia>,
    end_ms: i64,
) -> Option<(Vec<ReplayEntry>, ReplaySummary)> {
    sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let mut entries = Vec::new();
    let (mut bytes, mut discontinuities) = (0u64, 0u64);
    let mut used_sessions = Vec::new();
    for session in &mut sessions {
        session.segments.sort_by_key(|(e, _)| e.n);
        session.segments.dedup_by_key(|(e, _)| e.n);
        let mut first = true;
        for (entry, size) in &session.segments {
            let discontinuity = !entries.is_empty() && (first || entry.discontinuity);
            discontinuities += u64::from(discontinuity);
            entries.push(ReplayEntry {
                uri: object_keys::replay_segment_uri(app_id, room_id, &session.session_id, entry.n),
                duration: entry.duration_ms as f64 / 1000.0,
                discontinuity,
                pdt_ms: entry.pdt_ms,
            });
            bytes = bytes.saturating_add(*size);
            first = false;
        }
        if !first {
            used_sessions.push(session.session_id.clone());
        }
    }
    let start_ms = entries.first()?.pdt_ms;
    let last = entries.last()?;
    let last_end = last
        .pdt_ms
        .saturating_add((last.duration * 1000.0).round() as i64);
    let summary = ReplaySummary {
        replay_id: replay_id.to_string(),
        app_id: app_id.to_string(),
        room_id,
        stream_name: stream_name(app_id, room_id),
        start_ms,
        end_ms: end_ms.max(last_end),
        duration_s: entries.iter().map(|e| e.duration).sum(),
        segments: entries.len() as u64,
        size_bytes: bytes,
        sessions: used_sessions,
        discontinuities,
    };
    Some((entries, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(session: &str, state: HeadState, at_ms: i64) -> LiveHead {
        LiveHead {
            session_id: session.into(),
            replay_id: "r0".into(),
            state,
            at_ms,
            segments: 9,
        }
    }

    #[test]
    fn heads_round_trip_through_metadata_and_refuse_garbage() {
        let h = head("0001-s2", HeadState::Waiting, 1_234);
        let meta = h.metadata();
        let back = LiveHead::from_metadata(meta.iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(back, Some(h.clone()));
        // S3 may hand names back in another case.
        let upper: Vec<(String, String)> = meta
            .iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
            .collect();
        assert_eq!(
            LiveHead::from_metadata(upper.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            Some(h)
        );
        for broken in [
            vec![("zhibo-session", "s")],
            vec![
                ("zhibo-session", "../x"),
                ("zhibo-replay", "r"),
                ("zhibo-state", "live"),
                ("zhibo-at-ms", "1"),
                ("zhibo-segments", "0"),
            ],
            vec![
                ("zhibo-session", "s"),
                ("zhibo-replay", "r"),
                ("zhibo-state", "open"),
                ("zhibo-at-ms", "1"),
                ("zhibo-segments", "0"),
            ],
            vec![
                ("zhibo-session", "s"),
                ("zhibo-replay", "r"),
                ("zhibo-state", "live"),
                ("zhibo-at-ms", "x"),
                ("zhibo-segments", "0"),
            ],
        ] {
            assert_eq!(LiveHead::from_metadata(broken.clone()), None, "{broken:?}");
        }
    }

    #[test]
    fn a_stamp_changes_the_body_with_the_head_and_replaces_the_old_one() {
        let body = b"#EXTM3U\n#EXT-X-VERSION:3\n";
        let a = head("s1", HeadState::Live, 1).stamp(body);
        let b = head("s2", HeadState::Live, 1).stamp(&a);
        assert_ne!(a, b);
        let text = String::from_utf8(b.clone()).unwrap();
        assert_eq!(text.matches(HEAD_COMMENT).count(), 1, "{text}");
        assert!(
            text.starts_with("#EXTM3U\n# zhibo-head session=s2 "),
            "{text}"
        );
        assert!(text.ends_with("#EXT-X-VERSION:3\n"), "{text}");
        // Stamping the same head twice gives the same bytes.
        assert_eq!(head("s2", HeadState::Live, 1).stamp(&b), b);
    }

    #[test]
    fn claims_continue_inside_the_window_on_any_worker_and_start_anew_after_it() {
        let w = 900_000;
        assert_eq!(plan_claim(None, "s2", 0, w), ClaimPlan::NewReplay);
        let waiting = head("s1", HeadState::Waiting, 1_000_000);
        let cont = ClaimPlan::Continue {
            replay_id: "r0".into(),
            segments: 9,
        };
        assert_eq!(plan_claim(Some(&waiting), "s2", 1_000_000 + w, w), cont);
        assert_eq!(
            plan_claim(Some(&waiting), "s2", 1_000_000 + w + 1, w),
            ClaimPlan::CloseFirst
        );
        // A live head (a takeover while the old worker still holds the socket) continues too.
        let live = head("s1", HeadState::Live, 1_000_000);
        assert_eq!(plan_claim(Some(&live), "s2", 1_000_500, w), cont);
        // ... unless its writer went silent for the window (a crashed worker).
        assert_eq!(
            plan_claim(Some(&live), "s2", 1_000_000 + w + 1, w),
            ClaimPlan::CloseFirst
        );
        let closed = head("s1", HeadState::Closed, 0);
        assert_eq!(plan_claim(Some(&closed), "s2", 5, w), ClaimPlan::NewReplay);
        // The same session again (its own retried claim) is not superseded.
        assert_eq!(plan_claim(Some(&live), "s1", 1_000_500, w), cont);
        let newer = head("s3", HeadState::Live, 0);
        assert_eq!(
            plan_claim(Some(&newer), "s2", 5, w),
            ClaimPlan::Superseded { by: "s3".into() }
        );
    }

    fn entry(n: u64, pdt_ms: i64, discontinuity: bool) -> (SegmentEntry, u64) {
        (
            SegmentEntry {
                n,
                duration_ms: 2_000,
                pdt_ms,
                discontinuity,
            },
            100,
        )
    }

    #[test]
    fn a_replay_is_assembled_in_session_order_with_discontinuities() {
        let sessions = vec![
            SessionMedia {
                session_id: "s2".into(),
                segments: vec![entry(1, 12_000, false), entry(0, 10_000, false)],
            },
            SessionMedia {
                session_id: "s1".into(),
                segments: vec![
                    entry(0, 0, false),
                    entry(1, 2_000, true),
                    entry(1, 2_000, true),
                ],
            },
            SessionMedia {
                session_id: "s0-empty".into(),
                segments: vec![],
            },
        ];
        let (entries, summary) = assemble_replay("demo", 7, "s1", sessions, 13_000).unwrap();
        let uris: Vec<_> = entries.iter().map(|e| e.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "../../../live/demo/7/s1/0.ts",
                "../../../live/demo/7/s1/1.ts",
                "../../../live/demo/7/s2/0.ts",
                "../../../live/demo/7/s2/1.ts"
            ]
        );
        let disc: Vec<_> = entries.iter().map(|e| e.discontinuity).collect();
        assert_eq!(disc, [false, true, true, false]);
        assert_eq!(summary.segments, 4);
        assert_eq!(summary.size_bytes, 400);
        assert_eq!(summary.discontinuities, 2);
        assert_eq!(summary.sessions, ["s1", "s2"]);
        assert_eq!(summary.start_ms, 0);
        assert_eq!(
            summary.end_ms, 14_000,
            "at least the end of the last segment"
        );
        assert!((summary.duration_s - 8.0).abs() < 1e-9);
        assert_eq!(assemble_replay("demo", 7, "r", vec![], 0), None);
    }

    #[test]
    fn segment_entries_round_trip_through_metadata() {
        let (e, _) = entry(5, 77, true);
        let meta = e.metadata();
        assert_eq!(
            SegmentEntry::from_metadata(5, meta.iter().map(|(k, v)| (*k, v.as_str()))),
            Some(e)
        );
        assert_eq!(
            SegmentEntry::from_metadata(5, [("zhibo-pdt-ms", "1")]),
            None
        );
    }
}
