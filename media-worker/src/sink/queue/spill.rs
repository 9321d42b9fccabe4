//! Queued objects ([`Job`]) and where their bodies wait: in memory, or in a file of the spill
//! folder once the memory budget is used up (read back when their turn comes, deleted once the
//! job leaves the queue, whichever way).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;

use super::Inner;
use crate::sink::{ObjectPut, PutCondition};
use zhibo_store::live_room::Fence;

/// Where a queued body waits.
pub(super) enum Body {
    /// In memory, counted against the memory budget.
    Memory(Bytes),
    /// In this spill file, counted against the spill cap.
    Spilled(PathBuf),
}

/// A queued object. Its accounting (queued objects, memory or spill bytes, the spill file)
/// is undone when it is dropped, whichever way it leaves the queue.
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) key: String,
    pub(super) content_type: &'static str,
    pub(super) cache_control: &'static str,
    pub(super) metadata: Vec<(&'static str, String)>,
    pub(super) condition: PutCondition,
    /// Writes go through it when set (the live playlist).
    pub(super) fence: Option<Arc<Fence>>,
    pub(super) len: usize,
    pub(super) body: Body,
    inner: Arc<Inner>,
    /// The stream's queued bytes (see [`StreamUploader`](super::StreamUploader)).
    stream_bytes: Arc<AtomicUsize>,
}

impl Job {
    pub(super) fn new(
        object: ObjectPut,
        fence: Option<Arc<Fence>>,
        inner: Arc<Inner>,
        stream_bytes: Arc<AtomicUsize>,
    ) -> Job {
        let len = object.body.len();
        inner.counters.queued_objects.fetch_add(1, Relaxed);
        inner
            .counters
            .queued_bytes_in_memory
            .fetch_add(len, Relaxed);
        stream_bytes.fetch_add(len, Relaxed);
        Job {
            seq: 0,
            key: object.key,
            content_type: object.content_type,
            cache_control: object.cache_control,
            metadata: object.metadata,
            condition: object.condition,
            fence,
            len,
            body: Body::Memory(object.body),
            inner,
            stream_bytes,
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.inner.counters.queued_objects.fetch_sub(1, Relaxed);
        self.stream_bytes.fetch_sub(self.len, Relaxed);
        match &self.body {
            Body::Memory(_) => {
                self.inner
                    .counters
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
                    .counters
                    .spilled_bytes_on_disk
                    .fetch_sub(self.len as u64, Relaxed);
            }
        }
    }
}

/// Why a body stayed in memory.
#[derive(Debug, thiserror::Error)]
pub(super) enum SpillError {
    /// The spill folder would exceed its cap.
    #[error("the spill folder holds {on_disk} bytes, too many for this body")]
    Full {
        /// Bytes in the spill folder now.
        on_disk: u64,
    },
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Job {
    /// Moves an in-memory body to a new file in the spill folder (created when missing), unless
    /// the folder would exceed its cap. A body already spilled stays as it is.
    pub(super) async fn spill(&mut self) -> Result<(), SpillError> {
        let Body::Memory(bytes) = &self.body else {
            return Ok(());
        };
        let inner = &self.inner;
        let on_disk = inner.counters.spilled_bytes_on_disk.load(Relaxed);
        if on_disk.saturating_add(self.len as u64) > inner.config.max_spill_bytes {
            return Err(SpillError::Full { on_disk });
        }
        let dir = &inner.config.spill_dir;
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
                inner
                    .counters
                    .queued_bytes_in_memory
                    .fetch_sub(self.len, Relaxed);
                inner
                    .counters
                    .spilled_bytes_on_disk
                    .fetch_add(self.len as u64, Relaxed);
                inner.counters.spilled_objects.fetch_add(1, Relaxed);
                self.body = Body::Spilled(path);
                Ok(())
            }
            Err(source) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(SpillError::Io { path, source })
            }
        }
    }
}

/// `<pid>-<random per process>-<counter>.part`: unique across queues, processes and restarts.
pub(super) fn spill_file_name() -> String {
    static TOKEN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let token = *TOKEN.get_or_init(rand::random::<u64>);
    let n = COUNTER.fetch_add(1, Relaxed);
    format!("{}-{token:016x}-{n}.part", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{FlushReport, UploadLimit, UploadQueue};
    use super::*;
    use std::time::Duration;

    #[test]
    fn spill_file_names_are_unique_and_name_the_process() {
        let (a, b) = (spill_file_name(), spill_file_name());
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("{}-", std::process::id())), "{a}");
        assert!(a.ends_with(".part"), "{a}");
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
}
