//! Persistence in the single DynamoDB table (see [`crate::schema`]).
//!
//! [`DynamoStore`] is the adapter; every write that must stay consistent with another (a room
//! and the app's counts, a create and its quota day and idempotency key, a status change and
//! the concurrent-live quota) happens in one conditional transaction.

mod dynamo;
pub mod item;
mod lifecycle;
mod outbox;
mod replays;
mod takedown;

pub use dynamo::{
    CreateLimits, CreatedRoom, DynamoStore, IdempotencyKey, RoomPage, StoreError, IDEMPOTENCY_TTL_S,
};
pub use lifecycle::{events_of, Applied, LIFECYCLE_ATTRS};
pub use outbox::{
    new_webhook_secret, Attempt, DeliveryPage, DeliveryRecord, DeliveryStatus, OutboxEvent,
    WebhookEndpoint, DELIVERY_RECORD_TTL_S, MAX_DELIVERY_PAGE,
};
pub use replays::{RecordedReplay, ReplayPage};
pub use takedown::PendingTakedown;
