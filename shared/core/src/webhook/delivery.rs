//! The webhook delivery's records: an app's endpoint, an event waiting in a room's outbox, and
//! the delivery history of an event (its attempts and where it stands).

use crate::room::RoomId;

/// An app's webhook endpoint (docs/api.md "Webhooks to the customer"). Its `Debug` output hides
/// the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Where events are POSTed.
    pub url: String,
    /// The signing secret (`whsec_` + 64 hex characters). Never logged.
    pub secret: String,
    /// Last change (unix seconds).
    pub updated_at: i64,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// One event waiting in a room's outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The room's app.
    pub app_id: String,
    /// The room.
    pub room_id: RoomId,
    /// The event's room sequence number (its sort key).
    pub seq: u64,
    /// The event id (stable across retries).
    pub event_id: String,
    /// The event type's wire name.
    pub event_type: String,
    /// The exact JSON body to POST.
    pub body: String,
    /// When the event entered the outbox (unix ms); the retry window starts here.
    pub created_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not to be attempted before (unix ms).
    pub next_attempt_ms: i64,
    /// True when a delivery record exists for it (it failed before, or was redelivered).
    pub tracked: bool,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Failed at least once; retried later.
    Retrying,
    /// Failed until its retry window closed; dead-lettered (can be redelivered).
    Dead,
    /// Accepted by the receiver after at least one failure (or after a redelivery).
    Delivered,
}

impl DeliveryStatus {
    /// The wire name: `retrying`, `dead` or `delivered`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Delivered => "delivered",
        }
    }

    /// The status of a wire name.
    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        match name {
            "retrying" => Some(DeliveryStatus::Retrying),
            "dead" => Some(DeliveryStatus::Dead),
            "delivered" => Some(DeliveryStatus::Delivered),
            _ => None,
        }
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one delivery attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When it was made (unix ms).
    pub at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// What went wrong (`None` when it was accepted).
    pub error: Option<String>,
}

/// The delivery history of one event that did not go through at its first attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The app.
    pub app_id: String,
    /// The event id.
    pub event_id: String,
    /// The event type's wire name.
    pub event_type: String,
    /// The room.
    pub room_id: RoomId,
    /// The event's room sequence number.
    pub seq: u64,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made, over all redeliveries.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// The HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<u16>,
    /// When the last attempt was made (unix ms).
    pub last_attempt_ms: Option<i64>,
    /// When the next attempt is due (unix ms), while retrying.
    pub next_attempt_ms: Option<i64>,
    /// The exact body, kept so that a dead event can be redelivered.
    pub body: String,
}

/// A fresh webhook signing secret: `whsec_` + 32 random bytes as hex.
pub fn new_webhook_secret() -> String {
    format!("whsec_{}", crate::ids::random_hex(32))
}
