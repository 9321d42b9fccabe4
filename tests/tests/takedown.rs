//! Takedown (docs/api.md "Takedown", security review M2) on the local stack: DynamoDB Local and
//! SeaweedFS, whose `hls` bucket anonymous clients read as viewers read the CDN. Objects are
//! written where and as the worker writes them.
//!
//! - `ban` stops the public URLs of the live playlist, its segments and the room's replays at
//!   once (the answer of `POST /actions` comes after the removal), leaves other rooms alone,
//!   and what a worker writes after the ban is taken down too (the sweeper repeats it).
//! - Signed mode: `/play` refuses a banned room with the reason, and presigned segment URLs
//!   handed out before the ban stop working.
//! - A `close_replay` room's replay is removed when it lands (the indexer), and setting
//!   `close_replay` removes the replays already there.

use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use zhibo_core::hooks::HookEventKind;
use zhibo_core::object_keys;
use zhibo_e2e_tests::TestApi;

const DEADLINE: Duration = Duration::from_secs(60);
const PLAY_KEY: &str = "play-key-for-tests-0123";

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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn bucket(api: &TestApi) -> String {
    api.state.config.media_bucket.clone()
}

async fn put(api: &TestApi, key: &str, body: &str) {
    api.s3()
        .put_object()
        .bucket(bucket(api))
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

/// Anonymous GET through the bucket endpoint (what a viewer or the CDN sees): the status.
async fn public_status(api: &TestApi, key: &str) -> u16 {
    let url = format!("{}/{}/{key}", zhibo_e2e_tests::s3_endpoint(), bucket(api));
    reqwest::get(&url).await.expect("GET").status().as_u16()
}

/// The objects a live session and its replay leave in the bucket, as the worker names them.
struct Media {
    playlist: String,
    segments: Vec<String>,
    replay: String,
    summary: String,
}

async fn write_media(api: &TestApi, room: u64, session: &str, replay_id: &str, n: u64) -> Media {
    let app = &api.app.app_id;
    let mut live = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n",
    );
    let mut vod = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n");
    let mut segments = Vec::new();
    for i in 0..n {
        let key = object_keys::live_segment(app, room, session, i);
        put(api, &key, &"G".repeat(188)).await;
        live.push_str(&format!(
            "#EXTINF:2.000,\n{}\n",
            object_keys::live_segment_uri(session, i)
        ));
        vod.push_str(&format!(
            "#EXTINF:2.000,\n{}\n",
            object_keys::replay_segment_uri(app, room, session, i)
        ));
        segments.push(key);
    }
    vod.push_str("#EXT-X-ENDLIST\n");
    let m = Media {
        playlist: object_keys::live_playlist(app, room),
        segments,
        replay: object_keys::replay_playlist(app, room, replay_id),
        summary: object_keys::replay_summary(app, room, replay_id),
    };
    put(api, &m.playlist, &live).await;
    put(api, &m.replay, &vod).await;
    put(api, &m.summary, "{}").await;
    m
}

impl Media {
    fn keys(&self) -> Vec<&str> {
        let mut k = vec![
            self.playlist.as_str(),
            self.replay.as_str(),
            self.summary.as_str(),
        ];
        k.extend(self.segments.iter().map(String::as_str));
        k
    }
}

/// The public status of every object of `m`.
async fn statuses(api: &TestApi, m: &Media) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for k in m.keys() {
        out.push((k.to_string(), public_status(api, k).await));
    }
    out
}

fn all_gone(s: &[(String, u16)]) -> bool {
    s.iter().all(|(_, st)| *st == 403 || *st == 404)
}

/// Makes the room live through the publish hook, as the worker does.
async fn go_live(api: &TestApi, room: u64, session: &str) {
    let r = api
        .hook(&api.hook_event(HookEventKind::Publish, room, session, 0))
        .await;
    assert_eq!(r.status, 200, "publish hook: {}", r.text);
}

async fn ban(api: &TestApi, room: u64) -> Value {
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/actions"),
            r#"{"action":"ban"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

#[tokio::test]
async fn a_ban_takes_the_public_live_and_replays_down_at_once_and_keeps_them_down() {
    let api = TestApi::start().await;
    let _sweeper = api.spawn_sweeper(Duration::from_millis(300));
    let room = api.create_room("to ban", 5).await;
    let other = api.create_room("neighbour", 5).await;
    let session = zhibo_core::ids::time_ordered_id(zhibo_core::clock::now_ms());
    go_live(&api, room, &session).await;
    let media = write_media(&api, room, &session, "0190000000000aaaaaa", 3).await;
    let neighbour = write_media(&api, other, &session, "0190000000000bbbbbb", 2).await;
    for (k, st) in statuses(&api, &media).await {
        assert_eq!(st, 200, "{k} is public before the ban");
    }

    let answer = ban(&api, room).await;
    assert_eq!(answer["live_status"], 104, "{answer}");

    // At once: the answer came after the removal.
    let after = statuses(&api, &media).await;
    assert!(all_gone(&after), "still served after the ban: {after:?}");
    assert_eq!(answer["media_takedown"], "complete", "{answer}");
    // Room 70 is not room 7: the neighbour (and its segments) stays.
    for (k, st) in statuses(&api, &neighbour).await {
        assert_eq!(st, 200, "{k} of another room must stay");
    }

    // The worker learns of the ban at its next heartbeat: its last playlist, a late segment
    // and the replay land after the ban, and are taken down too.
    let late = write_media(&api, room, &session, "0190000000001cccccc", 4).await;
    eventually(
        "what the worker wrote after the ban is taken down",
        || async { all_gone(&statuses(&api, &late).await) },
    )
    .await;

    // The replay indexer refuses the banned room's replay (and removes it on arrival).
    put(&api, &late.replay, "#EXTM3U\n").await;
    let report = api.indexer().handle(&s3_event(&api, &late.replay)).await;
    let text = format!("{report:?}");
    assert!(text.contains("banned"), "{text}");
    assert!(
        matches!(public_status(&api, &late.replay).await, 403 | 404),
        "the replay indexer removed it"
    );
    // A banned room has no playback URL either.
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/play-urls"), "")
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
}

/// An S3 ObjectCreated event for `key` (the indexer's trigger), from the fixture.
fn s3_event(api: &TestApi, key: &str) -> aws_lambda_events::s3::S3Event {
    let path = format!(
        "{}/../events/replay-indexer-created.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
    v["Records"][0]["s3"]["object"]["key"] = json!(key);
    v["Records"][0]["s3"]["bucket"]["name"] = json!(bucket(api));
    serde_json::from_value(v).expect("an S3Event")
}

#[tokio::test]
async fn signed_playback_refuses_a_banned_room_and_its_presigned_segments_stop() {
    let private = format!("private{}", zhibo_core::ids::random_hex(4));
    let api = TestApi::start_with(&[
        ("PLAYBACK_MODE", "signed"),
        ("API_BASE_URL", "https://api.example.com"),
        ("PLAY_KEY", PLAY_KEY),
        ("MEDIA_BUCKET", &private),
    ])
    .await;
    api.s3()
        .create_bucket()
        .bucket(&private)
        .send()
        .await
        .expect("create the private bucket");
    let room = api.create_room("signed ban", 5).await;
    let session = zhibo_core::ids::time_ordered_id(zhibo_core::clock::now_ms());
    go_live(&api, room, &session).await;
    write_media(&api, room, &session, "0190000000000dddddd", 2).await;

    let r = api
        .call("GET", &format!("/v1/rooms/{room}/play-urls"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let hls = r.json["hls"].as_str().unwrap();
    let url = format!(
        "{}{}",
        api.base,
        hls.trim_start_matches("https://api.example.com")
    );
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 200);
    let playlist = res.text().await.unwrap();
    let presigned: Vec<&str> = playlist.lines().filter(|l| l.starts_with("http")).collect();
    assert_eq!(presigned.len(), 2, "{playlist}");
    assert_eq!(reqwest::get(presigned[0]).await.unwrap().status(), 200);

    ban(&api, room).await;

    // The same valid play URL is refused with the reason (after the status cache's few
    // seconds at most).
    eventually("/play refuses the banned room", || async {
        reqwest::get(&url).await.unwrap().status() == 403
    })
    .await;
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["errmsg"].as_str().unwrap_or("").contains("banned"),
        "{body}"
    );
    // Segment URLs presigned before the ban name deleted objects.
    for u in presigned {
        let st = reqwest::get(u).await.unwrap().status().as_u16();
        assert!(st == 403 || st == 404, "presigned {u} still answers {st}");
    }
}

#[tokio::test]
async fn a_close_replay_room_s_replays_are_not_publicly_served() {
    let api = TestApi::start().await;
    let mut body: Value = serde_json::from_str(&api.room_body("no replays", 5)).unwrap();
    body["close_replay"] = json!(true);
    let r = api.call("POST", "/v1/rooms", &body.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let room = r.json["room_id"].as_u64().unwrap();
    let session = zhibo_core::ids::time_ordered_id(zhibo_core::clock::now_ms());
    go_live(&api, room, &session).await;
    let media = write_media(&api, room, &session, "0190000000000eeeeee", 2).await;
    // The session ends (the replay lands when the reconnect window closed).
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/actions"),
            r#"{"action":"end"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let report = api.indexer().handle(&s3_event(&api, &media.replay)).await;
    assert!(format!("{report:?}").contains("close_replay"), "{report:?}");
    let after = statuses(&api, &media).await;
    assert!(
        all_gone(&after),
        "a close_replay room's replay (and its ended live, the same media) is served: {after:?}"
    );

    // Setting close_replay on a room with replays takes them down too.
    let room2 = api.create_room("replays, then closed", 5).await;
    go_live(&api, room2, &session).await;
    let media2 = write_media(&api, room2, &session, "0190000000000ffffff", 2).await;
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room2}/actions"),
            r#"{"action":"end"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(public_status(&api, &media2.replay).await, 200);
    let r = api
        .call(
            "PATCH",
            &format!("/v1/rooms/{room2}"),
            r#"{"close_replay":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = statuses(&api, &media2).await;
    assert!(
        all_gone(&after),
        "still served after close_replay: {after:?}"
    );
}

/// What a CloudFront stand-in received: (path, authorization header, body).
type Invalidations = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

#[tokio::test]
async fn a_ban_invalidates_the_cdn_paths_of_the_room() {
    use axum::routing::post;
    let seen: Invalidations = Default::default();
    let app = axum::Router::new()
        .route(
            "/2020-05-31/distribution/{id}/invalidation",
            post(
                |axum::extract::State(seen): axum::extract::State<Invalidations>,
                 uri: http::Uri,
                 headers: http::HeaderMap,
                 body: String| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    seen.lock()
                        .unwrap()
                        .push((uri.path().to_string(), auth, body));
                    (http::StatusCode::CREATED, "<Invalidation/>")
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let api = TestApi::start_with(&[
        ("CDN_DISTRIBUTION_ID", "E2TESTDIST"),
        ("ZHIBO_CLOUDFRONT_ENDPOINT", &endpoint),
    ])
    .await;
    let room = api.create_room("cdn", 5).await;
    let session = zhibo_core::ids::time_ordered_id(zhibo_core::clock::now_ms());
    go_live(&api, room, &session).await;
    write_media(&api, room, &session, "0190000000000abcdef", 1).await;

    let answer = ban(&api, room).await;
    assert_eq!(answer["media_takedown"], "complete", "{answer}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one invalidation: {seen:?}");
    let (path, auth, body) = &seen[0];
    assert_eq!(path, "/2020-05-31/distribution/E2TESTDIST/invalidation");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=")
            && auth.contains("/us-east-1/cloudfront/aws4_request"),
        "signed for CloudFront: {auth}"
    );
    let app_id = &api.app.app_id;
    assert!(body.contains("<Quantity>2</Quantity>"), "{body}");
    assert!(
        body.contains(&format!("<Path>/live/{app_id}/{room}/*</Path>")),
        "{body}"
    );
    assert!(
        body.contains(&format!("<Path>/replays/{app_id}/{room}/*</Path>")),
        "{body}"
    );
}
