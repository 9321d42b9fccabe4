//! The full path: real ffmpeg → worker → `/internal/hooks` of the API (DynamoDB Local) → the
//! live-status state machine → signed webhooks to a real receiver. Publishing makes the room
//! 101 and sends `room.started`; killing ffmpeg makes it 106, and after the (shortened) abnormal
//! window 103; `ban` drops the publisher within a heartbeat and refuses the republish.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::*;
use zhibo_e2e_tests::{TestApi, TEST_HOOK_SECRET};
use zhibo_shared::signing::UrlSignature;
use zhibo_shared::webhook::{self, WebhookEvent};

#[derive(Default)]
struct Receiver {
    secret: Mutex<String>,
    events: Mutex<Vec<WebhookEvent>>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = r.secret.lock().unwrap().clone();
    let sig = headers.get("zhibo-signature").and_then(|v| v.to_str().ok());
    match webhook::verify(&secret, sig, &body, now_s()) {
        Ok(e) => {
            r.events.lock().unwrap().push(e);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

async fn receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (r, url)
}

async fn status(api: &TestApi, room: u64) -> u64 {
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/status"), "")
        .await;
    r.json["live_status"].as_u64().unwrap_or(0)
}

fn push_url(worker: &WorkerProc, app: &str, room: u64) -> String {
    let name = zhibo_shared::room::stream_name(app, room);
    let sig = UrlSignature::sign(PUSH_KEY, &name, now_s() + 3600);
    worker.url(&format!("{name}?{}", sig.query()))
}

fn types(r: &Receiver, room: u64) -> Vec<String> {
    r.events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.room_id == room)
        .map(|e| e.kind.as_str().to_string())
        .collect()
}

#[tokio::test]
async fn ffmpeg_drives_the_lifecycle_and_webhooks() {
    let api = TestApi::start_with(&[
        ("ABNORMAL_TIMEOUT_S", "4"),
        ("WEBHOOK_ALLOW_HTTP", "1"),
        ("WEBHOOK_RETRY_BASE_MS", "200"),
    ])
    .await;
    let _sweeper = api.spawn_sweeper(Duration::from_millis(300));
    let _delivery = api.spawn_delivery(Duration::from_millis(200));
    let (rx, url) = receiver().await;
    let r = api
        .call("PUT", "/v1/webhook", &format!(r#"{{"url":"{url}"}}"#))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    *rx.secret.lock().unwrap() = r.json["secret"].as_str().unwrap().to_string();

    let hook_url = format!("{}/internal/hooks", api.base);
    let worker = WorkerProc::start(&[
        ("ZHIBO_HOOK_URL", &hook_url),
        ("HOOK_SECRET", TEST_HOOK_SECRET),
        ("ZHIBO_HEARTBEAT_S", "1"),
    ])
    .await;
    let app = api.app.app_id.clone();

    // Publish → 101 and room.started.
    let room = api.create_room("full path", 5).await;
    let ffmpeg = publish(&push_url(&worker, &app, room), 60);
    wait_for(Duration::from_secs(20), "room 101", || async {
        status(&api, room).await == 101
    })
    .await;
    wait_for(Duration::from_secs(20), "room.started webhook", || async {
        types(&rx, room).contains(&"room.started".to_string())
    })
    .await;
    // Kill the publisher → 106 (unpublish hook), then 103 after the abnormal window.
    drop(ffmpeg); // kill_on_drop
    wait_for(Duration::from_secs(30), "room 106", || async {
        status(&api, room).await == 106
    })
    .await;
    wait_for(Duration::from_secs(30), "room 103", || async {
        status(&api, room).await == 103
    })
    .await;
    wait_for(
        Duration::from_secs(20),
        "abnormal and ended webhooks",
        || async { types(&rx, room) == ["room.started", "room.abnormal", "room.ended"] },
    )
    .await;
    let seqs: Vec<u64> = rx
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.room_id == room)
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);

    // Ban drops the publisher within a heartbeat and refuses the republish.
    let banned = api.create_room("to ban", 5).await;
    let ffmpeg = publish(&push_url(&worker, &app, banned), 60);
    wait_for(Duration::from_secs(20), "banned room 101", || async {
        status(&api, banned).await == 101
    })
    .await;
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{banned}/actions"),
            r#"{"action":"ban"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Heartbeats come every second; the publisher is gone well within a few.
    let (ok, _) = finish(ffmpeg, Duration::from_secs(20)).await;
    assert!(!ok, "ffmpeg should have been disconnected");
    let again = publish(&push_url(&worker, &app, banned), 5);
    let (ok, err) = finish(again, Duration::from_secs(20)).await;
    assert!(!ok, "a banned room must not publish: {err}");
    assert_eq!(status(&api, banned).await, 104);
    wait_for(Duration::from_secs(20), "room.banned webhook", || async {
        types(&rx, banned) == ["room.started", "room.banned"]
    })
    .await;
    let log = worker.log_text();
    assert!(log.contains("banned"), "worker log lacks the ban reason");
}
