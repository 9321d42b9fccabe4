// What the RTMP chunk guard costs on the media hot path, next to what rml_rtmp's own chunk
// deserializer spends on the same bytes.
//
//   cargo run --release -p zhibo-media-worker --example chunk_guard_cost
//
// The input is a synthetic publish: Set Chunk Size 4096, `connect`, then 60 s of 30 fps video
// (a 30 KB keyframe every second, 1.5 KB otherwise) and 43 AAC frames/s of 200 bytes, cut in
// 64 KiB reads like the worker's socket reads. Each is parsed in full, many times over.

use std::time::Instant;

use rml_rtmp::chunk_io::ChunkDeserializer;
use zhibo_media_worker::rtmp::chunk_guard::{ChunkGuard, GuardLimits};

fn message(csid: u8, type_id: u8, timestamp: u32, payload: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut out = vec![csid];
    out.extend(&timestamp.to_be_bytes()[1..]);
    out.extend(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(type_id);
    out.extend([1, 0, 0, 0]);
    for (i, c) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            out.push(0xC0 | csid);
        }
        out.extend_from_slice(c);
    }
    out
}

fn publish_stream() -> Vec<u8> {
    let mut s = message(2, 1, 0, &4096u32.to_be_bytes(), 128);
    let mut connect = vec![0x02, 0, 7];
    connect.extend(b"connect");
    connect.push(0x00);
    connect.extend(1f64.to_be_bytes());
    connect.extend([
        0x03, 0, 3, b'a', b'p', b'p', 0x02, 0, 4, b'l', b'i', b'v', b'e', 0, 0, 9,
    ]);
    s.extend(message(3, 20, 0, &connect, 4096));
    let (mut video, mut audio) = (0u32, 0u32);
    let (keyframe, frame, aac) = (vec![0x17u8; 30_000], vec![0x27u8; 1_500], vec![0xAFu8; 200]);
    while video < 60_000 {
        if audio <= video {
            s.extend(message(4, 8, audio, &aac, 4096));
            audio += 23;
        } else {
            let body = if video % 1000 < 33 { &keyframe } else { &frame };
            s.extend(message(6, 9, video, body, 4096));
            video += 33;
        }
    }
    s
}

fn main() {
    let stream = publish_stream();
    let reads: Vec<&[u8]> = stream.chunks(64 * 1024).collect();
    let rounds = 20;
    let mb = (stream.len() * rounds) as f64 / 1e6;

    let start = Instant::now();
    let mut messages = 0;
    for _ in 0..rounds {
        let mut guard = ChunkGuard::new(GuardLimits::default());
        guard.authorize();
        for r in &reads {
            guard.inspect(r).expect("a valid stream");
        }
        messages = guard.messages_seen();
    }
    let guard_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    for _ in 0..rounds {
        let mut d = ChunkDeserializer::new();
        for r in &reads {
            let mut input: &[u8] = r;
            while let Some(m) = d.get_next_message(input).expect("a valid stream") {
                input = &[];
                if m.type_id == 1 {
                    d.set_max_chunk_size(4096).expect("chunk size");
                }
                std::hint::black_box(&m);
            }
        }
    }
    let rml_s = start.elapsed().as_secs_f64();

    println!(
        "{:.1} MB per round ({messages} messages), {rounds} rounds",
        stream.len() as f64 / 1e6
    );
    println!(
        "chunk guard:            {:8.3} ms/round  {:9.1} MB/s",
        guard_s * 1e3 / rounds as f64,
        mb / guard_s
    );
    println!(
        "rml_rtmp deserializer:  {:8.3} ms/round  {:9.1} MB/s",
        rml_s * 1e3 / rounds as f64,
        mb / rml_s
    );
    println!("guard / deserializer:   {:.3}", guard_s / rml_s);
}
