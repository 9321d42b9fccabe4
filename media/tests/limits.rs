//! The segmenter's resource limits against hostile input: timestamps that never advance (the
//! open segment would grow at line rate) and timestamps that jump on every message (a segment
//! per message) are bounded, while a real encoder's stream is untouched.

mod common;

use common::*;
use zhibo_media::hls::{Segment, Segmenter, SegmenterConfig};
use zhibo_media::Error;

fn new_video(config: SegmenterConfig) -> Segmenter {
    let mut seg = Segmenter::new(config);
    assert!(seg.on_video(0, &avc_sequence_header()).unwrap().is_none());
    seg
}

#[test]
fn inter_frames_at_a_constant_timestamp_never_outgrow_the_segment_cap() {
    let config = SegmenterConfig::default();
    let cap = config.max_segment_bytes;
    let mut seg = new_video(config);
    seg.set_now_ms(0);
    assert!(seg
        .on_video(0, &video_frame(0, true, 0, 1000))
        .unwrap()
        .is_none());
    let inter = video_frame(1, false, 0, 64 * 1024);
    let mut refused = 0;
    for n in 0..10_000 {
        match seg.on_video(0, &inter) {
            Ok(finished) => assert!(finished.is_none(), "frame {n}: nothing to cut at"),
            Err(e) => {
                assert_eq!(e, Error::SegmentTooLarge { limit: cap });
                assert!(e.ends_stream());
                refused += 1;
            }
        }
        assert!(
            seg.open_segment_bytes() <= cap,
            "frame {n}: {} bytes open",
            seg.open_segment_bytes()
        );
    }
    // 64 MiB hold about a thousand 64 KiB frames; every later one is refused.
    assert!(refused >= 8_900, "{refused} frames refused");
    let last = seg.finish().expect("the open segment");
    assert!(last.byte_size() <= cap && last.byte_size() > cap / 2);
}

#[test]
fn keyframes_at_a_constant_timestamp_are_cut_at_the_cap() {
    let config = SegmenterConfig {
        max_segment_bytes: 4 << 20,
        ..SegmenterConfig::default()
    };
    let cap = config.max_segment_bytes;
    let mut seg = new_video(config);
    let key = video_frame(0, true, 0, 64 * 1024);
    let mut segments = Vec::new();
    for _ in 0..1_000 {
        segments.extend(seg.on_video(0, &key).unwrap());
        assert!(seg.open_segment_bytes() <= cap);
    }
    segments.extend(seg.finish());
    assert!(segments.len() >= 15, "{} segments", segments.len());
    assert!(segments.iter().all(|s| s.byte_size() <= cap));
}

#[test]
fn audio_only_at_a_constant_timestamp_is_cut_at_the_cap() {
    let config = SegmenterConfig {
        max_segment_bytes: 1 << 20,
        ..SegmenterConfig::default()
    };
    let cap = config.max_segment_bytes;
    let mut seg = Segmenter::new(config);
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    let frame = audio_frame(0, 4000);
    let mut segments = Vec::new();
    for _ in 0..2_000 {
        segments.extend(seg.on_audio(0, &frame).unwrap());
        assert!(seg.open_segment_bytes() <= cap);
    }
    segments.extend(seg.finish());
    assert!(segments.len() >= 7, "{} segments", segments.len());
    assert!(segments.iter().all(|s| s.byte_size() <= cap));
}

#[test]
fn a_frame_larger_than_the_cap_is_refused_and_changes_nothing() {
    let config = SegmenterConfig {
        max_segment_bytes: 256 * 1024,
        ..SegmenterConfig::default()
    };
    let mut seg = new_video(config);
    let err = seg
        .on_video(0, &video_frame(0, true, 0, 300 * 1024))
        .unwrap_err();
    assert!(err.ends_stream(), "{err}");
    assert!(err.to_string().contains("timestamps must advance"), "{err}");
    assert_eq!(seg.open_segment_bytes(), 0);
    assert_eq!(seg.stats().video_frames, 0);
}

#[test]
fn a_hundred_thousand_forward_jumps_make_a_bounded_number_of_segments() {
    let config = SegmenterConfig::default();
    let (burst, per_minute) = (config.segment_burst, config.max_segments_per_minute);
    let mut seg = new_video(config);
    let key = video_frame(0, true, 0, 27);
    let mut segments = 0u64;
    let mut refused = 0u64;
    // One message per wall-clock millisecond, each 10.001 s of media after the previous one.
    for n in 0..100_000u32 {
        seg.set_now_ms(u64::from(n));
        match seg.on_video(n * 10_001, &key) {
            Ok(finished) => segments += u64::from(finished.is_some()),
            Err(e) => {
                assert_eq!(e, Error::SegmentRateExceeded { per_minute });
                assert!(e.ends_stream());
                refused += 1;
            }
        }
    }
    // 100 s of wall time: the burst plus 100 s worth of the rate.
    let bound = u64::from(burst) + u64::from(per_minute) * 100 / 60 + 1;
    assert!(segments <= bound, "{segments} segments (bound {bound})");
    assert!(refused > 99_000, "{refused} refused");
}

#[test]
fn without_a_wall_clock_the_rate_is_not_limited() {
    let mut seg = new_video(SegmenterConfig::default());
    let key = video_frame(0, true, 0, 27);
    let mut segments = 0;
    for n in 0..1_000u32 {
        segments += usize::from(seg.on_video(n * 10_001, &key).unwrap().is_some());
    }
    assert_eq!(segments, 999);
}

/// 30 fps at 8 Mbit/s with a keyframe every 10 s (keyframes 10× an inter frame), with AAC,
/// fed in real time against the wall clock: `seconds` of media.
fn feed_encoder(seg: &mut Segmenter, seconds: u32, tell_time: bool) -> Vec<Segment> {
    let mut out = Vec::new();
    let inter_len = 8_000_000 / 8 / 30;
    let (mut v, mut a) = (0u32, 0u32);
    loop {
        let vt = v * 1000 / 30;
        let at = audio_ts(a);
        if vt >= seconds * 1000 {
            break;
        }
        if tell_time {
            seg.set_now_ms(u64::from(vt.min(at)));
        }
        if vt <= at {
            let key = v % 300 == 0;
            let len = if key { inter_len * 10 } else { inter_len };
            let body = video_frame(v, key, 66, len);
            out.extend(
                seg.on_video(vt, &body)
                    .expect("a real encoder is never refused"),
            );
            v += 1;
        } else {
            let body = audio_frame(a, 300);
            out.extend(
                seg.on_audio(at, &body)
                    .expect("a real encoder is never refused"),
            );
            a += 1;
        }
    }
    out.extend(seg.finish());
    out
}

#[test]
fn a_real_encoder_with_long_gops_passes_and_is_byte_identical() {
    let unlimited = SegmenterConfig {
        max_segment_bytes: usize::MAX,
        max_segments_per_minute: 0,
        ..SegmenterConfig::default()
    };
    let mut reference = Segmenter::new(unlimited);
    reference.on_video(0, &avc_sequence_header()).unwrap();
    reference.on_audio(0, &aac_sequence_header()).unwrap();
    let want = feed_encoder(&mut reference, 60, false);

    let mut seg = Segmenter::new(SegmenterConfig::default());
    seg.on_video(0, &avc_sequence_header()).unwrap();
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    let got = feed_encoder(&mut seg, 60, true);
    assert_eq!(got.len(), 6, "10-s GOPs make 10-s segments");
    assert!(got.iter().all(|s| s.byte_size() > 10_000_000));
    assert_eq!(got, want);
}
