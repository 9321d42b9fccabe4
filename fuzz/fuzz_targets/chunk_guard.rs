//! Differential target for `rtmp::chunk_guard::ChunkGuard`: whatever the guard lets through,
//! rml_rtmp's own chunk deserializer must read without an error or a panic, finding exactly the
//! messages the guard counted, each within the guard's limits; and decoding those messages
//! (AMF0 included) must not overflow the stack.
//!
//! Input: one flags byte (bit 0: the publish is authorized from the start), then socket reads
//! as in `rtmp_ingest` (`len: u8, bytes[len]`, `len == 0` = the rest of the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rml_rtmp::chunk_io::ChunkDeserializer;
use rml_rtmp::messages::RtmpMessage;
use zhibo_media_worker::rtmp::chunk_guard::{ChunkGuard, GuardLimits};

fn tolerate_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    tolerate_caught_panics();
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let limits = GuardLimits::default();
    let mut guard = ChunkGuard::new(limits);
    let authorized = flags & 1 == 1;
    if authorized {
        guard.authorize();
    }
    let mut deserializer = ChunkDeserializer::new();
    let mut messages = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let n = if len == 0 {
            tail.len()
        } else {
            usize::from(len).min(tail.len())
        };
        let (read, tail) = tail.split_at(n);
        rest = tail;
        if guard.inspect(read).is_err() {
            return;
        }
        let mut input = read;
        loop {
            let message = deserializer
                .get_next_message(input)
                .expect("rml_rtmp fails on chunks the guard let through");
            input = &[];
            let Some(payload) = message else { break };
            messages += 1;
            let limit = match (authorized, payload.type_id) {
                (false, _) => limits.pre_auth_message,
                (true, 8 | 9) => limits.media_message,
                (true, _) => limits.amf_message,
            };
            assert!(payload.data.len() <= limit as usize);
            // rml_rtmp 0.8 panics on some commands (fewer than 3 values; the session catches
            // it); a stack overflow is not a panic and aborts here.
            let decoded =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| payload.to_rtmp_message()));
            if let Ok(Ok(RtmpMessage::SetChunkSize { size })) = decoded {
                deserializer
                    .set_max_chunk_size(size as usize)
                    .expect("the guard accepted this chunk size");
            }
        }
        assert_eq!(
            guard.messages_seen(),
            messages,
            "the guard and rml_rtmp disagree on message boundaries"
        );
    }
});
