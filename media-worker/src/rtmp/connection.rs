//! The I/O shell of one RTMP connection: reads the socket into [`RtmpSession`], admits a
//! publish (signature, one publisher per stream, the `publish` hook), feeds media to the
//! segmenter and hands finished segments to the room's uploader without ever awaiting it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use zhibo_core::hooks::{HookEventKind, UnpublishReason};
use zhibo_core::ids::time_ordered_id;
use zhibo_media::hls::{Segment, Segmenter};

use super::publish_auth::{authorize_publish, AuthorizedPublish, PublishRefusal};
use super::session::{RtmpEvent, RtmpSession};
use crate::admission::NotPublishing;
use crate::hooks::{now_ms, HookSession};
use crate::limits::StreamLimit;
use crate::metrics::Metrics;
use crate::registry::{Claim, Release};
use crate::tcp_tuning;
use crate::worker::{BudgetSlot, ReconnectablePublisher, Worker};

/// Socket read size. One buffer per runtime thread, shared by its connections (a read and its
/// parsing never await), so it can be large: a paced read of a keyframe fits.
const READ_BUF: usize = 64 * 1024;

thread_local! {
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; READ_BUF]);
}
/// The `description` of the reconnect request sent at shutdown (encoders may show it).
const RECONNECT_DESCRIPTION: &str =
    "this zhibo media worker is shutting down: reconnect to continue the stream";
/// The socket's low-water mark while reads are paced: more than a batch of any usual bitrate
/// (95 ms of 20 Mbit/s), so a paced publisher wakes the runtime once per batch, not once per
/// audio/video message; beyond it, the data wakes the runtime early, which costs a wake-up only.
const PACED_LOW_WATER: usize = 256 * 1024;
/// How often idle timeouts and heartbeats are checked.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The publisher stopped cleanly: `FCUnpublish`/`deleteStream` while publishing.
    Stopped,
    /// The peer closed the socket (a publisher: without unpublishing first).
    Finished,
    /// No media for the idle timeout, or no publish within the pre-publish deadline.
    Idle,
    /// Not publishing yet, and closed to make room for a newer connection.
    Evicted,
    /// Dropped by a hook answer or an operator action.
    Kicked,
    /// The worker is shutting down.
    Shutdown,
    /// Refused publish or play.
    Refused(String),
    /// Broken RTMP or socket error.
    Error(String),
    /// The stream broke a resource limit (see [`StreamLimit`]); the text says which and why.
    Limit(StreamLimit, String),
    /// A newer publish session of the room (on this worker or another) writes the room now.
    Superseded(String),
}

impl CloseReason {
    /// What the `unpublish` hook says of a publish that ended this way: only a clean stop is
    /// `stopped`; every other end (closed without unpublishing, idle, kicked, shutdown, limit,
    /// error) is `dropped`.
    pub fn unpublish_reason(&self) -> UnpublishReason {
        match self {
            CloseReason::Stopped => UnpublishReason::Stopped,
            CloseReason::Finished
            | CloseReason::Idle
            | CloseReason::Evicted
            | CloseReason::Kicked
            | CloseReason::Shutdown
            | CloseReason::Refused(_)
            | CloseReason::Error(_)
            | CloseReason::Limit(..)
            | CloseReason::Superseded(_) => UnpublishReason::Dropped,
        }
    }
}

struct Publishing {
    publish: AuthorizedPublish,
    claim: Claim,
    segmenter: Segmenter,
    hook: HookSession,
    /// When the publish was admitted: the segmenter's wall clock counts from here.
    started: Instant,
    last_media: Instant,
    next_heartbeat: Instant,
    heartbeats: Option<Arc<crate::hooks::HeartbeatWatch>>,
    /// Set when a hook answer dropped the publisher because the room's live is over.
    live_over: Arc<std::sync::atomic::AtomicBool>,
    /// The reason a heartbeat answer gave for dropping the publisher (pause, ban): HTTP-FLV
    /// viewers are refused with it for a while.
    kick_reason: Arc<std::sync::Mutex<Option<String>>>,
    /// The stream's HTTP-FLV viewers.
    flv: Option<crate::flv::FlvPublisher>,
    warned_unsupported: bool,
}

/// Serves one accepted TCP connection until it closes; `slot` is its place in the worker's
/// connection budgets.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    worker: Arc<Worker>,
    slot: BudgetSlot,
    mut shutdown: watch::Receiver<bool>,
) -> CloseReason {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection {
        stream,
        peer,
        worker,
        rtmp: RtmpSession::new(),
        publishing: None,
        connected_at: Instant::now(),
        kick: Arc::new(Notify::new()),
        slot,
        reconnectable: None,
    };
    let reason = conn.run(&mut shutdown).await;
    conn.finish(&reason).await;
    reason
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    worker: Arc<Worker>,
    rtmp: RtmpSession,
    publishing: Option<Publishing>,
    connected_at: Instant,
    /// Notified to drop the publisher (hook answer, operator action).
    kick: Arc<Notify>,
    /// Its place in the connection budgets (pre-publish, then publishing).
    slot: BudgetSlot,
    /// Held while publishing for a client that accepts reconnect requests.
    reconnectable: Option<ReconnectablePublisher>,
}

impl Connection {
    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> CloseReason {
        let mut events = Vec::new();
        let idle = self.worker.config.idle_timeout;
        let batch = self.worker.config.read_batch;
        // Created once: re-creating these futures on every read costs more than the read.
        let kick = self.kick.clone();
        let kicked = kick.notified();
        tokio::pin!(kicked);
        let evict = self.slot.evicted.clone();
        let evicted = evict.notified();
        tokio::pin!(evicted);
        let shut = shutdown.changed();
        tokio::pin!(shut);
        let mut reconnect_requests = self.worker.reconnect_requests();
        let reconnect = reconnect_requests.changed();
        tokio::pin!(reconnect);
        let mut reconnect_asked = false;
        let check = tokio::time::sleep(CHECK_EVERY);
        tokio::pin!(check);
        let pace = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(pace);
        let mut pacing = false;
        let mut low_water_raised = false;
        loop {
            // While publishing, reads are paced: one read collects `batch` worth of messages
            // (a publisher flushes every audio/video message on its own), which divides the
            // syscalls and wake-ups per stream, at the cost of at most `batch` of latency. The
            // socket's low-water mark is raised meanwhile, so the publisher's writes between
            // two reads wake nothing; the read at each tick takes what is there.
            tokio::select! {
                biased;
                _ = &mut shut => return CloseReason::Shutdown,
                _ = &mut kicked => return self.kicked(),
                _ = &mut evicted => return CloseReason::Evicted,
                changed = &mut reconnect, if !reconnect_asked => {
                    reconnect_asked = true;
                    if changed.is_ok() {
                        if let Err(reason) = self.ask_to_reconnect().await {
                            return reason;
                        }
                    }
                    continue;
                }
                // Before the socket: a paced publisher's socket is readable at every tick, and
                // checks behind it would never run (no heartbeats, no idle timeout).
                _ = &mut check => {
                    check.as_mut().reset(tokio::time::Instant::now() + CHECK_EVERY);
                    if let Some(reason) = self.periodic_checks(idle) {
                        return reason;
                    }
                    continue;
                }
                _ = &mut pace, if pacing => {}
                ready = self.stream.readable(), if !pacing => {
                    if let Err(e) = ready {
                        return CloseReason::Error(format!("socket failed: {e}"));
                    }
                }
            }
            loop {
                events.clear();
                let read = READ_BUFFER.with(|cell| {
                    let mut buf = cell.borrow_mut();
                    let n = if pacing {
                        tcp_tuning::recv_now(&self.stream, &mut buf)?
                    } else {
                        self.stream.try_read(&mut buf)?
                    };
                    if n > 0 {
                        self.rtmp
                            .on_bytes(&buf[..n], &mut events)
                            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                    }
                    Ok::<usize, std::io::Error>(n)
                });
                let n = match read {
                    Ok(0) => return CloseReason::Finished,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        Metrics::inc(&self.worker.metrics.protocol_errors_total);
                        return CloseReason::Error(e.to_string());
                    }
                    Err(e) => return CloseReason::Error(format!("socket read failed: {e}")),
                };
                self.worker
                    .metrics
                    .bytes_in_total
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                for event in events.drain(..) {
                    if let Some(reason) = self.on_event(event).await {
                        let _ = self.flush_outbound().await;
                        return reason;
                    }
                }
                if n < READ_BUF {
                    break;
                }
            }
            // Every message of this read reaches the HTTP-FLV viewers in one piece.
            if let Some(flv) = self.publishing.as_mut().and_then(|p| p.flv.as_mut()) {
                flv.flush();
            }
            if let Err(e) = self.flush_outbound().await {
                return e;
            }
            // Near the end of a segment, read as data comes: the keyframe that closes it is
            // listed without waiting for the next batch.
            let margin = u32::try_from(batch.as_millis()).unwrap_or(u32::MAX);
            pacing = !batch.is_zero()
                && self
                    .publishing
                    .as_ref()
                    .is_some_and(|p| !p.segmenter.cut_is_near(margin));
            if pacing != low_water_raised {
                let mark = if pacing { PACED_LOW_WATER } else { 1 };
                match tcp_tuning::set_receive_low_water(&self.stream, mark) {
                    Ok(()) => low_water_raised = pacing,
                    // Still raised: go on reading at ticks (readiness would not come).
                    Err(e) if low_water_raised => {
                        tracing::debug!(peer = %self.peer, "low-water mark not lowered: {e}");
                        pacing = true;
                    }
                    Err(e) => tracing::debug!(peer = %self.peer, "low-water mark not raised: {e}"),
                }
            }
            if pacing {
                pace.as_mut().reset(next_batch_tick(batch));
            }
        }
    }

    /// Shutdown, step one: a publisher whose `connect` advertised the capability is sent the
    /// Enhanced RTMP reconnect request and goes on publishing here until it leaves (or the
    /// shutdown closes it). Nothing is sent to other clients.
    async fn ask_to_reconnect(&mut self) -> Result<(), CloseReason> {
        self.queue_reconnect_request();
        self.flush_outbound().await
    }

    /// Queues the reconnect request if this connection publishes for a client that accepts it.
    fn queue_reconnect_request(&mut self) {
        let Some(p) = &self.publishing else {
            return;
        };
        if self.reconnectable.is_none() || !self.rtmp.peer_accepts_reconnect_request() {
            return;
        }
        if let Err(e) = self.rtmp.request_reconnect(RECONNECT_DESCRIPTION) {
            tracing::warn!(stream = %p.publish.stream_name, "{e}; the publisher is closed at shutdown instead");
            return;
        }
        Metrics::inc(&self.worker.metrics.reconnect_requests_total);
        tracing::info!(
            stream = %p.publish.stream_name,
            session = %p.hook.session_id,
            peer = %self.peer,
            "sent the publisher a reconnect request"
        );
    }

    fn kicked(&self) -> CloseReason {
        Metrics::inc(&self.worker.metrics.kicked_total);
        CloseReason::Kicked
    }

    /// Idle timeout, pre-publish deadline and heartbeats, every [`CHECK_EVERY`].
    fn periodic_checks(&mut self, idle: Duration) -> Option<CloseReason> {
        match &self.publishing {
            Some(p) if p.last_media.elapsed() >= idle => {
                Metrics::inc(&self.worker.metrics.idle_timeouts_total);
                return Some(CloseReason::Idle);
            }
            None if self.connected_at.elapsed() >= self.worker.config.preauth_timeout => {
                Metrics::inc(&self.worker.metrics.preauth_timeouts_total);
                return Some(CloseReason::Idle);
            }
            _ => {}
        }
        self.maybe_heartbeat();
        None
    }

    async fn flush_outbound(&mut self) -> Result<(), CloseReason> {
        if self.rtmp.outbound().is_empty() {
            return Ok(());
        }
        let write = self.stream.write_all(self.rtmp.outbound()).await;
        self.rtmp.clear_outbound();
        write.map_err(|e| CloseReason::Error(format!("socket write failed: {e}")))
    }

    /// Handles one event; `Some` ends the connection.
    async fn on_event(&mut self, event: RtmpEvent) -> Option<CloseReason> {
        match event {
            RtmpEvent::Connect { request_id, .. } => {
                // The app is checked with the stream key at publish time (OBS may put the query
                // on either).
                if let Err(e) = self.rtmp.accept(request_id) {
                    return Some(CloseReason::Error(e.to_string()));
                }
                None
            }
            RtmpEvent::Play { request_id } => {
                let _ = self.rtmp.reject(
                    request_id,
                    "NetStream.Play.Failed",
                    "zhibo does not serve RTMP playback; play the room's HLS URL",
                );
                Some(CloseReason::Refused("RTMP play is not served".into()))
            }
            RtmpEvent::Publish {
                request_id,
                app_name,
                stream_key,
            } => {
                if self.publishing.is_some() {
                    let _ = self.rtmp.reject(
                        request_id,
                        "NetStream.Publish.BadName",
                        "this connection already publishes a stream",
                    );
                    return Some(CloseReason::Refused(
                        "second publish on one connection".into(),
                    ));
                }
                // Not evicted while its hook runs.
                self.slot.set_authorizing(true);
                let admitted = self.admit(&app_name, &stream_key).await;
                self.slot.set_authorizing(false);
                match admitted {
                    Ok(publishing) => {
                        if let Err(e) = self.rtmp.accept(request_id) {
                            self.publishing = Some(publishing);
                            return Some(CloseReason::Error(e.to_string()));
                        }
                        // Media messages up to the publishing limits from now on.
                        self.rtmp.publish_authorized();
                        tracing::info!(
                            stream = %publishing.publish.stream_name,
                            session = %publishing.hook.session_id,
                            peer = %self.peer,
                            continued = publishing.claim.room.continued(),
                            replay = %publishing.claim.room.replay_id(),
                            "publish started"
                        );
                        Metrics::inc(&self.worker.metrics.publishes_total);
                        if publishing.claim.room.continued() {
                            Metrics::inc(&self.worker.metrics.publishes_continued_total);
                        }
                        if self.rtmp.peer_accepts_reconnect_request() {
                            self.reconnectable = Some(self.worker.reconnectable_publisher());
                        }
                        self.worker
                            .metrics
                            .streams_live
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        self.publishing = Some(publishing);
                        // Published while the worker already asks publishers to move on.
                        if *self.worker.reconnect_requests().borrow() {
                            self.queue_reconnect_request();
                        }
                        None
                    }
                    Err(refusal) => {
                        Metrics::inc(&self.worker.metrics.publishes_refused_total);
                        tracing::info!(peer = %self.peer, "publish refused: {}", refusal.description);
                        let _ = self
                            .rtmp
                            .reject(request_id, refusal.code, &refusal.description);
                        Some(CloseReason::Refused(refusal.description))
                    }
                }
            }
            RtmpEvent::Video { timestamp, data } => {
                let p = self.publishing.as_mut()?;
                p.media_arrived();
                if let Some(flv) = &mut p.flv {
                    flv.on_video(timestamp, &data);
                }
                let result = p.segmenter.on_video(timestamp, &data);
                self.on_media_result(result)
            }
            RtmpEvent::Audio { timestamp, data } => {
                let p = self.publishing.as_mut()?;
                p.media_arrived();
                if let Some(flv) = &mut p.flv {
                    flv.on_audio(timestamp, &data);
                }
                let result = p.segmenter.on_audio(timestamp, &data);
                self.on_media_result(result)
            }
            RtmpEvent::Metadata(metadata) => {
                if let Some(flv) = self.publishing.as_mut().and_then(|p| p.flv.as_mut()) {
                    flv.on_metadata(&metadata);
                }
                None
            }
            RtmpEvent::PublishFinished => {
                if self.publishing.is_some() {
                    Some(CloseReason::Stopped)
                } else {
                    None
                }
            }
        }
    }

    /// Hands a finished segment on; `Some` ends the stream (a limit was broken).
    fn on_media_result(
        &mut self,
        result: zhibo_media::Result<Option<Segment>>,
    ) -> Option<CloseReason> {
        let p = self.publishing.as_mut()?;
        match result {
            Ok(Some(segment)) => emit_segment(&self.worker.metrics, p, &segment),
            Ok(None) => p
                .claim
                .uploader
                .limit_exceeded()
                .map(|e| CloseReason::Limit(StreamLimit::UploadBacklog, e.to_string())),
            Err(e) => {
                if let Some(limit) = StreamLimit::of_media_error(&e) {
                    return Some(CloseReason::Limit(limit, e.to_string()));
                }
                Metrics::inc(&self.worker.metrics.media_errors_total);
                if e.is_unsupported() {
                    if !p.warned_unsupported {
                        p.warned_unsupported = true;
                        tracing::warn!(stream = %p.publish.stream_name, "skipping media zhibo does not remux: {e}");
                    }
                } else {
                    tracing::debug!(stream = %p.publish.stream_name, "skipping a broken media message: {e}");
                }
                None
            }
        }
    }

    /// Signature, one publisher per stream, then the `publish` hook.
    async fn admit(
        &mut self,
        app_name: &str,
        stream_key: &str,
    ) -> Result<Publishing, PublishRefusal> {
        let now = now_ms();
        let publish = authorize_publish(
            &self.worker.config.publish_auth,
            app_name,
            stream_key,
            now / 1000,
        )?;
        // Its place among the publishing connections (ZHIBO_MAX_CONNECTIONS), given back when
        // the connection closes.
        match self.slot.start_publishing() {
            Ok(()) => {}
            Err(NotPublishing::Full) => {
                return Err(PublishRefusal::denied(
                    "this media worker is at its publishing connection limit; try again shortly",
                ))
            }
            Err(NotPublishing::Evicted) => {
                return Err(PublishRefusal::denied(
                    "publish came too late: the connection was closed to make room for newer ones; reconnect and publish at once",
                ))
            }
        }
        let session_id = time_ordered_id(now);
        self.worker
            .registry
            .reserve(&publish.stream_name, self.kick.clone())?;
        let mut hook = HookSession::new(
            &session_id,
            &publish.app_id,
            publish.room_id,
            &publish.stream_name,
            &self.peer.ip().to_string(),
        );
        if let Some(hooks) = &self.worker.hooks {
            let event = hook.event(HookEventKind::Publish, hooks.worker_id(), now);
            let answer = hooks.call_retrying_once(&event).await;
            let refusal = match answer {
                Ok(a) if a.allow => None,
                Ok(a) => Some(PublishRefusal::denied(format!(
                    "publish refused: {}",
                    a.reason.unwrap_or_else(|| "no reason given".into())
                ))),
                Err(e) => {
                    tracing::warn!("publish hook failed, refusing the publish: {e}");
                    Some(PublishRefusal::denied(
                        "publish refused: the room service is unreachable; try again shortly",
                    ))
                }
            };
            if let Some(refusal) = refusal {
                self.worker
                    .registry
                    .unreserve(&publish.stream_name, &self.kick);
                return Err(refusal);
            }
        }
        // Granted: take the room in the bucket, fencing out any older writer.
        let claim = self
            .worker
            .registry
            .claim(&publish, &session_id, self.kick.clone(), now_ms())
            .await?;
        let segmenter = Segmenter::new(zhibo_media::hls::SegmenterConfig {
            target_duration_ms: self.worker.config.segment_target_ms,
            max_segment_bytes: self.worker.config.max_segment_bytes,
            max_segments_per_minute: self.worker.config.max_segments_per_minute,
            ..Default::default()
        });
        let heartbeat = self
            .worker
            .hooks
            .as_ref()
            .map(|h| h.heartbeat_every())
            .unwrap_or(Duration::from_secs(3600));
        let publish_name = publish.stream_name.clone();
        Ok(Publishing {
            publish,
            claim,
            segmenter,
            hook,
            started: Instant::now(),
            last_media: Instant::now(),
            next_heartbeat: Instant::now() + heartbeat,
            heartbeats: self.worker.hooks.as_ref().map(|h| h.heartbeat_watch()),
            live_over: Arc::default(),
            kick_reason: Arc::default(),
            flv: Some(self.worker.flv.open(&publish_name)),
            warned_unsupported: false,
        })
    }

    fn maybe_heartbeat(&mut self) {
        let (Some(p), Some(hooks)) = (self.publishing.as_mut(), self.worker.hooks.as_ref()) else {
            return;
        };
        if Instant::now() < p.next_heartbeat {
            return;
        }
        p.next_heartbeat = Instant::now() + hooks.heartbeat_every();
        let event = p
            .hook
            .event(HookEventKind::Heartbeat, hooks.worker_id(), now_ms());
        let hooks = hooks.clone();
        let kick: Arc<Notify> = p.claim.kick.clone();
        let stream = p.publish.stream_name.clone();
        let watch = p.heartbeats.clone();
        let live_over = p.live_over.clone();
        let kick_reason = p.kick_reason.clone();
        // Fail open, but not forever: a ban must reach the publisher during a hooks outage.
        if let Some(outage) = watch.as_ref().and_then(|w| w.outage(now_ms())) {
            tracing::warn!(%stream, "no heartbeat answered for {outage:?} (hooks outage limit): dropping the publisher");
            kick.notify_one();
            return;
        }
        tokio::spawn(async move {
            let answer = hooks.call(&event).await;
            if let (Ok(_), Some(w)) = (&answer, &watch) {
                w.answered(now_ms());
            }
            match answer {
                Ok(answer) if !answer.allow => {
                    if answer.live_over {
                        live_over.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    let reason = answer
                        .reason
                        .unwrap_or_else(|| "the room service stopped the live".into());
                    tracing::info!(%stream, "heartbeat answer drops the publisher: {reason}");
                    *kick_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                    kick.notify_one();
                }
                Ok(_) => {}
                // A missed heartbeat is not retried: the next one follows.
                Err(e) => tracing::warn!(%stream, "heartbeat hook failed: {e}"),
            }
        });
    }

    /// Ends the publish session, if any: last segment, room back to the registry, unpublish.
    async fn finish(&mut self, reason: &CloseReason) {
        let Some(mut p) = self.publishing.take() else {
            return;
        };
        // Viewers are cut at once; after a pause or ban they are refused with its reason.
        if let Some(flv) = p.flv.take() {
            let refusal = match reason {
                CloseReason::Kicked => p
                    .kick_reason
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take(),
                _ => None,
            };
            flv.end(refusal);
        }
        if let Some(segment) = p.segmenter.finish() {
            // A limit broken by the last segment changes nothing now: the stream ends anyway.
            let _ = emit_segment(&self.worker.metrics, &mut p, &segment);
        }
        if let CloseReason::Limit(limit, why) = reason {
            if let Some(counter) = self.worker.metrics.limit_ends_total.get(limit.index()) {
                Metrics::inc(counter);
            }
            tracing::warn!(
                stream = %p.publish.stream_name,
                session = %p.hook.session_id,
                peer = %self.peer,
                limit = limit.label(),
                "ending the publish: {why}"
            );
        }
        self.worker
            .metrics
            .streams_live
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            stream = %p.publish.stream_name,
            session = %p.hook.session_id,
            ?reason,
            segments = p.segmenter.stats().segments,
            "publish ended"
        );
        let now = now_ms();
        if let Some(hooks) = &self.worker.hooks {
            let mut event = p
                .hook
                .event(HookEventKind::Unpublish, hooks.worker_id(), now);
            event.reason = Some(reason.unpublish_reason());
            hooks.send_retrying(event);
        }
        let release = match reason {
            // A republish may land on another worker and continue the room; with no control
            // plane to close it later, it closes now.
            CloseReason::Shutdown if self.worker.hooks.is_some() => Release::Leave,
            // A misbehaving stream's replay and backlog are freed now; without hooks no one
            // else will close a room of a worker that stops.
            CloseReason::Shutdown | CloseReason::Limit(..) => Release::CloseNow,
            // Its writes are refused: there is nothing of its own to close.
            CloseReason::Superseded(_) => Release::Leave,
            // Ended or banned: no republish will come; the replay closes once uploaded.
            CloseReason::Kicked if p.live_over.load(std::sync::atomic::Ordering::Relaxed) => {
                Release::CloseNow
            }
            _ => Release::Linger,
        };
        self.worker
            .registry
            .release(&p.publish.stream_name, p.claim, release, now);
        let _ = self.stream.shutdown().await;
    }
}

/// The next multiple of `batch` on a process-wide grid: every connection's paced read falls on
/// the same ticks, so one timer wake-up of the runtime serves them all.
fn next_batch_tick(batch: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let now = tokio::time::Instant::now();
    let step = batch.as_nanos().max(1);
    let elapsed = now.saturating_duration_since(epoch).as_nanos();
    let ticks = elapsed / step + 1;
    let offset = u64::try_from(ticks * step).unwrap_or(u64::MAX);
    epoch + Duration::from_nanos(offset)
}

impl Publishing {
    /// A media message arrived: idle timer and the segmenter's wall clock.
    fn media_arrived(&mut self) {
        let now = Instant::now();
        self.last_media = now;
        let ms = u64::try_from(now.duration_since(self.started).as_millis()).unwrap_or(u64::MAX);
        self.segmenter.set_now_ms(ms);
    }
}

/// Queues a finished segment and the live playlist naming it; `Some` ends the stream (its
/// replay is full, or its upload backlog is over a limit).
fn emit_segment(metrics: &Metrics, p: &mut Publishing, segment: &Segment) -> Option<CloseReason> {
    Metrics::inc(&metrics.segments_total);
    metrics.segment_bytes_total.fetch_add(
        segment.byte_size() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    if let Some(why) = p.claim.room.fence().shut_out() {
        Metrics::inc(&metrics.superseded_total);
        tracing::info!(stream = %p.publish.stream_name, "ending the publish: {why}");
        return Some(CloseReason::Superseded(why));
    }
    match p.claim.room.on_segment(segment, now_ms()) {
        Ok(writes) => p.claim.upload(writes),
        Err(full) => return Some(CloseReason::Limit(StreamLimit::Replay, full.to_string())),
    }
    p.claim
        .uploader
        .limit_exceeded()
        .map(|e| CloseReason::Limit(StreamLimit::UploadBacklog, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paced_reads_share_ticks() {
        let batch = Duration::from_millis(20);
        let a = next_batch_tick(batch);
        tokio::time::advance(Duration::from_millis(3)).await;
        let b = next_batch_tick(batch);
        let now = tokio::time::Instant::now();
        assert!(b > now && b - now <= batch);
        // Two connections asking within one tick get the same deadline.
        if b - now > Duration::from_millis(3) {
            assert_eq!(a, b);
        }
        tokio::time::advance(batch).await;
        assert_eq!(next_batch_tick(batch) - b, batch);
    }
    #[test]
    fn only_a_clean_stop_is_stopped() {
        assert_eq!(
            CloseReason::Stopped.unpublish_reason(),
            UnpublishReason::Stopped
        );
        for r in [
            CloseReason::Finished,
            CloseReason::Idle,
            CloseReason::Kicked,
            CloseReason::Shutdown,
            CloseReason::Error("socket read failed".into()),
            CloseReason::Limit(StreamLimit::Replay, "full".into()),
        ] {
            assert_eq!(r.unpublish_reason(), UnpublishReason::Dropped, "{r:?}");
        }
    }
}
