//! Where segments and playlists go: the media bucket's [`MediaObjects`] port (from
//! `zhibo_store::media_objects`), its adapters ([`S3Objects`], and [`FsSink`] for benchmarks and
//! local experiments) and the [`UploadQueue`] that stands between the RTMP read loop and them.

mod fs;
mod queue;

pub use fs::FsSink;
pub use queue::{FlushReport, StreamUploader, UploadConfig, UploadLimit, UploadQueue, UploadStats};
pub use zhibo_store::media_objects::{
    MediaObjects, ObjectError, ObjectHead, ObjectPut, PutCondition, S3Objects, StoredObject,
};
