//! [`UploadStats`]: an [`UploadQueue`](super::UploadQueue)'s counters and gauges, and the
//! histogram of upload latency.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

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

/// The live counters behind [`UploadStats`], shared by a queue's streams and jobs.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) uploaded_objects: AtomicU64,
    pub(super) uploaded_bytes: AtomicU64,
    pub(super) failed_attempts: AtomicU64,
    pub(super) abandoned_objects: AtomicU64,
    pub(super) replaced_objects: AtomicU64,
    pub(super) queued_objects: AtomicU64,
    pub(super) queued_bytes_in_memory: AtomicUsize,
    pub(super) spilled_objects: AtomicU64,
    pub(super) spilled_bytes_on_disk: AtomicU64,
    /// Per bucket (not cumulative); the last one is above every bound.
    latency_counts: [AtomicU64; LATENCY_BUCKETS_S.len() + 1],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
}

impl Counters {
    /// Counts one successful attempt that took `elapsed`.
    pub(super) fn record_latency(&self, elapsed: Duration) {
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

    /// A snapshot of the counters.
    pub(super) fn snapshot(&self) -> UploadStats {
        let i = self;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histogram_is_cumulative_with_an_overflow_bucket() {
        let c = Counters::default();
        for ms in [1, 5, 7, 300, 60_000] {
            c.record_latency(Duration::from_millis(ms));
        }
        let s = c.snapshot();
        assert_eq!(s.latency_count, 5);
        assert_eq!(s.latency_buckets.len(), LATENCY_BUCKETS_S.len());
        assert_eq!(s.latency_buckets[0], (0.005, 2));
        assert_eq!(s.latency_buckets[1], (0.01, 3));
        assert_eq!(s.latency_buckets[6], (0.5, 4));
        // 60 s is only in the +Inf bucket (latency_count).
        assert_eq!(s.latency_buckets.last(), Some(&(30.0, 4)));
        assert!(
            (s.latency_sum_s - 60.313).abs() < 1e-9,
            "{}",
            s.latency_sum_s
        );
    }
}
