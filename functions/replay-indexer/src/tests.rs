use super::*;

const KEY: &str = "replays/demo/7/r1.m3u8";

fn playlist(segments: &[(&str, f64, bool)], end: bool) -> String {
    let mut out = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n",
    );
    for (i, (uri, d, disc)) in segments.iter().enumerate() {
        if *disc {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if i == 0 {
            out.push_str("#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:00.500Z\n");
        }
        out.push_str(&format!("#EXTINF:{d:.3},\n{uri}\n"));
    }
    if end {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[test]
fn a_worker_playlist_is_summed_up() {
    let text = playlist(
        &[
            ("../../../live/demo/7/s1/0.ts", 2.0, false),
            ("../../../live/demo/7/s1/1.ts", 2.002, false),
            ("../../../live/demo/7/s2/0.ts", 1.5, true),
        ],
        true,
    );
    let facts = inspect_playlist(KEY, text.as_bytes()).unwrap();
    assert_eq!(facts.segments, 3);
    assert_eq!(facts.discontinuities, 1);
    assert!((facts.duration_s - 5.502).abs() < 1e-9);
    assert_eq!(
        facts.first_program_date_time_ms,
        Some(1_795_428_000_500),
        "2026-11-23T10:00:00.500Z"
    );
    assert_eq!(
        facts.segment_keys,
        [
            "live/demo/7/s1/0.ts",
            "live/demo/7/s1/1.ts",
            "live/demo/7/s2/0.ts"
        ]
    );
}

#[test]
fn incomplete_or_malformed_playlists_are_rejected_with_the_reason() {
    let ok = playlist(&[("../../../live/demo/7/s1/0.ts", 2.0, false)], true);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            playlist(&[("../../../live/demo/7/s1/0.ts", 2.0, false)], false).into_bytes(),
            "EXT-X-ENDLIST",
        ),
        (ok.as_bytes()[..ok.len() - 3].to_vec(), "line"),
        (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-ENDLIST\n".to_vec(),
            "no segments",
        ),
        (b"not a playlist\n".to_vec(), "line 1"),
        (vec![0xff, 0xfe, 0x00], "UTF-8"),
        (Vec::new(), ""),
        (
            playlist(&[("https://evil.example/x.ts", 2.0, false)], true).into_bytes(),
            "does not name an object",
        ),
        (
            playlist(&[("../../../../../etc/x.ts", 2.0, false)], true).into_bytes(),
            "does not name an object",
        ),
        // L11: a playlist names only its own room's media.
        (
            playlist(&[("../../../live/other/7/s1/0.ts", 2.0, false)], true).into_bytes(),
            "outside this room",
        ),
        (
            playlist(&[("../../../live/demo/70/s1/0.ts", 2.0, false)], true).into_bytes(),
            "outside this room",
        ),
        (
            playlist(&[("../../../replays/demo/8/r.m3u8", 2.0, false)], true).into_bytes(),
            "outside this room",
        ),
        (
            playlist(&[("seg/0.ts", 2.0, false)], true).into_bytes(),
            "outside this room",
        ),
        (
            ok.replace("#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-PLAYLIST-TYPE:EVENT")
                .into_bytes(),
            "VOD",
        ),
    ];
    for (body, needle) in cases {
        match inspect_playlist(KEY, &body) {
            Err(Rejected::Malformed(why)) => {
                assert!(why.contains(needle), "{why:?} lacks {needle:?}")
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&body)),
        }
    }
}

#[test]
fn keys_resolve_inside_the_bucket_only() {
    assert_eq!(
        object_keys::resolve_uri(KEY, "../../../live/demo/7/s/0.ts").as_deref(),
        Some("live/demo/7/s/0.ts")
    );
    assert_eq!(
        object_keys::resolve_uri(KEY, "seg/0.ts").as_deref(),
        Some("replays/demo/7/seg/0.ts")
    );
    assert_eq!(object_keys::resolve_uri(KEY, "../../../../x.ts"), None);
    assert_eq!(object_keys::resolve_uri(KEY, "/abs/x.ts"), None);
    assert_eq!(object_keys::resolve_uri(KEY, "x.ts?sig=1"), None);
}

#[test]
fn times_come_from_metadata_then_program_date_time_then_the_object() {
    let facts = PlaylistFacts {
        duration_s: 50.0,
        segments: 25,
        discontinuities: 1,
        first_program_date_time_ms: Some(1_000_000_500),
        segment_keys: Vec::new(),
    };
    let meta = HashMap::from([
        (metadata::START_MS.to_string(), "900000000".to_string()),
        (metadata::END_MS.to_string(), "900060000".to_string()),
    ]);
    let ids = ("demo", 7, "r1");
    let r = replay_record(ids, KEY, &facts, &meta, 123, 5_000_000_000, 365, 7);
    assert_eq!((r.create_time, r.end_time), (900_000, 900_060));
    assert_eq!(r.expire_time, 900_000 + 365 * 86_400);
    assert_eq!((r.size_bytes, r.segments, r.discontinuities), (123, 25, 1));
    assert!(r.event_id.starts_with("evt_"));
    let r = replay_record(ids, KEY, &facts, &HashMap::new(), 0, 5_000_000_000, 1, 7);
    assert_eq!((r.create_time, r.end_time), (1_000_000, 1_000_050));
    let no_pdt = PlaylistFacts {
        first_program_date_time_ms: None,
        ..facts
    };
    let r = replay_record(ids, KEY, &no_pdt, &HashMap::new(), 0, 5_000_000_000, 1, 7);
    assert_eq!((r.create_time, r.end_time), (4_999_950, 5_000_000));
}

#[test]
fn event_keys_are_url_decoded_as_s3_encodes_them() {
    assert_eq!(
        decode_event_key("replays/demo/7/a+b%2Bc%E7%9B%B4.m3u8").as_deref(),
        Some("replays/demo/7/a b+c直.m3u8")
    );
    assert_eq!(decode_event_key("%FF"), None);
}
