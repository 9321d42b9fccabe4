//! S3 event notifications for the local stack, made from SeaweedFS's filer metadata events.
//!
//! On AWS, S3 itself invokes the replay indexer: an `ObjectCreated` notification on
//! `replays/*.m3u8` arrives as an [`aws_lambda_events::s3::S3Event`]. The local stack
//! (`scripts/stack.sh`: SeaweedFS behind an S3 gateway) has no bucket notifications, so this
//! module stands in for them, **on the local stack only**: [`FilerNotifications::run`] tails
//! the filer's metadata log with `weed filer.meta.tail` (one pretty-printed JSON object per
//! change, concatenated on stdout) and [`s3_event_from_filer_event`] turns each created or
//! overwritten playlist into the same S3Event JSON, one record per event, that S3 would send.
//!
//! Delivery is at least once, like S3's: at start the tail reaches
//! [`FilerNotifications::catch_up`] back, so that replays written while nothing listened are
//! still delivered, and after the `weed` child fails it is restarted from the last event seen.
//! The indexer is idempotent, so an event delivered twice changes nothing.

use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// Environment variable naming the `weed` binary (exported by `scripts/stack.sh env`).
pub const WEED_BIN_ENV: &str = "ZHIBO_WEED_BIN";
/// Environment variable with the filer's `host:port` (exported by `scripts/stack.sh env`).
pub const FILER_ENV: &str = "ZHIBO_SEAWEEDFS_FILER";
/// Key prefix of replay playlists.
pub const REPLAYS_PREFIX: &str = "replays/";
/// Key suffix of replay playlists.
pub const PLAYLIST_SUFFIX: &str = ".m3u8";
/// How far back the tail reaches when it starts, by default.
pub const DEFAULT_CATCH_UP: Duration = Duration::from_secs(10 * 60);

/// Wait before the first restart of a failed `weed` child; doubled at each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long was healthy: its failure starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// History read again on restart before the last event seen (its duplicates are dropped).
const RESTART_OVERLAP: Duration = Duration::from_secs(5);
/// Unparsed output kept at most (one filer event is a few KB; a huge file's chunk list more).
const MAX_PENDING_BYTES: usize = 64 << 20;
/// Longest piece of unexpected output put in a log line.
const MAX_LOGGED_CHARS: usize = 500;

/// Where to tail the filer, and which objects to announce: those of `bucket` whose key starts
/// with `prefix` and ends with `suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilerNotifications {
    /// The `weed` binary.
    pub weed_bin: PathBuf,
    /// The filer's `host:port` (HTTP port; `weed` adds 10000 for gRPC).
    pub filer: String,
    /// The S3 bucket (the filer folder `/buckets/{bucket}`).
    pub bucket: String,
    /// Key prefix of the objects announced, e.g. `replays/`.
    pub prefix: String,
    /// Key suffix of the objects announced, e.g. `.m3u8`.
    pub suffix: String,
    /// How far back the tail reaches at start (`weed -timeAgo`), so that objects written
    /// while nothing listened are still announced.
    pub catch_up: Duration,
}

impl FilerNotifications {
    /// Replay playlists of `bucket`, through the `weed` binary and filer named by
    /// `ZHIBO_WEED_BIN` and `ZHIBO_SEAWEEDFS_FILER`; `None` when either is unset or empty.
    pub fn from_env(bucket: &str) -> Option<Self> {
        Self::from_vars(bucket, |name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] with the variables read by `var`.
    fn from_vars(bucket: &str, var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let non_empty = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let weed_bin = non_empty(WEED_BIN_ENV)?;
        let filer = non_empty(FILER_ENV)?;
        Some(FilerNotifications {
            weed_bin: PathBuf::from(weed_bin),
            filer,
            bucket: bucket.to_owned(),
            prefix: REPLAYS_PREFIX.to_owned(),
            suffix: PLAYLIST_SUFFIX.to_owned(),
            catch_up: DEFAULT_CATCH_UP,
        })
    }

    /// Tails the filer and calls `on_event` with an S3Event JSON for each object created or
    /// overwritten, one at a time. Restarts `weed` when it exits or cannot start (after 1 s,
    /// doubling up to 30 s), from the last event seen. Runs until the future is dropped (the
    /// `weed` child is killed then).
    pub async fn run<F, Fut>(self, mut on_event: F)
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = ()>,
    {
        let since = SystemTime::now()
            .checked_sub(self.catch_up)
            .unwrap_or(UNIX_EPOCH);
        let mut position = StreamPosition::new(since);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let started = Instant::now();
            let time_ago = position.time_ago(SystemTime::now());
            let why_stopped = self.tail_once(time_ago, &mut position, &mut on_event).await;
            if started.elapsed() >= HEALTHY_RUN {
                backoff = FIRST_BACKOFF;
            }
            tracing::warn!(
                weed = %self.weed_bin.display(),
                filer = %self.filer,
                retry_in_s = backoff.as_secs(),
                "SeaweedFS event tail stopped: {why_stopped}"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The `weed` arguments for a tail reaching `time_ago` back.
    fn tail_args(&self, time_ago: Duration) -> Vec<String> {
        let mut args = vec![
            "filer.meta.tail".to_owned(),
            format!("-filer={}", self.filer),
            format!("-pathPrefix=/buckets/{}/{}", self.bucket, self.prefix),
        ];
        if !self.suffix.is_empty() {
            args.push(format!("-pattern=*{}", glob_escape(&self.suffix)));
        }
        if !time_ago.is_zero() {
            args.push(format!("-timeAgo={}ms", time_ago.as_millis()));
        }
        args
    }

    /// Runs one `weed filer.meta.tail` child until its output ends; says why it ended.
    async fn tail_once<F, Fut>(
        &self,
        time_ago: Duration,
        position: &mut StreamPosition,
        on_event: &mut F,
    ) -> String
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = ()>,
    {
        let args = self.tail_args(time_ago);
        let mut command = Command::new(&self.weed_bin);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return format!("cannot start {}: {e}", self.weed_bin.display()),
        };
        tracing::info!(weed = %self.weed_bin.display(), ?args, "tailing SeaweedFS filer events");
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return "weed started without its output pipes".to_owned();
        };
        let mut stderr_lines = Some(BufReader::new(stderr).lines());
        let mut last_stderr_line = String::new();
        let mut last_unexpected_output = String::new();
        let mut splitter = ConcatenatedJson::default();
        let mut read_buf = vec![0u8; 64 * 1024];
        let ended = loop {
            tokio::select! {
                read = stdout.read(&mut read_buf) => match read {
                    Ok(0) => break "its output ended".to_owned(),
                    Ok(n) => {
                        for item in splitter.push(&read_buf[..n]) {
                            match item {
                                StreamItem::Object(filer_event) => {
                                    self.deliver(&filer_event, position, on_event).await;
                                }
                                StreamItem::Skipped(text) => {
                                    tracing::warn!("unexpected output from weed filer.meta.tail, skipped: {text}");
                                    last_unexpected_output = text;
                                }
                            }
                        }
                    }
                    Err(e) => break format!("reading its output failed: {e}"),
                },
                line = next_line(&mut stderr_lines) => match line {
                    Some(line) => {
                        tracing::debug!("weed filer.meta.tail: {line}");
                        if !line.trim().is_empty() {
                            last_stderr_line = line;
                        }
                    }
                    None => stderr_lines = None,
                },
            }
        };
        if let Some(text) = splitter.finish() {
            tracing::warn!("unexpected output from weed filer.meta.tail, skipped: {text}");
            last_unexpected_output = text;
        }
        let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("cannot wait for it: {e}"),
            Err(_) => {
                // output closed but still running: kill it (kill_on_drop would too)
                let _ = child.start_kill();
                "still running without output: killed".to_owned()
            }
        };
        // what it printed on its way out (usually already read)
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_millis(200), next_line(&mut stderr_lines)).await
        {
            tracing::debug!("weed filer.meta.tail: {line}");
            if !line.trim().is_empty() {
                last_stderr_line = line;
            }
        }
        let said = if !last_unexpected_output.is_empty() {
            last_unexpected_output
        } else {
            last_stderr_line
        };
        let mut why = format!("weed filer.meta.tail {ended} ({status})");
        if !said.is_empty() {
            let _ = write!(
                why,
                "; it said: {}",
                truncate_chars(said.trim(), MAX_LOGGED_CHARS)
            );
        }
        why
    }

    /// Hands the S3Event made from `filer_event` to `on_event`, unless it was seen before
    /// (read again after a restart) or is not about an object announced.
    async fn deliver<F, Fut>(
        &self,
        filer_event: &Value,
        position: &mut StreamPosition,
        on_event: &mut F,
    ) where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = ()>,
    {
        let ts_ns = filer_event.get("tsNs").and_then(json_u64);
        if !position.advance(ts_ns) {
            tracing::debug!(?ts_ns, "filer event seen before the restart: skipped");
            return;
        }
        match s3_event_from_filer_event(&self.bucket, &self.prefix, &self.suffix, filer_event) {
            Some(s3_event) => on_event(s3_event).await,
            None => {
                let directory = filer_event.get("directory").and_then(|d| d.as_str());
                tracing::debug!(
                    directory,
                    "filer event is no object creation announced: ignored"
                );
            }
        }
    }
}

/// The S3Event JSON S3 would send for the filer metadata event `ev` (one record,
/// `ObjectCreated:Put`, or `ObjectCreated:CompleteMultipartUpload` for a multipart upload), if
/// `ev` creates or overwrites a file of `bucket` whose key starts with `prefix` and ends with
/// `suffix`; `None` for deletions, directories and other keys.
pub fn s3_event_from_filer_event(
    bucket: &str,
    prefix: &str,
    suffix: &str,
    ev: &Value,
) -> Option<Value> {
    let notification = ev.get("eventNotification")?;
    let entry = notification.get("newEntry").filter(|e| e.is_object())?;
    if entry
        .get("isDirectory")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return None;
    }
    let name = entry
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())?;
    // newParentPath is where the entry is now (it differs from `directory` for a rename)
    let directory = notification
        .get("newParentPath")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .or_else(|| ev.get("directory").and_then(Value::as_str))?;
    let key = object_key(bucket, directory, name)?;
    if !key.starts_with(prefix) || !key.ends_with(suffix) {
        return None;
    }
    let ts_ns = ev.get("tsNs").and_then(json_u64)?;
    let size = entry
        .pointer("/attributes/fileSize")
        .and_then(json_u64)
        .unwrap_or(0);
    let event_name = if entry.pointer("/extended/X-Seaweedfs-Upload-Id").is_some() {
        "ObjectCreated:CompleteMultipartUpload"
    } else {
        "ObjectCreated:Put"
    };
    Some(json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": event_time(ts_ns),
            "eventName": event_name,
            "userIdentity": { "principalId": "seaweedfs" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "zhibo-local-seaweedfs",
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": { "principalId": "seaweedfs" },
                    "arn": format!("arn:aws:s3:::{bucket}"),
                },
                "object": {
                    "key": s3_notification_key(&key),
                    "size": size,
                    "eTag": entry_etag(entry).unwrap_or_default(),
                    "sequencer": format!("{ts_ns:016X}"),
                },
            },
        }],
    }))
}

/// The key of file `name` in filer folder `directory`, if that is in `/buckets/{bucket}`.
fn object_key(bucket: &str, directory: &str, name: &str) -> Option<String> {
    let below_bucket = directory.strip_prefix("/buckets/")?.strip_prefix(bucket)?;
    if below_bucket.is_empty() || below_bucket == "/" {
        return Some(name.to_owned());
    }
    let folder = below_bucket.strip_prefix('/')?.trim_end_matches('/');
    Some(format!("{folder}/{name}"))
}

/// The object's ETag as S3 reports it (lowercase hex MD5, `{hex}-{parts}` after a multipart
/// upload): the one the S3 gateway recorded, else the filer's MD5, else that of its only chunk.
fn entry_etag(entry: &Value) -> Option<String> {
    let recorded = entry
        .pointer("/extended/Seaweed-X-Amz-ETag")
        .and_then(Value::as_str)
        .and_then(base64_decode)
        .and_then(|bytes| String::from_utf8(bytes).ok());
    if let Some(recorded) = recorded {
        let etag = recorded.trim().trim_matches('"');
        if !etag.is_empty() && etag.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Some(etag.to_ascii_lowercase());
        }
    }
    if let Some(md5) = entry
        .pointer("/attributes/md5")
        .and_then(Value::as_str)
        .and_then(md5_hex)
    {
        return Some(md5);
    }
    // one chunk holds the whole file: its eTag is the file's MD5 (not so for several chunks)
    match entry.get("chunks").and_then(Value::as_array)?.as_slice() {
        [chunk]
            if !chunk
                .get("isChunkManifest")
                .and_then(Value::as_bool)
                .unwrap_or(false) =>
        {
            chunk.get("eTag").and_then(Value::as_str).and_then(md5_hex)
        }
        _ => None,
    }
}

/// An MD5 given as base64 (as the filer stores it) or hex, in lowercase hex.
fn md5_hex(text: &str) -> Option<String> {
    let text = text.trim();
    if let Some(bytes) = base64_decode(text).filter(|b| b.len() == 16) {
        let mut hex = String::with_capacity(32);
        for b in bytes {
            let _ = write!(hex, "{b:02x}");
        }
        return Some(hex);
    }
    (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// Decodes base64 (standard or URL-safe alphabet, padding optional).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim_end_matches('=');
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in digits.bytes() {
        let sextet = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A key URL-encoded as in S3 notifications: `encodeURIComponent`'s set, but `/` kept and
/// spaces as `+`.
fn s3_notification_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'~'
            | b'*'
            | b'\''
            | b'('
            | b')'
            | b'/' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a unix time in nanoseconds.
fn event_time(ts_ns: u64) -> String {
    let secs = i64::try_from(ts_ns / 1_000_000_000).unwrap_or(i64::MAX);
    let millis = ts_ns % 1_000_000_000 / 1_000_000;
    let whole = zhibo_core::table::iso8601_utc(secs);
    match whole.strip_suffix('Z') {
        Some(base) => format!("{base}.{millis:03}Z"),
        None => whole,
    }
}

/// A JSON number or a string of digits (protobuf's JSON writes 64-bit integers as strings).
fn json_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Escapes Go `filepath.Match` metacharacters.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The next stderr line; `None` at its end or on a read error. Pending forever once `lines`
/// is `None` (the stream ended).
async fn next_line(
    lines: &mut Option<tokio::io::Lines<BufReader<tokio::process::ChildStderr>>>,
) -> Option<String> {
    match lines {
        Some(lines) => lines.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// How far the tail got: the last event seen, for restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StreamPosition {
    /// Events at or before this time were seen (or are older than the catch-up window).
    since: SystemTime,
    /// `tsNs` of the last event seen (0: none yet).
    last_ts_ns: u64,
}

impl StreamPosition {
    fn new(since: SystemTime) -> Self {
        StreamPosition {
            since,
            last_ts_ns: 0,
        }
    }

    /// The `-timeAgo` for a tail started at `now`: back to the last event seen, with overlap
    /// once an event was seen.
    fn time_ago(&self, now: SystemTime) -> Duration {
        let back = now.duration_since(self.since).unwrap_or(Duration::ZERO);
        if self.last_ts_ns == 0 {
            back
        } else {
            back + RESTART_OVERLAP
        }
    }

    /// Notes an event with this `tsNs`; false when it was seen before (not after the last one).
    fn advance(&mut self, ts_ns: Option<u64>) -> bool {
        let Some(ts_ns) = ts_ns.filter(|t| *t > 0) else {
            return true;
        };
        if ts_ns <= self.last_ts_ns {
            return false;
        }
        self.last_ts_ns = ts_ns;
        self.since = UNIX_EPOCH + Duration::from_nanos(ts_ns);
        true
    }
}

/// One piece of `weed filer.meta.tail`'s output.
#[derive(Debug, Clone, PartialEq)]
enum StreamItem {
    /// A JSON object (a filer event).
    Object(Value),
    /// Output that is no JSON object (a message, or a broken object), trimmed and truncated.
    Skipped(String),
}

/// Splits a byte stream of concatenated JSON objects, fed in pieces of any size. After
/// output that is no JSON, it resumes at the next `{` that starts a line (`weed` prints each
/// event from the start of a line; nested objects are indented).
#[derive(Debug, Default)]
struct ConcatenatedJson {
    pending: Vec<u8>,
}

impl ConcatenatedJson {
    /// Adds `bytes`; returns the objects (and skipped output) completed by them.
    fn push(&mut self, bytes: &[u8]) -> Vec<StreamItem> {
        self.pending.extend_from_slice(bytes);
        let mut items = Vec::new();
        let mut consumed = 0;
        loop {
            let rest = &self.pending[consumed..];
            let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
            match values.next() {
                None => {
                    // only whitespace left
                    consumed = self.pending.len();
                    break;
                }
                Some(Ok(value)) => {
                    consumed += values.byte_offset();
                    items.push(if value.is_object() {
                        StreamItem::Object(value)
                    } else {
                        StreamItem::Skipped(truncate_chars(&value.to_string(), MAX_LOGGED_CHARS))
                    });
                }
                // the value goes on in bytes not read yet
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => {
                    let next_object = rest
                        .get(1..)
                        .and_then(|after| after.windows(2).position(|w| w == b"\n{"))
                        .map(|i| i + 1);
                    match next_object {
                        Some(newline) => {
                            push_skipped(&mut items, &rest[..newline]);
                            consumed += newline;
                        }
                        None => {
                            // no object starts yet: drop the complete lines, keep the last
                            // one (and its newline) to see where the next object starts
                            if let Some(newline) = rest.iter().rposition(|&b| b == b'\n') {
                                push_skipped(&mut items, &rest[..newline]);
                                consumed += newline;
                            }
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        if self.pending.len() > MAX_PENDING_BYTES {
            push_skipped(&mut items, &self.pending);
            self.pending.clear();
        }
        items
    }

    /// What is left at the end of the stream (an unfinished object or message), if anything.
    fn finish(&mut self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.pending).trim().to_owned();
        self.pending.clear();
        (!text.is_empty()).then(|| truncate_chars(&text, MAX_LOGGED_CHARS))
    }
}

fn push_skipped(items: &mut Vec<StreamItem>, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if !text.is_empty() {
        items.push(StreamItem::Skipped(truncate_chars(text, MAX_LOGGED_CHARS)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::s3::S3Event;

    const BUCKET: &str = "hls";

    fn convert(sample: &str) -> Option<Value> {
        let ev: Value = serde_json::from_str(sample).unwrap();
        s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev)
    }

    /// The only record, checked to parse as `aws_lambda_events`' S3Event.
    fn only_record(s3_event: Value) -> Value {
        let parsed: S3Event = serde_json::from_value(s3_event.clone()).unwrap();
        assert_eq!(parsed.records.len(), 1);
        let records = s3_event["Records"].as_array().unwrap();
        assert_eq!(records.len(), 1);
        records[0].clone()
    }

    // ------------------------------------------------------------ samples
    //
    // Captured from `weed filer.meta.tail -pathPrefix=/buckets/hls/replays/` (SeaweedFS 4.48,
    // `weed mini` as scripts/stack.sh runs it) while boto3 wrote through the S3 gateway;
    // trimmed to the fields that matter (the real ones also carry fid, signatures, inode...).

    /// PutObject `replays/capt/1/r1.m3u8` (25 bytes), a new object.
    const NEW_M3U8: &str = r#"{
  "directory":  "/buckets/hls/replays/capt/1",
  "eventNotification":  {
    "oldEntry":  null,
    "newEntry":  {
      "name":  "r1.m3u8",
      "isDirectory":  false,
      "chunks":  [
        {
          "fileId":  "",
          "offset":  "0",
          "size":  "25",
          "modifiedTsNs":  "1795451309091167581",
          "eTag":  "qFGob6sd+KvYU6ZGv64NHg==",
          "isChunkManifest":  false
        }
      ],
      "attributes":  {
        "fileSize":  "25",
        "mtime":  "1795451309",
        "fileMode":  432,
        "crtime":  "1795451309",
        "mime":  "application/vnd.apple.mpegurl",
        "md5":  "qFGob6sd+KvYU6ZGv64NHg=="
      },
      "extended":  {
        "Seaweed-X-Amz-ETag":  "YTg1MWE4NmZhYjFkZjhhYmQ4NTNhNjQ2YmZhZTBkMWU="
      }
    },
    "deleteChunks":  true,
    "newParentPath":  "/buckets/hls/replays/capt/1",
    "isFromOtherCluster":  false
  },
  "tsNs":  "1795451309092253094"
}
"#;

    /// The folder `replays/capt/1` the gateway created for that object.
    const DIRECTORY_CREATED: &str = r#"{
  "directory":  "/buckets/hls/replays/capt",
  "eventNotification":  {
    "oldEntry":  null,
    "newEntry":  {
      "name":  "1",
      "isDirectory":  true,
      "chunks":  [],
      "attributes":  {
        "fileSize":  "0",
        "mtime":  "1795451309",
        "fileMode":  2147484153,
        "crtime":  "1795451309",
        "mime":  "",
        "md5":  ""
      },
      "extended":  {}
    },
    "deleteChunks":  false,
    "newParentPath":  "/buckets/hls/replays/capt",
    "isFromOtherCluster":  false
  },
  "tsNs":  "1795451309092207479"
}
"#;

    /// PutObject `replays/capt/1/r1.json` beside the playlist.
    const JSON_BESIDE: &str = r#"{
  "directory":  "/buckets/hls/replays/capt/1",
  "eventNotification":  {
    "oldEntry":  null,
    "newEntry":  {
      "name":  "r1.json",
      "isDirectory":  false,
      "chunks":  [
        {
          "fileId":  "",
          "offset":  "0",
          "size":  "7",
          "modifiedTsNs":  "1795451309101339991",
          "eTag":  "u2y1xo30ZSlByvZSo2by2A==",
          "isChunkManifest":  false
        }
      ],
      "attributes":  {
        "fileSize":  "7",
        "mtime":  "1795451309",
        "fileMode":  432,
        "crtime":  "1795451309",
        "mime":  "application/json",
        "md5":  "u2y1xo30ZSlByvZSo2by2A=="
      },
      "extended":  {
        "Seaweed-X-Amz-ETag":  "YmI2Y2I1YzY4ZGY0NjUyOTQxY2FmNjUyYTM2NmYyZDg="
      }
    },
    "deleteChunks":  true,
    "newParentPath":  "/buckets/hls/replays/capt/1",
    "isFromOtherCluster":  false
  },
  "tsNs":  "1795451309101747313"
}
"#;

    /// DeleteObject `replays/capt/1/r1.json`.
    const DELETED: &str = r#"{
  "directory":  "/buckets/hls/replays/capt/1",
  "eventNotification":  {
    "oldEntry":  {
      "name":  "r1.json",
      "isDirectory":  false,
      "chunks":  [
        {
          "fileId":  "1,014c60889986",
          "offset":  "0",
          "size":  "7",
          "modifiedTsNs":  "1795451309101339991",
          "eTag":  "u2y1xo30ZSlByvZSo2by2A==",
          "isChunkManifest":  false
        }
      ],
      "attributes":  {
        "fileSize":  "7",
        "mtime":  "1795451309",
        "fileMode":  432,
        "crtime":  "1795451309",
        "mime":  "application/json",
        "md5":  "u2y1xo30ZSlByvZSo2by2A=="
      },
      "extended":  {
        "Seaweed-X-Amz-ETag":  "YmI2Y2I1YzY4ZGY0NjUyOTQxY2FmNjUyYTM2NmYyZDg="
      }
    },
    "newEntry":  null,
    "deleteChunks":  true,
    "newParentPath":  "",
    "isFromOtherCluster":  false
  },
  "tsNs":  "1795451309129045023"
}
"#;

    /// PutObject `replays/capt/1/r1.m3u8` again (40 bytes): one event, old and new entry.
    const OVERWRITTEN: &str = r#"{
  "directory":  "/buckets/hls/replays/capt/1",
  "eventNotification":  {
    "oldEntry":  {
      "name":  "r1.m3u8",
      "isDirectory":  false,
      "chunks":  [
        {
          "fileId":  "1,014b013d3e5c",
          "offset":  "0",
          "size":  "25",
          "modifiedTsNs":  "1795451309091167581",
          "eTag":  "qFGob6sd+KvYU6ZGv64NHg==",
          "isChunkManifest":  false
        }
      ],
      "attributes":  {
        "fileSize":  "25",
        "mtime":  "1795451309",
        "fileMode":  432,
        "crtime":  "1795451309",
        "mime":  "application/vnd.apple.mpegurl",
        "md5":  "qFGob6sd+KvYU6ZGv64NHg=="
      },
      "extended":  {
        "Seaweed-X-Amz-ETag":  "YTg1MWE4NmZhYjFkZjhhYmQ4NTNhNjQ2YmZhZTBkMWU="
      }
    },
    "newEntry":  {
      "name":  "r1.m3u8",
      "isDirectory":  false,
      "chunks":  [
        {
          "fileId":  "",
          "offset":  "0",
          "size":  "40",
          "modifiedTsNs":  "1795451309109419463",
          "eTag":  "sGXi/F4pnCWbRs1ypwuvTA==",
          "isChunkManifest":  false
        }
      ],
      "attributes":  {
        "fileSize":  "40",
        "mtime":  "1795451309",
        "fileMode":  432,
        "crtime":  "1795451309",
        "mime":  "application/vnd.apple.mpegurl",
        "md5":  "sGXi/F4pnCWbRs1ypwuvTA=="
      },
      "extended":  {
        "Seaweed-X-Amz-ETag":  "YjA2NWUyZmM1ZTI5OWMyNTliNDZjZDcyYTcwYmFmNGM="
      }
    },
    "deleteChunks":  true,
    "newParentPath":  "/buckets/hls/replays/capt/1",
    "isFromOtherCluster":  false
  },
  "tsNs":  "1795451309109827805"
}
"#;

    /// PutObject `replays/capt/2/my replay é.m3u8` (weed prints the name as raw UTF-8).
    const NON_ASCII_KEY: &str = r#"{
  "directory":  "/buckets/hls/replays/capt/2",
  "eventNotification":  {
    "oldEntry":  null,
    "newEntry":  {
      "name":  "my replay é.m3u8",
      "isDirectory":  false,
      "chunks":  [
        {
          "fileId":  "",
          "offset":  "0",
          "size":  "8",
          "modifiedTsNs":  "1795451309118475500",
          "eTag":  "p2dMaUYHsWnldZOklS6ibw==",
          "isChunkManifest":  false
        }
      ],
      "attributes":  {
        "fileSize":  "8",
        "mtime":  "1795451309",
        "fileMode":  432,
        "crtime":  "1795451309",
        "mime":  "application/vnd.apple.mpegurl",
        "md5":  "p2dMaUYHsWnldZOklS6ibw=="
      },
      "extended":  {
        "Seaweed-X-Amz-ETag":  "YTc2NzRjNjk0NjA3YjE2OWU1NzU5M2E0OTUyZWEyNmY="
      }
    },
    "deleteChunks":  true,
    "newParentPath":  "/buckets/hls/replays/capt/2",
    "isFromOtherCluster":  false
  },
  "tsNs":  "1795451309120387701"
}
"#;

    /// CompleteMultipartUpload of `replays/capt/3/big.m3u8` (parts of 5 MiB and 100 bytes):
    /// one event, no `md5`, the S3 ETag only in `extended`.
    const MULTIPART: &str = r#"{
  "directory":  "/buckets/hls/replays/capt/3",
  "eventNotification":  {
    "oldEntry":  null,
    "newEntry":  {
      "name":  "big.m3u8",
      "isDirectory":  false,
      "chunks":  [
        {
          "fileId":  "",
          "offset":  "0",
          "size":  "4194304",
          "modifiedTsNs":  "1795451309247821861",
          "eTag":  "vbzwLuCql3eVp50l/P3MsQ==",
          "isChunkManifest":  false
        },
        {
          "fileId":  "",
          "offset":  "4194304",
          "size":  "1048576",
          "modifiedTsNs":  "1795451309220106630",
          "eTag":  "cgKCaneRBz/ieH8MlGAyeA==",
          "isChunkManifest":  false
        },
        {
          "fileId":  "",
          "offset":  "5242880",
          "size":  "100",
          "modifiedTsNs":  "1795451309260196525",
          "eTag":  "2EqTVyTqwn18lnZnm2zbrw==",
          "isChunkManifest":  false
        }
      ],
      "attributes":  {
        "fileSize":  "5242980",
        "mtime":  "1795451309",
        "fileMode":  504,
        "crtime":  "1795451309",
        "mime":  "",
        "md5":  ""
      },
      "extended":  {
        "Seaweed-X-Amz-ETag":  "MTZjYWZlOGQ2YjhjMWM1NWMzZDMzOWM4ZDY5MzI2YzYtMg==",
        "X-Seaweedfs-Multipart-Parts-Count":  "Mg==",
        "X-Seaweedfs-Upload-Id":  "YTNiOTUyZTBiM2E2ZmVjNzg1MGFiM2E1NGE2ZGZhMjFmMWI3OTQyNF82MjIzYjdmMmYzYTQ0MzgzYmVlNjdhZGFkZTI3ZGUyYg=="
      }
    },
    "deleteChunks":  true,
    "newParentPath":  "/buckets/hls/replays/capt/3",
    "isFromOtherCluster":  false
  },
  "tsNs":  "1795451309271246668"
}
"#;

    /// What `weed filer.meta.tail` prints on stdout (exit status 0) when the filer is down.
    const FILER_DOWN_MESSAGE: &str = "tail 127.0.0.1:1: subscribing filer meta change: subscribe: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:10001: connect: connection refused\"\n";

    // ------------------------------------------------------------ conversion

    #[test]
    fn seaweedfs_new_playlist_is_one_put_record() {
        let record = only_record(convert(NEW_M3U8).unwrap());
        assert_eq!(
            record,
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-23T16:28:29.092Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": { "principalId": "seaweedfs" },
                "requestParameters": { "sourceIPAddress": "127.0.0.1" },
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "zhibo-local-seaweedfs",
                    "bucket": {
                        "name": "hls",
                        "ownerIdentity": { "principalId": "seaweedfs" },
                        "arn": "arn:aws:s3:::hls",
                    },
                    "object": {
                        "key": "replays/capt/1/r1.m3u8",
                        "size": 25,
                        "eTag": "a851a86fab1df8abd853a646bfae0d1e",
                        "sequencer": "18EAB973F1F42DA6",
                    },
                },
            })
        );
        let parsed: S3Event = serde_json::from_value(convert(NEW_M3U8).unwrap()).unwrap();
        let rec = &parsed.records[0];
        assert_eq!(
            rec.event_time.timestamp_nanos_opt(),
            Some(1_795_451_309_092_000_000)
        );
        assert_eq!(rec.s3.object.size, Some(25));
        assert_eq!(rec.s3.bucket.name.as_deref(), Some("hls"));
        assert_eq!(
            fn_replay_indexer::decode_event_key(rec.s3.object.key.as_deref().unwrap()).as_deref(),
            Some("replays/capt/1/r1.m3u8")
        );
    }

    #[test]
    fn seaweedfs_directory_json_and_delete_are_not_announced() {
        assert_eq!(convert(DIRECTORY_CREATED), None);
        assert_eq!(convert(JSON_BESIDE), None);
        assert_eq!(convert(DELETED), None);
    }

    #[test]
    fn seaweedfs_overwrite_is_a_put_with_the_new_size_and_etag() {
        let record = only_record(convert(OVERWRITTEN).unwrap());
        assert_eq!(record["eventName"], "ObjectCreated:Put");
        assert_eq!(record["s3"]["object"]["key"], "replays/capt/1/r1.m3u8");
        assert_eq!(record["s3"]["object"]["size"], 40);
        assert_eq!(
            record["s3"]["object"]["eTag"],
            "b065e2fc5e299c259b46cd72a70baf4c"
        );
    }

    #[test]
    fn seaweedfs_key_is_url_encoded_as_s3_does() {
        let record = only_record(convert(NON_ASCII_KEY).unwrap());
        let key = record["s3"]["object"]["key"].as_str().unwrap();
        assert_eq!(key, "replays/capt/2/my+replay+%C3%A9.m3u8");
        assert_eq!(
            fn_replay_indexer::decode_event_key(key).as_deref(),
            Some("replays/capt/2/my replay é.m3u8")
        );
        assert_eq!(
            s3_notification_key("a/b+c%d&e=f?g#h(i)*~!'.m3u8"),
            "a/b%2Bc%25d%26e%3Df%3Fg%23h(i)*~!'.m3u8"
        );
    }

    #[test]
    fn seaweedfs_multipart_upload_has_the_multipart_etag() {
        let record = only_record(convert(MULTIPART).unwrap());
        assert_eq!(record["eventName"], "ObjectCreated:CompleteMultipartUpload");
        assert_eq!(record["s3"]["object"]["size"], 5_242_980);
        assert_eq!(
            record["s3"]["object"]["eTag"],
            "16cafe8d6b8c1c55c3d339c8d69326c6-2"
        );
    }

    #[test]
    fn seaweedfs_etag_falls_back_to_md5_then_the_only_chunk() {
        let mut ev: Value = serde_json::from_str(NEW_M3U8).unwrap();
        let entry = ev.pointer_mut("/eventNotification/newEntry").unwrap();
        entry["extended"] = json!({});
        let from_md5 = s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev);
        assert_eq!(
            from_md5.unwrap()["Records"][0]["s3"]["object"]["eTag"],
            "a851a86fab1df8abd853a646bfae0d1e"
        );
        let entry = ev.pointer_mut("/eventNotification/newEntry").unwrap();
        entry["attributes"]["md5"] = json!("");
        let from_chunk = s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev);
        assert_eq!(
            from_chunk.unwrap()["Records"][0]["s3"]["object"]["eTag"],
            "a851a86fab1df8abd853a646bfae0d1e"
        );
        // several chunks and no MD5: no ETag rather than a part's
        let mut multipart: Value = serde_json::from_str(MULTIPART).unwrap();
        let entry = multipart
            .pointer_mut("/eventNotification/newEntry")
            .unwrap();
        entry["extended"] = json!({});
        let record = only_record(
            s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &multipart).unwrap(),
        );
        assert_eq!(record["s3"]["object"]["eTag"], "");
    }

    #[test]
    fn seaweedfs_size_as_number_and_other_buckets() {
        let mut ev: Value = serde_json::from_str(NEW_M3U8).unwrap();
        ev["eventNotification"]["newEntry"]["attributes"]["fileSize"] = json!(25);
        ev["tsNs"] = json!(1_795_451_309_092_253_094_u64);
        let record = only_record(
            s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev).unwrap(),
        );
        assert_eq!(record["s3"]["object"]["size"], 25);
        assert_eq!(record["s3"]["object"]["sequencer"], "18EAB973F1F42DA6");
        // another bucket whose name starts the same, another prefix, not an event at all
        assert_eq!(
            s3_event_from_filer_event("hl", REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev),
            None
        );
        assert_eq!(
            s3_event_from_filer_event(BUCKET, "live/", PLAYLIST_SUFFIX, &ev),
            None
        );
        assert_eq!(
            s3_event_from_filer_event(BUCKET, "", "", &json!({"tsNs": "1"})),
            None
        );
        assert_eq!(
            s3_event_from_filer_event(BUCKET, "", "", &json!([1, 2])),
            None
        );
    }

    #[test]
    fn seaweedfs_helpers() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ").unwrap(), b"M");
        assert_eq!(base64_decode("T"), None);
        assert_eq!(base64_decode("T@==").as_deref(), None);
        assert_eq!(
            md5_hex("A851A86FAB1DF8ABD853A646BFAE0D1E").as_deref(),
            Some("a851a86fab1df8abd853a646bfae0d1e")
        );
        assert_eq!(md5_hex("TWFu"), None);
        assert_eq!(event_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(event_time(1_999_999_999), "1970-01-01T00:00:01.999Z");
        assert_eq!(
            object_key("hls", "/buckets/hls", "a.m3u8").as_deref(),
            Some("a.m3u8")
        );
        assert_eq!(object_key("hls", "/buckets/hlsx/a", "b"), None);
        assert_eq!(object_key("hls", "/elsewhere/hls/a", "b"), None);
        assert_eq!(glob_escape(".m3u8"), ".m3u8");
        assert_eq!(glob_escape("*[x]?"), "\\*\\[x\\]\\?");
        assert_eq!(truncate_chars("éééé", 2), "éé…");
    }

    #[test]
    fn seaweedfs_tail_args_and_restart_position() {
        let notifications = FilerNotifications {
            weed_bin: PathBuf::from("/opt/weed"),
            filer: "127.0.0.1:19958".into(),
            bucket: "hls".into(),
            prefix: REPLAYS_PREFIX.into(),
            suffix: PLAYLIST_SUFFIX.into(),
            catch_up: DEFAULT_CATCH_UP,
        };
        assert_eq!(
            notifications.tail_args(Duration::from_secs(600)),
            [
                "filer.meta.tail",
                "-filer=127.0.0.1:19958",
                "-pathPrefix=/buckets/hls/replays/",
                "-pattern=*.m3u8",
                "-timeAgo=600000ms"
            ]
        );
        assert_eq!(notifications.tail_args(Duration::ZERO).len(), 4);

        let start = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut position = StreamPosition::new(start - DEFAULT_CATCH_UP);
        assert_eq!(position.time_ago(start), DEFAULT_CATCH_UP);
        assert!(position.advance(Some(999_990_000_000_000)));
        assert!(position.advance(None));
        assert!(!position.advance(Some(999_990_000_000_000)));
        assert!(!position.advance(Some(999_000_000_000_000)));
        assert_eq!(
            position.time_ago(start),
            Duration::from_secs(10) + RESTART_OVERLAP
        );
        assert!(position.advance(Some(999_990_000_000_001)));
    }

    #[test]
    fn seaweedfs_from_env_needs_both_variables() {
        let vars = |weed: Option<&str>, filer: Option<&str>| {
            let (weed, filer) = (weed.map(str::to_owned), filer.map(str::to_owned));
            move |name: &str| match name {
                WEED_BIN_ENV => weed.clone(),
                FILER_ENV => filer.clone(),
                _ => None,
            }
        };
        let from = |weed, filer| FilerNotifications::from_vars("media", vars(weed, filer));
        assert_eq!(from(None, Some("127.0.0.1:19958")), None);
        assert_eq!(from(Some(" "), Some("127.0.0.1:19958")), None);
        assert_eq!(from(Some("/opt/weed"), None), None);
        assert_eq!(from(Some("/opt/weed"), Some("")), None);
        assert_eq!(
            from(Some("/opt/weed"), Some("127.0.0.1:19958")),
            Some(FilerNotifications {
                weed_bin: PathBuf::from("/opt/weed"),
                filer: "127.0.0.1:19958".into(),
                bucket: "media".into(),
                prefix: "replays/".into(),
                suffix: ".m3u8".into(),
                catch_up: Duration::from_secs(600),
            })
        );
    }

    // ------------------------------------------------------------ stream splitting

    /// xorshift64*: reproducible chunk sizes.
    struct ChunkSizes(u64);

    impl ChunkSizes {
        fn next(&mut self, max: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            1 + (r % max as u64) as usize
        }
    }

    /// Feeds `stream` in chunks whose sizes `next_size` gives; everything that came out.
    fn split(stream: &[u8], mut next_size: impl FnMut() -> usize) -> Vec<StreamItem> {
        let mut splitter = ConcatenatedJson::default();
        let mut items = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            let n = next_size().min(rest.len());
            items.extend(splitter.push(&rest[..n]));
            rest = &rest[n..];
        }
        if let Some(text) = splitter.finish() {
            items.push(StreamItem::Skipped(text));
        }
        items
    }

    fn objects_of(items: &[StreamItem]) -> Vec<Value> {
        items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Object(v) => Some(v.clone()),
                StreamItem::Skipped(_) => None,
            })
            .collect()
    }

    fn skipped_of(items: &[StreamItem]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Skipped(t) => Some(t.clone()),
                StreamItem::Object(_) => None,
            })
            .collect()
    }

    fn three_samples() -> Vec<Value> {
        [NEW_M3U8, DIRECTORY_CREATED, DELETED]
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect()
    }

    #[test]
    fn seaweedfs_splitter_byte_by_byte() {
        // as weed prints them ("}\n{"), and with nothing between them ("}{")
        let with_newlines = [NEW_M3U8, DIRECTORY_CREATED, DELETED].concat();
        let packed = [NEW_M3U8.trim(), DIRECTORY_CREATED.trim(), DELETED.trim()].concat();
        for stream in [with_newlines, packed] {
            let items = split(stream.as_bytes(), || 1);
            assert_eq!(items.len(), 3, "{items:?}");
            assert_eq!(objects_of(&items), three_samples());
        }
    }

    #[test]
    fn seaweedfs_splitter_random_chunks() {
        let stream = [NEW_M3U8, DIRECTORY_CREATED, DELETED].concat();
        for seed in 1..=200u64 {
            let mut sizes = ChunkSizes(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let max = [2, 7, 64, 300, 5000][(seed % 5) as usize];
            let items = split(stream.as_bytes(), || sizes.next(max));
            assert_eq!(items.len(), 3, "seed {seed}: {items:?}");
            assert_eq!(objects_of(&items), three_samples(), "seed {seed}");
        }
        // all at once
        assert_eq!(
            objects_of(&split(stream.as_bytes(), || usize::MAX)),
            three_samples()
        );
    }

    #[test]
    fn seaweedfs_splitter_resyncs_after_garbage() {
        let broken_object = "{\n  \"directory\":  \"/buckets/hls/repl\n";
        let stream = [
            FILER_DOWN_MESSAGE,
            NEW_M3U8,
            "garbage line\nmore garbage {not json\n",
            DIRECTORY_CREATED,
            broken_object,
            "}} ] stray closers\n",
            DELETED,
            FILER_DOWN_MESSAGE,
        ]
        .concat();
        for seed in 1..=100u64 {
            let mut sizes = ChunkSizes(seed);
            let max = [1, 3, 50, 400, 100_000][(seed % 5) as usize];
            let items = split(stream.as_bytes(), || sizes.next(max));
            assert_eq!(
                objects_of(&items),
                three_samples(),
                "seed {seed}: {items:?}"
            );
            let skipped = skipped_of(&items).join("\n");
            assert_eq!(
                skipped.matches("subscribing filer meta change").count(),
                2,
                "seed {seed}: {skipped}"
            );
            assert!(skipped.contains("garbage line"), "seed {seed}: {skipped}");
            assert!(skipped.contains("stray closers"), "seed {seed}: {skipped}");
        }
    }

    #[test]
    fn seaweedfs_splitter_reports_an_unfinished_object_at_the_end() {
        let mut splitter = ConcatenatedJson::default();
        let cut = NEW_M3U8.len() / 2;
        assert!(splitter.push(&NEW_M3U8.as_bytes()[..cut]).is_empty());
        let rest = splitter.finish().unwrap();
        assert!(rest.starts_with("{\n  \"directory\""), "{rest}");
        assert_eq!(splitter.finish(), None);
        // a message without its newline yet stays until it is complete
        assert!(splitter.push(b"tail: half a mess").is_empty());
        let items = splitter.push(format!("age\n{NEW_M3U8}").as_bytes());
        assert_eq!(skipped_of(&items), ["tail: half a message"]);
        assert_eq!(objects_of(&items).len(), 1);
        // a value that is no object is skipped
        assert_eq!(splitter.push(b"42 "), [StreamItem::Skipped("42".into())]);
    }

    // ------------------------------------------------------------ run, with a fake weed

    fn random_suffix() -> String {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        format!("{:016x}", hasher.finish())
    }

    /// Collects what `run` delivers into a channel.
    fn channel_callback() -> (
        impl FnMut(Value) -> std::future::Ready<()> + Send + 'static,
        tokio::sync::mpsc::UnboundedReceiver<Value>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let callback = move |ev: Value| {
            let _ = tx.send(ev);
            std::future::ready(())
        };
        (callback, rx)
    }

    fn time_ago_ms(args_line: &str) -> u128 {
        let arg = args_line
            .split(' ')
            .find_map(|a| a.strip_prefix("-timeAgo="))
            .unwrap();
        arg.strip_suffix("ms").unwrap().parse().unwrap()
    }

    /// A fake `weed` that prints two events (a playlist and a `.json`, two minutes old) and a
    /// message, then exits: `run` must deliver the playlist once, restart after 1 s from the
    /// last event seen, and drop the events it reads again.
    #[cfg(unix)]
    #[tokio::test]
    async fn seaweedfs_run_restarts_from_the_last_event_without_duplicates() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("zhibo-fake-weed-{}", random_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let two_minutes_ago_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            - 120_000_000_000;
        let mut events = String::new();
        for (sample, ts) in [
            (NEW_M3U8, two_minutes_ago_ns),
            (JSON_BESIDE, two_minutes_ago_ns + 1),
        ] {
            let mut ev: Value = serde_json::from_str(sample).unwrap();
            ev["tsNs"] = json!(ts.to_string());
            events += &serde_json::to_string_pretty(&ev).unwrap();
            events.push('\n');
        }
        std::fs::write(dir.join("events.json"), events).unwrap();
        let script = dir.join("weed");
        let args_log = dir.join("args.log");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\ncat '{}'\necho 'tail: fake filer gone'\n",
                args_log.display(),
                dir.join("events.json").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

        let notifications = FilerNotifications {
            weed_bin: script,
            filer: "127.0.0.1:1".into(),
            bucket: BUCKET.into(),
            prefix: REPLAYS_PREFIX.into(),
            suffix: PLAYLIST_SUFFIX.into(),
            catch_up: DEFAULT_CATCH_UP,
        };
        let (callback, mut rx) = channel_callback();
        let task = tokio::spawn(notifications.run(callback));
        let deadline = Instant::now() + Duration::from_secs(15);
        let invocations = loop {
            let log = std::fs::read_to_string(&args_log).unwrap_or_default();
            let lines: Vec<String> = log.lines().map(str::to_owned).collect();
            if lines.len() >= 2 || Instant::now() > deadline {
                break lines;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(300)).await; // let the 2nd run's output in
        task.abort();
        let _ = task.await;
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(invocations.len() >= 2, "weed ran {invocations:?}");
        let first = time_ago_ms(&invocations[0]);
        assert!((600_000..615_000).contains(&first), "{}", invocations[0]);
        assert!(invocations[0].starts_with(
            "filer.meta.tail -filer=127.0.0.1:1 -pathPrefix=/buckets/hls/replays/ -pattern=*.m3u8"
        ));
        let second = time_ago_ms(&invocations[1]);
        assert!((125_000..140_000).contains(&second), "{}", invocations[1]);
        let mut delivered = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            delivered.push(ev);
        }
        assert_eq!(delivered.len(), 1, "{delivered:?}");
        let record = only_record(delivered.remove(0));
        assert_eq!(record["s3"]["object"]["key"], "replays/capt/1/r1.m3u8");
    }

    #[tokio::test]
    async fn seaweedfs_run_survives_a_missing_weed() {
        let notifications = FilerNotifications {
            weed_bin: PathBuf::from("/nonexistent/zhibo/weed"),
            filer: "127.0.0.1:1".into(),
            bucket: BUCKET.into(),
            prefix: REPLAYS_PREFIX.into(),
            suffix: PLAYLIST_SUFFIX.into(),
            catch_up: DEFAULT_CATCH_UP,
        };
        let (callback, mut rx) = channel_callback();
        let ran = tokio::time::timeout(Duration::from_millis(1500), notifications.run(callback));
        assert!(ran.await.is_err(), "run returned");
        assert!(rx.try_recv().is_err());
    }

    // ------------------------------------------------------------ the local stack

    /// Against the local stack (`eval "$(scripts/stack.sh env)"`): a playlist PUT through the
    /// S3 gateway is announced exactly once, with its key, size and ETag; the `.json` beside
    /// it is not.
    #[tokio::test]
    async fn seaweedfs_local_stack_announces_a_new_playlist_once() {
        let bucket = std::env::var("MEDIA_BUCKET")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "hls".into());
        let endpoint = std::env::var("ZHIBO_S3_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty());
        let (Some(notifications), Some(endpoint)) =
            (FilerNotifications::from_env(&bucket), endpoint)
        else {
            eprintln!(
                "skipped: set {WEED_BIN_ENV}, {FILER_ENV} and ZHIBO_S3_ENDPOINT (eval \"$(scripts/stack.sh env)\") to run against the local stack"
            );
            return;
        };
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::new()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "test",
                    "test",
                    None,
                    None,
                    "zhibo-test",
                ))
                .endpoint_url(endpoint)
                .force_path_style(true)
                .request_checksum_calculation(
                    aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
                )
                .response_checksum_validation(
                    aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
                )
                .build(),
        );
        let folder = format!("replays/test{}/1", random_suffix());
        let stem = format!("{folder}/r{}", random_suffix());
        let (playlist_key, json_key) = (format!("{stem}.m3u8"), format!("{stem}.json"));
        let body = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-ENDLIST\n".to_vec();

        let (callback, mut rx) = channel_callback();
        let task = tokio::spawn(notifications.run(callback));
        let put = s3
            .put_object()
            .bucket(&bucket)
            .key(&playlist_key)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket(&bucket)
            .key(&json_key)
            .body(b"{}".to_vec().into())
            .send()
            .await
            .unwrap();

        let mut ours = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        // until the first one, then 2 s more for duplicates
        let mut until = deadline;
        while let Ok(Some(ev)) = tokio::time::timeout_at(until, rx.recv()).await {
            let record = only_record(ev);
            let key = record["s3"]["object"]["key"].as_str().unwrap().to_owned();
            if fn_replay_indexer::decode_event_key(&key).is_some_and(|k| k.starts_with(&folder)) {
                ours.push(record);
                until = tokio::time::Instant::now() + Duration::from_secs(2);
            }
        }
        task.abort();
        let _ = task.await;
        for key in [&playlist_key, &json_key] {
            let _ = s3.delete_object().bucket(&bucket).key(key).send().await;
        }

        assert_eq!(ours.len(), 1, "{ours:?}");
        let object = &ours[0]["s3"]["object"];
        assert_eq!(object["key"], playlist_key.as_str());
        assert_eq!(object["size"], body.len());
        let etag = put.e_tag().unwrap_or_default().trim_matches('"');
        assert_eq!(object["eTag"], etag);
        assert_eq!(ours[0]["s3"]["bucket"]["name"], bucket.as_str());
    }
}
