//! The worker's configuration, parsed once from the environment; every problem is reported at
//! once, one per line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use zhibo_core::env::{is_http_url, EnvError, EnvReader};

use crate::rtmp::publish_auth::PublishAuth;

/// Where segments and playlists go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// `ZHIBO_SINK=s3` (default): `MEDIA_BUCKET` (default `hls`), endpoint override
    /// `ZHIBO_S3_ENDPOINT` for S3-compatible servers.
    S3 {
        /// Bucket.
        bucket: String,
        /// Endpoint override.
        endpoint: Option<String>,
    },
    /// `ZHIBO_SINK=fs`: files under `ZHIBO_FS_SINK_DIR` (benchmarks, local experiments).
    Fs {
        /// Root directory (object keys become paths under it).
        root: PathBuf,
    },
}

/// Hook calls to the functions.
#[derive(Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// `ZHIBO_HOOK_URL`: the full URL of `POST /internal/hooks`.
    pub url: String,
    /// `HOOK_SECRET`: HMAC key of the `Zhibo-Signature` header.
    pub secret: String,
    /// `ZHIBO_HOOK_TIMEOUT_MS`: per attempt (default 2000).
    pub timeout: Duration,
    /// `ZHIBO_HEARTBEAT_S`: heartbeat period of every live session (default 10).
    pub heartbeat: Duration,
    /// `ZHIBO_HEARTBEAT_OUTAGE_S`: a publisher none of whose heartbeats was answered this long
    /// is dropped (default 300; 0 never drops).
    pub heartbeat_outage: Duration,
}

impl std::fmt::Debug for HookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("heartbeat", &self.heartbeat)
            .field("heartbeat_outage", &self.heartbeat_outage)
            .finish()
    }
}

/// Everything the worker reads from its environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `ZHIBO_RTMP_ADDR` (default `0.0.0.0:1935`).
    pub rtmp_addr: SocketAddr,
    /// `ZHIBO_HTTP_ADDR`: `/healthz`, HTTP-FLV playback and, unless [`Self::metrics_addr`] is
    /// set, `/metrics` (default `0.0.0.0:9090`).
    pub http_addr: SocketAddr,
    /// `ZHIBO_METRICS_ADDR`: when set, `/metrics` is served there only (a port the load
    /// balancer does not expose), not on the public HTTP port.
    pub metrics_addr: Option<SocketAddr>,
    /// `ZHIBO_WORKER_ID` (default: host name, else random).
    pub worker_id: String,
    /// `PUSH_KEY`, or `ZHIBO_PUBLISH_AUTH=off` (benchmarks only).
    pub publish_auth: PublishAuth,
    /// Hook calls; `None` when `ZHIBO_HOOK_URL` is unset (signature-only admission).
    pub hooks: Option<HookConfig>,
    /// The sink.
    pub sink: SinkConfig,
    /// `ZHIBO_SEGMENT_TARGET_MS` (default 2000).
    pub segment_target_ms: u32,
    /// `ZHIBO_LIVE_WINDOW` segments in the live playlist (default 6).
    pub live_window: usize,
    /// `ZHIBO_RECONNECT_WINDOW_S` (default 900, the room service's abnormal window): a republish
    /// within it, on any worker, continues the live playlist and the replay; set both together.
    pub reconnect_window: Duration,
    /// `ZHIBO_IDLE_TIMEOUT_S` (default 10): a publisher sending no media this long is dropped.
    pub idle_timeout: Duration,
    /// `ZHIBO_UPLOAD_CONCURRENCY` (default 32) requests in flight to the sink.
    pub upload_concurrency: usize,
    /// `ZHIBO_UPLOAD_MEMORY_MB` (default 256) of queued bodies before spilling to disk.
    pub upload_memory_bytes: usize,
    /// `ZHIBO_SPILL_DIR` (default `$TMPDIR/zhibo-spill`).
    pub spill_dir: PathBuf,
    /// `ZHIBO_SHUTDOWN_GRACE_S` (default 30): how long SIGTERM waits for uploads.
    pub shutdown_grace: Duration,
    /// `ZHIBO_RECONNECT_REQUEST_WAIT_S` (default 10, 0 = off): at SIGTERM, publishers whose
    /// `connect` advertised Enhanced RTMP's reconnect capability are asked to reconnect (to
    /// another worker, through the load balancer), and the worker waits this long, within
    /// `ZHIBO_SHUTDOWN_GRACE_S`, for them to leave before it closes every connection.
    pub reconnect_request_wait: Duration,
    /// `ZHIBO_MAX_CONNECTIONS` (default 2000): publishing connections.
    pub max_connections: usize,
    /// `ZHIBO_MAX_PREAUTH_CONNECTIONS` (default 512): connections whose publish is not
    /// authorized yet, overall (when full, the oldest is evicted for a new one).
    pub max_preauth_connections: usize,
    /// `ZHIBO_MAX_PREAUTH_PER_ADDRESS` (default 16): the same, per client address (IPv4
    /// address or IPv6 /64); more are refused.
    pub max_preauth_per_address: usize,
    /// `ZHIBO_PREAUTH_TIMEOUT_S` (default 5): handshake, `connect` and `publish` must be done
    /// this long after connecting.
    pub preauth_timeout: Duration,
    /// `ZHIBO_READ_BATCH_MS` (default 95, 0 = off): while publishing, a connection reads at
    /// most this often, so one read syscall takes several audio/video messages — except near
    /// a segment's end, where it reads as data comes so the cut is not delayed.
    pub read_batch: Duration,
    /// `ZHIBO_MAX_SEGMENT_MB` (default 64): a segment never grows beyond it; a publisher that
    /// would need more without a keyframe to cut at is dropped.
    pub max_segment_bytes: usize,
    /// `ZHIBO_MAX_SEGMENTS_PER_MIN` (default 240, after a burst of 60): a publisher cutting
    /// segments faster (timestamps jumping) is dropped.
    pub max_segments_per_minute: u32,
    /// `ZHIBO_UPLOAD_STREAM_MB` (default 1024) and `ZHIBO_UPLOAD_STREAM_OBJECTS` (default
    /// 5000): one stream's upload backlog; beyond either the publisher is dropped.
    pub upload_stream_bytes: usize,
    /// See [`WorkerConfig::upload_stream_bytes`].
    pub upload_stream_objects: usize,
    /// `ZHIBO_SPILL_MAX_MB` (default 8192): the spill folder's size across streams; a stream
    /// that would overflow it is dropped.
    pub spill_max_bytes: u64,
    /// `PLAY_KEY`: the master key play URLs are signed with (each app's key is derived from
    /// it), for HTTP-FLV playback (`GET /live/{stream_name}.flv`); unset: that endpoint
    /// answers 503.
    pub play_key: Option<PlayKey>,
    /// `ZHIBO_RELAY_URL`: this worker's HTTP base URL as the other workers reach it
    /// (`http://{private ip}:{ZHIBO_HTTP_ADDR port}`), sent in its hooks as `origin` so that
    /// they pull its lives for their own HTTP-FLV viewers (the edge relay). `ecs`: the
    /// address is read at start from the ECS task metadata ([`crate::ecs_metadata`]); until
    /// then this holds `ecs` and [`WorkerConfig::relay_url_from_ecs`] is true. Unset: nobody
    /// pulls from this worker.
    pub relay_url: Option<String>,
    /// `ZHIBO_FLV_VIEWER_BUFFER_KB` (default 8192): bytes queued for one HTTP-FLV viewer
    /// (its start plus what it has not read yet); a viewer that falls further behind is
    /// dropped.
    pub flv_viewer_buffer_bytes: usize,
    /// `ZHIBO_MAX_FLV_VIEWERS` (default 5000): HTTP-FLV viewers of this worker; more get 503.
    pub max_flv_viewers: usize,
    /// `ZHIBO_FLV_SENDFILE` (default on): each batch of a live's tags goes once into an
    /// in-memory file and from there to every viewer with `sendfile` (off: `writev` of the
    /// batch to each viewer).
    pub flv_sendfile: bool,
    /// `ZHIBO_HTTP_SNDBUF_KB` (default 0: the kernel's autotuning): the socket send buffer of
    /// HTTP connections. Bytes a stalled viewer's socket holds are not counted against
    /// `ZHIBO_FLV_VIEWER_BUFFER_KB`, and an autotuned buffer grows to megabytes (on loopback
    /// at once); a fixed size bounds it and drops a stalled viewer sooner, at the cost of
    /// throughput over long round trips (send buffer / RTT).
    pub http_sndbuf_bytes: usize,
    /// `ZHIBO_HTTP_WRITE_STALL_S` (default 30, 0 = never): an HTTP connection whose client
    /// accepts no byte this long is closed (a viewer that stopped reading).
    pub http_write_stall: Duration,
}

/// The master `PLAY_KEY` (redacted in debug output).
#[derive(Clone, PartialEq, Eq)]
pub struct PlayKey(pub String);

impl std::fmt::Debug for PlayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlayKey(<redacted>)")
    }
}

impl WorkerConfig {
    /// True when `ZHIBO_RELAY_URL=ecs`: the relay URL is still to be read from the ECS task
    /// metadata ([`crate::ecs_metadata::relay_url_from_ecs`]).
    pub fn relay_url_from_ecs(&self) -> bool {
        self.relay_url.as_deref() == Some(crate::ecs_metadata::FROM_ECS)
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<WorkerConfig, EnvError> {
        WorkerConfig::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get`; the error lists every problem, one per line.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<WorkerConfig, EnvError> {
        const MIB: usize = 1024 * 1024;
        let mut env = EnvReader::trimming(get);
        let rtmp_addr = env.addr("ZHIBO_RTMP_ADDR", "0.0.0.0:1935");
        let http_addr = env.addr("ZHIBO_HTTP_ADDR", "0.0.0.0:9090");
        let metrics_addr = env
            .optional("ZHIBO_METRICS_ADDR")
            .map(|_| env.addr("ZHIBO_METRICS_ADDR", "0.0.0.0:9091"));
        if metrics_addr == Some(http_addr) {
            env.problem(
                "ZHIBO_METRICS_ADDR equals ZHIBO_HTTP_ADDR: give /metrics its own port, or leave \
                 ZHIBO_METRICS_ADDR unset to serve it on the HTTP port",
            );
        }
        let segment_target_ms = env.num("ZHIBO_SEGMENT_TARGET_MS", 2000, 500..=20_000);
        let live_window = env.num("ZHIBO_LIVE_WINDOW", 6, 3..=100);
        let reconnect_window = env.secs("ZHIBO_RECONNECT_WINDOW_S", 900, 0..=86_400);
        let idle_timeout = env.secs("ZHIBO_IDLE_TIMEOUT_S", 10, 2..=600);
        let upload_concurrency = env.num("ZHIBO_UPLOAD_CONCURRENCY", 32, 1..=1024);
        let upload_memory_bytes = env.num("ZHIBO_UPLOAD_MEMORY_MB", 256, 1..=65_536) * MIB;
        let shutdown_grace = env.secs("ZHIBO_SHUTDOWN_GRACE_S", 30, 0..=3600);
        let reconnect_request_wait = env.secs("ZHIBO_RECONNECT_REQUEST_WAIT_S", 10, 0..=3600);
        let max_connections = env.num("ZHIBO_MAX_CONNECTIONS", 2000, 1..=1_000_000);
        let max_preauth_connections = env.num("ZHIBO_MAX_PREAUTH_CONNECTIONS", 512, 1..=1_000_000);
        let max_preauth_per_address = env.num("ZHIBO_MAX_PREAUTH_PER_ADDRESS", 16, 1..=1_000_000);
        let preauth_timeout = env.secs("ZHIBO_PREAUTH_TIMEOUT_S", 5, 1..=60);
        let hook_timeout = env.ms("ZHIBO_HOOK_TIMEOUT_MS", 2000, 50..=60_000);
        let heartbeat = env.secs("ZHIBO_HEARTBEAT_S", 10, 1..=3600);
        let heartbeat_outage = env.secs("ZHIBO_HEARTBEAT_OUTAGE_S", 300, 0..=86_400);
        let read_batch = env.ms("ZHIBO_READ_BATCH_MS", 95, 0..=500);
        let max_segment_bytes = env.num("ZHIBO_MAX_SEGMENT_MB", 64, 1..=1024) * MIB;
        let max_segments_per_minute = env.num("ZHIBO_MAX_SEGMENTS_PER_MIN", 240, 1..=60_000);
        let upload_stream_bytes = env.num("ZHIBO_UPLOAD_STREAM_MB", 1024, 1..=1 << 20) * MIB;
        let upload_stream_objects = env.num("ZHIBO_UPLOAD_STREAM_OBJECTS", 5000, 10..=10_000_000);
        let spill_max_bytes = env.num("ZHIBO_SPILL_MAX_MB", 8192u64, 0..=1 << 24) * MIB as u64;

        let publish_auth = match (
            env.optional("ZHIBO_PUBLISH_AUTH").as_deref(),
            env.optional("PUSH_KEY"),
        ) {
            (Some("off"), _) => PublishAuth::Off,
            (None | Some("push-key"), Some(key)) if key.len() >= 16 => PublishAuth::PushKey(key),
            (None | Some("push-key"), Some(_)) => {
                env.problem("PUSH_KEY is too short: use at least 16 characters");
                PublishAuth::Off
            }
            (None | Some("push-key"), None) => {
                env.problem(
                    "PUSH_KEY is required: the key push URLs are signed with (or ZHIBO_PUBLISH_AUTH=off for benchmarks)",
                );
                PublishAuth::Off
            }
            (Some(other), _) => {
                env.problem(format!(
                    "ZHIBO_PUBLISH_AUTH={other:?} is invalid: expected push-key (default) or off"
                ));
                PublishAuth::Off
            }
        };
        let flv_viewer_buffer_bytes =
            env.num("ZHIBO_FLV_VIEWER_BUFFER_KB", 8192, 16..=1 << 20) * 1024;
        let max_flv_viewers = env.num("ZHIBO_MAX_FLV_VIEWERS", 5000, 0..=1_000_000);
        let flv_sendfile = env.flag("ZHIBO_FLV_SENDFILE", true);
        let http_sndbuf_bytes = env.num("ZHIBO_HTTP_SNDBUF_KB", 0, 0..=1 << 16) * 1024;
        let http_write_stall = env.secs("ZHIBO_HTTP_WRITE_STALL_S", 30, 0..=3600);
        let play_key = match env.optional("PLAY_KEY") {
            Some(key) if key.len() < 16 => {
                env.problem("PLAY_KEY is too short: use at least 16 characters (the same master key as the functions)");
                None
            }
            Some(key) => Some(PlayKey(key)),
            None => None,
        };
        let relay_url = env.optional("ZHIBO_RELAY_URL").and_then(|url| {
            if url == crate::ecs_metadata::FROM_ECS {
                return Some(url);
            }
            let url = url.trim_end_matches('/').to_string();
            match zhibo_core::hooks::check_origin(&url) {
                Ok(()) => Some(url),
                Err(why) => {
                    env.problem(format!("ZHIBO_RELAY_URL: {why}"));
                    None
                }
            }
        });
        let hooks = match (env.optional("ZHIBO_HOOK_URL"), env.optional("HOOK_SECRET")) {
            (None, _) => None,
            (Some(url), _) if !is_http_url(&url) => {
                env.problem(format!(
                    "ZHIBO_HOOK_URL={url:?} is invalid: expected an http(s) URL"
                ));
                None
            }
            (Some(_), None) => {
                env.problem("HOOK_SECRET is required when ZHIBO_HOOK_URL is set");
                None
            }
            (Some(url), Some(secret)) => Some(HookConfig {
                url,
                secret,
                timeout: hook_timeout,
                heartbeat,
                heartbeat_outage,
            }),
        };
        let sink = match env.optional("ZHIBO_SINK").as_deref() {
            None | Some("s3") => SinkConfig::S3 {
                endpoint: env.url("ZHIBO_S3_ENDPOINT"),
                bucket: env.or("MEDIA_BUCKET", "hls"),
            },
            Some("fs") => SinkConfig::Fs {
                root: env.optional("ZHIBO_FS_SINK_DIR").map_or_else(
                    || {
                        env.problem("ZHIBO_FS_SINK_DIR is required when ZHIBO_SINK=fs");
                        PathBuf::new()
                    },
                    PathBuf::from,
                ),
            },
            Some(other) => {
                env.problem(format!(
                    "ZHIBO_SINK={other:?} is invalid: expected s3 or fs"
                ));
                SinkConfig::Fs {
                    root: PathBuf::new(),
                }
            }
        };
        let spill_dir = env
            .optional("ZHIBO_SPILL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("zhibo-spill"));
        let worker_id = env
            .optional("ZHIBO_WORKER_ID")
            .or_else(|| env.optional("HOSTNAME"))
            .unwrap_or_else(|| format!("worker-{}", zhibo_core::ids::random_hex(4)));
        env.finish()?;
        Ok(WorkerConfig {
            rtmp_addr,
            http_addr,
            metrics_addr,
            worker_id,
            publish_auth,
            hooks,
            sink,
            segment_target_ms,
            live_window,
            reconnect_window,
            idle_timeout,
            upload_concurrency,
            upload_memory_bytes,
            spill_dir,
            shutdown_grace,
            reconnect_request_wait,
            max_connections,
            max_preauth_connections,
            max_preauth_per_address,
            preauth_timeout,
            read_batch,
            max_segment_bytes,
            max_segments_per_minute,
            upload_stream_bytes,
            upload_stream_objects,
            spill_max_bytes,
            play_key,
            relay_url,
            flv_viewer_buffer_bytes,
            max_flv_viewers,
            flv_sendfile,
            http_sndbuf_bytes,
            http_write_stall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<WorkerConfig, EnvError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WorkerConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[("PUSH_KEY", "0123456789abcdef")]).unwrap();
        assert_eq!(c.rtmp_addr.port(), 1935);
        assert_eq!(c.segment_target_ms, 2000);
        assert_eq!(c.live_window, 6);
        assert_eq!(c.reconnect_window, Duration::from_secs(900));
        assert_eq!(c.idle_timeout, Duration::from_secs(10));
        assert_eq!(c.max_connections, 2000);
        assert_eq!(c.max_preauth_connections, 512);
        assert_eq!(c.max_preauth_per_address, 16);
        assert_eq!(c.preauth_timeout, Duration::from_secs(5));
        assert!(c.hooks.is_none());
        assert_eq!(
            c.sink,
            SinkConfig::S3 {
                bucket: "hls".into(),
                endpoint: None
            }
        );
        assert!(
            !format!("{c:?}").contains("0123456789abcdef"),
            "secrets are redacted"
        );
        assert_eq!(c.play_key, None);
        assert_eq!(c.flv_viewer_buffer_bytes, 8 << 20);
        assert_eq!(c.max_flv_viewers, 5000);
        assert!(c.flv_sendfile);
        assert_eq!(c.http_sndbuf_bytes, 0);
        assert_eq!(c.http_write_stall, Duration::from_secs(30));
    }

    #[test]
    fn play_key_and_flv_limits() {
        let c = cfg(&[
            ("PUSH_KEY", "0123456789abcdef"),
            ("PLAY_KEY", "play-key-0123456789"),
            ("ZHIBO_FLV_VIEWER_BUFFER_KB", "64"),
            ("ZHIBO_MAX_FLV_VIEWERS", "3"),
        ])
        .unwrap();
        assert_eq!(c.play_key, Some(PlayKey("play-key-0123456789".into())));
        assert!(!format!("{c:?}").contains("play-key-0123456789"));
        assert_eq!(c.flv_viewer_buffer_bytes, 64 << 10);
        assert_eq!(c.max_flv_viewers, 3);
        let err = cfg(&[
            ("PUSH_KEY", "0123456789abcdef"),
            ("PLAY_KEY", "short"),
            ("ZHIBO_FLV_VIEWER_BUFFER_KB", "1"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("PLAY_KEY is too short"), "{err}");
        assert!(err.contains("ZHIBO_FLV_VIEWER_BUFFER_KB"), "{err}");
    }

    #[test]
    fn relay_url_is_an_http_base_or_ecs() {
        let c = cfg(&[
            ("PUSH_KEY", "0123456789abcdef"),
            ("ZHIBO_RELAY_URL", "http://10.0.1.7:9090/"),
        ])
        .unwrap();
        assert_eq!(c.relay_url.as_deref(), Some("http://10.0.1.7:9090"));
        assert!(!c.relay_url_from_ecs());
        let c = cfg(&[("PUSH_KEY", "0123456789abcdef"), ("ZHIBO_RELAY_URL", "ecs")]).unwrap();
        assert!(c.relay_url_from_ecs());
        let err = cfg(&[
            ("PUSH_KEY", "0123456789abcdef"),
            ("ZHIBO_RELAY_URL", "ftp://10.0.1.7"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("ZHIBO_RELAY_URL"), "{err}");
    }

    #[test]
    fn stream_limits_default_and_parse() {
        let c = cfg(&[("PUSH_KEY", "0123456789abcdef")]).unwrap();
        assert_eq!(c.max_segment_bytes, 64 << 20);
        assert_eq!(c.max_segments_per_minute, 240);
        assert_eq!(c.upload_stream_bytes, 1 << 30);
        assert_eq!(c.upload_stream_objects, 5000);
        assert_eq!(c.spill_max_bytes, 8 << 30);
        let c = cfg(&[
            ("PUSH_KEY", "0123456789abcdef"),
            ("ZHIBO_MAX_SEGMENT_MB", "16"),
            ("ZHIBO_MAX_SEGMENTS_PER_MIN", "60"),
            ("ZHIBO_SPILL_MAX_MB", "0"),
        ])
        .unwrap();
        assert_eq!(c.max_segment_bytes, 16 << 20);
        assert_eq!(c.max_segments_per_minute, 60);
        assert_eq!(c.spill_max_bytes, 0);
        let err = cfg(&[
            ("PUSH_KEY", "0123456789abcdef"),
            ("ZHIBO_MAX_SEGMENT_MB", "0"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("ZHIBO_MAX_SEGMENT_MB"), "{err}");
    }

    #[test]
    fn reconnect_request_wait_defaults_and_parses() {
        let c = cfg(&[("PUSH_KEY", "0123456789abcdef")]).unwrap();
        assert_eq!(c.reconnect_request_wait, Duration::from_secs(10));
        let c = cfg(&[
            ("PUSH_KEY", "0123456789abcdef"),
            ("ZHIBO_RECONNECT_REQUEST_WAIT_S", "0"),
        ])
        .unwrap();
        assert_eq!(c.reconnect_request_wait, Duration::ZERO);
        for bad in ["-1", "ten", "3601"] {
            let err = cfg(&[
                ("PUSH_KEY", "0123456789abcdef"),
                ("ZHIBO_RECONNECT_REQUEST_WAIT_S", bad),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("ZHIBO_RECONNECT_REQUEST_WAIT_S"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn every_problem_at_once() {
        let err = cfg(&[
            ("ZHIBO_RTMP_ADDR", "nope"),
            ("ZHIBO_SINK", "fs"),
            ("ZHIBO_HOOK_URL", "http://h/internal/hooks"),
            ("ZHIBO_IDLE_TIMEOUT_S", "1"),
        ])
        .unwrap_err()
        .to_string();
        for needle in [
            "ZHIBO_RTMP_ADDR",
            "ZHIBO_FS_SINK_DIR",
            "HOOK_SECRET",
            "PUSH_KEY",
            "ZHIBO_IDLE_TIMEOUT_S",
        ] {
            assert!(err.contains(needle), "{needle} missing from:\n{err}");
        }
        assert_eq!(err.lines().count(), 5);
    }
}
