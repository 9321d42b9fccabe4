//! The local AppSync Events stand-in over real sockets: clients connect with the protocol's
//! subprotocols, subscribe with viewer tokens and receive what zhibo publishes, in order;
//! tokens for another room, expired or tampered ones, and viewers publishing are refused.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use zhibo_core::audience::token::{Role, ViewerClaims};
use zhibo_local::realtime::server::{router, Hub, RealtimeAuth};

const VIEWER_KEY: &str = "viewer-token-key-0123456789";
const PUBLISH_KEY: &str = "local-publish-key-0123456789";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn serve() -> String {
    let app = router(
        Hub::new(),
        RealtimeAuth {
            viewer_token_key: VIEWER_KEY.into(),
            publish_key: PUBLISH_KEY.into(),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("127.0.0.1:{}", addr.port())
}

fn token(room_id: u64, exp: i64) -> String {
    ViewerClaims {
        app_id: "demo".into(),
        room_id,
        user_id: format!("user-{room_id}"),
        nickname: "观众".into(),
        avatar: String::new(),
        role: Role::Viewer,
        exp,
    }
    .sign(VIEWER_KEY)
}

async fn connect(host: &str, authorization: Value) -> Socket {
    let mut req = format!("ws://{host}/event/realtime")
        .into_client_request()
        .unwrap();
    let header = URL_SAFE_NO_PAD.encode(authorization.to_string());
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("aws-appsync-event-ws, header-{header}")
            .parse()
            .unwrap(),
    );
    let (ws, res) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    assert_eq!(
        res.headers()["sec-websocket-protocol"],
        "aws-appsync-event-ws"
    );
    ws
}

async fn send(ws: &mut Socket, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

async fn next(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("the connection is open")
            .expect("a frame");
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] != "ka" {
                    return v;
                }
            }
            Message::Close(_) => return json!({"type": "closed"}),
            _ => {}
        }
    }
}

async fn subscribed(host: &str, room: u64, id: &str) -> Socket {
    let t = token(7, zhibo_core::clock::now() + 600);
    let auth = json!({"host": host, "Authorization": t});
    let mut ws = connect(host, auth.clone()).await;
    send(&mut ws, json!({"type": "connection_init"})).await;
    let ack = next(&mut ws).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    assert_eq!(ack["connectionTimeoutMs"], 300000);
    send(
        &mut ws,
        json!({"type": "subscribe", "id": id, "channel": format!("/zhibo/demo/{room}"), "authorization": auth}),
    )
    .await;
    ws
}

#[tokio::test]
async fn three_subscribers_receive_every_published_event_in_order() {
    let host = serve().await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut ws = subscribed(&host, 7, &format!("sub-{i}")).await;
        let ok = next(&mut ws).await;
        assert_eq!(
            ok,
            json!({"type": "subscribe_success", "id": format!("sub-{i}")})
        );
        clients.push(ws);
    }
    let http = reqwest::Client::new();
    for batch in 0..40 {
        let events: Vec<String> = (0..5)
            .map(|i| json!({"seq": batch * 5 + i + 1}).to_string())
            .collect();
        let r = http
            .post(format!("http://{host}/event"))
            .header("x-api-key", PUBLISH_KEY)
            .json(&json!({"channel": "/zhibo/demo/7", "events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["successful"].as_array().unwrap().len(), 5);
        assert_eq!(body["failed"], json!([]));
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        for want in 1..=200 {
            let f = next(ws).await;
            assert_eq!(f["type"], "data", "{f}");
            assert_eq!(f["id"], format!("sub-{i}"));
            let event: Value = serde_json::from_str(f["event"].as_str().unwrap()).unwrap();
            assert_eq!(event["seq"], want, "client {i}: no gap, publish order");
        }
    }
    // Unsubscribed: nothing more arrives on that id.
    send(
        &mut clients[0],
        json!({"type": "unsubscribe", "id": "sub-0"}),
    )
    .await;
    assert_eq!(
        next(&mut clients[0]).await,
        json!({"type": "unsubscribe_success", "id": "sub-0"})
    );
}

#[tokio::test]
async fn tokens_open_only_their_room_and_viewers_cannot_publish() {
    let host = serve().await;
    // A valid token for room 7 asks for room 8: refused with the reason.
    let mut ws = subscribed(&host, 8, "s").await;
    let f = next(&mut ws).await;
    assert_eq!(f["type"], "subscribe_error", "{f}");
    assert_eq!(f["errors"][0]["errorType"], "UnauthorizedException");
    assert!(
        f["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/zhibo/demo/7"),
        "{f}"
    );
    // Publishing with a viewer token, over the socket and over HTTP: refused.
    send(
        &mut ws,
        json!({"type": "publish", "id": "p", "channel": "/zhibo/demo/7", "events": ["{}"]}),
    )
    .await;
    let f = next(&mut ws).await;
    assert_eq!(f["type"], "publish_error", "{f}");
    let r = reqwest::Client::new()
        .post(format!("http://{host}/event"))
        .header("authorization", token(7, zhibo_core::clock::now() + 600))
        .json(&json!({"channel": "/zhibo/demo/7", "events": ["{}"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = reqwest::Client::new()
        .post(format!("http://{host}/event"))
        .header("x-api-key", "wrong-key")
        .json(&json!({"channel": "/zhibo/demo/7", "events": ["{}"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Expired and tampered tokens cannot even connect: a connection_error says why.
    for (bad, why) in [
        (token(7, zhibo_core::clock::now() - 1), "expired"),
        (
            token(7, zhibo_core::clock::now() + 600).replace("zv1.demo.", "zv1.other."),
            "does not match",
        ),
        (String::new(), "malformed"),
    ] {
        let mut ws = connect(&host, json!({"host": host, "Authorization": bad})).await;
        let f = next(&mut ws).await;
        assert_eq!(f["type"], "connection_error", "{f}");
        assert!(
            f["errors"][0]["message"].as_str().unwrap().contains(why),
            "{f}"
        );
        assert_eq!(next(&mut ws).await["type"], "closed");
    }
}

#[tokio::test]
async fn a_connection_without_the_protocol_is_refused_with_what_to_offer() {
    let host = serve().await;
    let req = format!("ws://{host}/event/realtime")
        .into_client_request()
        .unwrap();
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => {
            assert_eq!(res.status(), 400);
            let body = String::from_utf8(res.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("aws-appsync-event-ws"), "{body}");
        }
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}
