//! Audience tests' pieces: an API whose functions publish to a local AppSync Events stand-in,
//! viewer grants, and a client that subscribes exactly as docs/api.md says.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use zhibo_core::audience::item::{ItemType, RoomItem};
use zhibo_core::hooks::HookEventKind;
use zhibo_local::realtime::server::{router, Hub, RealtimeAuth};

use crate::TestApi;

/// A viewer message item at `seq` for store-level tests (no user, not deleted).
pub fn message_item(seq: u64, at_ms: i64, text: &str) -> RoomItem {
    RoomItem {
        id: format!("m{seq}_test"),
        seq,
        kind: ItemType::Message,
        at_ms,
        offset_ms: 0,
        user: None,
        data: json!({ "text": text }),
        deleted: false,
    }
}

/// The viewer-token master key of these tests.
pub const VIEWER_KEY: &str = "viewer-token-key-0123456789";
/// The functions' publish key on the stand-in.
pub const PUBLISH_KEY: &str = "e2e-publish-key-0123456789";
/// How long a client waits for a frame before the test fails.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(60);

/// The AppSync Events stand-in on a free port, and an API (with `extra` configuration) that
/// publishes to it.
pub async fn start_with_realtime(extra: &[(&str, &str)]) -> TestApi {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the realtime stand-in");
    let host = format!(
        "127.0.0.1:{}",
        listener.local_addr().expect("local address").port()
    );
    let app = router(
        Hub::new(),
        RealtimeAuth {
            viewer_token_key: VIEWER_KEY.into(),
            publish_key: PUBLISH_KEY.into(),
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let ws = format!("ws://{host}/event/realtime");
    let http = format!("http://{host}/event");
    let mut env = vec![
        ("VIEWER_TOKEN_KEY", VIEWER_KEY),
        ("REALTIME_WS_URL", ws.as_str()),
        ("REALTIME_HTTP_URL", http.as_str()),
        ("REALTIME_PUBLISH_KEY", PUBLISH_KEY),
    ];
    env.extend_from_slice(extra);
    TestApi::start_with(&env).await
}

impl TestApi {
    /// A viewer grant (`POST /v1/rooms/{room}/viewer-tokens`) for `user`.
    pub async fn viewer_grant(&self, room: u64, user: &str) -> Value {
        let r = self
            .call(
                "POST",
                &format!("/v1/rooms/{room}/viewer-tokens"),
                &json!({"user_id": user, "nickname": format!("nick-{user}")}).to_string(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json
    }

    /// Takes the room live with a publish hook.
    pub async fn go_live(&self, room: u64) {
        let session = format!("0199a0b1c2d3-{room:04}");
        let r = self
            .hook(&self.hook_event(HookEventKind::Publish, room, &session, 0))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    /// A viewer route's POST with the grant's token: status and JSON answer.
    pub async fn viewer_post(&self, grant: &Value, path: &str, body: &str) -> (u16, Value) {
        let token = grant["token"].as_str().expect("a token");
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET /v1/rooms/{room}/stats`.
    pub async fn room_stats(&self, room: u64) -> Value {
        let r = self
            .call("GET", &format!("/v1/rooms/{room}/stats"), "")
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json
    }
}

/// A realtime client subscribed to one room's channel.
pub struct RealtimeClient {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RealtimeClient {
    /// Connects and subscribes with the grant's `realtime` block, as the docs say.
    pub async fn subscribe(grant: &Value) -> RealtimeClient {
        let rt = &grant["realtime"];
        let mut req = rt["ws"]
            .as_str()
            .expect("realtime.ws")
            .into_client_request()
            .expect("a WebSocket request");
        let header = URL_SAFE_NO_PAD.encode(rt["authorization"].to_string());
        req.headers_mut().insert(
            "sec-websocket-protocol",
            format!("aws-appsync-event-ws, header-{header}")
                .parse()
                .expect("a header value"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("connect");
        let mut c = RealtimeClient { ws };
        c.send(json!({"type": "connection_init"})).await;
        assert_eq!(c.frame().await["type"], "connection_ack");
        c.send(json!({"type": "subscribe", "id": "room", "channel": rt["channel"], "authorization": rt["authorization"]}))
            .await;
        assert_eq!(c.frame().await["type"], "subscribe_success");
        c
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    /// The next frame other than keep-alives.
    pub async fn frame(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(FRAME_DEADLINE, self.ws.next())
                .await
                .expect("a frame")
                .expect("open")
                .expect("frame");
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                if v["type"] != "ka" {
                    return v;
                }
            }
        }
    }

    /// The next item published on the channel.
    pub async fn item(&mut self) -> Value {
        let f = self.frame().await;
        assert_eq!(f["type"], "data", "{f}");
        serde_json::from_str(f["event"].as_str().expect("event")).expect("an item")
    }

    /// The next item of `kind`, skipping others.
    pub async fn item_of(&mut self, kind: &str) -> Value {
        loop {
            let item = self.item().await;
            if item["type"] == kind {
                return item;
            }
        }
    }
}
