//! Deterministic fuzzing without extra crates: random and mutated FLV tag
//! bodies, timestamps and playlists must never panic, and whatever segments
//! come out must still be well-formed transport streams.
//! (`fuzz/` holds the cargo-fuzz target for open-ended runs.)

mod common;

use std::path::Path;

use common::*;
use zhibo_media::aac::AudioSpecificConfig;
use zhibo_media::avc::AvcDecoderConfig;
use zhibo_media::hls::{
    parse_media_playlist, render_vod_playlist, PlaylistSegment, Segment, Segmenter, SegmenterConfig,
};
use zhibo_media::{flv, Error};

/// xorshift64* — small, deterministic, good enough for fuzzing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => data.truncate(rng.below(data.len() + 1)),
            3 => {
                let len = rng.below(64);
                let extra = rng.bytes(len);
                data.extend_from_slice(&extra);
            }
            4 if !data.is_empty() => {
                // Interesting values in a random spot (length prefixes!).
                let i = rng.below(data.len());
                let v = [0x00, 0xFF, 0x7F, 0x80, 0x01][rng.below(5)];
                for b in data.iter_mut().skip(i).take(4) {
                    *b = v;
                }
            }
            5 if data.len() > 2 => {
                let i = rng.below(data.len() - 1);
                data.remove(i);
            }
            _ => {}
        }
    }
    data
}

fn fixture_tags() -> Vec<(u8, u32, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.flv");
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    let mut tags = Vec::new();
    let mut pos = 13;
    while pos + 11 <= data.len() {
        let kind = data[pos] & 0x1F;
        let size = u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let ts = u32::from_be_bytes([data[pos + 7], data[pos + 4], data[pos + 5], data[pos + 6]]);
        let Some(body) = data.get(pos + 11..pos + 11 + size) else {
            break;
        };
        tags.push((kind, ts, body.to_vec()));
        pos += 11 + size + 4;
    }
    tags
}

fn seed_tags() -> Vec<(u8, u32, Vec<u8>)> {
    let mut tags = fixture_tags();
    tags.push((9, 0, avc_sequence_header()));
    tags.push((8, 0, aac_sequence_header()));
    for n in 0..30u32 {
        tags.push((
            9,
            n * 40,
            video_frame(n, n % 10 == 0, (n % 3) as i32 * 40, 50 + n as usize),
        ));
        tags.push((8, audio_ts(n), audio_frame(n, 20 + n as usize)));
    }
    tags
}

fn check_segment(segment: &Segment) {
    assert_eq!(segment.data.len() % 188, 0);
    assert!(segment.duration.is_finite() && segment.duration >= 0.0);
    for packet in segment.data.chunks(188) {
        assert_eq!(packet[0], 0x47);
    }
}

#[test]
fn mutated_tags_never_panic() {
    let seeds = seed_tags();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut produced = 0usize;
    let mut errors = 0usize;
    for session in 0..120 {
        let mut seg = Segmenter::new(SegmenterConfig {
            target_duration_ms: 500 + rng.below(2000) as u32,
            audio_pes_max_delay_ms: [0, 50, 100, 1000][rng.below(4)],
            ..SegmenterConfig::default()
        });
        let mut ts: u32 = rng.next() as u32;
        let mut segments = Vec::new();
        for _ in 0..200 {
            let (kind, seed_ts, body) = &seeds[rng.below(seeds.len())];
            let body = if rng.chance(30) {
                body.clone()
            } else if rng.chance(10) {
                let len = rng.below(64);
                rng.bytes(len)
            } else {
                mutate(&mut rng, body)
            };
            ts = match rng.below(10) {
                0 => rng.next() as u32,
                1 => ts.wrapping_sub(rng.below(3000) as u32),
                2 => seed_ts.wrapping_add(session),
                _ => ts.wrapping_add(rng.below(50) as u32),
            };
            // Parsers directly.
            let _ = flv::parse_video(&body);
            let _ = flv::parse_audio(&body);
            let _ = AvcDecoderConfig::parse(&body);
            let _ = AudioSpecificConfig::parse(&body);
            let result = if *kind == 9 {
                seg.on_video(ts, &body)
            } else {
                seg.on_audio(ts, &body)
            };
            match result {
                Ok(Some(s)) => segments.push(s),
                Ok(None) => {}
                Err(e) => {
                    errors += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        segments.extend(seg.finish());
        for s in &segments {
            check_segment(s);
            // The independent reader accepts every segment.
            let _ = inspect(&s.data);
        }
        let all: Vec<&[u8]> = segments.iter().map(|s| &s.data[..]).collect();
        assert_continuity(&all);
        for (i, s) in segments.iter().enumerate() {
            assert_eq!(s.sequence, i as u64);
        }
        produced += segments.len();
    }
    assert!(produced > 0, "fuzzing never produced a segment");
    assert!(errors > 0, "fuzzing never hit an error path");
}

#[test]
fn random_bodies_never_panic() {
    let mut rng = Rng(42);
    let mut seg = Segmenter::new(SegmenterConfig::default());
    seg.on_video(0, &avc_sequence_header()).unwrap();
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    for i in 0..5000u32 {
        let len = rng.below(40);
        let mut body = rng.bytes(len);
        // Steer half of the inputs into the AVC / AAC paths.
        if i % 2 == 0 && !body.is_empty() {
            body[0] = if i % 4 == 0 { 0x17 } else { 0x27 };
            if body.len() > 1 {
                body[1] = (rng.below(3)) as u8;
            }
        }
        let _ = seg.on_video(i * 33, &body);
        let len = rng.below(40);
        let mut body = rng.bytes(len);
        if i % 2 == 0 && !body.is_empty() {
            body[0] = 0xAF;
        }
        if let Ok(Some(s)) = seg.on_audio(i * 23, &body) {
            check_segment(&s);
        }
    }
    if let Some(s) = seg.finish() {
        check_segment(&s);
    }
}

#[test]
fn mutated_playlists_never_panic() {
    let segments: Vec<PlaylistSegment> = (0..40)
        .map(|i| PlaylistSegment {
            uri: format!("{i}.ts"),
            duration: 2.0 + f64::from(i % 5) * 0.1,
            discontinuity: i % 9 == 4,
            program_date_time_ms: (i % 9 == 4).then_some(1_700_000_000_000 + i64::from(i) * 2000),
        })
        .collect();
    let text = render_vod_playlist(&segments, 2);
    let mut rng = Rng(7);
    let mut rejected = 0;
    for _ in 0..3000 {
        let mutated = mutate(&mut rng, text.as_bytes());
        let Ok(mutated) = String::from_utf8(mutated) else {
            continue;
        };
        match parse_media_playlist(&mutated) {
            Ok(parsed) => assert!(parsed.segments.len() <= segments.len() + 1),
            Err(Error::Playlist { line, .. }) => {
                assert!(line >= 1 && line <= mutated.lines().count().max(1) + 1);
                rejected += 1;
            }
            Err(other) => panic!("unexpected error kind {other:?}"),
        }
    }
    assert!(rejected > 100);
}
