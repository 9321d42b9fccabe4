use super::*;
use serde_json::json;
use zhibo_core::audience::token::{Role, TokenError};

const MASTER: &str = "viewer-master-key-0123456789";
const NOW: i64 = 1_767_225_600;

fn token(app_id: &str, room_id: u64, exp: i64) -> String {
    ViewerClaims {
        app_id: app_id.into(),
        room_id,
        user_id: "u-1".into(),
        nickname: "小明".into(),
        avatar: String::new(),
        role: Role::Viewer,
        exp,
    }
    .sign(MASTER)
}

/// What AppSync sends (the shape of the AppSync Events documentation's example).
fn request(token: &str, operation: &str, channel: Option<&str>) -> Value {
    let mut ctx = json!({
        "apiId": "aaaaaa123123123example123",
        "accountId": "111122223333",
        "requestId": "f4081827-1111-4444-5555-5cf4695f339f",
        "operation": operation,
    });
    if let Some(channel) = channel {
        ctx["channelNamespaceName"] = json!("zhibo");
        ctx["channel"] = json!(channel);
    }
    json!({"authorizationToken": token, "requestContext": ctx, "requestHeaders": {"host": "x"}})
}

fn admitted(request: &Value) -> bool {
    let answer = handle(MASTER, request, NOW);
    assert_eq!(answer.ttl_override, 0, "never cached");
    answer.is_authorized
}

#[test]
fn a_valid_token_connects() {
    let t = token("demo", 7, NOW + 3600);
    assert!(admitted(&request(&t, "EVENT_CONNECT", None)));
    // A connect that names a channel anyway is still just a connect.
    assert!(admitted(&request(
        &t,
        "EVENT_CONNECT",
        Some("/zhibo/other/1")
    )));
    assert_eq!(
        decide(MASTER, &request(&t, "EVENT_CONNECT", None), NOW).map(|c| (c.app_id, c.room_id)),
        Ok(("demo".to_string(), 7))
    );
}

#[test]
fn a_token_subscribes_to_its_own_rooms_channel_only() {
    let t = token("demo", 7, NOW + 3600);
    let bearer = format!("Bearer {t}");
    for tok in [t.as_str(), bearer.as_str()] {
        assert!(admitted(&request(
            tok,
            "EVENT_SUBSCRIBE",
            Some("/zhibo/demo/7")
        )));
        assert!(admitted(&request(tok, "EVENT_CONNECT", None)));
    }
    for other in [
        "/zhibo/demo/8",
        "/zhibo/other/7",
        "/zhibo/demo/*",
        "/zhibo/*",
        "/zhibo/demo/7/x",
        "/zhibo/demo/07",
        "/default/demo/7",
        "",
    ] {
        let r = request(&t, "EVENT_SUBSCRIBE", Some(other));
        assert!(!admitted(&r), "{other}");
        assert!(
            matches!(
                decide(MASTER, &r, NOW),
                Err(Refused::Rule(Refusal::OtherChannel { .. }))
            ),
            "{other}"
        );
    }
}

#[test]
fn expired_tampered_and_foreign_tokens_are_refused() {
    let t = token("demo", 7, NOW + 3600);
    let sub = |tok: &str| request(tok, "EVENT_SUBSCRIBE", Some("/zhibo/demo/7"));
    // Expired: valid until exp, refused a second later.
    assert!(handle(MASTER, &sub(&t), NOW + 3600).is_authorized);
    assert!(!handle(MASTER, &sub(&t), NOW + 3601).is_authorized);
    assert!(matches!(
        decide(MASTER, &sub(&t), NOW + 3601),
        Err(Refused::Rule(Refusal::Token(TokenError::Expired { .. })))
    ));
    // Tampered: the claims of room 8 under room 7's MAC; the app id changed in clear.
    let other = token("demo", 8, NOW + 3600);
    let (head, _) = other.rsplit_once('.').unwrap();
    let (_, mac) = t.rsplit_once('.').unwrap();
    let forged = format!("{head}.{mac}");
    assert!(!admitted(&request(
        &forged,
        "EVENT_SUBSCRIBE",
        Some("/zhibo/demo/8")
    )));
    let moved = t.replacen("zv1.demo.", "zv1.other.", 1);
    assert!(!admitted(&request(
        &moved,
        "EVENT_SUBSCRIBE",
        Some("/zhibo/other/7")
    )));
    // Signed with another deployment's master key.
    assert!(!handle("another-master-key-0123", &sub(&t), NOW).is_authorized);
    assert!(
        !handle(
            "another-master-key-0123",
            &request(&t, "EVENT_CONNECT", None),
            NOW
        )
        .is_authorized
    );
    // Garbage and empty tokens.
    for bad in [
        "",
        "Bearer ",
        "Bearer",
        "zv1.demo.x.y",
        "not a token",
        "bearer x",
    ] {
        assert!(!admitted(&request(bad, "EVENT_CONNECT", None)), "{bad:?}");
    }
}

#[test]
fn nobody_publishes() {
    let t = token("demo", 7, NOW + 3600);
    let r = request(&t, "EVENT_PUBLISH", Some("/zhibo/demo/7"));
    assert!(!admitted(&r));
    assert_eq!(
        decide(MASTER, &r, NOW),
        Err(Refused::Rule(Refusal::PublishRefused))
    );
    assert!(!admitted(&request(
        &t,
        "EVENT_PUBLISH",
        Some("/zhibo/demo/8")
    )));
}

#[test]
fn malformed_requests_are_refused_without_panicking() {
    let t = token("demo", 7, NOW + 3600);
    let mut cases = vec![
        json!(null),
        json!([]),
        json!("EVENT_CONNECT"),
        json!(42),
        json!({}),
        json!({"authorizationToken": t}),
        json!({"authorizationToken": t, "requestContext": "x"}),
        json!({"authorizationToken": t, "requestContext": {}}),
        json!({"authorizationToken": t, "requestContext": {"operation": 1}}),
        json!({"authorizationToken": t, "requestContext": {"operation": "EVENT_UNKNOWN"}}),
        json!({"authorizationToken": t, "requestContext": {"operation": "event_connect"}}),
        // Subscribe and publish need a channel string.
        json!({"authorizationToken": t, "requestContext": {"operation": "EVENT_SUBSCRIBE"}}),
        json!({"authorizationToken": t,
               "requestContext": {"operation": "EVENT_SUBSCRIBE", "channel": ["/zhibo/demo/7"]}}),
        // The token must be a string.
        json!({"authorizationToken": 7, "requestContext": {"operation": "EVENT_CONNECT"}}),
        json!({"authorizationToken": null, "requestContext": {"operation": "EVENT_CONNECT"}}),
        json!({"authorizationToken": {"Authorization": t},
               "requestContext": {"operation": "EVENT_CONNECT"}}),
        json!({"requestContext": {"operation": "EVENT_CONNECT"}}),
    ];
    // Oversized fields are refused unread, valid token or not.
    let long_token = format!("Bearer {}{}", t, " ".repeat(MAX_AUTHORIZATION_LEN));
    cases.push(request(&long_token, "EVENT_CONNECT", None));
    cases.push(request(&"x".repeat(100_000), "EVENT_CONNECT", None));
    let long_channel = format!("/zhibo/demo/7{}", "/x".repeat(MAX_CHANNEL_LEN));
    cases.push(request(&t, "EVENT_SUBSCRIBE", Some(&long_channel)));
    for case in &cases {
        let answer = handle(MASTER, case, NOW);
        assert_eq!(
            answer,
            Answer {
                is_authorized: false,
                ttl_override: 0
            },
            "{case}"
        );
        assert!(
            matches!(decide(MASTER, case, NOW), Err(Refused::Request(_))),
            "{case}"
        );
    }
    // The documentation's example request: well formed, but not a viewer token.
    let example = request(
        "ExampleAUTHtoken123123123",
        "EVENT_SUBSCRIBE",
        Some("/news/latest"),
    );
    assert!(matches!(
        decide(MASTER, &example, NOW),
        Err(Refused::Rule(Refusal::Token(TokenError::Malformed(_))))
    ));
}

#[test]
fn answers_are_appsyncs_shape_and_say_why_without_the_token() {
    let t = token("demo", 7, NOW + 3600);
    assert_eq!(
        serde_json::to_value(handle(MASTER, &request(&t, "EVENT_CONNECT", None), NOW)).unwrap(),
        json!({"isAuthorized": true, "ttlOverride": 0})
    );
    assert_eq!(
        serde_json::to_value(handle(MASTER, &json!({}), NOW)).unwrap(),
        json!({"isAuthorized": false, "ttlOverride": 0})
    );
    // What a refusal logs.
    let r = request(&t, "EVENT_SUBSCRIBE", Some("/zhibo/demo/8"));
    let why = decide(MASTER, &r, NOW).unwrap_err().to_string();
    assert!(
        why.contains("/zhibo/demo/7") && why.contains("/zhibo/demo/8"),
        "{why}"
    );
    let expired = decide(MASTER, &r, NOW + 7200).unwrap_err().to_string();
    assert!(expired.contains("expired"), "{expired}");
    for why in [why, expired] {
        assert!(
            !why.contains(&t) && !why.contains(t.split('.').nth(3).unwrap()),
            "{why}"
        );
    }
    assert_eq!(
        decide(MASTER, &json!({}), NOW).unwrap_err().to_string(),
        "malformed authorizer request: no requestContext object"
    );
}

#[test]
fn the_key_comes_from_the_environment_or_the_secret_and_is_checked() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(
        key_from(env(&[("VIEWER_TOKEN_KEY", "viewer-master-key-0123456789")])).unwrap(),
        "viewer-master-key-0123456789"
    );
    let short = key_from(env(&[("VIEWER_TOKEN_KEY", "tiny-key")]))
        .unwrap_err()
        .to_string();
    assert!(short.contains("VIEWER_TOKEN_KEY is too short"), "{short}");
    assert!(
        !short.contains("tiny-key"),
        "the value is never in the message: {short}"
    );
    for unset in [&[][..], &[("VIEWER_TOKEN_KEY", "  ")][..]] {
        let missing = key_from(env(unset)).unwrap_err().to_string();
        assert!(
            missing.contains("VIEWER_TOKEN_KEY_SECRET_ARN is required"),
            "{missing}"
        );
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_tokens_and_channels_never_panic(
        tok in "\\PC{0,300}",
        channel in "\\PC{0,80}",
        op in proptest::sample::select(vec!["EVENT_CONNECT", "EVENT_SUBSCRIBE", "EVENT_PUBLISH", "X"]),
    ) {
        let answer = handle(MASTER, &request(&tok, op, Some(&channel)), NOW);
        proptest::prop_assert_eq!(answer.ttl_override, 0);
        // Random strings never make a valid token.
        proptest::prop_assert!(!answer.is_authorized);
    }
}
