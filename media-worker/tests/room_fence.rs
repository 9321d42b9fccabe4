//! One room, two workers, driven directly against the local stack's S3 (SeaweedFS): the race
//! of docs/api.md "Many workers, one room" without timing luck. A worker whose session was
//! superseded keeps writing, late, and every write of the live playlist and every close it
//! tries is refused by the bucket; the replay still holds every segment that reached it.

mod common;

use bytes::Bytes;
use common::{bucket, s3_endpoint};
use zhibo_media::hls::{parse_media_playlist, LivePlaylistConfig, Segment};
use zhibo_media_worker::room_hls::{RoomHls, RoomWrites};
use zhibo_media_worker::sink::{MediaObjects, S3Objects};
use zhibo_store::live_room::{claim_room, close_replay, ClaimError, CloseRule, Closed};

const WINDOW_MS: i64 = 900_000;

async fn objects() -> S3Objects {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    S3Objects::new(
        zhibo_store::aws::s3_client(&sdk, Some(&s3_endpoint())),
        bucket(),
    )
}

fn seg(sequence: u64) -> Segment {
    Segment {
        sequence,
        duration: 2.0,
        discontinuity: false,
        start_offset: sequence as f64 * 2.0,
        start_dts_90k: 0,
        start_timestamp_ms: 0,
        starts_with_keyframe: true,
        has_video: true,
        has_audio: true,
        data: Bytes::from(vec![0x47; 188 * 4]),
    }
}

async fn claim(
    objects: &S3Objects,
    room: u64,
    session: &str,
    now_ms: i64,
) -> Result<RoomHls, ClaimError> {
    let cfg = LivePlaylistConfig::default();
    let claimed = claim_room(
        objects,
        "e2e",
        room,
        session,
        now_ms,
        WINDOW_MS,
        RoomHls::empty_playlist(cfg),
    )
    .await?;
    Ok(RoomHls::from_claim(
        "e2e", room, cfg, session, now_ms, claimed,
    ))
}

/// Stores `writes` as the upload queue does: objects, then the playlist through the fence.
async fn store(objects: &S3Objects, room: &RoomHls, writes: RoomWrites) -> Result<(), String> {
    for o in &writes.objects {
        objects.put(o).await.map_err(|e| e.to_string())?;
    }
    if let Some(p) = &writes.playlist {
        room.fence()
            .put(objects, p)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn live_text(objects: &S3Objects, room: u64) -> String {
    let o = objects
        .get(&format!("live/e2e/{room}/index.m3u8"))
        .await
        .unwrap()
        .expect("live playlist");
    String::from_utf8(o.body.to_vec()).unwrap()
}

#[tokio::test]
async fn a_superseded_workers_late_writes_and_close_are_refused() {
    let objects = objects().await;
    let room = common::unique_room();
    // Worker A publishes session s1.
    let mut a = claim(&objects, room, "0001-s1", 1_000)
        .await
        .expect("claim s1");
    for n in 0..3 {
        let w = a.on_segment(&seg(n), 2_000 + n as i64).unwrap();
        store(&objects, &a, w)
            .await
            .expect("A writes while it holds the room");
    }
    // The encoder reconnects through the load balancer and lands on worker B (session s2),
    // while A still holds the old socket.
    let mut b = claim(&objects, room, "0002-s2", 10_000)
        .await
        .expect("claim s2");
    assert!(
        b.continued(),
        "a takeover inside the window continues the replay"
    );
    assert_eq!(b.replay_id(), "0001-s1");

    // A's late writes: its segment reaches the bucket (its own key), its playlist is refused.
    let late = a.on_segment(&seg(3), 11_000).unwrap();
    let refused = store(&objects, &a, late)
        .await
        .expect_err("a superseded write of the live playlist");
    assert!(
        refused.contains("superseded by session 0002-s2"),
        "{refused}"
    );
    assert!(a.fence().shut_out().is_some());
    // ... and stays refused, whatever it writes: an ended playlist over a live that moved on
    // never lands.
    let end = a.end_session(12_000);
    assert!(store(&objects, &a, end).await.is_err());
    assert_eq!(
        close_replay(
            &objects,
            "e2e",
            room,
            999_999_999,
            CloseRule::Own {
                session_id: "0001-s1".into()
            }
        )
        .await
        .unwrap(),
        Closed::NotAllowed
    );
    let text = live_text(&objects, room).await;
    assert!(!text.contains("#EXT-X-ENDLIST"), "{text}");

    // B goes on: the media sequence continues after a discontinuity.
    for n in 0..2 {
        let w = b.on_segment(&seg(n), 13_000 + n as i64).unwrap();
        store(&objects, &b, w).await.expect("B writes");
    }
    let live = parse_media_playlist(&live_text(&objects, room).await).unwrap();
    let uris: Vec<_> = live.segments.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "0001-s1/0.ts",
            "0001-s1/1.ts",
            "0001-s1/2.ts",
            "0002-s2/0.ts",
            "0002-s2/1.ts"
        ]
    );
    assert!(live.segments[3].discontinuity);
    let w = b.end_session(20_000);
    store(&objects, &b, w).await.unwrap();
    let Closed::Now(Some(summary)) = close_replay(
        &objects,
        "e2e",
        room,
        20_001,
        CloseRule::Own {
            session_id: "0002-s2".into(),
        },
    )
    .await
    .unwrap() else {
        panic!("B closes its replay");
    };
    // Every segment that reached the bucket is in the one replay, A's late one included.
    assert_eq!(summary.segments, 6);
    assert_eq!(summary.sessions, ["0001-s1", "0002-s2"]);
    let replay = objects
        .get(&format!("replays/e2e/{room}/0001-s1.m3u8"))
        .await
        .unwrap()
        .unwrap();
    let replay = parse_media_playlist(std::str::from_utf8(&replay.body).unwrap()).unwrap();
    assert_eq!(replay.segments.len(), 6);
    assert!(live_text(&objects, room).await.contains("#EXT-X-ENDLIST"));
}

#[tokio::test]
async fn of_two_racing_claims_the_newer_session_writes_the_room() {
    let objects = objects().await;
    let room = common::unique_room();
    let mut a = claim(&objects, room, "0001-a", 1_000).await.unwrap();
    let w = a.on_segment(&seg(0), 2_000).unwrap();
    store(&objects, &a, w).await.unwrap();
    // Two republishes granted at once, on two workers.
    let (older, newer) = tokio::join!(
        claim(&objects, room, "0002-b", 5_000),
        claim(&objects, room, "0003-c", 5_000)
    );
    let mut newer = newer.expect("the newest session always gets the room");
    match older {
        // It claimed first, then the newer one took over: its first write is refused.
        Ok(mut older) => {
            let w = older.on_segment(&seg(0), 6_000).unwrap();
            let e = store(&objects, &older, w).await.expect_err("superseded");
            assert!(e.contains("superseded by session 0003-c"), "{e}");
        }
        Err(ClaimError::Superseded { by }) => assert_eq!(by, "0003-c"),
        Err(e) => panic!("unexpected: {e}"),
    }
    let w = newer.on_segment(&seg(0), 7_000).unwrap();
    store(&objects, &newer, w)
        .await
        .expect("the newest session writes");
    let head = objects
        .head(&format!("live/e2e/{room}/index.m3u8"))
        .await
        .unwrap()
        .unwrap();
    assert!(head
        .metadata_pairs()
        .any(|(k, v)| k.eq_ignore_ascii_case("zhibo-session") && v == "0003-c"));
    // A claim of an older session after it is refused outright.
    match claim(&objects, room, "0002-z", 8_000).await {
        Err(ClaimError::Superseded { by }) => assert_eq!(by, "0003-c"),
        other => panic!(
            "an older session must not claim: {:?}",
            other.map(|r| r.session_id().to_string())
        ),
    }
}

#[tokio::test]
async fn a_republish_after_the_window_starts_a_new_replay_and_closes_the_old_one() {
    let objects = objects().await;
    let room = common::unique_room();
    let mut a = claim(&objects, room, "0001-a", 0).await.unwrap();
    for n in 0..2 {
        let w = a.on_segment(&seg(n), 1_000).unwrap();
        store(&objects, &a, w).await.unwrap();
    }
    let w = a.end_session(5_000);
    store(&objects, &a, w).await.unwrap();
    // Near the end of the window: continues.
    let near = claim(&objects, room, "0002-b", 5_000 + WINDOW_MS)
        .await
        .unwrap();
    assert!(near.continued());
    assert_eq!(near.replay_id(), "0001-a");
    drop(near);
    // The head now says 0002-b is live (it wrote nothing, then died): after the window from
    // its claim, the next publish closes that replay and starts another.
    let after = claim(&objects, room, "0003-c", 5_000 + 2 * WINDOW_MS + 1)
        .await
        .unwrap();
    assert!(!after.continued());
    assert_eq!(after.replay_id(), "0003-c");
    let old = objects
        .get(&format!("replays/e2e/{room}/0001-a.m3u8"))
        .await
        .unwrap()
        .expect("the old replay was closed");
    let old = parse_media_playlist(std::str::from_utf8(&old.body).unwrap()).unwrap();
    assert_eq!(old.segments.len(), 2);
}

/// A journal chunk that is not JSON, and one that names another session, are skipped: the
/// replay takes those segments' entries from the segments' own metadata and loses none.
#[tokio::test]
async fn malformed_journal_chunks_are_skipped_and_segment_metadata_fills_in() {
    use zhibo_media_worker::sink::{ObjectPut, PutCondition};
    let objects = objects().await;
    let room = common::unique_room();
    let mut a = claim(&objects, room, "0001-s1", 1_000)
        .await
        .expect("claim s1");
    // 40 segments: one full chunk of 32 entries, the rest in the chunk written at the end.
    for n in 0..40 {
        let w = a.on_segment(&seg(n), 2_000 + n as i64).unwrap();
        store(&objects, &a, w).await.expect("A writes");
    }
    let w = a.end_session(100_000);
    store(&objects, &a, w).await.unwrap();
    let session = objects
        .list(&format!("live/e2e/{room}/0001-s1/"), false)
        .await
        .unwrap();
    let chunks: Vec<&String> = session
        .objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.contains("/journal-"))
        .collect();
    assert_eq!(chunks.len(), 2, "{chunks:?}");
    let garbage = |key: &str, body: &'static [u8]| ObjectPut {
        key: key.to_string(),
        body: Bytes::from_static(body),
        content_type: "application/json",
        cache_control: "no-cache",
        metadata: Vec::new(),
        condition: PutCondition::None,
    };
    objects
        .put(&garbage(chunks[0], b"{\"not\": \"a journal chunk\"\x00"))
        .await
        .unwrap();
    objects
        .put(&garbage(
            chunks[1],
            br#"{"session_id":"0009-other","entries":[]}"#,
        ))
        .await
        .unwrap();

    let Closed::Now(Some(summary)) = close_replay(
        &objects,
        "e2e",
        room,
        100_001,
        CloseRule::Own {
            session_id: "0001-s1".into(),
        },
    )
    .await
    .unwrap() else {
        panic!("A closes its replay");
    };
    assert_eq!(summary.segments, 40);
    let replay = objects
        .get(&format!("replays/e2e/{room}/0001-s1.m3u8"))
        .await
        .unwrap()
        .unwrap();
    let replay = parse_media_playlist(std::str::from_utf8(&replay.body).unwrap()).unwrap();
    let uris: Vec<String> = replay.segments.iter().map(|s| s.uri.clone()).collect();
    let want: Vec<String> = (0..40)
        .map(|n| format!("../../../live/e2e/{room}/0001-s1/{n}.ts"))
        .collect();
    assert_eq!(uris, want);
    assert!(replay.segments.iter().all(|s| s.duration == 2.0));
}
