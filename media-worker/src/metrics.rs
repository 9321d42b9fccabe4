//! Prometheus counters of the worker, rendered in the text exposition format at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::limits::StreamLimit;
use crate::sink::UploadStats;

/// Worker-wide counters (relaxed atomics: monitoring, not control flow).
#[derive(Debug, Default)]
pub struct Metrics {
    /// RTMP connections accepted.
    pub connections_total: AtomicU64,
    /// RTMP connections open now.
    pub connections_open: AtomicU64,
    /// Publish sessions live now.
    pub streams_live: AtomicU64,
    /// Publishes accepted.
    pub publishes_total: AtomicU64,
    /// Publishes refused (signature, duplicate, hook, bad name).
    pub publishes_refused_total: AtomicU64,
    /// Bytes read from publishers.
    pub bytes_in_total: AtomicU64,
    /// Segments finished.
    pub segments_total: AtomicU64,
    /// Bytes of finished segments.
    pub segment_bytes_total: AtomicU64,
    /// Audio/video messages that could not be remuxed.
    pub media_errors_total: AtomicU64,
    /// Connections closed for broken RTMP.
    pub protocol_errors_total: AtomicU64,
    /// Publishers dropped for sending no media.
    pub idle_timeouts_total: AtomicU64,
    /// Publishers dropped by a hook answer (pause/ban/end).
    pub kicked_total: AtomicU64,
    /// Replays closed (replay playlist written).
    pub replays_total: AtomicU64,
    /// Publishes that continued an open replay (a reconnect inside the window, on any worker).
    pub publishes_continued_total: AtomicU64,
    /// Publish sessions shut out by a newer session of their room (their writes refused).
    pub superseded_total: AtomicU64,
    /// Connections whose publish is not authorized yet, now.
    pub preauth_connections: AtomicU64,
    /// New connections refused: their address had its share of pre-publish connections, or
    /// every pre-publish slot was waiting for a publish hook.
    pub preauth_refused_total: AtomicU64,
    /// Pre-publish connections closed to make room for a newer one.
    pub preauth_evicted_total: AtomicU64,
    /// Connections closed for not publishing within `ZHIBO_PREAUTH_TIMEOUT_S`.
    pub preauth_timeouts_total: AtomicU64,
    /// Enhanced RTMP reconnect requests sent to publishers at shutdown.
    pub reconnect_requests_total: AtomicU64,
    /// Publishers ended for breaking a limit, by [`StreamLimit::index`].
    pub limit_ends_total: [AtomicU64; StreamLimit::ALL.len()],
    /// HTTP-FLV viewers subscribed now.
    pub flv_viewers: AtomicU64,
    /// HTTP-FLV viewers subscribed.
    pub flv_viewers_total: AtomicU64,
    /// HTTP-FLV viewers dropped for falling behind by more than their buffer.
    pub flv_viewers_dropped_total: AtomicU64,
    /// Bytes handed to HTTP-FLV responses.
    pub flv_bytes_out_total: AtomicU64,
    /// Edge-relay pulls opened from another worker (one per live per worker at a time).
    pub flv_relay_pulls_total: AtomicU64,
    /// Edge-relay pulls running now.
    pub flv_relay_active: AtomicU64,
    /// Edge-relay pulls that could not start or ended on an error.
    pub flv_relay_errors_total: AtomicU64,
    /// HTTP connections closed because the client accepted no data for
    /// `ZHIBO_HTTP_WRITE_STALL_S`.
    pub http_write_stalls_total: AtomicU64,
    /// HTTP-FLV requests refused, by status ([`crate::flv::http::REFUSAL_STATUSES`] order).
    pub flv_refused_total: [AtomicU64; crate::flv::http::REFUSAL_STATUSES.len()],
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every metric, with the upload queue's and the hook client's.
    pub fn render(&self, upload: &UploadStats, hook_failures: u64) -> String {
        let mut out = String::with_capacity(4096);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut one = |name: &str, kind: &str, help: &str, value: String| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        one(
            "zhibo_rtmp_connections_total",
            "counter",
            "RTMP connections accepted.",
            get(&self.connections_total).to_string(),
        );
        one(
            "zhibo_rtmp_connections",
            "gauge",
            "RTMP connections open.",
            get(&self.connections_open).to_string(),
        );
        one(
            "zhibo_rtmp_preauth_connections",
            "gauge",
            "RTMP connections whose publish is not authorized yet.",
            get(&self.preauth_connections).to_string(),
        );
        one(
            "zhibo_rtmp_preauth_refused_total",
            "counter",
            "New RTMP connections refused (per-address pre-publish limit, or every slot awaiting a hook).",
            get(&self.preauth_refused_total).to_string(),
        );
        one(
            "zhibo_rtmp_preauth_evicted_total",
            "counter",
            "Pre-publish RTMP connections closed to make room for a newer one.",
            get(&self.preauth_evicted_total).to_string(),
        );
        one(
            "zhibo_rtmp_preauth_timeouts_total",
            "counter",
            "RTMP connections closed for not publishing in time.",
            get(&self.preauth_timeouts_total).to_string(),
        );
        one(
            "zhibo_streams",
            "gauge",
            "Publish sessions live.",
            get(&self.streams_live).to_string(),
        );
        one(
            "zhibo_reconnect_requests_total",
            "counter",
            "Enhanced RTMP reconnect requests sent to publishers that support them, at shutdown.",
            get(&self.reconnect_requests_total).to_string(),
        );
        one(
            "zhibo_publishes_total",
            "counter",
            "Publishes accepted.",
            get(&self.publishes_total).to_string(),
        );
        one(
            "zhibo_publishes_refused_total",
            "counter",
            "Publishes refused.",
            get(&self.publishes_refused_total).to_string(),
        );
        one(
            "zhibo_bytes_in_total",
            "counter",
            "Bytes read from publishers.",
            get(&self.bytes_in_total).to_string(),
        );
        one(
            "zhibo_segments_total",
            "counter",
            "HLS segments finished.",
            get(&self.segments_total).to_string(),
        );
        one(
            "zhibo_segment_bytes_total",
            "counter",
            "Bytes of finished segments.",
            get(&self.segment_bytes_total).to_string(),
        );
        one(
            "zhibo_media_errors_total",
            "counter",
            "Audio/video messages that could not be remuxed.",
            get(&self.media_errors_total).to_string(),
        );
        one(
            "zhibo_rtmp_protocol_errors_total",
            "counter",
            "Connections closed for broken RTMP.",
            get(&self.protocol_errors_total).to_string(),
        );
        one(
            "zhibo_idle_timeouts_total",
            "counter",
            "Publishers dropped for sending no media.",
            get(&self.idle_timeouts_total).to_string(),
        );
        one(
            "zhibo_kicked_total",
            "counter",
            "Publishers dropped by a hook answer.",
            get(&self.kicked_total).to_string(),
        );
        one(
            "zhibo_replays_total",
            "counter",
            "Replays closed.",
            get(&self.replays_total).to_string(),
        );
        one(
            "zhibo_publishes_continued_total",
            "counter",
            "Publishes that continued an open replay (reconnects inside the window, on any worker).",
            get(&self.publishes_continued_total).to_string(),
        );
        one(
            "zhibo_superseded_total",
            "counter",
            "Publish sessions shut out by a newer session of their room.",
            get(&self.superseded_total).to_string(),
        );
        one(
            "zhibo_hook_failures_total",
            "counter",
            "Hook attempts that failed.",
            hook_failures.to_string(),
        );
        one(
            "zhibo_uploads_total",
            "counter",
            "Objects stored by the sink.",
            upload.uploaded_objects.to_string(),
        );
        one(
            "zhibo_upload_bytes_total",
            "counter",
            "Bytes stored by the sink.",
            upload.uploaded_bytes.to_string(),
        );
        one(
            "zhibo_upload_errors_total",
            "counter",
            "Failed upload attempts (retried or abandoned).",
            upload.failed_attempts.to_string(),
        );
        one(
            "zhibo_uploads_abandoned_total",
            "counter",
            "Objects given up on.",
            upload.abandoned_objects.to_string(),
        );
        one(
            "zhibo_upload_queue_objects",
            "gauge",
            "Objects waiting to be stored.",
            upload.queued_objects.to_string(),
        );
        one(
            "zhibo_upload_queue_memory_bytes",
            "gauge",
            "Queued bytes held in memory.",
            upload.queued_bytes_in_memory.to_string(),
        );
        one(
            "zhibo_upload_spilled_total",
            "counter",
            "Objects spilled to local disk while the sink lagged.",
            upload.spilled_objects.to_string(),
        );
        one(
            "zhibo_upload_spill_bytes",
            "gauge",
            "Spilled bytes on local disk now.",
            upload.spilled_bytes_on_disk.to_string(),
        );
        one(
            "zhibo_flv_viewers",
            "gauge",
            "HTTP-FLV viewers subscribed now.",
            get(&self.flv_viewers).to_string(),
        );
        one(
            "zhibo_flv_viewers_total",
            "counter",
            "HTTP-FLV viewers subscribed.",
            get(&self.flv_viewers_total).to_string(),
        );
        one(
            "zhibo_flv_viewers_dropped_total",
            "counter",
            "HTTP-FLV viewers dropped for falling behind by more than ZHIBO_FLV_VIEWER_BUFFER_KB.",
            get(&self.flv_viewers_dropped_total).to_string(),
        );
        one(
            "zhibo_flv_bytes_out_total",
            "counter",
            "Bytes handed to HTTP-FLV responses.",
            get(&self.flv_bytes_out_total).to_string(),
        );
        one(
            "zhibo_flv_relay_pulls_total",
            "counter",
            "HTTP-FLV edge-relay pulls opened from the worker holding a live.",
            get(&self.flv_relay_pulls_total).to_string(),
        );
        one(
            "zhibo_flv_relay_active",
            "gauge",
            "HTTP-FLV edge-relay pulls running now.",
            get(&self.flv_relay_active).to_string(),
        );
        one(
            "zhibo_flv_relay_errors_total",
            "counter",
            "HTTP-FLV edge-relay pulls that could not start or ended on an error.",
            get(&self.flv_relay_errors_total).to_string(),
        );
        one(
            "zhibo_http_write_stalls_total",
            "counter",
            "HTTP connections closed because the client accepted no data for ZHIBO_HTTP_WRITE_STALL_S.",
            get(&self.http_write_stalls_total).to_string(),
        );
        let _ = write!(
            out,
            "# HELP zhibo_flv_refused_total HTTP-FLV requests refused, by status.\n# TYPE zhibo_flv_refused_total counter\n"
        );
        for (status, count) in crate::flv::http::REFUSAL_STATUSES
            .iter()
            .zip(&self.flv_refused_total)
        {
            let _ = writeln!(
                out,
                "zhibo_flv_refused_total{{status=\"{status}\"}} {}",
                get(count)
            );
        }
        let _ = write!(
            out,
            "# HELP zhibo_stream_limit_ends_total Publishers ended for breaking a resource limit.\n# TYPE zhibo_stream_limit_ends_total counter\n"
        );
        for limit in StreamLimit::ALL {
            let count = self.limit_ends_total.get(limit.index()).map_or(0, get);
            let _ = writeln!(
                out,
                "zhibo_stream_limit_ends_total{{limit=\"{}\"}} {count}",
                limit.label()
            );
        }
        let _ = write!(
            out,
            "# HELP zhibo_upload_seconds Latency of successful uploads.\n# TYPE zhibo_upload_seconds histogram\n"
        );
        for (le, count) in &upload.latency_buckets {
            let _ = writeln!(out, "zhibo_upload_seconds_bucket{{le=\"{le}\"}} {count}");
        }
        let _ = write!(
            out,
            "zhibo_upload_seconds_bucket{{le=\"+Inf\"}} {}\nzhibo_upload_seconds_sum {}\nzhibo_upload_seconds_count {}\n",
            upload.latency_count, upload.latency_sum_s, upload.latency_count
        );
        out
    }
}
