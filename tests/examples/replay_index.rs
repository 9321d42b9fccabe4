//! Replay indexing benchmark (`bench/replays.sh`, issue 5): a 12-hour replay playlist (21,600
//! 2-s segments, rendered by the worker's own `render_vod_playlist`, with the worker's size
//! metadata) in SeaweedFS; the time from the ObjectCreated event to the replay being queryable
//! in DynamoDB Local.
//!
//! Measured in one run, `runs` times each:
//! - **event → queryable**: [`fn_replay_indexer::Indexer::handle`] is given the S3Event while another
//!   task polls `GetItem` (consistent read) every millisecond; the clock stops when the item is
//!   there.
//! - **PUT → queryable (local notifications)**: the same, but nothing calls the handler: the
//!   playlist is PUT and the SeaweedFS metadata events (the local stand-in for S3 notifications)
//!   trigger it; includes the notification's own latency.
//! - **floor**: the I/O any indexer must do, without zhibo: GetObject of the playlist and one
//!   PutItem of a replay-sized item; and the pure parse of the playlist alone.
//! - **without metadata** (info): the fallback that sizes the replay by listing the 21,600
//!   segment objects (they are uploaded first, tiny).
//!
//! ```sh
//! cargo run --release -p zhibo-e2e-tests --example replay_index -- [runs] [segments]
//! ```

use std::time::{Duration, Instant};
use zhibo_core::replay::metadata;
use zhibo_e2e_tests::TestApi;
use zhibo_media::hls::{render_vod_playlist, PlaylistSegment};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(what: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "| {what} | {} | {:.1} | {:.1} | {:.1} |",
        v.len(),
        p(0.5),
        p(0.9),
        v[v.len() - 1]
    );
}

fn playlist(app: &str, room: u64, n: usize) -> String {
    let start_ms = 1_795_428_000_000i64;
    let segs: Vec<PlaylistSegment> = (0..n)
        .map(|i| PlaylistSegment {
            uri: zhibo_core::object_keys::replay_segment_uri(
                app,
                room,
                "0199a0b1c2d3e4f5a6b",
                i as u64,
            ),
            duration: 2.0,
            discontinuity: false,
            program_date_time_ms: Some(start_ms + 2000 * i as i64),
        })
        .collect();
    render_vod_playlist(&segs, 2)
}

fn s3_event(bucket: &str, key: &str, size: usize) -> aws_lambda_events::s3::S3Event {
    serde_json::from_value(serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T10:01:00.123Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "bench"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "bench",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "bench"}, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key, "size": size, "eTag": "", "sequencer": "0"}}}]}))
    .expect("S3Event")
}

/// Polls until the replay is queryable; returns when it is.
async fn until_queryable(api: &TestApi, room: u64, id: &str) {
    loop {
        if let Ok(Some(_)) = api
            .state
            .replays
            .get_replay(&api.app.app_id, room, id, 0)
            .await
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::main]
async fn main() {
    let runs = arg(1, 10);
    let n = arg(2, 21_600);
    let bucket = std::env::var("MEDIA_BUCKET").unwrap_or_else(|_| "hls".into());
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let room = api.create_room("bench", 5).await;
    let s3 = api.s3();
    let indexer = api.indexer();
    let text = playlist(&app, room, n);
    let meta = [
        (metadata::SIZE_BYTES, (n as u64 * 500_000).to_string()),
        (metadata::START_MS, "1795428000000".to_string()),
        (
            metadata::END_MS,
            (1_795_428_000_000i64 + 2000 * n as i64).to_string(),
        ),
    ];
    println!(
        "playlist: {n} segments, {} bytes ({:.1} h); {runs} runs each",
        text.len(),
        n as f64 * 2.0 / 3600.0
    );
    let put = |key: String, body: String, with_meta: bool| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        let meta = meta.clone();
        async move {
            let mut req = s3
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body.into_bytes().into());
            if with_meta {
                for (k, v) in &meta {
                    req = req.metadata(*k, v);
                }
            }
            req.send().await.expect("PUT playlist");
        }
    };

    println!("| what | runs | p50 ms | p90 ms | max ms |\n|---|---|---|---|---|");
    // zhibo: event → queryable.
    let mut handled = Vec::new();
    for _ in 0..runs {
        let id = zhibo_core::ids::time_ordered_id(zhibo_core::clock::now_ms());
        let key = zhibo_core::object_keys::replay_playlist(&app, room, &id);
        put(key.clone(), text.clone(), true).await;
        let event = s3_event(&bucket, &key, text.len());
        let t0 = Instant::now();
        let (report, ()) = tokio::join!(indexer.handle(&event), until_queryable(&api, room, &id));
        let queryable = t0.elapsed();
        assert!(
            matches!(
                report.records[0],
                fn_replay_indexer::RecordOutcome::Indexed { .. }
            ),
            "{report:?}"
        );
        handled.push(ms(queryable));
    }
    row("zhibo indexer: S3 event → replay queryable", handled);

    // The local notification path: PUT → SeaweedFS metadata event → indexer → queryable.
    if let Some(notifications) = zhibo_local::seaweedfs::FilerNotifications::from_env(&bucket) {
        let bridge = zhibo_local::background::spawn_replay_indexer(api.indexer(), notifications);
        tokio::time::sleep(Duration::from_secs(2)).await; // the tail has started
        let mut via = Vec::new();
        for _ in 0..runs {
            let id = zhibo_core::ids::time_ordered_id(zhibo_core::clock::now_ms());
            let key = zhibo_core::object_keys::replay_playlist(&app, room, &id);
            put(key, text.clone(), true).await;
            let t0 = Instant::now();
            until_queryable(&api, room, &id).await;
            via.push(ms(t0.elapsed()));
        }
        row(
            "local stack: PUT done → queryable (SeaweedFS event + indexer)",
            via,
        );
        bridge.abort();
    }

    // Floor: GetObject of the playlist + one PutItem of a replay-sized item; parse alone.
    let key = zhibo_core::object_keys::replay_playlist(&app, room, "floor");
    put(key.clone(), text.clone(), true).await;
    let (mut io, mut parse) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let t0 = Instant::now();
        let body = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        api.state
            .table
            .client()
            .put_item()
            .table_name(api.state.table.name())
            .item(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("FLOOR#{i}")),
            )
            .item(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("x".repeat(40)),
            )
            .item(
                "body",
                aws_sdk_dynamodb::types::AttributeValue::S("x".repeat(600)),
            )
            .send()
            .await
            .expect("put item");
        io.push(ms(t0.elapsed()));
        let t1 = Instant::now();
        let facts = fn_replay_indexer::inspect_playlist(&key, &body).expect("parse");
        parse.push(ms(t1.elapsed()));
        assert_eq!(facts.segments as usize, n);
    }
    row("floor: GetObject playlist + PutItem (no zhibo code)", io);
    row("floor: parse + check the playlist alone (CPU)", parse);

    // Info: without metadata the indexer lists the segment objects to size the replay.
    if std::env::var("BENCH_WITHOUT_METADATA").as_deref() == Ok("1") {
        use futures::stream::{self, StreamExt};
        let seg_keys: Vec<String> = (0..n)
            .map(|i| {
                zhibo_core::object_keys::live_segment(&app, room, "0199a0b1c2d3e4f5a6b", i as u64)
            })
            .collect();
        stream::iter(seg_keys)
            .for_each_concurrent(32, |k| put(k, "x".repeat(188), false))
            .await;
        let mut listed = Vec::new();
        for _ in 0..runs.min(3) {
            let id = zhibo_core::ids::time_ordered_id(zhibo_core::clock::now_ms());
            let key = zhibo_core::object_keys::replay_playlist(&app, room, &id);
            put(key.clone(), text.clone(), false).await;
            let event = s3_event(&bucket, &key, text.len());
            let t0 = Instant::now();
            let report = indexer.handle(&event).await;
            assert!(
                matches!(
                    report.records[0],
                    fn_replay_indexer::RecordOutcome::Indexed { .. }
                ),
                "{report:?}"
            );
            listed.push(ms(t0.elapsed()));
        }
        row(
            "info: no size metadata → list 21,600 segments, then index",
            listed,
        );
    }
}
