//! Webhooks to the customer (docs/api.md "Webhooks to the customer"): the event body, its
//! `Zhibo-Signature`, the retry schedule, and [`verify`] — the helper a receiver written in Rust
//! uses to check a delivery (the README has the same check in JavaScript).

pub mod address;
mod delivery;

pub use delivery::{
    new_webhook_secret, Attempt, DeliveryRecord, DeliveryStatus, OutboxEvent, WebhookEndpoint,
};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backoff::{Backoff, Jitter};

use crate::room::RoomId;
use crate::signing::{BodySignature, SignatureError};

/// Header carrying `t={unix},v1={hex HMAC-SHA256(secret, t + "." + raw_body)}`.
pub const SIGNATURE_HEADER: &str = "Zhibo-Signature";
/// Header repeating the event id, so a receiver can de-duplicate before parsing.
pub const EVENT_ID_HEADER: &str = "Zhibo-Event-Id";
/// How long one delivery attempt may take (docs/api.md "Webhooks to the customer": 5 s).
pub const ATTEMPT_TIMEOUT_MS: u64 = 5_000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// 102/106 → 101: a publish went live (again).
    #[serde(rename = "room.started")]
    RoomStarted,
    /// → 105 by the `pause` action.
    #[serde(rename = "room.paused")]
    RoomPaused,
    /// 105 → 101/106 by the `resume` action.
    #[serde(rename = "room.resumed")]
    RoomResumed,
    /// 101 → 106: the publisher dropped without `end` (or its worker went silent).
    #[serde(rename = "room.abnormal")]
    RoomAbnormal,
    /// → 103: `end` action, 15 min abnormal, or the longest live reached.
    #[serde(rename = "room.ended")]
    RoomEnded,
    /// → 104 by the `ban` action.
    #[serde(rename = "room.banned")]
    RoomBanned,
    /// 102 → 107: `end_time` passed before the live started.
    #[serde(rename = "room.expired")]
    RoomExpired,
    /// A replay was indexed.
    #[serde(rename = "replay.ready")]
    ReplayReady,
    /// A gift was accepted in a room (`POST /v1/rooms/{room_id}/gifts`), once per `order_id`.
    #[serde(rename = "gift.received")]
    GiftReceived,
}

impl EventType {
    /// The wire name, e.g. `room.started`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RoomStarted => "room.started",
            EventType::RoomPaused => "room.paused",
            EventType::RoomResumed => "room.resumed",
            EventType::RoomAbnormal => "room.abnormal",
            EventType::RoomEnded => "room.ended",
            EventType::RoomBanned => "room.banned",
            EventType::RoomExpired => "room.expired",
            EventType::ReplayReady => "replay.ready",
            EventType::GiftReceived => "gift.received",
        }
    }

    /// The type for a wire name.
    pub fn parse(name: &str) -> Option<EventType> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One webhook event: the exact JSON body POSTed to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// `evt_` + a time-ordered id; stable across retries and redeliveries.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened (unix seconds).
    pub created_at: i64,
    /// The room's app.
    pub app_id: String,
    /// The room.
    pub room_id: RoomId,
    /// 1, 2, 3, … per room: orders a room's events.
    pub seq: u64,
    /// Event details (`live_status`, `previous_status`, `reason`, …).
    pub data: serde_json::Value,
}

impl WebhookEvent {
    /// A fresh event id for an event created at `now_ms`.
    pub fn new_id(now_ms: i64) -> String {
        format!("evt_{}", crate::ids::time_ordered_id(now_ms))
    }
}

/// Why a delivery was not accepted by [`verify`].
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Missing, malformed, stale or wrong signature.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The signature is right but the body is not an event.
    #[error("body is not a zhibo webhook event: {0}")]
    Body(#[from] serde_json::Error),
}

/// Checks a delivery as a receiver must: the `Zhibo-Signature` header against the raw body
/// with the endpoint's secret, `t` within 300 s of `now` (unix seconds), every `v1` compared in
/// constant time; then parses the event.
pub fn verify(
    secret: &str,
    signature_header: Option<&str>,
    raw_body: &[u8],
    now: i64,
) -> Result<WebhookEvent, VerifyError> {
    BodySignature::verify(secret.as_bytes(), signature_header, raw_body, now)?;
    Ok(serde_json::from_slice(raw_body)?)
}

/// The `Zhibo-Signature` header for a delivery attempt at `t`.
pub fn signature_header(secret: &str, t: i64, raw_body: &[u8]) -> String {
    BodySignature::header(secret.as_bytes(), t, raw_body)
}

/// When failed deliveries are retried: exponential backoff from `base_ms`, doubling up to
/// `cap_ms`, for `window_s` after the event was created; then the event is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub base_ms: u64,
    /// Longest delay between two attempts.
    pub cap_ms: u64,
    /// How long after its creation an event is retried (docs/api.md "Webhooks to the customer":
    /// at least 24 h).
    pub window_s: i64,
}

impl Default for RetryPolicy {
    /// 5 s, 10 s, 20 s, … up to 1 h between attempts, for 24 h: about 35 attempts.
    fn default() -> Self {
        RetryPolicy {
            base_ms: 5_000,
            cap_ms: 3_600_000,
            window_s: 86_400,
        }
    }
}

impl RetryPolicy {
    /// The delay before the next attempt after `failures` failed attempts (≥ 1), with
    /// `jitter` in 0.0..1.0 spreading it by up to +20 % so receivers are not hit in waves.
    pub fn delay_ms(&self, failures: u32, jitter: f64) -> u64 {
        let d = self.backoff().delay(failures, jitter);
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    /// The schedule as a [`Backoff`]: doubling from `base_ms` up to `cap_ms`, +0..20 % jitter.
    pub fn backoff(&self) -> Backoff {
        Backoff::doubling(
            Duration::from_millis(self.base_ms),
            Duration::from_millis(self.cap_ms),
        )
        .with_jitter(Jitter::Up { fraction: 0.2 })
    }

    /// True when an event created at `created_ms` is no longer retried at `now_ms`.
    pub fn exhausted(&self, created_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(created_ms) >= self.window_s.saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> WebhookEvent {
        WebhookEvent {
            id: "evt_1".into(),
            kind: EventType::RoomStarted,
            created_at: 1_700_000_000,
            app_id: "demo".into(),
            room_id: 7,
            seq: 1,
            data: serde_json::json!({"live_status": 101, "previous_status": 102}),
        }
    }

    #[test]
    fn wire_names() {
        let v = serde_json::to_value(event()).unwrap();
        assert_eq!(v["type"], "room.started");
        for t in [
            EventType::RoomStarted,
            EventType::RoomPaused,
            EventType::RoomResumed,
            EventType::RoomAbnormal,
            EventType::RoomEnded,
            EventType::RoomBanned,
            EventType::RoomExpired,
            EventType::ReplayReady,
            EventType::GiftReceived,
        ] {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(EventType::parse("room.nope"), None);
    }

    #[test]
    fn verify_accepts_the_signed_body_and_refuses_tampering() {
        let body = serde_json::to_vec(&event()).unwrap();
        let h = signature_header("whsec", 1_700_000_000, &body);
        assert_eq!(
            verify("whsec", Some(&h), &body, 1_700_000_100).unwrap(),
            event()
        );
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        assert!(verify("whsec", Some(&h), &tampered, 1_700_000_000).is_err());
        assert!(verify("other", Some(&h), &body, 1_700_000_000).is_err());
        assert!(verify("whsec", Some(&h), &body, 1_700_000_301).is_err());
        assert!(verify("whsec", None, &body, 1_700_000_000).is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_after_the_window() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms(1, 0.0), 5_000);
        assert_eq!(p.delay_ms(2, 0.0), 10_000);
        assert_eq!(p.delay_ms(3, 0.0), 20_000);
        assert_eq!(p.delay_ms(30, 0.0), 3_600_000);
        assert_eq!(p.delay_ms(u32::MAX, 0.0), 3_600_000);
        assert_eq!(p.delay_ms(1, 1.0), 6_000);
        // Retried for at least 24 h: the attempts fit the window.
        let (mut t, mut n) = (0u64, 0u32);
        while !p.exhausted(0, t as i64) {
            n += 1;
            t += p.delay_ms(n, 0.0);
        }
        assert!(n >= 30, "{n} attempts");
        assert!(!p.exhausted(0, 86_399_999));
        assert!(p.exhausted(0, 86_400_000));
    }
}
