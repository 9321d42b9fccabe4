//! The replay indexer's handler on the local stack: `events/replay-indexer-*.json` fixtures
//! (retargeted at each test's app and room) through [`fn_replay_indexer::Indexer::handle`], with the
//! playlists in SeaweedFS, the records in DynamoDB Local, `replay.ready` delivered to a
//! verifying webhook receiver and put on an EventBridge endpoint that records the SDK's real
//! requests. Then both listing APIs.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zhibo_core::replay::metadata;
use zhibo_core::signing::{UrlPurpose, UrlSignature};
use zhibo_e2e_tests::TestApi;

use fn_replay_indexer::RecordOutcome;

const DEADLINE: Duration = Duration::from_secs(60);

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fixture with every `replays/demo/1/` key moved to this test's app and room.
fn fixture(name: &str, app: &str, room: u64) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let bucket = std::env::var("MEDIA_BUCKET").unwrap_or_else(|_| "hls".into());
    let text = text
        .replace("replays/demo/1/", &format!("replays/{app}/{room}/"))
        .replace("\"name\": \"hls\"", &format!("\"name\": \"{bucket}\""));
    serde_json::from_str(&text).unwrap()
}

fn event(v: &Value) -> aws_lambda_events::s3::S3Event {
    serde_json::from_value(v.clone()).expect("fixture is an S3Event")
}

/// The replay ids a fixture names, in record order.
fn replay_ids(v: &Value) -> Vec<String> {
    v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["s3"]["object"]["key"].as_str())
        .filter_map(|k| k.strip_suffix(".m3u8"))
        .map(|k| k.rsplit('/').next().unwrap().to_string())
        .collect()
}

fn bucket() -> String {
    std::env::var("MEDIA_BUCKET").unwrap_or_else(|_| "hls".into())
}

/// A worker-style replay playlist of `n` 2-s segments (a discontinuity before the last).
fn playlist(app: &str, room: u64, n: usize) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n");
    for i in 0..n {
        if i > 0 && i + 1 == n {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if i == 0 {
            out.push_str("#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:00.000Z\n");
        }
        out.push_str(&format!(
            "#EXTINF:2.000,\n../../../live/{app}/{room}/sess/{i}.ts\n"
        ));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

async fn put(api: &TestApi, key: &str, body: Vec<u8>, meta: &[(&str, String)]) {
    let mut req = api
        .s3()
        .put_object()
        .bucket(bucket())
        .key(key)
        .content_type("application/vnd.apple.mpegurl")
        .body(body.into());
    for (k, v) in meta {
        req = req.metadata(*k, v);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

/// Uploads replay `replay_id` of `room`: its playlist with the worker's metadata (sizes and
/// times), and no segments (the indexer does not need them then).
async fn put_replay(api: &TestApi, room: u64, replay_id: &str, n: usize) {
    let app = &api.app.app_id;
    put(
        api,
        &format!("replays/{app}/{room}/{replay_id}.m3u8"),
        playlist(app, room, n).into_bytes(),
        &[
            (metadata::SIZE_BYTES, (n as u64 * 1000).to_string()),
            (metadata::START_MS, "1795428000000".into()),
            (metadata::END_MS, "1795428061000".into()),
        ],
    )
    .await;
}

fn outcomes(report: &fn_replay_indexer::IndexReport) -> Vec<&'static str> {
    report
        .records
        .iter()
        .map(|r| match r {
            RecordOutcome::Indexed { .. } => "indexed",
            RecordOutcome::Duplicate { .. } => "duplicate",
            RecordOutcome::Rejected { .. } => "rejected",
            RecordOutcome::Ignored { .. } => "ignored",
            RecordOutcome::Failed { .. } => "failed",
        })
        .collect()
}

fn reason(report: &fn_replay_indexer::IndexReport, i: usize) -> String {
    match &report.records[i] {
        RecordOutcome::Rejected { reason, .. } | RecordOutcome::Ignored { reason, .. } => {
            reason.clone()
        }
        RecordOutcome::Failed { error, .. } => error.clone(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn a_landed_replay_is_indexed_once_announced_once_and_listed_by_both_apis() {
    let api = TestApi::start_with(&[("WEBHOOK_ALLOW_HTTP", "1"), ("REPLAY_TTL_DAYS", "30")]).await;
    let rx = api.register_webhook().await;
    let _delivery = api.spawn_delivery(Duration::from_millis(100));
    let app = api.app.app_id.clone();
    let room = api.create_room("replays", 5).await;
    let ev = fixture("replay-indexer-created.json", &app, room);
    let replay_id = replay_ids(&ev)[0].clone();
    put_replay(&api, room, &replay_id, 30).await;
    let seq_before = api.stored_room(room).await.lifecycle.event_seq;

    let indexer = api.indexer();
    // S3 delivers at least once, sometimes the same event to concurrent invocations.
    let s3_event = event(&ev);
    let (a, b, c) = tokio::join!(
        indexer.handle(&s3_event),
        indexer.handle(&s3_event),
        indexer.handle(&s3_event)
    );
    let mut all: Vec<&str> = [&a, &b, &c].iter().flat_map(|r| outcomes(r)).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        ["duplicate", "duplicate", "indexed"],
        "{a:?} {b:?} {c:?}"
    );
    let again = indexer.handle(&s3_event).await;
    assert_eq!(outcomes(&again), ["duplicate"], "{again:?}");

    // The management API.
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/replays"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total"], 1, "{}", r.text);
    let item = &r.json["replays"][0];
    assert_eq!(item["replay_id"], replay_id.as_str());
    assert_eq!(item["duration_s"], 60.0);
    assert_eq!(item["segments"], 30);
    assert_eq!(item["size_bytes"], 30_000);
    assert_eq!(item["create_time"], 1_795_428_000);
    assert_eq!(item["end_time"], 1_795_428_061);
    assert_eq!(item["expire_time"], 1_795_428_000 + 30 * 86_400);
    let media_url = item["media_url"].as_str().unwrap().to_string();
    assert!(
        media_url.ends_with(&format!("/replays/{app}/{room}/{replay_id}.m3u8")),
        "{media_url}"
    );
    assert!(item.get("media_url_expires_at").is_none());
    // Public mode: the URL plays without credentials (SeaweedFS's anonymous read on `hls`).
    let got = reqwest::get(&media_url).await.unwrap();
    assert_eq!(got.status(), 200, "{media_url}");
    assert!(got.text().await.unwrap().starts_with("#EXTM3U"));

    // The WeChat-compatible API: exactly WeChat's shape, ISO 8601 times.
    let token = api
        .http
        .get(format!(
            "{}/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
            api.base, app, api.app.app_secret
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let wx: Value = api
        .http
        .post(format!(
            "{}/wxa/business/getliveinfo?access_token={token}",
            api.base
        ))
        .body(json!({"action": "get_replay", "room_id": room, "start": 0, "limit": 10}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wx_call = |body: Value| {
        let api = &api;
        let token = token.clone();
        async move {
            let r = api
                .http
                .post(format!(
                    "{}/wxa/business/getliveinfo?access_token={token}",
                    api.base
                ))
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    for (body, status, errcode, needle) in [
        (json!({"action": "get_replay"}), 400, 40097, "room_id"),
        (
            json!({"action": "get_replay", "room_id": "x"}),
            400,
            40097,
            "room_id",
        ),
        (
            json!({"action": "get_replay", "room_id": 999_999}),
            404,
            1,
            "999999",
        ),
        (
            json!({"action": "get_replay", "room_id": room, "limit": 101}),
            400,
            40097,
            "limit",
        ),
        (json!({"action": "get_rooms"}), 400, 40097, "get_replay"),
    ] {
        let (s, v) = wx_call(body.clone()).await;
        assert_eq!(
            (s, v["errcode"].as_i64().unwrap()),
            (status, errcode),
            "{body}: {v}"
        );
        assert!(
            v["errmsg"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    assert_eq!(
        wx,
        json!({
            "live_replay": [{
                "expire_time": zhibo_core::table::iso8601_utc(1_795_428_000 + 30 * 86_400),
                "create_time": "2026-11-23T10:00:00Z",
                "media_url": media_url,
            }],
            "errcode": 0,
            "total": 1,
            "errmsg": "ok",
        })
    );

    // Exactly one replay.ready, signed, with the room's next seq.
    eventually("replay.ready delivered", || async {
        rx.types(room) == ["replay.ready"]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = rx.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.seq, seq_before + 1);
    assert_eq!(
        api.stored_room(room).await.lifecycle.event_seq,
        seq_before + 1
    );
    assert_eq!(e.data["replay_id"], replay_id.as_str());
    assert_eq!(e.data["duration_s"], 60.0);
    assert_eq!(e.data["size_bytes"], 30_000);
    assert_eq!(e.data["media_url"], media_url.as_str());
    assert_eq!(rx.refused(), 0);
}

#[tokio::test]
async fn every_record_of_a_multi_record_event_is_handled_and_listed_newest_first() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let room = api.create_room("multi", 5).await;
    let ev = fixture("replay-indexer-multi.json", &app, room);
    let ids = replay_ids(&ev);
    assert_eq!(ids.len(), 2);
    put_replay(&api, room, &ids[0], 3).await;
    put_replay(&api, room, &ids[1], 5).await;
    let report = api.indexer().handle(&event(&ev)).await;
    assert_eq!(
        outcomes(&report),
        ["indexed", "indexed", "ignored"],
        "{report:?}"
    );

    let list = |q: &'static str| {
        let api = &api;
        async move {
            api.call("GET", &format!("/v1/rooms/{room}/replays{q}"), "")
                .await
                .json
        }
    };
    let all = list("").await;
    assert_eq!(all["total"], 2);
    let got: Vec<&str> = all["replays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["replay_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[1].as_str(), ids[0].as_str()], "newest first");
    let second = list("?start=1&limit=1").await;
    assert_eq!(second["total"], 2);
    assert_eq!(second["replays"].as_array().unwrap().len(), 1);
    assert_eq!(second["replays"][0]["replay_id"], ids[0].as_str());
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/replays?limit=101"), "")
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.errmsg().contains("limit"), "{}", r.text);
    let r = api.call("GET", "/v1/rooms/999999/replays", "").await;
    assert_eq!(r.status, 404, "{}", r.text);

    // A removal is not a replay landing.
    let removed = fixture("replay-indexer-removed.json", &app, room);
    let report = api.indexer().handle(&event(&removed)).await;
    assert_eq!(outcomes(&report), ["ignored"], "{report:?}");
}

#[tokio::test]
async fn a_missing_object_or_a_bad_playlist_is_reported_and_not_indexed() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let room = api.create_room("bad input", 5).await;
    let ev = fixture("replay-indexer-multi.json", &app, room);
    let ids = replay_ids(&ev);
    // First record: never uploaded. Second: a truncated upload (no ENDLIST, cut mid-line).
    let full = playlist(&app, room, 4);
    let cut = &full[..full.len() - 20];
    put(
        &api,
        &format!("replays/{app}/{room}/{}.m3u8", ids[1]),
        cut.as_bytes().to_vec(),
        &[],
    )
    .await;
    let report = api.indexer().handle(&event(&ev)).await;
    assert_eq!(
        outcomes(&report),
        ["rejected", "rejected", "ignored"],
        "{report:?}"
    );
    assert!(reason(&report, 0).contains("does not exist"), "{report:?}");
    assert!(
        reason(&report, 1).contains("malformed playlist"),
        "{report:?}"
    );

    // Other bad bodies: binary junk, a playlist naming another host, an empty object.
    for (body, needle) in [
        (vec![0u8, 159, 146, 150], "UTF-8"),
        (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nhttps://x.example/a.ts\n#EXT-X-ENDLIST\n"
                .to_vec(),
            "does not name an object",
        ),
        (Vec::new(), "malformed"),
    ] {
        put(
            &api,
            &format!("replays/{app}/{room}/{}.m3u8", ids[1]),
            body,
            &[],
        )
        .await;
        let single = json!({"Records": [ev["Records"][1].clone()]});
        let report = api.indexer().handle(&event(&single)).await;
        assert_eq!(outcomes(&report), ["rejected"], "{report:?}");
        assert!(reason(&report, 0).contains(needle), "{report:?} lacks {needle}");
    }
    // A key that is not a replay's, and a room that does not exist.
    let mut odd = fixture("replay-indexer-created.json", &app, room);
    odd["Records"][0]["s3"]["object"]["key"] = json!(format!("replays/{app}/{room}/a/b.m3u8"));
    let report = api.indexer().handle(&event(&odd)).await;
    assert!(
        reason(&report, 0).contains("not a replay playlist key"),
        "{report:?}"
    );
    let ghost = fixture("replay-indexer-created.json", &app, 999_999);
    put_replay(&api, 999_999, &replay_ids(&ghost)[0], 2).await;
    let report = api.indexer().handle(&event(&ghost)).await;
    assert!(
        reason(&report, 0).contains("room 999999 does not exist"),
        "{report:?}"
    );

    let r = api
        .call("GET", &format!("/v1/rooms/{room}/replays"), "")
        .await;
    assert_eq!(r.json["total"], 0, "{}", r.text);
    assert_eq!(api.stored_room(room).await.lifecycle.event_seq, 0);
}

#[tokio::test]
async fn without_the_workers_metadata_sizes_come_from_the_segments_which_must_exist() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let room = api.create_room("no metadata", 5).await;
    let ev = fixture("replay-indexer-multi.json", &app, room);
    let ids = replay_ids(&ev);
    for i in 0..4 {
        put(
            &api,
            &format!("live/{app}/{room}/sess/{i}.ts"),
            vec![0x47; 188 * (i + 1)],
            &[],
        )
        .await;
    }
    for id in &ids {
        put(
            &api,
            &format!("replays/{app}/{room}/{id}.m3u8"),
            playlist(&app, room, if id == &ids[0] { 4 } else { 5 }).into_bytes(),
            &[],
        )
        .await;
    }
    let report = api.indexer().handle(&event(&ev)).await;
    assert_eq!(
        outcomes(&report),
        ["indexed", "rejected", "ignored"],
        "{report:?}"
    );
    assert!(
        reason(&report, 1).contains("1 of its segments are not in the bucket"),
        "{report:?}"
    );
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/replays"), "")
        .await;
    assert_eq!(r.json["total"], 1);
    assert_eq!(r.json["replays"][0]["size_bytes"], 188 * (1 + 2 + 3 + 4));
    // Times from EXT-X-PROGRAM-DATE-TIME and the durations.
    assert_eq!(r.json["replays"][0]["create_time"], 1_795_428_000);
    assert_eq!(r.json["replays"][0]["end_time"], 1_795_428_008);
}

#[tokio::test]
async fn rooms_with_close_replay_get_no_replay() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let mut body: Value = serde_json::from_str(&api.room_body("closed", 5)).unwrap();
    body["close_replay"] = json!(true);
    let r = api.call("POST", "/v1/rooms", &body.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let room = r.json["room_id"].as_u64().unwrap();
    let ev = fixture("replay-indexer-created.json", &app, room);
    put_replay(&api, room, &replay_ids(&ev)[0], 2).await;
    let report = api.indexer().handle(&event(&ev)).await;
    assert_eq!(outcomes(&report), ["rejected"], "{report:?}");
    assert!(reason(&report, 0).contains("close_replay"), "{report:?}");
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/replays"), "")
        .await;
    assert_eq!(r.json["total"], 0, "{}", r.text);
}

#[tokio::test]
async fn signed_playback_lists_urls_signed_with_the_play_key() {
    let api = TestApi::start_with(&[
        ("PLAYBACK_MODE", "signed"),
        ("API_BASE_URL", "https://api.example.com"),
        ("PLAY_KEY", "play-key-for-tests-0123"),
        ("PLAY_URL_TTL_S", "600"),
    ])
    .await;
    let app = api.app.app_id.clone();
    let room = api.create_room("signed", 5).await;
    let ev = fixture("replay-indexer-created.json", &app, room);
    let id = replay_ids(&ev)[0].clone();
    put_replay(&api, room, &id, 2).await;
    let report = api.indexer().handle(&event(&ev)).await;
    assert_eq!(outcomes(&report), ["indexed"], "{report:?}");
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/replays"), "")
        .await;
    let item = &r.json["replays"][0];
    let url = item["media_url"].as_str().unwrap();
    let (path, query) = url.split_once('?').unwrap();
    assert_eq!(
        path,
        format!("https://api.example.com/play/{app}/{room}/replays/{id}.m3u8")
    );
    let get = |k: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    let expires = UrlSignature::verify_stream(
        "play-key-for-tests-0123",
        UrlPurpose::Play,
        &zhibo_core::room::stream_name(&app, room),
        get("txSecret").as_deref(),
        get("txTime").as_deref(),
        zhibo_core::clock::now(),
    )
    .expect("signed with PLAY_KEY");
    assert_eq!(item["media_url_expires_at"], expires);
    assert!((expires - zhibo_core::clock::now() - 600).abs() <= 5);
}

// ---- EventBridge ---------------------------------------------------------------------------

/// An EventBridge endpoint: records each PutEvents request the SDK sends (JSON 1.1 protocol)
/// and answers as EventBridge does, or 500 while `fail` is set.
#[derive(Default)]
struct Bus {
    fail: AtomicBool,
    puts: Mutex<Vec<(String, Value)>>,
}

async fn bus_endpoint(
    State(b): State<Arc<Bus>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    if b.fail.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            h,
            r#"{"__type":"InternalException","message":"test bus down"}"#.into(),
        );
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    b.puts.lock().unwrap().push((target, v));
    (
        StatusCode::OK,
        h,
        r#"{"FailedEntryCount":0,"Entries":[{"EventId":"11111111-2222-3333-4444-555555555555"}]}"#
            .into(),
    )
}

#[tokio::test]
async fn replay_ready_goes_to_eventbridge_and_a_failed_put_is_sent_on_redelivery() {
    let bus = Arc::new(Bus::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/", post(bus_endpoint))
        .with_state(bus.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let api = TestApi::start_with(&[
        ("EVENT_BUS_NAME", "default"),
        ("ZHIBO_EVENTBRIDGE_ENDPOINT", &endpoint),
    ])
    .await;
    let app = api.app.app_id.clone();
    let room = api.create_room("bus", 5).await;
    let ev = fixture("replay-indexer-created.json", &app, room);
    let id = replay_ids(&ev)[0].clone();
    put_replay(&api, room, &id, 2).await;
    let indexer = api.indexer();

    bus.fail.store(true, Ordering::SeqCst);
    let report = indexer.handle(&event(&ev)).await;
    assert_eq!(outcomes(&report), ["failed"], "{report:?}");
    assert!(report.has_failures());
    assert!(reason(&report, 0).contains("EventBridge"), "{report:?}");
    // Recorded (and its webhook event queued) all the same.
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/replays"), "")
        .await;
    assert_eq!(r.json["total"], 1);
    assert!(bus.puts.lock().unwrap().is_empty());

    bus.fail.store(false, Ordering::SeqCst);
    let report = indexer.handle(&event(&ev)).await;
    assert_eq!(outcomes(&report), ["duplicate"], "{report:?}");
    let report = indexer.handle(&event(&ev)).await;
    assert_eq!(outcomes(&report), ["duplicate"], "{report:?}");
    let puts = bus.puts.lock().unwrap().clone();
    assert_eq!(puts.len(), 1, "sent once, on the redelivery: {puts:?}");
    let (target, body) = &puts[0];
    assert_eq!(target, "AWSEvents.PutEvents");
    let entry = &body["Entries"][0];
    assert_eq!(entry["Source"], "zhibo");
    assert_eq!(entry["DetailType"], "replay.ready");
    assert_eq!(entry["EventBusName"], "default");
    assert_eq!(
        entry["Resources"][0],
        format!("arn:aws:s3:::{}/replays/{app}/{room}/{id}.m3u8", bucket())
    );
    let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["type"], "replay.ready");
    assert_eq!(detail["room_id"], room);
    assert_eq!(detail["app_id"], app.as_str());
    assert_eq!(detail["data"]["replay_id"], id.as_str());
    assert_eq!(detail["seq"], 1);
    assert!(detail["id"].as_str().unwrap().starts_with("evt_"));
}
