//! Gifts, announcements and `status` items on the real functions over DynamoDB Local, with the
//! AppSync Events stand-in and the webhook delivery as `zhibo serve` runs them (docs/api.md
//! "Audience interaction").

use std::time::Duration;

use serde_json::{json, Value};
use zhibo_core::webhook::EventType;
use zhibo_e2e_tests::audience::{start_with_realtime, RealtimeClient};
use zhibo_e2e_tests::TestApi;

/// How long "eventually" may take before a test fails (never asserted as a duration).
const DEADLINE: Duration = Duration::from_secs(60);

/// The AppSync Events stand-in on a free port, and an API that publishes to it (webhooks to
/// `http://` allowed, for the test's receiver).
async fn stack() -> TestApi {
    start_with_realtime(&[("WEBHOOK_ALLOW_HTTP", "1")]).await
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

/// The webhook delivery as `zhibo serve` runs it: on a timer, with `status` items.
fn spawn_delivery(api: &TestApi) -> tokio::task::JoinHandle<()> {
    let deliverer =
        fn_webhook_delivery::Deliverer::from_config(api.state.outbox.clone(), &api.state.config)
            .expect("deliverer")
            .with_status_items(fn_webhook_delivery::StatusItems::from_deps(&api.state));
    zhibo_local::background::spawn_delivery_pump(deliverer, Duration::from_millis(50))
}

async fn end(api: &TestApi, room: u64) {
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/actions"),
            r#"{"action": "end"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn gift(order_id: &str, count: u64, value_cents: u64) -> String {
    json!({
        "user_id": "buyer-1", "nickname": "小红", "gift_id": "rocket", "name": "火箭",
        "count": count, "value_cents": value_cents, "order_id": order_id,
    })
    .to_string()
}

async fn stats(api: &TestApi, room: u64) -> Value {
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/stats"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

async fn history(api: &TestApi, room: u64) -> Vec<Value> {
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/messages?limit=100"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["items"].as_array().unwrap().clone()
}

/// Waits until the room's outbox is empty: every event enqueued so far was delivered.
async fn outbox_drained(api: &TestApi, room: u64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while api
        .state
        .outbox
        .outbox_head(&api.app.app_id, room)
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox of room {room} never drained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_subscriber_gets_status_gift_goods_and_notice_items_in_seq_order() {
    let api = stack().await;
    let receiver = api.register_webhook().await;
    let _delivery = spawn_delivery(&api);
    let room = api.create_room("shop", 60).await;
    let mut ws = subscribe(&grant(&api, room, "watcher").await).await;

    go_live(&api, room).await;
    let item = next_item(&mut ws).await;
    assert_eq!(item["type"], "status", "{item}");
    assert_eq!(item["seq"], 1);
    assert_eq!(item["data"]["live_status"], 101);
    assert_eq!(item["data"]["previous_status"], 102);
    assert_eq!(item["data"]["reason"], "publish");
    assert!(item["user"].is_null());

    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/gifts"),
            &gift("o-1", 3, 500),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["duplicate"], false);
    assert_eq!(r.json["seq"], 2);
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/announcements"),
            r#"{"type": "goods.featured", "goods_index": 0}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/announcements"),
            r#"{"type": "notice", "text": " 今晚 8 点上新 "}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["item"]["data"]["text"], "今晚 8 点上新");

    let g = next_item(&mut ws).await;
    assert_eq!(
        (g["seq"].as_u64(), g["type"].as_str()),
        (Some(2), Some("gift"))
    );
    assert_eq!(g["user"]["user_id"], "buyer-1");
    assert_eq!(g["user"]["nickname"], "小红");
    assert_eq!(g["user"]["role"], "viewer");
    assert_eq!(
        g["data"],
        json!({"gift_id": "rocket", "name": "火箭", "count": 3, "value_cents": 500, "order_id": "o-1"})
    );
    let f = next_item(&mut ws).await;
    assert_eq!(
        (f["seq"].as_u64(), f["type"].as_str()),
        (Some(3), Some("goods.featured"))
    );
    assert_eq!(
        f["data"],
        json!({"goods_index": 0, "name": "商品", "price": 1100, "url": "pages/goods/1", "cover_img": "https://example.com/g.png"})
    );
    assert!(f["user"].is_null());
    let n = next_item(&mut ws).await;
    assert_eq!(
        (n["seq"].as_u64(), n["type"].as_str()),
        (Some(4), Some("notice"))
    );
    assert_eq!(n["data"]["text"], "今晚 8 点上新");

    end(&api, room).await;
    let s = next_item(&mut ws).await;
    assert_eq!(
        (s["seq"].as_u64(), s["type"].as_str()),
        (Some(5), Some("status"))
    );
    assert_eq!(s["data"]["live_status"], 103);
    assert_eq!(s["data"]["reason"], "end");
    assert!(s["offset_ms"].as_i64().unwrap() >= 0);

    // The history holds the same items, in the same order.
    let kinds: Vec<(u64, String)> = history(&api, room)
        .await
        .iter()
        .map(|i| {
            (
                i["seq"].as_u64().unwrap(),
                i["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = [
        (1, "status"),
        (2, "gift"),
        (3, "goods.featured"),
        (4, "notice"),
        (5, "status"),
    ]
    .iter()
    .map(|(s, k)| (*s, k.to_string()))
    .collect();
    assert_eq!(kinds, want);
    let st = stats(&api, room).await;
    assert_eq!(
        (st["gifts"].as_u64(), st["gifts_value_cents"].as_u64()),
        (Some(3), Some(1500))
    );

    // The gift.received webhook, with the gift, its item and the giver.
    outbox_drained(&api, room).await;
    let received: Vec<_> = receiver
        .events()
        .into_iter()
        .filter(|e| e.room_id == room && e.kind == EventType::GiftReceived)
        .collect();
    assert_eq!(received.len(), 1, "{received:?}");
    let d = &received[0].data;
    assert_eq!(d["room_id"], room);
    assert_eq!(d["order_id"], "o-1");
    assert_eq!(d["gift_id"], "rocket");
    assert_eq!(d["count"], 3);
    assert_eq!(d["value_cents"], 500);
    assert_eq!(d["total_cents"], 1500);
    assert_eq!(d["item_seq"], 2);
    assert_eq!(d["item_id"], g["id"]);
    assert_eq!(d["at_ms"], g["at_ms"]);
    assert_eq!(d["user"]["user_id"], "buyer-1");
    // In the room's event order: started, gift.received, ended.
    assert_eq!(
        receiver.types(room),
        ["room.started", "gift.received", "room.ended"]
    );
}

#[tokio::test]
async fn a_gift_retried_with_the_same_order_id_is_shown_counted_and_sent_once() {
    let api = stack().await;
    let receiver = api.register_webhook().await;
    let _delivery = spawn_delivery(&api);
    let room = api.create_room("retries", 60).await;
    go_live(&api, room).await;
    let mut ws = subscribe(&grant(&api, room, "watcher").await).await;
    // The status item of the live (appended by the delivery) comes first.
    let first = next_item(&mut ws).await;
    assert_eq!(first["type"], "status");
    let path = format!("/v1/rooms/{room}/gifts");

    // Sequential retries: the same item, marked duplicate.
    let r = api.call("POST", &path, &gift("seq-order", 2, 100)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["duplicate"], false);
    let (id, seq) = (r.json["id"].clone(), r.json["seq"].clone());
    for _ in 0..3 {
        let again = api.call("POST", &path, &gift("seq-order", 2, 100)).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.json["duplicate"], true);
        assert_eq!((&again.json["id"], &again.json["seq"]), (&id, &seq));
    }

    // 20 concurrent requests of one order: one adds, every one answers the same item.
    let body = gift("race-order", 5, 1000);
    let answers = futures::future::join_all((0..20).map(|_| api.call("POST", &path, &body))).await;
    let mut added = 0;
    let mut ids = std::collections::HashSet::new();
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text);
        if a.json["duplicate"] == false {
            added += 1;
        }
        ids.insert(a.json["id"].as_str().unwrap().to_string());
    }
    assert_eq!(added, 1, "exactly one request added the gift");
    assert_eq!(ids.len(), 1, "{ids:?}");

    // Shown once each: the next items are the two gifts, then the notice posted after them.
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/announcements"),
            r#"{"type": "notice", "text": "after the gifts"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let seen: Vec<(String, String)> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let i = next_item(&mut ws).await;
            v.push((
                i["type"].as_str().unwrap().to_string(),
                i["data"]["order_id"].as_str().unwrap_or("").to_string(),
            ));
        }
        v
    };
    assert_eq!(
        seen,
        [
            ("gift".to_string(), "seq-order".to_string()),
            ("gift".to_string(), "race-order".to_string()),
            ("notice".to_string(), String::new()),
        ]
    );
    let gifts = history(&api, room)
        .await
        .into_iter()
        .filter(|i| i["type"] == "gift")
        .count();
    assert_eq!(gifts, 2);
    // Counted once each.
    let st = stats(&api, room).await;
    assert_eq!(st["gifts"], 2 + 5);
    assert_eq!(st["gifts_value_cents"], 2 * 100 + 5 * 1000);

    // One gift.received per order.
    outbox_drained(&api, room).await;
    let mut orders: Vec<String> = receiver
        .events()
        .into_iter()
        .filter(|e| e.room_id == room && e.kind == EventType::GiftReceived)
        .map(|e| e.data["order_id"].as_str().unwrap().to_string())
        .collect();
    orders.sort();
    assert_eq!(orders, ["race-order", "seq-order"]);

    // The same order_id for another gift, or in another room: 409 with the reason.
    let r = api.call("POST", &path, &gift("seq-order", 3, 100)).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains("different gift"), "{}", r.text);
    let other = api.create_room("other", 60).await;
    go_live(&api, other).await;
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{other}/gifts"),
            &gift("seq-order", 2, 100),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains(&format!("room {room}")), "{}", r.text);
    assert_eq!(stats(&api, room).await["gifts"], 7);
    assert_eq!(stats(&api, other).await["gifts"], 0);
}

#[tokio::test]
async fn gifts_and_announcements_are_refused_with_the_reason() {
    let api = stack().await;
    let room = api.create_room("refusals", 60).await;
    let gifts = format!("/v1/rooms/{room}/gifts");
    let announcements = format!("/v1/rooms/{room}/announcements");

    // Not live yet: gifts 409; announcements are taken before the live.
    let r = api.call("POST", &gifts, &gift("early", 1, 1)).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains("not live"), "{}", r.text);
    let r = api
        .call(
            "POST",
            &announcements,
            r#"{"type": "notice", "text": "soon"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    go_live(&api, room).await;

    // Bad fields: 400 naming the field.
    let ok = json!({
        "user_id": "u", "nickname": "n", "gift_id": "g", "name": "花",
        "count": 1, "value_cents": 1, "order_id": "o-ok",
    });
    for (field, value) in [
        ("user_id", json!("")),
        ("nickname", json!("名".repeat(33))),
        ("gift_id", json!("a b")),
        ("name", json!("")),
        ("count", json!(0)),
        ("count", json!(10_000)),
        ("count", json!(-1)),
        ("value_cents", json!(100_000_001)),
        ("order_id", json!("")),
        ("order_id", json!("x".repeat(65))),
        ("order_id", json!("a/b")),
        ("avatar", json!("http://insecure/a.png")),
        ("extra", json!(1)),
    ] {
        let mut body = ok.clone();
        body[field] = value;
        let r = api.call("POST", &gifts, &body.to_string()).await;
        assert_eq!(r.status, 400, "{field}: {}", r.text);
        assert!(r.errmsg().contains(field), "{field}: {}", r.text);
    }
    let r = api.call("POST", &gifts, "not json").await;
    assert_eq!(r.status, 400, "{}", r.text);
    for (body, field, why) in [
        (
            r#"{"type": "goods.featured", "goods_index": 1}"#,
            "goods_index",
            "out of range",
        ),
        (r#"{"type": "goods.featured"}"#, "goods_index", "required"),
        (r#"{"type": "notice", "text": ""}"#, "text", "empty"),
        (r#"{"type": "notice"}"#, "text", "required"),
        (r#"{"type": "poll"}"#, "type", "goods.featured, notice"),
        (
            r#"{"type": "notice", "text": "x", "extra": 1}"#,
            "extra",
            "",
        ),
    ] {
        let r = api.call("POST", &announcements, body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.errmsg().contains(field), "{body}: {}", r.text);
        assert!(r.errmsg().contains(why), "{body}: {}", r.text);
    }
    let long = json!({"type": "notice", "text": "字".repeat(501)}).to_string();
    assert_eq!(api.call("POST", &announcements, &long).await.status, 400);

    // No such room, and another app's room: 404 alike.
    let r = api
        .call("POST", "/v1/rooms/999999/gifts", &gift("o-404", 1, 1))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let other_app = zhibo_core::app::App::generate(
        &format!("t{}", zhibo_core::ids::random_hex(5)),
        zhibo_core::clock::now(),
    )
    .unwrap();
    assert!(api.state.apps.put_app(&other_app).await.unwrap());
    let intruder = TestApi {
        base: api.base.clone(),
        state: api.state.clone(),
        app: other_app,
        http: api.http.clone(),
        sdk: api.sdk.clone(),
    };
    let r = intruder
        .call("POST", &gifts, &gift("o-intruder", 1, 1))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = intruder
        .call(
            "POST",
            &announcements,
            r#"{"type": "notice", "text": "hi"}"#,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Unsigned: 401.
    let r = api
        .raw("POST", &gifts, gift("o-unsigned", 1, 1).into_bytes(), &[])
        .await;
    assert_eq!(r.status, 401, "{}", r.text);

    // Nothing above was stored, counted or published: only the notice before the live.
    let items = history(&api, room).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(stats(&api, room).await["gifts"], 0);

    // Once ended: gifts and announcements 409.
    end(&api, room).await;
    let r = api.call("POST", &gifts, &gift("late", 1, 1)).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains("103"), "{}", r.text);
    let r = api
        .call(
            "POST",
            &announcements,
            r#"{"type": "notice", "text": "bye"}"#,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains("over"), "{}", r.text);
}
