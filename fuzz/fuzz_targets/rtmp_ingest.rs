//! The media worker's input path, minus the sockets: publisher bytes → `RtmpSession` (handshake,
//! RTMP chunk stream, AMF0 commands via `rml_rtmp`) → FLV tag bodies → `Segmenter` (FLV → MPEG-TS).
//!
//! Input format: a sequence of reads `len: u8, bytes[len]`, each fed to `on_bytes` as one socket
//! read; `len == 0` means "the rest of the input in one read" (so a raw capture prefixed with a
//! 0 byte is a valid input). A valid C0+C1 and C2 are fed first so that the fuzzer spends its
//! time in the chunk stream and AMF0 commands, not in the handshake.
//!
//! Events are handled the way `rtmp::connection` handles them: `connect` and `publish` are
//! accepted (the stream key also goes through `authorize_publish`, whose answer is ignored so
//! that media is reached whatever the key), `play` is refused and ends the connection, a second
//! `publish` is refused and ends it, video/audio go to a `Segmenter`; every segment must be a
//! whole number of 188-byte TS packets. Any panic that escapes `RtmpSession` is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zhibo_media::hls::{Segment, Segmenter, SegmenterConfig};
use zhibo_media_worker::rtmp::publish_auth::{authorize_publish, PublishAuth};
use zhibo_media_worker::rtmp::session::{RtmpEvent, RtmpSession};

/// C0 (version 3) + C1 (time, zero, 1528 "random" bytes: no digest, so the simple handshake).
fn c0_c1() -> Vec<u8> {
    let mut hello = Vec::with_capacity(1537);
    hello.push(3u8);
    hello.extend((0..1536u32).map(|i| if i < 8 { 0 } else { (i * 7 + 1) as u8 }));
    hello
}

/// C2: rml_rtmp does not check the echo, any 1536 bytes do.
fn c2() -> Vec<u8> {
    vec![0u8; 1536]
}

fn check(segment: &Segment) {
    assert_eq!(
        segment.data.len() % 188,
        0,
        "segment {} is not a whole number of TS packets",
        segment.sequence
    );
}

/// libfuzzer-sys's panic hook aborts on every panic, even one that `RtmpSession` catches and
/// turns into an error (rml_rtmp 0.8 panics on some malformed input; the worker closes that
/// connection). Keep the report, drop the abort: a panic that escapes still reaches
/// libfuzzer-sys's own `catch_unwind`, which aborts, so real bugs are still found.
fn tolerate_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    tolerate_caught_panics();
    let mut session = RtmpSession::new();
    let mut events = Vec::new();
    session
        .on_bytes(&c0_c1(), &mut events)
        .expect("a valid C0+C1 is accepted");
    session
        .on_bytes(&c2(), &mut events)
        .expect("a valid C2 is accepted");
    assert!(session.is_established());
    session.clear_outbound();

    let mut segmenter: Option<Segmenter> = None;
    let mut rest = data;
    'reads: while let Some((&len, tail)) = rest.split_first() {
        let n = if len == 0 {
            tail.len()
        } else {
            usize::from(len).min(tail.len())
        };
        let (read, tail) = tail.split_at(n);
        rest = tail;

        events.clear();
        if session.on_bytes(read, &mut events).is_err() {
            // The connection closes on a protocol error.
            break;
        }
        for event in events.drain(..) {
            match event {
                RtmpEvent::Connect { request_id, .. } => {
                    if session.accept(request_id).is_err() {
                        break 'reads;
                    }
                }
                RtmpEvent::Play { request_id } => {
                    let _ = session.reject(request_id, "NetStream.Play.Failed", "no RTMP play");
                    break 'reads;
                }
                RtmpEvent::Publish {
                    request_id,
                    app_name,
                    stream_key,
                } => {
                    if segmenter.is_some() {
                        let _ = session.reject(
                            request_id,
                            "NetStream.Publish.BadName",
                            "already publishing",
                        );
                        break 'reads;
                    }
                    let _ = authorize_publish(&PublishAuth::Off, &app_name, &stream_key, 0);
                    let _ = authorize_publish(
                        &PublishAuth::PushKey("fuzz".into()),
                        &app_name,
                        &stream_key,
                        1_700_000_000,
                    );
                    if session.accept(request_id).is_err() {
                        break 'reads;
                    }
                    // As the connection does once a publish is admitted.
                    session.publish_authorized();
                    segmenter = Some(Segmenter::new(SegmenterConfig {
                        // The worker's smallest allowed target, so short inputs still cut segments.
                        target_duration_ms: 500,
                        ..SegmenterConfig::default()
                    }));
                }
                RtmpEvent::Video { timestamp, data } => {
                    if let Some(s) = segmenter.as_mut() {
                        if let Ok(Some(segment)) = s.on_video(timestamp, &data) {
                            check(&segment);
                        }
                    }
                }
                RtmpEvent::Audio { timestamp, data } => {
                    if let Some(s) = segmenter.as_mut() {
                        if let Ok(Some(segment)) = s.on_audio(timestamp, &data) {
                            check(&segment);
                        }
                    }
                }
                RtmpEvent::Metadata => {}
                RtmpEvent::PublishFinished => {
                    if segmenter.is_some() {
                        break 'reads;
                    }
                }
            }
        }
        // What the connection would write back; dropped here.
        session.clear_outbound();
    }

    if let Some(segment) = segmenter.as_mut().and_then(Segmenter::finish) {
        check(&segment);
    }
});
