//! The floor: the least a server can do to serve N viewers of one live. One thread, plain
//! non-blocking sockets, no framework: it paces the input's tags in real time itself and
//! writes them (encoded once, shared) to every connected socket as they become due. With
//! `batch` zero that is one `write` per tag per viewer (what a server that forwards each
//! message as it comes must do at the least); with `batch` > 0 the tags due in each `batch`
//! period are written together, one `write` per period per viewer (the least for a server
//! allowed that much delay, as the worker's `ZHIBO_READ_BATCH_MS` is). Viewers speak
//! HTTP: the request head is read and dropped, the answer is a close-delimited `video/x-flv`
//! body (FLV header, metadata and sequence headers, then live tags). A viewer whose unsent
//! bytes pass `max_queue` is dropped, as the worker's `ZHIBO_FLV_VIEWER_BUFFER_KB` does.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::input::Input;

const RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";

struct Conn {
    socket: TcpStream,
    /// Bytes of the request head read so far; `None` once streaming.
    request: Option<Vec<u8>>,
    queue: VecDeque<Bytes>,
    /// Bytes of `queue`'s front already written.
    offset: usize,
    queued: usize,
}

impl Conn {
    /// Writes what is queued until the socket is full; `Err` for a dead connection.
    fn flush(&mut self) -> io::Result<()> {
        while let Some(front) = self.queue.front() {
            match self.socket.write(&front[self.offset..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    self.offset += n;
                    self.queued -= n;
                    if self.offset == front.len() {
                        self.queue.pop_front();
                        self.offset = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn push(&mut self, bytes: Bytes) {
        self.queued += bytes.len();
        self.queue.push_back(bytes);
    }

    /// Reads the request head; `Ok(true)` once it is complete.
    fn read_request(&mut self) -> io::Result<bool> {
        let Some(req) = self.request.as_mut() else {
            return Ok(true);
        };
        let mut buf = [0u8; 4096];
        loop {
            match self.socket.read(&mut buf) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(n) => {
                    req.extend_from_slice(&buf[..n]);
                    if req.windows(4).any(|w| w == b"\r\n\r\n") {
                        return Ok(true);
                    }
                    if req.len() > 16 * 1024 {
                        return Err(io::Error::other("request head over 16 KiB"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Serves `input` to every viewer that connects to `listen`, forever.
pub fn serve(listen: &str, input: &Input, max_queue: usize, batch: Duration) -> io::Result<()> {
    let listener = TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    // What a new viewer gets first: FLV header, metadata, sequence headers (timestamp 0).
    let mut start = RESPONSE_HEAD.to_vec();
    start.extend_from_slice(&zhibo_media::flv_out::file_header(true, true));
    for tag in input.headers() {
        start.extend_from_slice(&tag.encode(0)?);
    }
    let start = Bytes::from(start);
    let mut conns: Vec<Conn> = Vec::new();
    let (mut accepted, mut dropped, mut lagging) = (0u64, 0u64, 0u64);
    let mut report_at = Instant::now() + Duration::from_secs(10);
    let t0 = Instant::now();
    let mut next_batch = t0;
    let mut schedule = input.schedule().peekable();
    loop {
        let now = Instant::now();
        loop {
            match listener.accept() {
                Ok((socket, _)) => {
                    if socket.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = socket.set_nodelay(true);
                    accepted += 1;
                    conns.push(Conn {
                        socket,
                        request: Some(Vec::new()),
                        queue: VecDeque::new(),
                        offset: 0,
                        queued: 0,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EMFILE and the like: leave the pending ones for later
                Err(e) => {
                    eprintln!("floor: accept: {e}");
                    break;
                }
            }
        }
        // Tags now due (per tag, or at each batch period's end), encoded once each.
        let mut due = Vec::new();
        if batch.is_zero() || now >= next_batch {
            while let Some(&(at, timestamp, tag)) = schedule.peek() {
                if t0 + at > now {
                    break;
                }
                due.push(tag.encode(timestamp)?);
                schedule.next();
            }
            while !batch.is_zero() && next_batch <= now {
                next_batch += batch;
            }
        }
        if due.len() > 1 && !batch.is_zero() {
            due = vec![Bytes::from(due.concat())];
        }
        conns.retain_mut(|c| {
            if c.request.is_some() {
                match c.read_request() {
                    Ok(true) => {
                        c.request = None;
                        c.push(start.clone());
                    }
                    Ok(false) => return true,
                    Err(_) => {
                        dropped += 1;
                        return false;
                    }
                }
            } else {
                for t in &due {
                    c.push(t.clone());
                }
            }
            if c.queued > max_queue {
                lagging += 1;
                dropped += 1;
                return false;
            }
            if c.flush().is_err() {
                dropped += 1;
                return false;
            }
            true
        });
        if now >= report_at {
            eprintln!(
                "floor: {} viewers, {accepted} accepted, {dropped} dropped ({lagging} lagging)",
                conns.len()
            );
            report_at = now + Duration::from_secs(10);
        }
        // Sleep until the next tag, or 2 ms while a socket still holds back bytes / a request
        // is incomplete (no epoll: keep the floor simple).
        let pending = conns.iter().any(|c| c.queued > 0 || c.request.is_some());
        let next = if batch.is_zero() {
            schedule
                .peek()
                .map(|(at, _, _)| t0 + *at)
                .unwrap_or(now + Duration::from_millis(10))
        } else {
            next_batch
        };
        let mut until = next.min(now + Duration::from_millis(if pending { 2 } else { 10 }));
        if until <= now {
            until = now;
        }
        std::thread::sleep(until - now);
    }
}
