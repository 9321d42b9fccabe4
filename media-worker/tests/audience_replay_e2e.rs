//! docs/api.md "Messages": "`offset_ms` lines each item up with the replay". A real ffmpeg
//! publishes to the worker, whose hooks take the room 101 on the API; viewers post messages
//! during the live through `POST /v1/rooms/{room}/messages`; the publisher stops, the
//! reconnect window closes the replay, the indexer lists it. Then each message's `offset_ms`
//! in the signed history is compared with where the moment it was accepted (`at_ms`) sits in
//! the replay, read from the replay playlist in the bucket. (Here rather than in `tests/`:
//! this crate's tests are the ones that run the worker binary and an ffmpeg publisher.)

mod common;

use std::time::Duration;

use common::room_api::*;
use common::*;
use serde_json::{json, Value};
use zhibo_core::clock::now_ms;
use zhibo_media::hls::parse_media_playlist;
use zhibo_test_support::audience::start_with_realtime;

/// Seconds published: long enough that every message below is posted while ffmpeg still
/// sends (checked, not assumed).
const PUBLISH_S: u32 = 30;
/// How long after the room was seen live each message is posted.
const POST_AT: [Duration; 4] = [
    Duration::from_secs(2),
    Duration::from_secs(6),
    Duration::from_secs(10),
    Duration::from_secs(14),
];

#[tokio::test]
async fn history_offsets_line_up_with_the_replay_of_a_real_live() {
    let api = start_with_realtime(&[]).await;
    let _indexer = api.spawn_replay_indexer();
    let worker = hooked_worker(&api, &[]).await;
    let app = api.app.app_id.clone();
    let room = api.create_room("offsets", 5).await;
    let viewers = [
        api.viewer_grant(room, "viewer-a").await,
        api.viewer_grant(room, "viewer-b").await,
    ];

    // The publisher: the fixture (testsrc2 + sine, timestamps from 0) at real-time pace.
    let spawned_ms = now_ms();
    let mut ffmpeg = publish(&push_url(&worker, &app, room), PUBLISH_S);
    wait_for(Duration::from_secs(20), "room 101", || async {
        api_status(&api, room).await == 101
    })
    .await;
    let live_seen = tokio::time::Instant::now();

    // Messages at known moments of the live, each answered "published" with its seq.
    let path = format!("/v1/rooms/{room}/messages");
    let mut posted: Vec<(u64, i64, i64)> = Vec::new(); // (seq, sent at, answered at)
    for (i, at) in POST_AT.iter().enumerate() {
        tokio::time::sleep_until(live_seen + *at).await;
        let sent = now_ms();
        let (status, body) = api
            .viewer_post(
                &viewers[i % 2],
                &path,
                &json!({ "text": format!("moment {i}") }).to_string(),
            )
            .await;
        let answered = now_ms();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "published", "{body}");
        // Posted during the live: the publisher is still sending.
        assert!(
            ffmpeg.try_wait().expect("ffmpeg status").is_none(),
            "ffmpeg ended before message {i} was posted: the message is not inside the live"
        );
        posted.push((body["seq"].as_u64().expect("seq"), sent, answered));
    }

    // The live ends: ffmpeg reaches the end of its input, the reconnect window (2 s) closes the
    // replay, the playlist landing is indexed.
    let (ok, err) = finish(ffmpeg, Duration::from_secs(90)).await;
    assert!(ok, "ffmpeg failed: {err}");
    let list = wait_for_one_replay(&api, room, Duration::from_secs(60)).await;
    let replay = &list["replays"][0];
    let replay_id = replay["replay_id"].as_str().expect("replay_id");
    let duration_s = replay["duration_s"].as_f64().expect("duration_s");
    let duration_ms = (duration_s * 1000.0).round() as i64;

    // The replay as players read it: one session, no discontinuity, so position p plays the
    // media the worker took at EXT-X-PROGRAM-DATE-TIME (first segment) + p. The worker stamps
    // each segment with its session's start (the claim, right after the publish hook allowed
    // it) plus the segment's media time since the session's first frame.
    let text = get_text(&format!("replays/{app}/{room}/{replay_id}.m3u8"))
        .await
        .expect("the replay playlist");
    let playlist = parse_media_playlist(&text).expect("a valid replay playlist");
    assert!(playlist.ended, "{text}");
    assert!(
        playlist.segments.iter().all(|s| !s.discontinuity),
        "one publish, one session: {text}"
    );
    let replay_start_ms = playlist.segments[0]
        .program_date_time_ms
        .expect("the first segment has EXT-X-PROGRAM-DATE-TIME");
    let extinf_ms: f64 = playlist.segments.iter().map(|s| s.duration * 1000.0).sum();
    assert!(
        (extinf_ms - duration_ms as f64).abs() <= 1.0,
        "listed duration {duration_s} s, playlist {extinf_ms} ms"
    );
    // The replay starts after the publisher was started.
    assert!(
        replay_start_ms >= spawned_ms,
        "{replay_start_ms} < {spawned_ms}"
    );

    // The history, signed, as the customer's backend reads it after the live.
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/messages?limit=100"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let messages: Vec<&Value> = r.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["type"] == "message")
        .collect();
    assert_eq!(
        messages
            .iter()
            .map(|m| m["seq"].as_u64())
            .collect::<Vec<_>>(),
        posted.iter().map(|p| Some(p.0)).collect::<Vec<_>>(),
        "{}",
        r.text
    );

    // When the worker began admitting the publish, before its publish hook: the replay id is
    // the session id of the replay's first publish, 13 hex digits of that time in ms first.
    let admitted_ms = i64::from_str_radix(&replay_id[..13], 16).expect("a time-ordered id");
    // The live's first 101, as the API kept it: the publish hook was applied after the worker
    // sent it and before the worker, answered, took the room (the replay's first
    // PROGRAM-DATE-TIME).
    let started_ms = api
        .stored_room(room)
        .await
        .lifecycle
        .live_started_at_ms
        .expect("the room went 101");
    assert!(
        (admitted_ms..=replay_start_ms).contains(&started_ms),
        "101 at {started_ms}, outside the publish hook [{admitted_ms}, {replay_start_ms}]"
    );

    let mut report = Vec::new();
    let mut previous = 0;
    for (m, &(seq, sent, answered)) in messages.iter().zip(&posted) {
        let at_ms = m["at_ms"].as_i64().expect("at_ms");
        let offset_ms = m["offset_ms"].as_i64().expect("offset_ms");
        // Accepted while the request was in flight (same host, same clock).
        assert!((sent..=answered).contains(&at_ms), "seq {seq}: {m}");
        // Where that moment is in the replay.
        let in_replay_ms = at_ms - replay_start_ms;
        report.push(format!(
            "seq {seq}: offset_ms {offset_ms}, replay position {in_replay_ms} ms, \
             difference {} ms",
            offset_ms - in_replay_ms
        ));

        // Inside the replay, and in posting order.
        assert!(
            (0..=duration_ms).contains(&offset_ms),
            "seq {seq}: offset_ms {offset_ms} outside the {duration_ms}-ms replay"
        );
        assert!(offset_ms >= previous, "seq {seq}: offset_ms went back");
        previous = offset_ms;

        // The documented definition: the time since the live first went 101.
        assert_eq!(offset_ms, at_ms - started_ms, "seq {seq}: {m}");
        // Lined up. The live goes 101 while the worker's publish hook is answered, and the
        // replay starts when the worker, answered, takes the room: `offset_ms` is never less
        // than the replay position and exceeds it by at most that hook's round trip, as this
        // run's own stamps bound it (not a tuned figure; nothing depends on machine speed).
        let hook_round_trip_ms = replay_start_ms - admitted_ms;
        assert!(
            (in_replay_ms..=in_replay_ms + hook_round_trip_ms).contains(&offset_ms),
            "seq {seq}: offset_ms {offset_ms} does not line up with replay position \
             {in_replay_ms} ms (the publish hook took {hook_round_trip_ms} ms); {m}"
        );
    }
    println!(
        "ffmpeg started {spawned_ms}, publish admitted {admitted_ms}, 101 at {started_ms}, \
         replay starts {replay_start_ms}, {duration_ms} ms long\n{}",
        report.join("\n")
    );
}
