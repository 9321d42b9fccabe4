//! Security review L8: heartbeats fail open, but not forever. The room service admits the
//! publish, then its hooks fail (HTTP 500, as when the API is throttled or down) while the
//! room is banned: the worker cannot hear the ban, so after `ZHIBO_HEARTBEAT_OUTAGE_S` without
//! an answered heartbeat it drops the publisher itself.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::*;
use zhibo_core::hooks::{HookAnswer, HookEvent, HookEventKind};

const SECRET: &str = "hook-secret-for-tests-0123";

/// Admits every publish; every heartbeat fails with 500.
async fn hook(State(failed): State<Arc<AtomicU32>>, body: Bytes) -> (StatusCode, Json<HookAnswer>) {
    let event: HookEvent = serde_json::from_slice(&body).expect("a hook event");
    let answer = Json(HookAnswer {
        allow: true,
        reason: None,
        live_over: false,
    });
    match event.event {
        HookEventKind::Heartbeat => {
            failed.fetch_add(1, Ordering::SeqCst);
            (StatusCode::INTERNAL_SERVER_ERROR, answer)
        }
        _ => (StatusCode::OK, answer),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_is_dropped_after_a_hooks_outage() {
    let failed = Arc::new(AtomicU32::new(0));
    let app = Router::new()
        .route("/internal/hooks", post(hook))
        .with_state(failed.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/internal/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let worker = WorkerProc::start(&[
        ("ZHIBO_HOOK_URL", &url),
        ("HOOK_SECRET", SECRET),
        ("ZHIBO_HEARTBEAT_S", "1"),
        ("ZHIBO_HEARTBEAT_OUTAGE_S", "3"),
    ])
    .await;

    // 30 s of media; the outage limit (3 s of failed heartbeats) ends it long before.
    let room = unique_room();
    let (ok, _) = finish(
        publish(&worker.url(&signed_key(room)), 30),
        Duration::from_secs(25),
    )
    .await;
    assert!(
        !ok,
        "the publisher must be dropped; worker log:\n{}",
        worker.log_text()
    );
    assert!(
        failed.load(Ordering::SeqCst) >= 1,
        "heartbeats were sent and failed"
    );
    assert_eq!(worker.metric("zhibo_kicked_total").await, 1.0);
    assert!(
        worker.log_text().contains("hooks outage limit"),
        "the log says why: {}",
        worker.log_text()
    );
}
