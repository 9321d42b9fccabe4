//! The shell around [`super::protocol`]: the WebSocket endpoint, HTTP publish and the hub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use zhibo_core::audience::channel::{authorize, Operation};
use zhibo_core::signing::constant_time_eq;

use super::protocol::{
    checked_events, data_frame, error_entry, publish_result, Action, Ask, Authorization, Session,
    MAX_FRAME_BYTES,
};

/// The WebSocket subprotocol AppSync Events clients offer.
pub const SUBPROTOCOL: &str = "aws-appsync-event-ws";
/// Where clients connect.
pub const REALTIME_PATH: &str = "/event/realtime";
/// Where publishers POST.
pub const PUBLISH_PATH: &str = "/event";
/// How often a `ka` is sent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(60);
/// Events a channel keeps for a subscriber that is behind; past that it is cut off.
pub const CHANNEL_BUFFER: usize = 1024;
/// Frames queued for one connection's socket.
const OUTBOUND_FRAMES: usize = 256;
/// Largest HTTP publish body.
const MAX_PUBLISH_BODY: usize = 64 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The channels and their subscribers, in process.
#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// Receives what is published on `channel` from now on.
    pub fn subscribe(&self, channel: &str) -> broadcast::Receiver<Arc<str>> {
        lock(&self.channels)
            .entry(channel.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_BUFFER).0)
            .subscribe()
    }

    /// Publishes events (JSON strings) on `channel`, in order; returns each one's identifier.
    pub fn publish(&self, channel: &str, events: &[String]) -> Vec<String> {
        let mut channels = lock(&self.channels);
        let sender = channels.get(channel).cloned();
        if sender.as_ref().is_some_and(|s| s.receiver_count() == 0) {
            channels.remove(channel);
        }
        drop(channels);
        events
            .iter()
            .map(|event| {
                if let Some(s) = &sender {
                    let _ = s.send(Arc::from(event.as_str()));
                }
                zhibo_core::ids::random_hex(16)
            })
            .collect()
    }
}

/// Who may use the endpoint: viewer tokens (checked with the deployment's `VIEWER_TOKEN_KEY`,
/// by zhibo's channel rule) and, for publishing, zhibo's own functions with `publish_key` (the
/// local stand-in for IAM).
#[derive(Clone)]
pub struct RealtimeAuth {
    /// `VIEWER_TOKEN_KEY`.
    pub viewer_token_key: String,
    /// The key zhibo's functions publish with locally (`x-api-key`).
    pub publish_key: String,
}

impl RealtimeAuth {
    fn is_publisher(&self, auth: &Authorization) -> bool {
        auth.get("x-api-key")
            .and_then(Value::as_str)
            .is_some_and(|k| constant_time_eq(k.as_bytes(), self.publish_key.as_bytes()))
    }

    fn token(auth: &Authorization) -> &str {
        auth.get("Authorization")
            .or_else(|| auth.get("authorization"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// May this authorization open a connection?
    pub fn connect(&self, auth: &Authorization) -> Result<(), String> {
        if self.is_publisher(auth) {
            return Ok(());
        }
        authorize(
            &self.viewer_token_key,
            Self::token(auth),
            Operation::Connect,
            zhibo_core::clock::now(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// May it subscribe or publish?
    pub fn ask(&self, ask: Ask<'_>, auth: &Authorization) -> Result<(), String> {
        if self.is_publisher(auth) {
            return Ok(());
        }
        let op = match ask {
            Ask::Subscribe(c) => Operation::Subscribe(c),
            Ask::Publish(c) => Operation::Publish(c),
        };
        authorize(
            &self.viewer_token_key,
            Self::token(auth),
            op,
            zhibo_core::clock::now(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

#[derive(Clone)]
struct Realtime {
    hub: Arc<Hub>,
    auth: Arc<RealtimeAuth>,
}

/// `GET /event/realtime` and `POST /event`, as AppSync Events serves them.
pub fn router(hub: Arc<Hub>, auth: RealtimeAuth) -> Router {
    Router::new()
        .route(REALTIME_PATH, get(upgrade))
        .route(PUBLISH_PATH, post(http_publish))
        .with_state(Realtime {
            hub,
            auth: Arc::new(auth),
        })
}

/// The authorization a client put in its `header-{base64url(JSON)}` subprotocol.
fn subprotocol_auth(headers: &HeaderMap) -> Authorization {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix("header-"))
        .filter(|b64| b64.len() <= 8 * 1024)
        .and_then(|b64| URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok())
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

async fn upgrade(State(rt): State<Realtime>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let offered = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim() == SUBPROTOCOL));
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": [error_entry("BadRequestException", "offer the WebSocket subprotocols aws-appsync-event-ws and header-{base64url(JSON authorization)}")]})),
        )
            .into_response();
    }
    let auth = subprotocol_auth(&headers);
    ws.protocols([SUBPROTOCOL])
        .max_message_size(MAX_FRAME_BYTES + 1024)
        .max_frame_size(MAX_FRAME_BYTES + 1024)
        .on_upgrade(move |socket| connection(socket, rt, auth))
}

async fn connection(socket: WebSocket, rt: Realtime, conn_auth: Authorization) {
    let (mut sink, mut stream) = socket.split();
    if let Err(why) = rt.auth.connect(&conn_auth) {
        // As AppSync: the refusal as a frame the client can read, then close.
        let frame = json!({"type": "connection_error", "errors": [error_entry("UnauthorizedException", &why)]});
        let _ = sink.send(Message::Text(frame.to_string().into())).await;
        let _ = sink.close().await;
        return;
    }
    let (out, mut out_rx) = mpsc::channel::<Value>(OUTBOUND_FRAMES);
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if sink
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut session = Session::new();
    let mut subscriptions: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let authorize = |ask: Ask<'_>, auth: &Authorization| rt.auth.ask(ask, auth);
    loop {
        tokio::select! {
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let _ = out.send(json!({"type": "error", "errors": [error_entry("BadRequestException", "binary frames are not part of the protocol: send JSON text")]})).await;
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                for action in session.on_frame(text.as_str(), &conn_auth, &authorize) {
                    match action {
                        Action::Send(frame) => {
                            if out.send(frame).await.is_err() {
                                break;
                            }
                        }
                        Action::Subscribe { id, channel } => {
                            let rx = rt.hub.subscribe(&channel);
                            let task = tokio::spawn(forward(rx, id.clone(), out.clone()));
                            subscriptions.insert(id, task);
                        }
                        Action::Unsubscribe { id } => {
                            if let Some(task) = subscriptions.remove(&id) {
                                task.abort();
                            }
                        }
                        Action::Publish { id, channel, events } => {
                            let ids = rt.hub.publish(&channel, &events);
                            let mut frame = publish_result(&ids);
                            frame["type"] = Value::from("publish_success");
                            frame["id"] = Value::from(id);
                            let _ = out.send(frame).await;
                        }
                    }
                }
            }
            _ = keep_alive.tick() => {
                if out.send(json!({"type": "ka"})).await.is_err() {
                    break;
                }
            }
        }
    }
    for (_, task) in subscriptions {
        task.abort();
    }
    drop(out);
    let _ = writer.await;
}

/// Forwards one subscription's events as `data` frames, in publish order. A subscriber that
/// falls [`CHANNEL_BUFFER`] events behind is told so and its subscription ends (it reads the
/// gap from the history and subscribes again).
async fn forward(mut rx: broadcast::Receiver<Arc<str>>, id: String, out: mpsc::Sender<Value>) {
    loop {
        match rx.recv().await {
            Ok(event) => {
                if out.send(data_frame(&id, &event)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let _ = out
                    .send(json!({"type": "subscribe_error", "id": id, "errors": [error_entry(
                        "LimitExceededException",
                        &format!("this subscription fell {missed} events behind and was ended: read the gap from the history (after_seq) and subscribe again"),
                    )]}))
                    .await;
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// `POST /event` `{"channel", "events": [JSON strings]}` with `x-api-key` (zhibo's functions).
async fn http_publish(State(rt): State<Realtime>, headers: HeaderMap, body: Bytes) -> Response {
    let refuse = |status: StatusCode, error_type: &str, message: &str| {
        (
            status,
            Json(json!({"errors": [error_entry(error_type, message)]})),
        )
            .into_response()
    };
    let mut auth = Map::new();
    for name in ["x-api-key", "authorization"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            let key = if name == "authorization" {
                "Authorization"
            } else {
                name
            };
            auth.insert(key.to_string(), Value::from(v));
        }
    }
    if body.len() > MAX_PUBLISH_BODY {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BadRequestException",
            "the body is larger than 64 KiB",
        );
    }
    let Ok(Value::Object(msg)) = serde_json::from_slice::<Value>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "the body must be a JSON object {\"channel\", \"events\"}",
        );
    };
    let Some(channel) = msg
        .get("channel")
        .and_then(Value::as_str)
        .filter(|c| c.starts_with('/') && c.len() <= 256)
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "channel must be a path like /namespace/segment",
        );
    };
    let events = match checked_events(msg.get("events")) {
        Ok(e) => e,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "BadRequestException", &e),
    };
    if let Err(why) = rt.auth.ask(Ask::Publish(channel), &auth) {
        return refuse(StatusCode::UNAUTHORIZED, "UnauthorizedException", &why);
    }
    let ids = rt.hub.publish(channel, &events);
    (StatusCode::OK, Json(publish_result(&ids))).into_response()
}
