//! Hook calls to the functions (`POST /internal/hooks`, docs/api.md "Worker hooks"), signed
//! with the hook secret. `publish` is awaited and decides; `heartbeat` answers may drop a publisher;
//! `unpublish` is retried in the background until delivered (or given up after a day).

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use zhibo_core::backoff::Backoff;
use zhibo_core::hooks::{
    HookAnswer, HookEvent, HookEventKind, LocateAnswer, LocateRequest, SIGNATURE_HEADER,
};
use zhibo_core::ids::random_hex;
use zhibo_core::room::RoomId;
use zhibo_core::signing::BodySignature;

use crate::config::HookConfig;

/// How long an undelivered `unpublish` is retried.
const UNPUBLISH_RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// Background hooks are retried after 200 ms, 400 ms, … up to 60 s between attempts.
const HOOK_RETRY: Backoff = Backoff::doubling(Duration::from_millis(200), Duration::from_secs(60));

/// Why a hook call failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// No answer (connection refused, timeout).
    #[error("hook {url} unreachable: {message}")]
    Unreachable {
        /// The hook URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// An answer that is neither 200 nor 403 with a JSON `HookAnswer`.
    #[error("hook {url} answered HTTP {status}: {body}")]
    BadAnswer {
        /// The hook URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
}

impl HookError {
    /// Whether another attempt may succeed: no answer, throttled (429) or a server error (5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            HookError::Unreachable { .. } => true,
            HookError::BadAnswer { status, .. } => *status == 429 || *status >= 500,
        }
    }
}

/// Whether a live session's heartbeats still reach the room service. Heartbeats fail open (a
/// failed one is not retried and the publisher goes on), but not forever: when none was
/// answered for the outage limit (`ZHIBO_HEARTBEAT_OUTAGE_S`), the publisher is dropped, so a
/// ban, pause or end decided during a hooks outage still reaches it. Any answer counts,
/// `allow: false` included (that one drops the publisher itself).
#[derive(Debug)]
pub struct HeartbeatWatch {
    last_answer_ms: AtomicI64,
    limit_ms: i64,
}

impl HeartbeatWatch {
    /// Starts watching at `now_ms` (the publish hook just answered); `limit` zero never drops.
    pub fn new(now_ms: i64, limit: Duration) -> Arc<HeartbeatWatch> {
        Arc::new(HeartbeatWatch {
            last_answer_ms: AtomicI64::new(now_ms),
            limit_ms: i64::try_from(limit.as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// The room service answered a heartbeat at `now_ms`.
    pub fn answered(&self, now_ms: i64) {
        self.last_answer_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// How long no heartbeat was answered, if that is the outage limit or more.
    pub fn outage(&self, now_ms: i64) -> Option<Duration> {
        let silent = now_ms.saturating_sub(self.last_answer_ms.load(Ordering::Relaxed));
        (self.limit_ms > 0 && silent >= self.limit_ms)
            .then(|| Duration::from_millis(silent.max(0) as u64))
    }
}

/// Signs and sends hooks.
#[derive(Clone)]
pub struct HookClient {
    http: reqwest::Client,
    config: Arc<HookConfig>,
    worker_id: Arc<str>,
    /// `ZHIBO_RELAY_URL`, stamped on publish and heartbeat events as `origin`.
    origin: Option<Arc<str>>,
    in_flight: Arc<(AtomicUsize, Notify)>,
    failures: Arc<AtomicU64>,
}

/// The identity of one publish session, which numbers its hook events.
#[derive(Debug)]
pub struct HookSession {
    /// The publish session id.
    pub session_id: String,
    app_id: String,
    room_id: RoomId,
    stream_name: String,
    client_ip: String,
    next_seq: u64,
}

impl HookSession {
    /// Starts numbering a session's events at 0.
    pub fn new(
        session_id: &str,
        app_id: &str,
        room_id: RoomId,
        stream_name: &str,
        client_ip: &str,
    ) -> Self {
        HookSession {
            session_id: session_id.to_string(),
            app_id: app_id.to_string(),
            room_id,
            stream_name: stream_name.to_string(),
            client_ip: client_ip.to_string(),
            next_seq: 0,
        }
    }

    /// The next event of this session.
    pub fn event(&mut self, kind: HookEventKind, worker_id: &str, at_ms: i64) -> HookEvent {
        let seq = self.next_seq;
        self.next_seq += 1;
        HookEvent {
            event: kind,
            event_id: random_hex(12),
            session_id: self.session_id.clone(),
            seq,
            app_id: self.app_id.clone(),
            room_id: self.room_id,
            stream_name: self.stream_name.clone(),
            worker_id: worker_id.to_string(),
            client_ip: self.client_ip.clone(),
            at_ms,
            reason: None,
            origin: None,
        }
    }
}

/// The hook HTTP client could not be built (no TLS backend, no system configuration).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the hook HTTP client: {0}")]
pub struct HookClientError(#[source] pub reqwest::Error);

impl HookClient {
    /// A client for the configured hook URL; `origin` is this worker's `ZHIBO_RELAY_URL`.
    pub fn new(
        config: HookConfig,
        worker_id: &str,
        origin: Option<&str>,
    ) -> Result<HookClient, HookClientError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(HookClientError)?;
        Ok(HookClient {
            http,
            config: Arc::new(config),
            worker_id: worker_id.into(),
            origin: origin.map(Arc::from),
            in_flight: Arc::new((AtomicUsize::new(0), Notify::new())),
            failures: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The worker id put in every event.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Heartbeat period.
    pub fn heartbeat_every(&self) -> Duration {
        self.config.heartbeat
    }

    /// A watch over a new live session's heartbeats, with the configured outage limit.
    pub fn heartbeat_watch(&self) -> Arc<HeartbeatWatch> {
        HeartbeatWatch::new(now_ms(), self.config.heartbeat_outage)
    }

    /// Failed attempts so far (for metrics).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// One signed attempt.
    pub async fn call(&self, event: &HookEvent) -> Result<HookAnswer, HookError> {
        let result = self.call_once(event).await;
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// [`HookClient::call`], and once more (re-signed, same event) when the first attempt
    /// failed in a way a retry can mend: no answer, 429 or 5xx. For the `publish` hook, which
    /// fails closed: a hooks function's cold start or a throttled burst must not refuse a live.
    /// The room service treats the same event twice as once (session and `seq`).
    pub async fn call_retrying_once(&self, event: &HookEvent) -> Result<HookAnswer, HookError> {
        match self.call(event).await {
            Err(e) if e.is_transient() => {
                tracing::info!("publish hook failed ({e}); retrying once");
                self.call(event).await
            }
            answer => answer,
        }
    }

    /// Signs and posts `body` to `url`: (status, answer body).
    async fn post_signed(
        &self,
        url: &str,
        body: Vec<u8>,
    ) -> Result<(u16, bytes::Bytes), HookError> {
        let t = now_ms() / 1000;
        let signature = BodySignature::header(self.config.secret.as_bytes(), t, &body);
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| HookError::Unreachable {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await.unwrap_or_default()))
    }

    /// Asks the room service which worker holds `stream_name` (`POST /internal/hooks/locate`):
    /// 200 live with its origin, 403 banned or paused, 404 not live (each with the answer).
    pub async fn locate(&self, stream_name: &str) -> Result<(u16, LocateAnswer), HookError> {
        let url = format!("{}/locate", self.config.url.trim_end_matches('/'));
        let body = serde_json::to_vec(&LocateRequest {
            stream_name: stream_name.to_string(),
            worker_id: self.worker_id.to_string(),
        })
        .map_err(|e| HookError::Unreachable {
            url: url.clone(),
            message: format!("cannot encode the request: {e}"),
        })?;
        let (status, bytes) = self.post_signed(&url, body).await?;
        match (status, serde_json::from_slice::<LocateAnswer>(&bytes)) {
            (200 | 403 | 404, Ok(answer)) => Ok((status, answer)),
            _ => Err(HookError::BadAnswer {
                url,
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    async fn call_once(&self, event: &HookEvent) -> Result<HookAnswer, HookError> {
        let url = &self.config.url;
        let mut event = event.clone();
        if event.event != HookEventKind::Unpublish {
            event.origin = self.origin.as_deref().map(str::to_string);
        }
        let body = serde_json::to_vec(&event).map_err(|e| HookError::Unreachable {
            url: url.clone(),
            message: format!("cannot encode the event: {e}"),
        })?;
        let (status, bytes) = self.post_signed(url, body).await?;
        match (status, serde_json::from_slice::<HookAnswer>(&bytes)) {
            (200 | 403, Ok(answer)) => Ok(answer),
            (200, Err(_)) if event.event != HookEventKind::Publish => Ok(HookAnswer {
                allow: true,
                reason: None,
                live_over: false,
            }),
            _ => Err(HookError::BadAnswer {
                url: url.clone(),
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    /// Sends `event` in the background, retrying with exponential backoff (capped at 60 s)
    /// until it is delivered or a day has passed. [`HookClient::drain`] waits for these.
    pub fn send_retrying(&self, event: HookEvent) {
        let this = self.clone();
        this.in_flight.0.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut failures = 0u32;
            loop {
                match this.call(&event).await {
                    Ok(_) => break,
                    Err(e) if started.elapsed() < UNPUBLISH_RETRY_FOR => {
                        failures = failures.saturating_add(1);
                        let backoff = HOOK_RETRY.delay(failures, 0.0);
                        tracing::warn!(event_id = %event.event_id, "hook {:?} failed, retrying in {backoff:?}: {e}", event.event);
                        tokio::time::sleep(backoff).await;
                    }
                    Err(e) => {
                        tracing::error!(event_id = %event.event_id, "hook {:?} given up after a day: {e}", event.event);
                        break;
                    }
                }
            }
            if this.in_flight.0.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.in_flight.1.notify_waiters();
            }
        });
    }

    /// Waits until every background hook is delivered, or `timeout` passes; returns how many
    /// are still pending.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.in_flight.1.notified();
            let pending = self.in_flight.0.load(Ordering::SeqCst);
            if pending == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight.0.load(Ordering::SeqCst);
            }
        }
    }
}

pub use zhibo_core::clock::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    /// The background retry schedule: 200 ms doubling, at most 60 s apart.
    #[test]
    fn background_hooks_back_off_up_to_a_minute() {
        let ms: Vec<u128> = (1..=11)
            .map(|n| HOOK_RETRY.delay(n, 0.0).as_millis())
            .collect();
        assert_eq!(
            ms,
            [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 60_000, 60_000]
        );
        assert_eq!(HOOK_RETRY.delay(u32::MAX, 0.9), Duration::from_secs(60));
    }

    #[test]
    fn an_unanswered_outage_drops_the_publisher() {
        let w = HeartbeatWatch::new(1_000, Duration::from_secs(300));
        assert_eq!(w.outage(1_000 + 299_999), None);
        w.answered(200_000);
        assert_eq!(w.outage(200_000 + 299_999), None);
        assert_eq!(w.outage(200_000 + 300_000), Some(Duration::from_secs(300)));
        // A late answer from an older heartbeat does not move the clock back.
        w.answered(100_000);
        assert_eq!(w.outage(500_000), Some(Duration::from_secs(300)));
        let off = HeartbeatWatch::new(0, Duration::ZERO);
        assert_eq!(off.outage(i64::MAX), None);
    }

    #[test]
    fn sessions_number_their_events() {
        let mut s = HookSession::new("s1", "demo", 7, "demo_7", "10.0.0.1");
        let a = s.event(HookEventKind::Publish, "w1", 1);
        let b = s.event(HookEventKind::Heartbeat, "w1", 2);
        assert_eq!((a.seq, b.seq), (0, 1));
        assert_ne!(a.event_id, b.event_id);
        assert_eq!(b.stream_name, "demo_7");
    }
}
