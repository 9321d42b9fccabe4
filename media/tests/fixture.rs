//! End to end on a real encoder's output: `tests/fixtures/tiny.flv` (3 s of
//! 160x90 H.264 with B-frames, 15 fps, GOP 15, plus AAC-LC 44.1 kHz) made by
//!
//! ```text
//! ffmpeg -f lavfi -i testsrc2=size=160x90:rate=15 -f lavfi -i sine=frequency=1000:sample_rate=44100 \
//!   -t 3 -c:v libx264 -preset veryfast -g 15 -bf 2 -c:a aac -b:a 64k -f flv tests/fixtures/tiny.flv
//! ```
//!
//! Tags go through the segmenter, segments and a VOD playlist are written to
//! a temp dir, and `ffprobe`/`ffmpeg` (when installed) must read them
//! without a single complaint.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use zhibo_media::hls::{render_vod_playlist, Segment, Segmenter, SegmenterConfig};

/// One FLV tag: (type, timestamp ms, body).
type Tag = (u8, u32, Vec<u8>);

/// Minimal FLV file reader: header, then (PreviousTagSize, tag) pairs.
fn read_flv(data: &[u8]) -> Vec<Tag> {
    assert_eq!(&data[..3], b"FLV", "not an FLV file");
    let header_len = u32::from_be_bytes(data[5..9].try_into().unwrap()) as usize;
    let mut pos = header_len + 4; // skip PreviousTagSize0
    let mut tags = Vec::new();
    while pos + 11 <= data.len() {
        let kind = data[pos] & 0x1F;
        let size = u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let ts = u32::from_be_bytes([data[pos + 7], data[pos + 4], data[pos + 5], data[pos + 6]]);
        let body = data[pos + 11..pos + 11 + size].to_vec();
        tags.push((kind, ts, body));
        pos += 11 + size + 4;
    }
    assert_eq!(pos, data.len(), "trailing bytes after the last tag");
    tags
}

fn fixture_tags() -> Vec<Tag> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.flv");
    read_flv(&std::fs::read(path).unwrap())
}

fn segment_fixture(config: SegmenterConfig) -> (Segmenter, Vec<Segment>) {
    let mut seg = Segmenter::new(config);
    let mut segments = Vec::new();
    for (kind, ts, body) in fixture_tags() {
        let finished = match kind {
            8 => seg.on_audio(ts, &body).unwrap(),
            9 => seg.on_video(ts, &body).unwrap(),
            _ => None, // script data (onMetaData)
        };
        segments.extend(finished);
    }
    segments.extend(seg.finish());
    (seg, segments)
}

fn tool(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[test]
fn fixture_remuxes_into_valid_ts() {
    let (seg, segments) = segment_fixture(SegmenterConfig::default());
    assert_eq!(seg.stats().video_frames, 45);
    assert_eq!(seg.stats().dropped_video_frames, 0);
    assert_eq!(seg.stats().discontinuities, 0);
    assert!(seg.stats().audio_frames >= 129);
    assert_eq!(
        seg.video_config().unwrap().codec_string().len(),
        "avc1.64000b".len()
    );
    assert_eq!(seg.audio_config().unwrap().codec_string(), "mp4a.40.2");
    // Keyframes every second, target 2 s → [0, 2) and [2, 3].
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    assert_eq!(segments.len(), 2, "{durations:?}");
    assert!((durations[0] - 2.0).abs() < 0.001, "{durations:?}");
    // The rest: video to 3 s, AAC (with encoder priming) a little longer.
    assert!(durations[1] > 0.99 && durations[1] < 1.2, "{durations:?}");

    let all: Vec<&[u8]> = segments.iter().map(|s| &s.data[..]).collect();
    assert_continuity(&all);
    let mut with_dts = 0;
    for s in &segments {
        assert!(s.starts_with_keyframe);
        let ts = inspect(&s.data);
        assert_eq!(ts.leading_pids, vec![0, 0x1000]);
        let first = ts.video().next().unwrap();
        let nalus = annexb_nalus(&first.data);
        let types: Vec<u8> = nalus.iter().map(|n| n[0] & 0x1F).collect();
        assert_eq!(types[0], 9, "AUD first: {types:?}");
        let sps = types.iter().position(|&t| t == 7).expect("SPS");
        let pps = types.iter().position(|&t| t == 8).expect("PPS");
        let idr = types.iter().position(|&t| t == 5).expect("IDR");
        assert!(sps < idr && pps < idr, "{types:?}");
        for pes in ts.video() {
            if let Some(dts) = pes.dts {
                assert!(pes.pts > dts);
                with_dts += 1;
            }
        }
        for pes in ts.audio() {
            assert!(!adts_frames_any(&pes.data).is_empty());
        }
    }
    assert!(
        with_dts > 10,
        "B-frame reordering must produce PES with DTS"
    );
}

/// ADTS frame split without the test-signal specific header checks.
fn adts_frames_any(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let h = &data[pos..pos + 7];
        assert_eq!((h[0], h[1] & 0xF6), (0xFF, 0xF0), "ADTS sync");
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        assert!(len > 7 && pos + len <= data.len());
        out.push(&data[pos + 7..pos + len]);
        pos += len;
    }
    out
}

#[test]
fn ffprobe_accepts_segments_and_playlist() {
    let (_, segments) = segment_fixture(SegmenterConfig {
        target_duration_ms: 1_000,
        ..SegmenterConfig::default()
    });
    assert_eq!(segments.len(), 3);
    let dir = std::env::temp_dir().join(format!("zhibo-media-fixture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut entries = Vec::new();
    for s in &segments {
        let name = format!("{:05}.ts", s.sequence);
        std::fs::write(dir.join(&name), &s.data).unwrap();
        entries.push(s.playlist_entry(name, None));
    }
    let playlist = dir.join("index.m3u8");
    std::fs::write(&playlist, render_vod_playlist(&entries, 1)).unwrap();

    let Some(ffprobe) = tool("ffprobe") else {
        println!("skipped: ffprobe not found");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let mut files: Vec<PathBuf> = segments
        .iter()
        .map(|s| dir.join(format!("{:05}.ts", s.sequence)))
        .collect();
    files.push(playlist.clone());
    for file in &files {
        let out = Command::new(&ffprobe)
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "json",
            ])
            .arg(file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", file.display());
        assert!(
            stderr.trim().is_empty(),
            "{}: ffprobe complained: {stderr}",
            file.display()
        );
        assert!(stdout.contains("\"h264\""), "{}: {stdout}", file.display());
        assert!(stdout.contains("\"aac\""), "{}: {stdout}", file.display());
    }

    // Every video frame decodes from the playlist.
    let out = Command::new(&ffprobe)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&playlist)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
    // HLS input lists the stream under its program too: every count is 45.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !counts.is_empty() && counts.iter().all(|c| c.trim() == "45"),
        "{stdout}"
    );

    // A full decode of both streams reports no errors.
    if let Some(ffmpeg) = tool("ffmpeg") {
        let out = Command::new(ffmpeg)
            .args(["-v", "error", "-i"])
            .arg(&playlist)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "ffmpeg: {stderr}"
        );
    } else {
        println!("skipped decode: ffmpeg not found");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
