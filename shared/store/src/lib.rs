//! # zhibo-store
//!
//! zhibo's adapters: the single DynamoDB table (layout in [`zhibo_core::table`]), the AWS SDK
//! clients with local endpoint overrides and secrets ([`aws`]), media takedown in the bucket and
//! the CDN ([`MediaTakedown`], [`cdn`]), and [`Deps`], what every function is built from.
//!
//! One store per aggregate, each a thin wrapper over the one [`Table`] handle: [`AppStore`]
//! (apps, nonces, access tokens), [`RoomStore`] (rooms, quotas, idempotency, listing),
//! [`LifecycleStore`] (lifecycle transitions, timers, pending takedowns), [`OutboxStore`]
//! (webhook endpoint, outbox, delivery records) and [`ReplayStore`]. Every write that must stay
//! consistent with another (a room and the app's counts, a create and its quota day and
//! idempotency key, a status change with the concurrent-live quota and its webhook events)
//! happens in one conditional transaction, built by the store that owns the use case from the
//! shared item builders.
#![warn(missing_docs)]

#[cfg(feature = "table")]
mod apps;
pub mod aws;
#[cfg(feature = "media")]
pub mod cdn;
#[cfg(feature = "table")]
mod chat;
#[cfg(feature = "table")]
mod chat_commerce;
#[cfg(feature = "table")]
mod deps;
#[cfg(feature = "table")]
pub mod item;
#[cfg(feature = "table")]
mod lifecycle;
#[cfg(feature = "media")]
pub mod live_room;
#[cfg(feature = "media")]
pub mod media_objects;
#[cfg(all(feature = "table", feature = "media"))]
mod media_takedown;
#[cfg(feature = "table")]
mod moderation;
#[cfg(feature = "table")]
mod outbox;
#[cfg(feature = "table")]
pub mod presence;
#[cfg(feature = "public-dns")]
pub mod public_dns;
#[cfg(feature = "realtime")]
pub mod realtime;
#[cfg(feature = "table")]
mod replays;
#[cfg(feature = "table")]
mod rooms;
#[cfg(feature = "table")]
mod table;

#[cfg(feature = "table")]
pub use apps::AppStore;
#[cfg(feature = "table")]
pub use chat::{ChatStore, LikesAdded, Refused, RoomCounters, HOLE_AGE_MS, MAX_HISTORY_PAGE};
#[cfg(feature = "table")]
pub use chat_commerce::{takes_audience_input, GiftAdded, GIFT_ORDER_MIN_TTL_S};
#[cfg(feature = "table")]
pub use deps::Deps;
#[cfg(feature = "table")]
pub use lifecycle::{Applied, LifecycleStore, PendingTakedown, LIFECYCLE_ATTRS};
#[cfg(all(feature = "table", feature = "media"))]
pub use media_takedown::MediaTakedown;
#[cfg(feature = "table")]
pub use moderation::Moderation;
#[cfg(feature = "table")]
pub use outbox::{DeliveryPage, OutboxStore, DELIVERY_RECORD_TTL_S, MAX_DELIVERY_PAGE};
#[cfg(feature = "table")]
pub use replays::{RecordedReplay, ReplayPage, ReplayStore};
#[cfg(feature = "table")]
pub use rooms::{
    CreateLimits, CreatedRoom, IdempotencyKey, RoomPage, RoomStore, IDEMPOTENCY_TTL_S,
};
#[cfg(feature = "table")]
pub use table::{SdkErrorText, StoreError, Table};
