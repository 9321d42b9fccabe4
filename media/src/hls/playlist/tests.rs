use super::*;

fn seg(uri: &str, duration: f64, discontinuity: bool, pdt: Option<i64>) -> PlaylistSegment {
    PlaylistSegment {
        uri: uri.to_owned(),
        duration,
        discontinuity,
        program_date_time_ms: pdt,
    }
}

/// 2026-11-23T10:00:00.000Z
const T0: i64 = 1_795_428_000_000;

#[test]
fn live_golden_first_segments() {
    let mut live = LivePlaylist::new(LivePlaylistConfig::default());
    assert_eq!(
        live.render(),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
    );
    live.push(seg("s0.ts", 2.0, false, Some(T0)));
    live.push(seg("s1.ts", 2.002, false, Some(T0 + 2000)));
    assert_eq!(
        live.render(),
        "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:00.000Z
#EXTINF:2.000,
s0.ts
#EXTINF:2.002,
s1.ts
"
    );
}

#[test]
fn live_golden_window_slides_over_discontinuities() {
    let mut live = LivePlaylist::new(LivePlaylistConfig {
        window_size: 3,
        target_duration_secs: 2,
    });
    // Session A: a0..a2; session B (reconnect): b0..b2; then c0 after a jump.
    live.push(seg("a0.ts", 2.0, false, Some(T0)));
    live.push(seg("a1.ts", 2.0, false, Some(T0 + 2_000)));
    live.push(seg("a2.ts", 2.6, false, Some(T0 + 4_000)));
    live.push(seg("b0.ts", 2.0, true, Some(T0 + 60_000)));
    live.push(seg("b1.ts", 2.0, false, Some(T0 + 62_000)));
    assert_eq!(
        live.render(),
        "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:3
#EXT-X-MEDIA-SEQUENCE:2
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:04.000Z
#EXTINF:2.600,
a2.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:01:00.000Z
#EXTINF:2.000,
b0.ts
#EXTINF:2.000,
b1.ts
"
    );
    live.push(seg("b2.ts", 1.4, false, None));
    live.push(seg("c0.ts", 2.0, true, None));
    live.set_ended(true);
    // b0's discontinuity slid out; target stays 3 (a2 was 2.6 s).
    assert_eq!(
        live.render(),
        "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:3
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:01:02.000Z
#EXTINF:2.000,
b1.ts
#EXTINF:1.400,
b2.ts
#EXT-X-DISCONTINUITY
#EXTINF:2.000,
c0.ts
#EXT-X-ENDLIST
"
    );
    assert_eq!(live.next_media_sequence(), 7);
    live.push(seg("d0.ts", 2.0, true, None));
    assert!(!live.is_ended());
    assert_eq!(live.discontinuity_sequence(), 1);
    assert_eq!(live.media_sequence(), 5);
}

#[test]
fn target_duration_rounds_to_nearest() {
    let cases = [
        (vec![1.0], 2),
        (vec![2.4994], 2),
        (vec![2.49951], 3), // written as 2.500, which rounds to 3
        (vec![2.5], 3),
        (vec![2.0, 4.2, 2.0], 4),
        (vec![f64::NAN, -1.0, f64::INFINITY], 2),
        (vec![10.51], 11),
    ];
    for (durations, expect) in cases {
        let mut live = LivePlaylist::new(LivePlaylistConfig::default());
        for d in &durations {
            live.push(seg("x.ts", *d, false, None));
        }
        assert_eq!(live.target_duration(), expect, "{durations:?}");
        let segments: Vec<_> = durations
            .iter()
            .map(|d| seg("x.ts", *d, false, None))
            .collect();
        let vod = render_vod_playlist(&segments, 2);
        assert!(vod.contains(&format!("#EXT-X-TARGETDURATION:{expect}\n")));
        // Every written EXTINF, rounded, is within the target.
        let parsed = parse_media_playlist(&vod).unwrap();
        for s in &parsed.segments {
            assert!(s.duration.round() as u64 <= parsed.target_duration);
        }
    }
    // Target never decreases once the big segment left the window.
    let mut live = LivePlaylist::new(LivePlaylistConfig {
        window_size: 1,
        target_duration_secs: 2,
    });
    live.push(seg("big.ts", 7.0, false, None));
    live.push(seg("small.ts", 2.0, false, None));
    assert_eq!(live.target_duration(), 7);
}

#[test]
fn vod_golden() {
    let segments = vec![
        seg("0.ts", 2.0, false, Some(T0)),
        seg("1.ts", 1.5, false, Some(T0 + 2_000)),
        seg("2.ts", 2.25, true, Some(T0 + 70_000)),
        seg("3.ts", 0.9, false, None),
    ];
    assert_eq!(
        render_vod_playlist(&segments, 2),
        "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:00.000Z
#EXTINF:2.000,
0.ts
#EXTINF:1.500,
1.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:01:10.000Z
#EXTINF:2.250,
2.ts
#EXTINF:0.900,
3.ts
#EXT-X-ENDLIST
"
    );
    assert_eq!(
        render_vod_playlist(&[], 2),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-ENDLIST\n"
    );
}

#[test]
fn parser_round_trips_vod_and_live() {
    let segments: Vec<_> = (0..50)
        .map(|i| {
            let disc = i % 17 == 5;
            let pdt = (i == 0 || disc).then_some(T0 + i * 2_000);
            seg(
                &format!("seg/{i:05}.ts"),
                2.0 + (i % 3) as f64 * 0.125,
                disc,
                pdt,
            )
        })
        .collect();
    let parsed = parse_media_playlist(&render_vod_playlist(&segments, 2)).unwrap();
    assert_eq!(parsed.segments, segments);
    assert_eq!(parsed.playlist_type, Some(PlaylistType::Vod));
    assert_eq!(parsed.version, Some(3));
    assert_eq!(parsed.target_duration, 2);
    assert_eq!(parsed.media_sequence, 0);
    assert!(parsed.ended);

    let mut live = LivePlaylist::new(LivePlaylistConfig::default());
    for s in &segments {
        live.push(s.clone());
    }
    let text = live.render();
    let parsed = parse_media_playlist(&text).unwrap();
    assert!(!parsed.ended && parsed.playlist_type.is_none());
    assert_eq!(parsed.media_sequence, live.media_sequence());
    assert_eq!(parsed.discontinuity_sequence, live.discontinuity_sequence());
    assert_eq!(parsed.segments.len(), 6);
    assert_eq!(parsed.segments[0].uri, "seg/00044.ts");

    // Resuming gives back the same playlist.
    let resumed = LivePlaylist::resume(LivePlaylistConfig::default(), parsed);
    assert_eq!(resumed.render(), text);
    // Resuming into a smaller window slides and counts correctly.
    let small = LivePlaylist::resume(
        LivePlaylistConfig {
            window_size: 2,
            target_duration_secs: 2,
        },
        parse_media_playlist(&render_vod_playlist(&segments, 2)).unwrap(),
    );
    assert_eq!(small.media_sequence(), 48);
    assert_eq!(small.discontinuity_sequence(), 3);
    assert!(small.is_ended());
}

#[test]
fn parser_accepts_crlf_blank_lines_and_comments() {
    let text =
        "#EXTM3U\r\n#EXT-X-TARGETDURATION:4\r\n\r\n# a comment\r\n#EXTINF:3.5,title\r\na.ts\r\n";
    let parsed = parse_media_playlist(text).unwrap();
    assert_eq!(parsed.segments, vec![seg("a.ts", 3.5, false, None)]);
    assert_eq!(parsed.target_duration, 4);
}

#[test]
fn parser_rejects_malformed_input_naming_the_line() {
    use PlaylistErrorKind::*;
    let head = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n";
    let cases: Vec<(String, usize, PlaylistErrorKind)> = vec![
        (String::new(), 1, MissingHeader),
        ("#EXTM3U".into(), 1, Truncated),
        ("EXTM3U\n".into(), 1, MissingHeader),
        ("#EXTM3U\n".into(), 1, MissingTargetDuration),
        (format!("{head}#EXTINF:2.000,\na.t"), 4, Truncated),
        (format!("{head}#EXTINF:2.000,\n"), 3, ExtinfWithoutUri),
        (
            format!("{head}#EXTINF:2.000,\n#EXTINF:2.000,\n"),
            4,
            ExtinfWithoutUri,
        ),
        (format!("{head}a.ts\n"), 3, UriWithoutExtinf),
        (format!("{head}#EXTINF:abc,\na.ts\n"), 3, InvalidValue),
        (format!("{head}#EXTINF:2.000\na.ts\n"), 3, InvalidValue),
        (format!("{head}#EXTINF:-2.0,\na.ts\n"), 3, InvalidValue),
        (format!("{head}#EXTINF:1e3,\na.ts\n"), 3, InvalidValue),
        (format!("{head}#EXTINF:,\na.ts\n"), 3, InvalidValue),
        (format!("{head}#EXTINF\na.ts\n"), 3, InvalidValue),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:x\n".into(), 2, InvalidValue),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:+2\n".into(),
            2,
            InvalidValue,
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:99999999999999999999999\n".into(),
            2,
            InvalidValue,
        ),
        (format!("{head}#EXT-X-TARGETDURATION:2\n"), 3, DuplicateTag),
        (format!("{head}#EXTM3U\n"), 3, DuplicateTag),
        (
            format!("{head}#EXTINF:2.0,\na.ts\n#EXT-X-MEDIA-SEQUENCE:4\n"),
            5,
            TagAfterSegment,
        ),
        (format!("{head}#EXT-X-KEY:METHOD=NONE\n"), 3, UnsupportedTag),
        (
            format!("{head}#EXT-X-PLAYLIST-TYPE:LIVE\n"),
            3,
            InvalidValue,
        ),
        (
            format!("{head}#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:2.0,\na.ts\n"),
            3,
            InvalidValue,
        ),
        (format!("{head}#EXT-X-DISCONTINUITY\n"), 3, Truncated),
        (
            format!("{head}#EXT-X-DISCONTINUITY\n#EXT-X-DISCONTINUITY\n"),
            4,
            DuplicateTag,
        ),
        (
            format!("{head}#EXT-X-ENDLIST\n#EXTINF:2.0,\na.ts\n"),
            4,
            ContentAfterEndlist,
        ),
        (format!("{head}#EXT-X-ENDLIST:1\n"), 3, InvalidValue),
        (
            format!("{head}#EXTINF:2.0,\n#EXT-X-ENDLIST\n"),
            4,
            Truncated,
        ),
    ];
    for (text, line, kind) in cases {
        match parse_media_playlist(&text) {
            Err(Error::Playlist {
                line: got_line,
                kind: got_kind,
                ..
            }) => assert_eq!((got_line, got_kind), (line, kind), "{text:?}"),
            other => panic!("{text:?}: expected error, got {other:?}"),
        }
    }
    let err = parse_media_playlist(&format!("{head}bogus.ts\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "playlist line 3: URI without a preceding #EXTINF (`bogus.ts`)"
    );
}

#[test]
fn parser_handles_every_truncation_of_a_valid_playlist() {
    let segments: Vec<_> = (0..20)
        .map(|i| seg(&format!("{i}.ts"), 2.0, i == 7, (i == 7).then_some(T0)))
        .collect();
    let text = render_vod_playlist(&segments, 2);
    for cut in 0..text.len() {
        let prefix = &text[..cut];
        if let Ok(parsed) = parse_media_playlist(prefix) {
            // Only cuts at a line boundary after a URI line (or after the
            // header block) may parse, and they lack ENDLIST.
            assert!(prefix.ends_with('\n'));
            assert!(!parsed.ended);
            assert!(parsed.segments.len() <= segments.len());
        }
    }
}

#[test]
fn parses_21600_segments_quickly() {
    let segments: Vec<_> = (0..21_600)
        .map(|i| {
            seg(
                &format!("2026/11/23/room-1234/session-5678/{i:06}.ts"),
                2.0 + (i % 7) as f64 / 100.0,
                i % 1000 == 999,
                (i % 1000 == 999).then_some(T0 + i * 2000),
            )
        })
        .collect();
    let text = render_vod_playlist(&segments, 2);
    let start = std::time::Instant::now();
    let parsed = parse_media_playlist(&text).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(parsed.segments.len(), 21_600);
    assert_eq!(parsed.segments, segments);
    // Generous bound: unoptimized test builds on a busy CI box. The release
    // build parses this in a few milliseconds.
    assert!(elapsed.as_millis() < 500, "took {elapsed:?}");
}
