//! Invoking a function's router with the API Gateway events in `events/`, as the deployed
//! Lambda does: parse with `lambda_http`, re-sign for the test app, run through the router.
//! The fixtures are signed at a fixed time by an independent Python implementation
//! (`scripts/sign-event.py`): management requests for the README's example app, worker hooks
//! with the fixture hook secret, playback URLs with the fixture play key.

use crate::TestApi;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tower::ServiceExt;
use zhibo_core::clock::{now, now_ms};
use zhibo_core::signing::{BodySignature, RequestToSign, SignatureError};

/// The README's example app secret (app `demo`), which the management fixtures are signed for.
pub const README_SECRET: &str = "zhibo-example-secret-0123456789abcdef";
/// When the fixtures were signed (2026-01-01T00:00:00Z).
pub const FIXTURE_TIME: i64 = 1_767_225_600;
/// The hook secret the `hooks-*` fixtures are signed with (`HOOK_SECRET` to invoke them).
pub const FIXTURE_HOOK_SECRET: &str = "zhibo-example-hook-secret-0123456789";
/// The play key the `play-*` fixtures are signed with (`PLAY_KEY`, `PLAYBACK_MODE=signed`).
pub const FIXTURE_PLAY_KEY: &str = "zhibo-example-play-key-0123456789";
/// The `play-*` fixtures' expiry: an hour after the fixtures' signing time (1767225600).
pub const FIXTURE_PLAY_EXPIRES: i64 = 1_767_229_200;
/// The master viewer-token key the `realtime-authorizer-*` fixtures' tokens are signed with
/// (`VIEWER_TOKEN_KEY`); the tokens are for app `demo`'s room 1 and expire an hour after the
/// fixtures' signing time ([`FIXTURE_PLAY_EXPIRES`]).
pub const FIXTURE_VIEWER_TOKEN_KEY: &str = "zhibo-example-viewer-key-0123456789";
/// The replay the `play-replay` fixture and the `replay-indexer-created` fixture name.
pub const FIXTURE_REPLAY_ID: &str = "019ab1c2d3e4f5a6b7c";
/// The webhook event the `webhooks-redeliver` and `webhook-delivery-stream` fixtures name.
pub const FIXTURE_EVENT_ID: &str = "evt_019b7d2a4c0001a2b3c";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The path of fixture `name` in `events/`.
pub fn fixture_path(name: &str) -> PathBuf {
    repo().join("events").join(name)
}

/// The text of fixture `name` in `events/`.
pub fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An API Gateway (HTTP API, v2) event parsed as `lambda_http` parses it in the Lambda.
pub fn request(event: &str) -> lambda_http::Request {
    lambda_http::request::from_str(event).expect("fixture parses as an API Gateway event")
}

/// The value of header `name`; panics when it is missing.
pub fn header(req: &lambda_http::Request, name: &str) -> String {
    req.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Sets header `name` to `value`.
pub fn set_header(req: &mut lambda_http::Request, name: &str, value: &str) {
    req.headers_mut().insert(
        http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
        http::HeaderValue::from_str(value).unwrap(),
    );
}

/// Replaces a management request's signature headers with fresh ones for `app_id`/`secret`.
pub fn sign_as(mut req: lambda_http::Request, app_id: &str, secret: &str) -> lambda_http::Request {
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
pub fn resign(api: &TestApi, req: lambda_http::Request) -> lambda_http::Request {
    sign_as(req, &api.app.app_id, &api.app.app_secret)
}

/// Replaces a worker hook's `Zhibo-Signature` with one made now with `secret`.
pub fn resign_hook(mut req: lambda_http::Request, secret: &str) -> lambda_http::Request {
    let sig = BodySignature::header(secret.as_bytes(), now(), req.body());
    set_header(&mut req, "zhibo-signature", &sig);
    req
}

/// Verifies a management fixture's signature as recorded, at `at`, for `secret`.
pub fn verify_request(
    req: &lambda_http::Request,
    secret: &str,
    at: i64,
) -> Result<(), SignatureError> {
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

/// Runs `req` through `router` as the Lambda runtime does: status, headers and body.
pub async fn invoke_raw(
    router: &Router,
    req: lambda_http::Request,
) -> (u16, http::HeaderMap, String) {
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

/// Runs `req` through `router`: the status and the JSON body (`null` when not JSON).
pub async fn invoke(router: &Router, req: lambda_http::Request) -> (u16, Value) {
    let (status, _, body) = invoke_raw(router, req).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Puts the README's example app (`demo`) into the test's table.
pub async fn put_demo_app(api: &TestApi) {
    let demo = zhibo_core::app::App {
        app_id: "demo".into(),
        app_secret: README_SECRET.into(),
        created_at: now(),
    };
    assert!(api.state.apps.put_app(&demo).await.unwrap());
}

/// Records replay [`FIXTURE_REPLAY_ID`] of `app`'s room `room` as the replay indexer does.
pub async fn record_fixture_replay(api: &TestApi, app: &str, room: u64) {
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
