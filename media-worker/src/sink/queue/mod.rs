//! [`UploadQueue`]: ordered, bounded, retrying, spilling uploads between the RTMP read loop and
//! a [`MediaObjects`] store.
//!
//! Each stream gets a [`StreamUploader`] backed by one task that stores that stream's objects
//! one at a time, in the order they were put; a global semaphore bounds requests across streams.
//! [`StreamUploader::put`] never waits: bodies are counted against a global memory budget, and
//! beyond it the stream's task moves new bodies to files in the spill folder (read back when
//! their turn comes, deleted once stored or given up). Retryable failures are retried with
//! capped, jittered exponential backoff until they succeed or a flush deadline passes; other
//! failures are logged and the object is abandoned.
//!
//! Ordering: objects are stored in put order, except that an object still waiting (not being
//! sent) is dropped when a newer one with the same key is put; the newer one takes its place at
//! the back of the queue, behind everything put before it. So a playlist is only ever written
//! after the segments put before it, and while the sink is down only the newest playlist is
//! kept. A [`StreamUploader::flush`] is a barrier: objects put before it are never replaced by
//! objects put after it.
//!
//! Limits: a stream's backlog (objects and bytes, in memory or spilled) and the spill folder's
//! total size are capped. `put` still never refuses (order and playlists stay consistent), but
//! [`StreamUploader::limit_exceeded`] then tells the caller to end that stream, so one stream
//! cannot take the worker's memory or disk from the others.
//!
//! This file holds the API and the ordering rules; `task` the per-stream actor (sending,
//! retrying, replacing, flushing), `spill` the queued jobs and spill files, `stats` the
//! counters and the latency histogram.

mod spill;
mod stats;
mod task;
#[cfg(test)]
mod test_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use super::{MediaObjects, ObjectPut};
use spill::Job;
use stats::Counters;
pub use stats::UploadStats;
use task::StreamTask;
use zhibo_store::live_room::Fence;

/// Settings of an [`UploadQueue`].
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Requests in flight at once, across all streams (default 32; at least 1).
    pub concurrency: usize,
    /// Queued bodies kept in memory across all streams (default 256 MiB); beyond it, newly
    /// queued bodies are written to `spill_dir` until the queue catches up.
    pub memory_budget_bytes: usize,
    /// Folder for spilled bodies (`<unique>.part` files; created when first needed).
    pub spill_dir: PathBuf,
    /// Wait after the first failed attempt (default 100 ms); doubles per attempt.
    pub initial_backoff: Duration,
    /// Longest wait between attempts (default 5 s).
    pub max_backoff: Duration,
    /// Objects one stream may have queued (default 5000, about 2.5 hours of 2-s segments
    /// while the sink is down).
    pub max_stream_objects: usize,
    /// Bytes one stream may have queued, in memory and spilled (default 1 GiB, about 17
    /// minutes of an 8 Mbit/s stream while the sink is down).
    pub max_stream_bytes: usize,
    /// Bytes the spill folder may hold across streams (default 8 GiB); a body that would
    /// overflow it stays in memory and its stream is told to end.
    pub max_spill_bytes: u64,
}

/// A backlog limit a stream broke (see [`StreamUploader::limit_exceeded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UploadLimit {
    /// Too many objects waiting.
    #[error("more than {0} objects wait to be uploaded: the sink is far behind this stream")]
    StreamObjects(usize),
    /// Too many bytes waiting.
    #[error("more than {0} bytes wait to be uploaded: the sink is far behind this stream")]
    StreamBytes(usize),
    /// The spill folder is full.
    #[error("the spill folder holds {0} bytes, its cap: the sink is far behind")]
    SpillFull(u64),
    /// Spilling to disk failed (the body stayed in memory).
    #[error("cannot spill uploads to disk while the sink is behind; check ZHIBO_SPILL_DIR")]
    SpillFailed,
}

/// Codes of the spill condition shared by a stream's task and its uploader.
const SPILL_OK: u8 = 0;
const SPILL_FULL: u8 = 1;
const SPILL_FAILED: u8 = 2;

impl Default for UploadConfig {
    fn default() -> UploadConfig {
        UploadConfig {
            concurrency: 32,
            memory_budget_bytes: 256 << 20,
            spill_dir: std::env::temp_dir().join("zhibo-upload-spill"),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_stream_objects: 5_000,
            max_stream_bytes: 1 << 30,
            max_spill_bytes: 8 << 30,
        }
    }
}

/// What a [`StreamUploader::flush`] or [`StreamUploader::close`] ended with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Objects put before the flush that were given up on (non-retryable error, or deadline
    /// passed), not counted by an earlier flush. 0 means everything put is stored.
    pub abandoned: usize,
    /// The deadline passed before everything was stored.
    pub timed_out: bool,
}

/// Uploads for every stream of a worker: global concurrency limit, memory budget and stats.
/// Cheap to clone (shared state).
#[derive(Clone)]
pub struct UploadQueue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for UploadQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadQueue")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What a queue's streams share.
struct Inner {
    sink: Arc<dyn MediaObjects>,
    config: UploadConfig,
    permits: Semaphore,
    counters: Counters,
}

impl UploadQueue {
    /// A queue in front of `sink`.
    pub fn new(sink: Arc<dyn MediaObjects>, config: UploadConfig) -> UploadQueue {
        let permits = Semaphore::new(config.concurrency.clamp(1, Semaphore::MAX_PERMITS));
        UploadQueue {
            inner: Arc::new(Inner {
                sink,
                config,
                permits,
                counters: Counters::default(),
            }),
        }
    }

    /// An uploader for one stream (`label` appears in logs), with its own task: call from
    /// within a Tokio runtime. Objects put through it are stored in order (see the module doc).
    pub fn stream(&self, label: &str) -> StreamUploader {
        let (tx, rx) = mpsc::unbounded_channel();
        let label: Arc<str> = Arc::from(label);
        let unsettled = Arc::new(AtomicU64::new(0));
        let spill = Arc::new(AtomicU8::new(SPILL_OK));
        let task = StreamTask::new(
            self.inner.clone(),
            label.clone(),
            rx,
            unsettled.clone(),
            spill.clone(),
        );
        tokio::spawn(task.run());
        StreamUploader {
            tx,
            inner: self.inner.clone(),
            label,
            unsettled,
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            spill,
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> UploadStats {
        self.inner.counters.snapshot()
    }
}

/// One stream's uploads (see [`UploadQueue::stream`]). Dropping it without [`close`] lets its
/// task store what is queued in the background, then end.
///
/// [`close`]: StreamUploader::close
pub struct StreamUploader {
    tx: mpsc::UnboundedSender<Msg>,
    inner: Arc<Inner>,
    label: Arc<str>,
    /// Objects put and not yet settled (stored, abandoned or replaced) by the task; what is
    /// lost if the task is gone.
    unsettled: Arc<AtomicU64>,
    /// Bytes of this stream's queued bodies, in memory or spilled.
    queued_bytes: Arc<AtomicUsize>,
    /// The outcome of the task's last spill (`SPILL_*`).
    spill: Arc<AtomicU8>,
}

impl std::fmt::Debug for StreamUploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamUploader")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl StreamUploader {
    /// Queues `object` behind everything put before it (replacing a waiting object with the
    /// same key). Never waits; the body counts against the memory budget until stored or
    /// spilled.
    pub fn put(&self, object: ObjectPut) {
        self.put_job(Job::new(
            object,
            None,
            self.inner.clone(),
            self.queued_bytes.clone(),
        ));
    }

    /// [`put`](StreamUploader::put) through `fence`: written only while the fence's session
    /// still writes the room (the live playlist; see `zhibo_store::live_room`). A write the
    /// fence refuses is abandoned, and [`Fence::shut_out`] then says why.
    pub fn put_fenced(&self, object: ObjectPut, fence: Arc<Fence>) {
        self.put_job(Job::new(
            object,
            Some(fence),
            self.inner.clone(),
            self.queued_bytes.clone(),
        ));
    }

    fn put_job(&self, job: Job) {
        self.unsettled.fetch_add(1, Relaxed);
        if let Err(mpsc::error::SendError(msg)) = self.tx.send(Msg::Put(job)) {
            if let Msg::Put(job) = msg {
                tracing::error!(stream = %self.label, key = %job.key, "upload task is gone; object dropped");
            }
            self.inner.counters.abandoned_objects.fetch_add(1, Relaxed);
        }
    }

    /// Whether this stream broke a backlog limit (see [`UploadConfig`]): the caller should end
    /// it. Objects already put are still stored.
    pub fn limit_exceeded(&self) -> Option<UploadLimit> {
        let config = &self.inner.config;
        let objects = usize::try_from(self.unsettled.load(Relaxed)).unwrap_or(usize::MAX);
        if objects > config.max_stream_objects {
            return Some(UploadLimit::StreamObjects(config.max_stream_objects));
        }
        if self.queued_bytes.load(Relaxed) > config.max_stream_bytes {
            return Some(UploadLimit::StreamBytes(config.max_stream_bytes));
        }
        match self.spill.load(Relaxed) {
            SPILL_FULL => Some(UploadLimit::SpillFull(config.max_spill_bytes)),
            SPILL_FAILED => Some(UploadLimit::SpillFailed),
            _ => None,
        }
    }

    /// Resolves once every object put so far is stored or abandoned. With a `deadline`, what
    /// is still unsent when it passes is abandoned (an in-flight request is cancelled).
    pub async fn flush(&self, deadline: Option<std::time::Instant>) -> FlushReport {
        let (reply, answer) = oneshot::channel();
        let deadline = deadline.map(Instant::from_std);
        if self.tx.send(Msg::Flush { deadline, reply }).is_ok() {
            if let Ok(report) = answer.await {
                return report;
            }
        }
        let lost = self.unsettled.load(Relaxed);
        tracing::error!(stream = %self.label, lost, "upload task is gone");
        FlushReport {
            abandoned: usize::try_from(lost).unwrap_or(usize::MAX),
            timed_out: false,
        }
    }

    /// [`flush`](StreamUploader::flush), then ends the stream's task.
    pub async fn close(self, deadline: Option<std::time::Instant>) -> FlushReport {
        self.flush(deadline).await
    }
}

enum Msg {
    Put(Job),
    Flush {
        deadline: Option<Instant>,
        reply: oneshot::Sender<FlushReport>,
    },
}

#[cfg(test)]
mod tests {
    use super::stats::LATENCY_BUCKETS_S;
    use super::test_support::*;
    use super::*;

    #[tokio::test]
    async fn stores_in_put_order() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.delay_ms.store(1, Relaxed);
        let queue = UploadQueue::new(sink.clone(), config(dir.path()));
        let up = queue.stream("s");
        let keys: Vec<String> = (0..100).map(|i| format!("live/a/1/s/{i}.ts")).collect();
        for k in &keys {
            up.put(obj(k, k.clone()));
        }
        let report = up.close(None).await;
        assert_eq!(report, FlushReport::default());
        assert_eq!(sink.keys(), keys);
        let stats = queue.stats();
        assert_eq!(stats.uploaded_objects, 100);
        assert_eq!(stats.queued_objects, 0);
        assert_eq!(stats.queued_bytes_in_memory, 0);
        assert_eq!(stats.latency_count, 100);
        assert_eq!(stats.latency_buckets.len(), LATENCY_BUCKETS_S.len());
        assert!(stats.latency_buckets.last().unwrap().1 <= 100);
        assert!(stats.latency_sum_s > 0.0);
    }

    #[tokio::test]
    async fn playlists_are_stored_after_the_segments_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.delay_ms.store(2, Relaxed);
        let queue = UploadQueue::new(sink.clone(), config(dir.path()));
        let up = queue.stream("s");
        for i in 0..20 {
            up.put(obj(&format!("seg/{i}.ts"), vec![0u8; 100]));
            up.put(obj("index.m3u8", format!("{i}")));
            if i % 7 == 0 {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
        up.close(None).await;
        let stored = sink.stored.lock().unwrap().clone();
        let mut seen_segments = 0;
        let mut last_playlist = None;
        for o in &stored {
            if o.key == "index.m3u8" {
                let names: usize = std::str::from_utf8(&o.body).unwrap().parse().unwrap();
                assert!(names < seen_segments, "playlist {names} before its segment");
                assert!(last_playlist < Some(names), "playlists out of order");
                last_playlist = Some(names);
            } else {
                assert_eq!(o.key, format!("seg/{seen_segments}.ts"));
                seen_segments += 1;
            }
        }
        assert_eq!(seen_segments, 20);
        assert_eq!(
            last_playlist,
            Some(19),
            "the newest playlist is stored last"
        );
        let stats = queue.stats();
        assert_eq!(
            stats.uploaded_objects + stats.replaced_objects,
            40,
            "{stats:?}"
        );
    }

    #[tokio::test]
    async fn waiting_playlists_are_coalesced_while_the_sink_is_down() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let queue = UploadQueue::new(sink.clone(), config(dir.path()));
        let up = queue.stream("s");
        for i in 0..5 {
            up.put(obj(&format!("seg/{i}.ts"), "x"));
            up.put(obj("index.m3u8", format!("{i}")));
        }
        wait_for("the puts to be queued", || {
            queue.stats().replaced_objects == 4
        })
        .await;
        sink.set_mode(OK);
        assert_eq!(up.flush(None).await, FlushReport::default());
        assert_eq!(
            sink.keys(),
            [
                "seg/0.ts",
                "seg/1.ts",
                "seg/2.ts",
                "seg/3.ts",
                "seg/4.ts",
                "index.m3u8"
            ]
        );
        assert_eq!(sink.bodies().last().unwrap().as_ref(), b"4");
    }

    #[tokio::test]
    async fn a_retrying_playlist_is_superseded_by_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let mut cfg = config(dir.path());
        cfg.initial_backoff = Duration::from_millis(400);
        cfg.max_backoff = Duration::from_millis(400);
        let queue = UploadQueue::new(sink.clone(), cfg);
        let up = queue.stream("s");
        up.put(obj("index.m3u8", "old"));
        wait_for("a failed attempt", || sink.attempts.load(Relaxed) == 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        up.put(obj("index.m3u8", "new"));
        sink.set_mode(OK);
        assert_eq!(up.flush(None).await, FlushReport::default());
        assert_eq!(sink.bodies(), [Bytes::from("new")]);
        assert_eq!(queue.stats().replaced_objects, 1);
    }

    #[tokio::test]
    async fn a_flush_is_a_barrier_for_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let queue = UploadQueue::new(sink.clone(), config(dir.path()));
        let up = Arc::new(queue.stream("s"));
        up.put(obj("seg/0.ts", "s0"));
        up.put(obj("index.m3u8", "v1"));
        let flushing = tokio::spawn({
            let up = up.clone();
            async move { up.flush(None).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        up.put(obj("index.m3u8", "v2"));
        tokio::time::sleep(Duration::from_millis(20)).await;
        sink.set_mode(OK);
        assert_eq!(flushing.await.unwrap(), FlushReport::default());
        assert!(
            sink.bodies().contains(&Bytes::from("v1")),
            "a flush must store what was put before it"
        );
        up.flush(None).await;
        assert_eq!(sink.bodies(), ["s0", "v1", "v2"].map(Bytes::from));
    }

    #[tokio::test]
    async fn a_stream_beyond_its_backlog_caps_is_told_to_end_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let mut cfg = config(dir.path());
        cfg.max_stream_objects = 10;
        cfg.max_stream_bytes = 10_000;
        let queue = UploadQueue::new(sink.clone(), cfg);
        let flood = queue.stream("flood");
        let quiet = queue.stream("quiet");
        quiet.put(obj("quiet/0.ts", "x"));
        for i in 0..10 {
            flood.put(obj(&format!("a/{i}.ts"), "x"));
            assert_eq!(flood.limit_exceeded(), None, "object {i}");
        }
        flood.put(obj("a/10.ts", "x"));
        assert_eq!(flood.limit_exceeded(), Some(UploadLimit::StreamObjects(10)));
        assert_eq!(quiet.limit_exceeded(), None);

        let big = queue.stream("big");
        big.put(obj("b/0.ts", vec![0u8; 6_000]));
        assert_eq!(big.limit_exceeded(), None);
        big.put(obj("b/1.ts", vec![0u8; 6_000]));
        assert_eq!(big.limit_exceeded(), Some(UploadLimit::StreamBytes(10_000)));
        assert!(UploadLimit::StreamBytes(10_000)
            .to_string()
            .contains("sink is far behind"));

        // Once the sink catches up the backlog is gone, and nothing was lost.
        sink.set_mode(OK);
        assert_eq!(flood.flush(None).await, FlushReport::default());
        assert_eq!(big.flush(None).await, FlushReport::default());
        assert_eq!(flood.limit_exceeded(), None);
        assert_eq!(big.limit_exceeded(), None);
        assert_eq!(sink.keys().len(), 14);
    }

    #[tokio::test]
    async fn concurrency_is_bounded_across_streams() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.delay_ms.store(5, Relaxed);
        let mut cfg = config(dir.path());
        cfg.concurrency = 4;
        let queue = UploadQueue::new(sink.clone(), cfg);
        let streams: Vec<_> = (0..20).map(|s| queue.stream(&format!("s{s}"))).collect();
        for (s, up) in streams.iter().enumerate() {
            for i in 0..10 {
                up.put(obj(&format!("{s}/{i}.ts"), "x"));
            }
        }
        for up in streams {
            up.close(None).await;
        }
        assert_eq!(sink.keys().len(), 200);
        let max = sink.max_in_flight.load(Relaxed);
        assert!(max <= 4, "max in flight {max}");
        assert!(max >= 2, "streams upload in parallel (max {max})");
    }

    #[tokio::test]
    async fn a_deadline_abandons_what_a_dead_sink_cannot_take() {
        let dir = tempfile::tempdir().unwrap();
        let spill = dir.path().join("spill");
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let mut cfg = config(&spill);
        cfg.memory_budget_bytes = 0;
        let queue = UploadQueue::new(sink.clone(), cfg);
        let up = queue.stream("s");
        for i in 0..5 {
            up.put(obj(&format!("{i}.ts"), "body"));
        }
        let started = std::time::Instant::now();
        let report = up.flush(Some(started + Duration::from_millis(200))).await;
        let took = started.elapsed();
        assert_eq!(
            report,
            FlushReport {
                abandoned: 5,
                timed_out: true
            }
        );
        assert!(took >= Duration::from_millis(190), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let stats = queue.stats();
        assert_eq!(stats.abandoned_objects, 5);
        assert_eq!(stats.queued_objects, 0);
        assert_eq!(stats.spilled_bytes_on_disk, 0);
        assert!(part_files(&spill).is_empty());
        // The stream still works afterwards, and the next flush reports only new losses.
        sink.set_mode(OK);
        up.put(obj("5.ts", "body"));
        assert_eq!(up.close(None).await, FlushReport::default());
        assert_eq!(sink.keys(), ["5.ts"]);
    }

    #[tokio::test]
    async fn a_deadline_cancels_a_hung_request() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.delay_ms.store(60_000, Relaxed);
        let queue = UploadQueue::new(sink.clone(), config(dir.path()));
        let up = queue.stream("s");
        up.put(obj("0.ts", "x"));
        let deadline = std::time::Instant::now() + Duration::from_millis(100);
        let report = tokio::time::timeout(Duration::from_secs(5), up.close(Some(deadline)))
            .await
            .expect("close returns at its deadline");
        assert_eq!(report.abandoned, 1);
    }
}
