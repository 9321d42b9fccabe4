//! Publish-hook latency benchmark (`bench/hooks.sh`): signed `POST /internal/hooks` publishes
//! at a fixed open-loop rate against the API on DynamoDB Local, with the DynamoDB Local round
//! trip measured at the same rate in the same run as the floor.
//!
//! Every publish is the heaviest real path: a room in 102 goes live (read, state machine, one
//! transaction: room + the app's counts under the concurrent-live quota + the outbox event +
//! the outbox queue). Latency is measured from each request's scheduled send time (no
//! coordinated omission), so a slow answer delays nothing else and still counts in full.
//!
//! ```sh
//! cargo run --release -p zhibo-e2e-tests --example hook_latency -- [rate] [seconds] [apps]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};
use zhibo_core::hooks::HookEventKind;
use zhibo_core::room::CreateRoom;
use zhibo_e2e_tests::TestApi;
use zhibo_store::CreateLimits;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Summary {
    n: usize,
    errors: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn summarize(mut ms: Vec<f64>, errors: usize) -> Summary {
    ms.sort_by(|a, b| a.total_cmp(b));
    Summary {
        n: ms.len(),
        errors,
        p50: percentile(&ms, 0.50),
        p90: percentile(&ms, 0.90),
        p99: percentile(&ms, 0.99),
        max: ms.last().copied().unwrap_or(f64::NAN),
    }
}

/// Runs `count` calls of `call(i)` at `rate` per second, each timed from its scheduled start.
async fn open_loop<F, Fut>(rate: u64, count: usize, call: F) -> (Vec<f64>, usize)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let due = start + period * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let fut = call(i);
        tasks.push(tokio::spawn(async move {
            let ok = fut.await;
            (due.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut ms = Vec::with_capacity(count);
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok((d, true)) => ms.push(d),
            _ => errors += 1,
        }
    }
    (ms, errors)
}

/// One TransactWriteItems shaped like a publish's, straight to DynamoDB Local.
async fn raw_publish_shaped_transaction(api: &TestApi, i: usize, goods: &str) -> bool {
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
    let table = api.state.table.name();
    let s = |v: String| AttributeValue::S(v);
    let n = |v: usize| AttributeValue::N(v.to_string());
    let update = |pk: String, expr: &str, vals: Vec<(&str, AttributeValue)>| {
        let mut u = Update::builder()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", s("x".into()))
            .update_expression(expr);
        for (k, v) in vals {
            u = u.expression_attribute_values(k, v);
        }
        u.build()
            .map(|u| TransactWriteItem::builder().update(u).build())
    };
    let items = [
        update(
            format!("PEER#{i}"),
            "SET live_status = :s, goods = :g, gsi2pk = :k",
            vec![
                (":s", n(101)),
                (":g", s(goods.to_string())),
                (":k", s(format!("P#{}", i % 20))),
            ],
        ),
        update(
            format!("PEERCOUNT#{}", i % 20),
            "ADD s101 :one",
            vec![(":one", n(1))],
        ),
        Put::builder()
            .table_name(table)
            .item("pk", s(format!("PEEROUT#{i}")))
            .item("sk", s("EVT#1".into()))
            .item("body", s(goods.to_string()))
            .build()
            .map(|p| TransactWriteItem::builder().put(p).build()),
        update(format!("PEEROUT#{i}"), "ADD ver :one", vec![(":one", n(1))]),
    ];
    let Ok(items) = items.into_iter().collect::<Result<Vec<_>, _>>() else {
        return false;
    };
    api.state
        .table
        .client()
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
        .is_ok()
}

#[tokio::main]
async fn main() {
    let rate = arg(1, 200).max(1);
    let seconds = arg(2, 30).max(1);
    let apps = arg(3, 20).max(1) as usize;
    let count = (rate * seconds) as usize;
    // The mixed phase: one publish in ten (fresh rooms), the rest heartbeats of live rooms.
    let mixed_publishes = count.div_ceil(10);
    let api = Arc::new(
        TestApi::start_with(&[
            ("MAX_CONCURRENT_LIVES", "1000000"),
            ("MAX_LIVES_PER_DAY", "1000000"),
        ])
        .await,
    );
    eprintln!("preparing {count} rooms over {apps} apps ...");
    let mut app_ids = vec![api.app.app_id.clone()];
    for i in 1..apps {
        let app = zhibo_core::app::App::generate(
            &format!("b{i}{}", zhibo_core::ids::random_hex(4)),
            zhibo_core::clock::now(),
        )
        .expect("app id");
        api.state.apps.put_app(&app).await.expect("put app");
        app_ids.push(app.app_id);
    }
    let limits = CreateLimits {
        max_lives_per_day: 1_000_000,
        quota_utc_offset_minutes: 480,
    };
    let now = zhibo_core::clock::now();
    let req: CreateRoom = serde_json::from_value(serde_json::json!({
        "name": "bench", "cover_img": "", "anchor_name": "a", "anchor_img": "",
        "start_time": now + 60, "end_time": now + 3600,
    }))
    .expect("room body");
    let rooms: Vec<(String, u64)> = {
        let mut out = Vec::with_capacity(count + mixed_publishes);
        let mut pending = Vec::new();
        for i in 0..count + mixed_publishes {
            let (api, app, req) = (api.clone(), app_ids[i % apps].clone(), req.clone());
            pending.push(tokio::spawn(async move {
                let room = api
                    .state
                    .rooms
                    .create_room(&app, req, None, &limits, now)
                    .await
                    .expect("create room");
                (app, room.room.room_id)
            }));
            if pending.len() == 64 {
                for p in pending.drain(..) {
                    out.push(p.await.expect("create task"));
                }
            }
        }
        for p in pending {
            out.push(p.await.expect("create task"));
        }
        out
    };
    let rooms = Arc::new(rooms);

    // The floor: one GetItem round trip to DynamoDB Local at the same rate.
    eprintln!("floor: GetItem at {rate}/s for {seconds} s ...");
    let (floor_ms, floor_err) = open_loop(rate, count, |i| {
        let (api, rooms) = (api.clone(), rooms.clone());
        async move {
            let (app, room) = &rooms[i];
            api.state.rooms.get_room(app, *room).await.is_ok()
        }
    })
    .await;

    // The peer: DynamoDB Local alone doing a transaction of the same shape as a publish's
    // (update a room-sized item, ADD to a counts item, put an event, update a queue item),
    // without any zhibo code, at the same rate.
    eprintln!("peer: raw 4-item TransactWriteItems at {rate}/s for {seconds} s ...");
    let goods = "x".repeat(600);
    let (tx_ms, tx_err) = open_loop(rate, count, |i| {
        let api = api.clone();
        let goods = goods.clone();
        async move { raw_publish_shaped_transaction(&api, i, &goods).await }
    })
    .await;

    let sessions: Arc<Vec<String>> = Arc::new(
        (0..rooms.len())
            .map(|i| zhibo_core::ids::time_ordered_id(zhibo_core::clock::now_ms() + i as i64))
            .collect(),
    );
    let send = |kind: HookEventKind, j: usize, seq: u64| {
        let (api, rooms, sessions) = (api.clone(), rooms.clone(), sessions.clone());
        async move {
            let (app, room) = &rooms[j];
            let mut e = api.hook_event(kind, *room, &sessions[j], seq);
            e.app_id = app.clone();
            e.stream_name = zhibo_core::room::stream_name(app, *room);
            let r = api.hook(&e).await;
            let ok = r.status == 200 && r.json["allow"] == true;
            if !ok {
                eprintln!("{kind:?} {app}/{room}: HTTP {} {}", r.status, r.text);
            }
            ok
        }
    };
    eprintln!("publish hooks at {rate}/s for {seconds} s ...");
    let (hook_ms, hook_err) = open_loop(rate, count, |i| send(HookEventKind::Publish, i, 0)).await;

    // A fleet's hook traffic: mostly heartbeats. Publish latency is measured within it.
    eprintln!("mixed hooks (1 publish : 9 heartbeats) at {rate}/s for {seconds} s ...");
    let mixed_pub_ms = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (mixed_ms, mixed_err) = open_loop(rate, count, |i| {
        let started = Instant::now();
        let publish = i % 10 == 0;
        let fut = if publish {
            send(HookEventKind::Publish, count + i / 10, 0)
        } else {
            send(HookEventKind::Heartbeat, i % count, i as u64 + 1)
        };
        let mixed_pub_ms = mixed_pub_ms.clone();
        async move {
            let ok = fut.await;
            if publish && ok {
                if let Ok(mut v) = mixed_pub_ms.lock() {
                    v.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            ok
        }
    })
    .await;
    let mixed_pub = mixed_pub_ms.lock().map(|v| v.clone()).unwrap_or_default();
    // Every publish really went live.
    let mut live = 0;
    for app in &app_ids {
        live += api
            .state
            .rooms
            .room_count(app, Some(zhibo_core::LiveStatus::Live))
            .await
            .expect("count");
    }

    let floor = summarize(floor_ms, floor_err);
    let tx = summarize(tx_ms, tx_err);
    let hook = summarize(hook_ms, hook_err);
    let mixed = summarize(mixed_ms, mixed_err);
    let mixed_publish = summarize(mixed_pub, 0);
    println!(
        "\n## publish hook latency, {rate} req/s for {seconds} s, {apps} apps, DynamoDB Local\n"
    );
    println!("| what | requests | errors | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for (name, s) in [
        ("publish hook (HTTP, signed, 102 → 101 + event)", &hook),
        ("mixed hooks, all (1 publish : 9 heartbeats)", &mixed),
        ("mixed hooks, the publishes among them", &mixed_publish),
        (
            "DynamoDB Local alone: the same 4-item transaction, no zhibo code",
            &tx,
        ),
        ("DynamoDB Local alone: one GetItem", &floor),
    ] {
        println!(
            "| {name} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s.n + s.errors,
            s.errors,
            s.p50,
            s.p90,
            s.p99,
            s.max
        );
    }
    let want_live = count + mixed_publishes;
    println!("\nrooms live afterwards: {live} of {want_live}");
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    println!(
        "target p99 <= 200 ms, publishes only: {}",
        verdict(hook.p99 <= 200.0 && hook.errors == 0)
    );
    println!(
        "target p99 <= 200 ms, publishes in mixed hook traffic: {}",
        verdict(
            mixed_publish.p99 <= 200.0 && mixed.errors == 0 && mixed_publish.n == mixed_publishes
        )
    );
}
