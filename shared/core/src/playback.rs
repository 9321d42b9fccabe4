//! Where viewers play from (docs/api.md "Stream URLs"): the public URL of a playlist in the bucket
//! (or the CDN in front of it), or, for a private deployment, a signed playback URL on the API
//! (`/play/...?txSecret=..&txTime=..`, signed with the app's key derived from `PLAY_KEY` over the room's stream name).
//! Pure: the caller passes `now`.

use crate::object_keys;
use crate::room::RoomId;
use crate::signing::{UrlPurpose, UrlSignature};

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
        /// `API_BASE_URL`, without a trailing slash; unset, each request's own
        /// `https://{Host}` ([`Playback::for_request`]), else a root-relative URL.
        api_base_url: Option<String>,
        /// `PLAY_KEY`: the master key each app's play-URL key is derived from.
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
    /// This playback for answers to a request with `headers`: in signed mode without
    /// `API_BASE_URL`, URLs start with the request's own `{X-Forwarded-Proto or https}://{Host}`.
    pub fn for_request(&self, headers: &http::HeaderMap) -> Playback {
        match self {
            Playback::Signed {
                api_base_url: None,
                play_key,
                ttl_s,
            } => {
                let host = headers
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .filter(|h| {
                        !h.is_empty()
                            && h.bytes().all(|b| {
                                b.is_ascii_alphanumeric()
                                    || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                            })
                    });
                let proto = headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .filter(|p| *p == "http" || *p == "https")
                    .unwrap_or("https");
                Playback::Signed {
                    api_base_url: host.map(|h| format!("{proto}://{h}")),
                    play_key: play_key.clone(),
                    ttl_s: *ttl_s,
                }
            }
            other => other.clone(),
        }
    }

    /// The live playlist of a room.
    pub fn live(&self, app_id: &str, room_id: RoomId, now: i64) -> PlayUrl {
        self.url(
            app_id,
            room_id,
            &object_keys::live_playlist(app_id, room_id),
            "index.m3u8",
            now,
        )
    }

    /// A replay playlist of a room.
    pub fn replay(&self, app_id: &str, room_id: RoomId, replay_id: &str, now: i64) -> PlayUrl {
        self.url(
            app_id,
            room_id,
            &object_keys::replay_playlist(app_id, room_id, replay_id),
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
                let sig = UrlSignature::sign_room(
                    play_key,
                    UrlPurpose::Play,
                    app_id,
                    room_id,
                    expires_at,
                );
                PlayUrl {
                    url: format!(
                        "{}/play/{app_id}/{room_id}/{play_path}?{}",
                        api_base_url.as_deref().unwrap_or_default(),
                        sig.query()
                    ),
                    expires_at: Some(expires_at),
                }
            }
        }
    }
}

/// HTTP-FLV playback from the media workers (docs/api.md "HTTP-FLV playback (media workers)"):
/// `{base_url}/live/{stream_name}.flv?txSecret=..&txTime=..`, signed with the app's play key.
#[derive(Clone, PartialEq, Eq)]
pub struct FlvPlayback {
    /// `PLAY_HOST` as a base URL (`https://{host}`, or the `http(s)://host[:port]` given),
    /// without a trailing slash.
    pub base_url: String,
    /// `PLAY_KEY`: the master key each app's play-URL key is derived from.
    pub play_key: String,
    /// `PLAY_URL_TTL_S`.
    pub ttl_s: i64,
}

impl std::fmt::Debug for FlvPlayback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlvPlayback")
            .field("base_url", &self.base_url)
            .field("play_key", &"<hidden>")
            .field("ttl_s", &self.ttl_s)
            .finish()
    }
}

impl FlvPlayback {
    /// The path of a room's HTTP-FLV stream on a media worker.
    pub fn path(app_id: &str, room_id: RoomId) -> String {
        format!("/live/{}.flv", crate::room::stream_name(app_id, room_id))
    }

    /// The signed HTTP-FLV URL of a room's live, valid for `ttl_s` from `now`.
    pub fn live(&self, app_id: &str, room_id: RoomId, now: i64) -> PlayUrl {
        let expires_at = now.saturating_add(self.ttl_s);
        let sig = UrlSignature::sign_room(
            &self.play_key,
            UrlPurpose::Play,
            app_id,
            room_id,
            expires_at,
        );
        PlayUrl {
            url: format!(
                "{}{}?{}",
                self.base_url,
                Self::path(app_id, room_id),
                sig.query()
            ),
            expires_at: Some(expires_at),
        }
    }

    /// `PLAY_HOST` as a base URL: `host[:port]` means `https://host[:port]`; an
    /// `http://` or `https://` URL without a path is taken as it is. `None`, with the reason,
    /// for anything else.
    pub fn base_url_from_play_host(play_host: &str) -> Result<String, String> {
        let (scheme, host) = match play_host.split_once("://") {
            Some((s @ ("http" | "https"), rest)) => (s, rest.trim_end_matches('/')),
            Some(_) => {
                return Err(format!(
                    "PLAY_HOST={play_host:?} has a scheme other than http or https"
                ))
            }
            None => ("https", play_host),
        };
        let valid = !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if valid {
            Ok(format!("{scheme}://{host}"))
        } else {
            Err(format!(
                "PLAY_HOST={play_host:?} is invalid: expected the media workers' playback host[:port] \
                 (https is assumed) or an http(s)://host[:port] URL, without a path"
            ))
        }
    }
}

/// Rewrites a media playlist stored at `playlist_key` for signed playback: every URI line
/// becomes `sign(bucket key it names)` (a presigned URL); tags, comments and line endings stay
/// exactly as they were. A URI that does not name an object of the bucket (absolute, or
/// climbing out of it) is left as it is. Returns the new text and how many URIs were signed.
pub fn rewrite_playlist(
    text: &str,
    playlist_key: &str,
    mut sign: impl FnMut(&str) -> String,
) -> (String, usize) {
    let mut out = String::with_capacity(text.len() * 4);
    let mut signed = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        let uri = body.trim();
        if uri.is_empty() || uri.starts_with('#') {
            out.push_str(line);
            continue;
        }
        match object_keys::resolve_uri(playlist_key, uri) {
            Some(key) => {
                out.push_str(&sign(&key));
                out.push_str(ending);
                signed += 1;
            }
            None => out.push_str(line),
        }
    }
    (out, signed)
}

/// The bucket keys a playlist stored at `playlist_key` names, in order (what
/// [`rewrite_playlist`] will hand to its `sign`).
pub fn playlist_keys(text: &str, playlist_key: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|uri| object_keys::resolve_uri(playlist_key, uri))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flv_urls_are_signed_stream_urls_on_the_play_host() {
        assert_eq!(
            FlvPlayback::base_url_from_play_host("play.example.com").unwrap(),
            "https://play.example.com"
        );
        assert_eq!(
            FlvPlayback::base_url_from_play_host("http://127.0.0.1:9090/").unwrap(),
            "http://127.0.0.1:9090"
        );
        for bad in ["", "ftp://x", "https://x/path", "a b", "http://"] {
            assert!(FlvPlayback::base_url_from_play_host(bad).is_err(), "{bad}");
        }
        let flv = FlvPlayback {
            base_url: "https://play.example.com".into(),
            play_key: "play-master-key-0123".into(),
            ttl_s: 600,
        };
        let url = flv.live("demo", 7, 1_000);
        assert_eq!(url.expires_at, Some(1_600));
        let sig =
            UrlSignature::sign_room("play-master-key-0123", UrlPurpose::Play, "demo", 7, 1_600);
        assert_eq!(
            url.url,
            format!("https://play.example.com/live/demo_7.flv?{}", sig.query())
        );
        assert!(!format!("{flv:?}").contains("play-master-key"));
    }

    #[test]
    fn rewriting_changes_only_the_uri_lines() {
        let text = "#EXTM3U\r\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
                    #EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:00.000Z\n#EXTINF:2.000,\ns1/7.ts\n\
                    #EXT-X-DISCONTINUITY\n#EXTINF:1.500,\r\ns2/0.ts\r\n\n# a comment\n\
                    #EXTINF:2.000,\nhttps://cdn.example.com/x.ts\n#EXT-X-ENDLIST";
        let (out, n) = rewrite_playlist(text, "live/demo/7/index.m3u8", |key| {
            format!("https://s3/{key}?X-Amz-Signature=abc")
        });
        assert_eq!(n, 2);
        assert_eq!(
            playlist_keys(text, "live/demo/7/index.m3u8"),
            ["live/demo/7/s1/7.ts", "live/demo/7/s2/0.ts"]
        );
        let want = text
            .replace(
                "\ns1/7.ts\n",
                "\nhttps://s3/live/demo/7/s1/7.ts?X-Amz-Signature=abc\n",
            )
            .replace(
                "\ns2/0.ts\r\n",
                "\nhttps://s3/live/demo/7/s2/0.ts?X-Amz-Signature=abc\r\n",
            );
        assert_eq!(out, want);
        let (replay, n) = rewrite_playlist(
            "#EXTM3U\n#EXTINF:2.0,\n../../../live/demo/7/s/0.ts\n#EXT-X-ENDLIST\n",
            "replays/demo/7/r1.m3u8",
            |key| format!("<{key}>"),
        );
        assert_eq!(n, 1);
        assert_eq!(
            replay,
            "#EXTM3U\n#EXTINF:2.0,\n<live/demo/7/s/0.ts>\n#EXT-X-ENDLIST\n"
        );
    }

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
            api_base_url: Some("https://api.example.com".into()),
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
            UrlSignature::verify_stream(
                "play-key-0123456789",
                UrlPurpose::Play,
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
