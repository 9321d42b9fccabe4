//! Takedown with the real parts (docs/api.md "Takedown"): ffmpeg → worker → `/internal/hooks`
//! of the API (DynamoDB Local) → SeaweedFS, whose bucket viewers read anonymously. `ban` makes the
//! public live playlist and segments answer 404 at once; the worker, which learns of the ban at
//! its next heartbeat, then writes its last playlist and the replay, and those are taken down
//! too (the sweeper repeats the takedown, the replay indexer removes the replay).

mod common;

use std::time::Duration;

use common::room_api::*;
use common::*;
use zhibo_core::object_keys;
use zhibo_test_support::TestApi;

/// Keys under the room's live/ and replays/ prefixes.
async fn room_objects(api: &TestApi, app: &str, room: u64) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in [
        object_keys::live_room_prefix(app, room),
        object_keys::replays_room_prefix(app, room),
    ] {
        let page = api
            .s3()
            .list_objects_v2()
            .bucket(bucket())
            .prefix(&prefix)
            .send()
            .await
            .expect("list");
        out.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(String::from)),
        );
    }
    out
}

async fn public_status(key: &str) -> u16 {
    reqwest::get(public_url(key))
        .await
        .expect("GET")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_live_stops_being_served_and_stays_down() {
    let api = TestApi::start().await;
    let _sweeper = api.spawn_sweeper(Duration::from_millis(300));
    let _indexer = api.spawn_replay_indexer();
    let worker = hooked_worker(&api, &[("ZHIBO_HEARTBEAT_S", "1")]).await;
    let app = api.app.app_id.clone();
    let room = api.create_room("banned live", 5).await;
    let ffmpeg = publish(&push_url(&worker, &app, room), 60);

    // Live: the playlist and its segments are public.
    let playlist_key = object_keys::live_playlist(&app, room);
    let uris = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    wait_for(Duration::from_secs(30), "two live segments", || async {
        get_text(&playlist_key)
            .await
            .is_some_and(|text| uris(&text).len() >= 2)
    })
    .await;
    let text = get_text(&playlist_key).await.expect("the live playlist");
    let segment_key = format!(
        "{}{}",
        object_keys::live_room_prefix(&app, room),
        uris(&text)[0]
    );
    assert_eq!(public_status(&segment_key).await, 200);

    let r = room_action(&api, room, "ban").await;
    assert_eq!(r.json["media_takedown"], "complete", "{}", r.text);
    // At once: the playlist and the segment are gone for viewers.
    assert!(matches!(public_status(&playlist_key).await, 403 | 404));
    assert!(matches!(public_status(&segment_key).await, 403 | 404));

    // The worker drops the publisher at its next heartbeat. The takedown deleted the room's
    // head, so the worker's fence refuses its last playlist and it closes no replay; only the
    // segments uploaded meanwhile land (under their session's keys)...
    let (ok, _) = finish(ffmpeg, Duration::from_secs(30)).await;
    assert!(!ok, "ffmpeg should have been disconnected");
    wait_for(
        Duration::from_secs(30),
        "the worker to drop the publisher and finish its uploads",
        || async {
            worker.metric("zhibo_streams").await == 0.0
                && worker.metric("zhibo_upload_queue_objects").await == 0.0
        },
    )
    .await;
    assert_eq!(
        worker.metric("zhibo_replays_total").await,
        0.0,
        "no replay is written for a room taken down under its writer"
    );
    // ...and all of it is taken down.
    wait_for(
        Duration::from_secs(60),
        "no media of the banned room left in the bucket",
        || async { room_objects(&api, &app, room).await.is_empty() },
    )
    .await;
    assert!(matches!(public_status(&playlist_key).await, 403 | 404));
}
