//! Audience interaction benchmark (`bench/audience.sh`; issue 17 "Proven by").
//!
//! 1. **Messages.** `zhibo serve` (release build, a child process) on DynamoDB Local; one live
//!    room, one viewer subscribed to its channel over the AppSync Events WebSocket protocol,
//!    and viewers posting `POST /v1/rooms/{id}/messages` at a fixed open-loop rate, each from
//!    one of many users (within the per-user limit). For each message: its scheduled send time
//!    → the instant the subscriber reads it (matched by its text), so a slow answer delays
//!    nothing else and still counts in full (no coordinated omission). In the same run, at the
//!    same rate, with the same SDK client settings and through the same proxy: zhibo's store
//!    append alone (no HTTP, no publish), and the floor, a bare `PutItem` of the same item
//!    (same attributes, same size), also straight to DynamoDB Local.
//! 2. **Likes.** Viewers batch taps as the demo page and the mini-program do (one POST per
//!    flush interval with the count tapped since, at most 100), `BENCH_AUD_LIKE_USERS` users at
//!    `BENCH_AUD_LIKE_TAPS_PER_S` taps/s into one room. The final `likes` of
//!    `GET /v1/rooms/{id}/stats` must equal the taps sent; the subscriber counts the `likes`
//!    items (at most one per second); and the DynamoDB requests are counted by a TCP proxy in
//!    front of DynamoDB Local that reads each request's `X-Amz-Target` (nothing in zhibo's code
//!    is trusted for that count).
//!
//! Prints a markdown report on stdout (progress on stderr) and appends JSONL rows to
//! `BENCH_AUD_OUT`. Settings: `BENCH_AUD_*` environment variables, listed in
//! `bench/audience.sh`.

mod api;
mod cpu;
mod proxy;
mod subscriber;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use zhibo_core::audience::item::{message_id, ItemType, ItemUser, RoomItem};
use zhibo_core::audience::token::Role;
use zhibo_core::table::{keys, PK, SK, TTL_ATTR};
use zhibo_store::Deps;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn progress(msg: &str) {
    eprintln!("audience-bench: {msg}");
}

/// Settings, from `BENCH_AUD_*`.
struct Settings {
    serve_bin: String,
    rates: Vec<u64>,
    seconds: u64,
    warmup: u64,
    users: Option<usize>,
    room_messages_per_s: u64,
    floor_seconds: u64,
    like_taps_per_s: u64,
    like_seconds: u64,
    like_users: Vec<usize>,
    like_flush_ms: u64,
    out: String,
    log: String,
    dynamo_pid: Option<u32>,
    server_env: Vec<(String, String)>,
}

impl Settings {
    fn from_env() -> Settings {
        let mut rates: Vec<u64> = std::env::var("BENCH_AUD_RATES")
            .unwrap_or_else(|_| "200 50".into())
            .split([' ', ','])
            .filter_map(|r| r.trim().parse().ok())
            .filter(|r| *r > 0)
            .collect();
        if rates.is_empty() && std::env::var("BENCH_AUD_RATES").is_err() {
            rates.push(200);
        }
        Settings {
            serve_bin: setting("BENCH_AUD_SERVE_BIN", "target/release/zhibo".to_string()),
            rates,
            seconds: setting("BENCH_AUD_SECONDS", 20).max(1),
            warmup: setting("BENCH_AUD_WARMUP", 5),
            users: std::env::var("BENCH_AUD_USERS")
                .ok()
                .and_then(|u| u.trim().parse().ok())
                .filter(|u| *u > 0),
            room_messages_per_s: setting("BENCH_AUD_ROOM_MESSAGES_PER_S", 1000),
            floor_seconds: setting("BENCH_AUD_FLOOR_SECONDS", 10).max(1),
            like_taps_per_s: setting("BENCH_AUD_LIKE_TAPS_PER_S", 10_000).max(1),
            like_seconds: setting("BENCH_AUD_LIKE_SECONDS", 20).max(1),
            like_users: std::env::var("BENCH_AUD_LIKE_USERS")
                .unwrap_or_else(|_| "200 50".into())
                .split([' ', ','])
                .filter_map(|u| u.trim().parse().ok())
                .filter(|u| *u > 0)
                .collect(),
            like_flush_ms: setting("BENCH_AUD_LIKE_FLUSH_MS", 500).clamp(20, 10_000),
            out: setting("BENCH_AUD_OUT", "bench/results/audience.jsonl".to_string()),
            log: setting(
                "BENCH_AUD_LOG",
                "/tmp/zhibo-audience-bench-serve.log".to_string(),
            ),
            dynamo_pid: std::env::var("BENCH_AUD_DYNAMO_PID")
                .ok()
                .and_then(|p| p.trim().parse().ok()),
            server_env: std::env::var("BENCH_AUD_SERVER_ENV")
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Latency figures of one row, in ms.
#[derive(Debug, Clone, Copy)]
struct Summary {
    n: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

fn summarize(mut ms: Vec<f64>) -> Summary {
    ms.sort_by(|a, b| a.total_cmp(b));
    Summary {
        n: ms.len(),
        p50: percentile(&ms, 0.50),
        p95: percentile(&ms, 0.95),
        p99: percentile(&ms, 0.99),
        max: ms.last().copied().unwrap_or(f64::NAN),
    }
}

/// One call's outcome in an open loop: its scheduled time, ms from then to its answer, and
/// what it returned.
struct Done<T> {
    due: Instant,
    ms: f64,
    out: T,
}

/// Runs `count` calls of `call(i)` at `rate` per second, each timed from its scheduled start.
async fn open_loop<F, Fut, T>(rate: f64, count: usize, call: F) -> Vec<Done<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let due = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let fut = call(i);
        tasks.push(tokio::spawn(async move {
            let out = fut.await;
            Done {
                due,
                ms: due.elapsed().as_secs_f64() * 1000.0,
                out,
            }
        }));
    }
    let mut done = Vec::with_capacity(count);
    for t in tasks {
        if let Ok(d) = t.await {
            done.push(d);
        }
    }
    done
}

fn message_text(tag: &str, i: usize) -> String {
    format!("{tag}#{i:06} 主播好，这件外套有M码吗？想要黑色的")
}

fn index_of(text: &str, tag: &str) -> Option<usize> {
    text.strip_prefix(tag)?
        .strip_prefix('#')?
        .get(..6)?
        .parse()
        .ok()
}

fn ops_text(ops: &BTreeMap<String, u64>, per: f64) -> String {
    let parts: Vec<String> = ops
        .iter()
        .map(|(k, v)| format!("{k} {:.2}", *v as f64 / per))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.1}")
    }
}

/// The JSON-lines file of this run.
struct Rows {
    file: Option<std::fs::File>,
    run: String,
}

impl Rows {
    fn push(&mut self, mut row: Value) {
        row["run"] = json!(self.run);
        row["bench"] = json!("audience");
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{row}");
        }
    }
}

fn summary_json(s: &Summary) -> Value {
    let num = |v: f64| if v.is_nan() { Value::Null } else { json!(v) };
    json!({"n": s.n, "p50_ms": num(s.p50), "p95_ms": num(s.p95), "p99_ms": num(s.p99), "max_ms": num(s.max)})
}

/// The table's item for a message, exactly as the store's append writes it.
fn chat_item(
    app_id: &str,
    room_id: u64,
    item: &RoomItem,
    expires_at: i64,
) -> HashMap<String, AttributeValue> {
    let body = serde_json::to_string(item).unwrap_or_default();
    HashMap::from([
        (
            PK.to_string(),
            AttributeValue::S(keys::chat_pk(app_id, room_id)),
        ),
        (
            SK.to_string(),
            AttributeValue::S(keys::chat_item_sk(item.seq)),
        ),
        ("type".to_string(), AttributeValue::S("chat_item".into())),
        ("seq".to_string(), AttributeValue::N(item.seq.to_string())),
        ("item".to_string(), AttributeValue::S(body)),
        (
            TTL_ATTR.to_string(),
            AttributeValue::N(expires_at.to_string()),
        ),
    ])
}

/// The design comparison: the room's next `seq` from one atomic `ADD` (never a conflict),
/// then the item put at it (a crash between the two would leave a gap in `seq`).
async fn counter_append(deps: &Deps, app_id: &str, room: u64, i: usize, expires: i64) -> bool {
    let next = deps
        .table
        .client()
        .update_item()
        .table_name(deps.table.name())
        .key(PK, AttributeValue::S(keys::chat_pk(app_id, room)))
        .key(SK, AttributeValue::S(keys::CHAT_HEAD_SK.into()))
        .update_expression("ADD seq :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
        .send()
        .await;
    let Some(seq) = next.ok().and_then(|o| {
        o.attributes()
            .and_then(|a| a.get("seq"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
    }) else {
        return false;
    };
    let item = bench_item(seq, &message_text("bench", i), &format!("u{i}"));
    deps.table
        .client()
        .put_item()
        .table_name(deps.table.name())
        .set_item(Some(chat_item(app_id, room, &item, expires)))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .is_ok()
}

fn bench_item(seq: u64, text: &str, user: &str) -> RoomItem {
    RoomItem {
        id: message_id(seq, &zhibo_core::ids::random_hex(5)),
        seq,
        kind: ItemType::Message,
        at_ms: zhibo_core::clock::now_ms(),
        offset_ms: 1234,
        user: Some(ItemUser {
            user_id: user.to_string(),
            nickname: format!("观众{user}"),
            avatar: String::new(),
            role: Role::Viewer,
        }),
        data: json!({"text": text}),
        deleted: false,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("audience-bench: error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let s = Settings::from_env();
    let dynamo = std::env::var("ZHIBO_DYNAMO_ENDPOINT").map_err(|_| {
        "ZHIBO_DYNAMO_ENDPOINT is not set: run bench/audience.sh (it starts DynamoDB Local)"
            .to_string()
    })?;
    let upstream: SocketAddr = dynamo
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1")
        .parse()
        .map_err(|e| format!("ZHIBO_DYNAMO_ENDPOINT={dynamo}: expected http://HOST:PORT ({e})"))?;
    let counts = Arc::new(proxy::Counts::default());
    let proxy_addr = proxy::start(upstream, counts.clone())
        .await
        .map_err(|e| format!("counting proxy: {e}"))?;
    let proxied = format!("http://{proxy_addr}");
    progress(&format!("counting proxy {proxied} -> {dynamo}"));

    // The table and the app, straight to DynamoDB Local (setup is not measured).
    let table = format!("bench_audience_{}", zhibo_core::ids::random_hex(4));
    let sdk = zhibo_store::aws::sdk_config().await;
    let deps_on = |endpoint: &str| -> Result<Deps, String> {
        let env: HashMap<&str, String> = HashMap::from([
            ("ZHIBO_TABLE", table.clone()),
            ("ZHIBO_DYNAMO_ENDPOINT", endpoint.to_string()),
        ]);
        let config = zhibo_core::Config::from_lookup(|k| env.get(k).cloned())
            .map_err(|e| format!("config: {e}"))?;
        Ok(Deps::new(config, &sdk))
    };
    let direct = deps_on(&dynamo)?;
    let via_proxy = deps_on(&proxied)?;
    direct
        .table
        .create_table()
        .await
        .map_err(|e| format!("create table: {e}"))?;
    let app = zhibo_core::app::App::generate(
        &format!("bench{}", zhibo_core::ids::random_hex(4)),
        zhibo_core::clock::now(),
    )
    .map_err(|e| e.to_string())?;
    direct
        .apps
        .put_app(&app)
        .await
        .map_err(|e| format!("put app: {e}"))?;

    // zhibo serve, its DynamoDB traffic through the proxy.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("a free port: {e}"))?;
    let mut env: Vec<(String, String)> = [
        ("ZHIBO_TABLE", table.clone()),
        ("ZHIBO_DYNAMO_ENDPOINT", proxied.clone()),
        ("MIN_START_LEAD_S", "0".into()),
        ("PUSH_KEY", "bench-push-key-0123456789".into()),
        ("INGEST_HOST", "127.0.0.1:1935".into()),
        ("HOOK_SECRET", api::HOOK_SECRET.into()),
        ("VIEWER_TOKEN_KEY", api::VIEWER_TOKEN_KEY.into()),
        ("REALTIME_WS_URL", format!("ws://{port}/event/realtime")),
        ("REALTIME_HTTP_URL", format!("http://{port}/event")),
        ("REALTIME_PUBLISH_KEY", api::PUBLISH_KEY.into()),
        ("ROOM_MESSAGES_PER_S", s.room_messages_per_s.to_string()),
        // The background jobs' own DynamoDB traffic would blur the counts; the one live room
        // has no worker heartbeats for the sweeper to act on anyway.
        ("ZHIBO_SWEEP_INTERVAL_MS", "3600000".into()),
        ("ZHIBO_DELIVERY_INTERVAL_MS", "3600000".into()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.extend(s.server_env.iter().cloned());
    let launch = Launch {
        bin: s.serve_bin.clone(),
        port,
        env,
        log: s.log.clone(),
        app,
    };

    if let Some(dir) = std::path::Path::new(&s.out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut rows = Rows {
        file: std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&s.out)
            .ok(),
        run: format!("{}", zhibo_core::clock::now()),
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load1 = load.split_whitespace().next().unwrap_or("?").to_string();
    println!(
        "## Audience interaction on DynamoDB Local ({cores} cores; load average {load1} at start)\n"
    );

    let result = async {
        for &rate in &s.rates {
            messages(&s, rate, &launch, &direct, &via_proxy, &counts, &mut rows).await?;
        }
        for &users in &s.like_users {
            likes(&s, users, &launch, &counts, &mut rows).await?;
        }
        Ok(())
    }
    .await;
    progress(&format!("rows appended to {}", s.out));
    result
}

/// How to start a fresh `zhibo serve` for a phase (so one phase's backlog never slows the
/// next).
struct Launch {
    bin: String,
    port: SocketAddr,
    env: Vec<(String, String)>,
    log: String,
    app: zhibo_core::app::App,
}

impl Launch {
    async fn start(&self) -> Result<(api::Server, api::Client), String> {
        let server = api::Server::start(&self.bin, self.port, &self.env, &self.log).await?;
        progress(&format!(
            "zhibo serve on {} (pid {}, log {})",
            server.base, server.pid, self.log
        ));
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let client = api::Client {
            base: server.base.clone(),
            app: self.app.clone(),
            http,
        };
        Ok((server, client))
    }
}

async fn messages(
    s: &Settings,
    rate_per_s: u64,
    launch: &Launch,
    direct: &Deps,
    via_proxy: &Deps,
    counts: &Arc<proxy::Counts>,
    rows: &mut Rows,
) -> Result<(), String> {
    // Each user posts well under the default limit of 1 message/s (burst 5).
    let users = s
        .users
        .unwrap_or_else(|| (rate_per_s as usize * 3).div_ceil(2));
    let (server, client) = launch.start().await?;
    let client = &client;
    let room = client.create_room("bench messages").await?;
    client.go_live(room).await?;
    progress(&format!("room {room} live; {users} viewer tokens ..."));
    let tokens = Arc::new(client.tokens(room, "u", users).await?);
    let inbox = subscriber::start(&client.grant(room, "watcher").await?)?;
    let rate = rate_per_s as f64;
    let count = (rate_per_s * s.seconds) as usize;
    let post = |tag: &'static str, offset: usize| {
        let (client, tokens) = (client.clone(), tokens.clone());
        move |i: usize| {
            let (client, tokens) = (client.clone(), tokens.clone());
            async move {
                let token = &tokens[(i + offset) % tokens.len()];
                let body = json!({"text": message_text(tag, i)}).to_string();
                match client
                    .viewer_post(&format!("/v1/rooms/{room}/messages"), token, body)
                    .await
                {
                    Ok((200, v)) if v["status"] == "published" => Ok(()),
                    Ok((429, _)) => Err("HTTP 429 (the per-user limit)".to_string()),
                    Ok((status, v)) => Err(format!(
                        "HTTP {status} {}",
                        v["status"].as_str().or(v["errmsg"].as_str()).unwrap_or("")
                    )),
                    Err(e) => Err(e),
                }
            }
        }
    };
    if s.warmup > 0 {
        progress(&format!(
            "warm-up: {} messages/s for {} s ...",
            rate_per_s, s.warmup
        ));
        open_loop(rate, (rate_per_s * s.warmup) as usize, post("warm", 0)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    progress(&format!(
        "messages: {} /s for {} s ...",
        rate_per_s, s.seconds
    ));
    let before = counts.snapshot();
    // Users continue where the warm-up left off, so no user posts twice as fast.
    let meter = cpu::Meter::start(server.pid, s.dynamo_pid);
    let done = open_loop(rate, count, post("bench", (rate_per_s * s.warmup) as usize)).await;
    let usage = meter.stop();
    let ops = proxy::diff(&before, &counts.snapshot());
    // Wait for the stragglers.
    let published = done.iter().filter(|d| d.out.is_ok()).count();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.text.as_deref().is_some_and(|t| t.starts_with("bench#")))
            .count();
        if got >= published || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received: Vec<subscriber::Received> =
        inbox.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut recv_at: HashMap<usize, Instant> = HashMap::new();
    let mut seqs = Vec::new();
    let mut out_of_order = 0;
    let mut last_seq = 0;
    for r in &received {
        if let Some(i) = r.text.as_deref().and_then(|t| index_of(t, "bench")) {
            recv_at.entry(i).or_insert(r.at);
            seqs.push(r.seq);
            if r.seq < last_seq {
                out_of_order += 1;
            }
            last_seq = last_seq.max(r.seq);
        }
    }
    let mut e2e = Vec::new();
    let mut http_ms = Vec::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut lost = 0;
    for (i, d) in done.iter().enumerate() {
        match &d.out {
            Ok(()) => {
                http_ms.push(d.ms);
                match recv_at.get(&i) {
                    Some(at) => {
                        e2e.push(at.saturating_duration_since(d.due).as_secs_f64() * 1000.0)
                    }
                    None => lost += 1,
                }
            }
            Err(e) => *errors.entry(e.clone()).or_default() += 1,
        }
    }
    let e2e = summarize(e2e);
    let http = summarize(http_ms);
    let n_err: usize = errors.values().sum();

    // The server's backlog (requests the client gave up on) dies with it.
    server.stop().await;

    // The same item, written by zhibo's store append alone, and as a bare PutItem.
    let app_id = client.app.app_id.clone();
    let expires = zhibo_core::clock::now() + 86_400;
    progress(&format!(
        "store append alone: {} /s for {} s ...",
        rate_per_s, s.floor_seconds
    ));
    let append_room = 900_000_000 + rate_per_s * 10 + 1;
    let before_append = counts.snapshot();
    let floor_count = (rate_per_s * s.floor_seconds) as usize;
    let append_done = open_loop(rate, floor_count, |i| {
        let (deps, app_id) = (via_proxy.clone(), app_id.clone());
        async move {
            let text = message_text("bench", i);
            deps.chat
                .append(&app_id, append_room, expires, |seq| {
                    bench_item(seq, &text, &format!("u{i}"))
                })
                .await
                .is_ok()
        }
    })
    .await;
    let append_ops = proxy::diff(&before_append, &counts.snapshot());
    let put_floor = |deps: Deps, room: u64| {
        let app_id = app_id.clone();
        move |i: usize| {
            let (deps, app_id) = (deps.clone(), app_id.clone());
            async move {
                let item = bench_item(i as u64 + 1, &message_text("bench", i), &format!("u{i}"));
                deps.table
                    .client()
                    .put_item()
                    .table_name(deps.table.name())
                    .set_item(Some(chat_item(&app_id, room, &item, expires)))
                    .send()
                    .await
                    .is_ok()
            }
        }
    };
    progress(&format!(
        "floor: PutItem through the proxy, {} /s for {} s ...",
        rate_per_s, s.floor_seconds
    ));
    let floor_proxy = open_loop(
        rate,
        floor_count,
        put_floor(via_proxy.clone(), append_room + 1),
    )
    .await;
    progress(&format!(
        "floor: PutItem direct, {} /s for {} s ...",
        rate_per_s, s.floor_seconds
    ));
    let floor_direct = open_loop(
        rate,
        floor_count,
        put_floor(direct.clone(), append_room + 2),
    )
    .await;
    progress(&format!(
        "design comparison: counter + PutItem, {} /s for {} s ...",
        rate_per_s, s.floor_seconds
    ));
    let counter_room = append_room + 3;
    let counter_done = open_loop(rate, floor_count, |i| {
        let (deps, app_id) = (via_proxy.clone(), app_id.clone());
        async move { counter_append(&deps, &app_id, counter_room, i, expires).await }
    })
    .await;
    let floor_row = |d: &[Done<bool>]| {
        let errors = d.iter().filter(|x| !x.out).count();
        (
            summarize(d.iter().filter(|x| x.out).map(|x| x.ms).collect()),
            errors,
        )
    };
    let (append, append_err) = floor_row(&append_done);
    let (fp, fp_err) = floor_row(&floor_proxy);
    let (fd, fd_err) = floor_row(&floor_direct);
    let (ctr, ctr_err) = floor_row(&counter_done);
    let item_bytes = serde_json::to_string(&bench_item(1234, &message_text("bench", 1), "u1"))
        .map_or(0, |b| b.len());

    println!(
        "### Messages: {} /s into one room for {} s (after {} s warm-up), {} users, one subscriber\n",
        rate_per_s, s.seconds, s.warmup, users
    );
    println!("| what | sent | ok | errors | received | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let line = |name: &str, sent: usize, sm: &Summary, errors: usize, received: String| {
        println!(
            "| {name} | {sent} | {} | {errors} | {received} | {} | {} | {} | {} |",
            sm.n,
            fmt_ms(sm.p50),
            fmt_ms(sm.p95),
            fmt_ms(sm.p99),
            fmt_ms(sm.max)
        );
    };
    line(
        "message POST → received by the subscriber",
        count,
        &Summary {
            n: published,
            ..e2e
        },
        n_err,
        format!("{} of {published}", e2e.n),
    );
    line(
        "message POST → HTTP answer",
        count,
        &http,
        n_err,
        "-".into(),
    );
    line(
        "zhibo's store append alone (UpdateItem ADD on the head + PutItem of the item), no HTTP, no publish",
        floor_count,
        &append,
        append_err,
        "-".into(),
    );
    line(
        "design comparison, no zhibo code: `seq` from an atomic counter (UpdateItem ADD), then PutItem of the item",
        floor_count,
        &ctr,
        ctr_err,
        "-".into(),
    );
    line(
        "floor: bare PutItem of the same item, through the counting proxy",
        floor_count,
        &fp,
        fp_err,
        "-".into(),
    );
    line(
        "floor: bare PutItem of the same item, direct",
        floor_count,
        &fd,
        fd_err,
        "-".into(),
    );
    println!();
    println!(
        "Item: {item_bytes} bytes of JSON. The e2e row counts from each message's scheduled send time to the instant the subscriber read it; \
         its `ok` is messages published ({:.0}/s over the window). The other rows ran after `zhibo serve` was stopped, for {} s each at the same rate. \
         Lost (published, never received): {lost}. Received out of `seq` order: {out_of_order}.",
        published as f64 / s.seconds as f64,
        s.floor_seconds
    );
    if !errors.is_empty() {
        let e: Vec<String> = errors.iter().map(|(k, v)| format!("{v} × {k}")).collect();
        println!("Errors: {}.", e.join("; "));
    }
    println!(
        "DynamoDB requests per message POST (counted by the proxy): {}. Per store append alone: {}.",
        ops_text(&ops, count as f64),
        ops_text(&append_ops, floor_count as f64)
    );
    println!(
        "CPU during the message window, % of one core: zhibo serve {:.0}, DynamoDB Local {}, bench process (load, subscriber, proxy) {:.0}, other work on the box {:.0}.\n",
        usage.server,
        usage.dynamo.map_or("-".into(), |d| format!("{d:.0}")),
        usage.bench,
        usage.other
    );
    let cpu_json = json!({"server_pct": usage.server, "dynamo_pct": usage.dynamo, "bench_pct": usage.bench, "other_pct": usage.other});
    rows.push(json!({"phase": "messages", "what": "post_to_subscriber", "rate": rate_per_s, "seconds": s.seconds, "users": users,
        "sent": count, "published": published, "received": e2e.n, "lost": lost, "out_of_order": out_of_order,
        "errors": errors, "latency": summary_json(&e2e), "http": summary_json(&http), "dynamo_ops": ops, "cpu": cpu_json, "item_bytes": item_bytes}));
    for (what, sm, err, ops) in [
        ("store_append_alone", &append, append_err, Some(&append_ops)),
        ("floor_putitem_via_proxy", &fp, fp_err, None),
        ("floor_putitem_direct", &fd, fd_err, None),
        ("counter_then_putitem", &ctr, ctr_err, None),
    ] {
        rows.push(
            json!({"phase": "messages", "what": what, "rate": rate_per_s, "sent": floor_count, "errors": err,
            "latency": summary_json(sm), "dynamo_ops": ops}),
        );
    }
    Ok(())
}

async fn likes(
    s: &Settings,
    like_users: usize,
    launch: &Launch,
    counts: &Arc<proxy::Counts>,
    rows: &mut Rows,
) -> Result<(), String> {
    let (server, client) = launch.start().await?;
    let client = &client;
    let room = client.create_room("bench likes").await?;
    client.go_live(room).await?;
    progress(&format!(
        "likes room {room} live; {} viewer tokens ...",
        like_users
    ));
    let tokens = Arc::new(client.tokens(room, "fan", like_users).await?);
    let inbox = subscriber::start(&client.grant(room, "like-watcher").await?)?;
    // Each user flushes every like_flush_ms with what it tapped since (as the clients do):
    // users × (1000 / flush) batches per second, the taps spread exactly over them.
    let batches_per_s = like_users as f64 * 1000.0 / s.like_flush_ms as f64;
    let batches = (batches_per_s * s.like_seconds as f64).round().max(1.0) as u64;
    let taps = s.like_taps_per_s * s.like_seconds;
    let per_batch = move |k: u64| (k + 1) * taps / batches - k * taps / batches;
    if per_batch(0) > 100 || per_batch(0) == 0 {
        return Err(format!(
            "{taps} taps over {batches} batches is {} per batch: a batch holds 1..=100; change BENCH_AUD_LIKE_USERS or BENCH_AUD_LIKE_FLUSH_MS",
            taps as f64 / batches as f64
        ));
    }
    progress(&format!(
        "likes: {} taps/s for {} s = {batches} batches of ~{} from {} users ...",
        s.like_taps_per_s,
        s.like_seconds,
        taps / batches,
        like_users
    ));
    let before = counts.snapshot();
    let meter = cpu::Meter::start(server.pid, s.dynamo_pid);
    let started = Instant::now();
    let done = open_loop(batches_per_s, batches as usize, |k| {
        let (client, tokens) = (client.clone(), tokens.clone());
        let count = per_batch(k as u64);
        async move {
            let token = &tokens[k % tokens.len()];
            let r = client
                .viewer_post(
                    &format!("/v1/rooms/{room}/likes"),
                    token,
                    json!({"count": count}).to_string(),
                )
                .await;
            (count, r.map(|(status, _)| status))
        }
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let usage = meter.stop();
    let ops = proxy::diff(&before, &counts.snapshot());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, stats) = client
        .call("GET", &format!("/v1/rooms/{room}/stats"), "")
        .await?;
    if status != 200 {
        return Err(format!("GET stats: HTTP {status} {stats}"));
    }
    let total = stats["likes"].as_u64().unwrap_or(0);
    server.stop().await;
    let mut accepted = 0;
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut ms = Vec::new();
    for d in &done {
        let key = match &d.out.1 {
            Ok(200) => {
                accepted += d.out.0;
                ms.push(d.ms);
                "200".to_string()
            }
            Ok(st) => st.to_string(),
            Err(e) => format!("error {e}"),
        };
        *statuses.entry(key).or_default() += 1;
    }
    let lat = summarize(ms);
    let items: Vec<subscriber::Received> = inbox
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|r| r.kind == "likes")
        .cloned()
        .collect();
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    for r in &items {
        *per_second.entry(r.at_ms.div_euclid(1000)).or_default() += 1;
    }
    let max_per_s = per_second.values().copied().max().unwrap_or(0);
    let last_total = items.iter().filter_map(|r| r.total).max().unwrap_or(0);
    let writes = proxy::writes(&ops);
    let window = elapsed.max(s.like_seconds as f64);
    let exact = total == taps && accepted == taps;

    println!(
        "### Likes: {} taps/s into one room for {} s, {} users each flushing every {} ms ({batches} batches of {}–{} taps)\n",
        s.like_taps_per_s,
        s.like_seconds,
        like_users,
        s.like_flush_ms,
        (0..batches).map(per_batch).min().unwrap_or(0),
        (0..batches).map(per_batch).max().unwrap_or(0)
    );
    println!("| taps sent | batches: answers | taps accepted | `likes` in stats | exact | `likes` items received (max in one second) | DynamoDB writes | writes/s | taps per write | batch POST p50 / p99 ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let st: Vec<String> = statuses.iter().map(|(k, v)| format!("{v} × {k}")).collect();
    println!(
        "| {taps} ({:.0}/s) | {} | {accepted} | {total} | {} | {} ({max_per_s}) | {writes} | {:.0} | {:.1} | {} / {} |",
        taps as f64 / window,
        st.join(", "),
        if exact { "yes" } else { "**no**" },
        items.len(),
        writes as f64 / window,
        taps as f64 / writes.max(1) as f64,
        fmt_ms(lat.p50),
        fmt_ms(lat.p99)
    );
    println!();
    println!(
        "DynamoDB requests in the likes window, by operation (counted by the proxy), per second: {}; per batch: {}. The window runs from the first batch to the last answer ({window:.1} s). Last total the subscriber saw: {last_total} (items carry the total when they are written; the last batches land after the last item).",
        ops_text(&ops, window),
        ops_text(&ops, batches as f64)
    );
    println!(
        "CPU during the likes window, % of one core: zhibo serve {:.0}, DynamoDB Local {}, bench process {:.0}, other work on the box {:.0}.\n",
        usage.server,
        usage.dynamo.map_or("-".into(), |d| format!("{d:.0}")),
        usage.bench,
        usage.other
    );
    rows.push(json!({"phase": "likes", "taps_per_s": s.like_taps_per_s, "seconds": s.like_seconds, "users": like_users,
        "flush_ms": s.like_flush_ms, "batches": batches, "taps": taps, "accepted": accepted, "stats_likes": total, "exact": exact,
        "statuses": statuses, "likes_items": items.len(), "likes_items_max_per_s": max_per_s, "writes": writes,
        "writes_per_s": writes as f64 / window, "window_s": window, "dynamo_ops": ops, "http": summary_json(&lat),
        "cpu": {"server_pct": usage.server, "dynamo_pct": usage.dynamo, "bench_pct": usage.bench, "other_pct": usage.other}}));
    Ok(())
}
