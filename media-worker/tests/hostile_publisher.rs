//! Publishers holding a valid push URL that try to exhaust a shared worker (issue 13, item 4):
//! one sends hundreds of MiB of inter frames at timestamp 0 (a segment that is never cut), one
//! sends keyframes each 10+ s after the previous one (a segment per message). Each is
//! disconnected with its reason in `/metrics`, the worker's peak resident memory stays bounded,
//! and a real ffmpeg publisher on the same worker keeps producing segments throughout.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zhibo_core::object_keys;
use zhibo_media::hls::parse_media_playlist;

/// Peak resident memory the worker may reach while both attacks run next to a real stream.
const PEAK_RSS_BOUND: u64 = 300 << 20;
/// What the stalled-timestamp publisher tries to send.
const STALL_VOLUME: usize = 512 << 20;
/// One inter frame of the stalled-timestamp publisher.
const STALL_FRAME: usize = 1 << 20;
/// Keyframes the jumping publisher tries to send, each 10.001 s after the previous one.
const JUMPS: u32 = 200_000;

const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x0C, 0xDA, 0x0A, 0x0C, 0x7C];
const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];

/// FLV video body: the AVC sequence header.
fn avc_sequence_header() -> Bytes {
    let mut v = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xC0, 0x0C, 0xFF, 0xE1];
    v.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
    v.extend_from_slice(SPS);
    v.push(1);
    v.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
    v.extend_from_slice(PPS);
    Bytes::from(v)
}

/// FLV video body: one access unit with a single slice NAL unit of `len` bytes.
fn video_frame(key: bool, len: usize) -> Bytes {
    let mut v = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    v.extend_from_slice(&(len as u32).to_be_bytes());
    v.push(if key { 0x65 } else { 0x41 });
    v.resize(9 + len, 0x5A);
    Bytes::from(v)
}

/// A minimal RTMP publisher (rml_rtmp's client session over a loopback socket).
struct Publisher {
    socket: TcpStream,
    session: ClientSession,
}

impl Publisher {
    /// Handshake, `connect` to `live`, `publish` `key`, then the AVC sequence header.
    async fn start(worker: &WorkerProc, key: &str) -> Publisher {
        let mut socket = TcpStream::connect(("127.0.0.1", worker.rtmp_port))
            .await
            .expect("connect to the worker");
        let _ = socket.set_nodelay(true);
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake.generate_outbound_p0_and_p1().expect("C0+C1");
        socket.write_all(&c0c1).await.expect("send C0+C1");
        let mut buf = vec![0u8; 64 * 1024];
        let remaining = loop {
            let n = socket.read(&mut buf).await.expect("read the handshake");
            assert!(
                n > 0,
                "the worker closed the connection during the handshake"
            );
            match handshake
                .process_bytes(&buf[..n])
                .expect("a valid handshake")
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    socket.write_all(&response_bytes).await.expect("send C2");
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    socket.write_all(&response_bytes).await.expect("send C2");
                    break remaining_bytes;
                }
            }
        };
        let (session, _) = ClientSession::new(ClientSessionConfig::new()).expect("a session");
        let mut publisher = Publisher { socket, session };
        publisher.handle(&remaining).await;
        let connect = publisher
            .session
            .request_connection("live".into())
            .expect("connect request");
        publisher.send_result(connect).await;
        publisher
            .wait_for(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))
            .await;
        let publish = publisher
            .session
            .request_publishing(key.into(), PublishRequestType::Live)
            .expect("publish request");
        publisher.send_result(publish).await;
        publisher
            .wait_for(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))
            .await;
        publisher
            .video(0, avc_sequence_header())
            .await
            .expect("send the sequence header");
        publisher
    }

    async fn send_result(&mut self, result: ClientSessionResult) {
        if let ClientSessionResult::OutboundResponse(packet) = result {
            self.socket
                .write_all(&packet.bytes)
                .await
                .expect("send a command");
        }
    }

    /// Feeds bytes from the worker to the session; returns the events raised.
    async fn handle(&mut self, bytes: &[u8]) -> Vec<ClientSessionEvent> {
        let mut events = Vec::new();
        for result in self
            .session
            .handle_input(bytes)
            .expect("valid RTMP from the worker")
        {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.socket
                        .write_all(&packet.bytes)
                        .await
                        .expect("send a response");
                }
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        events
    }

    async fn wait_for(&mut self, done: impl Fn(&ClientSessionEvent) -> bool) {
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let read = tokio::time::timeout_at(deadline, self.socket.read(&mut buf))
                .await
                .expect("the worker answers within 10 s")
                .expect("read from the worker");
            assert!(
                read > 0,
                "the worker closed the connection before publishing"
            );
            let events = self.handle(&buf[..read]).await;
            if events.iter().any(&done) {
                return;
            }
        }
    }

    /// Sends one video message; an error means the worker dropped the connection.
    async fn video(&mut self, timestamp: u32, body: Bytes) -> std::io::Result<()> {
        let packet = self
            .session
            .publish_video_data(body, RtmpTimestamp::new(timestamp), false)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        if let ClientSessionResult::OutboundResponse(packet) = packet {
            self.socket.write_all(&packet.bytes).await?;
        }
        Ok(())
    }

    /// After sending, whether the worker closes the connection within `within`.
    async fn closed_by_worker(&mut self, within: Duration) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// One keyframe, then inter frames at timestamp 0 until `STALL_VOLUME` is sent or the worker
/// drops the connection; returns the bytes sent and whether it was dropped.
async fn stalled_timestamps(worker: &WorkerProc, room: u64) -> (usize, bool) {
    let mut p = Publisher::start(worker, &signed_key(room)).await;
    p.video(0, video_frame(true, 1000))
        .await
        .expect("a keyframe");
    let frame = video_frame(false, STALL_FRAME);
    let mut sent = 0;
    while sent < STALL_VOLUME {
        if p.video(0, frame.clone()).await.is_err() {
            return (sent, true);
        }
        sent += frame.len();
    }
    (sent, p.closed_by_worker(Duration::from_secs(20)).await)
}

/// Keyframes each 10.001 s after the previous one (a forward jump every message) until
/// `JUMPS` are sent or the worker drops the connection; returns how many were sent and
/// whether it was dropped.
async fn jumping_timestamps(worker: &WorkerProc, room: u64) -> (u32, bool) {
    let mut p = Publisher::start(worker, &signed_key(room)).await;
    let frame = video_frame(true, 20);
    for n in 0..JUMPS {
        if p.video(n.wrapping_mul(10_001), frame.clone())
            .await
            .is_err()
        {
            return (n, true);
        }
    }
    (JUMPS, p.closed_by_worker(Duration::from_secs(20)).await)
}

/// `VmHWM` (peak resident set) of a process, bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmHWM in /proc/<pid>/status")
}

/// Segment URIs of a room's live playlist (empty when there is none yet).
async fn live_segments(room: u64) -> Vec<String> {
    get_text(&object_keys::live_playlist(APP, room))
        .await
        .and_then(|t| parse_media_playlist(&t).ok())
        .map(|p| p.segments.into_iter().map(|s| s.uri).collect())
        .unwrap_or_default()
}

/// The URIs of the first segments of a room's live playlist once it names `n` of them.
async fn wait_for_segments(room: u64, n: usize, what: &str) -> Vec<String> {
    wait_for(Duration::from_secs(20), what, || async move {
        live_segments(room).await.len() >= n
    })
    .await;
    live_segments(room).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_publishers_are_dropped_and_a_real_stream_goes_on() {
    let worker = WorkerProc::start(&[]).await;
    let pid = worker.pid().expect("the worker's pid");

    // A real stream first; it must keep producing segments through both attacks.
    let good_room = unique_room();
    let ffmpeg = publish(&worker.url(&signed_key(good_room)), 24);
    let before = wait_for_segments(good_room, 2, "the real stream's first segments").await;

    let stall_room = unique_room() + 1;
    let jump_room = unique_room() + 2;
    let ((stall_sent, stall_dropped), (jumps_sent, jump_dropped)) = tokio::join!(
        stalled_timestamps(&worker, stall_room),
        jumping_timestamps(&worker, jump_room)
    );
    assert!(
        stall_dropped && stall_sent < STALL_VOLUME,
        "the publisher with stalled timestamps sent {stall_sent} bytes and was not dropped; log:\n{}",
        worker.log_text()
    );
    assert!(
        jump_dropped && jumps_sent < JUMPS,
        "the publisher with jumping timestamps sent {jumps_sent} keyframes and was not dropped"
    );

    // The reasons are visible.
    let segment_bytes = "zhibo_stream_limit_ends_total{limit=\"segment_bytes\"}";
    let segment_rate = "zhibo_stream_limit_ends_total{limit=\"segment_rate\"}";
    assert_eq!(worker.metric(segment_bytes).await, 1.0);
    assert_eq!(worker.metric(segment_rate).await, 1.0);
    let log = worker.log_text();
    assert!(
        log.contains("limit=\"segment_bytes\"") || log.contains("limit=segment_bytes"),
        "the log names the limit:\n{log}"
    );

    // The real stream went on: new segments after the attacks, and ffmpeg ends cleanly.
    let last_before = before.last().cloned().unwrap_or_default();
    wait_for(
        Duration::from_secs(20),
        "new segments of the real stream after the attacks",
        || {
            let last_before = last_before.clone();
            async move {
                let now = live_segments(good_room).await;
                let pos = now.iter().position(|u| *u == last_before);
                pos.is_some_and(|p| now.len() - p > 2) || (pos.is_none() && !now.is_empty())
            }
        },
    )
    .await;
    let (ok, err) = finish(ffmpeg, Duration::from_secs(60)).await;
    assert!(ok, "ffmpeg failed next to the hostile publishers: {err}");

    let peak = peak_rss(pid);
    eprintln!(
        "stalled publisher dropped after {} MiB, jumping publisher after {jumps_sent} keyframes, \
         worker peak RSS {} MiB",
        stall_sent >> 20,
        peak >> 20
    );
    assert!(
        peak < PEAK_RSS_BOUND,
        "the worker's peak RSS was {} MiB (bound {} MiB)",
        peak >> 20,
        PEAK_RSS_BOUND >> 20
    );
}
