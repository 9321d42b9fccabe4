//! The room check of signed playback (docs/api.md "Takedown"): a banned room, a deleted room, and
//! the replays of a `close_replay` room are refused even with a valid play URL. The room's
//! status is read after the signature is verified and cached for [`STATUS_CACHE_TTL`] per warm
//! instance, so a player reloading the live playlist every second costs one read per few
//! seconds, and a ban reaches every player within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zhibo_api::ApiError;
use zhibo_core::room::RoomId;
use zhibo_core::LiveStatus;
use zhibo_store::RoomStore;

/// How long a room's status is reused.
pub const STATUS_CACHE_TTL: Duration = Duration::from_secs(3);
/// Rooms cached per instance (the oldest entries go when full).
const MAX_CACHED: usize = 4096;

/// What signed playback needs to know about a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomFacts {
    /// Its status.
    pub live_status: LiveStatus,
    /// Its replays are not offered.
    pub close_replay: bool,
}

/// Why a room's media is not served, if it is not: 403 for a banned room and for
/// `close_replay` media, 404 for a room that does not exist (pure).
pub fn refusal(room_id: RoomId, facts: Option<RoomFacts>, replay: bool) -> Option<ApiError> {
    let forbidden = |msg: String| {
        ApiError::new(
            http::StatusCode::FORBIDDEN,
            zhibo_core::error::codes::FORBIDDEN,
            msg,
        )
    };
    let Some(f) = facts else {
        return Some(ApiError::not_found(format!(
            "room {room_id} does not exist: it cannot be watched"
        )));
    };
    if f.live_status == LiveStatus::Banned {
        return Some(forbidden(format!(
            "room {room_id} is banned (104): its live and replays are taken down"
        )));
    }
    // With close_replay, an ended live's playlist is a replay by another name.
    if f.close_replay && (replay || !f.live_status.session_in_progress()) {
        return Some(forbidden(format!(
            "room {room_id} has close_replay set: its replays are not offered"
        )));
    }
    None
}

/// Cached facts: when read, and the room's facts (`None`: no such room).
type Cache = HashMap<(String, RoomId), (Instant, Option<RoomFacts>)>;

/// Rooms' facts, read from the table and cached briefly.
#[derive(Debug, Clone)]
pub struct RoomGate {
    rooms: RoomStore,
    cache: Arc<Mutex<Cache>>,
}

impl RoomGate {
    /// Over `store`.
    pub fn new(store: RoomStore) -> RoomGate {
        RoomGate {
            rooms: store,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The room's facts (`None`: no such room), from the cache when fresh.
    pub async fn facts(
        &self,
        app_id: &str,
        room_id: RoomId,
    ) -> Result<Option<RoomFacts>, ApiError> {
        let key = (app_id.to_string(), room_id);
        let now = Instant::now();
        if let Some((at, facts)) = self.lock().get(&key) {
            if now.duration_since(*at) < STATUS_CACHE_TTL {
                return Ok(*facts);
            }
        }
        let facts = self
            .rooms
            .get_room(app_id, room_id)
            .await?
            .map(|r| RoomFacts {
                live_status: r.live_status,
                close_replay: r.close_replay,
            });
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (at, _)| now.duration_since(*at) < STATUS_CACHE_TTL);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (now, facts));
        Ok(facts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(live_status: LiveStatus, close_replay: bool) -> Option<RoomFacts> {
        Some(RoomFacts {
            live_status,
            close_replay,
        })
    }

    #[test]
    fn banned_missing_and_closed_replays_are_refused() {
        let status = |f, replay| refusal(7, f, replay).map(|e| e.status.as_u16());
        assert_eq!(status(facts(LiveStatus::Live, false), false), None);
        assert_eq!(status(facts(LiveStatus::Ended, false), true), None);
        assert_eq!(status(facts(LiveStatus::Banned, false), false), Some(403));
        assert_eq!(status(facts(LiveStatus::Banned, false), true), Some(403));
        assert_eq!(status(None, false), Some(404));
        assert_eq!(status(facts(LiveStatus::Live, true), false), None);
        assert_eq!(status(facts(LiveStatus::Live, true), true), Some(403));
        assert_eq!(status(facts(LiveStatus::Ended, true), false), Some(403));
        let e = refusal(7, facts(LiveStatus::Banned, false), false).unwrap();
        assert!(e.body.errmsg.contains("banned"), "{e:?}");
    }
}
