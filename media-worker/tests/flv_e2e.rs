//! HTTP-FLV playback from the worker that holds the publisher: ffmpeg publishes over RTMP,
//! viewers read `GET /live/{stream_name}.flv?txSecret=..&txTime=..` from the worker's HTTP
//! port (ffprobe, reqwest, a raw socket that never reads).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use zhibo_core::signing::{UrlPurpose, UrlSignature};

/// The play key test workers are started with.
const PLAY_KEY: &str = "e2e-play-key-0123456789";

/// `http://127.0.0.1:{http}/live/{name}.flv?...` for `room` of `app`, signed with `key`'s
/// play key expiring at `expires_at`.
fn flv_url(worker: &WorkerProc, key: &str, app: &str, room: u64, expires_at: i64) -> String {
    let name = zhibo_core::room::stream_name(app, room);
    let sig = UrlSignature::sign_room(key, UrlPurpose::Play, app, room, expires_at);
    format!(
        "http://127.0.0.1:{}/live/{name}.flv?{}",
        worker.http_port,
        sig.query()
    )
}

fn play_url(worker: &WorkerProc, room: u64) -> String {
    flv_url(worker, PLAY_KEY, APP, room, zhibo_core::clock::now() + 3600)
}

async fn start_worker(extra: &[(&str, &str)]) -> WorkerProc {
    let mut env = vec![("PLAY_KEY", PLAY_KEY)];
    env.extend_from_slice(extra);
    WorkerProc::start(&env).await
}

/// Waits until the stream's FLV URL answers 200 (the publish was admitted).
async fn wait_live(url: &str) {
    let url = url.to_string();
    wait_for(Duration::from_secs(30), "the FLV URL to answer 200", || {
        let url = url.clone();
        async move {
            reqwest::get(&url)
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false)
        }
    })
    .await;
}

/// An FLV tag read from the stream: (type, body).
type Tag = (u8, Vec<u8>);

/// Reads the FLV header and tags from `response` until `enough` says so; returns the tags.
/// The header must announce audio and video.
async fn read_tags(response: &mut reqwest::Response, enough: impl Fn(&[Tag]) -> bool) -> Vec<Tag> {
    let (flags, tags) = read_flv(response, enough).await;
    assert_eq!(flags, 0x05, "the header announces audio and video");
    tags
}

/// Reads the FLV header and tags from `response` until `enough` says so; returns the header's
/// flags byte and the tags.
async fn read_flv(
    response: &mut reqwest::Response,
    enough: impl Fn(&[Tag]) -> bool,
) -> (u8, Vec<Tag>) {
    let mut buf = Vec::new();
    let mut tags = Vec::new();
    let mut pos = 13;
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .expect("FLV data within 30 s")
            .expect("reading the FLV response");
        let Some(chunk) = chunk else {
            panic!("the FLV response ended early after {} tags", tags.len());
        };
        buf.extend_from_slice(&chunk);
        if buf.len() < 13 {
            continue;
        }
        assert_eq!(&buf[..3], b"FLV", "the response starts with an FLV header");
        while buf.len() >= pos + 11 {
            let size = u32::from_be_bytes([0, buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            if buf.len() < pos + 11 + size + 4 {
                break;
            }
            tags.push((buf[pos], buf[pos + 11..pos + 11 + size].to_vec()));
            pos += 11 + size + 4;
        }
        if enough(&tags) {
            return (buf[4], tags);
        }
    }
}

#[tokio::test]
async fn flv_plays_h264_and_aac_from_a_keyframe_and_ends_with_the_publish() {
    let worker = start_worker(&[]).await;
    let room = unique_room();
    let publisher = publish(&push_url(&worker, APP, room), 12);
    let url = play_url(&worker, room);
    wait_live(&url).await;

    let probe = ffprobe(&url, &["-show_streams"]);
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["codec_name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "ffprobe of the FLV URL: {probe}"
    );

    let mut response = reqwest::get(&url).await.expect("GET the FLV URL");
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["content-type"], "video/x-flv");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h.get("content-length").is_none(),
        "a live response is chunked"
    );
    let is_video_frame = |(t, b): &Tag| *t == 9 && b.get(1) == Some(&1);
    let tags = read_tags(&mut response, |tags| tags.iter().any(is_video_frame)).await;
    let first_frame = tags.iter().position(is_video_frame).expect("a video frame");
    let avc_header = tags
        .iter()
        .position(|(t, b)| *t == 9 && b.get(1) == Some(&0))
        .expect("an AVC sequence header before the first frame");
    assert!(avc_header < first_frame);
    assert_eq!(
        tags[first_frame].1[0] >> 4,
        1,
        "the first video frame after the sequence header is a keyframe"
    );
    if let Some(first_audio) = tags
        .iter()
        .position(|(t, b)| *t == 8 && b.get(1) == Some(&1))
    {
        let aac_header = tags
            .iter()
            .position(|(t, b)| *t == 8 && b.get(1) == Some(&0))
            .expect("an AAC sequence header before the first audio frame");
        assert!(aac_header < first_audio);
    }

    // The response ends when the publisher stops.
    let (ok, stderr) = finish(publisher, Duration::from_secs(60)).await;
    assert!(ok, "ffmpeg failed: {stderr}");
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    })
    .await
    .expect("the FLV response ends after the publish");
    assert!(ended, "the FLV response ends cleanly (terminating chunk)");
    wait_for(
        Duration::from_secs(10),
        "the viewer gauge back to 0",
        || async { worker.metric("zhibo_flv_viewers").await == 0.0 },
    )
    .await;
    assert!(worker.metric("zhibo_flv_viewers_total").await >= 2.0);
    assert!(worker.metric("zhibo_flv_bytes_out_total").await > 0.0);
}

async fn expect_refusal(url: &str, status: u16, errmsg_has: &str) {
    let r = reqwest::get(url).await.expect("GET");
    assert_eq!(r.status().as_u16(), status, "{url}");
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"*"[..]),
        "CORS on a refusal"
    );
    let body: serde_json::Value = r.json().await.expect("a JSON refusal");
    let errmsg = body["errmsg"].as_str().unwrap_or_default();
    assert!(body["errcode"].is_i64(), "{body}");
    assert!(
        errmsg.contains(errmsg_has),
        "{url}: errmsg {errmsg:?} should mention {errmsg_has:?}"
    );
}

#[tokio::test]
async fn flv_refusals_are_json_with_cors() {
    let worker = start_worker(&[]).await;
    let room = unique_room();
    let now = zhibo_core::clock::now();
    let base = format!("http://127.0.0.1:{}/live", worker.http_port);
    let good = play_url(&worker, room);

    // Not live here (a valid URL).
    expect_refusal(&good, 404, "not live").await;
    // Wrong signature, expired, another room's and another app's URL, the push key's URL.
    let wrong = good.replace("txSecret=", "txSecret=0");
    expect_refusal(&wrong, 401, "refused").await;
    expect_refusal(
        &flv_url(&worker, PLAY_KEY, APP, room, now - 10),
        401,
        "expired",
    )
    .await;
    let other_room = flv_url(&worker, PLAY_KEY, APP, room + 1, now + 3600).replace(
        &format!("{APP}_{}.flv", room + 1),
        &format!("{APP}_{room}.flv"),
    );
    expect_refusal(&other_room, 401, "does not match").await;
    let push_signed = flv_url(&worker, PUSH_KEY, APP, room, now + 3600);
    expect_refusal(&push_signed, 401, "does not match").await;
    expect_refusal(&format!("{base}/{APP}_{room}.flv"), 401, "txSecret").await;
    // Malformed stream names.
    expect_refusal(
        &format!("{base}/nonsense.flv?txSecret=0&txTime=0"),
        400,
        "{app_id}_{room_id}",
    )
    .await;
    expect_refusal(&format!("{base}/{APP}_07.flv"), 400, "{app_id}_{room_id}").await;
    expect_refusal(&format!("{base}/{APP}_{room}.mp4"), 404, ".flv").await;

    // CORS preflight.
    let pre = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, &good)
        .header("Origin", "https://example.com")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("OPTIONS");
    assert!(pre.status().is_success(), "{}", pre.status());
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    assert!(pre.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap_or_default()
        .contains("GET"));

    assert!(
        worker
            .metric("zhibo_flv_refused_total{status=\"401\"}")
            .await
            >= 5.0
    );
    assert!(
        worker
            .metric("zhibo_flv_refused_total{status=\"400\"}")
            .await
            >= 2.0
    );

    // Without PLAY_KEY the endpoint says what to set.
    let unconfigured = WorkerProc::start(&[]).await;
    expect_refusal(&play_url(&unconfigured, room), 503, "PLAY_KEY").await;
}

#[tokio::test]
async fn a_stalled_viewer_is_dropped_while_another_keeps_receiving() {
    let worker = start_worker(&[
        ("ZHIBO_FLV_VIEWER_BUFFER_KB", "128"),
        ("ZHIBO_HTTP_SNDBUF_KB", "32"),
        // Longer than filling the queue takes: the socket buffers take some of the viewer's
        // batches before its queue starts to grow.
        ("ZHIBO_HTTP_WRITE_STALL_S", "10"),
    ])
    .await;
    let room = unique_room();
    let publisher = publish(&push_url(&worker, APP, room), 40);
    let url = play_url(&worker, room);
    wait_live(&url).await;

    // A viewer that sends its request and never reads, with a small receive window.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stalled = socket
        .connect(([127, 0, 0, 1], worker.http_port).into())
        .await
        .expect("connect");
    let path = url
        .split_once(&format!("{}", worker.http_port))
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    stalled
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .expect("send the request");

    // A viewer that reads everything.
    let received = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(AtomicBool::new(false));
    let mut response = reqwest::get(&url).await.expect("GET the FLV URL");
    assert_eq!(response.status(), 200);
    let reader = tokio::spawn({
        let received = received.clone();
        let ended = ended.clone();
        async move {
            while let Ok(Some(chunk)) = response.chunk().await {
                received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            ended.store(true, Ordering::Relaxed);
        }
    });

    wait_for(
        Duration::from_secs(35),
        "the stalled viewer to be dropped",
        || async { worker.metric("zhibo_flv_viewers_dropped_total").await >= 1.0 },
    )
    .await;
    let after_drop = received.load(Ordering::Relaxed);
    let received_probe = received.clone();
    wait_for(
        Duration::from_secs(20),
        "the reading viewer to keep receiving after the drop",
        || {
            let received = received_probe.clone();
            async move { received.load(Ordering::Relaxed) > after_drop + 10_000 }
        },
    )
    .await;
    assert!(
        !ended.load(Ordering::Relaxed),
        "the reading viewer is still served"
    );
    // The probes of `wait_live` leave as soon as the worker writes to their closed sockets.
    wait_for(
        Duration::from_secs(20),
        "one viewer left subscribed",
        || async { worker.metric("zhibo_flv_viewers").await == 1.0 },
    )
    .await;

    // The stalled connection itself is closed once it accepted nothing for the stall limit:
    // reading it now gives what was in flight, then the end of the stream.
    wait_for(
        Duration::from_secs(30),
        "the stalled connection to be closed",
        || async { worker.metric("zhibo_http_write_stalls_total").await >= 1.0 },
    )
    .await;
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        let mut sink = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stalled, &mut sink).await
    })
    .await;
    assert!(
        drained.is_ok(),
        "the worker closed the stalled connection (read to the end)"
    );

    // A publisher that vanishes (killed, no unpublish) ends the response too.
    drop(publisher);
    tokio::time::timeout(Duration::from_secs(40), reader)
        .await
        .expect("the FLV response ends once the publisher is gone")
        .expect("reader task");
}

/// Sends `request` on a new connection and reads until the worker closes it (within `within`).
async fn exchange(worker: &WorkerProc, request: &[u8], within: Duration) -> String {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", worker.http_port))
        .await
        .expect("connect");
    conn.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(
        within,
        tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut answer),
    )
    .await
    .expect("the worker closes the connection")
    .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn hostile_play_requests_are_bounded_and_answered_with_the_reason() {
    let worker = start_worker(&[]).await;
    let wait = Duration::from_secs(30);

    // A head over 8 KiB, too many headers, a malformed request line.
    let long = format!(
        "GET /live/{APP}_1.flv HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let answer = exchange(&worker, long.as_bytes(), wait).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(
        answer.contains("\"errcode\"") && answer.contains("8192 bytes"),
        "{answer}"
    );
    let many: String = (0..40).map(|i| format!("h{i}: v\r\n")).collect();
    let answer = exchange(
        &worker,
        format!("GET /live/{APP}_1.flv HTTP/1.1\r\n{many}\r\n").as_bytes(),
        wait,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    let answer = exchange(&worker, b"GET /live/a\x01b HTTP/1.1\r\n\r\n", wait).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("malformed HTTP request"), "{answer}");

    // A client that starts a request and sends no more, or nothing at all, is closed after
    // the head timeout (10 s) with nothing said; the worker still serves others meanwhile.
    let silent = exchange(&worker, b"", wait);
    let partial = exchange(&worker, b"GET /live/", wait);
    let split = exchange(&worker, b"GE", wait);
    let health = reqwest::get(format!("http://127.0.0.1:{}/healthz", worker.http_port))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let (silent, partial, split) = tokio::join!(silent, partial, split);
    assert_eq!(
        (silent.as_str(), partial.as_str(), split.as_str()),
        ("", "", "")
    );

    // Only GET plays; other methods on the path get the framework's 405.
    let head = reqwest::Client::new()
        .head(play_url(&worker, unique_room()))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 405);
}

/// Admits every publish; heartbeats answer "banned" once `banned` is set.
async fn banning_hook(
    axum::extract::State(banned): axum::extract::State<Arc<AtomicBool>>,
    body: axum::body::Bytes,
) -> axum::Json<zhibo_core::hooks::HookAnswer> {
    use zhibo_core::hooks::{HookAnswer, HookEvent, HookEventKind};
    let event: HookEvent = serde_json::from_slice(&body).expect("a hook event");
    let ban = event.event == HookEventKind::Heartbeat && banned.load(Ordering::SeqCst);
    axum::Json(HookAnswer {
        allow: !ban,
        reason: ban.then(|| "the room was banned by the operator".to_string()),
        live_over: false,
    })
}

#[tokio::test]
async fn a_ban_cuts_viewers_at_once_and_refuses_new_ones_with_403() {
    let banned = Arc::new(AtomicBool::new(false));
    let app = axum::Router::new()
        .route("/internal/hooks", axum::routing::post(banning_hook))
        .with_state(banned.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the hook server");
    let hook_url = format!(
        "http://{}/internal/hooks",
        listener.local_addr().expect("hook server address")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let worker = start_worker(&[
        ("ZHIBO_HOOK_URL", &hook_url),
        ("HOOK_SECRET", "hook-secret-for-tests-0123"),
        ("ZHIBO_HEARTBEAT_S", "1"),
    ])
    .await;
    let room = unique_room();
    let publisher = publish(&push_url(&worker, APP, room), 40);
    let url = play_url(&worker, room);
    wait_live(&url).await;
    let mut response = reqwest::get(&url).await.expect("GET the FLV URL");
    assert_eq!(response.status(), 200);
    read_tags(&mut response, |tags| tags.len() >= 3).await;

    banned.store(true, Ordering::SeqCst);
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(_)) = response.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the viewer's response ends after the ban");
    expect_refusal(&url, 403, "banned by the operator").await;
    let (ok, _) = finish(publisher, Duration::from_secs(30)).await;
    assert!(!ok, "the publisher was dropped");
}

/// Publishes `seconds` of the fixture's audio only (`"0:a"`) or video only (`"0:v"`).
fn publish_one_track(url: &str, track: &str, seconds: u32) -> tokio::process::Child {
    tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .arg("-i")
        .arg(fixture())
        .args(["-map", track, "-t", &seconds.to_string()])
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ffmpeg")
}

/// The codec names ffprobe reads from `url`.
fn probed_codecs(url: &str) -> Vec<String> {
    let probe = ffprobe(url, &["-show_streams"]);
    probe["streams"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["codec_name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn audio_only_and_video_only_lives_play() {
    let worker = start_worker(&[]).await;
    for (track, want, tag_type) in [("0:a", "aac", 8u8), ("0:v", "h264", 9u8)] {
        let room = unique_room();
        let _publisher = publish_one_track(&push_url(&worker, APP, room), track, 20);
        let url = play_url(&worker, room);
        wait_live(&url).await;
        // Once media flows, the header names the one track there is (before it, the
        // publisher's onMetaData does: a hub unit test).
        let mut first = reqwest::get(&url).await.expect("GET the FLV URL");
        read_flv(&mut first, |tags| tags.iter().any(|(t, _)| *t == tag_type)).await;
        drop(first);
        let mut response = reqwest::get(&url).await.expect("GET the FLV URL");
        let (flags, tags) = read_flv(&mut response, |tags| {
            tags.iter().filter(|(t, _)| *t == tag_type).count() >= 5
        })
        .await;
        assert_eq!(
            flags,
            if tag_type == 8 { 0x04 } else { 0x01 },
            "{track}: the header announces {want} only"
        );
        assert!(
            tags.iter().all(|(t, _)| *t == tag_type || *t == 18),
            "{track}: only {want} tags and metadata: {:?}",
            tags.iter().map(|(t, _)| *t).collect::<Vec<_>>()
        );
        drop(response);
        assert_eq!(probed_codecs(&url), [want], "{track}");
    }
}

/// `GET /v1/rooms/{id}/play-urls` returns the `flv` URL on `PLAY_HOST`, and that URL plays from
/// the worker: the play key is the same master key on both sides.
#[tokio::test]
async fn the_flv_url_from_play_urls_plays_from_the_worker() {
    let worker = start_worker(&[]).await;
    let play_host = format!("http://127.0.0.1:{}", worker.http_port);
    let api = zhibo_test_support::TestApi::start_with(&[
        ("PLAY_HOST", &play_host),
        ("PLAY_KEY", PLAY_KEY),
    ])
    .await;
    let app = api.app.app_id.clone();
    let room = api.create_room("flv play-urls", 5).await;
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/play-urls"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let flv = r.json["flv"].as_str().expect("an flv URL").to_string();
    let name = zhibo_core::room::stream_name(&app, room);
    assert!(
        flv.starts_with(&format!("{play_host}/live/{name}.flv?txSecret=")),
        "{flv}"
    );
    let expires_at = r.json["expires_at"].as_i64().expect("the flv URL expires");
    assert!(flv.ends_with(&format!("txTime={expires_at:08X}")), "{flv}");

    let _publisher = publish(&push_url(&worker, &app, room), 15);
    wait_live(&flv).await;
    let mut response = reqwest::get(&flv).await.expect("GET the flv URL");
    let tags = read_tags(&mut response, |tags| tags.iter().any(|(t, _)| *t == 9)).await;
    assert!(tags.iter().any(|(t, _)| *t == 9));
    // Another room's URL is not this room's: its signature does not open this stream.
    let other = api.create_room("other", 5).await;
    let r = api
        .call("GET", &format!("/v1/rooms/{other}/play-urls"), "")
        .await;
    let other_flv = r.json["flv"].as_str().unwrap();
    let (_, query) = other_flv.split_once('?').unwrap();
    expect_refusal(
        &format!("{play_host}/live/{name}.flv?{query}"),
        401,
        "playback URL refused",
    )
    .await;
}

/// With `ZHIBO_METRICS_ADDR`, the public HTTP port (the one the load balancer exposes for
/// playback) has no `/metrics`; the metrics port has it.
#[tokio::test]
async fn metrics_can_leave_the_public_playback_port() {
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let worker = start_worker(&[("ZHIBO_METRICS_ADDR", &metrics_addr)]).await;
    let public = reqwest::get(format!("http://127.0.0.1:{}/metrics", worker.http_port))
        .await
        .expect("GET /metrics on the HTTP port");
    assert_eq!(public.status(), 404);
    let health = reqwest::get(format!("http://127.0.0.1:{}/healthz", worker.http_port))
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("GET /metrics on the metrics port")
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("zhibo_flv_viewers"), "{metrics}");
}
