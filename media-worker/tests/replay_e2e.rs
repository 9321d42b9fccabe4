//! Replays end to end on the local stack: real ffmpeg → worker → SeaweedFS; the replay
//! playlist landing raises SeaweedFS's metadata event, which the local stand-in for S3
//! notifications turns into an S3Event for the replay indexer → DynamoDB Local → both listing
//! APIs and a signed `replay.ready` to a verifying webhook receiver.
//!
//! 30 s published, a drop, 20 s more inside the reconnect window → exactly one replay of
//! ~50 s with one discontinuity that ffmpeg reads start to end. A republish after the window →
//! a second replay.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use zhibo_test_support::{TestApi, TEST_HOOK_SECRET};

async fn replays(api: &TestApi, room: u64) -> serde_json::Value {
    api.call("GET", &format!("/v1/rooms/{room}/replays"), "")
        .await
        .json
}

#[tokio::test]
async fn a_live_with_a_reconnect_leaves_one_indexed_announced_playable_replay() {
    let api = TestApi::start_with(&[
        ("WEBHOOK_ALLOW_HTTP", "1"),
        ("WEBHOOK_RETRY_BASE_MS", "200"),
    ])
    .await;
    let _delivery = api.spawn_delivery(Duration::from_millis(200));
    let _indexer = api.spawn_replay_indexer();
    let rx = api.register_webhook().await;
    let hook_url = format!("{}/internal/hooks", api.base);
    let worker = WorkerProc::start(&[
        ("ZHIBO_HOOK_URL", &hook_url),
        ("HOOK_SECRET", TEST_HOOK_SECRET),
        ("ZHIBO_RECONNECT_WINDOW_S", "6"),
    ])
    .await;
    let app = api.app.app_id.clone();
    let room = api.create_room("replay e2e", 5).await;
    let url = push_url(&worker, &app, room);

    // 30 s, a drop, 20 s more inside the 6-s window.
    let (ok, err) = finish(publish(&url, 30), Duration::from_secs(60)).await;
    assert!(ok, "first publish failed: {err}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (ok, err) = finish(publish(&url, 20), Duration::from_secs(60)).await;
    assert!(ok, "republish inside the window failed: {err}");

    // The window closes → replay playlist → indexed → listed.
    wait_for(
        Duration::from_secs(40),
        "the replay to be listed",
        || async { replays(&api, room).await["total"] == 1 },
    )
    .await;
    let list = replays(&api, room).await;
    let item = &list["replays"][0];
    let replay_id = item["replay_id"].as_str().unwrap().to_string();
    let duration = item["duration_s"].as_f64().unwrap();
    assert!(
        (47.0..=53.0).contains(&duration),
        "30 s + 20 s published, replay is {duration} s"
    );
    let media_url = item["media_url"].as_str().unwrap().to_string();
    assert_eq!(
        media_url,
        public_url(&format!("replays/{app}/{room}/{replay_id}.m3u8"))
    );
    let text = get_text(&format!("replays/{app}/{room}/{replay_id}.m3u8"))
        .await
        .expect("replay playlist");
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    // Size: the segments' bytes, as the bucket has them.
    let s3 = api.s3();
    let mut total = 0i64;
    for uri in text.lines().filter(|l| l.ends_with(".ts")) {
        let key = uri.trim_start_matches("../../../");
        let head = s3
            .head_object()
            .bucket(bucket())
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("segment {key} missing: {e:?}"));
        total += head.content_length().unwrap_or(0);
    }
    assert_eq!(item["size_bytes"].as_i64().unwrap(), total);
    assert_eq!(
        item["segments"].as_u64().unwrap() as usize,
        text.matches(".ts\n").count()
    );

    // ffmpeg reads the replay from its media_url start to end, without an error.
    let probe = ffprobe(&media_url, &["-show_entries", "format=duration"]);
    let probed: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (probed - duration).abs() < 1.5,
        "ffprobe {probed} s vs {duration} s"
    );
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v", "error", "-nostdin", "-i", &media_url, "-map", "0", "-c", "copy", "-f", "null",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg reading the replay: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The WeChat-compatible listing agrees.
    let token: serde_json::Value = api
        .http
        .get(format!(
            "{}/cgi-bin/token?grant_type=client_credential&appid={app}&secret={}",
            api.base, api.app.app_secret
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wx: serde_json::Value = api
        .http
        .post(format!(
            "{}/wxa/business/getliveinfo?access_token={}",
            api.base,
            token["access_token"].as_str().unwrap()
        ))
        .body(json!({"action": "get_replay", "room_id": room, "start": 0, "limit": 10}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wx["errcode"], 0, "{wx}");
    assert_eq!(wx["total"], 1, "{wx}");
    assert_eq!(wx["live_replay"][0]["media_url"], media_url.as_str());
    assert_eq!(
        wx["live_replay"][0]["create_time"],
        zhibo_core::table::iso8601_utc(item["create_time"].as_i64().unwrap())
    );

    // replay.ready reached the receiver, signature verified, after the room's other events.
    wait_for(Duration::from_secs(30), "replay.ready webhook", || async {
        rx.types(room).contains(&"replay.ready".to_string())
    })
    .await;
    let events: Vec<_> = rx
        .events()
        .into_iter()
        .filter(|e| e.room_id == room)
        .collect();
    let ready: Vec<_> = events
        .iter()
        .filter(|e| e.kind.as_str() == "replay.ready")
        .collect();
    assert_eq!(ready.len(), 1, "{events:?}");
    assert_eq!(ready[0].data["replay_id"], replay_id.as_str());
    assert_eq!(ready[0].data["media_url"], media_url.as_str());
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq order {seqs:?}");
    assert_eq!(rx.refused(), 0);

    // A republish after the window → a second replay, newest first.
    let (ok, err) = finish(publish(&url, 6), Duration::from_secs(30)).await;
    assert!(ok, "publish after the window failed: {err}");
    wait_for(Duration::from_secs(40), "a second replay", || async {
        replays(&api, room).await["total"] == 2
    })
    .await;
    let list = replays(&api, room).await;
    assert_ne!(list["replays"][0]["replay_id"], replay_id.as_str());
    assert_eq!(list["replays"][1]["replay_id"], replay_id.as_str());
    assert!(list["replays"][0]["duration_s"].as_f64().unwrap() < 10.0);
    wait_for(Duration::from_secs(30), "second replay.ready", || async {
        rx.types(room)
            .iter()
            .filter(|t| *t == "replay.ready")
            .count()
            == 2
    })
    .await;
}
