//! Viewer numbers on the real functions over DynamoDB Local: presence reports, the counts they
//! make (rising, and expiring with the sliding window, driven by explicit times so nothing
//! depends on the wall clock), `stats` items on the room's channel, and the final stats in
//! `room.ended`.

use std::time::Duration;

use serde_json::Value;
use zhibo_core::audience::presence::{BUCKET_S, MIN_REPORT_GAP_S};
use zhibo_core::hooks::HookEventKind::Heartbeat;
use zhibo_core::webhook::EventType;
use zhibo_e2e_tests::audience::{start_with_realtime, RealtimeClient};
use zhibo_e2e_tests::TestApi;

const WEBHOOKS_OVER_HTTP: (&str, &str) = ("WEBHOOK_ALLOW_HTTP", "1");

async fn presence(api: &TestApi, grant: &Value, room: u64) -> (u16, Value) {
    api.viewer_post(grant, &format!("/v1/rooms/{room}/presence"), "")
        .await
}

async fn stats_at(api: &TestApi, room: u64, at: i64) -> zhibo_core::audience::presence::RoomStats {
    api.state
        .chat
        .room_stats(&api.app.app_id, room, at)
        .await
        .unwrap()
}

#[tokio::test]
async fn counts_rise_with_reports_and_expire_with_the_window() {
    let api = start_with_realtime(&[]).await;
    let room = api.create_room("presence-window", 60).await;
    let (app, chat) = (api.app.app_id.clone(), &api.state.chat);
    // The start of a minute, far from now: the store takes the time it is given.
    let t0 = 1_900_000_000 / BUCKET_S * BUCKET_S;
    let exp = t0 + 86_400;
    for user in ["a", "b", "c"] {
        let e = chat
            .record_presence(&app, room, user, t0, exp)
            .await
            .unwrap();
        assert_eq!(e.map(|e| e.unique), Some(1), "{user}'s first report");
    }
    // A report closer than MIN_REPORT_GAP_S to the last one changes nothing.
    assert_eq!(
        chat.record_presence(&app, room, "a", t0 + MIN_REPORT_GAP_S - 1, exp)
            .await
            .unwrap(),
        None
    );
    let s = stats_at(&api, room, t0 + 10).await;
    assert_eq!((s.viewers_now, s.viewers_peak, s.viewers_unique), (3, 3, 3));

    // a and b keep watching (every 30 s); c left after its first report.
    for at in [t0 + 30, t0 + 60, t0 + 90, t0 + 120, t0 + 150] {
        for user in ["a", "b"] {
            assert!(chat
                .record_presence(&app, room, user, at, exp)
                .await
                .unwrap()
                .is_some());
        }
    }
    // Next minute: c is still in the last minute's count.
    assert_eq!(stats_at(&api, room, t0 + 61).await.viewers_now, 3);
    // Two minutes on, c has expired; the peak and the unique count stay.
    let s = stats_at(&api, room, t0 + 121).await;
    assert_eq!((s.viewers_now, s.viewers_peak, s.viewers_unique), (2, 3, 3));
    // Watch time: a and b watched 150 s each, c nothing measurable.
    assert_eq!(s.watch_time_s, 300);
    // After everyone left, the count falls to zero.
    assert_eq!(stats_at(&api, room, t0 + 300).await.viewers_now, 0);
    assert_eq!(stats_at(&api, room, t0 + 300).await.viewers_peak, 3);
}

#[tokio::test]
async fn presence_reports_count_viewers_and_publish_stats_items() {
    let api = start_with_realtime(&[]).await;
    let room = api.create_room("presence", 60).await;
    let other = api.create_room("other", 60).await;
    let watcher = api.viewer_grant(room, "watcher").await;

    // Not live: refused with the reason.
    let (status, body) = presence(&api, &watcher, room).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["errmsg"].as_str().unwrap().contains("not live"),
        "{body}"
    );

    api.go_live(room).await;
    api.go_live(other).await;
    let mut client = RealtimeClient::subscribe(&watcher).await;
    let (status, body) = presence(&api, &watcher, room).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["counted"], true);
    assert_eq!(body["interval_s"], 30);
    // The room's first report publishes its first stats item (the election is free).
    let item = client.item_of("stats").await;
    assert_eq!(item["data"]["viewers_now"], 1, "{item}");
    assert_eq!(item["data"]["viewers_unique"], 1, "{item}");
    assert!(item["user"].is_null());
    // At once again: answered, not counted twice.
    let (status, body) = presence(&api, &watcher, room).await;
    assert_eq!((status, body["counted"].as_bool()), (200, Some(false)));
    for user in ["v2", "v3"] {
        let g = api.viewer_grant(room, user).await;
        let (status, body) = presence(&api, &g, room).await;
        assert_eq!((status, body["counted"].as_bool()), (200, Some(true)));
    }
    let s = api.room_stats(room).await;
    assert_eq!(
        (&s["viewers_now"], &s["viewers_peak"], &s["viewers_unique"]),
        (&3.into(), &3.into(), &3.into()),
        "{s}"
    );
    for field in [
        "watch_time_s",
        "likes",
        "messages",
        "gifts",
        "gifts_value_cents",
    ] {
        assert!(s[field].is_u64(), "{field} in {s}");
    }

    // A token for this room is refused on another; a body with fields is refused.
    let (status, body) = presence(&api, &watcher, other).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = api
        .viewer_post(
            &watcher,
            &format!("/v1/rooms/{room}/presence"),
            r#"{"viewers": 1000}"#,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let r = api
        .http
        .post(format!("{}/v1/rooms/{room}/presence", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "*",
        "refusals carry CORS too"
    );
    assert_eq!(api.room_stats(other).await["viewers_unique"], 0);
}

#[tokio::test]
async fn a_heartbeat_publishes_the_stats_item_while_nobody_reports() {
    let api = start_with_realtime(&[]).await;
    let room = api.create_room("heartbeat-stats", 60).await;
    let mut client = RealtimeClient::subscribe(&api.viewer_grant(room, "quiet").await).await;
    api.go_live(room).await;
    let session = format!("0199a0b1c2d3-{room:04}");
    let r = api
        .hook(&api.hook_event(Heartbeat, room, &session, 1))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let item = client.item_of("stats").await;
    assert_eq!(item["data"]["viewers_now"], 0, "{item}");
    // In the history with its seq, like every item.
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/messages?limit=100"), "")
        .await;
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["type"] == "stats" && i["seq"] == item["seq"]),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn room_ended_carries_the_final_stats() {
    let api = start_with_realtime(&[WEBHOOKS_OVER_HTTP]).await;
    let receiver = api.register_webhook().await;
    let deliverer =
        fn_webhook_delivery::Deliverer::from_config(api.state.outbox.clone(), &api.state.config)
            .expect("deliverer");
    let _pump = zhibo_local::background::spawn_delivery_pump(deliverer, Duration::from_millis(50));
    let room = api.create_room("final-stats", 60).await;
    api.go_live(room).await;
    for user in ["x", "y"] {
        let g = api.viewer_grant(room, user).await;
        assert_eq!(presence(&api, &g, room).await.0, 200);
        let (status, body) = api
            .viewer_post(&g, &format!("/v1/rooms/{room}/likes"), r#"{"count": 7}"#)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/actions"),
            r#"{"action": "end"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let ended = loop {
        if let Some(e) = receiver
            .events()
            .into_iter()
            .find(|e| e.room_id == room && e.kind == EventType::RoomEnded)
        {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no room.ended for room {room}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stats = &ended.data["stats"];
    assert_eq!(stats["viewers_unique"], 2, "{}", ended.data);
    assert_eq!(stats["viewers_peak"], 2, "{}", ended.data);
    assert_eq!(stats["likes"], 14, "{}", ended.data);
    assert_eq!(ended.data["live_status"], 103);
}
