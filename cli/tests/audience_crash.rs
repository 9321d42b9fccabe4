//! "Nothing lost" on the audience side, with the real `zhibo serve` binary on DynamoDB Local:
//! it is killed with SIGKILL while twenty viewers post messages and the customer's backend
//! posts gifts, then started again. Clients retry what got no answer, as docs/api.md says.
//! Then: every message that was answered `published` is in the history at its `seq` and was
//! delivered on the channel (the AppSync Events stand-in, which, like the managed engine,
//! does not die with a function instance); every retried message is in the history; every
//! gift is in it exactly once and counted exactly once; the history reaches the last `seq`
//! with no gap (a writer killed between its `seq` reservation and its put leaves a hole the
//! history fills once the items after it are `HOLE_AGE_MS` old: the test waits for that).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use zhibo_test_support::audience::{start_with_realtime, RealtimeClient, PUBLISH_KEY, VIEWER_KEY};
use zhibo_test_support::{dynamo_endpoint, free_port, TestApi, TEST_HOOK_SECRET, TEST_PUSH_KEY};

const USERS: usize = 20;
/// Messages answered before the kill.
const ACKED_BEFORE_KILL: usize = 80;
/// Messages each user sends after the restart (besides its retry).
const AFTER_RESTART: usize = 3;
const GIFTS: usize = 30;

/// `zhibo serve` as a child process on `port`, over the test API's table and stand-in.
fn spawn_serve(api: &TestApi, port: u16) -> tokio::process::Child {
    let audience = api.state.config.audience.as_ref().expect("audience config");
    tokio::process::Command::new(env!("CARGO_BIN_EXE_zhibo"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("ZHIBO_TABLE", api.state.table.name())
        .env("ZHIBO_DYNAMO_ENDPOINT", dynamo_endpoint())
        .env("MIN_START_LEAD_S", "0")
        .env("PUSH_KEY", TEST_PUSH_KEY)
        .env("HOOK_SECRET", TEST_HOOK_SECRET)
        .env("INGEST_HOST", "ingest.example.com:1935")
        .env("VIEWER_TOKEN_KEY", VIEWER_KEY)
        .env("REALTIME_WS_URL", &audience.ws_url)
        .env("REALTIME_HTTP_URL", &audience.http_url)
        .env("REALTIME_PUBLISH_KEY", PUBLISH_KEY)
        .env("USER_MESSAGE_INTERVAL_MS", "100")
        .env("USER_MESSAGE_BURST", "100")
        .env("ROOM_MESSAGES_PER_S", "10000")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        // No replay indexer: nothing here is media.
        .env_remove("ZHIBO_WEED_BIN")
        .env_remove("ZHIBO_SEAWEEDFS_FILER")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start zhibo serve")
}

/// Waits until `zhibo serve` accepts connections on `port`.
async fn wait_listening(port: u16) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("zhibo serve did not listen on {port} within 30 s");
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Messages answered `published`: id → (seq, text).
    acked: BTreeMap<String, (u64, String)>,
    /// Texts whose first POST got no answer (the kill), retried after the restart.
    retried: Vec<String>,
    /// Gift orders whose first POST got no answer.
    gifts_retried: Vec<String>,
    /// Gift retries answered `duplicate` (stored before the kill, answer lost).
    gifts_found_stored: usize,
}

/// POSTs a message with the viewer's token: `Ok((status, body))`, `Err` when the connection
/// failed (the server was killed).
async fn post_message(
    http: &reqwest::Client,
    base: &str,
    room: u64,
    token: &str,
    text: &str,
) -> Result<(u16, Value), reqwest::Error> {
    let r = http
        .post(format!("{base}/v1/rooms/{room}/messages"))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

/// POSTs gift `order` signed with the app's secret.
async fn post_gift(
    api: &TestApi,
    http: &reqwest::Client,
    base: &str,
    room: u64,
    order: &str,
) -> Result<(u16, Value), reqwest::Error> {
    let path = format!("/v1/rooms/{room}/gifts");
    let body = json!({
        "user_id": "buyer-1", "nickname": "小红", "gift_id": "rocket", "name": "火箭",
        "count": 2, "value_cents": 100, "order_id": order,
    })
    .to_string();
    let nonce = zhibo_core::ids::random_hex(12);
    let ts = zhibo_core::clock::now_ms() / 1000;
    let mut req = http
        .post(format!("{base}{path}"))
        .body(body.clone())
        .header("content-type", "application/json");
    for (k, v) in api.sign_headers("POST", &path, body.as_bytes(), ts, &nonce) {
        req = req.header(k, v);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

#[tokio::test]
async fn killing_serve_mid_traffic_loses_no_message_or_gift_and_leaves_no_gap() {
    let api = Arc::new(start_with_realtime(&[]).await);
    let room = api.create_room("crash", 60).await;
    let watcher = api.viewer_grant(room, "watcher").await;
    let mut grants = Vec::new();
    for u in 0..USERS {
        grants.push(api.viewer_grant(room, &format!("u{u}")).await);
    }
    api.go_live(room).await;

    // A subscriber collects every item the channel delivers until the closing notice.
    let mut sub = RealtimeClient::subscribe(&watcher).await;
    let delivered = tokio::spawn(async move {
        let mut ids = BTreeSet::new();
        loop {
            let item = sub.item().await;
            if item["type"] == "notice" {
                return ids;
            }
            ids.insert(item["id"].as_str().expect("an item id").to_string());
        }
    });

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = spawn_serve(&api, port);
    wait_listening(port).await;

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let acked = Arc::new(AtomicUsize::new(0));
    // Clients whose request failed and who wait for the server to come back.
    let waiting = Arc::new(AtomicUsize::new(0));
    // Set once the server is back.
    let (restarted_tx, restarted) = tokio::sync::watch::channel(false);

    // Each viewer posts until the kill, then (once the server is back) retries what got no
    // answer and posts a few more.
    let mut clients = tokio::task::JoinSet::new();
    for (u, grant) in grants.iter().enumerate() {
        let token = grant["token"].as_str().expect("token").to_string();
        let (http, base, seen, acked) = (http.clone(), base.clone(), seen.clone(), acked.clone());
        let waiting = waiting.clone();
        let mut restarted = restarted.clone();
        clients.spawn(async move {
            let mut n = 0;
            let mut after = 0;
            loop {
                let text = format!("u{u} #{n}");
                n += 1;
                match post_message(&http, &base, room, &token, &text).await {
                    Ok((200, body)) => {
                        assert_eq!(body["status"], "published", "{body}");
                        let id = body["id"].as_str().expect("id").to_string();
                        let seq = body["seq"].as_u64().expect("seq");
                        seen.lock().unwrap().acked.insert(id, (seq, text));
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok((status, body)) => panic!("{text}: {status} {body}"),
                    Err(_) => {
                        // No answer: the server died. Retry once it is back.
                        wait_for_restart(&waiting, &mut restarted).await;
                        let (status, body) = post_message(&http, &base, room, &token, &text)
                            .await
                            .expect("the restarted server answers");
                        assert_eq!((status, &body["status"]), (200, &json!("published")));
                        let id = body["id"].as_str().expect("id").to_string();
                        let seq = body["seq"].as_u64().expect("seq");
                        let mut seen = seen.lock().unwrap();
                        seen.retried.push(text.clone());
                        seen.acked.insert(id, (seq, text));
                    }
                }
                if *restarted.borrow() {
                    after += 1;
                    if after > AFTER_RESTART {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(110)).await;
            }
        });
    }
    // The customer's backend posts gifts one after another, retrying an unanswered one with
    // the same order_id.
    let gifts = {
        let (http, base, seen, api) = (http.clone(), base.clone(), seen.clone(), api.clone());
        let waiting = waiting.clone();
        let mut restarted = restarted.clone();
        tokio::spawn(async move {
            for g in 0..GIFTS {
                let order = format!("order-{g}");
                match post_gift(&api, &http, &base, room, &order).await {
                    Ok((status, body)) => assert_eq!(status, 200, "{order}: {body}"),
                    Err(_) => {
                        wait_for_restart(&waiting, &mut restarted).await;
                        let (status, body) = post_gift(&api, &http, &base, room, &order)
                            .await
                            .expect("the restarted server answers");
                        assert_eq!(status, 200, "{order}: {body}");
                        let mut seen = seen.lock().unwrap();
                        seen.gifts_retried.push(order.clone());
                        if body["duplicate"] == true {
                            seen.gifts_found_stored += 1;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };

    // Kill mid-traffic, start again on the same port, let the clients retry.
    while acked.load(Ordering::SeqCst) < ACKED_BEFORE_KILL {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    serve.start_kill().expect("SIGKILL zhibo serve");
    let status = serve.wait().await.expect("wait for zhibo serve");
    assert!(!status.success(), "zhibo serve was killed: {status}");
    let killed_at = acked.load(Ordering::SeqCst);
    // Start again only once every client has met the dead server (a request cut by the kill,
    // or refused after it), so each of them goes through the retry.
    let everyone_waits = tokio::time::timeout(Duration::from_secs(60), async {
        while waiting.load(Ordering::SeqCst) < USERS + usize::from(!gifts.is_finished()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    everyone_waits
        .await
        .expect("every client meets the dead server within 60 s");
    let mut serve = spawn_serve(&api, port);
    wait_listening(port).await;
    restarted_tx.send_replace(true);
    while let Some(r) = clients.join_next().await {
        r.expect("a viewer");
    }
    gifts.await.expect("the gift poster");
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/announcements"),
            r#"{"type": "notice", "text": "the end"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let end_seq = r.json["seq"].as_u64().expect("the notice's seq");
    let delivered = tokio::time::timeout(Duration::from_secs(60), delivered)
        .await
        .expect("the subscriber reaches the closing notice")
        .expect("the subscriber");

    // The history reaches the closing notice with no gap; a hole left by a killed writer is
    // filled once the items after it are HOLE_AGE_MS old, so wait up to that plus a margin.
    let mut history: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(zhibo_store::HOLE_AGE_MS as u64)
        + Duration::from_secs(30);
    loop {
        let after = history
            .last()
            .map_or(0, |i| i["seq"].as_u64().expect("seq"));
        let r = api
            .call(
                "GET",
                &format!("/v1/rooms/{room}/messages?after_seq={after}&limit=100"),
                "",
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json["items"].as_array().expect("items").clone();
        let got_some = !page.is_empty();
        history.extend(page);
        // Items may follow the notice (a `stats` item from the sweeper): read up to it at least.
        if history
            .last()
            .and_then(|i| i["seq"].as_u64())
            .is_some_and(|seq| seq >= end_seq)
        {
            break;
        }
        if !got_some {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the history stops at seq {after} of {end_seq}: a hole was never filled"
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let seqs: Vec<u64> = history.iter().map(|i| i["seq"].as_u64().unwrap()).collect();
    let last = *seqs.last().expect("items");
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "gap-free, in order");
    let by_id: BTreeMap<&str, &Value> = history
        .iter()
        .map(|i| (i["id"].as_str().expect("id"), i))
        .collect();
    assert_eq!(by_id.len(), history.len(), "no id twice");
    let holes = history.iter().filter(|i| i["deleted"] == true).count();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    // Every answered message is stored at its seq, with its text, and was delivered.
    for (id, (seq, text)) in &seen.acked {
        let item = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id} lost"));
        assert_eq!(
            (item["seq"].as_u64(), &item["data"]["text"]),
            (Some(*seq), &json!(text))
        );
        assert!(delivered.contains(id), "{id} ({text}) was never delivered");
    }
    // Every retried message is stored (twice when the first try was stored but its answer
    // lost: messages have no idempotency key, so a retry is at-least-once).
    let texts: Vec<&str> = history
        .iter()
        .filter(|i| i["type"] == "message")
        .filter_map(|i| i["data"]["text"].as_str())
        .collect();
    for t in &seen.retried {
        assert!(
            texts.contains(&t.as_str()),
            "the retried {t:?} is not in the history"
        );
    }
    // Every gift is stored once and counted once, whether its retry found it stored or not.
    let mut orders: Vec<&str> = history
        .iter()
        .filter(|i| i["type"] == "gift")
        .filter_map(|i| i["data"]["order_id"].as_str())
        .collect();
    orders.sort_unstable();
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..GIFTS).map(|g| format!("order-{g}")).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(orders, want.iter().map(String::as_str).collect::<Vec<_>>());
    let stats = api.room_stats(room).await;
    assert_eq!(
        (stats["gifts"].as_u64(), stats["gifts_value_cents"].as_u64()),
        (Some(2 * GIFTS as u64), Some(200 * GIFTS as u64)),
        "{stats}"
    );
    // Deleted placeholders only stand for writers the kill stopped (one request per client).
    assert!(
        holes <= USERS + 1,
        "{holes} holes for at most {} writers killed",
        USERS + 1
    );
    println!(
        "killed after {killed_at} answered messages; {} retried ({} messages in the history, \
         {holes} holes filled), {} gifts retried ({} found stored)",
        seen.retried.len(),
        texts.len(),
        seen.gifts_retried.len(),
        seen.gifts_found_stored
    );
    assert!(
        seen.retried.len() >= USERS,
        "every viewer retried after the kill: {}",
        seen.retried.len()
    );
    let _ = serve.start_kill();
}

/// A client that met the server dead counts itself as waiting (the test restarts the server
/// once every client has), then waits for the restart.
async fn wait_for_restart(
    waiting: &AtomicUsize,
    restarted: &mut tokio::sync::watch::Receiver<bool>,
) {
    waiting.fetch_add(1, Ordering::SeqCst);
    restarted
        .wait_for(|back| *back)
        .await
        .expect("the test runs");
}
