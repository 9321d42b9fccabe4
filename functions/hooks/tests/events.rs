//! The hooks function through the Lambda path: its `events/hooks-*` fixtures (one worker
//! session, signed with the fixture hook secret) run through `fn_hooks::router`.

use serde_json::json;
use zhibo_api::with_fallbacks;
use zhibo_core::clock::now;
use zhibo_core::signing::{BodySignature, SignatureError};
use zhibo_test_support::lambda_event::*;
use zhibo_test_support::TestApi;

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
                zhibo_test_support::TEST_HOOK_SECRET.as_bytes(),
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
