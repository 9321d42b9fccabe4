//! The `webhook-delivery` function: sends every room's outbox to the customer's webhook
//! endpoint, in order. Invoked by a DynamoDB Streams trigger on the table (new outbox events
//! are sent at once) and an EventBridge schedule (retries and anything the stream missed);
//! events: `events/webhook-delivery-*.json`. [`deliverer`] is the engine; locally, `zhibo
//! serve` runs it on a timer (crate `zhibo-local`).

pub mod deliverer;
pub mod status_items;

pub use deliverer::{Deliverer, DrainReport, RunReport};
pub use status_items::StatusItems;

/// What the `webhook-delivery` function was invoked with.
#[derive(Debug)]
pub enum Payload {
    /// A DynamoDB Streams batch (has `Records`).
    Stream(Box<aws_lambda_events::event::dynamodb::Event>),
    /// An EventBridge (scheduled) event (has `detail-type`).
    Schedule,
}

/// Tells the `webhook-delivery` payloads apart; the error says what was received.
pub fn classify(payload: serde_json::Value) -> Result<Payload, String> {
    let describe = |v: &serde_json::Value| match v {
        serde_json::Value::Object(m) => format!(
            "an object with keys [{}]",
            m.keys().take(10).cloned().collect::<Vec<_>>().join(", ")
        ),
        serde_json::Value::Null => "null".to_string(),
        serde_json::Value::Array(_) => "an array".to_string(),
        other => format!(
            "a JSON {}",
            match other {
                serde_json::Value::Bool(_) => "boolean",
                serde_json::Value::Number(_) => "number",
                _ => "string",
            }
        ),
    };
    if payload.get("Records").is_some() {
        return serde_json::from_value(payload)
            .map(|e| Payload::Stream(Box::new(e)))
            .map_err(|e| format!("a DynamoDB Streams event (Records) that does not parse: {e}"));
    }
    if payload.get("detail-type").is_some() {
        return Ok(Payload::Schedule);
    }
    Err(format!(
        "expected a DynamoDB Streams event (with \"Records\") or an EventBridge scheduled event \
         (with \"detail-type\"); got {}",
        describe(&payload)
    ))
}

/// Runs the `webhook-delivery` function on one payload at `now_ms`: a stream batch drains the
/// rooms that got events, a scheduled event drains every room with work due.
pub async fn handle_payload(
    deliverer: &Deliverer,
    payload: serde_json::Value,
    now_ms: i64,
) -> Result<RunReport, String> {
    Ok(match classify(payload)? {
        Payload::Stream(event) => deliverer.handle_stream(&event, now_ms).await,
        Payload::Schedule => deliverer.run_due(now_ms).await,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn payloads() {
        match classify(fixture("webhook-delivery-stream.json")).unwrap() {
            Payload::Stream(e) => {
                assert_eq!(deliverer::stream_rooms(&e), vec![("demo".to_string(), 1)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(fixture("webhook-delivery-schedule.json")).unwrap(),
            Payload::Schedule
        ));
        let e = classify(serde_json::json!({"hello": 1})).unwrap_err();
        assert!(e.contains("[hello]"), "{e}");
        assert!(classify(serde_json::json!(null))
            .unwrap_err()
            .contains("null"));
        let e = classify(serde_json::json!({"Records": 5})).unwrap_err();
        assert!(e.contains("does not parse"), "{e}");
    }
}
