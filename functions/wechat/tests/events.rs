//! The wechat function through the Lambda path: its `events/wechat-*` fixtures parsed by
//! `lambda_http` and run through `fn_wechat::router` on DynamoDB Local.

use axum::Router;
use serde_json::json;
use zhibo_api::with_fallbacks;
use zhibo_test_support::lambda_event::*;
use zhibo_test_support::TestApi;

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
