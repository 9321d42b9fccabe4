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
    /// The publisher stopped (closed, timed out, was dropped, or the worker shut down).
    Unpublish,
    /// Periodic proof that a session is still live (default every 10 s).
    Heartbeat,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "publish");
        assert_eq!(v["room_id"], 7);
        let back: HookEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        let a: HookAnswer = serde_json::from_str(r#"{"allow":false,"reason":"banned"}"#).unwrap();
        assert_eq!(a.reason.as_deref(), Some("banned"));
    }
}
