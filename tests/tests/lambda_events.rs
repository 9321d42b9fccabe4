//! The Lambda path: every `events/*.apigw-v2.json` fixture goes through `lambda_http`'s event
//! parsing into the function's router (exactly what the deployed function runs), against
//! DynamoDB Local. The fixtures are signed for the README's example app at a fixed time (by
//! an independent Python implementation), so they also pin the signing algorithm.

use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use zhibo_e2e_tests::TestApi;
use zhibo_shared::http::{now, with_fallbacks};
use zhibo_shared::signing::RequestToSign;

const README_SECRET: &str = "zhibo-example-secret-0123456789abcdef";
const FIXTURE_TIME: i64 = 1_767_225_600;

fn fixture(name: &str) -> String {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request(event: &str) -> lambda_http::Request {
    lambda_http::request::from_str(event).expect("fixture parses as an API Gateway event")
}

/// Replaces the fixture's signature headers with fresh ones for the test app.
fn resign(api: &TestApi, mut req: lambda_http::Request) -> lambda_http::Request {
    let body = req.body().to_vec();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let nonce = zhibo_shared::ids::random_hex(10);
    for (k, v) in api.sign_headers(req.method().as_str(), &pq, &body, now(), &nonce) {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    req
}

async fn invoke(router: &Router, req: lambda_http::Request) -> (u16, Value) {
    let res = router
        .clone()
        .oneshot(req)
        .await
        .expect("router is infallible");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[test]
fn fixtures_are_signed_for_the_readme_app() {
    for name in [
        "rooms-create.apigw-v2.json",
        "rooms-list.apigw-v2.json",
        "rooms-get.apigw-v2.json",
        "rooms-patch.apigw-v2.json",
        "rooms-status.apigw-v2.json",
        "rooms-delete.apigw-v2.json",
    ] {
        let req = request(&fixture(name));
        let h = |k: &str| req.headers()[k].to_str().unwrap().to_string();
        assert_eq!(h("x-zhibo-app"), "demo");
        let to_sign = RequestToSign {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            timestamp: h("x-zhibo-timestamp").parse().unwrap(),
            nonce: &h("x-zhibo-nonce"),
            body: req.body(),
        };
        assert_eq!(
            to_sign.verify(
                README_SECRET.as_bytes(),
                &h("x-zhibo-signature"),
                FIXTURE_TIME
            ),
            Ok(()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn rooms_function_serves_every_fixture() {
    let api = TestApi::start().await;
    let rooms = with_fallbacks(fn_rooms::router(api.state.clone()));
    // GIVEN the README's example app, the fixture as recorded is refused: its timestamp is old.
    let demo = zhibo_shared::app::App {
        app_id: "demo".into(),
        app_secret: README_SECRET.into(),
        created_at: now(),
    };
    assert!(api.state.store.put_app(&demo).await.unwrap());
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
async fn wechat_function_serves_its_fixtures() {
    let api = TestApi::start().await;
    let wechat = with_fallbacks(fn_wechat::router(api.state.clone()));
    let token_event = fixture("wechat-token.apigw-v2.json")
        .replace("appid=demo", &format!("appid={}", api.app.app_id))
        .replace(
            "\"appid\": \"demo\"",
            &format!("\"appid\": \"{}\"", api.app.app_id),
        )
        .replace(README_SECRET, &api.app.app_secret);
    let (status, body) = invoke(&wechat, request(&token_event)).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let list_event = fixture("wechat-getliveinfo.apigw-v2.json").replace("ACCESS_TOKEN", token);
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
