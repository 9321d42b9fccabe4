//! The `weed filer.meta.tail` child: its arguments, its output turned into deliveries, and
//! its restarts (with backoff, from the last event seen).

use std::fmt::Write as _;
use std::future::Future;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zhibo_core::backoff::Backoff;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use super::filer_event::{json_u64, s3_event_from_filer_event};
use super::json_stream::{truncate_chars, ConcatenatedJson, StreamItem, MAX_LOGGED_CHARS};
use super::FilerNotifications;

/// Waits between restarts of a failed `weed` child: 1 s, doubling up to 30 s.
const RESTART_BACKOFF: Backoff = Backoff::doubling(Duration::from_secs(1), Duration::from_secs(30));
/// A child that ran this long was healthy: its failure starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// History read again on restart before the last event seen (its duplicates are dropped).
const RESTART_OVERLAP: Duration = Duration::from_secs(5);

impl FilerNotifications {
    /// Tails the filer until the future is dropped: [`FilerNotifications::run`].
    pub(super) async fn tail_forever<F, Fut>(&self, mut on_event: F)
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = ()>,
    {
        let since = SystemTime::now()
            .checked_sub(self.catch_up)
            .unwrap_or(UNIX_EPOCH);
        let mut position = StreamPosition::new(since);
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            let time_ago = position.time_ago(SystemTime::now());
            let why_stopped = self.tail_once(time_ago, &mut position, &mut on_event).await;
            if started.elapsed() >= HEALTHY_RUN {
                failures = 0;
            }
            failures = failures.saturating_add(1);
            let backoff = RESTART_BACKOFF.delay(failures, 0.0);
            tracing::warn!(
                weed = %self.weed_bin.display(),
                filer = %self.filer,
                retry_in_s = backoff.as_secs(),
                "SeaweedFS event tail stopped: {why_stopped}"
            );
            tokio::time::sleep(backoff).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seaweedfs::test_support::*;
    use crate::seaweedfs::{DEFAULT_CATCH_UP, PLAYLIST_SUFFIX, REPLAYS_PREFIX};
    use serde_json::json;
    use std::path::PathBuf;

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
    fn seaweedfs_glob_escape() {
        assert_eq!(glob_escape(".m3u8"), ".m3u8");
        assert_eq!(glob_escape("*[x]?"), "\\*\\[x\\]\\?");
    }

    // ------------------------------------------------------------ run, with a fake weed

    fn random_suffix() -> String {
        format!("{:016x}", rand::random::<u64>())
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
}
