//! `S3Objects` (and the upload queue in front of it) against a real S3-compatible server: the local
//! stack's SeaweedFS (`ZHIBO_S3_ENDPOINT`, which `make test` sets). Without it these tests fail
//! with instructions.

mod common;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use common::{bucket, s3_endpoint};
use std::sync::Arc;
use zhibo_media_worker::sink::{
    FlushReport, MediaObjects, ObjectPut, PutCondition, S3Objects, UploadConfig, UploadQueue,
};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A path-style client for the stack (credentials default to the stack's `test`/`test`).
async fn client(endpoint: &str, key_id: &str, secret: &str) -> aws_sdk_s3::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(env_or("AWS_REGION", "us-east-1")))
        .credentials_provider(Credentials::new(key_id, secret, None, None, "zhibo-tests"))
        .load()
        .await;
    zhibo_store::aws::s3_client(&sdk, Some(endpoint))
}

async fn stack_client(endpoint: &str) -> aws_sdk_s3::Client {
    client(
        endpoint,
        &env_or("AWS_ACCESS_KEY_ID", "test"),
        &env_or("AWS_SECRET_ACCESS_KEY", "test"),
    )
    .await
}

fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("test-sink/{}-{nanos}", std::process::id())
}

async fn get(client: &aws_sdk_s3::Client, key: &str) -> (Bytes, Option<String>, Option<String>) {
    let out = client
        .get_object()
        .bucket(bucket())
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "GetObject {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        });
    let content_type = out.content_type().map(str::to_string);
    let cache_control = out.cache_control().map(str::to_string);
    let body = out.body.collect().await.expect("read body").into_bytes();
    (body, content_type, cache_control)
}

#[tokio::test]
async fn puts_objects_with_their_headers_and_overwrites() {
    let endpoint = s3_endpoint();
    let client = stack_client(&endpoint).await;
    let sink = S3Objects::new(client.clone(), bucket());
    let prefix = unique_prefix();

    let segment = ObjectPut {
        key: format!("{prefix}/s1/0.ts"),
        body: Bytes::from((0..=255u8).cycle().take(188 * 100).collect::<Vec<u8>>()),
        content_type: "video/mp2t",
        cache_control: "max-age=31536000, immutable",
        metadata: Vec::new(),
        condition: PutCondition::None,
    };
    sink.put(&segment).await.expect("put segment");
    let (body, content_type, cache_control) = get(&client, &segment.key).await;
    assert_eq!(body, segment.body);
    assert_eq!(content_type.as_deref(), Some("video/mp2t"));
    assert_eq!(
        cache_control.as_deref(),
        Some("max-age=31536000, immutable")
    );

    let playlist = |text: &str| ObjectPut {
        key: format!("{prefix}/index.m3u8"),
        body: Bytes::from(text.to_string()),
        content_type: "application/vnd.apple.mpegurl",
        cache_control: "max-age=1",
        metadata: Vec::new(),
        condition: PutCondition::None,
    };
    sink.put(&playlist("#EXTM3U\n#v1\n")).await.expect("put v1");
    sink.put(&playlist("#EXTM3U\n#v2\n")).await.expect("put v2");
    let (body, content_type, cache_control) = get(&client, &format!("{prefix}/index.m3u8")).await;
    assert_eq!(body, Bytes::from("#EXTM3U\n#v2\n"));
    assert_eq!(
        content_type.as_deref(),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(cache_control.as_deref(), Some("max-age=1"));
}

/// S3's conditional writes, metadata, reads and listings, as the room fence uses them.
#[tokio::test]
async fn conditional_writes_reads_and_listings() {
    let endpoint = s3_endpoint();
    let objects = S3Objects::new(stack_client(&endpoint).await, bucket());
    let prefix = unique_prefix();
    let key = format!("{prefix}/index.m3u8");
    let put = |body: &'static str, condition: PutCondition| ObjectPut {
        key: key.clone(),
        body: Bytes::from_static(body.as_bytes()),
        content_type: "application/vnd.apple.mpegurl",
        cache_control: "max-age=1",
        metadata: vec![("zhibo-session", body.to_string())],
        condition,
    };
    assert!(objects.get(&key).await.unwrap().is_none());
    assert!(objects.head(&key).await.unwrap().is_none());
    let first = objects
        .put(&put("one", PutCondition::Absent))
        .await
        .unwrap()
        .expect("an ETag");
    let again = objects
        .put(&put("two", PutCondition::Absent))
        .await
        .unwrap_err();
    assert!(again.precondition_failed && !again.retryable, "{again}");
    let wrong = objects
        .put(&put("two", PutCondition::Match("\"0000\"".into())))
        .await
        .unwrap_err();
    assert!(wrong.precondition_failed, "{wrong}");
    let second = objects
        .put(&put("two", PutCondition::Match(first.clone())))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(first, second);
    let stale = objects
        .put(&put("three", PutCondition::Match(first)))
        .await
        .unwrap_err();
    assert!(
        stale.precondition_failed,
        "an old ETag no longer matches: {stale}"
    );
    let got = objects.get(&key).await.unwrap().unwrap();
    assert_eq!(got.body.as_ref(), b"two");
    assert_eq!(got.head.etag, second);
    assert!(
        got.head
            .metadata_pairs()
            .any(|(k, v)| k.eq_ignore_ascii_case("zhibo-session") && v == "two"),
        "{:?}",
        got.head
    );
    for i in 0..3 {
        objects
            .put(&ObjectPut {
                key: format!("{prefix}/s{i}/0.ts"),
                ..put("x", PutCondition::None)
            })
            .await
            .unwrap();
    }
    let top = objects.list(&format!("{prefix}/"), true).await.unwrap();
    assert_eq!(
        top.prefixes,
        (0..3)
            .map(|i| format!("{prefix}/s{i}/"))
            .collect::<Vec<_>>()
    );
    assert_eq!(top.objects, [(key.clone(), 3)]);
    let all = objects.list(&format!("{prefix}/"), false).await.unwrap();
    assert_eq!(all.objects.len(), 4, "{all:?}");
}

/// (A missing bucket is not tested here: SeaweedFS creates buckets on first write.)
#[tokio::test]
async fn bad_credentials_are_not_retryable() {
    let endpoint = s3_endpoint();
    let object = ObjectPut {
        key: format!("{}/x.ts", unique_prefix()),
        body: Bytes::from_static(b"x"),
        content_type: "video/mp2t",
        cache_control: "max-age=1",
        metadata: Vec::new(),
        condition: PutCondition::None,
    };
    let sink = S3Objects::new(client(&endpoint, "nobody", "wrong").await, bucket());
    let err = sink.put(&object).await.expect_err("bad credentials");
    assert!(!err.retryable, "{err}");
    assert!(err.message.contains("PutObject"), "{err}");
    assert!(
        err.message.contains("InvalidAccessKeyId") || err.message.contains("AccessDenied"),
        "the message says what was wrong: {err}"
    );
    eprintln!("{err}");
}

#[tokio::test]
async fn the_upload_queue_delivers_a_stream_in_order() {
    let endpoint = s3_endpoint();
    let client = stack_client(&endpoint).await;
    let spill = tempfile::tempdir().expect("temp dir");
    let queue = UploadQueue::new(
        Arc::new(S3Objects::new(client.clone(), bucket())),
        UploadConfig {
            concurrency: 4,
            // Tiny: most bodies go through the spill folder.
            memory_budget_bytes: 1024,
            spill_dir: spill.path().to_path_buf(),
            ..UploadConfig::default()
        },
    );
    let prefix = unique_prefix();
    let uploader = queue.stream(&prefix);
    for i in 0..10u8 {
        uploader.put(ObjectPut {
            key: format!("{prefix}/s/{i}.ts"),
            body: Bytes::from(vec![i; 4096]),
            content_type: "video/mp2t",
            cache_control: "max-age=31536000, immutable",
            metadata: Vec::new(),
            condition: PutCondition::None,
        });
        uploader.put(ObjectPut {
            key: format!("{prefix}/index.m3u8"),
            body: Bytes::from(format!("#EXTM3U\n{i}.ts\n")),
            content_type: "application/vnd.apple.mpegurl",
            cache_control: "max-age=1",
            metadata: Vec::new(),
            condition: PutCondition::None,
        });
    }
    assert_eq!(uploader.close(None).await, FlushReport::default());
    for i in 0..10u8 {
        let (body, content_type, _) = get(&client, &format!("{prefix}/s/{i}.ts")).await;
        assert_eq!(body, Bytes::from(vec![i; 4096]));
        assert_eq!(content_type.as_deref(), Some("video/mp2t"));
    }
    let (body, _, cache_control) = get(&client, &format!("{prefix}/index.m3u8")).await;
    assert_eq!(body, Bytes::from("#EXTM3U\n9.ts\n"));
    assert_eq!(cache_control.as_deref(), Some("max-age=1"));
    let stats = queue.stats();
    assert_eq!(stats.queued_objects, 0);
    assert_eq!(stats.spilled_bytes_on_disk, 0);
    assert_eq!(stats.abandoned_objects, 0);
    assert!(stats.uploaded_objects >= 11, "{stats:?}");
    assert_eq!(
        std::fs::read_dir(spill.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "spill files are deleted"
    );
}
