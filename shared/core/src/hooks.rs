//! The worker → functions hook contract (docs/api.md "Worker hooks"): `POST /internal/hooks`, a
//! JSON body signed with the hook secret in the `Zhibo-Signature` format of
//! [`crate::signing::BodySignature`].

use serde::{Deserialize, Serialize};

use crate::room::RoomId;

/// Path of the hook endpoint.
pub const HOOKS_PATH: &str = "/internal/hooks";
/// Header carrying the body signature.
pub const SIGNATURE_HEADER: &str = "Zhibo-Signature";
/// How far a hook's signed time may be from the receiver's clock, seconds. Narrower than the
/// webhooks' 300 s: the worker signs every attempt afresh, and a captured hook replayed
/// within it changes nothing (sessions and `seq` make hooks idempotent; see
/// [`crate::lifecycle`]).
pub const HOOK_CLOCK_WINDOW_S: i64 = 60;

/// What happened on the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookEventKind {
    /// A publisher with a valid push signature asks to publish; the answer decides.
    Publish,
    /// The publisher stopped (closed, timed out, was dropped, or the worker shut down);
    /// [`HookEvent::reason`] says whether cleanly.
    Unpublish,
    /// Periodic proof that a session is still live (default every 10 s).
    Heartbeat,
}

/// How a publish ended, carried by an `unpublish` hook and passed on as the `room.abnormal`
/// webhook's `data.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnpublishReason {
    /// The encoder stopped cleanly: it unpublished (`FCUnpublish`/`deleteStream`).
    Stopped,
    /// The connection ended without an unpublish: the socket closed or failed, the publisher
    /// went idle, was kicked, broke a limit, or the worker shut down.
    Dropped,
}

impl UnpublishReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnpublishReason::Stopped => "stopped",
            UnpublishReason::Dropped => "dropped",
        }
    }
}

/// One hook call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookEvent {
    /// What happened.
    pub event: HookEventKind,
    /// Unique per call and stable across its retries.
    pub event_id: String,
    /// The publish session (one RTMP publish, from accept to close).
    pub session_id: String,
    /// 0, 1, 2, … within the session: later events win.
    pub seq: u64,
    /// The room's app.
    pub app_id: String,
    /// The room.
    pub room_id: RoomId,
    /// `{app_id}_{room_id}`.
    pub stream_name: String,
    /// The worker that holds the session.
    pub worker_id: String,
    /// The publisher's address.
    pub client_ip: String,
    /// When it happened on the worker, unix milliseconds.
    pub at_ms: i64,
    /// `unpublish` only: how the publish ended. Absent on `publish` and `heartbeat`; an
    /// `unpublish` without it (a worker from before the field) counts as
    /// [`UnpublishReason::Dropped`] (see [`HookEvent::unpublish_reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<UnpublishReason>,
    /// `publish` and `heartbeat`: the worker's HTTP base URL as the other workers reach it
    /// (`ZHIBO_RELAY_URL`, e.g. `http://10.0.1.5:9090`), where they pull this live for their
    /// own HTTP-FLV viewers. Absent: the worker takes part in no relay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl HookEvent {
    /// How an `unpublish` ended: its `reason`, [`UnpublishReason::Dropped`] when absent.
    pub fn unpublish_reason(&self) -> UnpublishReason {
        self.reason.unwrap_or(UnpublishReason::Dropped)
    }
}

/// The answer to a hook: `publish` is allowed only on 200 with `allow: true`; the answer to a
/// `heartbeat` with `allow: false` tells the worker to drop the publisher (pause, ban, end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookAnswer {
    /// Whether the session may go on.
    pub allow: bool,
    /// Why not, for logs and the publisher's error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `allow: false`: the room's live is over (ended, banned, expired or gone), so the
    /// worker closes the replay at once instead of waiting for a republish.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub live_over: bool,
}

/// Path where a worker asks which worker holds a live (the HTTP-FLV edge relay), signed like
/// every hook.
pub const LOCATE_PATH: &str = "/internal/hooks/locate";

/// Longest `origin` accepted.
pub const MAX_ORIGIN_LEN: usize = 200;

/// Checks an `origin`: `http://host:port` (or `https://`), no path, query or user info, at
/// most [`MAX_ORIGIN_LEN`] characters. The reason when not.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let ok = origin.len() <= MAX_ORIGIN_LEN
        && rest.is_some_and(|hp| {
            hp.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && host.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':')
                    })
                    && port.parse::<u16>().is_ok_and(|p| p > 0)
            })
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "origin {origin:?} must be http(s)://host:port without a path, at most {MAX_ORIGIN_LEN} characters (ZHIBO_RELAY_URL)"
        ))
    }
}

/// `POST /internal/hooks/locate`: which worker serves a live room's HTTP-FLV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocateRequest {
    /// `{app_id}_{room_id}`.
    pub stream_name: String,
    /// The asking worker (for logs).
    pub worker_id: String,
}

/// The answer to a [`LocateRequest`]: 200 with `live: true` and the `origin` to pull from; 404
/// `live: false` (not live, or its worker has no `origin`); 403 `live: false` with the reason
/// for a banned or paused room (viewers get 403 too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocateAnswer {
    /// Whether the room is live on a worker that relays.
    pub live: bool,
    /// The holding worker's `origin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The holding worker's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_http_host_and_port_only() {
        for ok in [
            "http://10.0.1.5:9090",
            "https://w1.internal:443",
            "http://[::1]:9090",
        ] {
            assert_eq!(check_origin(ok), Ok(()), "{ok}");
        }
        let long = format!("http://{}:1", "a".repeat(MAX_ORIGIN_LEN));
        for bad in [
            "",
            "10.0.1.5:9090",
            "http://10.0.1.5",
            "http://10.0.1.5:0",
            "http://10.0.1.5:9090/x",
            "http://u@h:1",
            "ftp://h:1",
            "http://:1",
            long.as_str(),
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wire_shape() {
        let e = HookEvent {
            event: HookEventKind::Publish,
            event_id: "e1".into(),
            session_id: "s1".into(),
            seq: 0,
            app_id: "demo".into(),
            room_id: 7,
            stream_name: "demo_7".into(),
            worker_id: "w1".into(),
            client_ip: "127.0.0.1".into(),
            at_ms: 1,
            reason: None,
            origin: None,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "publish");
        assert_eq!(v["room_id"], 7);
        assert!(v.get("reason").is_none(), "no reason on a publish: {v}");
        let back: HookEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        let a: HookAnswer = serde_json::from_str(r#"{"allow":false,"reason":"banned"}"#).unwrap();
        assert_eq!(a.reason.as_deref(), Some("banned"));
    }

    fn unpublish_json(reason: Option<&str>) -> serde_json::Value {
        let mut v = serde_json::json!({
            "event": "unpublish", "event_id": "e2", "session_id": "s1", "seq": 3,
            "app_id": "demo", "room_id": 7, "stream_name": "demo_7", "worker_id": "w1",
            "client_ip": "127.0.0.1", "at_ms": 2,
        });
        if let Some(r) = reason {
            v["reason"] = r.into();
        }
        v
    }

    #[test]
    fn unpublish_reason_on_the_wire() {
        for (r, word) in [
            (UnpublishReason::Stopped, "stopped"),
            (UnpublishReason::Dropped, "dropped"),
        ] {
            assert_eq!(r.as_str(), word);
            assert_eq!(serde_json::to_value(r).unwrap(), word);
            let e: HookEvent = serde_json::from_value(unpublish_json(Some(word))).unwrap();
            assert_eq!(e.reason, Some(r));
            assert_eq!(e.unpublish_reason(), r);
            assert_eq!(serde_json::to_value(&e).unwrap()["reason"], word);
        }
        // An older worker's unpublish has no reason: it parses, and counts as dropped.
        let old: HookEvent = serde_json::from_value(unpublish_json(None)).unwrap();
        assert_eq!(old.reason, None);
        assert_eq!(old.unpublish_reason(), UnpublishReason::Dropped);
        // Anything else is refused, naming the value and the expected ones.
        for bad in ["finished", "STOPPED", ""] {
            let err = serde_json::from_value::<HookEvent>(unpublish_json(Some(bad)))
                .unwrap_err()
                .to_string();
            assert!(err.contains("stopped") && err.contains("dropped"), "{err}");
        }
    }
}
