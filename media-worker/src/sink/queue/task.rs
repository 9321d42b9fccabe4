//! [`StreamTask`]: the actor behind one [`StreamUploader`](super::StreamUploader). It owns the
//! stream's queue, sends its front job (one request at a time, under the queue's global
//! permits), retries it with backoff, replaces waiting objects by newer ones with the same key,
//! and answers flushes.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use zhibo_core::backoff::{Backoff, Jitter};

use super::spill::{Body, Job, SpillError};
use super::{FlushReport, Inner, Msg, SPILL_FAILED, SPILL_FULL, SPILL_OK};
use crate::sink::{ObjectError, ObjectPut};

/// The result of one attempt; `elapsed` is the sink call's duration.
pub(super) struct Attempt {
    result: Result<(), ObjectError>,
    elapsed: Duration,
}

pub(super) type AttemptFuture = Pin<Box<dyn Future<Output = Attempt> + Send>>;

struct Waiter {
    /// Resolved once every job with `seq < target` has left the queue.
    target: u64,
    deadline: Option<Instant>,
    reply: oneshot::Sender<FlushReport>,
    abandoned: usize,
    timed_out: bool,
}

/// One stream's task: its queue, head-of-line attempt and flush waiters.
pub(super) struct StreamTask {
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
    pub(super) fn new(
        inner: Arc<Inner>,
        label: Arc<str>,
        rx: mpsc::UnboundedReceiver<Msg>,
        unsettled: Arc<AtomicU64>,
        spill_state: Arc<AtomicU8>,
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
            spill_state,
        }
    }

    pub(super) async fn run(mut self) {
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
        self.inner.counters.abandoned_objects.fetch_add(1, Relaxed);
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
            && self.inner.counters.queued_bytes_in_memory.load(Relaxed)
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
            self.inner.counters.replaced_objects.fetch_add(1, Relaxed);
            self.settle();
        }
    }

    /// Moves `job`'s body to the spill folder; when it cannot, the body stays in memory and
    /// the uploader is told (`SPILL_*`) to end the stream.
    async fn spill(&mut self, job: &mut Job) {
        if !matches!(job.body, Body::Memory(_)) {
            return;
        }
        match job.spill().await {
            Ok(()) => {
                self.spill_state.store(SPILL_OK, Relaxed);
                if self.spill_failing {
                    self.spill_failing = false;
                    tracing::info!(stream = %self.label, "spilling to disk works again");
                }
            }
            Err(SpillError::Full { on_disk }) => {
                if self.spill_state.swap(SPILL_FULL, Relaxed) != SPILL_FULL {
                    tracing::warn!(
                        stream = %self.label,
                        on_disk,
                        "the spill folder is full, keeping the body in memory and ending the stream"
                    );
                }
            }
            Err(SpillError::Io { path, source: e }) => {
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
        let condition = job.condition.clone();
        let fence = job.fence.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let body = match source {
                Source::Memory(b) => b,
                Source::Disk(path) => match tokio::fs::read(&path).await {
                    Ok(v) => Bytes::from(v),
                    Err(e) => {
                        return Attempt {
                            result: Err(ObjectError::new(
                                key,
                                format!("reading spilled body {}: {e}", path.display()),
                                e.kind() != std::io::ErrorKind::NotFound,
                            )),
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
                condition,
            };
            let Ok(_permit) = inner.permits.acquire().await else {
                return Attempt {
                    result: Err(ObjectError::new(object.key, "upload queue closed", false)),
                    elapsed: Duration::ZERO,
                };
            };
            let started = Instant::now();
            let put = async {
                match &fence {
                    Some(fence) => fence.put(&*inner.sink, &object).await,
                    None => inner.sink.put(&object).await.map(|_| ()),
                }
            };
            let result = AssertUnwindSafe(put)
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(ObjectError::new(
                        object.key.clone(),
                        format!("sink panicked: {}", panic_message(&*panic)),
                        false,
                    ))
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
                self.inner.counters.record_latency(attempt.elapsed);
                if let Some(job) = self.pop_front() {
                    self.inner.counters.uploaded_objects.fetch_add(1, Relaxed);
                    self.inner
                        .counters
                        .uploaded_bytes
                        .fetch_add(job.len as u64, Relaxed);
                }
            }
            Err(e) if e.retryable => {
                self.inner.counters.failed_attempts.fetch_add(1, Relaxed);
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
                self.inner.counters.failed_attempts.fetch_add(1, Relaxed);
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
    use super::super::test_support::*;
    use super::super::{UploadConfig, UploadQueue};
    use super::*;

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
            Arc::new(AtomicU8::new(SPILL_OK)),
        );
        for attempts in [1, 2, 31, 32, u32::MAX] {
            task.attempts = attempts;
            assert!(task.backoff() >= Duration::MAX / 2);
        }
    }
}
