//! `status` items (docs/api.md "Audience interaction"): every change of a room's live_status
//! is also an item on the room's realtime channel and in its history.
//!
//! Every live_status change is a `room.*` event written to the room's outbox in the same
//! transaction as the change, in the room's event order; the delivery reads that outbox under
//! the room's lease. So the delivery is the one place that sees every change, once, in order,
//! whatever function made it (rooms, hooks, sweeper): before a drain sends anything it appends
//! the `status` item of each waiting `room.*` event (once per event: a mark keyed by the
//! event's `seq`, in the item's transaction), then publishes it. A customer's failing webhook
//! endpoint does not hold the items back (they are appended for every waiting event, not only
//! the head). A failed publish loses nothing: the item is in the history, where clients fill
//! the gap in `seq` from.

use zhibo_core::audience::channel::room_channel;
use zhibo_core::audience::commerce::status_data;
use zhibo_core::webhook::{OutboxEvent, WebhookEvent};
use zhibo_core::Error;
use zhibo_store::realtime::RealtimePublisher;
use zhibo_store::{ChatStore, StoreError};

/// Events a drain looks at for `status` items before sending (a room rarely has more than a
/// few waiting; more are mirrored as they come to the head).
pub const STATUS_LOOKAHEAD: i32 = 25;

/// Appends and publishes the `status` items of room events.
#[derive(Debug, Clone)]
pub struct StatusItems {
    chat: ChatStore,
    realtime: Option<RealtimePublisher>,
    ttl_s: i64,
}

impl StatusItems {
    /// Items appended to `chat`, kept `replay_ttl_days` (with the replays), published with
    /// `realtime` when audience interaction is configured.
    pub fn new(
        chat: ChatStore,
        realtime: Option<RealtimePublisher>,
        replay_ttl_days: i64,
    ) -> StatusItems {
        StatusItems {
            chat,
            realtime,
            ttl_s: replay_ttl_days.saturating_mul(86_400),
        }
    }

    /// From a function's dependencies.
    pub fn from_deps(deps: &zhibo_store::Deps) -> StatusItems {
        StatusItems::new(
            deps.chat.clone(),
            deps.realtime.clone(),
            deps.config.replay_ttl_days,
        )
    }

    /// Appends (once) and publishes the `status` item of `event` if it is a live_status
    /// change; nothing for other events or one mirrored before.
    pub async fn mirror(&self, event: &OutboxEvent) -> Result<(), Error> {
        if !event.event_type.starts_with("room.") {
            return Ok(());
        }
        let Ok(ev) = serde_json::from_str::<WebhookEvent>(&event.body) else {
            tracing::warn!(event_id = %event.event_id, "outbox event body does not parse: no status item");
            return Ok(());
        };
        let Some(data) = status_data(&ev) else {
            return Ok(());
        };
        let expires_at = ev.created_at.saturating_add(self.ttl_s);
        let item = match self.chat.append_status(&ev, data, expires_at).await {
            Ok(Some(item)) => item,
            Ok(None) => return Ok(()),
            Err(StoreError::Internal(e)) => return Err(e),
            // Lost every race for a seq (a very busy room): the next drain tries again.
            Err(e) => return Err(Error::dynamo("TransactWriteItems status item", e)),
        };
        let Some(publisher) = &self.realtime else {
            return Ok(());
        };
        let body = match serde_json::to_string(&item) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "status item not serializable");
                return Ok(());
            }
        };
        if let Err(e) = publisher
            .publish(&room_channel(&ev.app_id, ev.room_id), &[body])
            .await
        {
            tracing::warn!(app_id = %ev.app_id, room_id = ev.room_id, seq = item.seq, error = %e, "realtime publish of a status item failed; it is in the history");
        }
        Ok(())
    }
}
