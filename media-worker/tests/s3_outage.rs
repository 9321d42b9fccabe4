//! SeaweedFS is stopped for 20 s in the middle of a live: the worker keeps reading RTMP,
//! queues (and, past its memory budget, spills to disk) what it cannot upload, and loses no
//! segment once S3 is back. Its own test binary: it stops the stack's S3 for everyone.

mod common;

use std::time::Duration;

use common::*;
use zhibo_core::object_keys;
use zhibo_media::hls::parse_media_playlist;

/// Stopping S3 must hit the stack the worker uploads to: `scripts/stack.sh` acts on
/// `ZHIBO_STATE` and `ZHIBO_S3_PORT`, which `make test` exports for its private stack.
fn check_stack_env() {
    let port = std::env::var("ZHIBO_S3_PORT").unwrap_or_else(|_| {
        panic!("ZHIBO_S3_PORT and ZHIBO_STATE must be set (make test does): this test stops and restarts that stack's S3")
    });
    assert!(
        std::env::var("ZHIBO_STATE").is_ok(),
        "ZHIBO_STATE must be set (make test does)"
    );
    assert!(
        s3_endpoint().ends_with(&format!(":{port}")),
        "ZHIBO_S3_ENDPOINT does not point at the stack on ZHIBO_S3_PORT={port}"
    );
}

fn stack(cmd: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/stack.sh");
    let status = std::process::Command::new("bash")
        .args([script, cmd])
        .status()
        .expect("run scripts/stack.sh");
    assert!(status.success(), "scripts/stack.sh {cmd} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_seconds_without_s3_lose_no_segment() {
    check_stack_env();
    let worker = WorkerProc::start(&[("ZHIBO_UPLOAD_MEMORY_MB", "1")]).await;
    let room = unique_room();
    let publisher = publish(&worker.url(&signed_key(room)), 36);
    let live_key = object_keys::live_playlist(APP, room);
    wait_for(Duration::from_secs(20), "the first segments", || {
        let key = live_key.clone();
        async move {
            get_text(&key)
                .await
                .and_then(|t| parse_media_playlist(&t).ok())
                .is_some_and(|p| p.segments.len() >= 2)
        }
    })
    .await;

    stack("s3-stop");
    tokio::time::sleep(Duration::from_secs(20)).await;
    let spilled = worker.metric("zhibo_upload_spilled_total").await;
    let queued = worker.metric("zhibo_upload_queue_objects").await;
    stack("s3-start");

    let (ok, err) = finish(publisher, Duration::from_secs(60)).await;
    assert!(ok, "the publisher never noticed the outage: {err}");
    assert!(queued >= 5.0, "segments queued during the outage: {queued}");
    assert!(
        spilled >= 1.0,
        "with a 1 MiB budget, the queue spilled to disk: {spilled}"
    );

    let prefix = format!("replays/{APP}/{room}/");
    let sdk = zhibo_store::aws::sdk_config().await;
    let s3 = zhibo_store::aws::s3_client(&sdk, Some(&s3_endpoint()));
    let mut replay_key = None;
    for _ in 0..150 {
        let out = s3
            .list_objects_v2()
            .bucket(bucket())
            .prefix(&prefix)
            .send()
            .await;
        if let Ok(out) = out {
            let keys: Vec<String> = out
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect();
            if keys.iter().any(|k| k.ends_with(".json")) {
                replay_key = keys.into_iter().find(|k| k.ends_with(".m3u8"));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let replay_key = replay_key.expect("the replay is written once S3 is back");
    let replay = parse_media_playlist(&get_text(&replay_key).await.unwrap()).unwrap();
    let total: f64 = replay.segments.iter().map(|s| s.duration).sum();
    assert!(
        total >= 33.0,
        "the replay covers the whole 36-s live, outage included: {total} s"
    );
    for (i, s) in replay.segments.iter().enumerate() {
        assert!(
            s.uri.ends_with(&format!("/{i}.ts")),
            "segment {i} is {}",
            s.uri
        );
        let key = s.uri.trim_start_matches("../../../");
        assert!(get_object(key).await.is_some(), "{key} was lost");
    }
    assert_eq!(worker.metric("zhibo_uploads_abandoned_total").await, 0.0);
    assert!(worker.metric("zhibo_upload_errors_total").await >= 1.0);
    assert_eq!(
        worker.metric("zhibo_upload_spill_bytes").await,
        0.0,
        "spill files are removed once uploaded"
    );
}
