//! Audience interaction on the real functions over DynamoDB Local: viewer tokens, issued by the
//! customer's backend through the signed API, bound to one room and one user.

use zhibo_core::audience::token::{verify, Role, TokenError};
use zhibo_e2e_tests::TestApi;

const VIEWER_KEY: &str = "viewer-token-key-0123456789";

async fn api() -> TestApi {
    TestApi::start_with(&[
        ("VIEWER_TOKEN_KEY", VIEWER_KEY),
        ("REALTIME_WS_URL", "ws://127.0.0.1:18080/event/realtime"),
        ("REALTIME_HTTP_URL", "http://127.0.0.1:18080/event"),
    ])
    .await
}

#[tokio::test]
async fn a_viewer_token_is_bound_to_its_room_and_user() {
    let api = api().await;
    let room = api.create_room("chat", 60).await;
    let other = api.create_room("other", 60).await;
    let body = r#"{"user_id": "u-42", "nickname": "小明", "avatar": "https://example.com/a.png", "ttl_s": 600}"#;
    let r = api
        .call("POST", &format!("/v1/rooms/{room}/viewer-tokens"), body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json["token"].as_str().unwrap().to_string();
    let now = zhibo_core::clock::now();
    let exp = r.json["expires_at"].as_i64().unwrap();
    assert!((now + 590..=now + 610).contains(&exp), "{}", r.text);
    let rt = &r.json["realtime"];
    assert_eq!(rt["ws"], "ws://127.0.0.1:18080/event/realtime");
    assert_eq!(rt["http"], "http://127.0.0.1:18080/event");
    assert_eq!(rt["channel"], format!("/zhibo/{}/{room}", api.app.app_id));
    assert_eq!(rt["authorization"]["host"], "127.0.0.1:18080");
    assert_eq!(rt["authorization"]["Authorization"], token.as_str());

    // Verified without the database: this room and user, not the other room.
    let claims = verify(VIEWER_KEY, &token, now, Some((&api.app.app_id, room))).unwrap();
    assert_eq!(claims.user_id, "u-42");
    assert_eq!(claims.nickname, "小明");
    assert_eq!(claims.role, Role::Viewer);
    assert_eq!(
        verify(VIEWER_KEY, &token, now, Some((&api.app.app_id, other))),
        Err(TokenError::OtherRoom)
    );
    assert!(matches!(
        verify(VIEWER_KEY, &token, exp + 1, None),
        Err(TokenError::Expired { .. })
    ));
    assert!(!r.text.contains(VIEWER_KEY));
}

#[tokio::test]
async fn viewer_tokens_are_refused_with_the_reason() {
    let api = api().await;
    let room = api.create_room("chat", 60).await;
    let path = format!("/v1/rooms/{room}/viewer-tokens");
    for (body, field) in [
        (r#"{"user_id": ""}"#, "user_id"),
        (r#"{"user_id": "u", "ttl_s": 86401}"#, "ttl_s"),
        (r#"{"user_id": "u", "ttl_s": 10}"#, "ttl_s"),
        (
            r#"{"user_id": "u", "avatar": "http://example.com/a.png"}"#,
            "avatar",
        ),
        (r#"{"user_id": "u", "role": "admin"}"#, "role"),
        (r#"{"user_id": "u", "extra": 1}"#, "extra"),
    ] {
        let r = api.call("POST", &path, body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.errmsg().contains(field), "{body}: {}", r.text);
    }
    // Unsigned: 401.
    let r = api
        .raw("POST", &path, br#"{"user_id": "u"}"#.to_vec(), &[])
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // No such room (or another tenant's): 404.
    let r = api
        .call(
            "POST",
            "/v1/rooms/999999/viewer-tokens",
            r#"{"user_id": "u"}"#,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Banned: 409 with the reason.
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/actions"),
            r#"{"action": "ban"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.call("POST", &path, r#"{"user_id": "u"}"#).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains("banned"), "{}", r.text);

    // A deployment without VIEWER_TOKEN_KEY says what to set.
    let bare = TestApi::start().await;
    let room = bare.create_room("no chat", 60).await;
    let r = bare
        .call(
            "POST",
            &format!("/v1/rooms/{room}/viewer-tokens"),
            r#"{"user_id": "u"}"#,
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.errmsg().contains("VIEWER_TOKEN_KEY"), "{}", r.text);
}
