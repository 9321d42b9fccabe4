//! Segmenter behaviour, checked by re-parsing the produced transport stream
//! with the independent `mpeg2ts` crate.

mod common;

use common::*;
use mpeg2ts::es::StreamType;
use zhibo_media::hls::{Segment, Segmenter, SegmenterConfig};
use zhibo_media::Error;

const ORIGIN: u64 = 900_000;

fn config() -> SegmenterConfig {
    SegmenterConfig {
        audio_pes_max_delay_ms: 0,
        ..SegmenterConfig::default()
    }
}

/// Feeds an A/V stream: video at `fps` with a keyframe every `gop` frames
/// (timestamps `start + n*1000/fps`), interleaved with 44.1 kHz AAC frames,
/// until `duration_ms`. Returns finished segments (including `finish()`).
fn feed_av(
    seg: &mut Segmenter,
    start: u32,
    duration_ms: u32,
    fps: u32,
    gop: u32,
    with_audio: bool,
) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut v = 0u32;
    let mut a = 0u32;
    loop {
        let vt = v * 1000 / fps;
        let at = audio_ts(a);
        if vt >= duration_ms && (!with_audio || at >= duration_ms) {
            break;
        }
        if vt < duration_ms && (!with_audio || vt <= at) {
            let body = video_frame(v, v % gop == 0, 0, 300 + (v as usize * 37) % 900);
            out.extend(seg.on_video(start.wrapping_add(vt), &body).unwrap());
            v += 1;
        } else {
            let body = audio_frame(a, 200 + (a as usize * 13) % 200);
            out.extend(seg.on_audio(start.wrapping_add(at), &body).unwrap());
            a += 1;
        }
    }
    out
}

fn new_av(config: SegmenterConfig) -> Segmenter {
    let mut seg = Segmenter::new(config);
    assert!(seg.on_video(0, &avc_sequence_header()).unwrap().is_none());
    assert!(seg.on_audio(0, &aac_sequence_header()).unwrap().is_none());
    seg
}

#[test]
fn av_stream_cuts_on_keyframes_and_remuxes_correctly() {
    let mut seg = new_av(config());
    let mut segments = feed_av(&mut seg, 0, 9_000, 30, 30, true);
    segments.extend(seg.finish());
    // Keyframes every second, target 2 s: cuts at 2, 4, 6, 8 s.
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    assert_eq!(segments.len(), 5, "{durations:?}");
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s.sequence, i as u64);
        assert!(!s.discontinuity);
        assert!(s.has_video && s.has_audio);
        assert!(s.starts_with_keyframe);
        assert_eq!(s.byte_size() % 188, 0);
        assert!(
            (s.start_offset - 2.0 * i as f64).abs() < 1e-9,
            "{}",
            s.start_offset
        );
        if i < 4 {
            assert!((s.duration - 2.0).abs() < 1e-9, "{durations:?}");
        }
    }
    // Final segment: 8.0 s → end of the last frame, here the AAC frame at
    // 8.986 s lasting 1024/44100 s (video ends earlier, at 8.966 + 0.033).
    let last = segments.last().unwrap();
    let expect = (8_986.0 * 90.0 + 2_089.0) / 90_000.0 - 8.0;
    assert!((last.duration - expect).abs() < 1e-9, "{}", last.duration);

    let all: Vec<&[u8]> = segments.iter().map(|s| &s.data[..]).collect();
    assert_continuity(&all);

    let mut video_n = 0u32;
    let mut audio_n = 0u32;
    for s in &segments {
        let ts = inspect(&s.data);
        assert_eq!(ts.leading_pids, vec![0, 0x1000], "PAT then PMT first");
        assert_eq!(
            ts.pmts,
            vec![(
                Some(VIDEO_PID),
                vec![
                    (StreamType::H264, VIDEO_PID),
                    (StreamType::AdtsAac, AUDIO_PID)
                ]
            )]
        );
        // First PES of the segment: the keyframe, with RAI and PCR.
        let first_pes_packet = ts.packets.iter().find(|p| p.pes_start).unwrap();
        assert_eq!(first_pes_packet.pid, VIDEO_PID);
        assert!(first_pes_packet.random_access);
        assert_eq!(first_pes_packet.pcr, Some(s.start_dts_90k - 9_000));

        for pes in ts.video() {
            let key = video_n % 30 == 0;
            let expect_dts = ORIGIN + u64::from(video_n * 1000 / 30) * 90;
            assert_eq!(pes.pts, expect_dts);
            assert_eq!(pes.dts, None, "no DTS when equal to PTS");
            let nalus = annexb_nalus(&pes.data);
            assert!(pes.data.starts_with(&[0, 0, 0, 1, 9, 0xF0]), "AUD first");
            assert_eq!(nalus[0], &[9, 0xF0]);
            let len = 300 + (video_n as usize * 37) % 900;
            if key {
                assert_eq!(nalus.len(), 4);
                assert_eq!(nalus[1], SPS);
                assert_eq!(nalus[2], PPS);
                assert_eq!(nalus[3], slice_nalu(video_n, true, len).as_slice());
            } else {
                assert_eq!(nalus.len(), 2);
                assert_eq!(nalus[1], slice_nalu(video_n, false, len).as_slice());
            }
            video_n += 1;
        }
        for pes in ts.audio() {
            assert_eq!(pes.pts, ORIGIN + u64::from(audio_ts(audio_n)) * 90);
            let frames = adts_frames(&pes.data);
            assert_eq!(frames.len(), 1);
            assert_eq!(
                frames[0],
                aac_raw(audio_n, 200 + (audio_n as usize * 13) % 200)
            );
            audio_n += 1;
        }
        // RAI exactly on keyframe PES starts.
        let rai = ts.packets.iter().filter(|p| p.random_access).count();
        assert_eq!(
            rai,
            ts.video()
                .filter(|p| p.data.len() > 40 && annexb_nalus(&p.data)[1] == SPS)
                .count()
        );
    }
    assert_eq!(video_n, 270);
    assert_eq!(audio_n, seg.stats().audio_frames as u32);
    assert_eq!(seg.stats().video_frames, 270);
    assert_eq!(seg.stats().segments, 5);
}

#[test]
fn cuts_only_on_keyframes_after_target() {
    // Keyframes every 1.5 s with a 2 s target → cuts every 3 s.
    let mut seg = new_av(config());
    let mut segments = feed_av(&mut seg, 0, 10_000, 20, 30, true);
    segments.extend(seg.finish());
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    assert_eq!(&durations[..3], &[3.0, 3.0, 3.0], "{durations:?}");
    assert_eq!(segments.len(), 4);
    // Durations add up to the whole timeline (first DTS → end of last frame).
    let total: f64 = durations.iter().sum();
    assert!((total - 10.0).abs() < 0.03, "{total}");
    // Each segment after the first starts with a keyframe PES.
    for s in &segments {
        let ts = inspect(&s.data);
        let first = ts.video().next().unwrap();
        assert_eq!(annexb_nalus(&first.data)[1], SPS);
    }
}

#[test]
fn configurable_target_duration() {
    let mut seg = new_av(SegmenterConfig {
        target_duration_ms: 4_000,
        ..config()
    });
    let segments = feed_av(&mut seg, 0, 12_500, 25, 25, true);
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    assert_eq!(durations, vec![4.0, 4.0, 4.0]);
}

#[test]
fn b_frames_write_pts_and_dts() {
    let mut seg = Segmenter::new(config());
    seg.on_video(0, &avc_sequence_header()).unwrap();
    // Decode order I P B B with 40 ms frames and 80 ms reorder delay:
    // (dts, cts): I(0, 80) P(40, 120) B(80, 0) B(120, 0) ...
    let pattern = [(true, 80), (false, 120), (false, 0), (false, 0)];
    for n in 0..8u32 {
        let (key, cts) = pattern[n as usize % 4];
        let key = key && n == 0;
        seg.on_video(n * 40, &video_frame(n, key, cts, 100))
            .unwrap();
    }
    let s = seg.finish().unwrap();
    let ts = inspect(&s.data);
    let got: Vec<(u64, Option<u64>)> = ts.video().map(|p| (p.pts, p.dts)).collect();
    let expect: Vec<(u64, Option<u64>)> = (0..8u32)
        .map(|n| {
            let dts = ORIGIN + u64::from(n * 40) * 90;
            let cts = pattern[n as usize % 4].1;
            if cts == 0 {
                (dts, None)
            } else {
                (dts + cts as u64 * 90, Some(dts))
            }
        })
        .collect();
    assert_eq!(got, expect);
    // Video-only: the PMT lists only H.264.
    assert_eq!(
        ts.pmts,
        vec![(Some(VIDEO_PID), vec![(StreamType::H264, VIDEO_PID)])]
    );
}

#[test]
fn negative_composition_time_is_clamped_to_dts() {
    let mut seg = Segmenter::new(config());
    seg.on_video(0, &avc_sequence_header()).unwrap();
    seg.on_video(1000, &video_frame(0, true, 0, 50)).unwrap();
    seg.on_video(1040, &video_frame(1, false, -500, 50))
        .unwrap();
    let s = seg.finish().unwrap();
    let ts = inspect(&s.data);
    let second = ts.video().nth(1).unwrap();
    assert_eq!((second.pts, second.dts), (ORIGIN + 40 * 90, None));
    assert_eq!(seg.stats().clamped_timestamps, 1);
}

#[test]
fn pts_wraps_at_33_bits() {
    let origin = (1u64 << 33) - 90_000; // wraps one second in
    let mut seg = new_av(SegmenterConfig {
        initial_dts_90k: origin,
        ..config()
    });
    let mut segments = feed_av(&mut seg, 0, 5_000, 25, 25, true);
    segments.extend(seg.finish());
    let all: Vec<&[u8]> = segments.iter().map(|s| &s.data[..]).collect();
    assert_continuity(&all);
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    assert_eq!(&durations[..2], &[2.0, 2.0]);
    let mut n = 0u64;
    for s in &segments {
        for pes in inspect(&s.data).video() {
            let expect = (origin + n * 40 * 90) & ((1 << 33) - 1);
            assert_eq!(pes.pts, expect, "frame {n}");
            n += 1;
        }
    }
    assert_eq!(n, 125);
    // Segment 1 starts at 2 s, i.e. after the wrap.
    assert_eq!(segments[1].start_dts_90k & ((1 << 33) - 1), 90_000);
}

#[test]
fn rtmp_u32_wrap_is_a_continuation() {
    let start = u32::MAX - 3_000; // wraps 3 s in
    let mut seg = new_av(config());
    let mut segments = feed_av(&mut seg, start, 9_000, 30, 30, true);
    segments.extend(seg.finish());
    assert!(segments.iter().all(|s| !s.discontinuity));
    assert_eq!(seg.stats().discontinuities, 0);
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    assert_eq!(&durations[..4], &[2.0; 4]);
    let mut last = 0;
    for s in &segments {
        for pes in inspect(&s.data).video() {
            assert!(pes.pts > last);
            last = pes.pts;
        }
    }
}

#[test]
fn forward_jump_closes_segment_and_flags_discontinuity() {
    let mut seg = new_av(config());
    let mut segments = feed_av(&mut seg, 0, 3_000, 30, 30, true);
    assert_eq!(segments.len(), 1); // cut at 2 s
                                   // Encoder jumps 1 hour ahead.
    let more = feed_av(&mut seg, 3_600_000, 4_000, 30, 30, true);
    segments.extend(more);
    segments.extend(seg.finish());
    let flags: Vec<bool> = segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(flags, vec![false, false, true, false]);
    // The segment closed by the jump ends at its last frame (AAC at 2.995 s
    // + 23 ms).
    let expect = (2_995.0 * 90.0 + 2_089.0) / 90_000.0 - 2.0;
    assert!(
        (segments[1].duration - expect).abs() < 1e-9,
        "{}",
        segments[1].duration
    );
    assert_eq!(seg.stats().discontinuities, 1);
    // Output stays monotonic and the new epoch starts right after the old
    // one (1 s gap), not an hour later.
    let mut last = 0;
    for s in &segments {
        for pes in inspect(&s.data).video() {
            assert!(pes.pts > last);
            last = pes.pts;
        }
    }
    let gap = segments[2].start_dts_90k - (segments[1].start_dts_90k + 90_000);
    assert!(gap <= 90_000 + 3_000, "{gap}");
    assert!((segments[2].start_offset - segments[1].start_offset) < 2.1);
    let all: Vec<&[u8]> = segments.iter().map(|s| &s.data[..]).collect();
    assert_continuity(&all);
}

#[test]
fn backward_jump_is_a_discontinuity_but_jitter_is_not() {
    let mut seg = new_av(config());
    let mut segments = feed_av(&mut seg, 50_000, 3_000, 30, 30, true);
    // Jitter: a video frame 20 ms behind the previous one.
    let jitter = seg
        .on_video(50_000 + 2_946, &video_frame(999, false, 0, 100))
        .unwrap();
    assert!(jitter.is_none());
    assert_eq!(seg.stats().discontinuities, 0);
    assert!(seg.stats().clamped_timestamps >= 1);
    // Encoder restart: timestamps back to 0.
    segments.extend(feed_av(&mut seg, 0, 3_000, 30, 30, true));
    segments.extend(seg.finish());
    let flags: Vec<bool> = segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(flags, vec![false, false, true, false], "{segments:#?}");
    assert_eq!(seg.stats().discontinuities, 1);
    let mut last_v = 0;
    let mut last_a = 0;
    for s in &segments {
        let ts = inspect(&s.data);
        for pes in ts.video() {
            assert!(pes.dts_or_pts() > last_v);
            last_v = pes.dts_or_pts();
        }
        for pes in ts.audio() {
            assert!(pes.pts > last_a);
            last_a = pes.pts;
        }
    }
}

#[test]
fn audio_only_stream() {
    let mut seg = Segmenter::new(config());
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    let mut segments = Vec::new();
    for n in 0..300u32 {
        segments.extend(seg.on_audio(audio_ts(n), &audio_frame(n, 300)).unwrap());
    }
    segments.extend(seg.finish());
    // Cut at the first frame ≥ 2 s after the segment start: frames 87, 174, 261.
    assert_eq!(segments.len(), 4);
    let total: f64 = segments.iter().map(|s| s.duration).sum();
    let expect_total = (f64::from(audio_ts(299)) * 90.0 + 2089.0) / 90_000.0;
    assert!(
        (total - expect_total).abs() < 1e-6,
        "{total} vs {expect_total}"
    );
    for s in &segments[..3] {
        assert!(s.duration >= 2.0 && s.duration < 2.03, "{}", s.duration);
        assert!(!s.has_video && s.has_audio && !s.starts_with_keyframe);
    }
    let mut n = 0;
    for s in &segments {
        let ts = inspect(&s.data);
        assert_eq!(ts.leading_pids, vec![0, 0x1000]);
        assert_eq!(
            ts.pmts,
            vec![(Some(AUDIO_PID), vec![(StreamType::AdtsAac, AUDIO_PID)])]
        );
        let first = ts.packets.iter().find(|p| p.pes_start).unwrap();
        assert!(first.pcr.is_some(), "PCR on the audio PID");
        for pes in ts.audio() {
            assert_eq!(adts_frames(&pes.data), vec![aac_raw(n, 300).as_slice()]);
            n += 1;
        }
    }
    assert_eq!(n, 300);
}

#[test]
fn audio_frames_are_packed_into_fewer_pes() {
    let mut seg = Segmenter::new(SegmenterConfig::default()); // 100 ms packing
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    let mut segments = Vec::new();
    for n in 0..200u32 {
        segments.extend(seg.on_audio(audio_ts(n), &audio_frame(n, 250)).unwrap());
    }
    // A gap of 500 ms must not be hidden inside one PES.
    for n in 220..240u32 {
        segments.extend(seg.on_audio(audio_ts(n), &audio_frame(n, 250)).unwrap());
    }
    segments.extend(seg.finish());
    let mut frames = Vec::new();
    let mut pes_count = 0;
    for s in &segments {
        for pes in inspect(&s.data).audio() {
            pes_count += 1;
            let in_pes = adts_frames(&pes.data);
            let first = u32::from_be_bytes(in_pes[0][..4].try_into().unwrap());
            // PTS is that of the first frame of the PES.
            assert_eq!(pes.pts, ORIGIN + u64::from(audio_ts(first)) * 90);
            // Frames inside one PES are contiguous.
            for (k, f) in in_pes.iter().enumerate() {
                let id = u32::from_be_bytes(f[..4].try_into().unwrap());
                assert_eq!(id, first + k as u32);
                frames.push(id);
            }
        }
    }
    let expect: Vec<u32> = (0..200).chain(220..240).collect();
    assert_eq!(frames, expect);
    assert!(pes_count < 220 / 3, "{pes_count} PES for 220 frames");
}

#[test]
fn video_frames_before_first_keyframe_are_dropped() {
    let mut seg = Segmenter::new(config());
    seg.on_video(0, &avc_sequence_header()).unwrap();
    for n in 0..5 {
        assert!(seg
            .on_video(n * 40, &video_frame(n, false, 0, 50))
            .unwrap()
            .is_none());
    }
    seg.on_video(200, &video_frame(5, true, 0, 50)).unwrap();
    let s = seg.finish().unwrap();
    assert_eq!(seg.stats().dropped_video_frames, 5);
    let ts = inspect(&s.data);
    assert_eq!(ts.video().count(), 1);
    assert_eq!(ts.video().next().unwrap().pts, ORIGIN);
}

#[test]
fn late_video_sequence_header_updates_pmt_in_segment() {
    let mut seg = Segmenter::new(config());
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    for n in 0..10 {
        seg.on_audio(audio_ts(n), &audio_frame(n, 100)).unwrap();
    }
    seg.on_video(240, &avc_sequence_header()).unwrap();
    seg.on_video(240, &video_frame(0, true, 0, 100)).unwrap();
    let s = seg.finish().unwrap();
    let ts = inspect(&s.data);
    assert_eq!(ts.pmts.len(), 2);
    assert_eq!(
        ts.pmts[0],
        (Some(AUDIO_PID), vec![(StreamType::AdtsAac, AUDIO_PID)])
    );
    assert_eq!(
        ts.pmts[1],
        (
            Some(VIDEO_PID),
            vec![
                (StreamType::H264, VIDEO_PID),
                (StreamType::AdtsAac, AUDIO_PID)
            ]
        )
    );
    assert_eq!(ts.video().count(), 1);
    assert_eq!(ts.audio().count(), 10);
}

#[test]
fn errors_are_typed_and_leave_the_segmenter_usable() {
    let mut seg = Segmenter::new(config());
    assert_eq!(
        seg.on_video(0, &video_frame(0, true, 0, 10)),
        Err(Error::MissingAvcSequenceHeader)
    );
    assert_eq!(
        seg.on_audio(0, &audio_frame(0, 10)),
        Err(Error::MissingAacSequenceHeader)
    );
    assert!(seg.on_video(0, &[0x12, 0, 0]).unwrap_err().is_unsupported()); // Sorenson H.263
    assert!(seg
        .on_audio(0, &[0x2F, 0xFF, 0xFB])
        .unwrap_err()
        .is_unsupported()); // MP3
    assert!(matches!(seg.on_video(0, &[]), Err(Error::Truncated { .. })));
    assert!(matches!(
        seg.on_video(0, &[0x17, 0, 0, 0, 0, 9]),
        Err(Error::InvalidAvcConfigVersion(9))
    ));
    seg.on_video(0, &avc_sequence_header()).unwrap();
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    // NALU length prefix beyond the body.
    let mut bad = video_frame(0, true, 0, 10);
    bad[8] = 200;
    assert!(matches!(
        seg.on_video(0, &bad),
        Err(Error::NaluLengthExceedsBody { .. })
    ));
    // Oversized AAC frame.
    assert_eq!(
        seg.on_audio(0, &audio_frame(0, 9000)),
        Err(Error::AacFrameTooLarge(9000))
    );
    // End of sequence, command frames and empty AUs are ignored.
    assert!(seg.on_video(0, &[0x17, 2, 0, 0, 0]).unwrap().is_none());
    assert!(seg.on_video(0, &[0x57, 1]).unwrap().is_none());
    assert!(seg.on_video(0, &[0x17, 1, 0, 0, 0]).unwrap().is_none());
    assert_eq!(seg.stats().video_frames, 0);
    // Still works.
    let segments = feed_av(&mut seg, 0, 2_500, 25, 25, true);
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].sequence, 0);
    assert!(!segments[0].discontinuity);
}

#[test]
fn adts_input_is_passed_through() {
    let mut seg = Segmenter::new(config());
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    let raw = aac_raw(1, 50);
    let mut adts = vec![0xFF, 0xF1, 0x50, 0x80, 0, 0x1F, 0xFC];
    let len = raw.len() + 7;
    adts[3] |= (len >> 11) as u8;
    adts[4] = (len >> 3) as u8;
    adts[5] |= ((len & 7) << 5) as u8;
    adts.extend_from_slice(&raw);
    let mut body = vec![0xAF, 1];
    body.extend_from_slice(&adts);
    seg.on_audio(0, &body).unwrap();
    let s = seg.finish().unwrap();
    let ts = inspect(&s.data);
    assert_eq!(ts.audio().next().unwrap().data, adts);
}

#[test]
fn finish_then_continue_starts_a_discontinuous_segment() {
    let mut seg = new_av(config());
    assert!(seg.finish().is_none(), "nothing written yet");
    let mut segments = feed_av(&mut seg, 0, 1_000, 25, 25, true);
    segments.extend(seg.finish());
    assert!(seg.finish().is_none());
    segments.extend(feed_av(&mut seg, 0, 1_000, 25, 25, true));
    segments.extend(seg.finish());
    let summary: Vec<(u64, bool)> = segments
        .iter()
        .map(|s| (s.sequence, s.discontinuity))
        .collect();
    assert_eq!(summary, vec![(0, false), (1, true)]);
    assert!(segments[1].start_dts_90k > segments[0].start_dts_90k + 90_000);
    let entry = segments[1].playlist_entry("1.ts", Some(5));
    assert_eq!(entry.uri, "1.ts");
    assert!(entry.discontinuity);
    assert_eq!(entry.duration, segments[1].duration);
}

#[test]
fn keyframe_less_stream_is_cut_at_max_duration() {
    let mut seg = Segmenter::new(SegmenterConfig {
        max_segment_duration_ms: 5_000,
        ..config()
    });
    seg.on_video(0, &avc_sequence_header()).unwrap();
    let mut segments = Vec::new();
    for n in 0..300u32 {
        segments.extend(
            seg.on_video(n * 40, &video_frame(n, n == 0, 0, 50))
                .unwrap(),
        );
    }
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    assert_eq!(durations, vec![5.0, 5.0]);
}

#[test]
fn packed_audio_pes_stays_bounded() {
    let mut seg = Segmenter::new(SegmenterConfig {
        audio_pes_max_delay_ms: 60_000,
        ..SegmenterConfig::default()
    });
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    let mut segments = Vec::new();
    for n in 0..100u32 {
        segments.extend(seg.on_audio(audio_ts(n), &audio_frame(n, 5_000)).unwrap());
    }
    segments.extend(seg.finish());
    let mut frames = 0;
    for s in &segments {
        for pes in inspect(&s.data).audio() {
            assert!(pes.data.len() <= 60_000, "{}", pes.data.len());
            frames += adts_frames(&pes.data).len();
        }
        // PES_packet_length is set (non-zero) on every audio PES start.
        for packet in s.data.chunks(188) {
            let pid = (u16::from(packet[1] & 0x1F) << 8) | u16::from(packet[2]);
            if pid == AUDIO_PID && packet[1] & 0x40 != 0 {
                let offset = if packet[3] & 0x20 != 0 {
                    5 + usize::from(packet[4])
                } else {
                    4
                };
                assert_eq!(&packet[offset..offset + 3], &[0, 0, 1]);
                assert_ne!(&packet[offset + 4..offset + 6], &[0, 0]);
            }
        }
    }
    assert_eq!(frames, 100);
}

#[test]
fn segmenter_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Segmenter>();
    assert_send_sync::<Segment>();
    assert_send_sync::<zhibo_media::hls::LivePlaylist>();
    assert_send_sync::<Error>();
}

#[test]
fn cut_is_near_tells_when_the_next_keyframe_may_close_the_segment() {
    // 30 fps, keyframe every 2 s, target 2 s.
    let mut seg = new_av(config());
    assert!(!seg.cut_is_near(40), "nothing open yet");
    let mut near_at = Vec::new();
    for v in 0..130u32 {
        let ts = v * 1000 / 30;
        let body = video_frame(v, v % 60 == 0, 0, 300);
        let cut = seg.on_video(ts, &body).unwrap();
        if cut.is_some() {
            near_at.push((v, "cut"));
        }
        if seg.cut_is_near(40) {
            near_at.push((v, "near"));
        }
    }
    // Near only for the last frame(s) before each keyframe at 60 and 120.
    assert_eq!(
        near_at,
        [
            (58, "near"),
            (59, "near"),
            (60, "cut"),
            (118, "near"),
            (119, "near"),
            (120, "cut")
        ],
        "{near_at:?}"
    );
}
