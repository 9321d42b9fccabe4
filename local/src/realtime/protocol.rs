//! AppSync Events' WebSocket protocol, sans I/O. A [`Session`] takes each text frame the client
//! sends and returns what to do: frames to send back, subscriptions to open or close, events to
//! publish. The shell owns the socket, the hub and the clock.
//!
//! Client → server: `connection_init`, `subscribe {id, channel, authorization}`, `unsubscribe
//! {id}`, `publish {id, channel, events, authorization}`. Server → client: `connection_ack
//! {connectionTimeoutMs}`, `ka`, `subscribe_success|subscribe_error {id}`,
//! `unsubscribe_success|unsubscribe_error {id}`, `publish_success|publish_error {id}`, `data {id,
//! event}` and `error`; errors carry `errors: [{errorType, message}]`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// Largest client frame read (checked before parsing).
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// Most subscriptions one connection holds.
pub const MAX_SUBSCRIPTIONS: usize = 20;
/// Longest subscription or publish id.
pub const MAX_ID_LEN: usize = 128;
/// Longest channel path.
pub const MAX_CHANNEL_LEN: usize = 256;
/// Most events in one publish (AppSync's limit).
pub const MAX_EVENTS_PER_PUBLISH: usize = 5;
/// The keep-alive silence after which a client should drop the connection (sent in the ack).
pub const CONNECTION_TIMEOUT_MS: u64 = 300_000;

/// The authorization a client sends: header names to values (e.g. `Authorization`, `host`).
pub type Authorization = Map<String, Value>;

/// What the client asks, for the authorizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<'a> {
    /// Subscribe to this channel.
    Subscribe(&'a str),
    /// Publish to this channel.
    Publish(&'a str),
}

/// What the shell must do after a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this JSON frame to the client.
    Send(Value),
    /// Start delivering `channel`'s events to the client as `data` frames with this `id`.
    Subscribe {
        /// The client's subscription id.
        id: String,
        /// The channel.
        channel: String,
    },
    /// Stop the subscription `id`.
    Unsubscribe {
        /// The client's subscription id.
        id: String,
    },
    /// Publish `events` (JSON strings) on `channel`, then confirm to the client with `id`.
    Publish {
        /// The client's publish id.
        id: String,
        /// The channel.
        channel: String,
        /// The events, each a JSON document as a string.
        events: Vec<String>,
    },
}

/// One error entry.
pub fn error_entry(error_type: &str, message: &str) -> Value {
    json!({"errorType": error_type, "message": message})
}

/// A connection's protocol state.
#[derive(Debug, Default)]
pub struct Session {
    subscriptions: HashMap<String, String>,
    acked: bool,
}

impl Session {
    /// A new connection (already authorized to connect by the shell).
    pub fn new() -> Session {
        Session::default()
    }

    /// Whether `connection_init` was answered.
    pub fn acked(&self) -> bool {
        self.acked
    }

    /// The channel of subscription `id`.
    pub fn channel_of(&self, id: &str) -> Option<&str> {
        self.subscriptions.get(id).map(String::as_str)
    }

    /// Handles one client text frame. `authorize` decides a subscribe or publish from the
    /// frame's `authorization` (or the connection's when the frame has none), returning the
    /// refusal's message.
    pub fn on_frame(
        &mut self,
        frame: &str,
        connection_auth: &Authorization,
        authorize: &dyn Fn(Ask<'_>, &Authorization) -> Result<(), String>,
    ) -> Vec<Action> {
        if frame.len() > MAX_FRAME_BYTES {
            return vec![protocol_error(&format!(
                "frame of {} bytes is larger than {MAX_FRAME_BYTES}",
                frame.len()
            ))];
        }
        let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(frame) else {
            return vec![protocol_error("frame is not a JSON object")];
        };
        let kind = msg.get("type").and_then(Value::as_str).unwrap_or("");
        let id = msg.get("id").and_then(Value::as_str);
        let auth = match msg.get("authorization") {
            Some(Value::Object(a)) => a,
            _ => connection_auth,
        };
        match kind {
            "connection_init" => {
                self.acked = true;
                vec![Action::Send(json!({
                    "type": "connection_ack",
                    "connectionTimeoutMs": CONNECTION_TIMEOUT_MS,
                }))]
            }
            "subscribe" => {
                let id = match checked_id(id) {
                    Ok(id) => id,
                    Err(e) => return vec![reply(kind, "subscribe_error", id, "BadRequestException", e)],
                };
                let channel = match checked_channel(msg.get("channel")) {
                    Ok(c) => c,
                    Err(e) => return vec![reply(kind, "subscribe_error", Some(id), "BadRequestException", e)],
                };
                if self.subscriptions.contains_key(id) {
                    return vec![reply(kind, "subscribe_error", Some(id), "BadRequestException", "a subscription with this id exists: unsubscribe first or use another id")];
                }
                if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                    return vec![reply(kind, "subscribe_error", Some(id), "LimitExceededException", &format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"))];
                }
                if let Err(why) = authorize(Ask::Subscribe(channel), auth) {
                    return vec![reply(kind, "subscribe_error", Some(id), "UnauthorizedException", &why)];
                }
                self.subscriptions.insert(id.to_string(), channel.to_string());
                vec![
                    Action::Subscribe {
                        id: id.to_string(),
                        channel: channel.to_string(),
                    },
                    Action::Send(json!({"type": "subscribe_success", "id": id})),
                ]
            }
            "unsubscribe" => {
                let id = match checked_id(id) {
                    Ok(id) => id,
                    Err(e) => return vec![reply(kind, "unsubscribe_error", id, "BadRequestException", e)],
                };
                if self.subscriptions.remove(id).is_none() {
                    return vec![reply(kind, "unsubscribe_error", Some(id), "UnknownOperationException", "no subscription with this id")];
                }
                vec![
                    Action::Unsubscribe { id: id.to_string() },
                    Action::Send(json!({"type": "unsubscribe_success", "id": id})),
                ]
            }
            "publish" => {
                let id = match checked_id(id) {
                    Ok(id) => id,
                    Err(e) => return vec![reply(kind, "publish_error", id, "BadRequestException", e)],
                };
                let channel = match checked_channel(msg.get("channel")) {
                    Ok(c) => c,
                    Err(e) => return vec![reply(kind, "publish_error", Some(id), "BadRequestException", e)],
                };
                let events = match checked_events(msg.get("events")) {
                    Ok(e) => e,
                    Err(e) => return vec![reply(kind, "publish_error", Some(id), "BadRequestException", &e)],
                };
                if let Err(why) = authorize(Ask::Publish(channel), auth) {
                    return vec![reply(kind, "publish_error", Some(id), "UnauthorizedException", &why)];
                }
                vec![Action::Publish {
                    id: id.to_string(),
                    channel: channel.to_string(),
                    events,
                }]
            }
            other => vec![protocol_error(&format!(
                "unknown message type {:?}: expected connection_init, subscribe, unsubscribe or publish",
                other.chars().take(40).collect::<String>()
            ))],
        }
    }
}

/// The `data` frame that carries one event to subscription `id`.
pub fn data_frame(id: &str, event: &str) -> Value {
    json!({"type": "data", "id": id, "event": event})
}

/// The answer to a publish: each event's identifier and index.
pub fn publish_result(identifiers: &[String]) -> Value {
    json!({
        "successful": identifiers.iter().enumerate()
            .map(|(index, identifier)| json!({"identifier": identifier, "index": index}))
            .collect::<Vec<_>>(),
        "failed": [],
    })
}

fn protocol_error(message: &str) -> Action {
    Action::Send(json!({"type": "error", "errors": [error_entry("BadRequestException", message)]}))
}

fn reply(_asked: &str, kind: &str, id: Option<&str>, error_type: &str, message: &str) -> Action {
    let mut frame = json!({"type": kind, "errors": [error_entry(error_type, message)]});
    if let Some(id) = id {
        frame["id"] = Value::from(id.chars().take(MAX_ID_LEN).collect::<String>());
    }
    Action::Send(frame)
}

fn checked_id(id: Option<&str>) -> Result<&str, &'static str> {
    match id {
        Some(id)
            if !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control) =>
        {
            Ok(id)
        }
        _ => Err("id must be 1-128 characters"),
    }
}

fn checked_channel(channel: Option<&Value>) -> Result<&str, &'static str> {
    match channel.and_then(Value::as_str) {
        Some(c)
            if c.starts_with('/')
                && c.len() <= MAX_CHANNEL_LEN
                && !c.chars().any(char::is_control) =>
        {
            Ok(c)
        }
        _ => Err("channel must be a path like /namespace/segment, at most 256 characters"),
    }
}

/// A publish's `events`: 1..=5 strings, each a JSON document.
pub fn checked_events(events: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(Value::Array(events)) = events else {
        return Err("events must be an array of JSON strings".into());
    };
    if events.is_empty() || events.len() > MAX_EVENTS_PER_PUBLISH {
        return Err(format!(
            "events must hold 1 to {MAX_EVENTS_PER_PUBLISH} events"
        ));
    }
    events
        .iter()
        .enumerate()
        .map(|(i, e)| match e.as_str() {
            Some(s) if serde_json::from_str::<Value>(s).is_ok() => Ok(s.to_string()),
            _ => Err(format!(
                "events[{i}] is not a string holding a JSON document"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow_room_7(ask: Ask<'_>, auth: &Authorization) -> Result<(), String> {
        let token = auth
            .get("Authorization")
            .and_then(Value::as_str)
            .unwrap_or("");
        match ask {
            Ask::Subscribe("/zhibo/demo/7") if token == "good" => Ok(()),
            Ask::Publish(_) => Err("viewers cannot publish".into()),
            _ => Err("not this channel".into()),
        }
    }

    fn auth(token: &str) -> Authorization {
        let mut a = Map::new();
        a.insert("Authorization".into(), Value::from(token));
        a
    }

    fn sent(actions: &[Action]) -> Vec<Value> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn init_subscribe_unsubscribe() {
        let mut s = Session::new();
        let conn = auth("good");
        let a = s.on_frame(r#"{"type":"connection_init"}"#, &conn, &allow_room_7);
        assert_eq!(sent(&a)[0]["type"], "connection_ack");
        assert_eq!(sent(&a)[0]["connectionTimeoutMs"], 300000);
        let a = s.on_frame(
            r#"{"type":"subscribe","id":"s1","channel":"/zhibo/demo/7"}"#,
            &conn,
            &allow_room_7,
        );
        assert_eq!(
            a[0],
            Action::Subscribe {
                id: "s1".into(),
                channel: "/zhibo/demo/7".into()
            }
        );
        assert_eq!(
            sent(&a)[0],
            json!({"type": "subscribe_success", "id": "s1"})
        );
        assert_eq!(s.channel_of("s1"), Some("/zhibo/demo/7"));
        // The same id again: refused.
        let a = s.on_frame(
            r#"{"type":"subscribe","id":"s1","channel":"/zhibo/demo/7"}"#,
            &conn,
            &allow_room_7,
        );
        assert_eq!(sent(&a)[0]["type"], "subscribe_error");
        let a = s.on_frame(r#"{"type":"unsubscribe","id":"s1"}"#, &conn, &allow_room_7);
        assert_eq!(a[0], Action::Unsubscribe { id: "s1".into() });
        assert_eq!(
            sent(&a)[0],
            json!({"type": "unsubscribe_success", "id": "s1"})
        );
        let a = s.on_frame(r#"{"type":"unsubscribe","id":"s1"}"#, &conn, &allow_room_7);
        assert_eq!(sent(&a)[0]["type"], "unsubscribe_error");
    }

    #[test]
    fn refusals_carry_the_authorizers_reason() {
        let mut s = Session::new();
        let a = s.on_frame(
            r#"{"type":"subscribe","id":"s","channel":"/zhibo/demo/8"}"#,
            &auth("good"),
            &allow_room_7,
        );
        let f = &sent(&a)[0];
        assert_eq!(f["type"], "subscribe_error");
        assert_eq!(f["id"], "s");
        assert_eq!(f["errors"][0]["errorType"], "UnauthorizedException");
        assert_eq!(f["errors"][0]["message"], "not this channel");
        // A frame's own authorization wins over the connection's.
        let a = s.on_frame(
            r#"{"type":"subscribe","id":"s","channel":"/zhibo/demo/7","authorization":{"Authorization":"bad"}}"#,
            &auth("good"),
            &allow_room_7,
        );
        assert_eq!(sent(&a)[0]["type"], "subscribe_error");
        let a = s.on_frame(
            r#"{"type":"publish","id":"p","channel":"/zhibo/demo/7","events":["{}"]}"#,
            &auth("good"),
            &allow_room_7,
        );
        assert_eq!(sent(&a)[0]["type"], "publish_error");
        assert_eq!(
            sent(&a)[0]["errors"][0]["message"],
            "viewers cannot publish"
        );
    }

    #[test]
    fn hostile_frames_are_answered_not_obeyed() {
        let mut s = Session::new();
        let conn = auth("good");
        for frame in [
            "not json",
            "[1,2]",
            r#"{"type":"start"}"#,
            &format!(
                r#"{{"type":"connection_init","pad":"{}"}}"#,
                "x".repeat(MAX_FRAME_BYTES)
            ),
        ] {
            let a = s.on_frame(frame, &conn, &allow_room_7);
            assert_eq!(
                sent(&a)[0]["type"],
                "error",
                "{}",
                &frame[..frame.len().min(40)]
            );
        }
        let a = s.on_frame(
            &format!(
                r#"{{"type":"subscribe","id":"{}","channel":"/zhibo/demo/7"}}"#,
                "i".repeat(200)
            ),
            &conn,
            &allow_room_7,
        );
        assert_eq!(sent(&a)[0]["type"], "subscribe_error");
        let a = s.on_frame(
            r#"{"type":"subscribe","id":"x","channel":"no-slash"}"#,
            &conn,
            &allow_room_7,
        );
        assert_eq!(sent(&a)[0]["type"], "subscribe_error");
        let a = s.on_frame(r#"{"type":"publish","id":"p","channel":"/zhibo/demo/7","events":["{}","{}","{}","{}","{}","{}"]}"#, &conn, &allow_room_7);
        assert_eq!(sent(&a)[0]["type"], "publish_error");
        let a = s.on_frame(
            r#"{"type":"publish","id":"p","channel":"/zhibo/demo/7","events":["not json"]}"#,
            &conn,
            &allow_room_7,
        );
        assert_eq!(sent(&a)[0]["type"], "publish_error");
    }

    #[test]
    fn subscriptions_per_connection_are_bounded() {
        let mut s = Session::new();
        let conn = auth("good");
        for i in 0..MAX_SUBSCRIPTIONS {
            let a = s.on_frame(
                &format!(r#"{{"type":"subscribe","id":"s{i}","channel":"/zhibo/demo/7"}}"#),
                &conn,
                &allow_room_7,
            );
            assert_eq!(sent(&a)[0]["type"], "subscribe_success");
        }
        let a = s.on_frame(
            r#"{"type":"subscribe","id":"one-more","channel":"/zhibo/demo/7"}"#,
            &conn,
            &allow_room_7,
        );
        assert_eq!(
            sent(&a)[0]["errors"][0]["errorType"],
            "LimitExceededException"
        );
    }
}
