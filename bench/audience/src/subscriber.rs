//! A viewer subscribed to a room's channel over the AppSync Events WebSocket protocol, as the
//! demo page and the mini-program do, on its own thread and runtime (so the load generator's
//! scheduling does not delay its reads). Every `data` frame is stamped when read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// One item received on the channel.
#[derive(Debug, Clone)]
pub struct Received {
    /// When its frame was read.
    pub at: Instant,
    /// The item's `type`.
    pub kind: String,
    /// Its `seq`.
    pub seq: u64,
    /// Its `at_ms` (server time).
    pub at_ms: i64,
    /// `data.text` of a message.
    pub text: Option<String>,
    /// `data.total` of a `likes` item.
    pub total: Option<u64>,
}

/// What the subscriber has received so far.
pub type Inbox = Arc<Mutex<Vec<Received>>>;

/// Connects with the grant's `realtime` block (`POST /v1/rooms/{id}/viewer-tokens`),
/// subscribes, and keeps reading on a thread of its own. Returns once subscribed.
pub fn start(grant: &Value) -> Result<Inbox, String> {
    let rt = grant["realtime"].clone();
    let inbox: Inbox = Arc::default();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let sink = inbox.clone();
    std::thread::Builder::new()
        .name("subscriber".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(run(rt, sink, ready_tx));
        })
        .map_err(|e| format!("subscriber thread: {e}"))?;
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| "the subscriber did not get subscribe_success within 20 s".to_string())??;
    Ok(inbox)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(rt: &Value) -> Result<Socket, String> {
    let mut req = rt["ws"]
        .as_str()
        .ok_or("the grant has no realtime.ws")?
        .into_client_request()
        .map_err(|e| format!("realtime.ws: {e}"))?;
    let header = URL_SAFE_NO_PAD.encode(rt["authorization"].to_string());
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("aws-appsync-event-ws, header-{header}")
            .parse()
            .map_err(|e| format!("subprotocol header: {e}"))?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    send(&mut ws, json!({"type": "connection_init"})).await?;
    expect(&mut ws, "connection_ack").await?;
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "room", "channel": rt["channel"], "authorization": rt["authorization"]}),
    )
    .await?;
    expect(&mut ws, "subscribe_success").await?;
    Ok(ws)
}

async fn send(ws: &mut Socket, v: Value) -> Result<(), String> {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .map_err(|e| format!("send: {e}"))
}

async fn expect(ws: &mut Socket, kind: &str) -> Result<(), String> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| format!("no {kind} within 10 s"))?
            .ok_or("the socket closed")?
            .map_err(|e| format!("read: {e}"))?;
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
            if v["type"] == kind {
                return Ok(());
            }
            if v["type"] != "ka" {
                return Err(format!("expected {kind}, got {v}"));
            }
        }
    }
}

async fn run(rt: Value, inbox: Inbox, ready: std::sync::mpsc::Sender<Result<(), String>>) {
    let mut ws = match connect(&rt).await {
        Ok(ws) => {
            let _ = ready.send(Ok(()));
            ws
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while let Some(Ok(frame)) = ws.next().await {
        let at = Instant::now();
        let Message::Text(t) = frame else {
            continue;
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
        if v["type"] != "data" {
            continue;
        }
        let item: Value = v["event"]
            .as_str()
            .and_then(|e| serde_json::from_str(e).ok())
            .unwrap_or(Value::Null);
        let got = Received {
            at,
            kind: item["type"].as_str().unwrap_or("").to_string(),
            seq: item["seq"].as_u64().unwrap_or(0),
            at_ms: item["at_ms"].as_i64().unwrap_or(0),
            text: item["data"]["text"].as_str().map(str::to_string),
            total: item["data"]["total"].as_u64(),
        };
        inbox.lock().unwrap_or_else(|e| e.into_inner()).push(got);
    }
}
