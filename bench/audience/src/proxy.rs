//! A counting TCP proxy in front of DynamoDB Local: every byte is forwarded unchanged both
//! ways, and each HTTP/1.1 request the client sends is counted by its `X-Amz-Target`
//! operation (`PutItem`, `UpdateItem`, `TransactWriteItems`, `GetItem`, ...). It knows nothing
//! of zhibo: it counts what really reaches the database.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head the parser keeps (DynamoDB requests' heads are ~1 kB).
const MAX_HEAD: usize = 64 * 1024;

/// Requests seen, by operation.
#[derive(Default)]
pub struct Counts {
    ops: Mutex<BTreeMap<String, u64>>,
}

/// DynamoDB operations that write.
pub const WRITE_OPS: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
];

impl Counts {
    fn add(&self, op: &str) {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        *ops.entry(op.to_string()).or_default() += 1;
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `after - before`, by operation (operations with 0 left out).
pub fn diff(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// The write requests among `ops`.
pub fn writes(ops: &BTreeMap<String, u64>) -> u64 {
    ops.iter()
        .filter(|(k, _)| WRITE_OPS.contains(&k.as_str()))
        .map(|(_, v)| v)
        .sum()
}

/// Listens on a free port of 127.0.0.1 and forwards to `upstream`; returns the port's address.
pub async fn start(upstream: SocketAddr, counts: Arc<Counts>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counts = counts.clone();
            tokio::spawn(async move {
                if let Ok(up) = TcpStream::connect(upstream).await {
                    let _ = client.set_nodelay(true);
                    let _ = up.set_nodelay(true);
                    relay(client, up, &counts).await;
                }
            });
        }
    });
    Ok(addr)
}

async fn relay(client: TcpStream, up: TcpStream, counts: &Counts) {
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = up.into_split();
    let back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
    });
    let mut parser = Parser::default();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match cr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if uw.write_all(&buf[..n]).await.is_err() {
            break;
        }
        parser.feed(&buf[..n], counts);
    }
    let _ = uw.shutdown().await;
    let _ = back.await;
}

/// Splits a client's byte stream into HTTP/1.1 requests (head, then `Content-Length` bytes).
#[derive(Default)]
struct Parser {
    head: Vec<u8>,
    body_left: usize,
    /// A request without a length (chunked): the rest of this connection is not parsed.
    lost: bool,
}

impl Parser {
    fn feed(&mut self, mut data: &[u8], counts: &Counts) {
        while !data.is_empty() && !self.lost {
            if self.body_left > 0 {
                let skip = self.body_left.min(data.len());
                self.body_left -= skip;
                data = &data[skip..];
                continue;
            }
            // Look for the end of the head, also across reads.
            let start = self.head.len().saturating_sub(3);
            self.head.extend_from_slice(data);
            let Some(end) = find(&self.head[start..], b"\r\n\r\n").map(|i| start + i + 4) else {
                if self.head.len() > MAX_HEAD {
                    self.lost = true;
                    counts.add("(unparsed)");
                }
                return;
            };
            let rest = self.head.len() - end;
            let (op, length, chunked) = parse_head(&self.head[..end]);
            counts.add(&op);
            if chunked {
                self.lost = true;
                counts.add("(unparsed)");
                return;
            }
            self.body_left = length;
            data = &data[data.len() - rest..];
            self.head.clear();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The operation (`X-Amz-Target`'s part after the dot), `Content-Length` and whether the body
/// is chunked.
fn parse_head(head: &[u8]) -> (String, usize, bool) {
    let text = String::from_utf8_lossy(head);
    let mut op = "(no target)".to_string();
    let mut length = 0;
    let mut chunked = false;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("x-amz-target") {
            op = value.rsplit('.').next().unwrap_or(value).to_string();
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    (op, length, chunked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_across_reads_and_bodies_skipped() {
        let counts = Counts::default();
        let mut p = Parser::default();
        let body = "{\"TableName\":\"t\",\"x\":\"\r\n\r\nX-Amz-Target: fake\"}";
        let one = format!(
            "POST / HTTP/1.1\r\nx-amz-target: DynamoDB_20120810.PutItem\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let two = "POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: 2\r\n\r\n{}";
        let stream = format!("{one}{two}{one}");
        for chunk in stream.as_bytes().chunks(7) {
            p.feed(chunk, &counts);
        }
        let got = counts.snapshot();
        assert_eq!(got.get("PutItem"), Some(&2));
        assert_eq!(got.get("GetItem"), Some(&1));
        assert_eq!(got.len(), 2);
        assert_eq!(writes(&got), 2);
    }
}
