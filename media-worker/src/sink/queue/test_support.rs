//! What the queue's tests share: an in-memory [`TestSink`] that fails on demand, and helpers.

pub(super) use bytes::Bytes;
pub(super) use std::path::PathBuf;
pub(super) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
pub(super) use std::sync::Arc;
pub(super) use std::time::Duration;
pub(super) use tokio::time::Instant;

pub(super) use super::UploadConfig;
pub(super) use crate::sink::{MediaObjects, ObjectError, ObjectPut};
use crate::sink::{ObjectHead, PutCondition, StoredObject};
use async_trait::async_trait;
use std::sync::atomic::AtomicU8;
use std::sync::Mutex;
use zhibo_store::media_objects::Listing;

pub(super) const OK: u8 = 0;
pub(super) const RETRYABLE: u8 = 1;
pub(super) const FATAL: u8 = 2;
pub(super) const PANIC: u8 = 3;

/// In-memory sink: records stored objects in order, can fail on demand, measures
/// concurrency.
#[derive(Default)]
pub(super) struct TestSink {
    pub(super) mode: AtomicU8,
    pub(super) delay_ms: AtomicU64,
    pub(super) stored: Mutex<Vec<ObjectPut>>,
    pub(super) attempts: AtomicU64,
    pub(super) in_flight: AtomicUsize,
    pub(super) max_in_flight: AtomicUsize,
}

impl TestSink {
    pub(super) fn new() -> Arc<TestSink> {
        Arc::new(TestSink::default())
    }
    pub(super) fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Relaxed);
    }
    pub(super) fn keys(&self) -> Vec<String> {
        self.stored
            .lock()
            .unwrap()
            .iter()
            .map(|o| o.key.clone())
            .collect()
    }
    pub(super) fn bodies(&self) -> Vec<Bytes> {
        self.stored
            .lock()
            .unwrap()
            .iter()
            .map(|o| o.body.clone())
            .collect()
    }
}

#[async_trait]
impl MediaObjects for TestSink {
    async fn put(&self, object: &ObjectPut) -> Result<Option<String>, ObjectError> {
        self.attempts.fetch_add(1, Relaxed);
        let now = self.in_flight.fetch_add(1, Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Relaxed);
        let delay = self.delay_ms.load(Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.in_flight.fetch_sub(1, Relaxed);
        let fail = |retryable| ObjectError::new(object.key.clone(), "test sink is down", retryable);
        match self.mode.load(Relaxed) {
            RETRYABLE => Err(fail(true)),
            FATAL => Err(fail(false)),
            PANIC => panic!("test sink panics"),
            _ => {
                self.stored.lock().unwrap().push(object.clone());
                Ok(None)
            }
        }
    }

    async fn get(&self, _key: &str) -> Result<Option<StoredObject>, ObjectError> {
        Ok(None)
    }

    async fn head(&self, _key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        Ok(None)
    }

    async fn list(&self, _prefix: &str, _delimited: bool) -> Result<Listing, ObjectError> {
        Ok(Listing::default())
    }
}

pub(super) fn obj(key: &str, body: impl Into<Bytes>) -> ObjectPut {
    ObjectPut {
        key: key.into(),
        body: body.into(),
        content_type: "video/mp2t",
        cache_control: "max-age=1",
        metadata: Vec::new(),
        condition: PutCondition::None,
    }
}

pub(super) fn config(spill: &std::path::Path) -> UploadConfig {
    UploadConfig {
        concurrency: 32,
        memory_budget_bytes: 256 << 20,
        spill_dir: spill.to_path_buf(),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..UploadConfig::default()
    }
}

pub(super) fn part_files(dir: &std::path::Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

pub(super) async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
