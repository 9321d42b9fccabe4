//! The table layout on DynamoDB Local: rooms read back whole from their room and live-session
//! items, idempotency keys end at their expiry, and what the hot operations cost, measured with
//! `ReturnConsumedCapacity=INDEXES` ([`zhibo_e2e_tests::capacity`]).
//!
//! `heartbeat_is_one_small_write` guards the heartbeat's cost. `measure_operations` prints the
//! table the README's capacity and cost figures come from; re-run it after a storage change:
//!
//! ```text
//! cargo test -p zhibo-e2e-tests --test storage measure -- --ignored --nocapture
//! ```

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use sha2::Digest;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use zhibo_core::clock::now;
use zhibo_core::hooks::HookEventKind::{Heartbeat, Publish, Unpublish};
use zhibo_core::ids::time_ordered_id;
use zhibo_core::lifecycle::Input;
use zhibo_core::lifecycle::{Action, Verdict};
use zhibo_core::room::{CreateRoom, Goods, RoomId, MAX_GOODS};
use zhibo_core::table::keys;
use zhibo_core::LiveStatus;
use zhibo_e2e_tests::capacity::{metered_store, Capacity};
use zhibo_e2e_tests::TestApi;
use zhibo_store::{CreateLimits, Deps, IdempotencyKey, Table};

/// A create request with `goods` goods of about 600 bytes each (100 make ~60 KB, near the
/// 64 KiB body limit).
fn create_request(goods: usize, start: i64) -> CreateRoom {
    CreateRoom {
        name: "capacity".into(),
        cover_img: "https://example.com/cover.jpg".into(),
        anchor_name: "主播".into(),
        anchor_img: "https://example.com/anchor.jpg".into(),
        start_time: start,
        end_time: start + 3600,
        goods: (0..goods)
            .map(|i| Goods {
                cover_img: format!("https://img.example.com/{i:04}/{}.png", "c".repeat(355)),
                url: format!("pages/goods/detail?id={i:04}&from=live&{}", "q".repeat(60)),
                price: 1100 + i as i64,
                name: format!("商品 {i:04} {}", "名".repeat(20)),
            })
            .collect(),
        close_like: false,
        close_comment: false,
        close_replay: false,
    }
}

fn limits() -> CreateLimits {
    CreateLimits {
        max_lives_per_day: 10_000,
        quota_utc_offset_minutes: 480,
    }
}

async fn create(store: &Deps, api: &TestApi, goods: usize) -> RoomId {
    store
        .rooms
        .create_room(
            &api.app.app_id,
            create_request(goods, now() + 60),
            None,
            &limits(),
            now(),
        )
        .await
        .expect("create room")
        .room
        .room_id
}

/// Applies a hook of `kind` for `room` at `at_ms`.
async fn hook(
    store: &Deps,
    api: &TestApi,
    room: RoomId,
    kind: zhibo_core::hooks::HookEventKind,
    session: &str,
    seq: u64,
    at_ms: i64,
) -> zhibo_store::Applied {
    let e = api.hook_event(kind, room, session, seq);
    store
        .lifecycle
        .apply_lifecycle(
            &api.app.app_id,
            room,
            Input::Hook(&e),
            &api.state.config.timers,
            api.state.config.max_concurrent_lives,
            at_ms,
        )
        .await
        .expect("apply hook")
}

#[tokio::test]
async fn heartbeat_is_one_small_write() {
    let api = TestApi::start().await;
    let (store, meter) = metered_store(&api);
    let room = create(&store, &api, MAX_GOODS).await;
    let size = serde_json::to_string(&api.stored_room(room).await.goods)
        .expect("goods JSON")
        .len();
    assert!(size > 55_000, "the goods are only {size} bytes");
    let session = time_ordered_id(zhibo_core::clock::now_ms());
    let t0 = zhibo_core::clock::now_ms();
    hook(&store, &api, room, Publish, &session, 0, t0).await;
    for (seq, at) in [(1, t0 + 10_000), (2, t0 + 20_000), (3, t0 + 30_000)] {
        meter.take();
        let applied = hook(&store, &api, room, Heartbeat, &session, seq, at).await;
        let used = meter.take();
        assert_eq!(applied.outcome.room.lifecycle.session_seq, seq);
        assert!(
            used.write <= 3.0,
            "heartbeat {seq} of a room with {size} bytes of goods consumed {used:?}; \
             a heartbeat must cost at most 3 write units, indexes included"
        );
    }
    let stored = api.stored_room(room).await;
    assert_eq!(stored.live_status, LiveStatus::Live);
    assert_eq!(stored.lifecycle.session_seq, 3);
    assert_eq!(stored.lifecycle.last_seen, (t0 + 30_000) / 1000);
}

fn row(what: &str, c: Capacity) {
    println!(
        "| {what} | {:.1} | {:.1} | {:.1} | {} |",
        c.write, c.index_write, c.read, c.calls
    );
}

/// Prints what each hot operation consumes for a room with one and with 100 goods.
#[tokio::test]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_operations() {
    for goods in [1, MAX_GOODS] {
        let api = TestApi::start().await;
        let (store, meter) = metered_store(&api);
        let app = api.app.app_id.clone();
        let timers = api.state.config.timers;
        println!("\n{goods} goods:\n\n| operation | write units | of which indexes | read units | calls |");
        println!("|---|---|---|---|---|");
        meter.take();
        let room = create(&store, &api, goods).await;
        row("create room", meter.take());
        let session = time_ordered_id(zhibo_core::clock::now_ms());
        let t0 = zhibo_core::clock::now_ms();
        hook(&store, &api, room, Publish, &session, 0, t0).await;
        row("publish (102 → 101)", meter.take());
        for (seq, dt) in [(1, 10_000), (2, 20_000), (3, 30_000), (4, 40_000)] {
            hook(&store, &api, room, Heartbeat, &session, seq, t0 + dt).await;
            row(
                &format!("heartbeat {seq} (t0 + {} s)", dt / 1000),
                meter.take(),
            );
        }
        store
            .rooms
            .get_room(&app, room)
            .await
            .expect("get")
            .expect("room");
        row("status / room read", meter.take());
        for _ in 0..9 {
            create(&store, &api, goods).await;
        }
        meter.take();
        let page = store
            .rooms
            .list_rooms(&app, None, 0, 10)
            .await
            .expect("list");
        assert_eq!(page.rooms.len(), 10);
        row("list, page of 10", meter.take());
        let page = store
            .rooms
            .list_rooms(&app, Some(LiveStatus::Live), 0, 10)
            .await
            .expect("list live");
        assert_eq!(page.rooms.len(), 1);
        row("list live_status=101", meter.take());
        hook(&store, &api, room, Unpublish, &session, 5, t0 + 45_000).await;
        row("unpublish (101 → 106)", meter.take());
        let a = store
            .lifecycle
            .apply_lifecycle(&app, room, Input::Tick, &timers, 50, t0 + 46_000)
            .await
            .expect("tick");
        assert!(!a.outcome.changed);
        row("sweeper tick, nothing due", meter.take());
    }
}

#[tokio::test]
async fn rooms_read_back_whole_from_room_and_live_items() {
    let api = TestApi::start().await;
    let store = &api.state;
    let app = api.app.app_id.clone();
    let room = create(store, &api, 5).await;
    let fresh = api.stored_room(room).await;
    assert_eq!(
        fresh.live_item.version, 0,
        "no live item before the first transition"
    );
    let session = time_ordered_id(zhibo_core::clock::now_ms());
    let t0 = zhibo_core::clock::now_ms();
    hook(store, &api, room, Publish, &session, 0, t0).await;
    let applied = hook(store, &api, room, Heartbeat, &session, 1, t0 + 20_000).await;
    let got = api.stored_room(room).await;
    assert_eq!(
        got, applied.outcome.room,
        "what was written is what is read"
    );
    let l = &got.lifecycle;
    assert_eq!(
        (l.session_id.as_deref(), l.session_seq, l.session_open),
        (Some(session.as_str()), 1, true)
    );
    assert_eq!(l.worker_id.as_deref(), Some("test-worker"));
    assert_eq!(l.last_seen, (t0 + 20_000) / 1000);
    assert_eq!(l.live_started_at, Some(t0 / 1000));
    assert_eq!(l.event_seq, 1);
    assert_eq!(got.live_item.version, 2);
    assert_eq!(
        got.version,
        fresh.version + 1,
        "the heartbeat left the room item alone"
    );
    assert_eq!(
        got.live_item.timer_ms,
        Some(((t0 + 20_000) / 1000 + api.state.config.timers.worker_silence_s) * 1000)
    );
    // Listings read the same rooms through the keys-only indexes.
    let all = store
        .rooms
        .list_rooms(&app, None, 0, 10)
        .await
        .expect("list");
    assert_eq!(all.rooms, vec![got.clone()]);
    let live = store
        .rooms
        .list_rooms(&app, Some(LiveStatus::Live), 0, 10)
        .await
        .expect("list live");
    assert_eq!(live.rooms, vec![got.clone()]);
    // A final status has no timer; deleting the room deletes its live item too.
    let ended = store
        .lifecycle
        .set_live_status(&got, LiveStatus::Ended, 50, now())
        .await
        .expect("end");
    assert_eq!(ended.live_item.timer_ms, None);
    assert_eq!(api.stored_room(room).await, ended);
    store
        .rooms
        .delete_room(&ended, &limits())
        .await
        .expect("delete");
    let live_item = store
        .table
        .client()
        .get_item()
        .table_name(store.table.name())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(keys::live_pk(&app, room)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(keys::LIVE_SK.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("get live item");
    assert!(live_item.item.is_none(), "the live item outlived its room");
}

/// DynamoDB deletes expired items lazily (up to days late): a key past its 24 h is ignored
/// while it is still in the table, and a create with it makes a new room.
#[tokio::test]
async fn an_expired_idempotency_key_makes_a_new_room() {
    let api = TestApi::start().await;
    let store = &api.state;
    let app = api.app.app_id.clone();
    let body = api.room_body("idem", 600);
    let key = IdempotencyKey {
        key: "order-1".into(),
        body_sha256: hex::encode(sha2::Sha256::digest(body.as_bytes())),
    };
    let req: CreateRoom = serde_json::from_str(&body).expect("body");
    let then = now() - zhibo_store::IDEMPOTENCY_TTL_S - 60;
    let first = store
        .rooms
        .create_room(&app, req.clone(), Some(&key), &limits(), then)
        .await
        .expect("first create");
    // Within its 24 h the key answers the first room.
    let again = store
        .rooms
        .create_room(&app, req.clone(), Some(&key), &limits(), then + 3600)
        .await
        .expect("retry");
    assert!(again.replayed);
    assert_eq!(again.room.room_id, first.room.room_id);
    // A day later the item is still there, but the key no longer holds.
    let call = || {
        api.call_with(
            "POST",
            "/v1/rooms",
            body.as_bytes(),
            &[("Idempotency-Key", "order-1")],
        )
    };
    let r = call().await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.headers.get("idempotent-replayed").is_none(),
        "an expired key replayed room {}",
        r.json["room_id"]
    );
    let new_id = r.json["room_id"].as_u64().expect("room_id");
    assert_ne!(new_id, first.room.room_id);
    // The key now holds for the new room.
    let r = call().await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.headers.get("idempotent-replayed").map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(r.json["room_id"].as_u64(), Some(new_id));
}

/// Holds the first UpdateItem of its client until released (to land a write in between).
#[derive(Debug, Clone)]
struct WriteGate {
    reached: Arc<Mutex<Option<mpsc::Sender<()>>>>,
    go: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl Intercept for WriteGate {
    fn name(&self) -> &'static str {
        "WriteGate"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = ctx.request().headers().get("x-amz-target").unwrap_or("");
        if target.ends_with(".UpdateItem") {
            if let Some(reached) = self.reached.lock().expect("gate").take() {
                reached.send(())?;
                self.go
                    .lock()
                    .expect("gate")
                    .recv_timeout(Duration::from_secs(60))?;
            }
        }
        Ok(())
    }
}

/// The fencing of a heartbeat's one small write: a pause that lands between the heartbeat's
/// read and its write makes that write fail its condition; redone, the heartbeat sees the pause
/// and drops the publisher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_that_raced_a_pause_drops_the_publisher() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let timers = api.state.config.timers;
    let room = create(&api.state, &api, 1).await;
    let session = time_ordered_id(zhibo_core::clock::now_ms());
    let t0 = zhibo_core::clock::now_ms();
    hook(&api.state, &api, room, Publish, &session, 0, t0).await;

    let (reached_tx, reached_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let gate = WriteGate {
        reached: Arc::new(Mutex::new(Some(reached_tx))),
        go: Arc::new(Mutex::new(go_rx)),
    };
    let conf = aws_sdk_dynamodb::config::Builder::from(&api.sdk)
        .endpoint_url(zhibo_e2e_tests::dynamo_endpoint())
        .interceptor(gate)
        .build();
    let gated = api.state.with_table(Table::new(
        aws_sdk_dynamodb::Client::from_conf(conf),
        api.state.config.table.clone(),
    ));
    let e = api.hook_event(Heartbeat, room, &session, 1);
    let hb_app = app.clone();
    let heartbeat = tokio::spawn(async move {
        gated
            .lifecycle
            .apply_lifecycle(&hb_app, room, Input::Hook(&e), &timers, 50, t0 + 10_000)
            .await
    });
    tokio::task::spawn_blocking(move || reached_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .expect("join")
        .expect("the heartbeat reached its write");
    let paused = api
        .state
        .lifecycle
        .apply_lifecycle(
            &app,
            room,
            Input::Action(Action::Pause),
            &timers,
            50,
            t0 + 10_000,
        )
        .await
        .expect("pause");
    assert_eq!(paused.outcome.room.live_status, LiveStatus::Paused);
    go_tx.send(()).expect("release the heartbeat");
    let applied = heartbeat.await.expect("join").expect("heartbeat");
    assert!(
        matches!(applied.outcome.verdict, Verdict::Deny(_)),
        "a heartbeat answered {:?} after its room was paused",
        applied.outcome.verdict
    );
    let stored = api.stored_room(room).await;
    assert_eq!(stored.live_status, LiveStatus::Paused);
    assert_eq!(stored.lifecycle.session_seq, 1);
}
