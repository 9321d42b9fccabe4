//! Where viewers play from (API.md "Stream URLs"): the public URL of a playlist in the bucket
//! (or the CDN in front of it), or, for a private deployment, a signed playback URL on the API
//! (`/play/...?txSecret=..&txTime=..`, signed with `PLAY_KEY` over the room's stream name).
//! Pure: the caller passes `now`.

use crate::keys;
use crate::room::{stream_name, RoomId};
use crate::signing::UrlSignature;

/// How playback URLs are made (`PLAYBACK_MODE`).
#[derive(Clone, PartialEq, Eq)]
pub enum Playback {
    /// `public`: `{base_url}/{key}`, a bucket (or CDN) anyone may read under `live/` and
    /// `replays/`.
    Public {
        /// `PLAYBACK_BASE_URL`, without a trailing slash.
        base_url: String,
    },
    /// `signed`: `{api_base_url}/play/{app}/{room}/...?txSecret=..&txTime=..`, valid for
    /// `ttl_s`.
    Signed {
        /// `API_BASE_URL`, without a trailing slash.
        api_base_url: String,
        /// `PLAY_KEY`.
        play_key: String,
        /// `PLAY_URL_TTL_S`.
        ttl_s: i64,
    },
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Playback::Public { base_url } => f
                .debug_struct("Public")
                .field("base_url", base_url)
                .finish(),
            Playback::Signed {
                api_base_url,
                ttl_s,
                ..
            } => f
                .debug_struct("Signed")
                .field("api_base_url", api_base_url)
                .field("play_key", &"<hidden>")
                .field("ttl_s", ttl_s)
                .finish(),
        }
    }
}

/// A playback URL and until when it works (`None`: as long as the object exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayUrl {
    /// The URL.
    pub url: String,
    /// Expiry of a signed URL, unix seconds.
    pub expires_at: Option<i64>,
}

impl Playback {
    /// The live playlist of a room.
    pub fn live(&self, app_id: &str, room_id: RoomId, now: i64) -> PlayUrl {
        self.url(
            app_id,
            room_id,
            &keys::live_playlist(app_id, room_id),
            "index.m3u8",
            now,
        )
    }

    /// A replay playlist of a room.
    pub fn replay(&self, app_id: &str, room_id: RoomId, replay_id: &str, now: i64) -> PlayUrl {
        self.url(
            app_id,
            room_id,
            &keys::replay_playlist(app_id, room_id, replay_id),
            &format!("replays/{replay_id}.m3u8"),
            now,
        )
    }

    fn url(&self, app_id: &str, room_id: RoomId, key: &str, play_path: &str, now: i64) -> PlayUrl {
        match self {
            Playback::Public { base_url } => PlayUrl {
                url: format!("{base_url}/{key}"),
                expires_at: None,
            },
            Playback::Signed {
                api_base_url,
                play_key,
                ttl_s,
            } => {
                let expires_at = now.saturating_add(*ttl_s);
                let sig = UrlSignature::sign(play_key, &stream_name(app_id, room_id), expires_at);
                PlayUrl {
                    url: format!(
                        "{api_base_url}/play/{app_id}/{room_id}/{play_path}?{}",
                        sig.query()
                    ),
                    expires_at: Some(expires_at),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_name_the_bucket_keys() {
        let p = Playback::Public {
            base_url: "https://cdn.example.com".into(),
        };
        assert_eq!(
            p.live("demo", 7, 0).url,
            "https://cdn.example.com/live/demo/7/index.m3u8"
        );
        let r = p.replay("demo", 7, "r1", 0);
        assert_eq!(r.url, "https://cdn.example.com/replays/demo/7/r1.m3u8");
        assert_eq!(r.expires_at, None);
    }

    #[test]
    fn signed_urls_verify_with_the_play_key() {
        let p = Playback::Signed {
            api_base_url: "https://api.example.com".into(),
            play_key: "play-key-0123456789".into(),
            ttl_s: 600,
        };
        let r = p.replay("demo", 7, "r1", 1000);
        assert_eq!(r.expires_at, Some(1600));
        let (path, query) = r.url.split_once('?').unwrap();
        assert_eq!(path, "https://api.example.com/play/demo/7/replays/r1.m3u8");
        let q: Vec<(&str, &str)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let get = |k| q.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(
            UrlSignature::verify(
                "play-key-0123456789",
                "demo_7",
                get("txSecret"),
                get("txTime"),
                1000
            ),
            Ok(1600)
        );
        assert!(!format!("{p:?}").contains("play-key"));
        assert!(p
            .live("demo", 7, 1000)
            .url
            .contains("/play/demo/7/index.m3u8?"));
    }
}
