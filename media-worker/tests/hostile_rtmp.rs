//! Hostile RTMP clients against the real worker binary (issue 13, items 1 and 3): a message of
//! millions of nested AMF0 arrays sent by an unauthenticated client, and thousands of idle
//! sockets from many source addresses, each while a real ffmpeg publishes.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The simple handshake a client sends: C0+C1 (zeros), then C2 once S0+S1+S2 arrived.
async fn handshake(stream: &mut TcpStream) {
    let mut hello = vec![3u8];
    hello.extend(std::iter::repeat_n(0u8, 1536));
    stream.write_all(&hello).await.expect("send C0+C1");
    let mut answer = vec![0u8; 1 + 1536 + 1536];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut answer))
        .await
        .expect("S0+S1+S2 within 10 s")
        .expect("read S0+S1+S2");
    stream.write_all(&[0u8; 1536]).await.expect("send C2");
}

/// One RTMP message on chunk stream 3 (type-0 header, then type-3 continuations) cut in chunks
/// of RTMP's default 128 bytes.
fn chunked_message(type_id: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    assert!(len < 1 << 24);
    let mut out = Vec::with_capacity(payload.len() + payload.len() / 128 + 16);
    out.extend([0x03, 0, 0, 0]);
    out.extend(&len.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend([0, 0, 0, 0]);
    for (i, chunk) in payload.chunks(128).enumerate() {
        if i > 0 {
            out.push(0xC3);
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// `0A 00 00 00 01` × n, then `05`: n strict arrays of one element, each inside the previous.
fn nested_strict_arrays(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * 5 + 1);
    for _ in 0..n {
        v.extend([0x0A, 0, 0, 0, 1]);
    }
    v.push(0x05);
    v
}

async fn healthz(worker: &WorkerProc) -> bool {
    reqwest::get(format!("http://127.0.0.1:{}/healthz", worker.http_port))
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
}

/// C1 of the security review: one command message of 2,000,000 nested AMF0 strict arrays
/// (~10 MB, 128-byte chunks) right after the handshake, no `connect`. The worker used to
/// overflow its stack parsing it and abort, dropping every stream. Now the connection is
/// refused before the parser sees it, and the stream ffmpeg publishes meanwhile goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_amf_message_closes_its_connection_only() {
    let worker = WorkerProc::start(&[]).await;
    let room = unique_room();
    let publisher = publish(&worker.url(&signed_key(room)), 6);
    wait_for(Duration::from_secs(20), "ffmpeg's publish", || async {
        worker.metric("zhibo_publishes_total").await >= 1.0
    })
    .await;

    let mut attacker = TcpStream::connect(("127.0.0.1", worker.rtmp_port))
        .await
        .expect("connect");
    handshake(&mut attacker).await;
    let message = chunked_message(20, &nested_strict_arrays(2_000_000));
    assert!(message.len() > 10_000_000);
    // The worker may close the socket long before the end: a failed write is expected.
    for piece in message.chunks(64 * 1024) {
        if attacker.write_all(piece).await.is_err() {
            break;
        }
    }
    // Wait until the worker closed this connection (EOF or reset), whatever it answered.
    let mut sink = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match attacker.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the worker kept the hostile connection open"
    );

    assert!(
        healthz(&worker).await,
        "/healthz does not answer after the nested-AMF message: the worker died; log:\n{}",
        worker.log_text()
    );
    let (ok, err) = finish(publisher, Duration::from_secs(30)).await;
    assert!(
        ok,
        "the stream published next to the attack failed: {err}\nworker log:\n{}",
        worker.log_text()
    );
    assert!(healthz(&worker).await, "/healthz after the publish");
    assert!(worker.metric("zhibo_segments_total").await >= 2.0);
    assert!(worker.metric("zhibo_rtmp_protocol_errors_total").await >= 1.0);
    assert!(
        worker.log_text().contains("RTMP message"),
        "the log says why the connection was closed:\n{}",
        worker.log_text()
    );
}

/// Raises this process's open-file limit to its hard limit (the worker started afterwards
/// inherits it): the test holds a few thousand sockets on each side.
fn raise_fd_limit(needed: u64) {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        assert!(
            lim.rlim_cur >= needed,
            "this test needs {needed} open files (ulimit -n is {})",
            lim.rlim_cur
        );
    }
}

/// A TCP connection to the worker from `source` (any port), sending nothing.
async fn idle_connect(source: IpAddr, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket
        .connect(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .await
}

/// The source addresses of the idle sockets: 127.0.0.2 ..= 127.0.0.50, 43 consecutive
/// sockets each (so that each address opens more than its share in a row).
fn attacker_address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i / 43 % 49) as u8))
}

/// H2 of the security review: idle connections used to fill `ZHIBO_MAX_CONNECTIONS` and lock
/// every publisher out. Here 2,100 sockets from 49 loopback addresses connect and send
/// nothing, and keep reconnecting as the worker closes them (up to 125 connects/s), while ffmpeg
/// publishes from 127.0.0.1: the per-address limit refuses the surplus of each address, the
/// overall pre-publish budget evicts the oldest idle ones, and the publish succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_do_not_lock_publishers_out() {
    const IDLE: usize = 2_100;
    raise_fd_limit(2 * IDLE as u64 + 512);
    let worker = Arc::new(
        WorkerProc::start(&[
            // Before the fix this was the one limit: the idle sockets filled it.
            ("ZHIBO_MAX_CONNECTIONS", "1000"),
            ("ZHIBO_MAX_PREAUTH_CONNECTIONS", "200"),
            ("ZHIBO_MAX_PREAUTH_PER_ADDRESS", "8"),
            ("ZHIBO_PREAUTH_TIMEOUT_S", "5"),
        ])
        .await,
    );
    let port = worker.rtmp_port;

    // Open them all (64 at a time).
    let mut idle = Vec::with_capacity(IDLE);
    let mut i = 0;
    while i < IDLE {
        let batch: Vec<_> = (i..(i + 64).min(IDLE))
            .map(|j| tokio::spawn(idle_connect(attacker_address(j), port)))
            .collect();
        for b in batch {
            if let Ok(Ok(s)) = b.await {
                idle.push(s);
            }
        }
        i += 64;
    }
    assert!(
        idle.len() >= 2_000,
        "only {} idle sockets could connect",
        idle.len()
    );

    // Keep reconnecting the sockets the worker closed, as an attacker refilling its slots
    // would, at a bounded pace for the whole publish.
    let stop = Arc::new(AtomicBool::new(false));
    let reconnects = Arc::new(AtomicU64::new(0));
    let churn = {
        let stop = stop.clone();
        let reconnects = reconnects.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            let mut buf = [0u8; 16];
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..25 {
                    let k = n % idle.len();
                    n += 1;
                    // A socket the worker closed reads EOF (or an error) at once.
                    let closed = matches!(
                        tokio::time::timeout(Duration::from_millis(1), idle[k].read(&mut buf))
                            .await,
                        Ok(Ok(0)) | Ok(Err(_))
                    );
                    if closed {
                        if let Ok(s) = idle_connect(attacker_address(k), port).await {
                            idle[k] = s;
                            reconnects.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            idle
        })
    };

    let room = unique_room();
    let publisher = publish(&worker.url(&signed_key(room)), 4);
    let (ok, err) = finish(publisher, Duration::from_secs(30)).await;
    stop.store(true, Ordering::Relaxed);
    let idle = churn.await.expect("the reconnect loop");
    assert!(
        ok,
        "ffmpeg could not publish next to {} idle sockets: {err}\nworker log (tail):\n{}",
        idle.len(),
        tail(&worker.log_text(), 40)
    );
    assert!(healthz(&worker).await);
    assert_eq!(worker.metric("zhibo_publishes_total").await, 1.0);
    assert!(worker.metric("zhibo_segments_total").await >= 1.0);
    // Both limits were hit: the surplus of each address was refused, the overall budget made
    // room by evicting the oldest idle connections; the gauge never exceeds the budget.
    assert!(worker.metric("zhibo_rtmp_preauth_refused_total").await > 0.0);
    assert!(worker.metric("zhibo_rtmp_preauth_evicted_total").await > 0.0);
    assert!(worker.metric("zhibo_rtmp_preauth_connections").await <= 200.0);
    assert!(
        reconnects.load(Ordering::Relaxed) > 0,
        "the worker closed no idle socket"
    );
    drop(idle);
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
