//! The app's synchronous review call and the room's flood control, on the real functions over
//! DynamoDB Local with the local realtime endpoint (docs/api.md "Messages", "Moderation"):
//! - a local review service that allows, denies, holds, answers 500, answers too late, and a
//!   URL where nothing listens, each in both `review_fail` modes: what is not published never
//!   reaches a subscriber nor the history, what is published does, and every call is signed;
//! - SSRF: deployed settings refuse internal review URLs when they are set, and a name that
//!   resolves to loopback is refused before any packet leaves;
//! - flood control: concurrent posts from distinct users into one room publish at most
//!   `ROOM_MESSAGES_PER_S` per second, the rest are counted in `messages_dropped`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};

use http::HeaderMap;
use serde_json::{json, Value};
use zhibo_core::audience::review::{ReviewFail, ReviewSettings};
use zhibo_core::signing::BodySignature;
use zhibo_e2e_tests::audience::{start_with_realtime, RealtimeClient};
use zhibo_e2e_tests::TestApi;

// ---- helpers (as in tests/audience.rs) -----------------------------------------------------

/// The AppSync Events stand-in on a free port, and an API that publishes to it.
async fn stack_with(extra: &[(&str, &str)]) -> TestApi {
    start_with_realtime(extra).await
}

async fn grant(api: &TestApi, room: u64, user: &str) -> Value {
    api.viewer_grant(room, user).await
}

type Socket = RealtimeClient;

/// Connects and subscribes exactly as the docs say, with the grant's `realtime` block.
async fn subscribe(grant: &Value) -> Socket {
    RealtimeClient::subscribe(grant).await
}

/// The next item on the socket.
async fn next_item(ws: &mut Socket) -> Value {
    ws.item().await
}

async fn go_live(api: &TestApi, room: u64) {
    api.go_live(room).await
}

async fn token(api: &TestApi, room: u64, user: &str) -> String {
    grant(api, room, user).await["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn post(api: &TestApi, room: u64, token: &str, text: &str) -> (u16, Value) {
    let r = api
        .http
        .post(format!("{}/v1/rooms/{room}/messages", api.base))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(json!({ "text": text }).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Every message text in the room's history, in `seq` order.
async fn history_texts(api: &TestApi, room: u64) -> Vec<String> {
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/messages?limit=100"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| i["data"]["text"].as_str().unwrap().to_string())
        .collect()
}

// ---- a review service ----------------------------------------------------------------------

/// One call the review service received: its path, `Zhibo-Signature` and raw body.
type Received = Arc<Mutex<Vec<(String, Option<String>, Bytes)>>>;

async fn review_handler(
    State(received): State<Received>,
    Path(case): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let signature = headers
        .get("zhibo-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    received
        .lock()
        .unwrap()
        .push((case.clone(), signature, body));
    let answer = |v: Value| axum::Json(v).into_response();
    match case.as_str() {
        "allow" => answer(json!({"result": "allow"})),
        "deny" => answer(json!({"result": "deny", "reason": "no ads here"})),
        "hold" => answer(json!({"result": "hold", "reason": "a human looks first"})),
        "error" => (http::StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        // Well past the 500 ms budget.
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            answer(json!({"result": "allow"}))
        }
        _ => http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// A review service on a free loopback port: `http://127.0.0.1:{port}/review/{case}`.
async fn review_service() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/review/{case}", axum::routing::post(review_handler))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "http://127.0.0.1:{}/review",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, received)
}

/// A loopback URL where nothing listens (the port was free a moment ago).
fn down_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/review")
}

async fn put_moderation(api: &TestApi, body: Value) -> zhibo_e2e_tests::Reply {
    api.call("PUT", "/v1/moderation", &body.to_string()).await
}

// ---- the review call -----------------------------------------------------------------------

#[tokio::test]
async fn the_review_call_decides_in_both_fail_modes_and_only_published_texts_are_delivered() {
    // Local settings (http and loopback allowed, as for webhooks); a burst big enough that
    // the per-user limit never answers.
    let api = stack_with(&[
        ("WEBHOOK_ALLOW_HTTP", "1"),
        ("USER_MESSAGE_BURST", "100"),
        ("USER_MESSAGE_INTERVAL_MS", "100"),
    ])
    .await;
    let room = api.create_room("reviewed", 60).await;
    go_live(&api, room).await;
    let mut watcher = subscribe(&grant(&api, room, "watcher").await).await;
    let poster = token(&api, room, "poster").await;
    let (base, received) = review_service().await;
    let down = down_url();

    let mut secret: Option<String> = None;
    let mut published = Vec::new();
    for mode in ["open", "closed"] {
        for case in ["allow", "deny", "hold", "error", "slow", "down"] {
            let url = if case == "down" {
                down.clone()
            } else {
                format!("{base}/{case}")
            };
            let r = put_moderation(
                &api,
                json!({"blocked_words": ["spam"], "review_url": url, "review_fail": mode}),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json["review_url"], url.as_str());
            assert_eq!(r.json["review_fail"], mode);
            let s = r.json["review_secret"].as_str().unwrap().to_string();
            // Generated once, kept while a review call stays set.
            assert_eq!(secret.get_or_insert(s.clone()), &s);

            let text = format!("{case} in {mode}");
            let (status, body) = post(&api, room, &poster, &text).await;
            assert_eq!(status, 200, "{text}: {body}");
            let reason = body["reason"].as_str().unwrap_or_default().to_string();
            let want = match case {
                "allow" => "published",
                "deny" => "rejected",
                "hold" => "held",
                // The call failed: the app's review_fail decides.
                _ if mode == "open" => "published",
                _ => "rejected",
            };
            assert_eq!(body["status"], want, "{text}: {body}");
            match want {
                "published" => {
                    assert!(body["seq"].as_u64().is_some(), "{text}: {body}");
                    published.push(text.clone());
                }
                _ => {
                    assert_eq!(body["seq"], Value::Null, "{text}: {body}");
                    assert_eq!(body["id"], Value::Null, "{text}: {body}");
                }
            }
            let says = match (case, want) {
                ("deny", _) => Some("no ads here"),
                ("hold", _) => Some("a human looks first"),
                ("error", "rejected") => Some("HTTP 500"),
                ("slow", "rejected") => Some("no answer within 500 ms"),
                ("down", "rejected") => Some("could not connect"),
                _ => None,
            };
            if let Some(says) = says {
                assert!(reason.contains(says), "{text}: {body}");
            }
            if want == "rejected" && case != "deny" {
                assert!(reason.contains("review service failed"), "{text}: {body}");
                assert!(reason.contains("closed"), "{text}: {body}");
            }
        }
    }
    // A blocked word is refused before the review call (the service never sees it).
    let calls_before = received.lock().unwrap().len();
    let (_, body) = post(&api, room, &poster, "S P A M").await;
    assert_eq!(body["status"], "rejected", "{body}");
    assert_eq!(received.lock().unwrap().len(), calls_before);

    // GET shows the settings with only the secret's last 4 characters.
    let secret = secret.unwrap();
    let r = api.call("GET", "/v1/moderation", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["review_fail"], "closed");
    assert_eq!(r.json["review_secret_hint"], &secret[secret.len() - 4..]);
    assert!(!r.text.contains(&secret), "{}", r.text);

    // Without review_url, no review call: published at once.
    let r = put_moderation(&api, json!({"blocked_words": []})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["review_url"], Value::Null);
    let (_, body) = post(&api, room, &poster, "the end").await;
    assert_eq!(body["status"], "published", "{body}");
    published.push("the end".into());

    // The subscriber got exactly the published texts, in order, with no gap in seq.
    let mut got = Vec::new();
    let mut last_seq = 0;
    while got.last().map(String::as_str) != Some("the end") {
        let item = next_item(&mut watcher).await;
        assert_eq!(item["seq"], last_seq + 1, "{item}");
        last_seq += 1;
        got.push(item["data"]["text"].as_str().unwrap().to_string());
    }
    assert_eq!(got, published);
    assert_eq!(
        published,
        [
            "allow in open",
            "error in open",
            "slow in open",
            "down in open",
            "allow in closed",
            "the end"
        ]
    );
    // The history holds the same, and nothing else.
    assert_eq!(history_texts(&api, room).await, published);

    // Every call reached the service signed with the review secret, with the documented body.
    let calls = received.lock().unwrap().clone();
    assert_eq!(calls.len(), 10, "five reachable cases in two modes");
    for (case, signature, body) in &calls {
        BodySignature::verify(
            secret.as_bytes(),
            signature.as_deref(),
            body,
            zhibo_core::clock::now(),
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["app_id"], api.app.app_id.as_str());
        assert_eq!(v["room_id"], room);
        assert_eq!(v["user"]["user_id"], "poster");
        assert_eq!(v["user"]["nickname"], "nick-poster");
        assert!(
            v["text"].as_str().unwrap().starts_with(case.as_str()),
            "{v}"
        );
        assert!(v["at_ms"].as_i64().unwrap() > 0);
    }
}

#[tokio::test]
async fn review_settings_are_refused_with_the_reason() {
    let api = stack_with(&[("WEBHOOK_ALLOW_HTTP", "1")]).await;
    for (body, field) in [
        (
            json!({"blocked_words": [], "review_url": "https://example.com/r", "review_fail": "maybe"}),
            "review_fail",
        ),
        (
            json!({"blocked_words": [], "review_fail": "closed"}),
            "review_fail",
        ),
        (
            json!({"blocked_words": [], "review_url": "ftp://example.com/r"}),
            "review_url",
        ),
        (
            json!({"blocked_words": [], "review_url": "https://u:p@example.com/r"}),
            "review_url",
        ),
        (
            json!({"blocked_words": [], "review_url": format!("https://example.com/{}", "a".repeat(2048))}),
            "review_url",
        ),
        (json!({"blocked_words": [], "review_url": 5}), "review_url"),
    ] {
        let r = put_moderation(&api, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.errmsg().contains(field), "{body}: {}", r.text);
    }
    // Without review_fail: open.
    let r = put_moderation(
        &api,
        json!({"blocked_words": [], "review_url": "https://example.com/r"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["review_fail"], "open");
}

// ---- SSRF ----------------------------------------------------------------------------------

#[tokio::test]
async fn internal_review_urls_are_refused_when_set_deployed() {
    // Deployed settings: https only, public destinations only.
    let api = stack_with(&[]).await;
    for host in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "[::1]",
        "[fd12:3456::1]",
        "[fe80::1]",
        "[::ffff:169.254.169.254]",
        "[64:ff9b::a9fe:a9fe]",
        "localhost",
        "review.localhost",
    ] {
        let url = format!("https://{host}/review");
        let r = put_moderation(&api, json!({"blocked_words": [], "review_url": url})).await;
        assert_eq!(r.status, 400, "{url}: {}", r.text);
        assert!(r.errmsg().contains("public host"), "{url}: {}", r.text);
    }
    let r = put_moderation(
        &api,
        json!({"blocked_words": [], "review_url": "http://example.com/review"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.errmsg().contains("https://"), "{}", r.text);
    let r = put_moderation(
        &api,
        json!({"blocked_words": [], "review_url": "https://example.com/review"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_review_url_reaching_loopback_is_refused_before_any_packet_leaves() {
    // A listener on the port the URLs name: any connection would wait in its backlog.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().unwrap().port();
    // A name that passed the check when it was set and resolves to loopback now (DNS
    // rebinding): `localhost` resolves to 127.0.0.1 without any DNS. And a literal stored
    // before the check existed.
    for url in [
        format!("https://localhost:{port}/review"),
        format!("https://127.0.0.1:{port}/review"),
    ] {
        // Deployed settings; a fresh app each time (no cached settings).
        let api = stack_with(&[]).await;
        let room = api.create_room("ssrf", 60).await;
        go_live(&api, room).await;
        let settings = zhibo_store::Moderation {
            blocked_words: Vec::new(),
            review: Some(ReviewSettings {
                url: url.clone(),
                fail: ReviewFail::Closed,
                secret: zhibo_core::audience::review::new_review_secret(),
            }),
        };
        api.state
            .chat
            .put_moderation(&api.app.app_id, &settings, zhibo_core::clock::now())
            .await
            .expect("store the settings");
        let poster = token(&api, room, "poster").await;
        let (status, body) = post(&api, room, &poster, "hello").await;
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(body["status"], "rejected", "{url}: {body}");
        assert!(
            body["reason"]
                .as_str()
                .unwrap()
                .contains("no public address"),
            "{url}: {body}"
        );
        assert!(history_texts(&api, room).await.is_empty());
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a review call connected to the loopback listener: {other:?}"),
    }
}

// ---- flood control -------------------------------------------------------------------------

#[tokio::test]
async fn a_room_publishes_at_most_room_messages_per_s_and_counts_the_rest() {
    const PER_S: usize = 3;
    const POSTS: usize = 30;
    let api = stack_with(&[("ROOM_MESSAGES_PER_S", "3")]).await;
    let room = api.create_room("flood", 60).await;
    go_live(&api, room).await;
    let mut watcher = subscribe(&grant(&api, room, "watcher").await).await;
    let mut tokens = Vec::new();
    for i in 0..POSTS {
        tokens.push(token(&api, room, &format!("u{i}")).await);
    }
    // Thirty users post at once: each within its own rate limit, the room over its own.
    let texts: Vec<String> = (0..POSTS).map(|i| format!("m{i}")).collect();
    let answers = futures::future::join_all(
        tokens
            .iter()
            .zip(&texts)
            .map(|(t, text)| post(&api, room, t, text)),
    )
    .await;
    let mut published = std::collections::BTreeSet::new();
    let mut held = 0;
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        match body["status"].as_str() {
            Some("published") => {
                published.insert(format!("m{i}"));
            }
            Some("held") => {
                held += 1;
                assert_eq!(body["seq"], Value::Null, "{body}");
                let reason = body["reason"].as_str().unwrap();
                assert!(reason.contains("flood control"), "{body}");
                assert!(reason.contains("ROOM_MESSAGES_PER_S"), "{body}");
            }
            _ => panic!("{body}"),
        }
    }
    // Every post is either published or counted; thirty posts cannot all fit in the
    // seconds they were spread over unless that took ten seconds or more.
    assert_eq!(published.len() + held, POSTS);
    assert!(published.len() >= PER_S, "{published:?}");

    // The history: exactly the published ones, at most PER_S in any one second.
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/messages?limit=100"), "")
        .await;
    let items = r.json["items"].as_array().unwrap().clone();
    let texts: std::collections::BTreeSet<String> = items
        .iter()
        .map(|i| i["data"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, published);
    let mut per_second = std::collections::BTreeMap::<i64, usize>::new();
    for i in &items {
        *per_second
            .entry(i["at_ms"].as_i64().unwrap().div_euclid(1000))
            .or_default() += 1;
    }
    assert!(per_second.values().all(|n| *n <= PER_S), "{per_second:?}");
    assert!(
        held >= POSTS - PER_S * per_second.len(),
        "{held} held over {per_second:?}"
    );
    assert!(held > 0, "{per_second:?}");

    // The subscriber got the published ones, seq 1.. without a gap. Concurrent posts may
    // reach the channel in another order than their seq (clients sort by seq), so the
    // check is on the set of seqs, not on their arrival order.
    let mut got = std::collections::BTreeSet::new();
    let mut seqs = std::collections::BTreeSet::new();
    for _ in 0..published.len() {
        let item = next_item(&mut watcher).await;
        seqs.insert(item["seq"].as_u64().unwrap_or_else(|| panic!("{item}")));
        got.insert(item["data"]["text"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seqs,
        (1..=published.len() as u64).collect::<std::collections::BTreeSet<_>>()
    );
    assert_eq!(got, published);

    // The counters: published and dropped, exactly.
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/stats"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["messages"], published.len() as u64, "{}", r.text);
    assert_eq!(r.json["messages_dropped"], held as u64, "{}", r.text);
}
