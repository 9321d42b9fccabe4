//! Hostile callers at the doors (issue 13, items 2 and 6): a push URL opens exactly one
//! stream (a room's digits moved into `txTime` do not open another room; another app's key
//! does not open this app's room), and a flood of badly signed requests at `/v1` reads
//! (almost) nothing from DynamoDB while a real ffmpeg publish through the worker and the API's
//! hooks still succeeds.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::*;
use zhibo_core::signing::{app_url_key, UrlPurpose, UrlSignature};
use zhibo_test_support::{TestApi, TEST_HOOK_SECRET};

/// A publish of the fixture for a few seconds; whether ffmpeg succeeded, and its stderr.
async fn try_publish(url: &str) -> (bool, String) {
    finish(publish(url, 3), Duration::from_secs(60)).await
}

/// H1: room `{r}7`'s push URL rewritten for room `{r}` with the `7` moved into `txTime`
/// (the same MD5 input) is refused, as is `{app}_0{r}` and another app's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_url_opens_exactly_one_stream() {
    let worker = WorkerProc::start(&[]).await;
    let room = unique_room();
    let genuine = signed_key(room * 10 + 7);
    let (_, query) = genuine.split_once('?').expect("a query");
    let moved = format!("{APP}_{room}?{}", query.replace("txTime=", "txTime=7"));
    let (ok, stderr) = try_publish(&worker.url(&moved)).await;
    assert!(
        !ok,
        "the moved-digit URL {moved} must be refused; ffmpeg: {stderr}"
    );
    let (ok, _) = try_publish(&worker.url(&genuine)).await;
    assert!(ok, "the genuine URL publishes: {}", worker.log_text());
    let log = worker.log_text();
    assert!(
        log.contains("NetStream.Publish.Denied") || log.contains("txTime"),
        "the refusal says why:\n{log}"
    );
}

/// One app's key (or URL) never opens another app's stream, and a leading zero is not the
/// same room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_apps_key_does_not_open_a_stream() {
    let worker = WorkerProc::start(&[]).await;
    let room = unique_room();
    let name = format!("{APP}_{room}");
    let other_key = app_url_key(PUSH_KEY, UrlPurpose::Push, "othr");
    let forged = UrlSignature::sign(&other_key, &name, zhibo_core::clock::now() + 600);
    let other_apps_url = UrlSignature::sign_room(
        PUSH_KEY,
        UrlPurpose::Push,
        "othr",
        room,
        zhibo_core::clock::now() + 600,
    );
    for key in [
        format!("{name}?{}", forged.query()),
        format!("{name}?{}", other_apps_url.query()),
        format!(
            "{APP}_0{room}?{}",
            signed_key(room).split_once('?').unwrap().1
        ),
    ] {
        let (ok, _) = try_publish(&worker.url(&key)).await;
        assert!(!ok, "{key} must be refused");
    }
    assert_eq!(worker.metric("zhibo_publishes_total").await, 0.0);
}

/// A loopback proxy in front of DynamoDB Local that counts requests by operation
/// (`X-Amz-Target`, e.g. `DynamoDB_20120810.GetItem`).
#[derive(Clone)]
struct CountingDynamo {
    url: String,
    counts: Arc<Mutex<HashMap<String, u64>>>,
}

struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    counts: Arc<Mutex<HashMap<String, u64>>>,
}

async fn forward(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_string();
    *st.counts.lock().unwrap().entry(op).or_default() += 1;
    let Ok(bytes) = axum::body::to_bytes(body, 16 << 20).await else {
        return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut up = st
        .http
        .request(parts.method.clone(), format!("{}{path}", st.upstream))
        .body(bytes);
    for (k, v) in &parts.headers {
        if k != axum::http::header::HOST && k != axum::http::header::CONTENT_LENGTH {
            up = up.header(k, v);
        }
    }
    match up.send().await {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let body = r.bytes().await.unwrap_or_default();
            let mut res = (status, body).into_response();
            for (k, v) in &headers {
                if k != axum::http::header::CONTENT_LENGTH
                    && k != axum::http::header::TRANSFER_ENCODING
                {
                    res.headers_mut().insert(k, v.clone());
                }
            }
            res
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

impl CountingDynamo {
    async fn start() -> CountingDynamo {
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let state = Arc::new(ProxyState {
            upstream: zhibo_test_support::dynamo_endpoint()
                .trim_end_matches('/')
                .to_string(),
            http: reqwest::Client::new(),
            counts: counts.clone(),
        });
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CountingDynamo {
            url: format!("http://{addr}"),
            counts,
        }
    }

    fn take(&self) -> HashMap<String, u64> {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }
}

/// Sends `n` requests for the test app, `parallel` at a time, each with a fresh nonce and
/// headers made by `headers(i)`; returns the statuses seen and how often.
async fn flood(
    api: &TestApi,
    n: usize,
    parallel: usize,
    headers: impl Fn(usize) -> Vec<(String, String)>,
) -> HashMap<u16, usize> {
    let all: Vec<Vec<(String, String)>> = (0..n).map(headers).collect();
    let url = format!("{}/v1/rooms", api.base);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in all.chunks(n.div_ceil(parallel)) {
        let chunk = chunk.to_vec();
        let url = url.clone();
        let http = api.http.clone();
        tasks.spawn(async move {
            let mut seen = HashMap::new();
            for hs in chunk {
                let mut req = http.get(&url);
                for (k, v) in hs {
                    req = req.header(k, v);
                }
                let status = req.send().await.map_or(0, |r| r.status().as_u16());
                *seen.entry(status).or_insert(0) += 1;
            }
            seen
        });
    }
    let mut seen = HashMap::new();
    while let Some(part) = tasks.join_next().await {
        for (status, count) in part.expect("flood task") {
            *seen.entry(status).or_insert(0) += count;
        }
    }
    seen
}

/// Item 6 (M3): 1,000 badly signed requests for one app cost at most one DynamoDB read, and
/// 1,000 with a stale timestamp none; meanwhile a real publish goes live through the worker
/// and the hooks (which do not share the public API's front door or throttle).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_at_v1_reads_nothing_and_publishes_still_succeed() {
    let dynamo = CountingDynamo::start().await;
    let api = TestApi::start_with(&[("ZHIBO_DYNAMO_ENDPOINT", &dynamo.url)]).await;
    let hook_url = format!("{}/internal/hooks", api.base);
    let worker = WorkerProc::start(&[
        ("ZHIBO_HOOK_URL", &hook_url),
        ("HOOK_SECRET", TEST_HOOK_SECRET),
        ("PUSH_KEY", zhibo_test_support::TEST_PUSH_KEY),
    ])
    .await;
    let room = api.create_room("flood", 5).await;
    let app = api.app.app_id.clone();
    let bad_signature = |i: usize| {
        let mut hs = api.sign_headers(
            "GET",
            "/v1/rooms",
            b"",
            zhibo_core::clock::now(),
            &format!("flood-bad-{i:06}"),
        );
        hs[3].1 = "0".repeat(64);
        hs
    };
    let stale = |i: usize| {
        api.sign_headers(
            "GET",
            "/v1/rooms",
            b"",
            zhibo_core::clock::now() - 3600,
            &format!("flood-old-{i:06}"),
        )
    };

    dynamo.take();
    let seen = flood(&api, 1000, 50, bad_signature).await;
    assert_eq!(seen, HashMap::from([(401, 1000)]));
    let reads = dynamo.take();
    assert!(
        reads.get("GetItem").copied().unwrap_or(0) <= 1 && reads.values().sum::<u64>() <= 1,
        "1,000 badly signed requests for one app read DynamoDB {reads:?}"
    );
    let seen = flood(&api, 1000, 50, stale).await;
    assert_eq!(seen, HashMap::from([(401, 1000)]));
    let reads = dynamo.take();
    assert!(
        reads.is_empty(),
        "1,000 stale requests read DynamoDB {reads:?}"
    );

    // A publish while the flood goes on: it goes live (the publish hook allows it).
    let (_, query) = {
        let r = api
            .call("POST", &format!("/v1/rooms/{room}/push-url"), "")
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let key = r.json["stream_key"]
            .as_str()
            .expect("stream_key")
            .to_string();
        let (name, q) = key.split_once('?').expect("a signed key");
        assert_eq!(name, format!("{app}_{room}"));
        ((), q.to_string())
    };
    let ffmpeg = publish(&worker.url(&format!("{app}_{room}?{query}")), 30);
    let flooding = flood(&api, 2000, 50, |i| bad_signature(i + 10_000));
    let live = async {
        wait_for(
            Duration::from_secs(30),
            "room 101 during the flood",
            || async { api_status(&api, room).await == 101 },
        )
        .await;
    };
    let (seen, ()) = tokio::join!(flooding, live);
    assert_eq!(seen, HashMap::from([(401, 2000)]));
    assert_eq!(worker.metric("zhibo_publishes_total").await, 1.0);
    drop(ffmpeg);
}
