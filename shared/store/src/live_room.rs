//! One room's media across many workers, the I/O half of [`zhibo_core::live_room`]: claiming
//! the room's head for a new publish session ([`claim_room`]), the write fence every later write
//! of the live playlist goes through ([`Fence`]), and closing a replay, on the worker or in the
//! sweeper, from what the bucket holds ([`close_replay`]).

use std::sync::Mutex;

use bytes::Bytes;
use zhibo_core::live_room::{
    assemble_replay, plan_claim, ClaimPlan, HeadState, JournalChunk, LiveHead, SegmentEntry,
    SessionMedia,
};
use zhibo_core::object_keys::{self, SessionObject};
use zhibo_core::replay::ReplaySummary;
use zhibo_core::room::RoomId;
use zhibo_media::hls::{parse_media_playlist, render_vod_playlist, MediaPlaylist, PlaylistSegment};

use crate::media_objects::{MediaObjects, ObjectError, ObjectPut, PutCondition};

/// Rounds of read-plan-write before a claim or close gives up (each lost round means another
/// writer moved the head in between).
const ROUNDS: usize = 8;

/// The write fence of one session over its room's live playlist: every write is conditional
/// on the ETag of the session's previous write. A failed condition whose head names a newer
/// session (or closes the replay) shuts the session out for good.
#[derive(Debug)]
pub struct Fence {
    session_id: String,
    key: String,
    state: Mutex<FenceState>,
}

#[derive(Debug)]
struct FenceState {
    expected: PutCondition,
    shut_out: Option<String>,
}

impl Fence {
    /// A fence for `session_id` writing `key`, whose next write expects `expected`.
    pub fn new(session_id: &str, key: &str, expected: PutCondition) -> Fence {
        Fence {
            session_id: session_id.to_string(),
            key: key.to_string(),
            state: Mutex::new(FenceState {
                expected,
                shut_out: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FenceState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session that writes through it.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Why the session may no longer write the room, once it may not.
    pub fn shut_out(&self) -> Option<String> {
        self.lock().shut_out.clone()
    }

    /// What the next write expects (the ETag of the last write).
    pub fn expected(&self) -> PutCondition {
        self.lock().expected.clone()
    }

    fn shut(&self, why: String) -> ObjectError {
        let mut state = self.lock();
        state.shut_out.get_or_insert(why.clone());
        ObjectError::precondition(&self.key, why)
    }

    /// Writes `object` (the live playlist) if this session still writes the room. A failed
    /// condition is looked into: the session's own earlier write whose answer was lost is
    /// adopted and the write tried again; anything else shuts the session out (a
    /// non-retryable error that says by whom).
    pub async fn put(
        &self,
        objects: &dyn MediaObjects,
        object: &ObjectPut,
    ) -> Result<(), ObjectError> {
        for _ in 0..ROUNDS {
            let expected = {
                let state = self.lock();
                if let Some(why) = &state.shut_out {
                    return Err(ObjectError::precondition(&self.key, why.clone()));
                }
                state.expected.clone()
            };
            let mut conditional = object.clone();
            conditional.condition = expected;
            match objects.put(&conditional).await {
                Ok(etag) => {
                    let etag = match etag {
                        Some(etag) => etag,
                        None => match objects.head(&self.key).await? {
                            Some(head) => head.etag,
                            None => {
                                return Err(
                                    self.shut("the live playlist was deleted (a takedown)".into())
                                )
                            }
                        },
                    };
                    self.lock().expected = PutCondition::Match(etag);
                    return Ok(());
                }
                Err(e) if e.precondition_failed => {
                    let Some(now) = objects.head(&self.key).await? else {
                        return Err(self.shut("the live playlist was deleted (a takedown)".into()));
                    };
                    match LiveHead::from_metadata(now.metadata_pairs()) {
                        Some(head)
                            if head.session_id == self.session_id
                                && head.state != HeadState::Closed =>
                        {
                            // Our own write, whose answer was lost: go on from it.
                            self.lock().expected = PutCondition::Match(now.etag);
                        }
                        Some(head) if head.session_id == self.session_id => {
                            return Err(self.shut(format!(
                                "replay {} of session {} was closed while it was writing",
                                head.replay_id, self.session_id
                            )))
                        }
                        Some(head) => {
                            return Err(self.shut(format!(
                            "session {} was superseded by session {}, which now writes the room",
                            self.session_id, head.session_id
                        )))
                        }
                        None => {
                            return Err(self.shut(
                                "the live playlist was replaced by one without a head".into(),
                            ))
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ObjectError::new(
            &self.key,
            "the live playlist kept changing under this session; its next write tries again",
            true,
        ))
    }
}

/// A room claimed by a session: where its live playlist goes on from.
#[derive(Debug)]
pub struct Claimed {
    /// The live playlist as it was (to continue its media sequence), if there was one.
    pub playlist: Option<MediaPlaylist>,
    /// The replay the session adds to.
    pub replay_id: String,
    /// Segments already in that replay.
    pub segments: u64,
    /// Whether the session continues an open replay (a reconnect inside the window).
    pub continued: bool,
    /// The session's write fence, holding its claim.
    pub fence: Fence,
}

/// Why a claim failed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// A newer session already writes the room.
    #[error(
        "a newer publish session ({by}) already writes this room; stop the other publisher first"
    )]
    Superseded {
        /// That session.
        by: String,
    },
    /// The head kept changing (another worker writing at the same time).
    #[error("the room's live playlist kept changing while this publish claimed it; publish again")]
    Busy,
    /// The bucket failed.
    #[error("the media bucket failed: {0}")]
    Objects(#[from] ObjectError),
}

/// Claims room `room_id` of `app_id` for `session_id` (granted by the `publish` hook) at
/// `now_ms`: reads the head, closes a replay whose window (`window_ms`) passed, and writes the
/// head naming this session (the live playlist's body unchanged, or `empty_playlist` for a room
/// without one), conditional on what it read. From then on a superseded writer's next write
/// fails.
pub async fn claim_room(
    objects: &dyn MediaObjects,
    app_id: &str,
    room_id: RoomId,
    session_id: &str,
    now_ms: i64,
    window_ms: i64,
    empty_playlist: Bytes,
) -> Result<Claimed, ClaimError> {
    let key = object_keys::live_playlist(app_id, room_id);
    for _ in 0..ROUNDS {
        let current = objects.get(&key).await?;
        let head = current
            .as_ref()
            .and_then(|o| LiveHead::from_metadata(o.head.metadata_pairs()));
        let (replay_id, segments, continued) =
            match plan_claim(head.as_ref(), session_id, now_ms, window_ms) {
                ClaimPlan::Superseded { by } => return Err(ClaimError::Superseded { by }),
                ClaimPlan::CloseFirst => {
                    close_replay(
                        objects,
                        app_id,
                        room_id,
                        now_ms,
                        CloseRule::WindowPassed { window_ms },
                    )
                    .await?;
                    continue;
                }
                ClaimPlan::NewReplay => (session_id.to_string(), 0, false),
                ClaimPlan::Continue {
                    replay_id,
                    segments,
                } => (replay_id, segments, true),
            };
        let new_head = LiveHead {
            session_id: session_id.to_string(),
            replay_id: replay_id.clone(),
            state: HeadState::Live,
            at_ms: now_ms,
            segments,
        };
        let (body, condition) = match &current {
            Some(o) => (o.body.clone(), PutCondition::Match(o.head.etag.clone())),
            None => (empty_playlist.clone(), PutCondition::Absent),
        };
        let write = ObjectPut {
            key: key.clone(),
            body: Bytes::from(new_head.stamp(&body)),
            content_type: object_keys::CONTENT_TYPE_PLAYLIST,
            cache_control: object_keys::CACHE_LIVE_PLAYLIST,
            metadata: new_head.metadata(),
            condition,
        };
        match objects.put(&write).await {
            Ok(etag) => {
                let expected = match etag {
                    Some(etag) => PutCondition::Match(etag),
                    None => objects
                        .head(&key)
                        .await?
                        .map_or(PutCondition::Absent, |h| PutCondition::Match(h.etag)),
                };
                let playlist = current.and_then(|o| {
                    std::str::from_utf8(&o.body)
                        .ok()
                        .and_then(|text| parse_media_playlist(text).ok())
                });
                return Ok(Claimed {
                    playlist,
                    replay_id,
                    segments,
                    continued,
                    fence: Fence::new(session_id, &key, expected),
                });
            }
            Err(e) if e.precondition_failed => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ClaimError::Busy)
}

/// Whose open replay [`close_replay`] may close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseRule {
    /// The worker of `session_id`, whose session ended and whose window passed: only if the
    /// head is still that session's, waiting.
    Own {
        /// The session.
        session_id: String,
    },
    /// A claim: only if the head's writer wrote nothing for `window_ms`.
    WindowPassed {
        /// The reconnect window.
        window_ms: i64,
    },
    /// The control plane, for a room whose live is over and whose writer is gone: whatever
    /// is open.
    Any,
}

/// What [`close_replay`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Closed {
    /// It closed the replay; the summary when it had segments.
    Now(Option<ReplaySummary>),
    /// It was closed already (its playlist written now if a closer had died before).
    Already(Option<ReplaySummary>),
    /// Not closed: the rule does not allow it (another session writes, or the window runs).
    NotAllowed,
    /// The room has no live playlist with a head.
    Nothing,
}

/// Closes room `room_id`'s open replay if `rule` allows: the live playlist gets
/// `#EXT-X-ENDLIST` and a `closed` head (conditional on the version read, so a claim racing it
/// either continues before it or starts a new replay after it), then the replay playlist is
/// rebuilt from the bucket and written once (`If-None-Match: *`), with its summary. A closed
/// head whose replay playlist is missing (a closer that died between the two) is completed.
pub async fn close_replay(
    objects: &dyn MediaObjects,
    app_id: &str,
    room_id: RoomId,
    now_ms: i64,
    rule: CloseRule,
) -> Result<Closed, ObjectError> {
    let key = object_keys::live_playlist(app_id, room_id);
    for _ in 0..ROUNDS {
        let Some(current) = objects.get(&key).await? else {
            return Ok(Closed::Nothing);
        };
        let Some(head) = LiveHead::from_metadata(current.head.metadata_pairs()) else {
            return Ok(Closed::Nothing);
        };
        if head.state == HeadState::Closed {
            let summary = ensure_replay(objects, app_id, room_id, &head).await?;
            return Ok(Closed::Already(summary));
        }
        let allowed = match &rule {
            CloseRule::Own { session_id } => {
                head.session_id == *session_id && head.state == HeadState::Waiting
            }
            CloseRule::WindowPassed { window_ms } => now_ms.saturating_sub(head.at_ms) > *window_ms,
            CloseRule::Any => true,
        };
        if !allowed {
            return Ok(Closed::NotAllowed);
        }
        let mut body = current.body.to_vec();
        if !body.ends_with(b"#EXT-X-ENDLIST\n") {
            if !body.ends_with(b"\n") && !body.is_empty() {
                body.push(b'\n');
            }
            body.extend_from_slice(b"#EXT-X-ENDLIST\n");
        }
        let closed = LiveHead {
            state: HeadState::Closed,
            ..head
        };
        let write = ObjectPut {
            key: key.clone(),
            body: Bytes::from(closed.stamp(&body)),
            content_type: object_keys::CONTENT_TYPE_PLAYLIST,
            cache_control: object_keys::CACHE_LIVE_PLAYLIST,
            metadata: closed.metadata(),
            condition: PutCondition::Match(current.head.etag.clone()),
        };
        match objects.put(&write).await {
            Ok(_) => {
                let summary = ensure_replay(objects, app_id, room_id, &closed).await?;
                return Ok(Closed::Now(summary));
            }
            Err(e) if e.precondition_failed => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ObjectError::new(
        key,
        "the live playlist kept changing while its replay was being closed; the next attempt tries again",
        true,
    ))
}

/// Writes the replay playlist of closed `head` and its summary, unless the playlist exists.
/// Returns the summary when this call wrote it.
async fn ensure_replay(
    objects: &dyn MediaObjects,
    app_id: &str,
    room_id: RoomId,
    head: &LiveHead,
) -> Result<Option<ReplaySummary>, ObjectError> {
    let playlist_key = object_keys::replay_playlist(app_id, room_id, &head.replay_id);
    if objects.head(&playlist_key).await?.is_some() {
        return Ok(None);
    }
    let sessions =
        read_sessions(objects, app_id, room_id, &head.replay_id, &head.session_id).await?;
    let Some((entries, summary)) =
        assemble_replay(app_id, room_id, &head.replay_id, sessions, head.at_ms)
    else {
        return Ok(None);
    };
    let segments: Vec<PlaylistSegment> = entries
        .into_iter()
        .map(|e| PlaylistSegment {
            uri: e.uri,
            duration: e.duration,
            discontinuity: e.discontinuity,
            program_date_time_ms: Some(e.pdt_ms),
        })
        .collect();
    let playlist = render_vod_playlist(&segments, 1);
    let write = ObjectPut {
        key: playlist_key,
        body: Bytes::from(playlist),
        content_type: object_keys::CONTENT_TYPE_PLAYLIST,
        cache_control: object_keys::CACHE_REPLAY,
        metadata: summary.playlist_metadata(),
        condition: PutCondition::Absent,
    };
    match objects.put(&write).await {
        Ok(_) => {}
        // Another closer wrote it first, from the same bucket.
        Err(e) if e.precondition_failed => return Ok(None),
        Err(e) => return Err(e),
    }
    let json = serde_json::to_vec(&summary).map_err(|e| {
        ObjectError::new(
            &summary.replay_id,
            format!("cannot encode the replay summary: {e}"),
            false,
        )
    })?;
    objects
        .put(&ObjectPut {
            key: object_keys::replay_summary(app_id, room_id, &head.replay_id),
            body: Bytes::from(json),
            content_type: object_keys::CONTENT_TYPE_JSON,
            cache_control: object_keys::CACHE_REPLAY,
            metadata: Vec::new(),
            condition: PutCondition::None,
        })
        .await?;
    Ok(Some(summary))
}

/// Whether `s` is a name a session id can have.
fn is_session_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the bucket holds of the sessions from `first` to `last` (session ids sort by start) of
/// a room: each session's segments (listed) with their journal entries (from its chunks, and
/// for segments no chunk names, from the segment's own metadata).
pub async fn read_sessions(
    objects: &dyn MediaObjects,
    app_id: &str,
    room_id: RoomId,
    first: &str,
    last: &str,
) -> Result<Vec<SessionMedia>, ObjectError> {
    let room_prefix = object_keys::live_room_prefix(app_id, room_id);
    let listing = objects.list(&room_prefix, true).await?;
    let mut sessions = Vec::new();
    for prefix in listing.prefixes {
        let Some(session) = prefix
            .strip_prefix(&room_prefix)
            .and_then(|rest| rest.strip_suffix('/'))
        else {
            continue;
        };
        if !is_session_id(session) || session < first || session > last {
            continue;
        }
        sessions.push(read_session(objects, app_id, room_id, session).await?);
    }
    Ok(sessions)
}

async fn read_session(
    objects: &dyn MediaObjects,
    app_id: &str,
    room_id: RoomId,
    session: &str,
) -> Result<SessionMedia, ObjectError> {
    let prefix = object_keys::live_session_prefix(app_id, room_id, session);
    let listing = objects.list(&prefix, false).await?;
    let mut sizes = std::collections::BTreeMap::new();
    let mut chunks = Vec::new();
    for (key, size) in &listing.objects {
        match key
            .strip_prefix(&prefix)
            .and_then(object_keys::parse_session_object)
        {
            Some(SessionObject::Segment(n)) => {
                sizes.insert(n, *size);
            }
            Some(SessionObject::JournalChunk(_)) => chunks.push(key.clone()),
            None => {}
        }
    }
    let mut entries = std::collections::BTreeMap::new();
    for key in chunks {
        let Some(chunk) = objects.get(&key).await? else {
            continue;
        };
        match serde_json::from_slice::<JournalChunk>(&chunk.body) {
            Ok(chunk) if chunk.session_id == session => {
                for e in chunk.entries {
                    entries.insert(e.n, e);
                }
            }
            Ok(_) | Err(_) => {
                tracing::warn!(%key, "skipping a journal chunk that does not parse as this session's");
            }
        }
    }
    let mut segments = Vec::with_capacity(sizes.len());
    for (n, size) in sizes {
        let entry = match entries.remove(&n) {
            Some(e) => Some(e),
            None => {
                let key = object_keys::live_segment(app_id, room_id, session, n);
                objects
                    .head(&key)
                    .await?
                    .and_then(|h| SegmentEntry::from_metadata(n, h.metadata_pairs()))
            }
        };
        match entry {
            Some(e) => segments.push((e, size)),
            None => tracing::warn!(
                session,
                n,
                "segment without a journal entry or metadata: left out of the replay"
            ),
        }
    }
    Ok(SessionMedia {
        session_id: session.to_string(),
        segments,
    })
}
