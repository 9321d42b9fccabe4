//! # zhibo-store
//!
//! zhibo's adapters: the single DynamoDB table (layout in [`zhibo_core::table`]), the AWS SDK
//! clients with local endpoint overrides and secrets ([`aws`]), media takedown in the bucket and
//! the CDN ([`MediaTakedown`], [`cdn`]), and [`Deps`], what every function is built from.
//!
//! [`DynamoStore`] is the table adapter; every write that must stay consistent with another (a
//! room and the app's counts, a create and its quota day and idempotency key, a status change
//! and the concurrent-live quota) happens in one conditional transaction.
#![warn(missing_docs)]

pub mod aws;
#[cfg(feature = "table")]
pub mod cdn;
#[cfg(feature = "table")]
mod deps;
#[cfg(feature = "table")]
mod dynamo;
#[cfg(feature = "table")]
pub mod item;
#[cfg(feature = "table")]
mod lifecycle;
#[cfg(feature = "table")]
mod media_takedown;
#[cfg(feature = "table")]
mod outbox;
#[cfg(feature = "table")]
mod pending_takedown;
#[cfg(feature = "table")]
mod replays;

#[cfg(feature = "table")]
pub use deps::Deps;
#[cfg(feature = "table")]
pub use dynamo::{
    CreateLimits, CreatedRoom, DynamoStore, IdempotencyKey, RoomPage, StoreError, IDEMPOTENCY_TTL_S,
};
#[cfg(feature = "table")]
pub use lifecycle::{Applied, LIFECYCLE_ATTRS};
#[cfg(feature = "table")]
pub use media_takedown::MediaTakedown;
#[cfg(feature = "table")]
pub use outbox::{DeliveryPage, DELIVERY_RECORD_TTL_S, MAX_DELIVERY_PAGE};
#[cfg(feature = "table")]
pub use pending_takedown::PendingTakedown;
#[cfg(feature = "table")]
pub use replays::{RecordedReplay, ReplayPage};
