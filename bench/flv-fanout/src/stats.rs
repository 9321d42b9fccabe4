//! Counters shared between viewer tasks and the thread that reports them, and the publisher's
//! send log the delay measurement matches received video tags against.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use tokio::time::Instant;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since this process started counting.
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

pub const CONNECTING: u8 = 0;
pub const PLAYING: u8 = 1;
pub const ENDED: u8 = 2;
pub const FAILED: u8 = 3;

/// One viewer's counters.
#[derive(Default)]
pub struct Slot {
    /// Bytes read from the socket (headers, chunk framing included).
    pub wire_bytes: AtomicU64,
    /// Media bytes: the HTTP-FLV body (FLV tags) or the RTMP audio/video payloads.
    pub media_bytes: AtomicU64,
    /// [`now_ms`] of the last byte read.
    pub last_rx_ms: AtomicU64,
    /// [`CONNECTING`], [`PLAYING`], [`ENDED`] (the server closed a playing connection or it
    /// failed) or [`FAILED`] (it never played).
    pub state: AtomicU8,
}

impl Slot {
    pub fn started(&self) {
        self.last_rx_ms.store(now_ms(), Ordering::Relaxed);
        self.state.store(PLAYING, Ordering::Relaxed);
    }

    pub fn wire(&self, n: usize) {
        self.wire_bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.last_rx_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn media(&self, n: usize) {
        self.media_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The viewer's task ended (error or end of stream).
    pub fn finish(&self) {
        let was = self.state.load(Ordering::Relaxed);
        self.state.store(
            if was == CONNECTING { FAILED } else { ENDED },
            Ordering::Relaxed,
        );
    }
}

/// When the publisher handed each video tag to the kernel, and the delays viewers saw.
#[derive(Default)]
pub struct SendLog {
    sent: Mutex<HashMap<u32, Instant>>,
    /// Only tags sent at or after this instant are measured (not a new viewer's GOP cache).
    from: Mutex<Option<Instant>>,
    delays_ms: Mutex<Vec<f64>>,
}

impl SendLog {
    pub fn record(&self, timestamp: u32, at: Instant) {
        lock(&self.sent).insert(timestamp, at);
    }

    /// Starts measuring: tags sent from now on.
    pub fn start(&self, at: Instant) {
        *lock(&self.from) = Some(at);
    }

    /// Stops measuring; returns the delays (ms) seen.
    pub fn take(&self) -> Vec<f64> {
        *lock(&self.from) = None;
        std::mem::take(&mut *lock(&self.delays_ms))
    }

    /// A viewer read the video tag stamped `timestamp` at `at`.
    pub fn received(&self, timestamp: u32, at: Instant) {
        let Some(from) = *lock(&self.from) else {
            return;
        };
        let sent = lock(&self.sent).get(&timestamp).copied();
        if let Some(sent) = sent {
            if sent >= from {
                let d = at.saturating_duration_since(sent).as_secs_f64() * 1000.0;
                lock(&self.delays_ms).push(d);
            }
        }
    }
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}
