//! The Lambda path: every fixture in `events/` goes through what the deployed function runs —
//! the `*.apigw-v2.json` ones through `lambda_http`'s event parsing into the function's router,
//! the sweeper's schedule into [`fn_sweeper::sweep`] — against DynamoDB Local (and SeaweedFS for
//! playback). The fixtures are signed at a fixed time by an independent Python implementation
//! (`scripts/sign-event.py`): management requests for the README's example app, worker hooks
//! with the fixture hook secret, playback URLs with the fixture play key, so they also pin the
//! signing algorithms. `events/` has one fixture per function and scenario, and every one of
//! them is used by a test (checked here).

use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tower::ServiceExt;
use zhibo_api::with_fallbacks;
use zhibo_core::clock::now;
use zhibo_core::clock::now_ms;
use zhibo_core::signing::{BodySignature, RequestToSign, SignatureError, UrlPurpose, UrlSignature};
use zhibo_e2e_tests::TestApi;

/// The README's example app secret (app `demo`), which the management fixtures are signed for.
const README_SECRET: &str = "zhibo-example-secret-0123456789abcdef";
/// When the fixtures were signed (2026-01-01T00:00:00Z).
const FIXTURE_TIME: i64 = 1_767_225_600;
/// The hook secret the `hooks-*` fixtures are signed with (`HOOK_SECRET` to invoke them).
const FIXTURE_HOOK_SECRET: &str = "zhibo-example-hook-secret-0123456789";
/// The play key the `play-*` fixtures are signed with (`PLAY_KEY`, `PLAYBACK_MODE=signed`).
const FIXTURE_PLAY_KEY: &str = "zhibo-example-play-key-0123456789";
/// The `play-*` fixtures' expiry: an hour after the fixtures' signing time (1767225600).
const FIXTURE_PLAY_EXPIRES: i64 = 1_767_229_200;
/// The replay the `play-replay` fixture and the `replay-indexer-created` fixture name.
const FIXTURE_REPLAY_ID: &str = "019ab1c2d3e4f5a6b7c";
/// The webhook event the `webhooks-redeliver` and `webhook-delivery-stream` fixtures name.
const FIXTURE_EVENT_ID: &str = "evt_019b7d2a4c0001a2b3c";

/// The function binaries (template.yaml's `Binary:`) and the fixture name prefix of each.
const FUNCTIONS: [&str; 8] = [
    "rooms",
    "wechat",
    "hooks",
    "sweeper",
    "webhooks",
    "webhook-delivery",
    "replay-indexer",
    "play",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture_path(name: &str) -> PathBuf {
    repo().join("events").join(name)
}

fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file name in `events/` ending in `.json`, sorted.
fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("events"))
        .expect("events/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

fn request(event: &str) -> lambda_http::Request {
    lambda_http::request::from_str(event).expect("fixture parses as an API Gateway event")
}

fn header(req: &lambda_http::Request, name: &str) -> String {
    req.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

fn set_header(req: &mut lambda_http::Request, name: &str, value: &str) {
    req.headers_mut().insert(
        http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
        http::HeaderValue::from_str(value).unwrap(),
    );
}

/// Replaces a management request's signature headers with fresh ones for `app_id`/`secret`.
fn sign_as(mut req: lambda_http::Request, app_id: &str, secret: &str) -> lambda_http::Request {
    let body = req.body().to_vec();
    let nonce = zhibo_core::ids::random_hex(10);
    let ts = now();
    let sig = RequestToSign {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
        timestamp: ts,
        nonce: &nonce,
        body: &body,
    }
    .sign(secret.as_bytes());
    for (k, v) in [
        ("x-zhibo-app", app_id.to_string()),
        ("x-zhibo-timestamp", ts.to_string()),
        ("x-zhibo-nonce", nonce),
        ("x-zhibo-signature", sig),
    ] {
        set_header(&mut req, k, &v);
    }
    req
}

/// Replaces the fixture's signature headers with fresh ones for the test app.
fn resign(api: &TestApi, req: lambda_http::Request) -> lambda_http::Request {
    sign_as(req, &api.app.app_id, &api.app.app_secret)
}

/// Replaces a worker hook's `Zhibo-Signature` with one made now with `secret`.
fn resign_hook(mut req: lambda_http::Request, secret: &str) -> lambda_http::Request {
    let sig = BodySignature::header(secret.as_bytes(), now(), req.body());
    set_header(&mut req, "zhibo-signature", &sig);
    req
}

/// Verifies a management fixture's signature as recorded, at `at`, for `secret`.
fn verify_request(req: &lambda_http::Request, secret: &str, at: i64) -> Result<(), SignatureError> {
    RequestToSign {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
        timestamp: header(req, "x-zhibo-timestamp").parse().unwrap(),
        nonce: &header(req, "x-zhibo-nonce"),
        body: req.body(),
    }
    .verify(secret.as_bytes(), &header(req, "x-zhibo-signature"), at)
}

async fn invoke_raw(router: &Router, req: lambda_http::Request) -> (u16, http::HeaderMap, String) {
    let res = router
        .clone()
        .oneshot(req)
        .await
        .expect("router is infallible");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8(bytes.to_vec()).expect("UTF-8 answer"),
    )
}

async fn invoke(router: &Router, req: lambda_http::Request) -> (u16, Value) {
    let (status, _, body) = invoke_raw(router, req).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Puts the README's example app (`demo`) into the test's table.
async fn put_demo_app(api: &TestApi) {
    let demo = zhibo_core::app::App {
        app_id: "demo".into(),
        app_secret: README_SECRET.into(),
        created_at: now(),
    };
    assert!(api.state.apps.put_app(&demo).await.unwrap());
}

/// Records replay [`FIXTURE_REPLAY_ID`] of `app`'s room `room` as the replay indexer does.
async fn record_fixture_replay(api: &TestApi, app: &str, room: u64) {
    let t = now();
    let replay = zhibo_core::replay::Replay {
        app_id: app.into(),
        room_id: room,
        replay_id: FIXTURE_REPLAY_ID.into(),
        playlist_key: zhibo_core::object_keys::replay_playlist(app, room, FIXTURE_REPLAY_ID),
        create_time: t - 3600,
        end_time: t - 60,
        expire_time: t + 30 * 86_400,
        duration_s: 3540.0,
        segments: 1770,
        size_bytes: 123_456_789,
        discontinuities: 0,
        indexed_at_ms: now_ms(),
        event_id: zhibo_core::webhook::WebhookEvent::new_id(now_ms()),
    };
    let event_id = replay.event_id.clone();
    let recorded = api
        .state
        .replays
        .record_replay(
            &replay,
            |seq| zhibo_core::webhook::WebhookEvent {
                id: event_id.clone(),
                kind: zhibo_core::webhook::EventType::ReplayReady,
                created_at: t,
                app_id: app.into(),
                room_id: room,
                seq,
                data: replay.ready_event_data(None),
            },
            now_ms(),
        )
        .await
        .expect("record replay");
    assert!(
        matches!(recorded, zhibo_store::RecordedReplay::Recorded(_)),
        "{recorded:?}"
    );
}

// ---- the fixtures themselves -------------------------------------------------------------

#[test]
fn every_fixture_is_used_by_a_test_and_every_function_has_one() {
    let mut sources = String::new();
    for dir in ["tests/tests", "media-worker/tests"] {
        let Ok(entries) = std::fs::read_dir(repo().join(dir)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let names = fixture_names();
    assert!(names.len() >= 27, "{names:?}");
    // Used: named as a string literal by some test.
    let unused: Vec<&String> = names
        .iter()
        .filter(|n| !sources.contains(&format!("\"{n}\"")))
        .collect();
    assert!(
        unused.is_empty(),
        "fixtures in events/ that no test in tests/tests or media-worker/tests uses: {unused:?}"
    );
    // Named after a function, and every function (every `Binary:` of template.yaml) has one.
    let template = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    let binaries: Vec<&str> = template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Binary: "))
        .map(str::trim)
        .collect();
    let mut sorted = binaries.clone();
    sorted.sort_unstable();
    let mut known = FUNCTIONS.to_vec();
    known.sort_unstable();
    assert_eq!(sorted, known, "template.yaml's functions");
    let function_of = |name: &str| {
        FUNCTIONS
            .iter()
            .filter(|f| name.starts_with(&format!("{f}-")))
            .max_by_key(|f| f.len())
            .copied()
    };
    for n in &names {
        assert!(
            function_of(n).is_some(),
            "{n}: a fixture is named {{binary}}-{{scenario}}.json"
        );
    }
    for f in FUNCTIONS {
        assert!(
            names.iter().any(|n| function_of(n) == Some(f)),
            "no fixture for function {f}"
        );
    }
    // Every fixture is JSON.
    for n in &names {
        let _: Value = serde_json::from_str(&fixture(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
}

/// True when `path` matches the route template `route` (`{name}` matches one segment); the
/// matched parameters.
fn match_route(route: &str, path: &str) -> Option<Vec<(String, String)>> {
    let (r, p): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    if r.len() != p.len() {
        return None;
    }
    let mut params = Vec::new();
    for (r, p) in r.iter().zip(&p) {
        match r.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            Some(name) if !p.is_empty() => params.push((name.to_string(), p.to_string())),
            Some(_) => return None,
            None if r == p => {}
            None => return None,
        }
    }
    Some(params)
}

#[test]
fn api_gateway_fixtures_are_what_api_gateway_sends() {
    let template = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    let names: Vec<String> = fixture_names()
        .into_iter()
        .filter(|n| n.ends_with(".apigw-v2.json"))
        .collect();
    assert!(names.len() >= 21, "{names:?}");
    for name in &names {
        let text = fixture(name);
        let v: Value = serde_json::from_str(&text).unwrap();
        let req = request(&text);
        let ctx = &v["requestContext"];
        assert_eq!(v["version"], "2.0", "{name}");
        let raw_path = v["rawPath"].as_str().unwrap();
        let method = ctx["http"]["method"].as_str().unwrap();
        assert_eq!(ctx["http"]["path"], raw_path, "{name}");
        assert_eq!(req.uri().path(), raw_path, "{name}");
        assert_eq!(req.method().as_str(), method, "{name}");
        let raw_query = v["rawQueryString"].as_str().unwrap();
        assert_eq!(req.uri().query().unwrap_or(""), raw_query, "{name}");
        assert_eq!(v["routeKey"], ctx["routeKey"], "{name}");
        assert_eq!(ctx["stage"], "$default", "{name}");
        assert_eq!(ctx["domainName"], v["headers"]["host"], "{name}");
        let t = ctx["timeEpoch"].as_i64().unwrap() / 1000;
        assert!(
            (FIXTURE_TIME..FIXTURE_TIME + 60).contains(&t),
            "{name}: {t}"
        );
        // The query parameters API Gateway splits out are those of the raw query.
        let pairs = zhibo_api::query_pairs(Some(raw_query));
        let qsp = v["queryStringParameters"].as_object();
        assert_eq!(qsp.map_or(0, |q| q.len()), pairs.len(), "{name}");
        for (k, val) in &pairs {
            assert_eq!(v["queryStringParameters"][k], val.as_str(), "{name}: {k}");
        }
        // A body's content-length, when given, is its length.
        if let Some(len) = v["headers"]["content-length"].as_str() {
            assert_eq!(
                len.parse::<usize>().unwrap(),
                v["body"].as_str().unwrap_or("").len(),
                "{name}"
            );
        }
        // A route key other than $default is one of the template's HttpApi events, and the
        // path parameters are what it matches.
        let route_key = v["routeKey"].as_str().unwrap();
        if route_key == "$default" {
            continue;
        }
        let (m, route) = route_key.split_once(' ').expect("METHOD /path");
        assert_eq!(m, method, "{name}");
        assert!(
            template.contains(&format!("Method: {m}, Path: {route}}}"))
                || template.contains(&format!("Method: {m}, Path: \"{route}\"}}")),
            "{name}: {route_key} is not an HttpApi event in template.yaml"
        );
        let params = match_route(route, raw_path)
            .unwrap_or_else(|| panic!("{name}: {raw_path} does not match {route}"));
        let pp = v["pathParameters"].as_object();
        assert_eq!(pp.map_or(0, |p| p.len()), params.len(), "{name}");
        for (k, val) in &params {
            assert_eq!(v["pathParameters"][k], val.as_str(), "{name}: {k}");
        }
    }
}

#[test]
fn fixtures_are_signed_for_the_readme_app() {
    let signed: Vec<String> = fixture_names()
        .into_iter()
        .filter(|n| {
            (n.starts_with("rooms-") || n.starts_with("webhooks-")) && n.ends_with(".apigw-v2.json")
        })
        .collect();
    for name in [
        "rooms-create.apigw-v2.json",
        "rooms-list.apigw-v2.json",
        "rooms-get.apigw-v2.json",
        "rooms-patch.apigw-v2.json",
        "rooms-status.apigw-v2.json",
        "rooms-delete.apigw-v2.json",
        "rooms-push-url.apigw-v2.json",
        "rooms-actions.apigw-v2.json",
        "rooms-replays.apigw-v2.json",
        "rooms-play-urls.apigw-v2.json",
        "webhooks-put.apigw-v2.json",
        "webhooks-deliveries.apigw-v2.json",
        "webhooks-redeliver.apigw-v2.json",
    ] {
        assert!(signed.iter().any(|n| n == name), "{name}");
    }
    let mut nonces = std::collections::HashSet::new();
    for name in &signed {
        let req = request(&fixture(name));
        assert_eq!(header(&req, "x-zhibo-app"), "demo", "{name}");
        assert_eq!(header(&req, "x-zhibo-timestamp"), FIXTURE_TIME.to_string());
        assert!(
            nonces.insert(header(&req, "x-zhibo-nonce")),
            "{name}: nonce reused"
        );
        assert_eq!(
            verify_request(&req, README_SECRET, FIXTURE_TIME),
            Ok(()),
            "{name}"
        );
        // ... and only for that secret, at that time.
        assert_eq!(
            verify_request(&req, "another-secret-0123456789", FIXTURE_TIME),
            Err(SignatureError::Mismatch),
            "{name}"
        );
        assert!(
            matches!(
                verify_request(&req, README_SECRET, now()),
                Err(SignatureError::OutsideWindow { .. })
            ),
            "{name}"
        );
    }
}

// ---- rooms -------------------------------------------------------------------------------

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
            zhibo_e2e_tests::TEST_PUSH_KEY,
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

// ---- wechat ------------------------------------------------------------------------------

/// A WeChat access token for the test app, from the `wechat-token` fixture.
async fn wechat_token(api: &TestApi, wechat: &Router) -> String {
    let token_event = fixture("wechat-token.apigw-v2.json")
        .replace("appid=demo", &format!("appid={}", api.app.app_id))
        .replace(
            "\"appid\": \"demo\"",
            &format!("\"appid\": \"{}\"", api.app.app_id),
        )
        .replace(README_SECRET, &api.app.app_secret);
    let (status, body) = invoke(wechat, request(&token_event)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn wechat_function_serves_its_fixtures() {
    let api = TestApi::start().await;
    let wechat = with_fallbacks(fn_wechat::router(api.state.clone()));
    let token = wechat_token(&api, &wechat).await;
    let list_event = fixture("wechat-getliveinfo.apigw-v2.json").replace("ACCESS_TOKEN", &token);
    let (status, body) = invoke(&wechat, request(&list_event)).await;
    assert_eq!(status, 200);
    assert_eq!(body["errcode"], 1, "no rooms yet: {body}");
    api.call("POST", "/v1/rooms", &api.room_body("直播", 60))
        .await;
    let (_, body) = invoke(&wechat, request(&list_event)).await;
    assert_eq!(body["errcode"], 0);
    assert_eq!(body["room_info"][0]["name"], "直播");
    // an unknown route through a function answers JSON 404
    let unknown = fixture("wechat-getliveinfo.apigw-v2.json")
        .replace("/wxa/business/getliveinfo", "/wxa/nope");
    let (status, body) = invoke(&wechat, request(&unknown)).await;
    assert_eq!((status, body["errcode"].as_i64()), (404, Some(40400)));
}

#[tokio::test]
async fn wechat_function_answers_the_get_replay_fixture() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let wechat = with_fallbacks(fn_wechat::router(api.state.clone()));
    // With the placeholder token: WeChat's invalid credential.
    let (status, body) = invoke(
        &wechat,
        request(&fixture("wechat-get-replay.apigw-v2.json")),
    )
    .await;
    assert_eq!(
        (status, body["errcode"].as_i64()),
        (401, Some(40001)),
        "{body}"
    );
    let token = wechat_token(&api, &wechat).await;
    let event = fixture("wechat-get-replay.apigw-v2.json").replace("ACCESS_TOKEN", &token);
    // Room 1 does not exist yet.
    let (status, body) = invoke(&wechat, request(&event)).await;
    assert_eq!((status, body["errcode"].as_i64()), (404, Some(1)), "{body}");
    assert_eq!(api.create_room("回放", 60).await, 1);
    let (status, body) = invoke(&wechat, request(&event)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"live_replay": [], "errcode": 0, "total": 0, "errmsg": "ok"})
    );
    record_fixture_replay(&api, &app, 1).await;
    let (status, body) = invoke(&wechat, request(&event)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["errcode"].as_i64(), body["total"].as_i64()),
        (Some(0), Some(1))
    );
    let replay = &body["live_replay"][0];
    let media_url = replay["media_url"].as_str().unwrap();
    assert!(
        media_url.ends_with(&format!("/replays/{app}/1/{FIXTURE_REPLAY_ID}.m3u8")),
        "{media_url}"
    );
    // ISO 8601 UTC times, WeChat's format.
    for field in ["create_time", "expire_time"] {
        let t = replay[field].as_str().unwrap();
        assert!(
            t.ends_with('Z') && t.contains('T') && t.len() >= 20,
            "{field}: {t}"
        );
    }
}

// ---- hooks -------------------------------------------------------------------------------

const HOOK_FIXTURES: [&str; 3] = [
    "hooks-publish.apigw-v2.json",
    "hooks-heartbeat.apigw-v2.json",
    "hooks-unpublish.apigw-v2.json",
];

#[test]
fn hook_fixtures_are_one_worker_session_signed_with_the_fixture_secret() {
    let mut kinds = Vec::new();
    for (i, name) in HOOK_FIXTURES.iter().enumerate() {
        let req = request(&fixture(name));
        let sig = header(&req, "zhibo-signature");
        // As recorded: valid at the fixed time, for the fixture secret only.
        assert_eq!(
            BodySignature::verify(
                FIXTURE_HOOK_SECRET.as_bytes(),
                Some(&sig),
                req.body(),
                FIXTURE_TIME
            ),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            BodySignature::verify(
                zhibo_e2e_tests::TEST_HOOK_SECRET.as_bytes(),
                Some(&sig),
                req.body(),
                FIXTURE_TIME
            ),
            Err(SignatureError::Mismatch),
            "{name}"
        );
        assert!(
            matches!(
                BodySignature::verify(
                    FIXTURE_HOOK_SECRET.as_bytes(),
                    Some(&sig),
                    req.body(),
                    now()
                ),
                Err(SignatureError::OutsideWindow { .. })
            ),
            "{name}"
        );
        // The body is exactly what the worker sends (no unknown fields), for room demo/1.
        let event: zhibo_core::hooks::HookEvent =
            serde_json::from_slice(req.body()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (
                event.app_id.as_str(),
                event.room_id,
                event.stream_name.as_str()
            ),
            ("demo", 1, "demo_1")
        );
        assert_eq!(event.seq, i as u64, "{name}");
        let t: i64 = sig
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(event.at_ms, t * 1000, "{name}");
        assert_eq!(req.uri().path(), zhibo_core::hooks::HOOKS_PATH);
        kinds.push(event);
    }
    assert_eq!(
        kinds.iter().map(|e| e.event).collect::<Vec<_>>(),
        [
            zhibo_core::hooks::HookEventKind::Publish,
            zhibo_core::hooks::HookEventKind::Heartbeat,
            zhibo_core::hooks::HookEventKind::Unpublish
        ]
    );
    assert!(kinds.iter().all(|e| e.session_id == kinds[0].session_id));
}

#[tokio::test]
async fn hooks_function_serves_its_fixtures() {
    let api = TestApi::start_with(&[("HOOK_SECRET", FIXTURE_HOOK_SECRET)]).await;
    let hooks = with_fallbacks(fn_hooks::router(api.state.clone()));
    let rooms = with_fallbacks(fn_rooms::router(api.state.clone()));
    // The hooks name app demo's room 1: create it with the rooms-create fixture, as demo.
    put_demo_app(&api).await;
    let create = fixture("rooms-create.apigw-v2.json")
        .replace("1767229200", &(now() + 600).to_string())
        .replace("1767236400", &(now() + 4200).to_string());
    let (status, body) = invoke(&rooms, sign_as(request(&create), "demo", README_SECRET)).await;
    assert_eq!((status, body["room_id"].as_i64()), (201, Some(1)), "{body}");
    let status_of = || async {
        api.state
            .rooms
            .get_room("demo", 1)
            .await
            .unwrap()
            .unwrap()
            .live_status
            .code()
    };

    // As recorded, a hook is refused: its signature is from 2026-01-01, outside the window.
    let (status, body) = invoke(&hooks, request(&fixture("hooks-publish.apigw-v2.json"))).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["errmsg"].as_str().unwrap().contains("hook signature"),
        "{body}"
    );
    // Signed now with another secret: refused too.
    let wrong = resign_hook(
        request(&fixture("hooks-publish.apigw-v2.json")),
        "another-hook-secret-0123456789",
    );
    let (status, _) = invoke(&hooks, wrong).await;
    assert_eq!(status, 401);
    assert_eq!(status_of().await, 102);

    // Re-signed now: publish → live, heartbeat → keep going, unpublish → abnormal (106).
    for (name, want) in [
        ("hooks-publish.apigw-v2.json", 101),
        ("hooks-heartbeat.apigw-v2.json", 101),
        ("hooks-unpublish.apigw-v2.json", 106),
    ] {
        let req = resign_hook(request(&fixture(name)), FIXTURE_HOOK_SECRET);
        let (status, body) = invoke(&hooks, req).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body, json!({"allow": true}), "{name}");
        assert_eq!(status_of().await, want, "{name}");
    }
    // Hooks arrive twice: the publish again (an older seq of the same session) changes nothing.
    let again = resign_hook(
        request(&fixture("hooks-publish.apigw-v2.json")),
        FIXTURE_HOOK_SECRET,
    );
    let _ = invoke(&hooks, again).await;
    assert_eq!(status_of().await, 106);
}

// ---- sweeper -----------------------------------------------------------------------------

#[tokio::test]
async fn sweeper_runs_on_its_schedule_fixture() {
    use aws_lambda_events::event::eventbridge::EventBridgeEvent;
    let text = fixture("sweeper-schedule.json");
    // What EventBridge sends a scheduled rule's target.
    let event: EventBridgeEvent<Value> = serde_json::from_str(&text).expect("EventBridge event");
    assert_eq!(event.detail_type, "Scheduled Event");
    assert_eq!(event.source, "aws.events");
    assert_eq!(event.detail, json!({}));
    assert_eq!(event.time.map(|t| t.timestamp()), Some(FIXTURE_TIME));
    let rule = &event.resources.as_deref().unwrap()[0];
    assert!(
        rule.starts_with("arn:aws:events:us-east-1:123456789012:rule/"),
        "{rule}"
    );
    // The function takes any JSON (functions/sweeper/src/main.rs: LambdaEvent<Value>) and
    // sweeps at the current time; the webhook-delivery function tells it by its detail-type.
    let payload: Value = serde_json::from_str(&text).unwrap();
    assert!(matches!(
        fn_webhooks::classify(payload),
        Ok(fn_webhooks::Payload::Schedule)
    ));

    let api = TestApi::start().await;
    let room = api.create_room("没开播", 60).await;
    let end_time = api.stored_room(room).await.end_time;
    // Nothing is due now.
    let report = fn_sweeper::sweep(&api.state, now_ms()).await.unwrap();
    assert_eq!(report, fn_sweeper::SweepReport::default());
    // Past its end_time without going live: 102 → 107, once.
    let at = (end_time + 1) * 1000;
    let report = fn_sweeper::sweep(&api.state, at).await.unwrap();
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({"due": 1, "changed": 1, "rearmed": 0, "failed": 0,
               "takedowns": 0, "taken_down": 0, "takedowns_confirmed": 0, "takedowns_failed": 0})
    );
    assert_eq!(
        api.stored_room(room).await.live_status,
        zhibo_core::LiveStatus::Expired
    );
    let report = fn_sweeper::sweep(&api.state, at).await.unwrap();
    assert_eq!(report.due, 0, "{report:?}");
}

// ---- webhooks ----------------------------------------------------------------------------

#[tokio::test]
async fn webhooks_function_serves_its_fixtures() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let store = &api.state.outbox;
    let webhooks = with_fallbacks(fn_webhooks::router(api.state.clone()));
    let run = |name: &str| resign(&api, request(&fixture(name)));
    let (status, _) = invoke(&webhooks, request(&fixture("webhooks-put.apigw-v2.json"))).await;
    assert_eq!(status, 401, "as recorded: old timestamp");

    // Nothing failed yet; the fixture's event is unknown.
    let (status, body) = invoke(&webhooks, run("webhooks-deliveries.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"deliveries": [], "next_cursor": null}));
    let (status, body) = invoke(&webhooks, run("webhooks-redeliver.apigw-v2.json")).await;
    assert_eq!(status, 404, "{body}");

    // PUT {"url"}: the endpoint with a fresh secret.
    let (status, body) = invoke(&webhooks, run("webhooks-put.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], "https://shop.example.com/zhibo/webhook");
    let secret = body["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    // The same PUT again keeps the secret.
    let (_, again) = invoke(&webhooks, run("webhooks-put.apigw-v2.json")).await;
    assert_eq!(again["secret"], secret);

    // GIVEN the fixture's event (room 1's room.started) was dead-lettered after a 503.
    let event = zhibo_core::webhook::WebhookEvent {
        id: FIXTURE_EVENT_ID.into(),
        kind: zhibo_core::webhook::EventType::RoomStarted,
        created_at: now(),
        app_id: app.clone(),
        room_id: 1,
        seq: 1,
        data: json!({"live_status": 101, "previous_status": 102, "reason": "publish"}),
    };
    store
        .enqueue_events(&app, 1, std::slice::from_ref(&event), now_ms())
        .await
        .unwrap();
    let head = store.outbox_head(&app, 1).await.unwrap().expect("queued");
    let attempt = zhibo_core::webhook::Attempt {
        at_ms: now_ms(),
        http_status: Some(503),
        error: Some("HTTP 503".into()),
    };
    assert!(store
        .dead_letter_event(&head, &attempt, true)
        .await
        .unwrap());
    assert_eq!(store.outbox_head(&app, 1).await.unwrap(), None);

    // GET ?status=dead&limit=20 lists it.
    let (status, body) = invoke(&webhooks, run("webhooks-deliveries.apigw-v2.json")).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["deliveries"][0];
    assert_eq!(d["id"], FIXTURE_EVENT_ID, "{body}");
    assert_eq!(d["type"], "room.started");
    assert_eq!(
        (d["room_id"].as_i64(), d["seq"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(d["status"], "dead");
    assert_eq!(
        (d["attempts"].as_i64(), d["last_status"].as_i64()),
        (Some(1), Some(503))
    );
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 1);

    // POST …/{id}/redeliver: 202, back in the room's outbox with the same id and seq.
    let (status, body) = invoke(&webhooks, run("webhooks-redeliver.apigw-v2.json")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({"id": FIXTURE_EVENT_ID, "status": "retrying"}));
    let head = store.outbox_head(&app, 1).await.unwrap().expect("requeued");
    assert_eq!((head.event_id.as_str(), head.seq), (FIXTURE_EVENT_ID, 1));
    assert_eq!(head.body, serde_json::to_string(&event).unwrap());
    // No longer dead.
    let (_, body) = invoke(&webhooks, run("webhooks-deliveries.apigw-v2.json")).await;
    assert_eq!(body["deliveries"], json!([]), "{body}");
}

// ---- play --------------------------------------------------------------------------------

/// The play fixtures carry app `demo`'s room 1 URL signed (with the key derived from the
/// fixture play key) at the fixtures' signing time, valid for an hour: play URLs last at most
/// 7 days, so the invocations below re-sign them ([`play_request`]).
#[test]
fn play_fixtures_are_signed_with_the_fixture_play_key() {
    let at = FIXTURE_PLAY_EXPIRES - 3600;
    for name in ["play-live.apigw-v2.json", "play-replay.apigw-v2.json"] {
        let req = request(&fixture(name));
        let q = zhibo_api::query_pairs(req.uri().query());
        let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            UrlSignature::verify_stream(
                FIXTURE_PLAY_KEY,
                UrlPurpose::Play,
                "demo_1",
                param("txSecret"),
                param("txTime"),
                at
            ),
            Ok(FIXTURE_PLAY_EXPIRES),
            "{name}"
        );
        assert_eq!(
            UrlSignature::verify_stream(
                "another-play-key-0123456789",
                UrlPurpose::Play,
                "demo_1",
                param("txSecret"),
                param("txTime"),
                at
            ),
            Err(SignatureError::Mismatch),
            "{name}"
        );
    }
}

/// A play fixture with its URL re-signed for `demo_1` until `expires_at`.
fn play_request(name: &str, expires_at: i64) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(&fixture(name)).expect("fixture JSON");
    let sig = UrlSignature::sign_room(FIXTURE_PLAY_KEY, UrlPurpose::Play, "demo", 1, expires_at);
    event["rawQueryString"] = json!(sig.query());
    event["queryStringParameters"] = json!({"txSecret": sig.tx_secret, "txTime": sig.tx_time});
    request(&event.to_string())
}

#[tokio::test]
async fn play_function_serves_its_fixtures_from_a_private_bucket() {
    let bucket = format!("private{}", zhibo_core::ids::random_hex(4));
    let api = TestApi::start_with(&[
        ("PLAYBACK_MODE", "signed"),
        ("PLAY_KEY", FIXTURE_PLAY_KEY),
        ("MEDIA_BUCKET", &bucket),
    ])
    .await;
    let s3 = api.s3();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the private bucket");
    let put = |key: String, body: Vec<u8>| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .body(body.into())
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        }
    };
    let play = with_fallbacks(fn_play::router(fn_play::PlayState::new(
        (*api.state.config).clone(),
        &api.sdk,
    )));
    // The fixtures play room 1 of app `demo`: /play serves rooms that exist (and are not
    // banned), so the table gets that room.
    let demo = zhibo_core::app::App::generate("demo", now()).expect("app demo");
    assert!(api.state.apps.put_app(&demo).await.expect("put app"));
    let body: zhibo_core::room::CreateRoom =
        serde_json::from_str(&api.room_body("fixture room", 60)).expect("room body");
    let created = api
        .state
        .rooms
        .create_room("demo", body, None, &api.state.create_limits(), now())
        .await
        .expect("create demo room");
    assert_eq!(created.room.room_id, 1, "the fixtures name room 1");

    // Nothing published yet: 404 with the reason (and CORS, so a web player can show it).
    let (status, headers, body) =
        invoke_raw(&play, play_request("play-live.apigw-v2.json", now() + 600)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no live stream yet"), "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");

    // The worker's objects for demo/1: a live playlist, its segments, a replay naming them.
    let segment = |i: u8| [0x47, i, i, i].repeat(47);
    let live = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:4\n\
                #EXTINF:2.000,\ns1/4.ts\n#EXTINF:2.000,\ns1/5.ts\n";
    put("live/demo/1/index.m3u8".into(), live.as_bytes().to_vec()).await;
    put("live/demo/1/s1/4.ts".into(), segment(4)).await;
    put("live/demo/1/s1/5.ts".into(), segment(5)).await;
    let replay = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n\
                  #EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\n../../../live/demo/1/s1/4.ts\n\
                  #EXTINF:2.000,\n../../../live/demo/1/s1/5.ts\n#EXT-X-ENDLIST\n";
    put(
        format!("replays/demo/1/{FIXTURE_REPLAY_ID}.m3u8"),
        replay.as_bytes().to_vec(),
    )
    .await;

    for (name, original, cache, url_ttl) in [
        ("play-live.apigw-v2.json", live, "private, max-age=1", 600),
        // Replays: segment URLs last as long as the play URL, at most 7 days (SigV4).
        (
            "play-replay.apigw-v2.json",
            replay,
            "private, max-age=60",
            7 * 86_400,
        ),
    ] {
        // As long as the longest play URL (7 days, with the clock window's slack on top), so
        // replay segment URLs get the 7-day SigV4 maximum.
        let expires_at = now() + zhibo_core::signing::MAX_URL_TTL_S + 200;
        let (status, headers, body) = invoke_raw(&play, play_request(name, expires_at)).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
        assert_eq!(headers["cache-control"], cache, "{name}");
        assert_eq!(headers["access-control-allow-origin"], "*");
        let (orig, got): (Vec<&str>, Vec<&str>) =
            (original.lines().collect(), body.lines().collect());
        assert_eq!(orig.len(), got.len(), "{name}: {body}");
        let mut presigned = 0;
        for (o, g) in orig.iter().zip(&got) {
            if o.starts_with('#') {
                assert_eq!(o, g, "{name}");
                continue;
            }
            presigned += 1;
            let i = if o.ends_with("4.ts") { 4 } else { 5 };
            assert!(
                g.contains(&format!("/{bucket}/live/demo/1/s1/{i}.ts?")),
                "{name}: {g}"
            );
            assert!(
                g.contains("X-Amz-Signature=") && g.contains(&format!("X-Amz-Expires={url_ttl}")),
                "{name}: {g}"
            );
            let r = reqwest::get(*g).await.unwrap();
            assert_eq!(r.status(), 200, "{name}: presigned {g}");
            assert_eq!(r.bytes().await.unwrap().to_vec(), segment(i));
        }
        assert_eq!(presigned, 2, "{name}");
    }

    // A tampered signature is refused with the reason.
    let text = fixture("play-live.apigw-v2.json");
    let v: Value = serde_json::from_str(&text).unwrap();
    let secret = v["queryStringParameters"]["txSecret"].as_str().unwrap();
    let tampered = text.replace(secret, &format!("00{}", &secret[2..]));
    let (status, headers, body) = invoke_raw(&play, request(&tampered)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("does not match"), "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
}

// ---- scripts/sign-event.py ---------------------------------------------------------------

fn sign_event_script(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(repo().join("scripts/sign-event.py"))
        .args(args)
        .env_remove("ZHIBO_APP_ID")
        .env_remove("ZHIBO_APP_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .expect("python3 runs scripts/sign-event.py (Python 3 is required)")
}

#[tokio::test]
async fn sign_event_script_signs_fixtures_for_invoking_by_hand() {
    let api = TestApi::start().await;
    let rooms = with_fallbacks(fn_rooms::router(api.state.clone()));
    let webhooks = with_fallbacks(fn_webhooks::router(api.state.clone()));
    let env = [
        ("ZHIBO_APP_ID", api.app.app_id.as_str()),
        ("ZHIBO_APP_SECRET", api.app.app_secret.as_str()),
    ];
    // A query (canonicalized), a body (hashed), and neither.
    for (name, router, want) in [
        ("rooms-list.apigw-v2.json", &rooms, 200),
        ("rooms-push-url.apigw-v2.json", &rooms, 404),
        ("webhooks-deliveries.apigw-v2.json", &webhooks, 200),
        ("rooms-play-urls.apigw-v2.json", &rooms, 404),
    ] {
        let path = fixture_path(name);
        let out = sign_event_script(&[path.to_str().unwrap()], &env);
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let req = request(&stdout);
        assert_eq!(header(&req, "x-zhibo-app"), api.app.app_id);
        assert_eq!(
            verify_request(&req, &api.app.app_secret, now()),
            Ok(()),
            "{name}"
        );
        let v: Value = serde_json::from_str(&stdout).unwrap();
        let t = v["requestContext"]["timeEpoch"].as_i64().unwrap() / 1000;
        assert!(
            (t - now()).abs() <= 5,
            "{name}: requestContext.timeEpoch {t}"
        );
        // Only the signature headers and the time changed.
        let mut orig: Value = serde_json::from_str(&fixture(name)).unwrap();
        let mut signed = v.clone();
        for e in [&mut orig, &mut signed] {
            for h in [
                "x-zhibo-app",
                "x-zhibo-timestamp",
                "x-zhibo-nonce",
                "x-zhibo-signature",
            ] {
                e["headers"].as_object_mut().unwrap().remove(h);
            }
            e["requestContext"]["time"] = Value::Null;
            e["requestContext"]["timeEpoch"] = Value::Null;
        }
        assert_eq!(orig, signed, "{name}");
        // And the function accepts it (rooms 1 does not exist in this table: 404, not 401).
        let (status, body) = invoke(router, req).await;
        assert_eq!(status, want, "{name}: {body}");
    }

    // --hook-secret re-signs a worker hook's Zhibo-Signature.
    let path = fixture_path("hooks-publish.apigw-v2.json");
    let out = sign_event_script(
        &["--hook-secret", FIXTURE_HOOK_SECRET, path.to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let req = request(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        BodySignature::verify(
            FIXTURE_HOOK_SECRET.as_bytes(),
            Some(&header(&req, "zhibo-signature")),
            req.body(),
            now()
        ),
        Ok(())
    );
    assert_eq!(
        req.body().as_ref(),
        request(&fixture("hooks-publish.apigw-v2.json"))
            .body()
            .as_ref()
    );

    // --at and --nonce reproduce a fixture exactly as recorded (the way they were made).
    let path = fixture_path("rooms-actions.apigw-v2.json");
    let recorded = request(&fixture("rooms-actions.apigw-v2.json"));
    let out = sign_event_script(
        &[
            "--at",
            &FIXTURE_TIME.to_string(),
            "--nonce",
            &header(&recorded, "x-zhibo-nonce"),
            path.to_str().unwrap(),
        ],
        &[
            ("ZHIBO_APP_ID", "demo"),
            ("ZHIBO_APP_SECRET", README_SECRET),
        ],
    );
    assert!(out.status.success());
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    let orig: Value = serde_json::from_str(&fixture("rooms-actions.apigw-v2.json")).unwrap();
    assert_eq!(again, orig);

    // Refusals, with the reason: no credentials, an unsigned route, a hook without its secret.
    for (args, env, needle) in [
        (vec!["rooms-list.apigw-v2.json"], vec![], "ZHIBO_APP_ID"),
        (
            vec!["wechat-token.apigw-v2.json"],
            env.to_vec(),
            "invoke it as is",
        ),
        (
            vec!["hooks-publish.apigw-v2.json"],
            env.to_vec(),
            "--hook-secret",
        ),
        (
            vec!["--hook-secret", "s", "rooms-list.apigw-v2.json"],
            vec![],
            "/internal/hooks",
        ),
        (vec!["sweeper-schedule.json"], env.to_vec(), "payload v2"),
    ] {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let last = args.pop().unwrap();
        args.push(fixture_path(&last).to_string_lossy().into_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sign_event_script(&args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}
