//! Who may publish: the RTMP app must be `live` and the stream key must be
//! `{stream_name}?txSecret=..&txTime=..` signed with the app's push key, derived from the
//! master `PUSH_KEY` and the stream name's app id (docs/api.md "Stream URLs", Tencent-compatible).
//! Pure: the caller passes `now`.

use zhibo_core::room::{parse_stream_name, RoomId};
use zhibo_core::signing::{UrlPurpose, UrlSignature};

/// The only RTMP application zhibo serves.
pub const RTMP_APP: &str = "live";

/// A publish that passed the signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedPublish {
    /// `{app_id}_{room_id}`.
    pub stream_name: String,
    /// The room's app.
    pub app_id: String,
    /// The room.
    pub room_id: RoomId,
}

/// Why a publish is refused: an RTMP status code and a message for the anchor's software.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct PublishRefusal {
    /// `NetStream.Publish.BadName` or `NetStream.Publish.Denied`.
    pub code: &'static str,
    /// What was wrong, in words (never the expected signature).
    pub description: String,
}

impl PublishRefusal {
    /// A refusal about the stream name or app.
    pub fn bad_name(description: impl Into<String>) -> Self {
        PublishRefusal {
            code: "NetStream.Publish.BadName",
            description: description.into(),
        }
    }

    /// A refusal about permission (signature, room state, a stream already live).
    pub fn denied(description: impl Into<String>) -> Self {
        PublishRefusal {
            code: "NetStream.Publish.Denied",
            description: description.into(),
        }
    }
}

/// How publishes are authenticated.
#[derive(Clone)]
pub enum PublishAuth {
    /// Verify `txSecret`/`txTime` with the app's key derived from this master push key.
    PushKey(String),
    /// Accept any well-formed stream name (benchmarks and local experiments only).
    Off,
}

impl std::fmt::Debug for PublishAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishAuth::PushKey(_) => f.write_str("PushKey(<redacted>)"),
            PublishAuth::Off => f.write_str("Off"),
        }
    }
}

/// Checks the RTMP app and stream key of a `publish`.
pub fn authorize_publish(
    auth: &PublishAuth,
    app_name: &str,
    stream_key: &str,
    now: i64,
) -> Result<AuthorizedPublish, PublishRefusal> {
    // OBS users sometimes paste the query into the server URL: `live?txSecret=..`.
    let (app, app_query) = app_name.split_once('?').unwrap_or((app_name, ""));
    if app.trim_end_matches('/') != RTMP_APP {
        return Err(PublishRefusal::bad_name(format!(
            "unknown RTMP app {app:?}: publish to rtmp://<host>/{RTMP_APP}/<stream_name>?txSecret=..&txTime=.."
        )));
    }
    let (name, key_query) = stream_key.split_once('?').unwrap_or((stream_key, ""));
    let Some((app_id, room_id)) = parse_stream_name(name) else {
        return Err(PublishRefusal::bad_name(format!(
            "stream name {name:?} is not {{app_id}}_{{room_id}}; use the push_url from POST /v1/rooms/{{room_id}}/push-url"
        )));
    };
    if let PublishAuth::PushKey(master) = auth {
        let mut tx_secret = None;
        let mut tx_time = None;
        for pair in key_query.split('&').chain(app_query.split('&')) {
            let (slot, v) = match pair.split_once('=') {
                Some(("txSecret", v)) => (&mut tx_secret, v),
                Some(("txTime", v)) => (&mut tx_time, v),
                _ => continue,
            };
            // A repeated parameter is ambiguous: refuse rather than pick one.
            if slot.replace(v).is_some() {
                return Err(PublishRefusal::denied(format!(
                    "push URL for {name} repeats txSecret or txTime: use the push_url exactly as issued"
                )));
            }
        }
        UrlSignature::verify_stream(master, UrlPurpose::Push, name, tx_secret, tx_time, now)
            .map_err(|e| {
                PublishRefusal::denied(format!("push signature refused for {name}: {e}"))
            })?;
    }
    Ok(AuthorizedPublish {
        stream_name: name.to_string(),
        app_id: app_id.to_string(),
        room_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "push-key-for-tests";
    const NOW: i64 = 1_800_000_000;

    fn signed(name: &str, expires: i64) -> String {
        let (app, room) = parse_stream_name(name).unwrap();
        format!(
            "{name}?{}",
            UrlSignature::sign_room(KEY, UrlPurpose::Push, app, room, expires).query()
        )
    }

    #[test]
    fn table() {
        let auth = PublishAuth::PushKey(KEY.into());
        let good = signed("demo_7", NOW + 60);
        let ok = authorize_publish(&auth, "live", &good, NOW).unwrap();
        assert_eq!(
            ok,
            AuthorizedPublish {
                stream_name: "demo_7".into(),
                app_id: "demo".into(),
                room_id: 7
            }
        );
        // Query on the app instead of the key (OBS "server" field).
        let (_, q) = good.split_once('?').unwrap();
        assert!(authorize_publish(&auth, &format!("live?{q}"), "demo_7", NOW).is_ok());
        assert!(authorize_publish(&auth, "live/", &good, NOW).is_ok());

        let cases: &[(&str, String, &str, &str)] = &[
            (
                "app",
                good.clone(),
                "NetStream.Publish.BadName",
                "unknown RTMP app",
            ),
            (
                "live",
                "demo?txSecret=a&txTime=B".into(),
                "NetStream.Publish.BadName",
                "is not {app_id}_{room_id}",
            ),
            (
                "live",
                "demo_7".into(),
                "NetStream.Publish.Denied",
                "txSecret",
            ),
            (
                "live",
                signed("demo_7", NOW - 1),
                "NetStream.Publish.Denied",
                "expired",
            ),
            (
                "live",
                signed("demo_8", NOW + 60).replace("demo_8", "demo_7"),
                "NetStream.Publish.Denied",
                "does not match",
            ),
            (
                "live",
                "demo_7?txSecret=00&txTime=zz".into(),
                "NetStream.Publish.Denied",
                "txTime",
            ),
            // H1: room 17's URL with a digit moved into txTime does not open room 1.
            ("live", moved_digit(), "NetStream.Publish.Denied", "txTime"),
            (
                "live",
                signed("demo_7", NOW + 60).replace("demo_7", "demo_07"),
                "NetStream.Publish.BadName",
                "is not {app_id}_{room_id}",
            ),
            // Another app's URL (its own derived key) does not open this app's room.
            (
                "live",
                signed("othr_7", NOW + 60).replace("othr_7", "demo_7"),
                "NetStream.Publish.Denied",
                "does not match",
            ),
            // The master key itself signs nothing.
            (
                "live",
                format!(
                    "demo_7?{}",
                    UrlSignature::sign(KEY, "demo_7", NOW + 60).query()
                ),
                "NetStream.Publish.Denied",
                "does not match",
            ),
            (
                "live",
                format!("{good}&txTime=FFFFFFFF"),
                "NetStream.Publish.Denied",
                "repeats",
            ),
        ];
        for (app, key, code, text) in cases {
            let err = authorize_publish(&auth, app, key, NOW).unwrap_err();
            assert_eq!(err.code, *code, "{app} {key}");
            assert!(
                err.description.contains(text),
                "{app} {key}: {:?} should mention {text:?}",
                err.description
            );
        }
    }

    /// `demo_17?txSecret=S&txTime=T` rewritten as `demo_1?txSecret=S&txTime=7T`.
    fn moved_digit() -> String {
        let url = signed("demo_17", NOW + 600);
        let (_, q) = url.split_once('?').unwrap();
        format!("demo_1?{}", q.replace("txTime=", "txTime=7"))
    }

    #[test]
    fn auth_off_still_requires_a_room_stream_name() {
        assert!(authorize_publish(&PublishAuth::Off, "live", "bench_12", NOW).is_ok());
        assert!(authorize_publish(&PublishAuth::Off, "live", "s1", NOW).is_err());
        assert_eq!(
            format!("{:?}", PublishAuth::PushKey("secret".into())),
            "PushKey(<redacted>)"
        );
    }
}
