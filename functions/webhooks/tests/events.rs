//! The webhooks function through the Lambda path: its `events/webhooks-*` fixtures run through
//! `fn_webhooks::router` on DynamoDB Local.

use serde_json::json;
use zhibo_api::with_fallbacks;
use zhibo_core::clock::{now, now_ms};
use zhibo_test_support::lambda_event::*;
use zhibo_test_support::TestApi;

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
