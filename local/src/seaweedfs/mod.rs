//! S3 event notifications for the local stack, made from SeaweedFS's filer metadata events.
//!
//! On AWS, S3 itself invokes the replay indexer: an `ObjectCreated` notification on
//! `replays/*.m3u8` arrives as an [`aws_lambda_events::s3::S3Event`]. The local stack
//! (`scripts/stack.sh`: SeaweedFS behind an S3 gateway) has no bucket notifications, so this
//! module stands in for them, **on the local stack only**: [`FilerNotifications::run`] tails
//! the filer's metadata log with `weed filer.meta.tail` (one pretty-printed JSON object per
//! change, concatenated on stdout) and [`s3_event_from_filer_event`] turns each created or
//! overwritten playlist into the same S3Event JSON, one record per event, that S3 would send.
//!
//! Delivery is at least once, like S3's: at start the tail reaches
//! [`FilerNotifications::catch_up`] back, so that replays written while nothing listened are
//! still delivered, and after the `weed` child fails it is restarted from the last event seen.
//! The indexer is idempotent, so an event delivered twice changes nothing.
//!
//! Its parts: `filer_event` turns one filer event into an S3Event (pure functions),
//! `json_stream` splits `weed`'s output into events, and `tail` runs the `weed` child,
//! delivers and restarts it. The samples the unit tests use are filer events captured from
//! `weed`, in `local/tests/fixtures/seaweedfs/`; `local/tests/seaweedfs_stack.rs` runs against
//! the local stack.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

mod filer_event;
mod json_stream;
mod tail;

pub use filer_event::s3_event_from_filer_event;

/// Environment variable naming the `weed` binary (exported by `scripts/stack.sh env`).
pub const WEED_BIN_ENV: &str = "ZHIBO_WEED_BIN";
/// Environment variable with the filer's `host:port` (exported by `scripts/stack.sh env`).
pub const FILER_ENV: &str = "ZHIBO_SEAWEEDFS_FILER";
/// Key prefix of replay playlists.
pub const REPLAYS_PREFIX: &str = "replays/";
/// Key suffix of replay playlists.
pub const PLAYLIST_SUFFIX: &str = ".m3u8";
/// How far back the tail reaches when it starts, by default.
pub const DEFAULT_CATCH_UP: Duration = Duration::from_secs(10 * 60);

/// Where to tail the filer, and which objects to announce: those of `bucket` whose key starts
/// with `prefix` and ends with `suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilerNotifications {
    /// The `weed` binary.
    pub weed_bin: PathBuf,
    /// The filer's `host:port` (HTTP port; `weed` adds 10000 for gRPC).
    pub filer: String,
    /// The S3 bucket (the filer folder `/buckets/{bucket}`).
    pub bucket: String,
    /// Key prefix of the objects announced, e.g. `replays/`.
    pub prefix: String,
    /// Key suffix of the objects announced, e.g. `.m3u8`.
    pub suffix: String,
    /// How far back the tail reaches at start (`weed -timeAgo`), so that objects written
    /// while nothing listened are still announced.
    pub catch_up: Duration,
}

impl FilerNotifications {
    /// Replay playlists of `bucket`, through the `weed` binary and filer named by
    /// `ZHIBO_WEED_BIN` and `ZHIBO_SEAWEEDFS_FILER`; `None` when either is unset or empty.
    pub fn from_env(bucket: &str) -> Option<Self> {
        Self::from_vars(bucket, |name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] with the variables read by `var`.
    fn from_vars(bucket: &str, var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let env = zhibo_core::env::EnvReader::trimming(var);
        let weed_bin = env.optional(WEED_BIN_ENV)?;
        let filer = env.optional(FILER_ENV)?;
        Some(FilerNotifications {
            weed_bin: PathBuf::from(weed_bin),
            filer,
            bucket: bucket.to_owned(),
            prefix: REPLAYS_PREFIX.to_owned(),
            suffix: PLAYLIST_SUFFIX.to_owned(),
            catch_up: DEFAULT_CATCH_UP,
        })
    }

    /// Tails the filer and calls `on_event` with an S3Event JSON for each object created or
    /// overwritten, one at a time. Restarts `weed` when it exits or cannot start (after 1 s,
    /// doubling up to 30 s), from the last event seen. Runs until the future is dropped (the
    /// `weed` child is killed then).
    pub async fn run<F, Fut>(self, on_event: F)
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = ()>,
    {
        self.tail_forever(on_event).await;
    }
}

/// Samples and helpers the tests of every part share.
#[cfg(test)]
mod test_support {
    use aws_lambda_events::s3::S3Event;
    use serde_json::Value;

    pub(super) const BUCKET: &str = "hls";

    /// The only record, checked to parse as `aws_lambda_events`' S3Event.
    pub(super) fn only_record(s3_event: Value) -> Value {
        let parsed: S3Event = serde_json::from_value(s3_event.clone()).unwrap();
        assert_eq!(parsed.records.len(), 1);
        let records = s3_event["Records"].as_array().unwrap();
        assert_eq!(records.len(), 1);
        records[0].clone()
    }

    // Filer events captured from `weed filer.meta.tail -pathPrefix=/buckets/hls/replays/`
    // (SeaweedFS 4.48, `weed mini` as scripts/stack.sh runs it) while boto3 wrote through the
    // S3 gateway; trimmed to the fields that matter (the real ones also carry fid, signatures,
    // inode...). Each is one pretty-printed object and its newline, as weed prints it.

    /// PutObject `replays/capt/1/r1.m3u8` (25 bytes), a new object.
    pub(super) const NEW_M3U8: &str = include_str!("../../tests/fixtures/seaweedfs/new_m3u8.json");
    /// The folder `replays/capt/1` the gateway created for that object.
    pub(super) const DIRECTORY_CREATED: &str =
        include_str!("../../tests/fixtures/seaweedfs/directory_created.json");
    /// PutObject `replays/capt/1/r1.json` beside the playlist.
    pub(super) const JSON_BESIDE: &str =
        include_str!("../../tests/fixtures/seaweedfs/json_beside.json");
    /// DeleteObject `replays/capt/1/r1.json`.
    pub(super) const DELETED: &str = include_str!("../../tests/fixtures/seaweedfs/deleted.json");
    /// PutObject `replays/capt/1/r1.m3u8` again (40 bytes): one event, old and new entry.
    pub(super) const OVERWRITTEN: &str =
        include_str!("../../tests/fixtures/seaweedfs/overwritten.json");
    /// PutObject `replays/capt/2/my replay é.m3u8` (weed prints the name as raw UTF-8).
    pub(super) const NON_ASCII_KEY: &str =
        include_str!("../../tests/fixtures/seaweedfs/non_ascii_key.json");
    /// CompleteMultipartUpload of `replays/capt/3/big.m3u8` (parts of 5 MiB and 100 bytes):
    /// one event, no `md5`, the S3 ETag only in `extended`.
    pub(super) const MULTIPART: &str =
        include_str!("../../tests/fixtures/seaweedfs/multipart.json");

    /// What `weed filer.meta.tail` prints on stdout (exit status 0) when the filer is down.
    pub(super) const FILER_DOWN_MESSAGE: &str = "tail 127.0.0.1:1: subscribing filer meta change: subscribe: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:10001: connect: connection refused\"\n";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seaweedfs_from_env_needs_both_variables() {
        let vars = |weed: Option<&str>, filer: Option<&str>| {
            let (weed, filer) = (weed.map(str::to_owned), filer.map(str::to_owned));
            move |name: &str| match name {
                WEED_BIN_ENV => weed.clone(),
                FILER_ENV => filer.clone(),
                _ => None,
            }
        };
        let from = |weed, filer| FilerNotifications::from_vars("media", vars(weed, filer));
        assert_eq!(from(None, Some("127.0.0.1:19958")), None);
        assert_eq!(from(Some(" "), Some("127.0.0.1:19958")), None);
        assert_eq!(from(Some("/opt/weed"), None), None);
        assert_eq!(from(Some("/opt/weed"), Some("")), None);
        assert_eq!(
            from(Some("/opt/weed"), Some("127.0.0.1:19958")),
            Some(FilerNotifications {
                weed_bin: PathBuf::from("/opt/weed"),
                filer: "127.0.0.1:19958".into(),
                bucket: "media".into(),
                prefix: "replays/".into(),
                suffix: ".m3u8".into(),
                catch_up: Duration::from_secs(600),
            })
        );
    }
}
