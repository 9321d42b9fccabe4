//! ffmpeg → zhibo-media-worker → SeaweedFS, checked with ffprobe: the live playlist and every
//! segment, reconnects, refused publishes, SIGTERM mid-stream.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use zhibo_core::object_keys;
use zhibo_media::hls::parse_media_playlist;

/// Checks, every time the live playlist is read, that every segment it names is already in
/// the bucket; returns the distinct segment URIs seen.
async fn watch_live_playlist(room: u64, for_how_long: Duration) -> (HashSet<String>, usize) {
    let key = object_keys::live_playlist(APP, room);
    let mut seen = HashSet::new();
    let mut reads = 0;
    let deadline = tokio::time::Instant::now() + for_how_long;
    while tokio::time::Instant::now() < deadline {
        if let Some(text) = get_text(&key).await {
            reads += 1;
            let playlist = parse_media_playlist(&text).expect("the live playlist parses");
            for s in &playlist.segments {
                if seen.insert(s.uri.clone()) {
                    let seg_key = format!("live/{APP}/{room}/{}", s.uri);
                    assert!(
                        get_object(&seg_key).await.is_some(),
                        "the playlist names {seg_key} before it is in the bucket"
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (seen, reads)
}

async fn replay_keys(room: u64) -> Vec<String> {
    let sdk = zhibo_store::aws::sdk_config().await;
    let s3 = zhibo_store::aws::s3_client(&sdk, Some(&s3_endpoint()));
    let out = s3
        .list_objects_v2()
        .bucket(bucket())
        .prefix(format!("replays/{APP}/{room}/"))
        .send()
        .await
        .expect("list replays");
    let mut keys: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    keys
}

async fn wait_for_replays(room: u64, n: usize) -> Vec<String> {
    wait_for(
        Duration::from_secs(30),
        "the replay playlist(s)",
        || async move {
            replay_keys(room)
                .await
                .iter()
                .filter(|k| k.ends_with(".json"))
                .count()
                >= n
        },
    )
    .await;
    replay_keys(room)
        .await
        .into_iter()
        .filter(|k| k.ends_with(".m3u8"))
        .collect()
}

/// Packets of one ffprobe'd playlist: (codec_type, pts_time).
fn packets(url: &str) -> Vec<(String, f64)> {
    let v = ffprobe(url, &["-show_entries", "packet=codec_type,pts_time"]);
    v["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .filter_map(|p| {
            Some((
                p["codec_type"].as_str()?.to_string(),
                p["pts_time"].as_str()?.parse::<f64>().ok()?,
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_hls_plays_every_segment_and_the_replay_is_whole() {
    let worker = WorkerProc::start(&[]).await;
    let room = unique_room();
    let publisher = publish(&worker.url(&signed_key(room)), 12);
    let (seen, reads) = watch_live_playlist(room, Duration::from_secs(10)).await;
    assert!(
        reads >= 10 && seen.len() >= 3,
        "live playlist read {reads} times, {} segments",
        seen.len()
    );

    // While live: ffprobe reads the live playlist (H.264 + AAC).
    let live_url = public_url(&object_keys::live_playlist(APP, room));
    let streams = ffprobe(
        &live_url,
        &[
            "-show_entries",
            "stream=codec_name,width,height,sample_rate",
        ],
    );
    let codecs: Vec<&str> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{streams}"
    );

    let (ok, err) = finish(publisher, Duration::from_secs(40)).await;
    assert!(ok, "ffmpeg failed: {err}");
    let replays = wait_for_replays(room, 1).await;
    assert_eq!(replays.len(), 1, "{replays:?}");

    // Live playlist: ended, window of 6, the target duration holds every EXTINF (RFC 8216).
    let live = parse_media_playlist(
        &get_text(&object_keys::live_playlist(APP, room))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        live.ended,
        "the live playlist ends with EXT-X-ENDLIST once the window closes"
    );
    assert!(live.segments.len() <= 6);
    for s in &live.segments {
        assert!(s.duration.round() as u64 <= live.target_duration);
    }

    // Replay: every segment, numbered without gaps, each 2 s (± one GOP) but the last.
    let replay_text = get_text(&replays[0]).await.unwrap();
    let replay = parse_media_playlist(&replay_text).unwrap();
    assert!(replay.ended);
    let n = replay.segments.len();
    assert!(n >= 5, "{replay_text}");
    for (i, s) in replay.segments.iter().enumerate() {
        assert!(
            s.uri.ends_with(&format!("/{i}.ts")),
            "segment {i} is {}",
            s.uri
        );
        if i + 1 < n {
            assert!(
                (1.9..=3.1).contains(&s.duration),
                "segment {i} lasts {}",
                s.duration
            );
        }
        assert!(!s.discontinuity);
    }
    let total: f64 = replay.segments.iter().map(|s| s.duration).sum();
    assert!(
        (10.0..=13.5).contains(&total),
        "replay lasts {total} s for a 12-s publish"
    );

    // Every segment is a valid TS that ffprobe reads; A/V in sync over the whole replay, and
    // no gap in the video.
    let replay_url = public_url(&replays[0]);
    let pkts = packets(&replay_url);
    let video: Vec<f64> = pkts
        .iter()
        .filter(|p| p.0 == "video")
        .map(|p| p.1)
        .collect();
    let audio: Vec<f64> = pkts
        .iter()
        .filter(|p| p.0 == "audio")
        .map(|p| p.1)
        .collect();
    assert!(
        video.len() > 300 && audio.len() > 400,
        "{} video, {} audio packets",
        video.len(),
        audio.len()
    );
    let first = |v: &[f64]| v.iter().cloned().fold(f64::MAX, f64::min);
    let last = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
    assert!(
        (first(&video) - first(&audio)).abs() < 0.2,
        "A/V start apart: {} vs {}",
        first(&video),
        first(&audio)
    );
    assert!(
        (last(&video) - last(&audio)).abs() < 0.3,
        "A/V end apart: {} vs {}",
        last(&video),
        last(&audio)
    );
    // ffmpeg's `-t` cuts the input mid-GOP, so B-frames of the last few pictures are missing
    // from the input itself: check for gaps up to half a second before the end.
    let end = last(&video) - 0.5;
    let mut sorted: Vec<f64> = video.iter().cloned().filter(|t| *t < end).collect();
    sorted.sort_by(f64::total_cmp);
    let max_gap = sorted.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(max_gap < 0.1, "a {max_gap} s gap in the video");

    // The JSON summary agrees.
    let json_key = replays[0].replace(".m3u8", ".json");
    let summary: serde_json::Value =
        serde_json::from_str(&get_text(&json_key).await.unwrap()).unwrap();
    assert_eq!(summary["segments"], n as u64);
    assert_eq!(summary["room_id"], room);

    // Content types and cache headers as docs/api.md "Object layout and HLS" fixes them.
    let seg_key = format!("live/{APP}/{room}/{}", live.segments[0].uri);
    for (key, ctype, cache) in [
        (
            object_keys::live_playlist(APP, room),
            object_keys::CONTENT_TYPE_PLAYLIST,
            object_keys::CACHE_LIVE_PLAYLIST,
        ),
        (
            seg_key,
            object_keys::CONTENT_TYPE_SEGMENT,
            object_keys::CACHE_SEGMENT,
        ),
    ] {
        let r = get_object(&key).await.unwrap();
        assert_eq!(r.headers()["content-type"], ctype, "{key}");
        assert_eq!(r.headers()["cache-control"], cache, "{key}");
    }
    assert!(worker.metric("zhibo_segments_total").await >= n as f64);
    assert_eq!(worker.metric("zhibo_uploads_abandoned_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_expired_and_duplicate_publishes_are_refused() {
    let worker = WorkerProc::start(&[]).await;
    let room = unique_room();
    let name = format!("{APP}_{room}");
    use zhibo_core::signing::{UrlPurpose, UrlSignature};
    let expired = UrlSignature::sign_room(
        PUSH_KEY,
        UrlPurpose::Push,
        APP,
        room,
        zhibo_core::clock::now() - 10,
    );
    let wrong = UrlSignature::sign_room(
        "not-the-push-key-000",
        UrlPurpose::Push,
        APP,
        room,
        zhibo_core::clock::now() + 600,
    );
    for key in [
        format!("{name}?{}", expired.query()),
        format!("{name}?{}", wrong.query()),
        name.clone(),
        format!("notastream?{}", wrong.query()),
    ] {
        let (ok, _) = finish(publish(&worker.url(&key), 5), Duration::from_secs(30)).await;
        assert!(!ok, "a publish with key {key} must fail");
    }
    assert_eq!(worker.metric("zhibo_publishes_refused_total").await, 4.0);
    assert_eq!(worker.metric("zhibo_publishes_total").await, 0.0);
    assert!(
        get_object(&object_keys::live_playlist(APP, room))
            .await
            .is_none(),
        "nothing is written for a refused publish"
    );
    let log = worker.log_text();
    assert!(
        log.contains("expired") && log.contains("does not match"),
        "refusals say why:\n{log}"
    );
    assert!(
        !log.contains(PUSH_KEY),
        "the push key never appears in logs"
    );

    // A second publisher of a live stream is refused; the first goes on.
    let first = publish(&worker.url(&signed_key(room)), 8);
    let url = public_url(&object_keys::live_playlist(APP, room));
    wait_for(
        Duration::from_secs(20),
        "the first publisher's playlist",
        || {
            let url = url.clone();
            async move {
                reqwest::get(&url)
                    .await
                    .map(|r| r.status() == 200)
                    .unwrap_or(false)
            }
        },
    )
    .await;
    let (ok, _) = finish(
        publish(&worker.url(&signed_key(room)), 5),
        Duration::from_secs(30),
    )
    .await;
    assert!(!ok, "the second publisher must be refused");
    let (ok, err) = finish(first, Duration::from_secs(30)).await;
    assert!(ok, "the first publisher must be unaffected: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_inside_the_window_continues_with_a_discontinuity() {
    let worker = WorkerProc::start(&[("ZHIBO_RECONNECT_WINDOW_S", "8")]).await;
    let room = unique_room();
    let (ok, err) = finish(
        publish(&worker.url(&signed_key(room)), 5),
        Duration::from_secs(30),
    )
    .await;
    assert!(ok, "{err}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ok, err) = finish(
        publish(&worker.url(&signed_key(room)), 5),
        Duration::from_secs(30),
    )
    .await;
    assert!(ok, "{err}");
    // Before the window closes the live playlist goes on, with a discontinuity and no end.
    let live = parse_media_playlist(
        &get_text(&object_keys::live_playlist(APP, room))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(!live.ended);
    assert_eq!(
        live.segments.iter().filter(|s| s.discontinuity).count(),
        1,
        "{:?}",
        live.segments
    );
    let sessions: HashSet<&str> = live
        .segments
        .iter()
        .filter_map(|s| s.uri.split('/').next())
        .collect();
    assert_eq!(sessions.len(), 2);

    let replays = wait_for_replays(room, 1).await;
    assert_eq!(
        replays.len(),
        1,
        "one replay for a reconnect inside the window: {replays:?}"
    );
    let replay = parse_media_playlist(&get_text(&replays[0]).await.unwrap()).unwrap();
    assert_eq!(
        replay.segments.iter().filter(|s| s.discontinuity).count(),
        1
    );
    let total: f64 = replay.segments.iter().map(|s| s.duration).sum();
    assert!(
        (8.0..=11.5).contains(&total),
        "replay of 2 × 5 s lasts {total}"
    );
    // ffprobe reads it across the discontinuity.
    let pkts = packets(&public_url(&replays[0]));
    assert!(pkts.iter().filter(|p| p.0 == "video").count() > 250);

    // After the window, a new publish starts a second replay.
    let (ok, err) = finish(
        publish(&worker.url(&signed_key(room)), 4),
        Duration::from_secs(30),
    )
    .await;
    assert!(ok, "{err}");
    let replays = wait_for_replays(room, 2).await;
    assert_eq!(replays.len(), 2, "{replays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_leaves_a_valid_final_replay() {
    let mut worker = WorkerProc::start(&[("ZHIBO_RECONNECT_WINDOW_S", "60")]).await;
    let room = unique_room();
    let publisher = publish(&worker.url(&signed_key(room)), 30);
    let (seen, _) = watch_live_playlist(room, Duration::from_secs(7)).await;
    assert!(seen.len() >= 2);
    worker.sigterm();
    assert!(
        worker.wait_exit(Duration::from_secs(30)).await,
        "clean exit; log:\n{}",
        worker.log_text()
    );
    let _ = finish(publisher, Duration::from_secs(30)).await;

    let replays = replay_keys(room).await;
    let m3u8: Vec<_> = replays.iter().filter(|k| k.ends_with(".m3u8")).collect();
    assert_eq!(
        m3u8.len(),
        1,
        "SIGTERM writes the replay at once: {replays:?}"
    );
    let replay = parse_media_playlist(&get_text(m3u8[0]).await.unwrap()).unwrap();
    assert!(replay.ended && replay.segments.len() >= 3);
    for s in &replay.segments {
        let key = s.uri.trim_start_matches("../../../");
        assert!(get_object(key).await.is_some(), "{key} is in the bucket");
    }
    let live = parse_media_playlist(
        &get_text(&object_keys::live_playlist(APP, room))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(live.ended);
    let pkts = packets(&public_url(m3u8[0]));
    assert!(pkts.len() > 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_dropped() {
    // A connection that never publishes is closed at the pre-publish deadline.
    let worker = WorkerProc::start(&[("ZHIBO_PREAUTH_TIMEOUT_S", "2")]).await;
    use tokio::io::AsyncReadExt;
    let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", worker.rtmp_port))
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(30), sock.read(&mut buf))
        .await
        .expect("the worker closes a silent connection")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(worker.metric("zhibo_rtmp_preauth_timeouts_total").await >= 1.0);
    assert_eq!(worker.metric("zhibo_rtmp_preauth_connections").await, 0.0);
}
