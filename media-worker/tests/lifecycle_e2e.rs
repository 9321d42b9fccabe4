//! The full path: real ffmpeg → worker → `/internal/hooks` of the API (DynamoDB Local) → the
//! live-status state machine → signed webhooks to a real receiver. Publishing makes the room
//! 101 and sends `room.started`; killing ffmpeg makes it 106 (`room.abnormal`, reason
//! `dropped`), and after the (shortened) abnormal window 103; an ffmpeg that finishes makes it 106
//! too (reason `stopped`); `ban` drops the publisher within a heartbeat and refuses the
//! republish.

mod common;

use std::time::Duration;

use common::room_api::*;
use common::*;

#[tokio::test]
async fn ffmpeg_drives_the_lifecycle_and_webhooks() {
    let api = webhook_api(&[("ABNORMAL_TIMEOUT_S", "4")]).await;
    let _sweeper = api.spawn_sweeper(Duration::from_millis(300));
    let _delivery = api.spawn_delivery(Duration::from_millis(200));
    let rx = api.register_webhook().await;

    let worker = hooked_worker(&api, &[("ZHIBO_HEARTBEAT_S", "1")]).await;
    let app = api.app.app_id.clone();

    // Publish → 101 and room.started.
    let room = api.create_room("full path", 5).await;
    let ffmpeg = publish(&push_url(&worker, &app, room), 60);
    wait_for(Duration::from_secs(20), "room 101", || async {
        api_status(&api, room).await == 101
    })
    .await;
    wait_for(Duration::from_secs(20), "room.started webhook", || async {
        rx.types(room).contains(&"room.started".to_string())
    })
    .await;
    // Kill the publisher → 106 (unpublish hook), then 103 after the abnormal window.
    drop(ffmpeg); // kill_on_drop
    wait_for(Duration::from_secs(30), "room 106", || async {
        api_status(&api, room).await == 106
    })
    .await;
    wait_for(Duration::from_secs(30), "room 103", || async {
        api_status(&api, room).await == 103
    })
    .await;
    wait_for(
        Duration::from_secs(20),
        "abnormal and ended webhooks",
        || async { rx.types(room) == ["room.started", "room.abnormal", "room.ended"] },
    )
    .await;
    let seqs: Vec<u64> = rx
        .events()
        .iter()
        .filter(|e| e.room_id == room)
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(
        abnormal_reasons(&rx, room),
        ["dropped"],
        "a killed encoder's connection dropped"
    );

    // A clean stop (ffmpeg reaches the end of its input) is 106 as well, reason "stopped": the
    // room may resume within the window; only the `end` action or the window ends it.
    let clean = api.create_room("clean stop", 5).await;
    let (ok, err) = finish(
        publish(&push_url(&worker, &app, clean), 3),
        Duration::from_secs(30),
    )
    .await;
    assert!(ok, "ffmpeg must finish normally: {err}");
    wait_for(
        Duration::from_secs(30),
        "room.started and room.abnormal of the clean stop",
        || async {
            let types = rx.types(clean);
            types.contains(&"room.started".to_string())
                && types.contains(&"room.abnormal".to_string())
        },
    )
    .await;
    assert_eq!(abnormal_reasons(&rx, clean), ["stopped"]);

    // Ban drops the publisher within a heartbeat and refuses the republish.
    let banned = api.create_room("to ban", 5).await;
    let ffmpeg = publish(&push_url(&worker, &app, banned), 60);
    wait_for(Duration::from_secs(20), "banned room 101", || async {
        api_status(&api, banned).await == 101
    })
    .await;
    room_action(&api, banned, "ban").await;
    // Heartbeats come every second; the publisher is gone well within a few.
    let (ok, _) = finish(ffmpeg, Duration::from_secs(20)).await;
    assert!(!ok, "ffmpeg should have been disconnected");
    let again = publish(&push_url(&worker, &app, banned), 5);
    let (ok, err) = finish(again, Duration::from_secs(20)).await;
    assert!(!ok, "a banned room must not publish: {err}");
    assert_eq!(api_status(&api, banned).await, 104);
    wait_for(Duration::from_secs(20), "room.banned webhook", || async {
        rx.types(banned) == ["room.started", "room.banned"]
    })
    .await;
    let log = worker.log_text();
    assert!(log.contains("banned"), "worker log lacks the ban reason");
}

/// The `data.reason` of each `room.abnormal` webhook of `room`.
fn abnormal_reasons(rx: &zhibo_test_support::WebhookReceiver, room: u64) -> Vec<String> {
    rx.events()
        .iter()
        .filter(|e| e.room_id == room && e.kind.as_str() == "room.abnormal")
        .map(|e| e.data["reason"].as_str().unwrap_or("").to_string())
        .collect()
}
