//! The rooms function through the Lambda path: its `events/rooms-*` fixtures parsed by
//! `lambda_http`, re-signed for the test app and run through `fn_rooms::router` on DynamoDB Local.

use serde_json::{json, Value};
use zhibo_api::with_fallbacks;
use zhibo_core::clock::now;
use zhibo_core::signing::{UrlPurpose, UrlSignature};
use zhibo_test_support::lambda_event::*;
use zhibo_test_support::TestApi;

#[tokio::test]
async fn rooms_function_serves_every_fixture() {
    let api = TestApi::start().await;
    let rooms = with_fallbacks(fn_rooms::router(api.state.clone()));
    // GIVEN the README's example app, the fixture as recorded is refused: its timestamp is old.
    put_demo_app(&api).await;
    let (status, body) = invoke(&rooms, request(&fixture("rooms-list.apigw-v2.json"))).await;
    assert_eq!(status, 401);
    assert!(body["errmsg"].as_str().unwrap().contains("timestamp"));
    // The fixture's create has a start_time in the past for today: move it ahead.
    let create = fixture("rooms-create.apigw-v2.json")
        .replace("1767229200", &(now() + 600).to_string())
        .replace("1767236400", &(now() + 4200).to_string());
    let mut steps = vec![
        (create, 201),
        (fixture("rooms-get.apigw-v2.json"), 200),
        (fixture("rooms-list.apigw-v2.json"), 200),
        (fixture("rooms-patch.apigw-v2.json"), 200),
        (fixture("rooms-status.apigw-v2.json"), 200),
        (fixture("rooms-delete.apigw-v2.json"), 204),
    ];
    let mut results = Vec::new();
    for (event, want) in steps.drain(..) {
        let (status, body) = invoke(&rooms, resign(&api, request(&event))).await;
        assert_eq!(status, want, "{body}");
        results.push(body);
    }
    assert_eq!(results[0]["room_id"], 1);
    assert_eq!(results[0]["goods"][0]["name"], "保温杯");
    assert_eq!(results[2]["total"], 1);
    assert_eq!(results[3]["name"], "新品发布会（改期）");
    assert_eq!(results[4]["live_status"], 102);
    // Idempotency-Key from the fixture: the same create again returns room 1 (now deleted: 404).
    let (status, _) = invoke(
        &rooms,
        resign(&api, request(&fixture("rooms-get.apigw-v2.json"))),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn rooms_function_serves_the_push_play_replay_and_action_fixtures() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let rooms = with_fallbacks(fn_rooms::router(api.state.clone()));
    let run = |name: &str| resign(&api, request(&fixture(name)));
    // As recorded (app demo, old timestamp): refused.
    let (status, _) = invoke(&rooms, request(&fixture("rooms-push-url.apigw-v2.json"))).await;
    assert_eq!(status, 401);
    // Before the room exists: 404.
    let (status, body) = invoke(&rooms, run("rooms-push-url.apigw-v2.json")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(api.create_room("直播间", 60).await, 1);

    // play-urls (public playback): the live playlist's public URL.
    let (status, body) = invoke(&rooms, run("rooms-play-urls.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "public");
    assert_eq!(body["expires_at"], Value::Null);
    let hls = body["hls"].as_str().unwrap();
    assert!(hls.ends_with(&format!("/live/{app}/1/index.m3u8")), "{hls}");

    // push-url {"expires_in": 3600}: a push URL the worker accepts for an hour.
    let (status, body) = invoke(&rooms, run("rooms-push-url.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    let stream = format!("{app}_1");
    assert_eq!(body["server"], "rtmp://ingest.example.com:1935/live/");
    let key = body["stream_key"].as_str().unwrap();
    assert_eq!(
        body["push_url"].as_str().unwrap(),
        format!("rtmp://ingest.example.com:1935/live/{key}")
    );
    let expires_at = body["expires_at"].as_i64().unwrap();
    assert!((expires_at - now() - 3600).abs() <= 5, "{expires_at}");
    let query = key
        .strip_prefix(&format!("{stream}?"))
        .unwrap_or_else(|| panic!("{key}"));
    let q = zhibo_api::query_pairs(Some(query));
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        UrlSignature::verify_stream(
            zhibo_test_support::TEST_PUSH_KEY,
            UrlPurpose::Push,
            &stream,
            param("txSecret"),
            param("txTime"),
            now()
        ),
        Ok(expires_at)
    );

    // replays ?start=0&limit=10: none, then the one recorded.
    let (status, body) = invoke(&rooms, run("rooms-replays.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"total": 0, "replays": []}));
    record_fixture_replay(&api, &app, 1).await;
    let (status, body) = invoke(&rooms, run("rooms-replays.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1, "{body}");
    let replay = &body["replays"][0];
    assert_eq!(replay["replay_id"], FIXTURE_REPLAY_ID);
    assert_eq!(replay["segments"], 1770);
    assert_eq!(replay["size_bytes"], 123_456_789);
    let media_url = replay["media_url"].as_str().unwrap();
    assert!(
        media_url.ends_with(&format!("/replays/{app}/1/{FIXTURE_REPLAY_ID}.m3u8")),
        "{media_url}"
    );

    // actions {"action": "end"}: 102 → 103; again: nothing changes; the room can't go live.
    let (status, body) = invoke(&rooms, run("rooms-actions.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["room_id"], 1);
    assert_eq!(body["action"], "end");
    assert_eq!(body["live_status"], 103);
    assert_eq!(body["previous_status"], 102);
    assert_eq!(body["changed"], true);
    let (status, body) = invoke(&rooms, run("rooms-actions.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["live_status"].as_i64(), body["changed"].as_bool()),
        (Some(103), Some(false))
    );
    assert_eq!(
        api.stored_room(1).await.live_status,
        zhibo_core::LiveStatus::Ended
    );
    let (status, body) = invoke(&rooms, run("rooms-push-url.apigw-v2.json")).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["errmsg"].as_str().unwrap().contains("ended"), "{body}");
    // An ended room can still be watched (only a banned one can't).
    let (status, _) = invoke(&rooms, run("rooms-play-urls.apigw-v2.json")).await;
    assert_eq!(status, 200);
}
