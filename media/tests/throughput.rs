//! Remux throughput, for eyeballing CPU cost per stream:
//! `cargo test --release -p zhibo-media --test throughput -- --ignored --nocapture`

mod common;

use std::time::Instant;

use common::*;
use zhibo_media::hls::{Segmenter, SegmenterConfig};

#[test]
#[ignore = "timing only; run in release"]
fn remux_throughput() {
    // 10 minutes of 6 Mbit/s 30 fps video (GOP 2 s) + 128 kbit/s AAC.
    let seconds = 600u32;
    let frame_bytes = 6_000_000 / 8 / 30;
    let key = video_frame(0, true, 0, frame_bytes * 4);
    let inter = video_frame(1, false, 0, frame_bytes * 9 / 10);
    let audio = audio_frame(0, 371);
    let mut seg = Segmenter::new(SegmenterConfig::default());
    seg.on_video(0, &avc_sequence_header()).unwrap();
    seg.on_audio(0, &aac_sequence_header()).unwrap();
    let mut input = 0usize;
    let mut output = 0usize;
    let start = Instant::now();
    let (mut v, mut a) = (0u32, 0u32);
    while v < seconds * 30 {
        let vt = v * 1000 / 30;
        if vt <= audio_ts(a) {
            let body = if v % 60 == 0 { &key } else { &inter };
            input += body.len();
            if let Some(s) = seg.on_video(vt, body).unwrap() {
                output += s.byte_size();
            }
            v += 1;
        } else {
            input += audio.len();
            if let Some(s) = seg.on_audio(audio_ts(a), &audio).unwrap() {
                output += s.byte_size();
            }
            a += 1;
        }
    }
    output += seg.finish().map_or(0, |s| s.byte_size());
    let elapsed = start.elapsed();
    println!(
        "{seconds} s of media, {:.1} MB in → {:.1} MB out ({:.2}% overhead) in {:?}: {:.0}x realtime, {:.0} MB/s",
        input as f64 / 1e6,
        output as f64 / 1e6,
        (output as f64 / input as f64 - 1.0) * 100.0,
        elapsed,
        f64::from(seconds) / elapsed.as_secs_f64(),
        input as f64 / 1e6 / elapsed.as_secs_f64()
    );
}

#[test]
#[ignore = "timing only; run in release"]
fn playlist_parse_throughput() {
    use zhibo_media::hls::{parse_media_playlist, render_vod_playlist, PlaylistSegment};
    let segments: Vec<PlaylistSegment> = (0..21_600)
        .map(|i| PlaylistSegment {
            uri: format!("live/room-1234/20261123T100000/{i:06}.ts"),
            duration: 2.0 + f64::from(i % 7) / 100.0,
            discontinuity: i % 1000 == 999,
            program_date_time_ms: (i % 1000 == 999).then_some(1_795_428_000_000),
        })
        .collect();
    let start = Instant::now();
    let text = render_vod_playlist(&segments, 2);
    let rendered = start.elapsed();
    let mut parse = std::time::Duration::MAX;
    let mut parsed = None;
    for _ in 0..5 {
        let start = Instant::now();
        parsed = Some(parse_media_playlist(&text).unwrap());
        parse = parse.min(start.elapsed());
    }
    let parsed = parsed.unwrap();
    assert_eq!(parsed.segments.len(), 21_600);
    println!(
        "21600-segment VOD playlist ({:.1} MB): render {rendered:?}, parse (best of 5) {parse:?}",
        text.len() as f64 / 1e6
    );
}
