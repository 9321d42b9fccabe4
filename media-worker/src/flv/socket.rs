//! HTTP-FLV on the viewer's own socket. The worker's HTTP listener peeks at each new
//! connection's first bytes ([`route`]): `GET /live/` is served here, everything else
//! (health, metrics, the browsers' preflight) by the HTTP framework.
//!
//! Serving FLV here lets the hub write each batch of tags straight to every viewer's socket
//! from the publisher's flush (one `writev` per viewer per batch, no task wake-up), the way
//! nginx-rtmp and SRS write to their players; a viewer's writer task only wakes when its socket
//! is full or the live ends. The request is one bounded head (at most [`MAX_HEAD_BYTES`],
//! within [`HEAD_TIMEOUT`] of the connection); the response is close-delimited (no chunked
//! framing: HTTP/1.1's "read until the connection closes"), and the connection closes when the
//! live ends, the viewer falls behind, or a write stalls for `ZHIBO_HTTP_WRITE_STALL_S`.

use std::io::{ErrorKind, IoSlice};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use zhibo_core::error::codes;

use super::http::{open_play, Refusal};
use super::relay::RELAY_HEADER;
use super::FlvViewer;
use crate::metrics::Metrics;
use crate::worker::Worker;

/// The start of the requests served here.
pub const FLV_PREFIX: &[u8] = b"GET /live/";
/// Largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most headers in a request head.
const MAX_HEADERS: usize = 32;
/// Time a new connection has to send its request head (and, for the framework's requests,
/// the start of it).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes a viewer may send after its request (it should send none) before it is closed.
const MAX_INPUT_AFTER_HEAD: usize = 64 * 1024;
/// How long a refused connection is drained before it is closed (see [`answer`]).
const LINGER: Duration = Duration::from_secs(2);
/// Most slices in one vectored write.
const MAX_SLICES: usize = 64;

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n";

/// Where a new connection goes, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /live/…`: served here.
    Flv,
    /// Anything else: the HTTP framework.
    Framework,
    /// Too few bytes to tell.
    NeedMore,
}

/// Where a connection whose first bytes are `first` goes.
pub fn route(first: &[u8]) -> Route {
    let n = first.len().min(FLV_PREFIX.len());
    if first[..n] != FLV_PREFIX[..n] {
        Route::Framework
    } else if n == FLV_PREFIX.len() {
        Route::Flv
    } else {
        Route::NeedMore
    }
}

/// Peeks at a new connection's first bytes (leaving them to be read) until its [`Route`] is
/// known; `None` when the client left or sent too little before `deadline`.
pub async fn sort(stream: &TcpStream, deadline: Instant) -> Option<Route> {
    let mut first = [0u8; FLV_PREFIX.len()];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut first))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        match route(&first[..n]) {
            // A request line split over packets (rare): peek returns the same bytes at once
            // until more come, so wait a little between peeks.
            Route::NeedMore => {
                tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(5)))
                    .await
                    .ok()?;
            }
            known => return Some(known),
        }
    }
}

/// A play request, from its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayRequest {
    /// The path after `/live/` (`{stream_name}.flv`).
    pub file: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// Carries [`RELAY_HEADER`]: another worker's pull.
    pub relay_pull: bool,
}

/// Parses a request head read so far: `Ok(None)` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<PlayRequest>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let too_large = || {
        Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            codes::TOO_LARGE,
            format!("the request head is over {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers: send the play URL with fewer, smaller headers"),
        )
    };
    match request.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => Err(too_large()),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(too_large()),
        Err(e) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_FIELD,
            format!("malformed HTTP request ({e}): send GET /live/{{stream_name}}.flv?txSecret=..&txTime=.."),
        )),
        Ok(httparse::Status::Complete(_)) => {
            let (Some("GET"), Some(target)) = (request.method, request.path) else {
                return Err(Refusal::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    codes::METHOD_NOT_ALLOWED,
                    "only GET plays /live/{stream_name}.flv".into(),
                ));
            };
            let Some(rest) = target.strip_prefix("/live/") else {
                return Err(Refusal::new(
                    StatusCode::NOT_FOUND,
                    codes::NOT_FOUND,
                    format!("no such path {target}: play /live/{{stream_name}}.flv?txSecret=..&txTime=.."),
                ));
            };
            let (file, query) = match rest.split_once('?') {
                Some((file, query)) => (file, Some(query.to_string())),
                None => (rest, None),
            };
            let relay_pull = request
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(RELAY_HEADER));
            Ok(Some(PlayRequest {
                file: file.to_string(),
                query,
                relay_pull,
            }))
        }
    }
}

/// Reads the request head before `deadline`. `Err(None)`: the client left or was too slow
/// (nothing to answer).
async fn read_head(stream: &TcpStream, deadline: Instant) -> Result<PlayRequest, Option<Refusal>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let ready = tokio::time::timeout_at(deadline, stream.readable()).await;
        if !matches!(ready, Ok(Ok(()))) {
            return Err(None);
        }
        let room = (MAX_HEAD_BYTES - buf.len()).min(chunk.len());
        match stream.try_read(&mut chunk[..room]) {
            Ok(0) => return Err(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(_) => return Err(None),
        }
        if let Some(request) = parse_head(&buf).map_err(Some)? {
            return Ok(request);
        }
    }
}

/// Serves one HTTP-FLV connection whose head starts with [`FLV_PREFIX`], accepted at
/// `accepted`.
pub async fn serve(mut stream: TcpStream, worker: Arc<Worker>, accepted: Instant) {
    let stall = worker.config.http_write_stall;
    let request = match read_head(&stream, accepted + HEAD_TIMEOUT).await {
        Ok(request) => request,
        Err(refusal) => {
            if let Some(refusal) = refusal {
                answer(&mut stream, &refusal).await;
            }
            return;
        }
    };
    let viewer = match open_play(
        &worker,
        &request.file,
        request.query.as_deref(),
        request.relay_pull,
    )
    .await
    {
        Ok(viewer) => viewer,
        Err(refusal) => return answer(&mut stream, &refusal).await,
    };
    let socket = Arc::new(stream);
    if write_all(
        &socket,
        vec![Bytes::from_static(STREAM_HEAD)],
        stall,
        &worker.metrics,
    )
    .await
    .is_err()
    {
        return;
    }
    viewer.attach(socket.clone());
    send_until_the_end(&socket, &viewer, stall, &worker.metrics).await;
    // Dropping the viewer unsubscribes it and drops the hub's copy of the socket: the last
    // copy closes the connection, which ends the response.
}

/// Writes what the viewer's queue holds whenever the publisher could not write it straight
/// away, until the live ends, the viewer is dropped or the client leaves.
async fn send_until_the_end(
    socket: &TcpStream,
    viewer: &FlvViewer,
    stall: Duration,
    metrics: &Metrics,
) {
    let mut input = [0u8; 1024];
    let mut input_bytes = 0;
    loop {
        let tags = tokio::select! {
            tags = viewer.next() => match tags {
                Some(tags) => tags,
                None => return,
            },
            ready = socket.readable() => {
                if ready.is_err() {
                    return;
                }
                match socket.try_read(&mut input) {
                    Ok(0) => return, // the client left
                    Ok(n) => {
                        input_bytes += n;
                        if input_bytes > MAX_INPUT_AFTER_HEAD {
                            return;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
                continue;
            }
        };
        let len = tags.iter().map(Bytes::len).sum();
        if write_all(socket, tags, stall, metrics).await.is_err() {
            return;
        }
        viewer.sent(len);
    }
}

/// Writes a refusal (JSON, like the rest of the API) and closes.
async fn answer(stream: &mut TcpStream, refusal: &Refusal) {
    let body = refusal.body();
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        refusal.status.as_u16(),
        refusal.status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    // A client that does not read its refusal gets no more time than a stalled viewer.
    if tokio::time::timeout(HEAD_TIMEOUT, write).await.is_err() {
        return;
    }
    // Lingering close: closing with unread input (the rest of an oversized head) would send
    // a reset that can destroy the answer before the client reads it. Read what is left, a
    // bounded amount for a bounded time, then close.
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut left = MAX_INPUT_AFTER_HEAD;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// One non-blocking vectored write of `tags` (at most [`MAX_SLICES`] of them): the bytes
/// written.
pub fn write_now(socket: &TcpStream, tags: &[Bytes]) -> std::io::Result<usize> {
    let slices: Vec<IoSlice<'_>> = tags
        .iter()
        .take(MAX_SLICES)
        .map(|t| IoSlice::new(t))
        .collect();
    socket.try_write_vectored(&slices)
}

/// What is left of `tags` after their first `n` bytes were written.
pub fn unwritten(tags: Vec<Bytes>, mut n: usize) -> Vec<Bytes> {
    let mut rest = Vec::new();
    for tag in tags {
        if n >= tag.len() {
            n -= tag.len();
        } else {
            rest.push(tag.slice(n..));
            n = 0;
        }
    }
    rest
}

/// Writes every byte of `tags`; fails when the client accepts no byte for `stall` (0: never)
/// or the connection fails.
async fn write_all(
    socket: &TcpStream,
    mut tags: Vec<Bytes>,
    stall: Duration,
    metrics: &Metrics,
) -> std::io::Result<()> {
    while !tags.is_empty() {
        let ready = if stall.is_zero() {
            socket.writable().await
        } else {
            match tokio::time::timeout(stall, socket.writable()).await {
                Ok(ready) => ready,
                Err(_) => {
                    Metrics::inc(&metrics.http_write_stalls_total);
                    return Err(std::io::Error::new(
                        ErrorKind::TimedOut,
                        format!(
                            "the client accepted no data for {stall:?} (ZHIBO_HTTP_WRITE_STALL_S)"
                        ),
                    ));
                }
            }
        };
        ready?;
        match write_now(socket, &tags) {
            Ok(n) => tags = unwritten(tags, n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_the_first_bytes() {
        assert_eq!(route(b"GET /live/demo_1.flv HTTP/1.1"), Route::Flv);
        assert_eq!(route(b"GET /live/"), Route::Flv);
        assert_eq!(route(b"GET /li"), Route::NeedMore);
        assert_eq!(route(b"G"), Route::NeedMore);
        assert_eq!(route(b"GET /healthz HTTP/1.1"), Route::Framework);
        assert_eq!(route(b"OPTIONS /live/x.flv"), Route::Framework);
        assert_eq!(route(b"HEAD /live/x.flv"), Route::Framework);
        assert_eq!(route(b"\x16\x03\x01"), Route::Framework);
    }

    #[test]
    fn parses_a_play_head() {
        let head = b"GET /live/demo_1.flv?txSecret=ab&txTime=cd HTTP/1.1\r\nHost: x\r\nX-Zhibo-Relay: 1\r\n\r\n";
        assert_eq!(parse_head(&head[..20]).unwrap(), None);
        let r = parse_head(head).unwrap().unwrap();
        assert_eq!(r.file, "demo_1.flv");
        assert_eq!(r.query.as_deref(), Some("txSecret=ab&txTime=cd"));
        assert!(r.relay_pull);
        let r = parse_head(b"GET /live/demo_1.flv HTTP/1.0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.query, r.relay_pull), (None, false));
    }

    #[test]
    fn refuses_bad_heads_with_the_reason() {
        let e = parse_head(b"GET /live/x\x01y HTTP/1.1\r\n\r\n").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{e:?}");
        let long = [
            b"GET /live/x.flv HTTP/1.1\r\nA: ".as_slice(),
            &[b'a'; MAX_HEAD_BYTES],
        ]
        .concat();
        assert_eq!(
            parse_head(&long).unwrap_err().status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        let many: String = (0..40).map(|i| format!("h{i}: v\r\n")).collect();
        let many = format!("GET /live/x.flv HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse_head(many.as_bytes()).unwrap_err().status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            parse_head(b"GET /liveX HTTP/1.1\r\n\r\n")
                .unwrap_err()
                .status,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn unwritten_keeps_the_rest_in_order() {
        let tags = vec![Bytes::from_static(b"abc"), Bytes::from_static(b"defg")];
        assert_eq!(unwritten(tags.clone(), 0), tags);
        assert_eq!(unwritten(tags.clone(), 2), [&b"c"[..], b"defg"]);
        assert_eq!(unwritten(tags.clone(), 3), [&b"defg"[..]]);
        assert_eq!(unwritten(tags.clone(), 5), [&b"fg"[..]]);
        assert!(unwritten(tags, 7).is_empty());
    }
}
