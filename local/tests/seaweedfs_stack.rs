//! Against the local stack (SeaweedFS behind its S3 gateway, `scripts/stack.sh`): S3 event
//! notifications made from the filer's metadata events, end to end.

use std::time::Duration;

use aws_lambda_events::s3::S3Event;
use serde_json::Value;
use zhibo_local::seaweedfs::{FilerNotifications, FILER_ENV, WEED_BIN_ENV};
use zhibo_test_support::s3_endpoint;

const START_THE_STACK: &str =
    "Run `make test`, or `scripts/stack.sh up && eval \"$(scripts/stack.sh env)\"` first.";

/// The only record, checked to parse as `aws_lambda_events`' S3Event.
fn only_record(s3_event: Value) -> Value {
    let parsed: S3Event = serde_json::from_value(s3_event.clone()).unwrap();
    assert_eq!(parsed.records.len(), 1);
    let records = s3_event["Records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    records[0].clone()
}

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Collects what `run` delivers into a channel.
fn channel_callback() -> (
    impl FnMut(Value) -> std::future::Ready<()> + Send + 'static,
    tokio::sync::mpsc::UnboundedReceiver<Value>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let callback = move |ev: Value| {
        let _ = tx.send(ev);
        std::future::ready(())
    };
    (callback, rx)
}

/// A playlist PUT through the S3 gateway is announced exactly once, with its key, size and
/// ETag; the `.json` beside it is not.
#[tokio::test]
async fn seaweedfs_local_stack_announces_a_new_playlist_once() {
    let bucket = std::env::var("MEDIA_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "hls".into());
    let endpoint = s3_endpoint();
    let notifications = FilerNotifications::from_env(&bucket).unwrap_or_else(|| {
        panic!(
            "{WEED_BIN_ENV} or {FILER_ENV} is not set: this test tails the local stack's \
             SeaweedFS filer. {START_THE_STACK}"
        )
    });
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "zhibo-test",
            ))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .build(),
    );
    let folder = format!("replays/test{}/1", random_suffix());
    let stem = format!("{folder}/r{}", random_suffix());
    let (playlist_key, json_key) = (format!("{stem}.m3u8"), format!("{stem}.json"));
    let body = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-ENDLIST\n".to_vec();

    let (callback, mut rx) = channel_callback();
    let task = tokio::spawn(notifications.run(callback));
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key(&playlist_key)
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(&json_key)
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();

    let mut ours = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // until the first one, then 2 s more for duplicates
    let mut until = deadline;
    while let Ok(Some(ev)) = tokio::time::timeout_at(until, rx.recv()).await {
        let record = only_record(ev);
        let key = record["s3"]["object"]["key"].as_str().unwrap().to_owned();
        if fn_replay_indexer::decode_event_key(&key).is_some_and(|k| k.starts_with(&folder)) {
            ours.push(record);
            until = tokio::time::Instant::now() + Duration::from_secs(2);
        }
    }
    task.abort();
    let _ = task.await;
    for key in [&playlist_key, &json_key] {
        let _ = s3.delete_object().bucket(&bucket).key(key).send().await;
    }

    assert_eq!(ours.len(), 1, "{ours:?}");
    let object = &ours[0]["s3"]["object"];
    assert_eq!(object["key"], playlist_key.as_str());
    assert_eq!(object["size"], body.len());
    let etag = put.e_tag().unwrap_or_default().trim_matches('"');
    assert_eq!(object["eTag"], etag);
    assert_eq!(ours[0]["s3"]["bucket"]["name"], bucket.as_str());
}
