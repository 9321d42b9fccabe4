//! The one place that knows the media bucket's object layout (docs/api.md "Object layout and HLS"):
//! keys, relative URIs between playlists and segments, content types and cache headers.

use crate::room::RoomId;

/// `Content-Type` of every playlist.
pub const CONTENT_TYPE_PLAYLIST: &str = "application/vnd.apple.mpegurl";
/// `Content-Type` of every MPEG-TS segment.
pub const CONTENT_TYPE_SEGMENT: &str = "video/mp2t";
/// `Content-Type` of the replay summary JSON.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `Cache-Control` of the live playlist (it changes every segment).
pub const CACHE_LIVE_PLAYLIST: &str = "max-age=1";
/// `Cache-Control` of segments (written once under a unique key, never changed).
pub const CACHE_SEGMENT: &str = "max-age=31536000, immutable";
/// `Cache-Control` of replay playlists and their JSON (written once when the replay closes).
pub const CACHE_REPLAY: &str = "max-age=86400";

/// Prefix of everything live: `live/`.
pub const LIVE_PREFIX: &str = "live/";
/// Prefix of every replay playlist and summary: `replays/`.
pub const REPLAYS_PREFIX: &str = "replays/";

/// `live/{app_id}/{room_id}/index.m3u8`: the stable live playlist URL of a room.
pub fn live_playlist(app_id: &str, room_id: RoomId) -> String {
    format!("live/{app_id}/{room_id}/index.m3u8")
}

/// `live/{app_id}/{room_id}/{session_id}/{n}.ts`: one segment of one publish session.
pub fn live_segment(app_id: &str, room_id: RoomId, session_id: &str, n: u64) -> String {
    format!(
        "live/{app_id}/{room_id}/{}",
        live_segment_uri(session_id, n)
    )
}

/// The URI of a segment as the live playlist names it (relative to the playlist).
pub fn live_segment_uri(session_id: &str, n: u64) -> String {
    format!("{session_id}/{n}.ts")
}

/// The URI of a segment as a replay playlist names it (relative to
/// `replays/{app_id}/{room_id}/`): the same object as live, no copies.
pub fn replay_segment_uri(app_id: &str, room_id: RoomId, session_id: &str, n: u64) -> String {
    format!("../../../{}", live_segment(app_id, room_id, session_id, n))
}

/// `replays/{app_id}/{room_id}/{replay_id}.m3u8`.
pub fn replay_playlist(app_id: &str, room_id: RoomId, replay_id: &str) -> String {
    format!("replays/{app_id}/{room_id}/{replay_id}.m3u8")
}

/// `replays/{app_id}/{room_id}/{replay_id}.json`.
pub fn replay_summary(app_id: &str, room_id: RoomId, replay_id: &str) -> String {
    format!("replays/{app_id}/{room_id}/{replay_id}.json")
}

/// `live/{app_id}/{room_id}/`: everything live of one room (its playlist and every session's
/// segments). The trailing slash keeps room 7 apart from room 70.
pub fn live_room_prefix(app_id: &str, room_id: RoomId) -> String {
    format!("live/{app_id}/{room_id}/")
}

/// `live/{app_id}/{room_id}/{session_id}/`: one publish session's segments and journal.
pub fn live_session_prefix(app_id: &str, room_id: RoomId, session_id: &str) -> String {
    format!("live/{app_id}/{room_id}/{session_id}/")
}

/// `live/{app_id}/{room_id}/{session_id}/journal-{first_n}.json` (`first_n` zero-padded to 10
/// digits, so chunks list in order): one chunk of a session's journal
/// ([`crate::live_room::JournalChunk`]), next to its segments so a takedown removes it with them.
pub fn journal_chunk(app_id: &str, room_id: RoomId, session_id: &str, first_n: u64) -> String {
    format!("live/{app_id}/{room_id}/{session_id}/journal-{first_n:010}.json")
}

/// What an object under [`live_session_prefix`] is, from the rest of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionObject {
    /// Segment `{n}.ts`.
    Segment(u64),
    /// Journal chunk starting at segment `n`.
    JournalChunk(u64),
}

/// Reads the name of an object under a session prefix (`7.ts`, `journal-0000000032.json`);
/// `None` for anything else.
pub fn parse_session_object(name: &str) -> Option<SessionObject> {
    let digits = |s: &str| {
        (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if let Some(n) = name.strip_suffix(".ts") {
        return digits(n).map(SessionObject::Segment);
    }
    name.strip_prefix("journal-")?
        .strip_suffix(".json")
        .and_then(digits)
        .map(SessionObject::JournalChunk)
}

/// `replays/{app_id}/{room_id}/`: every replay playlist and summary of one room.
pub fn replays_room_prefix(app_id: &str, room_id: RoomId) -> String {
    format!("replays/{app_id}/{room_id}/")
}

/// Whether `key` is media of room `room_id` of app `app_id`: a segment or playlist under
/// [`live_room_prefix`]. Playlists of a room may name only these (a URI reaching another room
/// or app is refused by the replay indexer and signed playback).
pub fn is_room_media(app_id: &str, room_id: RoomId, key: &str) -> bool {
    key.strip_prefix(&live_room_prefix(app_id, room_id))
        .is_some_and(|rest| !rest.is_empty() && !rest.split('/').any(|p| p.is_empty() || p == ".."))
}

/// Splits `replays/{app_id}/{room_id}/{replay_id}.m3u8` back into its parts (the replay
/// indexer's S3 keys); `None` for any other key.
pub fn parse_replay_playlist(key: &str) -> Option<(&str, RoomId, &str)> {
    let rest = key.strip_prefix(REPLAYS_PREFIX)?;
    let mut parts = rest.split('/');
    let app = parts.next()?;
    let room: RoomId = parts.next()?.parse().ok().filter(|r| *r > 0)?;
    let replay = parts.next()?.strip_suffix(".m3u8")?;
    if parts.next().is_some() || replay.is_empty() || crate::app::validate_app_id(app).is_err() {
        return None;
    }
    Some((app, room, replay))
}

/// Resolves a relative segment URI against the playlist's key (`None` for absolute URIs and
/// paths that climb out of the bucket).
pub fn resolve_uri(playlist_key: &str, uri: &str) -> Option<String> {
    if uri.contains("://") || uri.starts_with('/') || uri.contains(['?', '#']) {
        return None;
    }
    let mut parts: Vec<&str> = playlist_key.split('/').collect();
    parts.pop();
    for seg in uri.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_contract() {
        assert_eq!(live_playlist("demo", 7), "live/demo/7/index.m3u8");
        assert_eq!(live_segment("demo", 7, "s1", 3), "live/demo/7/s1/3.ts");
        assert_eq!(live_segment_uri("s1", 3), "s1/3.ts");
        assert_eq!(replay_playlist("demo", 7, "r1"), "replays/demo/7/r1.m3u8");
        assert_eq!(replay_summary("demo", 7, "r1"), "replays/demo/7/r1.json");
    }

    #[test]
    fn session_objects_are_named_and_read_back() {
        assert_eq!(live_session_prefix("demo", 7, "s1"), "live/demo/7/s1/");
        let chunk = journal_chunk("demo", 7, "s1", 32);
        assert_eq!(chunk, "live/demo/7/s1/journal-0000000032.json");
        let name = chunk.strip_prefix("live/demo/7/s1/").unwrap();
        assert_eq!(
            parse_session_object(name),
            Some(SessionObject::JournalChunk(32))
        );
        assert_eq!(
            parse_session_object("41.ts"),
            Some(SessionObject::Segment(41))
        );
        for other in [
            "x.ts",
            ".ts",
            "1.ts.tmp",
            "journal-.json",
            "journal-1x.json",
            "index.m3u8",
            "99999999999999999999999.ts",
        ] {
            assert_eq!(parse_session_object(other), None, "{other}");
        }
    }

    #[test]
    fn replay_segment_uri_resolves_to_the_live_segment() {
        // replays/demo/7/ + ../../../live/... = live/...
        let uri = replay_segment_uri("demo", 7, "s1", 3);
        let base = ["replays", "demo", "7"];
        let ups = uri.matches("../").count();
        assert_eq!(ups, base.len());
        assert_eq!(
            uri.trim_start_matches("../../../"),
            live_segment("demo", 7, "s1", 3)
        );
    }

    #[test]
    fn replay_keys_parse_back() {
        assert_eq!(
            parse_replay_playlist("replays/demo/7/r1.m3u8"),
            Some(("demo", 7, "r1"))
        );
        for bad in [
            "replays/demo/7/r1.json",
            "replays/demo/0/r1.m3u8",
            "replays/demo/7/x/r1.m3u8",
            "live/demo/7/index.m3u8",
            "replays/Bad App/7/r1.m3u8",
            "replays/demo/7/.m3u8",
        ] {
            assert_eq!(parse_replay_playlist(bad), None, "{bad}");
        }
    }

    #[test]
    fn room_media_is_confined_to_the_room() {
        assert_eq!(live_room_prefix("demo", 7), "live/demo/7/");
        assert_eq!(replays_room_prefix("demo", 7), "replays/demo/7/");
        assert!(is_room_media("demo", 7, "live/demo/7/s1/3.ts"));
        assert!(is_room_media("demo", 7, "live/demo/7/index.m3u8"));
        for other in [
            "live/demo/70/s1/3.ts",
            "live/other/7/s1/3.ts",
            "replays/demo/7/r1.m3u8",
            "live/demo/7/",
            "live/demo/7//x.ts",
            "live/demo/7/../8/s/0.ts",
            "takedown/live/demo/7/s1/3.ts",
        ] {
            assert!(!is_room_media("demo", 7, other), "{other}");
        }
        // The URIs the worker writes resolve inside the room.
        let uri = replay_segment_uri("demo", 7, "s1", 3);
        let key = resolve_uri(&replay_playlist("demo", 7, "r1"), &uri).unwrap();
        assert!(is_room_media("demo", 7, &key));
        let key = resolve_uri(&live_playlist("demo", 7), &live_segment_uri("s1", 3)).unwrap();
        assert!(is_room_media("demo", 7, &key));
    }
}
