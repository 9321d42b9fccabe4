//! One publisher hopping across workers (the "dropped and reconnected five times"):
//! three workers behind HAProxy (round robin, no stickiness) with hooks to the control plane,
//! and an ffmpeg publisher that publishes six times ~8 s with ~1 s gaps, each reconnect inside
//! the reconnect window (8 s), so each lands on another worker and continues the room.
//!
//! While it hops, a poller reads the live playlist from the bucket every 300 ms, as players
//! do, and hls.js in headless Chromium plays it (`tests/browser/hops.mjs`). Proved:
//! - the publishes were served by different workers, each hop by another one;
//! - the live playlist never ends (`#EXT-X-ENDLIST`) while the publisher is still to come back,
//!   its `EXT-X-MEDIA-SEQUENCE` never goes back and moves on whenever a full window changes,
//!   a media sequence number always names the same segment (and a segment always has the
//!   same number), and the discontinuities grow with the hops: exactly one per hop, on the
//!   first segment of each new session;
//! - exactly one replay, listing every segment the bucket holds for the room, with one
//!   discontinuity per hop and the six sessions, announced once (`replay.ready`), and still
//!   one a few seconds later;
//! - playback goes on across the hops: no fatal hls.js error, no 12 s without currentTime
//!   advancing, currentTime at the end at least half of what was published, and the
//!   fragments played span the sessions (hls.js's discontinuity counter).
//!
//! About a minute: 6 × 9 s of publishing, then the window (8 s) and indexing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::room_api::*;
use common::*;
use tokio::io::AsyncWriteExt;
use zhibo_core::object_keys;
use zhibo_media::hls::parse_media_playlist;
use zhibo_test_support::{TestApi, TEST_HOOK_SECRET};

/// Publishes of the one stream: five drops and reconnects.
const PUBLISHES: usize = 6;
/// Seconds of each publish.
const PUBLISH_S: u32 = 8;
/// Pause between a publish's end and the next connect.
const GAP: Duration = Duration::from_secs(1);
/// The workers' reconnect window: far longer than a gap, shorter than the test.
const WINDOW_S: &str = "8";
/// Longest time without currentTime advancing that still counts as "playing on".
const MAX_STALL_MS: i64 = 12_000;

/// What the poller saw of the live playlist.
#[derive(Debug, Default)]
struct LiveLog {
    fetches: usize,
    /// Distinct segment lists seen (the head comment changes more often).
    versions: usize,
    /// 404s after the playlist first existed.
    misses: usize,
    /// Every violation, with the playlist that showed it.
    problems: Vec<String>,
    /// Media sequence number → the segment URI it named.
    uri_of: BTreeMap<u64, String>,
    /// Segment URI → its media sequence number.
    seq_of: BTreeMap<String, u64>,
    /// Distinct `EXT-X-MEDIA-SEQUENCE` values, in the order seen.
    sequences: Vec<u64>,
    /// Segments carrying `#EXT-X-DISCONTINUITY`.
    discontinuities: BTreeSet<String>,
    /// Discontinuities so far (`EXT-X-DISCONTINUITY-SEQUENCE` + those in the window), per
    /// version.
    discontinuity_totals: Vec<u64>,
    /// `live_status` values seen while polling.
    statuses: BTreeSet<u64>,
}

impl LiveLog {
    fn problem(&mut self, what: String, text: &str) {
        if self.problems.len() < 20 {
            self.problems.push(format!("{what}; playlist:\n{text}"));
        }
    }
}

/// Reads the live playlist every 300 ms until `stop`, checking it as it goes.
async fn poll_live(api: Arc<TestApi>, room: u64, key: String, stop: Arc<AtomicBool>) -> LiveLog {
    let mut log = LiveLog::default();
    let mut prev: Option<(u64, Vec<String>)> = None;
    let mut window = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        log.statuses.insert(api_status(&api, room).await);
        log.fetches += 1;
        let Some(text) = get_text(&key).await else {
            if prev.is_some() {
                log.misses += 1;
            }
            continue;
        };
        // Checked before `stop` is set: the publisher is still to come back (or publishing).
        if text.contains("#EXT-X-ENDLIST") {
            log.problem(
                "#EXT-X-ENDLIST while the publisher is still to come back".into(),
                &text,
            );
        }
        let playlist = match parse_media_playlist(&text) {
            Ok(p) => p,
            Err(e) => {
                log.problem(format!("unparsable: {e}"), &text);
                continue;
            }
        };
        let seq = playlist.media_sequence;
        let uris: Vec<String> = playlist.segments.iter().map(|s| s.uri.clone()).collect();
        window = window.max(uris.len());
        for (i, uri) in uris.iter().enumerate() {
            let n = seq + i as u64;
            if let Some(was) = log.uri_of.insert(n, uri.clone()) {
                if &was != uri {
                    log.problem(format!("media sequence {n} named {was}, now {uri}"), &text);
                }
            }
            if let Some(was) = log.seq_of.insert(uri.clone(), n) {
                if was != n {
                    log.problem(format!("{uri} was media sequence {was}, now {n}"), &text);
                }
            }
        }
        for s in playlist.segments.iter().filter(|s| s.discontinuity) {
            log.discontinuities.insert(s.uri.clone());
        }
        if prev.as_ref().is_some_and(|(_, u)| *u == uris) {
            continue;
        }
        log.versions += 1;
        if let Some((prev_seq, prev_uris)) = &prev {
            if seq < *prev_seq {
                log.problem(
                    format!("media sequence went back: {prev_seq} → {seq}"),
                    &text,
                );
            }
            // A full window that changed slid: the sequence must move on.
            if seq == *prev_seq && uris.len() == window && prev_uris.len() == window {
                log.problem(
                    format!("the full window changed but the media sequence stayed {seq}"),
                    &text,
                );
            }
        }
        if log.sequences.last() != Some(&seq) {
            log.sequences.push(seq);
        }
        let in_window = playlist.segments.iter().filter(|s| s.discontinuity).count() as u64;
        let total = playlist.discontinuity_sequence + in_window;
        if log.discontinuity_totals.last().is_some_and(|&t| total < t) {
            log.problem(format!("discontinuities went back to {total}"), &text);
        }
        log.discontinuity_totals.push(total);
        prev = Some((seq, uris));
    }
    log
}

/// One `video.currentTime` sample of `tests/browser/hops.mjs`.
#[derive(Debug)]
struct Sample {
    at_ms: i64,
    time: f64,
    paused: bool,
    ready: u64,
    buffered: f64,
}

/// What `tests/browser/hops.mjs` printed: samples, the discontinuity counter (`cc`) of each
/// fragment playback entered and when, hls.js errors, the page's console.
#[derive(Debug)]
struct HopsOutput {
    samples: Vec<Sample>,
    fragments: Vec<(i64, u64)>,
    errors: Vec<serde_json::Value>,
    console: Vec<serde_json::Value>,
}

impl HopsOutput {
    fn parse(line: &str) -> Result<HopsOutput, String> {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let list = |k: &str| v[k].as_array().cloned().ok_or(format!("no {k}"));
        let samples = list("samples")?
            .iter()
            .map(|s| Sample {
                at_ms: s["at_ms"].as_i64().unwrap_or(0),
                time: s["time"].as_f64().unwrap_or(0.0),
                paused: s["paused"].as_bool().unwrap_or(true),
                ready: s["ready"].as_u64().unwrap_or(0),
                buffered: s["buffered"].as_f64().unwrap_or(0.0),
            })
            .collect();
        let fragments = list("fragments")?
            .iter()
            .map(|f| {
                (
                    f["at_ms"].as_i64().unwrap_or(0),
                    f["cc"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        Ok(HopsOutput {
            samples,
            fragments,
            errors: list("errors")?,
            console: list("console")?,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_hopping_across_workers_keeps_one_live_playlist_one_replay_and_playback() {
    let api = Arc::new(webhook_api(&[]).await);
    let _delivery = api.spawn_delivery(Duration::from_millis(200));
    let _indexer = api.spawn_replay_indexer();
    let rx = api.register_webhook().await;
    let hook_url = format!("{}/internal/hooks", api.base);
    let cluster = match Cluster::start(
        3,
        &[
            ("ZHIBO_HOOK_URL", &hook_url),
            ("HOOK_SECRET", TEST_HOOK_SECRET),
            ("ZHIBO_RECONNECT_WINDOW_S", WINDOW_S),
        ],
    )
    .await
    {
        Ok(c) => c,
        Err(why) => {
            eprintln!("SKIPPED cluster_hops_e2e: {why}");
            return;
        }
    };
    // Without a browser (outside CI and `make test`, which installs it) the bucket checks
    // still run.
    let browser = browser_deps()
        .map_err(|why| eprintln!("cluster_hops_e2e: no playback check: {why}"))
        .ok();
    let app = api.app.app_id.clone();
    let room = api.create_room("hops e2e", 5).await;
    let stream = zhibo_core::room::stream_name(&app, room);
    let url = cluster.push_url(&app, room);
    let live_key = object_keys::live_playlist(&app, room);

    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll_live(api.clone(), room, live_key.clone(), stop.clone()));
    let mut player = None;
    let mut holders = Vec::new();
    let mut counts = cluster.publish_counts(&stream);
    let mut ended_ms = 0;
    for i in 0..PUBLISHES {
        let ffmpeg = publish(&url, PUBLISH_S);
        if i == 0 {
            wait_for(
                Duration::from_secs(30),
                "two segments in the live playlist",
                || {
                    let key = live_key.clone();
                    async move {
                        get_text(&key)
                            .await
                            .is_some_and(|t| t.matches(".ts\n").count() >= 2)
                    }
                },
            )
            .await;
            // Plays until told to stop (a line on stdin), at most 120 s.
            player = browser.as_ref().map(|deps| {
                let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../tests/browser/hops.mjs");
                tokio::process::Command::new("node")
                    .arg(script)
                    .arg(public_url(&live_key))
                    .arg("120")
                    .envs(deps.env.iter().map(|(k, v)| (k, v)))
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("spawn node tests/browser/hops.mjs")
            });
        }
        let (ok, err) = finish(ffmpeg, Duration::from_secs(60)).await;
        assert!(ok, "publish {i} failed: {err}\n{}", cluster.logs());
        ended_ms = zhibo_core::clock::now_ms();
        let now = cluster.publish_counts(&stream);
        let took: Vec<usize> = (0..now.len()).filter(|&w| now[w] > counts[w]).collect();
        assert_eq!(
            took.len(),
            1,
            "publish {i}: one worker took it (counts {counts:?} → {now:?})\n{}",
            cluster.logs()
        );
        holders.push(took[0]);
        counts = now;
        if i + 1 < PUBLISHES {
            tokio::time::sleep(GAP).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let live = poller.await.expect("the poller");

    // The hops: round robin sends each reconnect to the next worker. (HAProxy's health checks
    // do not reorder a round robin over healthy servers; were one marked down for a moment,
    // two consecutive publishes could share a worker, which this would report.)
    let mut distinct = holders.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() >= 2 && holders.windows(2).all(|w| w[0] != w[1]),
        "each reconnect lands on another worker: {holders:?}\n{}",
        cluster.logs()
    );

    // The live playlist as players saw it.
    eprintln!(
        "live playlist: {} fetches, {} versions, media sequences {:?}, discontinuity totals \
         {:?}, statuses {:?}, misses {}",
        live.fetches,
        live.versions,
        live.sequences,
        live.discontinuity_totals,
        live.statuses,
        live.misses
    );
    assert!(
        live.problems.is_empty(),
        "the live playlist misbehaved:\n{}\n{}",
        live.problems.join("\n---\n"),
        cluster.logs()
    );
    assert!(live.statuses.contains(&101), "{:?}", live.statuses);
    assert!(
        live.sequences.len() >= 10,
        "the window slid all along: {:?}",
        live.sequences
    );
    let sessions: BTreeSet<&str> = live
        .seq_of
        .keys()
        .filter_map(|u| u.split_once('/').map(|(s, _)| s))
        .collect();
    assert_eq!(
        sessions.len(),
        PUBLISHES,
        "sessions in the live playlist: {sessions:?}"
    );
    // One discontinuity per hop, on each later session's first segment.
    let expected: BTreeSet<String> = sessions
        .iter()
        .skip(1)
        .map(|s| object_keys::live_segment_uri(s, 0))
        .collect();
    assert_eq!(live.discontinuities, expected);
    assert_eq!(
        live.discontinuity_totals.last().copied(),
        Some(PUBLISHES as u64 - 1)
    );

    // Tell the player to stop a few seconds after the last publish ended (well inside the
    // window: the playlist has not ended yet) and read what it saw; meanwhile the window
    // passes and the replay is written.
    let player_output = match player {
        Some(mut child) => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            let mut stdin = child.stdin.take().expect("piped stdin");
            let _ = stdin.write_all(b"stop\n").await;
            drop(stdin);
            let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("the player to finish")
                .expect("node tests/browser/hops.mjs");
            assert!(
                out.status.success(),
                "node tests/browser/hops.mjs failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8_lossy(&out.stdout);
            let line = line.lines().last().unwrap_or_default().to_string();
            Some(
                HopsOutput::parse(&line)
                    .unwrap_or_else(|e| panic!("hops.mjs printed {line:?}: {e}")),
            )
        }
        None => None,
    };

    // Exactly one replay, with every segment the bucket holds.
    wait_for(
        Duration::from_secs(40),
        "the replay to be listed",
        || async { replays(&api, room).await["total"] == 1 },
    )
    .await;
    let list = replays(&api, room).await;
    let replay_id = list["replays"][0]["replay_id"]
        .as_str()
        .expect("replay_id")
        .to_string();
    let text = get_text(&object_keys::replay_playlist(&app, room, &replay_id))
        .await
        .expect("the replay playlist");
    let replay = parse_media_playlist(&text).expect("the replay parses");
    assert!(replay.ended);
    let in_replay: Vec<String> = replay
        .segments
        .iter()
        .map(|s| s.uri.trim_start_matches("../../../").to_string())
        .collect();
    let uploaded = segments_in_bucket(&api, &app, room).await;
    assert_eq!(
        in_replay.iter().cloned().collect::<BTreeSet<_>>(),
        uploaded,
        "the replay holds every segment in the bucket, and only those"
    );
    assert_eq!(
        in_replay.len(),
        uploaded.len(),
        "no segment twice: {in_replay:?}"
    );
    let live_prefix = object_keys::live_room_prefix(&app, room);
    for uri in live.seq_of.keys() {
        assert!(
            uploaded.contains(&format!("{live_prefix}{uri}")),
            "{uri} was live, so it is in the replay ({live_prefix})"
        );
    }
    assert_eq!(
        replay.segments.iter().filter(|s| s.discontinuity).count(),
        PUBLISHES - 1,
        "one discontinuity per hop:\n{text}"
    );
    let summary: zhibo_core::replay::ReplaySummary = serde_json::from_str(
        &get_text(&object_keys::replay_summary(&app, room, &replay_id))
            .await
            .expect("the replay summary"),
    )
    .expect("summary JSON");
    assert_eq!(summary.sessions.len(), PUBLISHES, "{summary:?}");
    assert!(
        summary.duration_s >= f64::from(PUBLISH_S) * PUBLISHES as f64 - 6.0,
        "{summary:?}"
    );
    wait_for(Duration::from_secs(30), "replay.ready", || async {
        rx.types(room).contains(&"replay.ready".to_string())
    })
    .await;
    // A little later (every worker's window has passed, the last closes refused): still one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(replays(&api, room).await["total"], 1);
    let types = rx.types(room);
    assert_eq!(
        types.iter().filter(|t| *t == "replay.ready").count(),
        1,
        "{types:?}"
    );
    assert!(
        get_text(&live_key)
            .await
            .is_some_and(|t| t.contains("#EXT-X-ENDLIST")),
        "the closed live playlist ends"
    );
    // Every reconnect continued the replay, on whichever worker it landed.
    let continued: f64 = cluster
        .metric("zhibo_publishes_continued_total")
        .await
        .iter()
        .sum();
    assert_eq!(continued, (PUBLISHES - 1) as f64);

    // Playback went on across the hops.
    let Some(play) = player_output else { return };
    let trace: Vec<String> = play
        .samples
        .iter()
        .map(|s| {
            format!(
                "{:+.1}s t={:.1} buf={:.1} rs={} {}",
                (s.at_ms - ended_ms) as f64 / 1000.0,
                s.time,
                s.buffered,
                s.ready,
                if s.paused { "paused" } else { "" }
            )
        })
        .collect();
    let why = || {
        format!(
            "samples (relative to the last publish's end):\n{}\nfragments: {:?}\nerrors: {:?}\nconsole: {:?}",
            trace.join("\n"),
            play.fragments,
            play.errors,
            play.console
        )
    };
    let fatal: Vec<_> = play.errors.iter().filter(|e| e["fatal"] == true).collect();
    assert!(
        fatal.is_empty(),
        "fatal hls.js errors: {fatal:?}\n{}",
        why()
    );
    let started = play
        .samples
        .iter()
        .find(|s| s.time > 0.0)
        .unwrap_or_else(|| panic!("playback never started\n{}", why()));
    let first_ms = play.samples[0].at_ms;
    assert!(
        started.at_ms - first_ms <= 30_000,
        "playback started {} ms after the page opened\n{}",
        started.at_ms - first_ms,
        why()
    );
    let until = ended_ms.min(play.samples.last().map(|s| s.at_ms).unwrap_or(0));
    assert!(
        until - ended_ms > -2_000,
        "the player sampled until the last publish ended\n{}",
        why()
    );
    let mut last_progress = started.at_ms;
    let mut longest = 0;
    let mut prev = started.time;
    for s in play
        .samples
        .iter()
        .filter(|s| s.at_ms > started.at_ms && s.at_ms <= until)
    {
        if s.time > prev {
            longest = longest.max(s.at_ms - last_progress);
            last_progress = s.at_ms;
            prev = s.time;
        }
    }
    longest = longest.max(until - last_progress);
    let at_end = play
        .samples
        .iter()
        .rfind(|s| s.at_ms <= until)
        .map(|s| s.time)
        .unwrap_or(0.0);
    let published = f64::from(PUBLISH_S) * PUBLISHES as f64;
    // Fragments entered up to a little after the last publish ended (the player is a few
    // seconds behind the live edge).
    let played: BTreeSet<u64> = play
        .fragments
        .iter()
        .filter(|(at_ms, _)| *at_ms <= until + 4_000)
        .map(|(_, cc)| *cc)
        .collect();
    eprintln!(
        "playback: started {} ms after the page opened, longest without progress {longest} ms, \
         currentTime {at_end:.1} s when the last publish ended ({published} s published), \
         {} fragments entered, discontinuity counters {played:?}",
        started.at_ms - first_ms,
        play.fragments.len()
    );
    assert!(
        longest <= MAX_STALL_MS,
        "playback stopped for {longest} ms\n{}",
        why()
    );
    assert!(
        at_end >= published * 0.5,
        "currentTime {at_end:.1} s of {published} s published\n{}",
        why()
    );
    assert!(
        played.len() >= PUBLISHES - 1,
        "the fragments played span the sessions (hls.js discontinuity counters {played:?})\n{}",
        why()
    );
}
