//! [`UploadQueue`]: ordered, bounded, retrying, spilling uploads between the RTMP read loop and
//! a [`SegmentSink`].
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

use super::{ObjectPut, SegmentSink, SinkError};
use bytes::Bytes;
use futures::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use zhibo_core::backoff::{Backoff, Jitter};

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

/// Upper bounds (seconds) of the latency histogram in [`UploadStats::latency_buckets`].
pub const LATENCY_BUCKETS_S: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A snapshot of an [`UploadQueue`]'s counters and gauges (for Prometheus).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadStats {
    /// Objects stored (counter).
    pub uploaded_objects: u64,
    /// Bytes stored (counter).
    pub uploaded_bytes: u64,
    /// Failed attempts, retried or not (counter).
    pub failed_attempts: u64,
    /// Objects given up on: non-retryable error, or still unsent at a flush deadline (counter).
    pub abandoned_objects: u64,
    /// Waiting objects dropped because a newer object with the same key was put (counter).
    pub replaced_objects: u64,
    /// Objects put and not yet stored, abandoned or replaced (gauge).
    pub queued_objects: u64,
    /// Bytes of queued bodies held in memory (gauge).
    pub queued_bytes_in_memory: u64,
    /// Objects whose body was ever spilled to disk (counter).
    pub spilled_objects: u64,
    /// Bytes of spilled bodies on disk now (gauge).
    pub spilled_bytes_on_disk: u64,
    /// Cumulative histogram of successful attempt latency: `(upper bound in seconds, count)`
    /// for each of [`LATENCY_BUCKETS_S`]; the `+Inf` bucket is `latency_count`.
    pub latency_buckets: Vec<(f64, u64)>,
    /// Sum of successful attempt latencies, seconds.
    pub latency_sum_s: f64,
    /// Successful attempts.
    pub latency_count: u64,
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

struct Inner {
    sink: Arc<dyn SegmentSink>,
    config: UploadConfig,
    permits: Semaphore,
    uploaded_objects: AtomicU64,
    uploaded_bytes: AtomicU64,
    failed_attempts: AtomicU64,
    abandoned_objects: AtomicU64,
    replaced_objects: AtomicU64,
    queued_objects: AtomicU64,
    queued_bytes_in_memory: AtomicUsize,
    spilled_objects: AtomicU64,
    spilled_bytes_on_disk: AtomicU64,
    /// Per bucket (not cumulative); the last one is above every bound.
    latency_counts: [AtomicU64; LATENCY_BUCKETS_S.len() + 1],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
}

impl Inner {
    fn record_latency(&self, elapsed: Duration) {
        let s = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS_S
            .iter()
            .position(|&le| s <= le)
            .unwrap_or(LATENCY_BUCKETS_S.len());
        if let Some(c) = self.latency_counts.get(bucket) {
            c.fetch_add(1, Relaxed);
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
    }
}

impl UploadQueue {
    /// A queue in front of `sink`.
    pub fn new(sink: Arc<dyn SegmentSink>, config: UploadConfig) -> UploadQueue {
        let permits = Semaphore::new(config.concurrency.clamp(1, Semaphore::MAX_PERMITS));
        UploadQueue {
            inner: Arc::new(Inner {
                sink,
                config,
                permits,
                uploaded_objects: AtomicU64::new(0),
                uploaded_bytes: AtomicU64::new(0),
                failed_attempts: AtomicU64::new(0),
                abandoned_objects: AtomicU64::new(0),
                replaced_objects: AtomicU64::new(0),
                queued_objects: AtomicU64::new(0),
                queued_bytes_in_memory: AtomicUsize::new(0),
                spilled_objects: AtomicU64::new(0),
                spilled_bytes_on_disk: AtomicU64::new(0),
                latency_counts: Default::default(),
                latency_sum_us: AtomicU64::new(0),
                latency_count: AtomicU64::new(0),
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
        let mut task = StreamTask::new(self.inner.clone(), label.clone(), rx, unsettled.clone());
        task.spill_state = spill.clone();
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
        let i = &self.inner;
        let mut cumulative = 0;
        let latency_buckets = LATENCY_BUCKETS_S
            .iter()
            .zip(&i.latency_counts)
            .map(|(&le, c)| {
                cumulative += c.load(Relaxed);
                (le, cumulative)
            })
            .collect();
        UploadStats {
            uploaded_objects: i.uploaded_objects.load(Relaxed),
            uploaded_bytes: i.uploaded_bytes.load(Relaxed),
            failed_attempts: i.failed_attempts.load(Relaxed),
            abandoned_objects: i.abandoned_objects.load(Relaxed),
            replaced_objects: i.replaced_objects.load(Relaxed),
            queued_objects: i.queued_objects.load(Relaxed),
            queued_bytes_in_memory: i.queued_bytes_in_memory.load(Relaxed) as u64,
            spilled_objects: i.spilled_objects.load(Relaxed),
            spilled_bytes_on_disk: i.spilled_bytes_on_disk.load(Relaxed),
            latency_buckets,
            latency_sum_s: i.latency_sum_us.load(Relaxed) as f64 / 1e6,
            latency_count: i.latency_count.load(Relaxed),
        }
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
        let job = Job::new(object, self.inner.clone(), self.queued_bytes.clone());
        self.unsettled.fetch_add(1, Relaxed);
        if let Err(mpsc::error::SendError(msg)) = self.tx.send(Msg::Put(job)) {
            if let Msg::Put(job) = msg {
                tracing::error!(stream = %self.label, key = %job.key, "upload task is gone; object dropped");
            }
            self.inner.abandoned_objects.fetch_add(1, Relaxed);
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

enum Body {
    Memory(Bytes),
    Spilled(PathBuf),
}

/// A queued object. Its accounting (queued objects, memory or spill bytes, the spill file)
/// is undone when it is dropped, whichever way it leaves the queue.
struct Job {
    seq: u64,
    key: String,
    content_type: &'static str,
    cache_control: &'static str,
    metadata: Vec<(&'static str, String)>,
    len: usize,
    body: Body,
    inner: Arc<Inner>,
    /// The stream's queued bytes (see [`StreamUploader`]).
    stream_bytes: Arc<AtomicUsize>,
}

impl Job {
    fn new(object: ObjectPut, inner: Arc<Inner>, stream_bytes: Arc<AtomicUsize>) -> Job {
        let len = object.body.len();
        inner.queued_objects.fetch_add(1, Relaxed);
        inner.queued_bytes_in_memory.fetch_add(len, Relaxed);
        stream_bytes.fetch_add(len, Relaxed);
        Job {
            seq: 0,
            key: object.key,
            content_type: object.content_type,
            cache_control: object.cache_control,
            metadata: object.metadata,
            len,
            body: Body::Memory(object.body),
            inner,
            stream_bytes,
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.inner.queued_objects.fetch_sub(1, Relaxed);
        self.stream_bytes.fetch_sub(self.len, Relaxed);
        match &self.body {
            Body::Memory(_) => {
                self.inner
                    .queued_bytes_in_memory
                    .fetch_sub(self.len, Relaxed);
            }
            Body::Spilled(path) => {
                if let Err(e) = std::fs::remove_file(path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(path = %path.display(), "removing spill file: {e}");
                    }
                }
                self.inner
                    .spilled_bytes_on_disk
                    .fetch_sub(self.len as u64, Relaxed);
            }
        }
    }
}

/// The result of one attempt; `elapsed` is the sink call's duration.
struct Attempt {
    result: Result<(), SinkError>,
    elapsed: Duration,
}

type AttemptFuture = Pin<Box<dyn Future<Output = Attempt> + Send>>;

struct Waiter {
    /// Resolved once every job with `seq < target` has left the queue.
    target: u64,
    deadline: Option<Instant>,
    reply: oneshot::Sender<FlushReport>,
    abandoned: usize,
    timed_out: bool,
}

/// One stream's task: its queue, head-of-line attempt and flush waiters.
struct StreamTask {
    inner: Arc<Inner>,
    label: Arc<str>,
    rx: mpsc::UnboundedReceiver<Msg>,
    rx_open: bool,
    /// Waiting jobs in `seq` order; the front is the one being sent or retried.
    queue: VecDeque<Job>,
    /// Key → `seq` of the newest queued job with that key.
    latest_by_key: HashMap<String, u64>,
    next_seq: u64,
    /// Jobs with `seq < barrier` were put before a flush and are never replaced.
    barrier: u64,
    /// The front job's attempt in progress.
    in_flight: Option<AttemptFuture>,
    /// The front job failed and is retried at this time.
    retry_at: Option<Instant>,
    /// Failed attempts of the front job.
    attempts: u32,
    /// Pending flushes, in `target` order.
    waiters: VecDeque<Waiter>,
    /// Abandoned jobs not covered by a pending flush, reported by the next one.
    unassigned_abandoned: usize,
    unsettled: Arc<AtomicU64>,
    spill_failing: bool,
    /// Shared with the uploader: the outcome of the last spill (`SPILL_*`).
    spill_state: Arc<AtomicU8>,
}

/// `<pid>-<random per process>-<counter>.part`: unique across queues, processes and restarts.
fn spill_file_name() -> String {
    static TOKEN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let token = *TOKEN.get_or_init(rand::random::<u64>);
    let n = COUNTER.fetch_add(1, Relaxed);
    format!("{}-{token:016x}-{n}.part", std::process::id())
}

async fn poll_in_flight(f: &mut Option<AttemptFuture>) -> Attempt {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

impl StreamTask {
    fn new(
        inner: Arc<Inner>,
        label: Arc<str>,
        rx: mpsc::UnboundedReceiver<Msg>,
        unsettled: Arc<AtomicU64>,
    ) -> StreamTask {
        StreamTask {
            inner,
            label,
            rx,
            rx_open: true,
            queue: VecDeque::new(),
            latest_by_key: HashMap::new(),
            next_seq: 0,
            barrier: 0,
            in_flight: None,
            retry_at: None,
            attempts: 0,
            waiters: VecDeque::new(),
            unassigned_abandoned: 0,
            unsettled,
            spill_failing: false,
            spill_state: Arc::new(AtomicU8::new(SPILL_OK)),
        }
    }

    async fn run(mut self) {
        loop {
            self.resolve_waiters();
            if self.in_flight.is_none() && self.retry_at.is_none() {
                if let Some(job) = self.queue.front() {
                    self.in_flight = Some(self.start_attempt(job));
                } else if !self.rx_open {
                    break;
                }
            }
            let deadline = self.waiters.iter().filter_map(|w| w.deadline).min();
            tokio::select! {
                msg = self.rx.recv(), if self.rx_open => match msg {
                    Some(Msg::Put(job)) => self.on_put(job).await,
                    Some(Msg::Flush { deadline, reply }) => self.on_flush(deadline, reply),
                    None => self.rx_open = false,
                },
                attempt = poll_in_flight(&mut self.in_flight), if self.in_flight.is_some() => {
                    self.in_flight = None;
                    self.on_attempt(attempt);
                }
                () = sleep_until_opt(self.retry_at), if self.retry_at.is_some() => {
                    // The loop head starts the next attempt.
                    self.retry_at = None;
                }
                () = sleep_until_opt(deadline), if deadline.is_some() => self.on_deadline(),
            }
        }
        tracing::debug!(stream = %self.label, "upload task done");
    }

    fn settle(&self) {
        self.unsettled.fetch_sub(1, Relaxed);
    }

    /// Removes the front job (after success or when giving up on it) and resets retry state.
    fn pop_front(&mut self) -> Option<Job> {
        let job = self.queue.pop_front()?;
        self.forget(&job);
        self.in_flight = None;
        self.retry_at = None;
        self.attempts = 0;
        self.settle();
        Some(job)
    }

    fn forget(&mut self, job: &Job) {
        if self.latest_by_key.get(&job.key) == Some(&job.seq) {
            self.latest_by_key.remove(&job.key);
        }
    }

    fn abandon(&mut self, job: Job) {
        self.inner.abandoned_objects.fetch_add(1, Relaxed);
        match self.waiters.iter_mut().find(|w| w.target > job.seq) {
            Some(w) => w.abandoned += 1,
            None => self.unassigned_abandoned += 1,
        }
    }

    async fn on_put(&mut self, mut job: Job) {
        job.seq = self.next_seq;
        self.next_seq += 1;
        if let Some(&older) = self.latest_by_key.get(&job.key) {
            self.replace(older);
        }
        self.latest_by_key.insert(job.key.clone(), job.seq);
        // The body stays in memory if it is next anyway.
        if !self.queue.is_empty()
            && self.inner.queued_bytes_in_memory.load(Relaxed)
                > self.inner.config.memory_budget_bytes
        {
            self.spill(&mut job).await;
        }
        self.queue.push_back(job);
    }

    /// Drops the waiting job `seq` in favour of a newer one with the same key, unless a flush
    /// covers it or it is being sent right now.
    fn replace(&mut self, seq: u64) {
        if seq < self.barrier {
            return;
        }
        let Ok(index) = self.queue.binary_search_by_key(&seq, |j| j.seq) else {
            return;
        };
        if index == 0 {
            if self.in_flight.is_some() {
                return;
            }
            // The front job is waiting to be retried: the newer one supersedes it.
            self.retry_at = None;
            self.attempts = 0;
        }
        if self.queue.remove(index).is_some() {
            self.inner.replaced_objects.fetch_add(1, Relaxed);
            self.settle();
        }
    }

    async fn spill(&mut self, job: &mut Job) {
        let Body::Memory(bytes) = &job.body else {
            return;
        };
        let on_disk = self.inner.spilled_bytes_on_disk.load(Relaxed);
        if on_disk.saturating_add(job.len as u64) > self.inner.config.max_spill_bytes {
            if self.spill_state.swap(SPILL_FULL, Relaxed) != SPILL_FULL {
                tracing::warn!(
                    stream = %self.label,
                    on_disk,
                    "the spill folder is full, keeping the body in memory and ending the stream"
                );
            }
            return;
        }
        let dir = &self.inner.config.spill_dir;
        let path = dir.join(spill_file_name());
        let mut written = tokio::fs::write(&path, bytes).await;
        if matches!(&written, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            written = match tokio::fs::create_dir_all(dir).await {
                Ok(()) => tokio::fs::write(&path, bytes).await,
                Err(e) => Err(e),
            };
        }
        match written {
            Ok(()) => {
                job.body = Body::Spilled(path);
                self.inner
                    .queued_bytes_in_memory
                    .fetch_sub(job.len, Relaxed);
                self.inner
                    .spilled_bytes_on_disk
                    .fetch_add(job.len as u64, Relaxed);
                self.inner.spilled_objects.fetch_add(1, Relaxed);
                self.spill_state.store(SPILL_OK, Relaxed);
                if self.spill_failing {
                    self.spill_failing = false;
                    tracing::info!(stream = %self.label, "spilling to disk works again");
                }
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                self.spill_state.store(SPILL_FAILED, Relaxed);
                if !self.spill_failing {
                    self.spill_failing = true;
                    tracing::warn!(
                        stream = %self.label,
                        key = %job.key,
                        path = %path.display(),
                        "cannot spill to disk, keeping the body in memory and ending the stream: {e}"
                    );
                }
            }
        }
    }

    fn start_attempt(&self, job: &Job) -> AttemptFuture {
        enum Source {
            Memory(Bytes),
            Disk(PathBuf),
        }
        let source = match &job.body {
            Body::Memory(b) => Source::Memory(b.clone()),
            Body::Spilled(p) => Source::Disk(p.clone()),
        };
        let key = job.key.clone();
        let (content_type, cache_control) = (job.content_type, job.cache_control);
        let metadata = job.metadata.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let body = match source {
                Source::Memory(b) => b,
                Source::Disk(path) => match tokio::fs::read(&path).await {
                    Ok(v) => Bytes::from(v),
                    Err(e) => {
                        return Attempt {
                            result: Err(SinkError {
                                key,
                                message: format!("reading spilled body {}: {e}", path.display()),
                                retryable: e.kind() != std::io::ErrorKind::NotFound,
                            }),
                            elapsed: Duration::ZERO,
                        }
                    }
                },
            };
            let object = ObjectPut {
                key,
                body,
                content_type,
                cache_control,
                metadata,
            };
            let Ok(_permit) = inner.permits.acquire().await else {
                return Attempt {
                    result: Err(SinkError {
                        key: object.key,
                        message: "upload queue closed".into(),
                        retryable: false,
                    }),
                    elapsed: Duration::ZERO,
                };
            };
            let started = Instant::now();
            let result = AssertUnwindSafe(inner.sink.put(&object))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(SinkError {
                        key: object.key.clone(),
                        message: format!("sink panicked: {}", panic_message(&*panic)),
                        retryable: false,
                    })
                });
            Attempt {
                result,
                elapsed: started.elapsed(),
            }
        })
    }

    fn on_attempt(&mut self, attempt: Attempt) {
        match attempt.result {
            Ok(()) => {
                self.inner.record_latency(attempt.elapsed);
                if let Some(job) = self.pop_front() {
                    self.inner.uploaded_objects.fetch_add(1, Relaxed);
                    self.inner.uploaded_bytes.fetch_add(job.len as u64, Relaxed);
                }
            }
            Err(e) if e.retryable => {
                self.inner.failed_attempts.fetch_add(1, Relaxed);
                self.attempts = self.attempts.saturating_add(1);
                let wait = self.backoff();
                if self.attempts == 1 || self.attempts % 20 == 0 {
                    tracing::warn!(
                        stream = %self.label,
                        key = %e.key,
                        attempts = self.attempts,
                        queued = self.queue.len(),
                        "upload failed, retrying in {wait:?}: {}",
                        e.message
                    );
                } else {
                    tracing::debug!(stream = %self.label, key = %e.key, attempts = self.attempts, "upload failed: {}", e.message);
                }
                self.retry_at = Some(Instant::now() + wait);
            }
            Err(e) => {
                self.inner.failed_attempts.fetch_add(1, Relaxed);
                tracing::warn!(
                    stream = %self.label,
                    key = %e.key,
                    "upload failed and cannot succeed, giving up on it: {}",
                    e.message
                );
                if let Some(job) = self.pop_front() {
                    self.abandon(job);
                }
            }
        }
    }

    /// Capped exponential backoff for the front job, with jitter in `[b/2, b]`.
    fn backoff(&mut self) -> Duration {
        let config = &self.inner.config;
        Backoff::doubling(config.initial_backoff, config.max_backoff)
            .with_jitter(Jitter::Equal)
            .delay(self.attempts, rand::random::<f64>())
    }

    fn on_flush(&mut self, deadline: Option<Instant>, reply: oneshot::Sender<FlushReport>) {
        self.barrier = self.next_seq;
        self.waiters.push_back(Waiter {
            target: self.next_seq,
            deadline,
            reply,
            abandoned: std::mem::take(&mut self.unassigned_abandoned),
            timed_out: false,
        });
    }

    /// Abandons what expired flushes still wait for.
    fn on_deadline(&mut self) {
        let now = Instant::now();
        let mut cut = None;
        for w in &mut self.waiters {
            if w.deadline.is_some_and(|d| d <= now) {
                w.deadline = None;
                w.timed_out = true;
                cut = cut.max(Some(w.target));
            }
        }
        let Some(cut) = cut else { return };
        let mut count = 0;
        while self.queue.front().is_some_and(|j| j.seq < cut) {
            if let Some(job) = self.pop_front() {
                self.abandon(job);
                count += 1;
            }
        }
        if count > 0 {
            tracing::warn!(
                stream = %self.label,
                abandoned = count,
                "flush deadline passed, giving up on unsent objects"
            );
        }
    }

    fn resolve_waiters(&mut self) {
        let done_below = self.queue.front().map_or(self.next_seq, |j| j.seq);
        while self.waiters.front().is_some_and(|w| w.target <= done_below) {
            if let Some(w) = self.waiters.pop_front() {
                let _ = w.reply.send(FlushReport {
                    abandoned: w.abandoned,
                    timed_out: w.timed_out,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::AtomicU8;
    use std::sync::Mutex;

    const OK: u8 = 0;
    const RETRYABLE: u8 = 1;
    const FATAL: u8 = 2;
    const PANIC: u8 = 3;

    /// In-memory sink: records stored objects in order, can fail on demand, measures
    /// concurrency.
    #[derive(Default)]
    struct TestSink {
        mode: AtomicU8,
        delay_ms: AtomicU64,
        stored: Mutex<Vec<ObjectPut>>,
        attempts: AtomicU64,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl TestSink {
        fn new() -> Arc<TestSink> {
            Arc::new(TestSink::default())
        }
        fn set_mode(&self, mode: u8) {
            self.mode.store(mode, Relaxed);
        }
        fn keys(&self) -> Vec<String> {
            self.stored
                .lock()
                .unwrap()
                .iter()
                .map(|o| o.key.clone())
                .collect()
        }
        fn bodies(&self) -> Vec<Bytes> {
            self.stored
                .lock()
                .unwrap()
                .iter()
                .map(|o| o.body.clone())
                .collect()
        }
    }

    #[async_trait]
    impl SegmentSink for TestSink {
        async fn put(&self, object: &ObjectPut) -> Result<(), SinkError> {
            self.attempts.fetch_add(1, Relaxed);
            let now = self.in_flight.fetch_add(1, Relaxed) + 1;
            self.max_in_flight.fetch_max(now, Relaxed);
            let delay = self.delay_ms.load(Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            self.in_flight.fetch_sub(1, Relaxed);
            let fail = |retryable| SinkError {
                key: object.key.clone(),
                message: "test sink is down".into(),
                retryable,
            };
            match self.mode.load(Relaxed) {
                RETRYABLE => Err(fail(true)),
                FATAL => Err(fail(false)),
                PANIC => panic!("test sink panics"),
                _ => {
                    self.stored.lock().unwrap().push(object.clone());
                    Ok(())
                }
            }
        }
    }

    fn obj(key: &str, body: impl Into<Bytes>) -> ObjectPut {
        ObjectPut {
            key: key.into(),
            body: body.into(),
            content_type: "video/mp2t",
            cache_control: "max-age=1",
            metadata: Vec::new(),
        }
    }

    fn config(spill: &std::path::Path) -> UploadConfig {
        UploadConfig {
            concurrency: 32,
            memory_budget_bytes: 256 << 20,
            spill_dir: spill.to_path_buf(),
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..UploadConfig::default()
        }
    }

    fn part_files(dir: &std::path::Path) -> Vec<PathBuf> {
        match std::fs::read_dir(dir) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < give_up, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

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
    async fn outage_puts_never_wait_spill_to_disk_and_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spill = dir.path().join("spill");
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let mut cfg = config(&spill);
        cfg.memory_budget_bytes = 1024;
        let queue = UploadQueue::new(sink.clone(), cfg);
        let streams: Vec<_> = (0..3).map(|s| queue.stream(&format!("s{s}"))).collect();
        let mut expected: Vec<Vec<(String, Bytes)>> = vec![Vec::new(); 3];
        let started = std::time::Instant::now();
        for i in 0..40 {
            for (s, up) in streams.iter().enumerate() {
                let key = format!("live/a/{s}/x/{i}.ts");
                let body = Bytes::from(vec![(i * 3 + s) as u8; 600 + i]);
                expected[s].push((key.clone(), body.clone()));
                up.put(obj(&key, body));
            }
        }
        let put_time = started.elapsed();
        assert!(
            put_time < Duration::from_millis(200),
            "puts must not wait: {put_time:?}"
        );
        // Everything but each stream's head (in memory, being retried) goes to disk.
        wait_for("spilling", || queue.stats().spilled_objects == 117).await;
        let stats = queue.stats();
        assert!(stats.queued_bytes_in_memory <= 1024 + 3 * 640, "{stats:?}");
        assert!(stats.spilled_bytes_on_disk > 0, "{stats:?}");
        assert_eq!(part_files(&spill).len() as u64, stats.spilled_objects);
        // The outage lasts a while: several retries.
        wait_for("retries", || queue.stats().failed_attempts > 10).await;
        sink.set_mode(OK);
        for up in streams {
            assert_eq!(up.close(None).await, FlushReport::default());
        }
        let stored = sink.stored.lock().unwrap().clone();
        assert_eq!(stored.len(), 120);
        for (s, want) in expected.iter().enumerate() {
            let got: Vec<(String, Bytes)> = stored
                .iter()
                .filter(|o| o.key.starts_with(&format!("live/a/{s}/")))
                .map(|o| (o.key.clone(), o.body.clone()))
                .collect();
            assert_eq!(&got, want, "stream {s} intact and in order");
        }
        let stats = queue.stats();
        assert_eq!(stats.queued_objects, 0);
        assert_eq!(stats.queued_bytes_in_memory, 0);
        assert_eq!(stats.spilled_bytes_on_disk, 0);
        assert_eq!(stats.abandoned_objects, 0);
        assert!(part_files(&spill).is_empty(), "spill files are deleted");
    }

    #[tokio::test]
    async fn a_failing_spill_folder_keeps_bodies_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"").unwrap();
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let mut cfg = config(&not_a_dir.join("spill"));
        cfg.memory_budget_bytes = 10;
        let queue = UploadQueue::new(sink.clone(), cfg);
        let up = queue.stream("s");
        for i in 0..5 {
            up.put(obj(&format!("{i}.ts"), vec![i as u8; 100]));
        }
        wait_for("queueing", || sink.attempts.load(Relaxed) > 2).await;
        assert_eq!(queue.stats().spilled_objects, 0);
        sink.set_mode(OK);
        assert_eq!(up.close(None).await, FlushReport::default());
        assert_eq!(sink.keys(), ["0.ts", "1.ts", "2.ts", "3.ts", "4.ts"]);
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
    async fn the_spill_cap_bounds_the_disk_and_ends_the_stream_that_hits_it() {
        let dir = tempfile::tempdir().unwrap();
        let spill = dir.path().join("spill");
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let mut cfg = config(&spill);
        cfg.memory_budget_bytes = 100;
        cfg.max_spill_bytes = 1_000;
        let queue = UploadQueue::new(sink.clone(), cfg);
        let up = queue.stream("s");
        for i in 0..5 {
            up.put(obj(&format!("{i}.ts"), vec![i as u8; 600]));
        }
        wait_for("the spill cap", || {
            up.limit_exceeded() == Some(UploadLimit::SpillFull(1_000))
        })
        .await;
        let stats = queue.stats();
        assert_eq!(stats.spilled_objects, 1, "{stats:?}");
        assert!(stats.spilled_bytes_on_disk <= 1_000, "{stats:?}");
        sink.set_mode(OK);
        assert_eq!(up.close(None).await, FlushReport::default());
        assert_eq!(sink.keys(), ["0.ts", "1.ts", "2.ts", "3.ts", "4.ts"]);
    }

    #[tokio::test]
    async fn a_failing_spill_folder_ends_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"").unwrap();
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let mut cfg = config(&not_a_dir.join("spill"));
        cfg.memory_budget_bytes = 10;
        let queue = UploadQueue::new(sink.clone(), cfg);
        let up = queue.stream("s");
        for i in 0..3 {
            up.put(obj(&format!("{i}.ts"), vec![i as u8; 100]));
        }
        wait_for("the spill failure", || {
            up.limit_exceeded() == Some(UploadLimit::SpillFailed)
        })
        .await;
        assert!(UploadLimit::SpillFailed
            .to_string()
            .contains("ZHIBO_SPILL_DIR"));
        sink.set_mode(OK);
        assert_eq!(up.close(None).await, FlushReport::default());
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

    #[tokio::test]
    async fn non_retryable_errors_are_abandoned_after_one_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.set_mode(FATAL);
        let queue = UploadQueue::new(sink.clone(), config(dir.path()));
        let up = queue.stream("s");
        for i in 0..3 {
            up.put(obj(&format!("{i}.ts"), "x"));
        }
        let report = tokio::time::timeout(Duration::from_secs(5), up.flush(None))
            .await
            .expect("non-retryable errors are not retried forever");
        assert_eq!(
            report,
            FlushReport {
                abandoned: 3,
                timed_out: false
            }
        );
        assert_eq!(sink.attempts.load(Relaxed), 3);
        let stats = queue.stats();
        assert_eq!((stats.abandoned_objects, stats.failed_attempts), (3, 3));
        // Reported once.
        assert_eq!(up.flush(None).await, FlushReport::default());
    }

    #[tokio::test]
    async fn a_panicking_sink_does_not_kill_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.set_mode(PANIC);
        let queue = UploadQueue::new(sink.clone(), config(dir.path()));
        let up = queue.stream("s");
        up.put(obj("0.ts", "x"));
        assert_eq!(up.flush(None).await.abandoned, 1);
        sink.set_mode(OK);
        up.put(obj("1.ts", "x"));
        assert_eq!(up.close(None).await, FlushReport::default());
        assert_eq!(sink.keys(), ["1.ts"]);
    }

    #[tokio::test]
    async fn retries_back_off_exponentially_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TestSink::new();
        sink.set_mode(RETRYABLE);
        let mut cfg = config(dir.path());
        cfg.initial_backoff = Duration::from_millis(10);
        cfg.max_backoff = Duration::from_millis(40);
        let queue = UploadQueue::new(sink.clone(), cfg);
        let up = queue.stream("s");
        up.put(obj("0.ts", "x"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Waits of at least 5, 10, 20, 20, ... ms and at most 10, 20, 40, 40, ... ms.
        let attempts = sink.attempts.load(Relaxed);
        assert!(
            (5..=40).contains(&attempts),
            "{attempts} attempts in 500 ms"
        );
        sink.set_mode(OK);
        assert_eq!(up.close(None).await, FlushReport::default());
    }

    #[test]
    fn backoff_stays_within_bounds_for_extreme_settings() {
        let queue = UploadQueue::new(
            TestSink::new(),
            UploadConfig {
                initial_backoff: Duration::MAX,
                max_backoff: Duration::MAX,
                ..UploadConfig::default()
            },
        );
        let (_tx, rx) = mpsc::unbounded_channel();
        let mut task = StreamTask::new(
            queue.inner.clone(),
            Arc::from("s"),
            rx,
            Arc::new(AtomicU64::new(0)),
        );
        for attempts in [1, 2, 31, 32, u32::MAX] {
            task.attempts = attempts;
            assert!(task.backoff() >= Duration::MAX / 2);
        }
    }
}
