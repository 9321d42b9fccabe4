//! The sweeper through its schedule fixture (`events/sweeper-schedule.json`) on DynamoDB Local.

use serde_json::{json, Value};
use zhibo_core::clock::now_ms;
use zhibo_test_support::lambda_event::*;
use zhibo_test_support::TestApi;

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
        fn_webhook_delivery::classify(payload),
        Ok(fn_webhook_delivery::Payload::Schedule)
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
