//! The authorizer through its fixtures (`events/realtime-authorizer-*.json`): what AppSync
//! Events sends a Lambda authorizer, each with a viewer token for app `demo`'s room 1 issued by
//! an independent Python implementation (`scripts/sign-event.py --viewer-key`) at the fixtures'
//! time, valid for an hour, with `FIXTURE_VIEWER_TOKEN_KEY`.

use serde_json::{json, Value};
use zhibo_core::audience::channel::{room_channel, NAMESPACE};
use zhibo_core::audience::token::{Role, ViewerClaims};
use zhibo_test_support::lambda_event::*;

use fn_realtime_authorizer::{decide, handle, Answer};

fn event(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const YES: Answer = Answer {
    is_authorized: true,
    ttl_override: 0,
};
const NO: Answer = Answer {
    is_authorized: false,
    ttl_override: 0,
};

#[test]
fn fixtures_are_appsync_authorizer_requests_for_room_1() {
    for (name, operation) in [
        ("realtime-authorizer-connect.json", "EVENT_CONNECT"),
        ("realtime-authorizer-subscribe.json", "EVENT_SUBSCRIBE"),
        ("realtime-authorizer-publish.json", "EVENT_PUBLISH"),
    ] {
        let e = event(name);
        let ctx = &e["requestContext"];
        assert_eq!(ctx["operation"], operation, "{name}");
        for field in ["apiId", "accountId", "requestId"] {
            assert!(ctx[field].is_string(), "{name}: requestContext.{field}");
        }
        assert!(e["requestHeaders"].is_object(), "{name}");
        if operation != "EVENT_CONNECT" {
            assert_eq!(ctx["channelNamespaceName"], NAMESPACE, "{name}");
            assert_eq!(ctx["channel"], room_channel("demo", 1), "{name}");
        }
        // The token is the one the Rust side issues for the same claims: the Python and Rust
        // implementations agree byte for byte.
        let claims = ViewerClaims {
            app_id: "demo".into(),
            room_id: 1,
            user_id: "viewer-1".into(),
            nickname: "viewer".into(),
            avatar: String::new(),
            role: Role::Viewer,
            exp: FIXTURE_TIME + 3600,
        };
        assert_eq!(
            e["authorizationToken"],
            claims.sign(FIXTURE_VIEWER_TOKEN_KEY),
            "{name}"
        );
    }
}

#[test]
fn the_fixture_token_connects_and_subscribes_to_room_1_until_it_expires() {
    let key = FIXTURE_VIEWER_TOKEN_KEY;
    let connect = event("realtime-authorizer-connect.json");
    let subscribe = event("realtime-authorizer-subscribe.json");
    for e in [&connect, &subscribe] {
        assert_eq!(handle(key, e, FIXTURE_TIME), YES);
        assert_eq!(handle(key, e, FIXTURE_TIME + 3600), YES);
        assert_eq!(handle(key, e, FIXTURE_TIME + 3601), NO, "expired");
        assert_eq!(handle("another-viewer-key-0123456789", e, FIXTURE_TIME), NO);
    }
    let claims = decide(key, &subscribe, FIXTURE_TIME).unwrap();
    assert_eq!((claims.app_id.as_str(), claims.room_id), ("demo", 1));
    // Any other channel is refused: another room, another app, a wildcard, another namespace.
    for channel in [
        "/zhibo/demo/2",
        "/zhibo/other/1",
        "/zhibo/demo/*",
        "/default/demo/1",
    ] {
        let mut e = subscribe.clone();
        e["requestContext"]["channel"] = json!(channel);
        assert_eq!(handle(key, &e, FIXTURE_TIME), NO, "{channel}");
    }
    // The same token as a bearer token.
    let mut bearer = subscribe.clone();
    bearer["authorizationToken"] = json!(format!(
        "Bearer {}",
        subscribe["authorizationToken"].as_str().unwrap()
    ));
    assert_eq!(handle(key, &bearer, FIXTURE_TIME), YES);
}

#[test]
fn the_fixture_publish_is_refused() {
    let publish = event("realtime-authorizer-publish.json");
    assert_eq!(handle(FIXTURE_VIEWER_TOKEN_KEY, &publish, FIXTURE_TIME), NO);
    let why = decide(FIXTURE_VIEWER_TOKEN_KEY, &publish, FIXTURE_TIME)
        .unwrap_err()
        .to_string();
    assert!(why.contains("cannot publish"), "{why}");
}

/// The answer is what AppSync reads: `isAuthorized` and `ttlOverride`, nothing else.
#[test]
fn answers_serialize_as_appsync_expects() {
    let subscribe = event("realtime-authorizer-subscribe.json");
    assert_eq!(
        serde_json::to_value(handle(FIXTURE_VIEWER_TOKEN_KEY, &subscribe, FIXTURE_TIME)).unwrap(),
        json!({"isAuthorized": true, "ttlOverride": 0})
    );
}
