//! Where segments and playlists go: the [`SegmentSink`] port, its adapters ([`S3Sink`],
//! [`FsSink`]) and the [`UploadQueue`] that stands between the RTMP read loop and them.

mod fs;
mod queue;
mod s3;

pub use fs::FsSink;
pub use queue::{FlushReport, StreamUploader, UploadConfig, UploadLimit, UploadQueue, UploadStats};
pub use s3::S3Sink;

use async_trait::async_trait;
use bytes::Bytes;

/// One object to write: key in the media bucket, body and the headers docs/api.md "Object layout
/// and HLS" fixes for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPut {
    /// Key in the bucket (see `zhibo_core::object_keys`).
    pub key: String,
    /// The bytes.
    pub body: Bytes,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `Cache-Control`.
    pub cache_control: &'static str,
    /// User metadata (`x-amz-meta-{name}`); the replay playlist carries the replay's size and
    /// times (`zhibo_core::replay::metadata`). Sinks without metadata ignore it.
    pub metadata: Vec<(&'static str, String)>,
}

/// Why a write failed. `retryable` tells the queue whether trying again can help.
#[derive(Debug, thiserror::Error)]
#[error("writing {key} failed: {message}")]
pub struct SinkError {
    /// The object key.
    pub key: String,
    /// What went wrong, for logs.
    pub message: String,
    /// A later attempt may succeed (network, 5xx, throttling).
    pub retryable: bool,
}

/// Stores objects. Implementations overwrite existing keys (playlists are rewritten).
#[async_trait]
pub trait SegmentSink: Send + Sync + 'static {
    /// Writes one object, whole.
    async fn put(&self, object: &ObjectPut) -> Result<(), SinkError>;
}
