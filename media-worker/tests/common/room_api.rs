//! The control plane around a worker in the end-to-end tests: a `TestApi` whose webhooks may go
//! to loopback, a worker whose hooks call it, and the room and replay calls the tests repeat.

use std::collections::BTreeSet;
use std::time::Duration;

use zhibo_test_support::{TestApi, TEST_HOOK_SECRET};

use super::{bucket, wait_for, WorkerProc};

/// A `TestApi` that delivers webhooks to loopback and retries them quickly, with `extra`
/// settings on top.
pub async fn webhook_api(extra: &[(&str, &str)]) -> TestApi {
    let mut env = vec![
        ("WEBHOOK_ALLOW_HTTP", "1"),
        ("WEBHOOK_RETRY_BASE_MS", "200"),
    ];
    env.extend_from_slice(extra);
    TestApi::start_with(&env).await
}

/// A worker whose hooks go to `api`, with `extra` settings on top.
pub async fn hooked_worker(api: &TestApi, extra: &[(&str, &str)]) -> WorkerProc {
    let hook_url = format!("{}/internal/hooks", api.base);
    let mut env = vec![
        ("ZHIBO_HOOK_URL", hook_url.as_str()),
        ("HOOK_SECRET", TEST_HOOK_SECRET),
    ];
    env.extend_from_slice(extra);
    WorkerProc::start(&env).await
}

/// `POST /v1/rooms/{room}/actions {"action": action}`, which must succeed; the reply.
pub async fn room_action(api: &TestApi, room: u64, action: &str) -> zhibo_test_support::Reply {
    let body = serde_json::json!({ "action": action }).to_string();
    let r = api
        .call("POST", &format!("/v1/rooms/{room}/actions"), &body)
        .await;
    assert_eq!(r.status, 200, "{action} room {room}: {}", r.text);
    r
}

/// `POST /v1/rooms/{room}/actions {"action":"end"}`, which must succeed.
pub async fn end_room(api: &TestApi, room: u64) {
    room_action(api, room, "end").await;
}

/// `GET /v1/rooms/{room}/replays`.
pub async fn replays(api: &TestApi, room: u64) -> serde_json::Value {
    api.call("GET", &format!("/v1/rooms/{room}/replays"), "")
        .await
        .json
}

/// Waits (up to `within`) until the room lists exactly one replay, and returns the list.
pub async fn wait_for_one_replay(api: &TestApi, room: u64, within: Duration) -> serde_json::Value {
    wait_for(within, "the replay to be listed", || async {
        replays(api, room).await["total"] == 1
    })
    .await;
    replays(api, room).await
}

/// Every segment key of the room in the bucket.
pub async fn segments_in_bucket(api: &TestApi, app: &str, room: u64) -> BTreeSet<String> {
    let out = api
        .s3()
        .list_objects_v2()
        .bucket(bucket())
        .prefix(format!("live/{app}/{room}/"))
        .send()
        .await
        .expect("list the room's media");
    assert!(!out.is_truncated().unwrap_or(false), "one page is enough");
    out.contents()
        .iter()
        .filter_map(|o| o.key())
        .filter(|k| k.ends_with(".ts"))
        .map(str::to_string)
        .collect()
}
