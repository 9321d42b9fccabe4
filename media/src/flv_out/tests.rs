use proptest::prelude::*;

use super::*;
use crate::flv::{self, AacPacket, AvcPacket};

/// One tag read back from an FLV byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tag {
    tag_type: u8,
    timestamp: u32,
    body: Vec<u8>,
}

/// A strict little FLV reader, independent of the encoder: checks the file
/// header, every `StreamID` and `PreviousTagSize`, and that nothing trails.
/// Returns the header flags byte and the tags.
fn parse_flv(data: &[u8]) -> std::result::Result<(u8, Vec<Tag>), String> {
    let header = data.get(..13).ok_or("short file header")?;
    if &header[..4] != b"FLV\x01" {
        return Err(format!("bad signature/version {:02x?}", &header[..4]));
    }
    if header[5..9] != [0, 0, 0, 9] || header[9..13] != [0, 0, 0, 0] {
        return Err("bad DataOffset or PreviousTagSize0".into());
    }
    let flags = header[4];
    if flags & !0x05 != 0 {
        return Err(format!("reserved flag bits set: {flags:#x}"));
    }
    Ok((flags, parse_tags(&data[13..])?))
}

/// Tags only (each followed by its `PreviousTagSize`).
fn parse_tags(mut data: &[u8]) -> std::result::Result<Vec<Tag>, String> {
    let mut tags = Vec::new();
    while !data.is_empty() {
        let h = data.get(..11).ok_or("short tag header")?;
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        if h[8..11] != [0, 0, 0] {
            return Err("non-zero StreamID".into());
        }
        let body = data.get(11..11 + size).ok_or("short tag body")?.to_vec();
        let prev = data
            .get(11 + size..15 + size)
            .ok_or("short PreviousTagSize")?;
        if u32::from_be_bytes([prev[0], prev[1], prev[2], prev[3]]) as usize != 11 + size {
            return Err("PreviousTagSize mismatch".into());
        }
        tags.push(Tag {
            tag_type: h[0],
            timestamp,
            body,
        });
        data = &data[15 + size..];
    }
    Ok(tags)
}

fn concat(parts: &[Bytes]) -> Vec<u8> {
    parts.iter().flat_map(|part| part.iter().copied()).collect()
}

fn avc_seq(version: u8) -> Vec<u8> {
    vec![0x17, 0, 0, 0, 0, 1, 0x64, 0x00, version]
}
fn key(n: u8) -> Vec<u8> {
    vec![0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65, n]
}
fn inter(n: u8) -> Vec<u8> {
    vec![0x27, 1, 0, 0, 0x21, 0, 0, 0, 1, 0x41, n]
}
fn aac_seq(second: u8) -> Vec<u8> {
    vec![0xAF, 0, 0x12, second]
}
fn aac(n: u8) -> Vec<u8> {
    vec![0xAF, 1, 0x21, n]
}

fn tag(tag_type: u8, timestamp: u32, body: &[u8]) -> Tag {
    Tag {
        tag_type,
        timestamp,
        body: body.to_vec(),
    }
}

/// The start a viewer gets, read back.
fn start_tags(stream: &FlvStream) -> (u8, Vec<Tag>) {
    parse_flv(&concat(&stream.start_for_new_viewer())).expect("start parses")
}

#[test]
fn file_header_bytes() {
    let cases = [
        (false, false, 0x00),
        (false, true, 0x01),
        (true, false, 0x04),
        (true, true, 0x05),
    ];
    for (audio, video, flags) in cases {
        assert_eq!(
            file_header(audio, video).as_ref(),
            &[b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0],
            "audio {audio} video {video}"
        );
    }
}

#[test]
fn tag_bytes() {
    let body = [0x17, 0x01, 0x00, 0x00, 0x00, 0xAA];
    let encoded = encode_tag(TagType::Video, 0x0001_0203, &body).unwrap();
    let expect: Vec<u8> = [
        &[
            0x09, 0x00, 0x00, 0x06, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00,
        ][..],
        &body[..],
        &[0x00, 0x00, 0x00, 0x11][..],
    ]
    .concat();
    assert_eq!(encoded.as_ref(), &expect[..]);

    let audio = encode_tag(TagType::Audio, 0, &[0xAF, 1]).unwrap();
    assert_eq!(
        audio.as_ref(),
        &[8, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0xAF, 1, 0, 0, 0, 13]
    );
    let script = encode_tag(TagType::Script, 40, &[]).unwrap();
    assert_eq!(
        script.as_ref(),
        &[18, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 11]
    );
}

#[test]
fn extended_timestamps() {
    let cases: [(u32, [u8; 4]); 5] = [
        (0x00FF_FFFF, [0xFF, 0xFF, 0xFF, 0x00]),
        (0x0100_0000, [0x00, 0x00, 0x00, 0x01]),
        (0x1234_5678, [0x34, 0x56, 0x78, 0x12]),
        (0xFFFF_FFFF, [0xFF, 0xFF, 0xFF, 0xFF]),
        (0, [0, 0, 0, 0]),
    ];
    for (ts, bytes) in cases {
        let encoded = encode_tag(TagType::Audio, ts, &[0xAF, 1, 7]).unwrap();
        assert_eq!(&encoded[4..8], &bytes, "ts {ts:#x}");
        assert_eq!(
            parse_tags(&encoded).unwrap(),
            vec![tag(8, ts, &[0xAF, 1, 7])]
        );
    }
}

#[test]
fn tag_size_limit() {
    let max = vec![0u8; MAX_TAG_BODY_LEN];
    let encoded = encode_tag(TagType::Video, 0, &max).unwrap();
    assert_eq!(&encoded[1..4], &[0xFF, 0xFF, 0xFF]);
    assert_eq!(
        &encoded[encoded.len() - 4..],
        &(MAX_TAG_BODY_LEN as u32 + 11).to_be_bytes()
    );
    drop(encoded);
    let too_big = vec![0u8; MAX_TAG_BODY_LEN + 1];
    assert_eq!(
        encode_tag(TagType::Video, 0, &too_big),
        Err(Error::FlvTagTooLarge(MAX_TAG_BODY_LEN + 1))
    );
    let mut stream = FlvStream::default();
    assert!(stream.on_video(0, &too_big).is_err());
    assert!(stream.on_audio(0, &too_big).is_err());
    assert!(!stream.has_video() && !stream.has_audio());
}

#[test]
fn on_metadata_amf0_bytes() {
    let meta = OnMetaData {
        width: Some(1280),
        stereo: Some(true),
        encoder: Some("obs".into()),
        ..OnMetaData::default()
    };
    let mut expect = vec![0x02, 0, 10];
    expect.extend_from_slice(b"onMetaData");
    expect.extend_from_slice(&[0x08, 0, 0, 0, 3]);
    expect.extend_from_slice(&[0, 5]);
    expect.extend_from_slice(b"width");
    expect.extend_from_slice(&[0x00, 0x40, 0x94, 0, 0, 0, 0, 0, 0]); // 1280.0
    expect.extend_from_slice(&[0, 6]);
    expect.extend_from_slice(b"stereo");
    expect.extend_from_slice(&[0x01, 0x01]);
    expect.extend_from_slice(&[0, 7]);
    expect.extend_from_slice(b"encoder");
    expect.extend_from_slice(&[0x02, 0, 3]);
    expect.extend_from_slice(b"obs");
    expect.extend_from_slice(&[0, 0, 9]);
    assert_eq!(meta.encode(), expect);

    let empty = OnMetaData {
        frame_rate: Some(f64::NAN),
        ..OnMetaData::default()
    };
    let mut expect = vec![0x02, 0, 10];
    expect.extend_from_slice(b"onMetaData");
    expect.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(empty.encode(), expect);

    // 254 ASCII bytes then a 2-byte character: cut before it.
    let long = OnMetaData {
        encoder: Some(format!("{}é", "a".repeat(254))),
        ..OnMetaData::default()
    };
    let body = long.encode();
    let at = 13 + 5 + 2 + 7;
    assert_eq!(&body[at..at + 3], &[0x02, 0, 254]);
    assert_eq!(body.len(), at + 3 + 254 + 3);
}

#[test]
fn broadcast_tags_round_trip_and_are_shared_with_the_cache() {
    let mut stream = FlvStream::default();
    let mut sent = Vec::new();
    let input: Vec<(u8, u32, Vec<u8>)> = vec![
        (9, 0, avc_seq(1)),
        (8, 0, aac_seq(0x10)),
        (9, 0, key(0)),
        (8, 10, aac(0)),
        (9, 33, inter(1)),
        (8, 0x0100_0005, aac(1)),
        (9, 0x0100_0010, inter(2)),
    ];
    for (kind, ts, body) in &input {
        let out = if *kind == 9 {
            stream.on_video(*ts, body)
        } else {
            stream.on_audio(*ts, body)
        };
        let out = out.unwrap().unwrap();
        assert_eq!(
            out,
            encode_tag(
                if *kind == 9 {
                    TagType::Video
                } else {
                    TagType::Audio
                },
                *ts,
                body
            )
            .unwrap()
        );
        sent.push(out);
    }
    let expect: Vec<Tag> = input.iter().map(|(k, ts, b)| tag(*k, *ts, b)).collect();
    assert_eq!(parse_tags(&concat(&sent)).unwrap(), expect);
    // The GOP (key, aac, inter, aac, inter) is the very allocations broadcast.
    let start = stream.start_for_new_viewer();
    let cached = &start[start.len() - 5..];
    for (cached, sent) in cached.iter().zip(&sent[2..]) {
        assert_eq!(cached.as_ptr(), sent.as_ptr());
    }
}

#[test]
fn new_viewer_starts_at_latest_keyframe() {
    let mut stream = FlvStream::default();
    let meta = OnMetaData {
        width: Some(640),
        ..OnMetaData::default()
    }
    .encode();
    assert!(stream.on_metadata(&meta).unwrap().is_some());
    stream.on_video(0, &avc_seq(1)).unwrap();
    stream.on_audio(0, &aac_seq(0x10)).unwrap();
    stream.on_video(0, &key(0)).unwrap();
    stream.on_audio(5, &aac(0)).unwrap();
    stream.on_video(40, &inter(1)).unwrap();
    stream.on_video(2000, &key(2)).unwrap();
    stream.on_audio(2010, &aac(2)).unwrap();
    stream.on_video(2040, &inter(3)).unwrap();

    let (flags, tags) = start_tags(&stream);
    assert_eq!(flags, 0x05);
    assert_eq!(
        tags,
        vec![
            tag(18, 2000, &meta),
            tag(9, 2000, &avc_seq(1)),
            tag(8, 2000, &aac_seq(0x10)),
            tag(9, 2000, &key(2)),
            tag(8, 2010, &aac(2)),
            tag(9, 2040, &inter(3)),
        ]
    );
    // Read with the crate's own body parser: sequence headers, then a keyframe first.
    let videos: Vec<_> = tags
        .iter()
        .filter(|t| t.tag_type == 9)
        .map(|t| flv::parse_video(&t.body).unwrap())
        .collect();
    assert!(matches!(
        videos[0].packet,
        Some(AvcPacket::SequenceHeader(_))
    ));
    assert!(videos[1].frame_type.is_key());
    assert!(matches!(videos[1].packet, Some(AvcPacket::Nalus { .. })));
    let first_audio = tags.iter().find(|t| t.tag_type == 8).unwrap();
    assert!(matches!(
        flv::parse_audio(&first_audio.body).unwrap().packet,
        AacPacket::SequenceHeader(_)
    ));
    assert_eq!(stream.cached_tags(), 3);
}

#[test]
fn before_first_keyframe_only_headers() {
    let mut stream = FlvStream::default();
    let (flags, tags) = start_tags(&stream);
    assert_eq!((flags, tags), (0, vec![]));
    stream.on_video(100, &avc_seq(1)).unwrap();
    stream.on_audio(100, &aac_seq(0x10)).unwrap();
    stream.on_audio(120, &aac(0)).unwrap();
    stream.on_video(133, &inter(0)).unwrap();
    let (flags, tags) = start_tags(&stream);
    assert_eq!(flags, 0x05);
    assert_eq!(
        tags,
        vec![tag(9, 133, &avc_seq(1)), tag(8, 133, &aac_seq(0x10))]
    );
}

#[test]
fn sequence_header_change_mid_stream() {
    let mut stream = FlvStream::default();
    stream.on_video(0, &avc_seq(1)).unwrap();
    stream.on_audio(0, &aac_seq(0x10)).unwrap();
    stream.on_video(0, &key(0)).unwrap();
    // Encoder restarts with new parameters: new headers are broadcast too.
    let new_avc = stream.on_video(5000, &avc_seq(2)).unwrap().unwrap();
    assert_eq!(
        parse_tags(&new_avc).unwrap(),
        vec![tag(9, 5000, &avc_seq(2))]
    );
    stream.on_audio(5000, &aac_seq(0x08)).unwrap();
    // The old GOP does not follow the new header: nothing cached until a keyframe.
    assert_eq!(stream.cached_tags(), 0);
    stream.on_video(5010, &inter(9)).unwrap();
    assert_eq!(stream.cached_tags(), 0);
    stream.on_video(5000, &key(1)).unwrap();
    // The same header again (sent before each keyframe by some encoders) keeps the GOP.
    stream.on_video(5000, &avc_seq(2)).unwrap();
    assert_eq!(stream.cached_tags(), 1);
    let (_, tags) = start_tags(&stream);
    assert_eq!(
        tags,
        vec![
            tag(9, 5000, &avc_seq(2)),
            tag(8, 5000, &aac_seq(0x08)),
            tag(9, 5000, &key(1)),
        ]
    );
}

#[test]
fn audio_only_keeps_a_short_tail() {
    let mut stream = FlvStream::new(FlvStreamConfig {
        audio_only_tail_ms: 100,
        ..FlvStreamConfig::default()
    });
    stream.on_audio(0, &aac_seq(0x10)).unwrap();
    for i in 0..20u8 {
        stream.on_audio(u32::from(i) * 23, &aac(i)).unwrap();
    }
    let (flags, tags) = start_tags(&stream);
    assert_eq!(flags, 0x04);
    // Newest at 437: keep 337..=437, i.e. 345 (i = 15) on.
    let mut expect = vec![tag(8, 345, &aac_seq(0x10))];
    expect.extend((15..20u8).map(|i| tag(8, u32::from(i) * 23, &aac(i))));
    assert_eq!(tags, expect);

    // Timestamps going backwards (encoder restart) drop the older tail.
    stream.on_audio(3, &aac(99)).unwrap();
    let (_, tags) = start_tags(&stream);
    assert_eq!(tags, vec![tag(8, 3, &aac_seq(0x10)), tag(8, 3, &aac(99))]);

    // Video appears: the tail is dropped, caching restarts at the keyframe.
    stream.on_video(50, &avc_seq(1)).unwrap();
    assert_eq!(stream.cached_tags(), 0);
    stream.on_audio(60, &aac(100)).unwrap();
    assert_eq!(stream.cached_tags(), 0);
    stream.on_video(66, &key(0)).unwrap();
    stream.on_audio(70, &aac(101)).unwrap();
    let (flags, tags) = start_tags(&stream);
    assert_eq!(flags, 0x05);
    assert_eq!(
        tags,
        vec![
            tag(9, 66, &avc_seq(1)),
            tag(8, 66, &aac_seq(0x10)),
            tag(9, 66, &key(0)),
            tag(8, 70, &aac(101)),
        ]
    );
}

#[test]
fn video_only() {
    let mut stream = FlvStream::default();
    stream.on_video(0, &avc_seq(1)).unwrap();
    stream.on_video(0, &key(0)).unwrap();
    stream.on_video(33, &inter(1)).unwrap();
    let (flags, tags) = start_tags(&stream);
    assert_eq!(flags, 0x01);
    assert_eq!(
        tags,
        vec![
            tag(9, 0, &avc_seq(1)),
            tag(9, 0, &key(0)),
            tag(9, 33, &inter(1))
        ]
    );
}

#[test]
fn oversized_gop_is_dropped_until_next_keyframe() {
    let mut stream = FlvStream::new(FlvStreamConfig {
        max_cache_tags: 3,
        ..FlvStreamConfig::default()
    });
    stream.on_video(0, &avc_seq(1)).unwrap();
    stream.on_video(0, &key(0)).unwrap();
    stream.on_video(1, &inter(1)).unwrap();
    stream.on_video(2, &inter(2)).unwrap();
    assert_eq!(stream.cached_tags(), 3);
    // A fourth tag overflows: the whole GOP goes, and stays gone.
    assert!(stream.on_video(3, &inter(3)).unwrap().is_some());
    assert_eq!(stream.cached_tags(), 0);
    stream.on_video(4, &inter(4)).unwrap();
    stream.on_audio(4, &aac(4)).unwrap();
    assert_eq!((stream.cached_tags(), stream.cached_bytes()), (0, 0));
    stream.on_video(5, &key(5)).unwrap();
    let (_, tags) = start_tags(&stream);
    assert_eq!(tags, vec![tag(9, 5, &avc_seq(1)), tag(9, 5, &key(5))]);

    // Byte limit: a keyframe larger than the cache is never cached.
    let one_tag = encode_tag(TagType::Video, 0, &key(0)).unwrap().len();
    let mut stream = FlvStream::new(FlvStreamConfig {
        max_cache_bytes: one_tag * 2,
        ..FlvStreamConfig::default()
    });
    stream.on_video(0, &key(0)).unwrap();
    stream.on_video(1, &inter(1)).unwrap();
    assert_eq!(stream.cached_bytes(), one_tag * 2);
    stream.on_video(2, &inter(2)).unwrap();
    assert_eq!(stream.cached_bytes(), 0);
    let mut big = key(9);
    big.resize(one_tag * 3, 0);
    stream.on_video(3, &big).unwrap();
    assert_eq!(stream.cached_bytes(), 0);
}

#[test]
fn empty_bodies_are_ignored() {
    let mut stream = FlvStream::default();
    assert_eq!(stream.on_video(0, &[]), Ok(None));
    assert_eq!(stream.on_audio(0, &[]), Ok(None));
    assert_eq!(stream.on_metadata(&[]), Ok(None));
    assert!(!stream.has_audio() && !stream.has_video());
}

#[test]
fn video_classification() {
    let cases: [(&[u8], VideoKind); 12] = [
        (&[0x17, 0], VideoKind::SequenceHeader),
        (&[0x17, 1, 0, 0, 0], VideoKind::Keyframe),
        (&[0x17, 2, 0, 0, 0], VideoKind::Other), // end of sequence
        (&[0x17], VideoKind::Other),
        (&[0x27, 1, 0, 0, 0], VideoKind::Other),
        (&[0x57, 0], VideoKind::Other), // command frame
        (&[0x1C, 0, 0, 0, 0], VideoKind::SequenceHeader), // legacy HEVC
        (&[0x1C, 1, 0, 0, 0], VideoKind::Keyframe),
        (&[0x90, b'h', b'v', b'c', b'1'], VideoKind::SequenceHeader),
        (&[0x93, b'h', b'v', b'c', b'1'], VideoKind::Keyframe), // CodedFramesX
        (&[0xA1, b'h', b'v', b'c', b'1'], VideoKind::Other),
        (&[0x12], VideoKind::Keyframe), // Sorenson H.263 keyframe
    ];
    for (body, kind) in cases {
        assert_eq!(classify_video(body), kind, "{body:02x?}");
    }
    assert!(is_audio_sequence_header(&[0xAF, 0]));
    assert!(!is_audio_sequence_header(&[0xAF, 1]));
    assert!(!is_audio_sequence_header(&[0xAF]));
    assert!(!is_audio_sequence_header(&[0x2F, 0])); // MP3
    assert!(is_audio_sequence_header(&[0x90, b'm', b'p', b'4', b'a']));
    assert!(!is_audio_sequence_header(&[0x91, b'm', b'p', b'4', b'a']));
}

#[test]
fn viewer_buffer_drops_a_lagging_viewer() {
    let mut viewer = ViewerBuffer::new(100);
    let tag = |n: usize| Bytes::from(vec![0u8; n]);
    viewer.push(tag(40)).unwrap();
    viewer.push(tag(60)).unwrap(); // exactly at the limit
    assert_eq!((viewer.len(), viewer.queued_bytes()), (2, 100));
    assert_eq!(viewer.pop().map(|t| t.len()), Some(40));
    viewer.push(tag(40)).unwrap();
    assert_eq!(
        viewer.push(tag(1)),
        Err(Lagging {
            queued_bytes: 100,
            incoming_bytes: 1,
            limit: 100
        })
    );
    assert!(viewer.is_lagging() && viewer.is_empty());
    assert_eq!(viewer.queued_bytes(), 0);
    // Once lagging, always lagging.
    assert!(viewer.push(tag(0)).is_err());
    assert_eq!(viewer.pop(), None);

    // Another viewer of the same tags is unaffected.
    let shared = tag(50);
    let mut slow = ViewerBuffer::new(60);
    let mut fast = ViewerBuffer::new(60);
    for _ in 0..3 {
        let _ = slow.push(shared.clone());
        fast.push(shared.clone()).unwrap();
        assert_eq!(fast.pop().map(|t| t.as_ptr()), Some(shared.as_ptr()));
    }
    assert!(slow.is_lagging() && !fast.is_lagging());

    let mut start = ViewerBuffer::new(20);
    assert!(start.push_all([tag(10), tag(10), tag(1)]).is_err());
    assert!(start.is_lagging());
}

#[derive(Debug, Clone)]
enum Op {
    Video(u32, Vec<u8>),
    Audio(u32, Vec<u8>),
    Metadata(Vec<u8>),
}

/// Bodies that hit every classification, including empty ones.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let first = prop_oneof![
        Just(0x17u8),
        Just(0x27),
        Just(0x57),
        Just(0x1C),
        Just(0x90),
        Just(0x93),
        Just(0xAF),
        Just(0x2F),
        any::<u8>(),
    ];
    let second = prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()];
    (
        first,
        second,
        prop::collection::vec(any::<u8>(), 0..40),
        0..4usize,
    )
        .prop_map(|(a, b, rest, shape)| match shape {
            0 => Vec::new(),
            1 => vec![a],
            _ => [vec![a, b], rest].concat(),
        })
}

fn op() -> impl Strategy<Value = Op> {
    let ts = prop_oneof![0..5000u32, any::<u32>()];
    prop_oneof![
        4 => (ts.clone(), body()).prop_map(|(ts, b)| Op::Video(ts, b)),
        4 => (ts, body()).prop_map(|(ts, b)| Op::Audio(ts, b)),
        1 => body().prop_map(Op::Metadata),
    ]
}

proptest! {
    #[test]
    fn cache_bounds_hold_and_output_round_trips(
        max_cache_bytes in 0..600usize,
        max_cache_tags in 0..12usize,
        audio_only_tail_ms in 0..3000u32,
        ops in prop::collection::vec(op(), 0..120),
    ) {
        let config = FlvStreamConfig { max_cache_bytes, max_cache_tags, audio_only_tail_ms };
        let mut stream = FlvStream::new(config);
        for op in &ops {
            let (out, expect) = match op {
                Op::Video(ts, b) => (stream.on_video(*ts, b), tag(9, *ts, b)),
                Op::Audio(ts, b) => (stream.on_audio(*ts, b), tag(8, *ts, b)),
                Op::Metadata(b) => (stream.on_metadata(b), tag(18, 0, b)),
            };
            match out.unwrap() {
                None => prop_assert!(expect.body.is_empty()),
                Some(encoded) => {
                    let parsed = parse_tags(&encoded).unwrap();
                    prop_assert_eq!(parsed.len(), 1);
                    prop_assert_eq!(parsed[0].tag_type, expect.tag_type);
                    prop_assert_eq!(&parsed[0].body, &expect.body);
                    if expect.tag_type != 18 {
                        prop_assert_eq!(parsed[0].timestamp, expect.timestamp);
                    }
                }
            }
            prop_assert!(stream.cached_bytes() <= max_cache_bytes);
            prop_assert!(stream.cached_tags() <= max_cache_tags);

            let start = stream.start_for_new_viewer();
            let cached = &start[start.len() - stream.cached_tags()..];
            prop_assert_eq!(cached.iter().map(Bytes::len).sum::<usize>(), stream.cached_bytes());
            let (flags, tags) = parse_flv(&concat(&start)).unwrap();
            prop_assert_eq!(flags & 0x04 != 0, stream.has_audio());
            prop_assert_eq!(flags & 0x01 != 0, stream.has_video());
            let cached_tags = &tags[tags.len() - stream.cached_tags()..];
            if stream.has_video() {
                if let Some(first) = cached_tags.first() {
                    prop_assert_eq!(first.tag_type, 9);
                    prop_assert_eq!(classify_video(&first.body), VideoKind::Keyframe);
                }
            } else {
                prop_assert!(cached_tags.iter().all(|t| t.tag_type == 8));
            }
            // Headers come before the cache, stamped with its first timestamp.
            let headers = &tags[..tags.len() - stream.cached_tags()];
            prop_assert!(headers.len() <= 3);
            if let Some(first) = cached_tags.first() {
                prop_assert!(headers.iter().all(|h| h.timestamp == first.timestamp));
            }
        }
    }

    #[test]
    fn viewer_buffer_never_exceeds_its_limit(
        limit in 0..500usize,
        ops in prop::collection::vec((0..200usize, any::<bool>()), 0..200),
    ) {
        let mut viewer = ViewerBuffer::new(limit);
        let mut lagged = false;
        for (len, pop) in ops {
            if pop {
                viewer.pop();
            } else {
                let before = viewer.queued_bytes();
                match viewer.push(Bytes::from(vec![0u8; len])) {
                    Ok(()) => prop_assert!(!lagged && before + len <= limit),
                    Err(_) => {
                        prop_assert!(lagged || before + len > limit);
                        lagged = true;
                    }
                }
            }
            prop_assert!(viewer.queued_bytes() <= limit);
            prop_assert_eq!(viewer.is_lagging(), lagged);
            if lagged {
                prop_assert!(viewer.is_empty());
            }
        }
    }
}
