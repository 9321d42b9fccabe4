//! The delivery engine: drains rooms' outboxes to the customer's webhook endpoint.
//!
//! One drain of a room holds the room's lease (so a room is drained by one process at a time)
//! and sends the room's events one by one, lowest `seq` first: an event is never sent before
//! the previous event of its room was delivered or dead-lettered. A failed attempt is retried
//! with exponential backoff ([`RetryPolicy`]) until the retry window closes, then the event is
//! dead-lettered. What to do at each step is decided by the pure functions [`head_action`]
//! and [`settle`]; [`Deliverer`] is the I/O shell around them.

use aws_lambda_events::event::dynamodb;
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use zhibo_core::room::RoomId;
use zhibo_core::table::{self, keys};
use zhibo_core::webhook::{self, RetryPolicy, ATTEMPT_TIMEOUT_MS};
use zhibo_core::webhook::{Attempt, OutboxEvent, WebhookEndpoint};
use zhibo_core::Error;
use zhibo_store::OutboxStore;

/// Deliveries attempted by one drain before it hands the rest to the next one.
pub const MAX_DELIVERIES_PER_DRAIN: usize = 100;
/// How long a drain holds a room's lease. A drain stops starting attempts well before
/// ([`DRAIN_BUDGET_MS`]), so a lease only expires when its holder died.
pub const LEASE_MS: i64 = 60_000;
/// How long one drain starts new attempts (the last one may take [`ATTEMPT_TIMEOUT_MS`] more).
pub const DRAIN_BUDGET_MS: i64 = 45_000;
/// Rooms drained at once by [`Deliverer::run_due`] and [`Deliverer::handle_stream`].
pub const DRAIN_CONCURRENCY: usize = 8;
/// Due rooms read from each due-work shard per [`Deliverer::run_due`].
pub const ROOMS_PER_SHARD: i32 = 200;
/// Drains of one room in a row when events keep being enqueued while it drains.
const MAX_ROUNDS: usize = 4;
/// Outbox reads in one leased drain (deliveries plus the reads that find nothing due).
const MAX_STEPS: usize = 2 * MAX_DELIVERIES_PER_DRAIN + 8;

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("zhibo-webhooks/", env!("CARGO_PKG_VERSION"));

// ---- pure core ---------------------------------------------------------------------------

/// What a drain does with its room's outbox head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadAction {
    /// The outbox is empty: take it off the due-work list.
    Empty,
    /// The head's next attempt is later: put the outbox on the due-work list for then.
    WaitUntil(i64),
    /// The head is due: send it.
    Attempt(OutboxEvent),
}

/// Decides what to do with the outbox `head` at `now_ms`.
pub fn head_action(head: Option<OutboxEvent>, now_ms: i64) -> HeadAction {
    match head {
        None => HeadAction::Empty,
        Some(e) if e.next_attempt_ms > now_ms => HeadAction::WaitUntil(e.next_attempt_ms),
        Some(e) => HeadAction::Attempt(e),
    }
}

/// How one POST went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered 2xx.
    Accepted {
        /// The HTTP status.
        status: u16,
    },
    /// Anything else: another status, a timeout, a connection failure.
    Failed {
        /// The HTTP status, if the receiver answered.
        status: Option<u16>,
        /// What went wrong, for the delivery record.
        error: String,
    },
}

impl AttemptResult {
    /// The attempt as stored in a delivery record.
    pub fn record(&self, at_ms: i64) -> Attempt {
        match self {
            AttemptResult::Accepted { status } => Attempt {
                at_ms,
                http_status: Some(*status),
                error: None,
            },
            AttemptResult::Failed { status, error } => Attempt {
                at_ms,
                http_status: *status,
                error: Some(error.clone()),
            },
        }
    }
}

/// What becomes of an event after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered: out of the outbox (its record, if any, marked `delivered`).
    Delivered,
    /// Failed within the retry window: attempted again at `next_attempt_ms`.
    Retry {
        /// Unix ms of the next attempt.
        next_attempt_ms: i64,
    },
    /// Failed after the retry window closed: dead-lettered.
    Dead,
}

/// Decides what becomes of `event` after `result` at `now_ms`; `jitter` in 0.0..1.0 spreads
/// the backoff.
pub fn settle(
    event: &OutboxEvent,
    result: &AttemptResult,
    policy: &RetryPolicy,
    now_ms: i64,
    jitter: f64,
) -> Settlement {
    match result {
        AttemptResult::Accepted { .. } => Settlement::Delivered,
        AttemptResult::Failed { .. } if policy.exhausted(event.created_ms, now_ms) => {
            Settlement::Dead
        }
        AttemptResult::Failed { .. } => {
            let delay = policy.delay_ms(event.attempts.saturating_add(1), jitter);
            Settlement::Retry {
                next_attempt_ms: now_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)),
            }
        }
    }
}

/// The room of an outbox event's key (`pk` = `OUTBOX#{app}#{room:012}`, `sk` = `EVT#…`);
/// `None` for any other item.
pub fn outbox_room_of(pk: &str, sk: &str) -> Option<(String, RoomId)> {
    if !sk.starts_with(keys::OUTBOX_EVENT_PREFIX) {
        return None;
    }
    let rest = pk.strip_prefix("OUTBOX#")?;
    let (app, room) = rest.rsplit_once('#')?;
    let room: RoomId = room.parse().ok()?;
    if app.is_empty() || keys::outbox_pk(app, room) != pk {
        return None;
    }
    Some((app.to_string(), room))
}

/// A delivery error as the customer sees it in `last_error`: a coarse class, never the HTTP
/// client's cause chain (which told apart refused, filtered and open ports of any host).
fn describe(e: reqwest::Error) -> String {
    let mut source = std::error::Error::source(&e);
    let mut tls = false;
    if zhibo_store::public_dns::is_not_public(&e) {
        return NotPublic::MESSAGE.to_string();
    }
    while let Some(s) = source {
        // rustls failures reach reqwest as io::Error InvalidData (tokio-rustls).
        tls |= s
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData);
        source = s.source();
    }
    if e.is_timeout() {
        format!("timed out: no answer within {ATTEMPT_TIMEOUT_MS} ms")
    } else if tls {
        "TLS error: the endpoint's certificate or TLS handshake was refused".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    }
}

/// Which addresses deliveries may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destinations {
    /// Public addresses only (deployed): every address a name resolves to is checked with
    /// [`zhibo_core::webhook::address::is_internal`] and the connection goes to the checked addresses.
    PublicOnly,
    /// Any address (`WEBHOOK_ALLOW_HTTP=1`: local development and tests, whose receivers
    /// listen on loopback).
    Any,
}

use zhibo_store::public_dns::NotPublic;
pub use zhibo_store::public_dns::PublicResolver;

// ---- reports -----------------------------------------------------------------------------

/// What one drain of a room did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// Another drain held the room's lease: nothing was done.
    pub skipped: bool,
    /// Events delivered.
    pub delivered: u32,
    /// Attempts that failed and will be retried.
    pub failed: u32,
    /// Events dead-lettered.
    pub dead: u32,
    /// Events dropped because the app has no webhook endpoint.
    pub dropped: u32,
}

/// What a batch of drains ([`Deliverer::run_due`], [`Deliverer::handle_stream`]) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Rooms drained (or skipped because another drain held them).
    pub rooms: u32,
    /// Events delivered.
    pub delivered: u32,
    /// Attempts that failed and will be retried.
    pub failed: u32,
    /// Events dead-lettered.
    pub dead: u32,
    /// Events dropped because their app has no webhook endpoint.
    pub dropped: u32,
    /// Storage errors (logged); the rooms concerned stay due and are retried.
    pub errors: u32,
}

impl RunReport {
    fn add(&mut self, d: &DrainReport) {
        self.rooms += 1;
        self.delivered += d.delivered;
        self.failed += d.failed;
        self.dead += d.dead;
        self.dropped += d.dropped;
    }
}

// ---- the I/O shell -----------------------------------------------------------------------

/// Sends outbox events to the customers' webhook endpoints.
#[derive(Debug, Clone)]
pub struct Deliverer {
    outbox: OutboxStore,
    http: reqwest::Client,
    policy: RetryPolicy,
    destinations: Destinations,
    owner: String,
    /// Appends the `status` item of each live_status change before it is sent.
    status: Option<crate::status_items::StatusItems>,
}

impl Deliverer {
    /// A deliverer over `store` retrying with `policy` to public addresses only
    /// ([`Destinations::PublicOnly`]): 5 s per attempt, redirects not followed.
    pub fn new(store: OutboxStore, policy: RetryPolicy) -> Result<Deliverer, reqwest::Error> {
        Deliverer::with_destinations(store, policy, Destinations::PublicOnly)
    }

    /// The deliverer the configuration asks for: its retry policy, and any destination only
    /// with `WEBHOOK_ALLOW_HTTP=1` (local development).
    pub fn from_config(
        store: OutboxStore,
        config: &zhibo_core::Config,
    ) -> Result<Deliverer, reqwest::Error> {
        let destinations = if config.webhook_allow_http {
            Destinations::Any
        } else {
            Destinations::PublicOnly
        };
        Deliverer::with_destinations(store, config.webhook_retry, destinations)
    }

    /// A deliverer to `destinations`. Public-only deliveries resolve names with
    /// [`PublicResolver`] and use no proxy (a proxy would connect on their behalf, unchecked).
    pub fn with_destinations(
        store: OutboxStore,
        policy: RetryPolicy,
        destinations: Destinations,
    ) -> Result<Deliverer, reqwest::Error> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_millis(ATTEMPT_TIMEOUT_MS))
            .connect_timeout(Duration::from_millis(ATTEMPT_TIMEOUT_MS))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        if destinations == Destinations::PublicOnly {
            b = zhibo_store::public_dns::public_only(b);
        }
        Ok(Deliverer {
            outbox: store,
            http: b.build()?,
            policy,
            destinations,
            owner: format!("dlv-{}", zhibo_core::ids::random_hex(6)),
            status: None,
        })
    }

    /// The same deliverer, also appending and publishing the `status` item of every
    /// live_status change it sees ([`crate::status_items`]) before sending the event.
    pub fn with_status_items(mut self, status: crate::status_items::StatusItems) -> Deliverer {
        self.status = Some(status);
        self
    }

    /// The store it drains.
    pub fn store(&self) -> &OutboxStore {
        &self.outbox
    }

    /// Drains room `room_id` of `app_id`, starting at `now_ms` (later steps add the time
    /// elapsed since). Skipped when another drain holds the room's lease.
    pub async fn drain_room(
        &self,
        app_id: &str,
        room_id: RoomId,
        now_ms: i64,
    ) -> Result<DrainReport, Error> {
        let started = Instant::now();
        let clock = move || now_ms.saturating_add(started.elapsed().as_millis() as i64);
        let mut report = DrainReport::default();
        for round in 0..MAX_ROUNDS {
            let token = format!("{}:{}", self.owner, zhibo_core::ids::random_hex(4));
            let Some(ver) = self
                .outbox
                .acquire_outbox_lease(app_id, room_id, &token, clock(), LEASE_MS)
                .await?
            else {
                report.skipped = round == 0;
                return Ok(report);
            };
            let drained = self
                .drain_leased(app_id, room_id, ver, &clock, &mut report)
                .await;
            let released = self
                .outbox
                .release_outbox_lease(app_id, room_id, &token)
                .await;
            let (seen, finished) = drained?;
            match released? {
                // An event was enqueued after the last look: look again.
                Some(after) if after != seen && finished => continue,
                Some(_) => return Ok(report),
                None => {
                    tracing::warn!(app_id, room_id, "outbox lease expired during a drain");
                    return Ok(report);
                }
            }
        }
        Ok(report)
    }

    /// The drain proper, under the lease. Returns the last queue version seen and whether the
    /// outbox was left with nothing due (false when a bound stopped the drain).
    async fn drain_leased(
        &self,
        app_id: &str,
        room_id: RoomId,
        mut ver: u64,
        clock: &impl Fn() -> i64,
        report: &mut DrainReport,
    ) -> Result<(u64, bool), Error> {
        let start = clock();
        let mut endpoint: Option<Option<WebhookEndpoint>> = None;
        let mut attempts = 0usize;
        // Status items first, for every waiting event (a failing endpoint holds back the
        // webhooks, not the items); later heads are mirrored as they come up.
        let mut mirrored_upto = 0u64;
        if let Some(status) = &self.status {
            for event in self
                .outbox
                .outbox_events(app_id, room_id, crate::status_items::STATUS_LOOKAHEAD)
                .await?
            {
                status.mirror(&event).await?;
                mirrored_upto = mirrored_upto.max(event.seq);
            }
        }
        for _ in 0..MAX_STEPS {
            let now = clock();
            let head = self.outbox.outbox_head(app_id, room_id).await?;
            if let (Some(status), Some(event)) = (&self.status, &head) {
                if event.seq > mirrored_upto {
                    status.mirror(event).await?;
                    mirrored_upto = event.seq;
                }
            }
            let event = match head_action(head, now) {
                HeadAction::Empty => {
                    if self.outbox.clear_outbox_due(app_id, room_id, ver).await? {
                        return Ok((ver, true));
                    }
                    // An enqueue raced with this drain: look again.
                    match self.outbox.outbox_ver(app_id, room_id).await? {
                        Some(v) => ver = v,
                        None => return Ok((ver, true)),
                    }
                    continue;
                }
                HeadAction::WaitUntil(due) => {
                    self.outbox.set_outbox_due(app_id, room_id, due).await?;
                    return Ok((ver, true));
                }
                HeadAction::Attempt(event) => event,
            };
            if attempts >= MAX_DELIVERIES_PER_DRAIN || now - start >= DRAIN_BUDGET_MS {
                self.outbox.set_outbox_due(app_id, room_id, now).await?;
                return Ok((ver, false));
            }
            let ep = match &endpoint {
                Some(ep) => ep.clone(),
                None => {
                    let ep = self.outbox.get_webhook(app_id).await?;
                    endpoint = Some(ep.clone());
                    ep
                }
            };
            let Some(ep) = ep else {
                tracing::info!(
                    app_id,
                    room_id,
                    seq = event.seq,
                    event_id = %event.event_id,
                    "no webhook endpoint configured: event dropped"
                );
                if event.tracked {
                    let attempt = Attempt {
                        at_ms: now,
                        http_status: None,
                        error: Some("no webhook endpoint configured".into()),
                    };
                    self.outbox
                        .dead_letter_event(&event, &attempt, false)
                        .await?;
                } else {
                    self.outbox.delete_outbox_event(&event).await?;
                }
                report.dropped += 1;
                continue;
            };
            attempts += 1;
            let result = self.post(&ep, &event, clock()).await;
            let after = clock();
            let attempt = result.record(after);
            match settle(&event, &result, &self.policy, after, rand::random::<f64>()) {
                Settlement::Delivered => {
                    self.outbox.complete_outbox_event(&event, &attempt).await?;
                    report.delivered += 1;
                }
                Settlement::Dead => {
                    tracing::warn!(
                        app_id,
                        room_id,
                        seq = event.seq,
                        event_id = %event.event_id,
                        error = attempt.error.as_deref().unwrap_or(""),
                        "webhook event dead-lettered"
                    );
                    self.outbox
                        .dead_letter_event(&event, &attempt, true)
                        .await?;
                    report.dead += 1;
                }
                Settlement::Retry { next_attempt_ms } => {
                    tracing::info!(
                        app_id,
                        room_id,
                        seq = event.seq,
                        event_id = %event.event_id,
                        error = attempt.error.as_deref().unwrap_or(""),
                        next_attempt_ms,
                        "webhook delivery failed; retrying later"
                    );
                    self.outbox
                        .record_attempt_failure(&event, &attempt, next_attempt_ms)
                        .await?;
                    self.outbox
                        .set_outbox_due(app_id, room_id, next_attempt_ms)
                        .await?;
                    report.failed += 1;
                    return Ok((ver, true));
                }
            }
        }
        let now = clock();
        self.outbox.set_outbox_due(app_id, room_id, now).await?;
        Ok((ver, false))
    }

    /// POSTs the event's stored body, byte for byte, signed for time `now_ms`.
    async fn post(&self, ep: &WebhookEndpoint, event: &OutboxEvent, now_ms: i64) -> AttemptResult {
        // An IP literal is not resolved, so it is checked here (a URL stored before a range
        // was refused); names are checked by the resolver.
        if self.destinations == Destinations::PublicOnly
            && reqwest::Url::parse(&ep.url)
                .ok()
                .and_then(|u| {
                    u.host_str()
                        .map(zhibo_core::webhook::address::is_internal_host)
                })
                .unwrap_or(true)
        {
            return AttemptResult::Failed {
                status: None,
                error: NotPublic::MESSAGE.to_string(),
            };
        }
        let body = event.body.as_bytes();
        let signature = webhook::signature_header(&ep.secret, now_ms.div_euclid(1000), body);
        let res = self
            .http
            .post(&ep.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(webhook::SIGNATURE_HEADER, signature)
            .header(webhook::EVENT_ID_HEADER, &event.event_id)
            .body(event.body.clone())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => AttemptResult::Accepted {
                status: r.status().as_u16(),
            },
            Ok(r) => {
                let st = r.status();
                let note = if st.is_redirection() {
                    " (redirects are not followed; set the final URL)"
                } else {
                    ""
                };
                AttemptResult::Failed {
                    status: Some(st.as_u16()),
                    error: format!("HTTP {st}{note}"),
                }
            }
            Err(e) => AttemptResult::Failed {
                status: None,
                error: describe(e),
            },
        }
    }

    /// Drains every room, [`DRAIN_CONCURRENCY`] at a time. Errors are logged and counted.
    pub async fn drain_rooms(&self, rooms: Vec<(String, RoomId)>, now_ms: i64) -> RunReport {
        let started = Instant::now();
        let results: Vec<_> = futures::stream::iter(rooms)
            .map(|(app_id, room_id)| async move {
                let now = now_ms.saturating_add(started.elapsed().as_millis() as i64);
                let res = self.drain_room(&app_id, room_id, now).await;
                (app_id, room_id, res)
            })
            .buffer_unordered(DRAIN_CONCURRENCY)
            .collect()
            .await;
        let mut report = RunReport::default();
        for (app_id, room_id, res) in results {
            match res {
                Ok(d) => report.add(&d),
                Err(e) => {
                    tracing::error!(app_id, room_id, error = %e, "draining an outbox failed");
                    report.errors += 1;
                }
            }
        }
        report
    }

    /// Drains every room whose outbox has work due at `now_ms` (the scheduled run).
    pub async fn run_due(&self, now_ms: i64) -> RunReport {
        let mut rooms = Vec::new();
        let mut errors = 0;
        for shard in 0..table::DUE_SHARDS {
            match self
                .outbox
                .outboxes_due(shard, now_ms, ROOMS_PER_SHARD)
                .await
            {
                Ok(found) => rooms.extend(found),
                Err(e) => {
                    tracing::error!(shard, error = %e, "reading the due outboxes failed");
                    errors += 1;
                }
            }
        }
        let mut report = self.drain_rooms(dedup(rooms), now_ms).await;
        report.errors += errors;
        report
    }

    /// Drains the rooms of the outbox events inserted in a DynamoDB Streams batch; every
    /// other record is ignored, a malformed one logged and skipped.
    pub async fn handle_stream(&self, event: &dynamodb::Event, now_ms: i64) -> RunReport {
        self.drain_rooms(stream_rooms(event), now_ms).await
    }
}

fn dedup(rooms: Vec<(String, RoomId)>) -> Vec<(String, RoomId)> {
    let mut seen = HashSet::new();
    rooms
        .into_iter()
        .filter(|r| seen.insert(r.clone()))
        .collect()
}

/// The string value of a stream record's key attribute.
fn key_str(record: &dynamodb::EventRecord, name: &str) -> Option<String> {
    let value = record
        .change
        .keys
        .get(name)
        .or_else(|| record.change.new_image.get(name))?;
    // The attribute in DynamoDB JSON (`{"S": "..."}`).
    let json = serde_json::to_value(value).ok()?;
    json.get("S")?.as_str().map(str::to_string)
}

/// The distinct rooms of the outbox events inserted in a stream batch, in order.
pub fn stream_rooms(event: &dynamodb::Event) -> Vec<(String, RoomId)> {
    let mut rooms = Vec::new();
    for record in &event.records {
        if record.event_name != "INSERT" {
            continue;
        }
        let (Some(pk), Some(sk)) = (key_str(record, table::PK), key_str(record, table::SK)) else {
            tracing::warn!(
                event_id = %record.event_id,
                "stream record without string pk/sk keys: skipped"
            );
            continue;
        };
        if !pk.starts_with("OUTBOX#") || !sk.starts_with(keys::OUTBOX_EVENT_PREFIX) {
            continue;
        }
        match outbox_room_of(&pk, &sk) {
            Some(room) => rooms.push(room),
            None => tracing::warn!(
                event_id = %record.event_id,
                pk,
                sk,
                "malformed outbox key in a stream record: skipped"
            ),
        }
    }
    dedup(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(attempts: u32, next: i64) -> OutboxEvent {
        OutboxEvent {
            app_id: "demo".into(),
            room_id: 7,
            seq: 3,
            event_id: "evt_1".into(),
            event_type: "room.started".into(),
            body: "{}".into(),
            created_ms: 1_000_000,
            attempts,
            next_attempt_ms: next,
            tracked: attempts > 0,
        }
    }

    fn failed() -> AttemptResult {
        AttemptResult::Failed {
            status: Some(500),
            error: "HTTP 500".into(),
        }
    }

    #[test]
    fn head_actions() {
        assert_eq!(head_action(None, 5), HeadAction::Empty);
        assert_eq!(
            head_action(Some(event(1, 10)), 5),
            HeadAction::WaitUntil(10)
        );
        assert_eq!(
            head_action(Some(event(1, 5)), 5),
            HeadAction::Attempt(event(1, 5))
        );
    }

    #[test]
    fn settlements() {
        let p = RetryPolicy {
            base_ms: 100,
            cap_ms: 1_000,
            window_s: 10,
        };
        let e = event(0, 0);
        assert_eq!(
            settle(
                &e,
                &AttemptResult::Accepted { status: 204 },
                &p,
                1_000_000,
                0.0
            ),
            Settlement::Delivered
        );
        // Accepted even after the window: delivered, not dead.
        assert_eq!(
            settle(
                &e,
                &AttemptResult::Accepted { status: 200 },
                &p,
                9_999_999,
                0.0
            ),
            Settlement::Delivered
        );
        assert_eq!(
            settle(&e, &failed(), &p, 1_000_500, 0.0),
            Settlement::Retry {
                next_attempt_ms: 1_000_600
            }
        );
        assert_eq!(
            settle(&event(3, 0), &failed(), &p, 1_000_500, 0.0),
            Settlement::Retry {
                next_attempt_ms: 1_001_300
            }
        );
        assert_eq!(
            settle(&event(9, 0), &failed(), &p, 1_000_500, 0.0),
            Settlement::Retry {
                next_attempt_ms: 1_001_500
            }
        );
        assert_eq!(settle(&e, &failed(), &p, 1_010_000, 0.0), Settlement::Dead);
    }

    #[test]
    fn attempt_records() {
        let ok = AttemptResult::Accepted { status: 200 }.record(5);
        assert_eq!(ok.http_status, Some(200));
        assert_eq!(ok.error, None);
        let down = AttemptResult::Failed {
            status: None,
            error: "connect error".into(),
        }
        .record(6);
        assert_eq!(down.http_status, None);
        assert_eq!(down.at_ms, 6);
    }

    #[test]
    fn outbox_keys() {
        assert_eq!(
            outbox_room_of("OUTBOX#demo#000000000007", "EVT#000000000001"),
            Some(("demo".into(), 7))
        );
        assert_eq!(outbox_room_of("OUTBOX#demo#000000000007", "#QUEUE"), None);
        assert_eq!(outbox_room_of("APP#demo", "EVT#000000000001"), None);
        assert_eq!(outbox_room_of("OUTBOX#demo#7", "EVT#000000000001"), None);
        assert_eq!(outbox_room_of("OUTBOX##000000000007", "EVT#1"), None);
        assert_eq!(outbox_room_of("OUTBOX#demo#abc", "EVT#1"), None);
    }

    fn stream_event(records: serde_json::Value) -> dynamodb::Event {
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    fn record(name: &str, pk: &str, sk: &str) -> serde_json::Value {
        serde_json::json!({
            "eventID": "1",
            "eventName": name,
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
                "SizeBytes": 10,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        })
    }

    #[test]
    fn stream_batches_yield_distinct_outbox_rooms() {
        let e = stream_event(serde_json::json!([
            record("INSERT", "OUTBOX#demo#000000000007", "EVT#000000000001"),
            record("INSERT", "OUTBOX#demo#000000000007", "EVT#000000000002"),
            record("MODIFY", "OUTBOX#demo#000000000008", "EVT#000000000001"),
            record("REMOVE", "OUTBOX#demo#000000000009", "EVT#000000000001"),
            record("INSERT", "OUTBOX#demo#000000000007", "#QUEUE"),
            record("INSERT", "APP#demo", "ROOM#000000000001"),
            record("INSERT", "OUTBOX#demo#xyz", "EVT#000000000001"),
            record("INSERT", "OUTBOX#shop#000000000001", "EVT#000000000001"),
        ]));
        assert_eq!(
            stream_rooms(&e),
            vec![("demo".to_string(), 7), ("shop".to_string(), 1)]
        );
        // Numbers where strings are expected: skipped, no panic.
        let odd = stream_event(serde_json::json!([{
            "eventID": "2",
            "eventName": "INSERT",
            "awsRegion": "us-east-1",
            "dynamodb": {"Keys": {"pk": {"N": "1"}}, "SizeBytes": 1}
        }]));
        assert!(stream_rooms(&odd).is_empty());
    }
}
