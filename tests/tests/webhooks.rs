//! Webhooks to the customer end to end: the `/v1/webhook` routes over real HTTP, the outbox in
//! DynamoDB Local, and the delivery engine POSTing to a real receiver (an axum server in the
//! test) that checks every delivery with `zhibo_core::webhook::verify`.

use axum::body::Bytes;
use axum::extract::State;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use zhibo_api::with_fallbacks;
use zhibo_core::clock::now;
use zhibo_core::room::RoomId;
use zhibo_core::webhook::DeliveryStatus;
use zhibo_core::webhook::{self, EventType, WebhookEvent};
use zhibo_e2e_tests::TestApi;

use fn_webhook_delivery::Deliverer;
use zhibo_core::clock::now_ms;
use zhibo_local::background::spawn_delivery_pump;

/// How long "eventually" may take before a test fails (never asserted as a duration).
const DEADLINE: Duration = Duration::from_secs(60);

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- the receiver ------------------------------------------------------------------------

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id_header: String,
    signature: String,
    content_type: String,
    user_agent: String,
    body: Vec<u8>,
    event: WebhookEvent,
    accepted: bool,
}

#[derive(Default)]
struct ReceiverState {
    secret: Mutex<String>,
    fail_first: AtomicUsize,
    delay_ms: u64,
    log: Mutex<Vec<Received>>,
    refused: Mutex<Vec<String>>,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    /// Serves on `listener`; answers 500 to the first `fail_first` verified requests.
    fn start(listener: TcpListener, fail_first: usize, delay_ms: u64) -> Receiver {
        let addr = listener.local_addr().expect("receiver addr");
        let state = Arc::new(ReceiverState {
            fail_first: AtomicUsize::new(fail_first),
            delay_ms,
            ..Default::default()
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    async fn bind(fail_first: usize, delay_ms: u64) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        Receiver::start(listener, fail_first, delay_ms)
    }

    fn set_secret(&self, secret: &str) {
        *self.state.secret.lock().unwrap() = secret.to_string();
    }

    fn log(&self) -> Vec<Received> {
        self.state.log.lock().unwrap().clone()
    }

    fn refused(&self) -> Vec<String> {
        self.state.refused.lock().unwrap().clone()
    }

    /// The accepted deliveries, in the order they were accepted.
    fn accepted(&self) -> Vec<Received> {
        self.log().into_iter().filter(|r| r.accepted).collect()
    }
}

async fn receive(
    State(st): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if st.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(st.delay_ms)).await;
    }
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let secret = st.secret.lock().unwrap().clone();
    let signature = h("zhibo-signature");
    let event = match webhook::verify(&secret, Some(&signature), &body, now()) {
        Ok(e) => e,
        Err(e) => {
            st.refused.lock().unwrap().push(e.to_string());
            return StatusCode::BAD_REQUEST;
        }
    };
    let fail = st
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    st.log.lock().unwrap().push(Received {
        id_header: h("zhibo-event-id"),
        signature,
        content_type: h("content-type"),
        user_agent: h("user-agent"),
        body: body.to_vec(),
        event,
        accepted: !fail,
    });
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

// ---- helpers -----------------------------------------------------------------------------

/// The test API's state and app, talking to a server that runs the webhooks router.
async fn webhooks_api(api: &TestApi) -> TestApi {
    let router = with_fallbacks(fn_webhooks::router(api.state.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    TestApi {
        base: format!("http://{addr}"),
        state: api.state.clone(),
        app: api.app.clone(),
        http: api.http.clone(),
        sdk: api.sdk.clone(),
    }
}

/// Starts an API (http webhooks allowed, fast retries plus `extra`) and its webhooks server.
async fn start(extra: &[(&str, &str)]) -> (TestApi, TestApi) {
    let mut env = vec![
        ("WEBHOOK_ALLOW_HTTP", "1"),
        ("WEBHOOK_RETRY_BASE_MS", "100"),
        ("WEBHOOK_RETRY_CAP_MS", "400"),
    ];
    env.extend_from_slice(extra);
    let api = TestApi::start_with(&env).await;
    let hooks = webhooks_api(&api).await;
    (api, hooks)
}

fn deliverer(api: &TestApi) -> Deliverer {
    Deliverer::from_config(api.state.outbox.clone(), &api.state.config).expect("deliverer")
}

fn events(app_id: &str, room_id: RoomId, seqs: std::ops::RangeInclusive<u64>) -> Vec<WebhookEvent> {
    let kinds = [
        EventType::RoomStarted,
        EventType::RoomPaused,
        EventType::RoomResumed,
        EventType::RoomAbnormal,
        EventType::RoomEnded,
    ];
    seqs.map(|seq| WebhookEvent {
        id: WebhookEvent::new_id(now_ms()),
        kind: kinds[(seq as usize - 1) % kinds.len()],
        created_at: now(),
        app_id: app_id.to_string(),
        room_id,
        seq,
        data: json!({"live_status": 101, "previous_status": 102, "reason": "publish", "anchor": "主播"}),
    })
    .collect()
}

/// Points the app's webhook at `receiver` (through the API) and teaches it the secret.
async fn use_receiver(hooks: &TestApi, receiver: &Receiver) -> String {
    let r = hooks
        .call(
            "PUT",
            "/v1/webhook",
            &json!({"url": receiver.url}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret = r.json["secret"].as_str().expect("secret").to_string();
    receiver.set_secret(&secret);
    secret
}

async fn deliveries(hooks: &TestApi, query: &str) -> Value {
    let r = hooks
        .call("GET", &format!("/v1/webhook/deliveries{query}"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

/// Checks that each room's events were accepted once each, in `seq` order 1..=n.
fn assert_in_order_once(accepted: &[Received], expected: &[(RoomId, u64)]) {
    for &(room, n) in expected {
        let seqs: Vec<u64> = accepted
            .iter()
            .filter(|r| r.event.room_id == room)
            .map(|r| r.event.seq)
            .collect();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "room {room}");
    }
}

// ---- tests -------------------------------------------------------------------------------

#[tokio::test]
async fn webhook_endpoint_put_get_delete() {
    let api = TestApi::start().await;
    let hooks = webhooks_api(&api).await;

    let none = hooks.call("GET", "/v1/webhook", "").await;
    assert_eq!(none.status, 404, "{}", none.text);
    assert!(none.errmsg().contains("PUT /v1/webhook"), "{}", none.text);

    // Invalid URLs are refused naming `url` (http is refused without WEBHOOK_ALLOW_HTTP).
    for body in [
        json!({"url": "http://example.com/hook"}),
        json!({"url": "ftp://example.com/hook"}),
        json!({"url": "/relative"}),
        json!({"url": "https://127.0.0.1/hook"}),
        json!({"url": format!("https://example.com/{}", "a".repeat(2100))}),
        json!({"url": 5}),
        json!({}),
    ] {
        let r = hooks.call("PUT", "/v1/webhook", &body.to_string()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.errmsg().contains("url"), "{body}: {}", r.text);
        assert_eq!(r.json["errcode"], 40000, "{}", r.text);
    }
    let unknown = hooks
        .call(
            "PUT",
            "/v1/webhook",
            r#"{"url":"https://example.com/a","secret":"mine"}"#,
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);

    // The first PUT generates the secret.
    let first = hooks
        .call("PUT", "/v1/webhook", r#"{"url":"https://example.com/a"}"#)
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["url"], "https://example.com/a");
    let secret = first.json["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(secret.len(), 6 + 64);
    assert!(first.json["updated_at"].as_i64().unwrap() > 0);

    let got = hooks.call("GET", "/v1/webhook", "").await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json["url"], "https://example.com/a");
    assert_eq!(got.json["secret_hint"], &secret[secret.len() - 4..]);
    assert!(got.json.get("secret").is_none(), "{}", got.text);

    // A new URL keeps the secret; rotate_secret makes a new one.
    let moved = hooks
        .call("PUT", "/v1/webhook", r#"{"url":"https://example.com/b"}"#)
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.json["url"], "https://example.com/b");
    assert_eq!(moved.json["secret"], secret.as_str());
    let rotated = hooks
        .call(
            "PUT",
            "/v1/webhook",
            r#"{"url":"https://example.com/b","rotate_secret":true}"#,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = rotated.json["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(new_secret.starts_with("whsec_"));
    let again = hooks
        .call("PUT", "/v1/webhook", r#"{"url":"https://example.com/c"}"#)
        .await;
    assert_eq!(again.json["secret"], new_secret);

    // Unsigned requests are refused.
    let unsigned = hooks.raw("GET", "/v1/webhook", Vec::new(), &[]).await;
    assert_eq!(unsigned.status, 401, "{}", unsigned.text);

    // DELETE is idempotent.
    let d = hooks.call("DELETE", "/v1/webhook", "").await;
    assert_eq!(d.status, 204, "{}", d.text);
    assert_eq!(hooks.call("GET", "/v1/webhook", "").await.status, 404);
    assert_eq!(hooks.call("DELETE", "/v1/webhook", "").await.status, 204);

    // Query validation names the parameter.
    let bad = hooks
        .call("GET", "/v1/webhook/deliveries?status=lost", "")
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.errmsg().starts_with("status: "), "{}", bad.text);
    let bad = hooks
        .call("GET", "/v1/webhook/deliveries?limit=101", "")
        .await;
    assert!(bad.errmsg().starts_with("limit: "), "{}", bad.text);
    let bad = hooks
        .call("GET", "/v1/webhook/deliveries?cursor=a%2Fb", "")
        .await;
    assert!(bad.errmsg().starts_with("cursor: "), "{}", bad.text);
    let empty = deliveries(&hooks, "").await;
    assert_eq!(empty, json!({"deliveries": [], "next_cursor": null}));
    let missing = hooks
        .call("POST", "/v1/webhook/deliveries/evt_nope/redeliver", "")
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text);
}

#[tokio::test]
async fn failing_receiver_gets_every_event_in_seq_order_with_stable_ids() {
    let (api, hooks) = start(&[]).await;
    let app = api.app.app_id.clone();
    // GIVEN a receiver that answers 500 to its first 3 requests
    let receiver = Receiver::bind(3, 0).await;
    use_receiver(&hooks, &receiver).await;
    let room1 = events(&app, 1, 1..=5);
    let room2 = events(&app, 2, 1..=3);
    let store = &api.state.outbox;
    store
        .enqueue_events(&app, 1, &room1, now_ms())
        .await
        .expect("enqueue room 1");
    store
        .enqueue_events(&app, 2, &room2, now_ms())
        .await
        .expect("enqueue room 2");

    // WHEN the pump runs
    let pump = spawn_delivery_pump(deliverer(&api), Duration::from_millis(50));
    eventually("all 8 events are accepted", || async {
        receiver.accepted().len() >= 8
    })
    .await;
    // and the outboxes are empty and off the due-work list
    eventually("no outbox is due any more", || async {
        let mut any = false;
        for shard in 0..zhibo_core::table::DUE_SHARDS {
            any |= !store
                .outboxes_due(shard, now_ms() + 60_000, 10)
                .await
                .unwrap()
                .is_empty();
        }
        !any
    })
    .await;
    pump.abort();
    assert_eq!(store.outbox_head(&app, 1).await.unwrap(), None);
    assert_eq!(store.outbox_head(&app, 2).await.unwrap(), None);

    // THEN every event arrived once, in seq order per room, after 3 failed attempts overall
    assert!(receiver.refused().is_empty(), "{:?}", receiver.refused());
    let log = receiver.log();
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 8);
    assert_eq!(log.len(), 11, "3 failures + 8 deliveries");
    assert_in_order_once(&accepted, &[(1, 5), (2, 3)]);
    // ids are stable across retries, and each body is exactly the event as enqueued
    let sent: HashMap<String, &WebhookEvent> = room1
        .iter()
        .chain(&room2)
        .map(|e| (e.id.clone(), e))
        .collect();
    for r in &log {
        assert_eq!(r.id_header, r.event.id);
        let original = sent.get(&r.event.id).expect("an enqueued id");
        assert_eq!(&&r.event, original);
        assert_eq!(r.body, serde_json::to_vec(original).unwrap());
    }
    let failed_ids: HashSet<String> = log
        .iter()
        .filter(|r| !r.accepted)
        .map(|r| r.event.id.clone())
        .collect();
    assert!(!failed_ids.is_empty());
    for id in &failed_ids {
        assert!(
            accepted.iter().any(|r| &r.event.id == id),
            "{id} was retried to success"
        );
    }

    // The events that failed are listed as delivered, with their attempts.
    let list = deliveries(&hooks, "").await;
    let items = list["deliveries"].as_array().unwrap();
    assert_eq!(items.len(), failed_ids.len(), "{list}");
    for d in items {
        let id = d["id"].as_str().unwrap();
        assert!(failed_ids.contains(id), "{d}");
        assert_eq!(d["status"], "delivered", "{d}");
        let failures = log
            .iter()
            .filter(|r| r.event.id == id && !r.accepted)
            .count() as u64;
        assert_eq!(d["attempts"], failures + 1, "{d}");
        assert_eq!(d["last_status"], 204, "{d}");
        assert_eq!(d["last_error"], "HTTP 500 Internal Server Error", "{d}");
        assert!(d["last_attempt_at"].as_i64().is_some(), "{d}");
        assert!(d["next_attempt_at"].is_null(), "{d}");
        let original = sent[id];
        assert_eq!(d["type"], original.kind.as_str());
        assert_eq!(d["room_id"], original.room_id);
        assert_eq!(d["seq"], original.seq);
    }
}

#[tokio::test]
async fn dead_letters_after_the_window_then_redeliver_with_same_id_and_seq() {
    let (api, hooks) = start(&[("WEBHOOK_RETRY_WINDOW_S", "2")]).await;
    let app = api.app.app_id.clone();
    // GIVEN a receiver that is down (a closed port)
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let put = hooks
        .call("PUT", "/v1/webhook", &json!({"url": url}).to_string())
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let secret = put.json["secret"].as_str().unwrap().to_string();
    let store = &api.state.outbox;
    let room1 = events(&app, 1, 1..=2);
    let room2 = events(&app, 2, 1..=1);
    store
        .enqueue_events(&app, 1, &room1, now_ms())
        .await
        .unwrap();
    store
        .enqueue_events(&app, 2, &room2, now_ms())
        .await
        .unwrap();

    // WHEN the pump retries past the window
    let pump = spawn_delivery_pump(deliverer(&api), Duration::from_millis(50));
    eventually("all 3 events are dead", || async {
        deliveries(&hooks, "?status=dead").await["deliveries"]
            .as_array()
            .is_some_and(|a| a.len() == 3)
    })
    .await;

    // THEN they are dead-lettered, out of the outbox, with the connection error
    let dead = deliveries(&hooks, "?status=dead").await;
    let ids: HashSet<String> = room1.iter().chain(&room2).map(|e| e.id.clone()).collect();
    for d in dead["deliveries"].as_array().unwrap() {
        assert!(ids.contains(d["id"].as_str().unwrap()), "{d}");
        assert_eq!(d["status"], "dead");
        assert!(d["attempts"].as_u64().unwrap() >= 1, "{d}");
        assert!(d["last_status"].is_null(), "{d}");
        assert!(
            d["last_error"]
                .as_str()
                .unwrap()
                .starts_with("connection failed"),
            "{d}"
        );
        assert!(d["next_attempt_at"].is_null(), "{d}");
    }
    assert_eq!(store.outbox_head(&app, 1).await.unwrap(), None);
    assert_eq!(store.outbox_head(&app, 2).await.unwrap(), None);
    assert_eq!(
        deliveries(&hooks, "?status=retrying").await["deliveries"],
        json!([])
    );

    // Paging: newest event first, a cursor to the rest.
    let page1 = deliveries(&hooks, "?status=dead&limit=2").await;
    assert_eq!(page1["deliveries"].as_array().unwrap().len(), 2, "{page1}");
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let page2 = deliveries(&hooks, &format!("?status=dead&limit=2&cursor={cursor}")).await;
    assert_eq!(page2["deliveries"].as_array().unwrap().len(), 1, "{page2}");
    assert!(page2["next_cursor"].is_null(), "{page2}");
    let paged: Vec<String> = page1["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["deliveries"].as_array().unwrap())
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let mut newest_first = paged.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(paged, newest_first);

    // WHEN the receiver comes up (on the same port if it is still free) and each is redelivered
    let receiver = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => Receiver::start(l, 0, 0),
        Err(_) => {
            let r = Receiver::bind(0, 0).await;
            let put = hooks
                .call("PUT", "/v1/webhook", &json!({"url": r.url}).to_string())
                .await;
            assert_eq!(put.json["secret"], secret.as_str(), "secret kept");
            r
        }
    };
    receiver.set_secret(&secret);
    // (in seq order, so that the pump running meanwhile cannot send seq 2 before seq 1)
    let mut in_seq_order: Vec<&WebhookEvent> = room1.iter().chain(&room2).collect();
    in_seq_order.sort_by_key(|e| (e.room_id, e.seq));
    for id in in_seq_order.iter().map(|e| &e.id) {
        let r = hooks
            .call(
                "POST",
                &format!("/v1/webhook/deliveries/{id}/redeliver"),
                "",
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json, json!({"id": id, "status": "retrying"}));
    }
    eventually("the 3 redelivered events are accepted", || async {
        receiver.accepted().len() >= 3
    })
    .await;
    eventually("their records say delivered", || async {
        deliveries(&hooks, "?status=delivered").await["deliveries"]
            .as_array()
            .is_some_and(|a| a.len() == 3)
    })
    .await;

    // THEN with their original ids, seqs and bodies, once each and in order
    let accepted = receiver.accepted();
    assert!(receiver.refused().is_empty(), "{:?}", receiver.refused());
    assert_eq!(accepted.len(), 3);
    assert_in_order_once(&accepted, &[(1, 2), (2, 1)]);
    for r in &accepted {
        let original = room1
            .iter()
            .chain(&room2)
            .find(|e| e.id == r.event.id)
            .expect("original id");
        assert_eq!(&r.event, original);
        assert_eq!(r.body, serde_json::to_vec(original).unwrap());
    }
    // A delivered one can be redelivered again.
    let again = hooks
        .call(
            "POST",
            &format!("/v1/webhook/deliveries/{}/redeliver", paged[0]),
            "",
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.text);
    eventually("the second redelivery is accepted", || async {
        receiver.accepted().len() >= 4
    })
    .await;
    pump.abort();
    assert_eq!(receiver.accepted()[3].event.id, paged[0]);
}

#[tokio::test]
async fn deliveries_are_signed_and_verifiable_by_the_receiver_only_untampered() {
    let (api, hooks) = start(&[]).await;
    let app = api.app.app_id.clone();
    let receiver = Receiver::bind(0, 0).await;
    let secret = use_receiver(&hooks, &receiver).await;
    let evs = events(&app, 9, 1..=1);
    api.state
        .outbox
        .enqueue_events(&app, 9, &evs, now_ms())
        .await
        .unwrap();
    let report = deliverer(&api).drain_room(&app, 9, now_ms()).await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    assert!(receiver.refused().is_empty(), "{:?}", receiver.refused());
    let got = receiver.accepted().pop().expect("one delivery");

    // The headers the deliverer sends
    assert_eq!(got.content_type, "application/json");
    assert!(
        got.user_agent.starts_with("zhibo-webhooks/"),
        "{}",
        got.user_agent
    );
    assert_eq!(got.id_header, evs[0].id);
    assert!(got.signature.starts_with("t="), "{}", got.signature);
    let t: i64 = got.signature[2..got.signature.find(',').unwrap()]
        .parse()
        .unwrap();

    // verifies with the secret at the time sent…
    let ev = webhook::verify(&secret, Some(&got.signature), &got.body, t).expect("verifies");
    assert_eq!(ev, evs[0]);
    assert!(webhook::verify(&secret, Some(&got.signature), &got.body, t + 300).is_ok());
    // …and is refused when the body is tampered with, the secret is wrong, or t is stale
    let mut tampered = got.body.clone();
    let i = tampered.iter().position(|&b| b == b'1').unwrap();
    tampered[i] = b'2';
    assert!(webhook::verify(&secret, Some(&got.signature), &tampered, t).is_err());
    let mut extra = got.body.clone();
    extra.push(b' ');
    assert!(webhook::verify(&secret, Some(&got.signature), &extra, t).is_err());
    assert!(webhook::verify("whsec_wrong", Some(&got.signature), &got.body, t).is_err());
    assert!(webhook::verify(&secret, Some(&got.signature), &got.body, t + 301).is_err());
    assert!(webhook::verify(&secret, Some(&got.signature), &got.body, t - 301).is_err());
    assert!(webhook::verify(&secret, None, &got.body, t).is_err());
    // A rotated secret is not accepted for a body signed with the old one.
    let rotated = hooks
        .call(
            "PUT",
            "/v1/webhook",
            &json!({"url": receiver.url, "rotate_secret": true}).to_string(),
        )
        .await;
    let new_secret = rotated.json["secret"].as_str().unwrap();
    assert!(webhook::verify(new_secret, Some(&got.signature), &got.body, t).is_err());
}

#[tokio::test]
async fn concurrent_drains_of_a_room_deliver_each_event_once_in_order() {
    let (api, hooks) = start(&[]).await;
    let app = api.app.app_id.clone();
    // A slow (but healthy) receiver, so the drains overlap.
    let receiver = Receiver::bind(0, 30).await;
    use_receiver(&hooks, &receiver).await;
    let evs = events(&app, 4, 1..=6);
    let store = &api.state.outbox;
    store.enqueue_events(&app, 4, &evs, now_ms()).await.unwrap();

    let (a, b) = (deliverer(&api), deliverer(&api));
    let (ra, rb) = tokio::join!(
        a.drain_room(&app, 4, now_ms()),
        b.drain_room(&app, 4, now_ms())
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.delivered + rb.delivered, 6, "{ra:?} {rb:?}");
    let log = receiver.log();
    assert_eq!(log.len(), 6, "no duplicate: {log:?}");
    assert_in_order_once(&log, &[(4, 6)]);

    // A drain while another holds an unexpired lease does nothing.
    let more = events(&app, 4, 7..=7);
    store
        .enqueue_events(&app, 4, &more, now_ms())
        .await
        .unwrap();
    let t = now_ms();
    assert!(store
        .acquire_outbox_lease(&app, 4, "someone-else", t, 600_000)
        .await
        .unwrap()
        .is_some());
    let skipped = a.drain_room(&app, 4, now_ms()).await.unwrap();
    assert!(skipped.skipped, "{skipped:?}");
    assert_eq!(receiver.log().len(), 6);
    // Its holder gives it back; the next drain delivers.
    assert!(store
        .release_outbox_lease(&app, 4, "someone-else")
        .await
        .unwrap()
        .is_some());
    assert!(store
        .release_outbox_lease(&app, 4, "someone-else")
        .await
        .unwrap()
        .is_none());
    let r = b.drain_room(&app, 4, now_ms()).await.unwrap();
    assert_eq!(r.delivered, 1, "{r:?}");
    // An expired lease is taken over.
    store
        .enqueue_events(&app, 4, &events(&app, 4, 8..=8), now_ms())
        .await
        .unwrap();
    let t = now_ms();
    store
        .acquire_outbox_lease(&app, 4, "crashed", t - 120_000, 60_000)
        .await
        .unwrap()
        .expect("lease taken");
    let r = a.drain_room(&app, 4, t).await.unwrap();
    assert_eq!(r.delivered, 1, "{r:?}");
    assert_in_order_once(&receiver.log(), &[(4, 8)]);
}

#[tokio::test]
async fn events_without_a_webhook_are_dropped_and_a_seq_is_enqueued_once() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let store = &api.state.outbox;
    let evs = events(&app, 3, 1..=2);
    store.enqueue_events(&app, 3, &evs, now_ms()).await.unwrap();
    // The same seq again is refused.
    let dup = store.enqueue_events(&app, 3, &evs[..1], now_ms()).await;
    assert!(
        matches!(dup, Err(zhibo_store::StoreError::Conflict)),
        "{dup:?}"
    );
    let report = deliverer(&api).drain_room(&app, 3, now_ms()).await.unwrap();
    assert_eq!(report.dropped, 2, "{report:?}");
    assert_eq!(store.outbox_head(&app, 3).await.unwrap(), None);
    let page = store.list_deliveries(&app, None, 10, None).await.unwrap();
    assert!(page.records.is_empty());
    // A redelivered (tracked) event without a webhook is dead-lettered, saying why.
    let more = events(&app, 3, 3..=3);
    store
        .enqueue_events(&app, 3, &more, now_ms())
        .await
        .unwrap();
    let head = store
        .outbox_head(&app, 3)
        .await
        .unwrap()
        .expect("seq 3 queued");
    assert_eq!((head.seq, head.attempts, head.tracked), (3, 0, false));
    let attempt = zhibo_core::webhook::Attempt {
        at_ms: now_ms(),
        http_status: Some(503),
        error: Some("HTTP 503".into()),
    };
    assert!(store
        .dead_letter_event(&head, &attempt, true)
        .await
        .unwrap());
    assert!(!store
        .dead_letter_event(&head, &attempt, true)
        .await
        .unwrap());
    let rec = store
        .get_delivery(&app, &more[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, DeliveryStatus::Dead);
    assert_eq!((rec.attempts, rec.last_status), (1, Some(503)));
    let back = store.redeliver(&app, &more[0].id, now_ms()).await.unwrap();
    assert_eq!(back.status, DeliveryStatus::Retrying);
    let head = store
        .outbox_head(&app, 3)
        .await
        .unwrap()
        .expect("back in the outbox");
    assert_eq!((head.seq, head.attempts, head.tracked), (3, 0, true));
    assert_eq!(head.event_id, more[0].id);
    assert_eq!(head.body, serde_json::to_string(&more[0]).unwrap());
    let report = deliverer(&api).drain_room(&app, 3, now_ms()).await.unwrap();
    assert_eq!(report.dropped, 1, "{report:?}");
    let rec = store
        .get_delivery(&app, &more[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, DeliveryStatus::Dead);
    assert_eq!(rec.attempts, 1, "no request was made");
    assert_eq!(
        rec.last_error.as_deref(),
        Some("no webhook endpoint configured")
    );
    assert!(matches!(
        store.redeliver(&app, "evt_unknown", now_ms()).await,
        Err(zhibo_store::StoreError::NotFound)
    ));
    // No room is left due.
    for shard in 0..zhibo_core::table::DUE_SHARDS {
        assert!(store
            .outboxes_due(shard, now_ms() + 60_000, 10)
            .await
            .unwrap()
            .is_empty());
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn delivery_function_handles_stream_and_schedule_events() {
    let (api, _) = start(&[]).await;
    let store = &api.state.outbox;
    // The fixtures are for app `demo`, room 1 (the table is this test's own).
    let receiver = Receiver::bind(0, 0).await;
    let ep = store
        .put_webhook("demo", &receiver.url, false, now())
        .await
        .unwrap();
    receiver.set_secret(&ep.secret);
    let d = deliverer(&api);

    // A stream INSERT of room 1's outbox event drains room 1.
    let first = events("demo", 1, 1..=1);
    store
        .enqueue_events("demo", 1, &first, now_ms())
        .await
        .unwrap();
    let report =
        fn_webhook_delivery::handle_payload(&d, fixture("webhook-delivery-stream.json"), now_ms())
            .await
            .expect("stream payload");
    assert_eq!(report.rooms, 1, "{report:?}");
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(receiver.accepted()[0].event, first[0]);

    // A scheduled event drains every room with work due.
    let second = events("demo", 1, 2..=2);
    store
        .enqueue_events("demo", 1, &second, now_ms())
        .await
        .unwrap();
    let other = events("demo", 2, 1..=1);
    store
        .enqueue_events("demo", 2, &other, now_ms())
        .await
        .unwrap();
    let report = fn_webhook_delivery::handle_payload(
        &d,
        fixture("webhook-delivery-schedule.json"),
        now_ms(),
    )
    .await
    .expect("schedule payload");
    assert_eq!(report.rooms, 2, "{report:?}");
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    assert_in_order_once(&receiver.accepted(), &[(1, 2), (2, 1)]);

    // Anything else is an error that says what was received.
    let err = fn_webhook_delivery::handle_payload(&d, json!({"ping": true}), now_ms())
        .await
        .unwrap_err();
    assert!(err.contains("[ping]"), "{err}");
    assert!(err.contains("Records"), "{err}");
}

/// The ```js block of the README (the webhook verification snippet).
fn readme_js() -> String {
    let path = format!("{}/../README.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = text.find("```js\n").expect("a ```js block") + "```js\n".len();
    let len = text[start..].find("\n```").expect("the block's end");
    text[start..start + len].to_string()
}

#[test]
fn readme_javascript_verifier_agrees_with_the_rust_signer() {
    let node = ["/usr/bin/node", "node"].into_iter().find(|n| {
        std::process::Command::new(n)
            .arg("--version")
            .output()
            .is_ok()
    });
    let Some(node) = node else {
        eprintln!("SKIPPED: node is not installed; the README's JavaScript verifier was not run");
        return;
    };
    let secret = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
    let body = serde_json::to_vec(&events("demo", 7, 1..=1)[0]).unwrap();
    let t = 1_767_225_600;
    let header = webhook::signature_header(secret, t, &body);
    let rotating = format!("{},v1={}", header, "0".repeat(64));
    let rotating_other_first = format!(
        "t={t},v1={},{}",
        "f".repeat(64),
        &header[header.find("v1=").unwrap()..]
    );
    let mut tampered = body.clone();
    tampered.push(b' ');
    let hex_of = |b: &[u8]| {
        use std::fmt::Write;
        b.iter().fold(String::new(), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
    };
    let cases = json!([
        {"name": "valid", "secret": secret, "header": header, "body": hex_of(&body), "now": t + 10, "want": true},
        {"name": "valid, several v1", "secret": secret, "header": rotating, "body": hex_of(&body), "now": t, "want": true},
        {"name": "valid, matching v1 second", "secret": secret, "header": rotating_other_first, "body": hex_of(&body), "now": t, "want": true},
        {"name": "tampered", "secret": secret, "header": header, "body": hex_of(&tampered), "now": t, "want": false},
        {"name": "wrong secret", "secret": "whsec_other", "header": header, "body": hex_of(&body), "now": t, "want": false},
        {"name": "stale", "secret": secret, "header": header, "body": hex_of(&body), "now": t + 301, "want": false},
        {"name": "future", "secret": secret, "header": header, "body": hex_of(&body), "now": t - 301, "want": false},
        {"name": "no v1", "secret": secret, "header": format!("t={t}"), "body": hex_of(&body), "now": t, "want": false},
        {"name": "garbage", "secret": secret, "header": "nonsense", "body": hex_of(&body), "now": t, "want": false},
    ]);
    for c in cases.as_array().unwrap() {
        assert_eq!(
            webhook::verify(
                c["secret"].as_str().unwrap(),
                c["header"].as_str(),
                &hex::decode(c["body"].as_str().unwrap()).unwrap(),
                c["now"].as_i64().unwrap()
            )
            .is_ok(),
            c["want"].as_bool().unwrap(),
            "the Rust verifier on {}",
            c["name"]
        );
    }
    let script = format!(
        "{}\nconst cases = {cases};\nprocess.stdout.write(JSON.stringify(cases.map((c) => \
         verifyZhiboSignature(c.secret, c.header, Buffer.from(c.body, 'hex'), c.now))));\n",
        readme_js()
    );
    let out = std::process::Command::new(node)
        .arg("-e")
        .arg(&script)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<bool> = serde_json::from_slice(&out.stdout).expect("node prints a JSON array");
    for (c, got) in cases.as_array().unwrap().iter().zip(&got) {
        assert_eq!(
            *got,
            c["want"].as_bool().unwrap(),
            "the README verifier on {}",
            c["name"]
        );
    }
    assert_eq!(got.len(), cases.as_array().unwrap().len());
    // The stored secret format round-trips with the default-time form too.
    let now_header = webhook::signature_header(secret, now(), &body);
    let script = format!(
        "{}\nprocess.stdout.write(String(verifyZhiboSignature({secret:?}, {now_header:?}, Buffer.from({:?}, 'hex'))));\n",
        readme_js(),
        hex_of(&body)
    );
    let out = std::process::Command::new(node)
        .arg("-e")
        .arg(&script)
        .output()
        .expect("run node");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "true",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
