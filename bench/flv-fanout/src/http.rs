//! The HTTP-FLV viewer: a raw TCP socket writes the GET and reads the response into a counting
//! sink (chunked transfer coding decoded in place, without copying), or, for the delay
//! measurement, into an FLV tag reader.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use zhibo_media::flv_in::FlvTagReader;

use crate::input::VIDEO;
use crate::stats::{SendLog, Slot};

/// `http://host:port/path?query` split.
#[derive(Clone)]
pub struct HttpUrl {
    pub addr: String,
    pub path: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> io::Result<HttpUrl> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| io::Error::other(format!("not an http:// URL: {url}")))?;
        let (addr, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(HttpUrl {
            addr: addr.to_string(),
            path: path.to_string(),
        })
    }
}

/// Incremental decoder of the chunked transfer coding.
enum Chunked {
    Size(u64),
    Ext(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    Done,
}

/// How the response body is delimited.
enum Body {
    /// Until the connection closes.
    Raw,
    Chunked(Chunked),
}

impl Body {
    /// Passes the body bytes in `input` to `out`; `Ok(true)` once the body ended.
    fn feed(&mut self, input: &[u8], out: &mut impl FnMut(&[u8])) -> io::Result<bool> {
        let state = match self {
            Body::Raw => {
                out(input);
                return Ok(false);
            }
            Body::Chunked(state) => state,
        };
        let bad = || io::Error::other("malformed chunked response body");
        let mut i = 0;
        while i < input.len() {
            match *state {
                Chunked::Data(rem) => {
                    let take = rem.min((input.len() - i) as u64) as usize;
                    out(&input[i..i + take]);
                    i += take;
                    *state = if rem == take as u64 {
                        Chunked::DataCr
                    } else {
                        Chunked::Data(rem - take as u64)
                    };
                    continue;
                }
                Chunked::Done => return Ok(true),
                _ => {}
            }
            let b = input[i];
            i += 1;
            *state = match *state {
                Chunked::Size(acc) => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (b as char).to_digit(16).ok_or_else(bad)? as u64;
                        if acc > (u64::MAX >> 8) {
                            return Err(bad());
                        }
                        Chunked::Size(acc * 16 + d)
                    }
                    b';' | b' ' | b'\t' => Chunked::Ext(acc),
                    b'\r' => Chunked::SizeLf(acc),
                    _ => return Err(bad()),
                },
                Chunked::Ext(acc) => {
                    if b == b'\r' {
                        Chunked::SizeLf(acc)
                    } else {
                        Chunked::Ext(acc)
                    }
                }
                Chunked::SizeLf(0) if b == b'\n' => Chunked::Done,
                Chunked::SizeLf(acc) if b == b'\n' => Chunked::Data(acc),
                Chunked::DataCr if b == b'\r' => Chunked::DataLf,
                Chunked::DataLf if b == b'\n' => Chunked::Size(0),
                _ => return Err(bad()),
            };
        }
        Ok(matches!(state, Chunked::Done))
    }
}

/// Reads the response head; returns the body decoder and the body bytes already read.
async fn read_head(socket: &mut TcpStream, buf: &mut [u8]) -> io::Result<(Body, Vec<u8>)> {
    let mut head = Vec::with_capacity(1024);
    loop {
        let n = socket.read(buf).await?;
        if n == 0 {
            return Err(io::Error::other("server closed before the response head"));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            let status = text.lines().next().unwrap_or_default().to_string();
            if !status.starts_with("http/1.1 200") && !status.starts_with("http/1.0 200") {
                let body = String::from_utf8_lossy(&head[end + 4..]);
                return Err(io::Error::other(format!(
                    "{status}: {}",
                    body.chars().take(300).collect::<String>()
                )));
            }
            let chunked = text
                .lines()
                .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
            let body = if chunked {
                Body::Chunked(Chunked::Size(0))
            } else {
                Body::Raw
            };
            return Ok((body, head[end + 4..].to_vec()));
        }
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("response head over 64 KiB"));
        }
    }
}

/// One HTTP-FLV viewer until the server ends the response or an error. Counts into `slot`;
/// with `log`, parses the FLV and records each video tag's delay. `read_every` > 0 reads at
/// most that often (see [`crate::rtmp::play`]).
pub async fn play(
    url: &HttpUrl,
    slot: Arc<Slot>,
    read_every: Duration,
    log: Option<Arc<SendLog>>,
) -> io::Result<()> {
    let mut socket = TcpStream::connect(&url.addr).await?;
    socket.set_nodelay(true)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: zhibo-flv-bench\r\nAccept: */*\r\n\r\n",
        url.path, url.addr
    );
    socket.write_all(request.as_bytes()).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut body, first) = read_head(&mut socket, &mut buf).await?;
    slot.started();
    slot.wire(first.len());
    let mut flv = log.as_ref().map(|_| FlvTagReader::new(16 << 20));
    let mut bad_flv: Option<String> = None;
    let mut sink = |bytes: &[u8]| {
        slot.media(bytes.len());
        if let (Some(reader), Some(log)) = (flv.as_mut(), log.as_ref()) {
            reader.push(bytes);
            let now = Instant::now();
            loop {
                match reader.next_tag() {
                    Ok(Some(tag)) => {
                        if tag.tag_type == VIDEO {
                            log.received(tag.timestamp, now);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        bad_flv.get_or_insert(e.to_string());
                        break;
                    }
                }
            }
        }
    };
    let mut ended = body.feed(&first, &mut sink)?;
    while !ended {
        if !read_every.is_zero() {
            tokio::time::sleep(read_every).await;
        }
        loop {
            let n = if read_every.is_zero() {
                socket.read(&mut buf).await?
            } else {
                match socket.try_read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            slot.wire(n);
            ended = body.feed(&buf[..n], &mut sink)?;
            if ended || read_every.is_zero() {
                break;
            }
        }
    }
    if let Some(e) = bad_flv {
        return Err(io::Error::other(format!("bad FLV: {e}")));
    }
    Err(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server ended the response",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_in_any_split() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nb\r\nworld again\r\n0\r\n\r\n";
        for split in 1..wire.len() {
            let mut body = Body::Chunked(Chunked::Size(0));
            let mut got = Vec::new();
            let mut done = false;
            for piece in wire.chunks(split) {
                done = body
                    .feed(piece, &mut |b: &[u8]| got.extend_from_slice(b))
                    .unwrap();
            }
            assert!(done, "split {split}");
            assert_eq!(got, b"hello world again", "split {split}");
        }
    }

    #[test]
    fn chunked_rejects_garbage() {
        let mut body = Body::Chunked(Chunked::Size(0));
        assert!(body.feed(b"zz\r\n", &mut |_: &[u8]| {}).is_err());
    }
}
