//! Takedown (docs/api.md "Object layout and HLS", "Takedown"): `ban` stops a room's media being
//! served, and `close_replay` its replays, in both playback modes.
//!
//! How: the room's objects are **deleted** from the media bucket (`live/{app}/{room}/` and
//! `replays/{app}/{room}/`, or the replays alone). A deleted key answers 403/404 to CloudFront,
//! to the public bucket and to presigned URLs handed out before, so one mechanism covers public
//! and signed playback. When a CloudFront distribution is configured (`CDN_DISTRIBUTION_ID`),
//! the room's paths are invalidated too (segments are cached for a year). Playlists go first,
//! so players stop within one playlist reload even while segments are still being removed.
//!
//! When: a worker may still write the room's last playlist and replay after a ban (it learns of
//! the ban at its next heartbeat, or drops the publisher after a hook outage; the replay follows
//! when the reconnect window closes). So a takedown is idempotent and repeated: the request is
//! recorded ([`crate::store::PendingTakedown`]), the sweeper runs it again every minute until a
//! run finds nothing to remove after [`quiet_after_ms`], and the replay indexer removes replays
//! of banned and `close_replay` rooms when they land.
//!
//! Layers: [`Scope`], [`prefixes`], [`cdn_paths`], [`quiet_after_ms`] and [`delete_order`] are
//! pure; [`MediaTakedown`] lists, deletes and invalidates.

use crate::lifecycle::Timers;
use crate::object_keys;
use crate::room::RoomId;
use std::time::Duration;

/// What a takedown removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A banned room: its live playlist, every segment and every replay.
    Room,
    /// A `close_replay` room: its replays, and its live media once no session is in progress
    /// (an ended live's playlist is a replay by another name).
    Replays,
}

impl Scope {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Room => "room",
            Scope::Replays => "replays",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "room" => Some(Scope::Room),
            "replays" => Some(Scope::Replays),
            _ => None,
        }
    }
}

/// Time after the longest a worker may still write after a ban, on top of the reconnect window
/// (the abnormal window): a hook outage of the worker's default `ZHIBO_HEARTBEAT_OUTAGE_S`
/// (300 s) plus uploads retried through a short S3 outage.
pub const QUIET_MARGIN_MS: i64 = 10 * 60 * 1000;

/// Longest a takedown request may take in an API answer (`POST /actions`); what remains is
/// finished by the sweeper's next run.
pub const ANSWER_BUDGET: Duration = Duration::from_secs(4);

/// Until when a takedown requested at `now_ms` must keep being repeated: the worker writes the
/// replay when the reconnect window (equal to the abnormal window) closes, plus
/// [`QUIET_MARGIN_MS`].
pub fn quiet_after_ms(now_ms: i64, timers: &Timers) -> i64 {
    now_ms
        .saturating_add(timers.abnormal_timeout_s.saturating_mul(1000))
        .saturating_add(QUIET_MARGIN_MS)
}

/// The key prefixes a takedown of `scope` removes; `live_over` tells a [`Scope::Replays`]
/// takedown that no session is in progress (so the live media goes too).
pub fn prefixes(app_id: &str, room_id: RoomId, scope: Scope, live_over: bool) -> Vec<String> {
    let replays = object_keys::replays_room_prefix(app_id, room_id);
    let live = object_keys::live_room_prefix(app_id, room_id);
    match (scope, live_over) {
        (Scope::Room, _) | (Scope::Replays, true) => vec![live, replays],
        (Scope::Replays, false) => vec![replays],
    }
}

/// The CloudFront paths that cover `prefixes` (one wildcard path each).
pub fn cdn_paths(prefixes: &[String]) -> Vec<String> {
    prefixes.iter().map(|p| format!("/{p}*")).collect()
}

/// Sorts keys for deletion: playlists first (players stop at their next reload), then the
/// replay summaries, then segments.
pub fn delete_order(keys: &mut [String]) {
    keys.sort_by_key(|k| {
        if k.ends_with(".m3u8") {
            0
        } else if k.ends_with(".json") {
            1
        } else {
            2
        }
    });
}

/// What one run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Objects deleted.
    pub objects: u64,
    /// False when the time budget ran out before every object was deleted (run again).
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_takes_the_whole_room_and_close_replay_its_replays() {
        assert_eq!(
            prefixes("demo", 7, Scope::Room, false),
            ["live/demo/7/", "replays/demo/7/"]
        );
        assert_eq!(
            prefixes("demo", 7, Scope::Replays, false),
            ["replays/demo/7/"]
        );
        assert_eq!(
            prefixes("demo", 7, Scope::Replays, true),
            ["live/demo/7/", "replays/demo/7/"]
        );
        assert_eq!(
            cdn_paths(&prefixes("demo", 7, Scope::Room, false)),
            ["/live/demo/7/*", "/replays/demo/7/*"]
        );
        for s in [Scope::Room, Scope::Replays] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn playlists_go_first() {
        let mut k: Vec<String> = [
            "live/a/1/s/0.ts",
            "replays/a/1/r.json",
            "live/a/1/index.m3u8",
        ]
        .map(String::from)
        .to_vec();
        delete_order(&mut k);
        assert_eq!(
            k,
            [
                "live/a/1/index.m3u8",
                "replays/a/1/r.json",
                "live/a/1/s/0.ts"
            ]
        );
    }

    #[test]
    fn the_quiet_time_covers_the_reconnect_window() {
        let t = Timers::default();
        assert_eq!(quiet_after_ms(1_000, &t), 1_000 + 900_000 + QUIET_MARGIN_MS);
    }
}
