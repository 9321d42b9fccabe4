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
//!
//! With `sendfile` (batched only), the live tags are appended once to an in-memory file
//! (`memfd_create`) and each viewer is sent its range of that file with `sendfile(2)`: the
//! kernel takes references to the file's pages instead of copying the bytes once per viewer.
//! It tells what a server that shares one copy of the live in the kernel would cost.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
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
    /// With `sendfile`: the next byte of the shared file to send.
    file_pos: u64,
}

/// The shared in-memory file of the `sendfile` mode.
struct Shared {
    file: File,
    len: u64,
}

impl Shared {
    fn new() -> io::Result<Shared> {
        // SAFETY: a valid NUL-terminated name; the returned descriptor is owned by the File.
        let fd = unsafe { libc::memfd_create(c"floor-live".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is not owned elsewhere.
        let file = unsafe { File::from_raw_fd(fd) };
        Ok(Shared { file, len: 0 })
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Sends `conn` the file from its position until the socket is full.
    fn send(&self, conn: &mut Conn) -> io::Result<()> {
        while conn.file_pos < self.len {
            let mut off = conn.file_pos as libc::off_t;
            let want = (self.len - conn.file_pos) as usize;
            // SAFETY: both descriptors are open for the call; `off` is a valid pointer.
            let n = unsafe {
                libc::sendfile(
                    conn.socket.as_raw_fd(),
                    self.file.as_raw_fd(),
                    &mut off,
                    want,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero));
            }
            conn.file_pos = off as u64;
        }
        Ok(())
    }
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
pub fn serve(
    listen: &str,
    input: &Input,
    max_queue: usize,
    batch: Duration,
    sendfile: bool,
) -> io::Result<()> {
    if sendfile && batch.is_zero() {
        return Err(io::Error::other("--sendfile needs --batch-ms > 0"));
    }
    let mut shared = if sendfile { Some(Shared::new()?) } else { None };
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
                        file_pos: 0,
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
        if let Some(shared) = shared.as_mut() {
            for t in due.drain(..) {
                shared.append(&t)?;
            }
        }
        let shared = shared.as_ref();
        conns.retain_mut(|c| {
            if c.request.is_some() {
                match c.read_request() {
                    Ok(true) => {
                        c.request = None;
                        c.push(start.clone());
                        c.file_pos = shared.map_or(0, |f| f.len);
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
            let unsent_file = shared.map_or(0, |f| f.len - c.file_pos) as usize;
            if c.queued + unsent_file > max_queue {
                lagging += 1;
                dropped += 1;
                return false;
            }
            if c.flush().is_err() {
                dropped += 1;
                return false;
            }
            if let (Some(f), None, 0) = (shared, &c.request, c.queued) {
                if f.send(c).is_err() {
                    dropped += 1;
                    return false;
                }
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
        let file_len = shared.map_or(0, |f| f.len);
        let pending = conns.iter().any(|c| {
            c.queued > 0 || c.request.is_some() || (shared.is_some() && c.file_pos < file_len)
        });
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
