#![no_main]

use libfuzzer_sys::fuzz_target;
use zhibo_media::aac::AudioSpecificConfig;
use zhibo_media::avc::AvcDecoderConfig;
use zhibo_media::flv;
use zhibo_media::hls::{parse_media_playlist, Segmenter, SegmenterConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_media_playlist(text);
    }

    let mut segmenter = Segmenter::new(SegmenterConfig {
        target_duration_ms: 500,
        ..SegmenterConfig::default()
    });
    let mut rest = data;
    while rest.len() >= 7 {
        let kind = rest[0];
        let timestamp = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(u16::from_le_bytes([rest[5], rest[6]]));
        let body = &rest[7..(7 + len).min(rest.len())];
        rest = &rest[(7 + len).min(rest.len())..];

        let _ = flv::parse_video(body);
        let _ = flv::parse_audio(body);
        let _ = AvcDecoderConfig::parse(body);
        let _ = AudioSpecificConfig::parse(body);
        let result = if kind & 1 == 0 {
            segmenter.on_video(timestamp, body)
        } else {
            segmenter.on_audio(timestamp, body)
        };
        if let Ok(Some(segment)) = result {
            assert_eq!(segment.data.len() % 188, 0);
        }
    }
    if let Some(segment) = segmenter.finish() {
        assert_eq!(segment.data.len() % 188, 0);
    }
});
