//! The worker's hooks against a real HTTP receiver: signed, numbered per session, `publish`
//! decides, a `heartbeat` answer drops the publisher, an unreachable hook refuses publishes, and
//! the `unpublish` says whether the encoder stopped cleanly or its connection dropped.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use common::*;
use zhibo_core::hooks::{HookAnswer, HookEvent, HookEventKind, UnpublishReason};
use zhibo_core::signing::BodySignature;
use zhibo_media::hls::parse_media_playlist;

const SECRET: &str = "hook-secret-for-tests-0123";

#[derive(Default)]
struct Receiver {
    events: Mutex<Vec<HookEvent>>,
    deny_publish: Mutex<HashSet<u64>>,
    deny_heartbeat: Mutex<HashSet<u64>>,
    bad_signatures: Mutex<u32>,
    /// Answer this many of the next publish hooks 503 (a cold or throttled hooks function).
    fail_publishes: Mutex<u32>,
}

async fn hook(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<HookAnswer>) {
    let sig = headers.get("zhibo-signature").and_then(|v| v.to_str().ok());
    if BodySignature::verify(SECRET.as_bytes(), sig, &body, zhibo_core::clock::now()).is_err() {
        *r.bad_signatures.lock().unwrap() += 1;
        return (
            StatusCode::UNAUTHORIZED,
            Json(HookAnswer {
                allow: false,
                reason: Some("bad signature".into()),
                live_over: false,
            }),
        );
    }
    let event: HookEvent = serde_json::from_slice(&body).expect("a hook event");
    if event.event == HookEventKind::Publish {
        let mut failing = r.fail_publishes.lock().unwrap();
        if *failing > 0 {
            *failing -= 1;
            r.events.lock().unwrap().push(event);
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HookAnswer {
                    allow: false,
                    reason: Some("cold start".into()),
                    live_over: false,
                }),
            );
        }
    }
    let deny = match event.event {
        HookEventKind::Publish => r.deny_publish.lock().unwrap().contains(&event.room_id),
        HookEventKind::Heartbeat => r.deny_heartbeat.lock().unwrap().contains(&event.room_id),
        HookEventKind::Unpublish => false,
    };
    r.events.lock().unwrap().push(event);
    if deny {
        (
            StatusCode::FORBIDDEN,
            Json(HookAnswer {
                allow: false,
                reason: Some("room is banned".into()),
                live_over: false,
            }),
        )
    } else {
        (
            StatusCode::OK,
            Json(HookAnswer {
                allow: true,
                reason: None,
                live_over: false,
            }),
        )
    }
}

async fn start_receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/internal/hooks", post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/internal/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, url)
}

fn events_of(r: &Receiver, room: u64) -> Vec<HookEvent> {
    r.events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.room_id == room)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_are_signed_numbered_and_obeyed() {
    let (receiver, url) = start_receiver().await;
    let worker = WorkerProc::start(&[
        ("ZHIBO_HOOK_URL", &url),
        ("HOOK_SECRET", SECRET),
        ("ZHIBO_HEARTBEAT_S", "1"),
    ])
    .await;

    // Allowed: publish, heartbeats, unpublish — one session, seq 0, 1, 2, …
    let room = unique_room();
    let (ok, err) = finish(
        publish(&worker.url(&signed_key(room)), 5),
        Duration::from_secs(30),
    )
    .await;
    assert!(ok, "{err}");
    wait_for(Duration::from_secs(10), "the unpublish hook", || {
        let r = receiver.clone();
        async move {
            events_of(&r, room)
                .iter()
                .any(|e| e.event == HookEventKind::Unpublish)
        }
    })
    .await;
    let events = events_of(&receiver, room);
    assert_eq!(events[0].event, HookEventKind::Publish);
    assert_eq!(events.last().unwrap().event, HookEventKind::Unpublish);
    assert!(
        events
            .iter()
            .filter(|e| e.event == HookEventKind::Heartbeat)
            .count()
            >= 2,
        "{events:?}"
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
        assert_eq!(e.session_id, events[0].session_id);
        assert_eq!(e.stream_name, format!("{APP}_{room}"));
        assert_eq!(e.app_id, APP);
        assert_eq!(e.client_ip, "127.0.0.1");
        assert_eq!(e.worker_id, format!("e2e-{}", worker.rtmp_port));
    }
    assert_eq!(
        events
            .iter()
            .map(|e| &e.event_id)
            .collect::<HashSet<_>>()
            .len(),
        events.len()
    );

    // Denied by the publish hook: refused, nothing written.
    let denied = unique_room();
    receiver.deny_publish.lock().unwrap().insert(denied);
    let (ok, _) = finish(
        publish(&worker.url(&signed_key(denied)), 5),
        Duration::from_secs(30),
    )
    .await;
    assert!(!ok, "a publish the hook denies fails");
    assert!(
        get_object(&zhibo_core::object_keys::live_playlist(APP, denied))
            .await
            .is_none()
    );
    assert!(
        worker.log_text().contains("room is banned"),
        "the refusal carries the hook's reason"
    );

    // A heartbeat answered allow:false drops the publisher long before its 30 s.
    let kicked = unique_room();
    receiver.deny_heartbeat.lock().unwrap().insert(kicked);
    let (_ok, _) = finish(
        publish(&worker.url(&signed_key(kicked)), 30),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(worker.metric("zhibo_kicked_total").await, 1.0);
    let live = get_text(&zhibo_core::object_keys::live_playlist(APP, kicked)).await;
    if let Some(text) = live {
        let total: f64 = parse_media_playlist(&text)
            .unwrap()
            .segments
            .iter()
            .map(|s| s.duration)
            .sum();
        assert!(
            total < 15.0,
            "the publisher was dropped early, yet {total} s were written"
        );
    }
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_hook_refuses_publishes() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/internal/hooks", closed.local_addr().unwrap());
    drop(closed);
    let worker = WorkerProc::start(&[("ZHIBO_HOOK_URL", &url), ("HOOK_SECRET", SECRET)]).await;
    let room = unique_room();
    let (ok, _) = finish(
        publish(&worker.url(&signed_key(room)), 5),
        Duration::from_secs(30),
    )
    .await;
    assert!(!ok);
    assert!(worker.log_text().contains("unreachable"));
    assert_eq!(worker.metric("zhibo_publishes_total").await, 0.0);
}

/// Security review L13: the publish hook fails closed, so one transient failure (a cold start,
/// a throttled burst) is retried once with the same event before the publish is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_hook_failing_once_is_retried() {
    let (receiver, url) = start_receiver().await;
    let worker = WorkerProc::start(&[("ZHIBO_HOOK_URL", &url), ("HOOK_SECRET", SECRET)]).await;
    let room = unique_room();
    *receiver.fail_publishes.lock().unwrap() = 1;
    let (ok, log) = finish(
        publish(&worker.url(&signed_key(room)), 4),
        Duration::from_secs(30),
    )
    .await;
    assert!(ok, "the publish must succeed on the retry: {log}");
    assert_eq!(worker.metric("zhibo_publishes_total").await, 1.0);
    let publishes: Vec<HookEvent> = events_of(&receiver, room)
        .into_iter()
        .filter(|e| e.event == HookEventKind::Publish)
        .collect();
    assert_eq!(publishes.len(), 2, "one failed attempt, one retry");
    assert_eq!(publishes[0].event_id, publishes[1].event_id);

    // Failing twice refuses the publish: one retry, not a loop.
    let room = unique_room();
    *receiver.fail_publishes.lock().unwrap() = 2;
    let (ok, _) = finish(
        publish(&worker.url(&signed_key(room)), 4),
        Duration::from_secs(30),
    )
    .await;
    assert!(!ok);
    assert_eq!(worker.metric("zhibo_publishes_total").await, 1.0);
}

/// The room's unpublish hook, once it arrived.
async fn unpublish_of(receiver: &Arc<Receiver>, room: u64) -> HookEvent {
    wait_for(Duration::from_secs(20), "the unpublish hook", || {
        let r = receiver.clone();
        async move {
            events_of(&r, room)
                .iter()
                .any(|e| e.event == HookEventKind::Unpublish)
        }
    })
    .await;
    let unpublishes: Vec<HookEvent> = events_of(receiver, room)
        .into_iter()
        .filter(|e| e.event == HookEventKind::Unpublish)
        .collect();
    assert_eq!(unpublishes.len(), 1, "one unpublish: {unpublishes:?}");
    unpublishes[0].clone()
}

/// ffmpeg that reaches the end of its input closes the RTMP stream (`FCUnpublish`,
/// `deleteStream`): the unpublish says `stopped`. ffmpeg killed with SIGKILL sends nothing more,
/// the socket just closes: `dropped`. Neither carries a reason on publish or heartbeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublish_says_whether_the_encoder_stopped_or_dropped() {
    let (receiver, url) = start_receiver().await;
    let worker = WorkerProc::start(&[
        ("ZHIBO_HOOK_URL", &url),
        ("HOOK_SECRET", SECRET),
        ("ZHIBO_HEARTBEAT_S", "1"),
    ])
    .await;

    // `ffmpeg -t 3 ... -f flv rtmp://...` ending normally.
    let stopped = unique_room();
    let (ok, err) = finish(
        publish(&worker.url(&signed_key(stopped)), 3),
        Duration::from_secs(30),
    )
    .await;
    assert!(ok, "ffmpeg must finish normally: {err}");
    let e = unpublish_of(&receiver, stopped).await;
    assert_eq!(
        e.reason,
        Some(UnpublishReason::Stopped),
        "a finished ffmpeg stops cleanly: {e:?}; log: {}",
        worker.log_text()
    );

    // The same publisher killed mid-stream, once the worker heard from it (a heartbeat).
    let dropped = unique_room();
    let mut ffmpeg = publish(&worker.url(&signed_key(dropped)), 60);
    wait_for(
        Duration::from_secs(20),
        "a heartbeat of the publish",
        || {
            let r = receiver.clone();
            async move {
                events_of(&r, dropped)
                    .iter()
                    .any(|e| e.event == HookEventKind::Heartbeat)
            }
        },
    )
    .await;
    ffmpeg.kill().await.expect("SIGKILL ffmpeg"); // tokio's kill is SIGKILL on Unix
    let e = unpublish_of(&receiver, dropped).await;
    assert_eq!(
        e.reason,
        Some(UnpublishReason::Dropped),
        "a killed ffmpeg's connection dropped: {e:?}; log: {}",
        worker.log_text()
    );

    for room in [stopped, dropped] {
        for e in events_of(&receiver, room) {
            if e.event != HookEventKind::Unpublish {
                assert_eq!(e.reason, None, "{e:?}");
            }
        }
    }
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
}
