//! The items of a room that must be appended exactly once (docs/api.md "Audience
//! interaction"): a gift per `order_id`, a `status` item per room event.
//!
//! Each is one conditional transaction, like [`ChatStore::append`], with one more put: a
//! record keyed by what must not repeat (`GIFT#{app}#{order_id}`, or the room event's
//! `STATUS#{event_seq}` in the chat partition), refused if it exists. A retry — sequential or
//! racing — therefore finds the record and answers the item stored the first time; it is never
//! published, counted or announced twice.
//!
//! A gift's transaction also takes the room's next webhook event `seq` (on the live-session
//! item, conditioned on its version, as a replay's `replay.ready` does), puts `gift.received`
//! in the room's outbox, and adds to the room's gift totals on the chat head (the item every
//! append already writes): the item, the totals and the webhook are all there or none is.

use crate::item::{n, s, Item, ItemReader};
use crate::table::build_err;
use crate::{ChatStore, StoreError};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use std::collections::HashMap;
use zhibo_core::audience::commerce::Gift;
use zhibo_core::audience::item::{ItemType, RoomItem};
use zhibo_core::error::Error;
use zhibo_core::room::{Room, RoomId};
use zhibo_core::table::{keys, PK, SK, TTL_ATTR};
use zhibo_core::webhook::{EventType, WebhookEvent};
use zhibo_core::LiveStatus;

/// How often a gift or status append that lost a race is redone.
const ONCE_RETRIES: usize = 20;
/// A gift's order record is kept at least this long (a retry within it is recognized).
pub const GIFT_ORDER_MIN_TTL_S: i64 = 30 * 86_400;

/// What [`ChatStore::add_gift`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum GiftAdded {
    /// Stored, counted and `gift.received` enqueued, now: publish the item.
    Added {
        /// The `gift` item.
        item: RoomItem,
        /// The `gift.received` event in the outbox.
        event: WebhookEvent,
    },
    /// This `order_id` was accepted before, for the same gift: the item stored then.
    Duplicate(RoomItem),
    /// This `order_id` was accepted before for another gift or room (why).
    OrderReused(String),
    /// The room does not exist in the app.
    RoomMissing,
    /// The room takes no gifts in this status.
    NotLive(LiveStatus),
}

/// Whether a room takes audience input (gifts, messages, likes) in `status`.
pub fn takes_audience_input(status: LiveStatus) -> bool {
    matches!(
        status,
        LiveStatus::Live | LiveStatus::Paused | LiveStatus::Abnormal
    )
}

/// `offset_ms` of an item accepted at `now_ms` in `room` (0 before its live started).
fn offset_ms(room: &Room, now_ms: i64) -> i64 {
    room.lifecycle.offset_ms(now_ms)
}

fn json(item: &impl serde::Serialize, key: &str) -> Result<String, Error> {
    serde_json::to_string(item).map_err(|e| Error::CorruptItem {
        key: key.to_string(),
        what: format!("not serializable: {e}"),
    })
}

impl ChatStore {
    /// The chat head's `seq` (0 before the first item).
    async fn head_seq(&self, pk: &str) -> Result<u64, Error> {
        match self
            .table
            .get(pk.to_string(), keys::CHAT_HEAD_SK, "GetItem chat head")
            .await?
        {
            Some(item) => ItemReader::new(&item).n("seq"),
            None => Ok(0),
        }
    }

    /// The writes that append `item` after `last` (the head as read), with `adds` added to
    /// the head's counters in the same write.
    fn append_writes(
        &self,
        pk: &str,
        last: u64,
        item: &RoomItem,
        expires_at: i64,
        adds: &[(&str, u64)],
    ) -> Result<Vec<TransactWriteItem>, Error> {
        let mut expr = "SET seq = :next".to_string();
        if !adds.is_empty() {
            let parts: Vec<String> = (0..adds.len()).map(|i| format!("#a{i} :a{i}")).collect();
            expr.push_str(" ADD ");
            expr.push_str(&parts.join(", "));
        }
        let mut head = Update::builder()
            .table_name(self.table.name())
            .key(PK, s(pk))
            .key(SK, s(keys::CHAT_HEAD_SK))
            .update_expression(expr)
            .expression_attribute_values(":next", n(last + 1));
        for (i, (name, value)) in adds.iter().enumerate() {
            head = head
                .expression_attribute_names(format!("#a{i}"), *name)
                .expression_attribute_values(format!(":a{i}"), n(*value));
        }
        head = if last == 0 {
            head.condition_expression("attribute_not_exists(seq)")
        } else {
            head.condition_expression("seq = :last")
                .expression_attribute_values(":last", n(last))
        };
        let put = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(HashMap::from([
                (PK.into(), s(pk)),
                (SK.into(), s(keys::chat_item_sk(item.seq))),
                ("type".into(), s("chat_item")),
                ("seq".into(), n(item.seq)),
                ("item".into(), s(json(item, &keys::chat_item_sk(item.seq))?)),
                (TTL_ATTR.into(), n(expires_at)),
            ])))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        Ok(vec![
            TransactWriteItem::builder()
                .update(head.build().map_err(build_err)?)
                .build(),
            TransactWriteItem::builder().put(put).build(),
        ])
    }

    /// The gift of order `gift.order_id`, if the app accepted it before: its room, the gift as
    /// first sent and the item stored then.
    async fn gift_order(
        &self,
        app_id: &str,
        order_id: &str,
    ) -> Result<Option<(RoomId, Gift, RoomItem)>, Error> {
        let Some(item) = self
            .table
            .get(
                keys::gift_order_pk(app_id, order_id),
                keys::GIFT_ORDER_SK,
                "GetItem gift order",
            )
            .await?
        else {
            return Ok(None);
        };
        let r = ItemReader::new(&item);
        Ok(Some((r.n("room_id")?, r.json("gift")?, r.json("item")?)))
    }

    /// Adds `gift` to room `room_id` of `app_id` at `now_ms`, once per `order_id` in the app:
    /// the `gift` item (kept until `expires_at`), the room's gift totals and the
    /// `gift.received` webhook, in one transaction with the order record (kept until
    /// `order_expires_at`). See [`GiftAdded`].
    pub async fn add_gift(
        &self,
        app_id: &str,
        room_id: RoomId,
        gift: &Gift,
        expires_at: i64,
        order_expires_at: i64,
        now_ms: i64,
    ) -> Result<GiftAdded, StoreError> {
        let pk = keys::chat_pk(app_id, room_id);
        for _ in 0..ONCE_RETRIES {
            if let Some((first_room, first, item)) = self.gift_order(app_id, &gift.order_id).await?
            {
                return Ok(match gift.mismatch(room_id, &first, first_room) {
                    Some(why) => GiftAdded::OrderReused(why),
                    None => GiftAdded::Duplicate(item),
                });
            }
            let Some(room) = crate::rooms::read_room(&self.table, app_id, room_id).await? else {
                return Ok(GiftAdded::RoomMissing);
            };
            if !takes_audience_input(room.live_status) {
                return Ok(GiftAdded::NotLive(room.live_status));
            }
            let last = self.head_seq(&pk).await?;
            let seq = last + 1;
            let item = RoomItem {
                id: format!("g{seq}_{}", zhibo_core::ids::random_hex(5)),
                seq,
                kind: ItemType::Gift,
                at_ms: now_ms,
                offset_ms: offset_ms(&room, now_ms),
                user: Some(gift.user.clone()),
                data: gift.item_data(),
                deleted: false,
            };
            let event_seq = room.lifecycle.event_seq + 1;
            let event = WebhookEvent {
                id: WebhookEvent::new_id(now_ms),
                kind: EventType::GiftReceived,
                created_at: now_ms.div_euclid(1000),
                app_id: app_id.to_string(),
                room_id,
                seq: event_seq,
                data: gift.event_data(room_id, &item.id, seq, now_ms),
            };
            let mut writes = self.append_writes(
                &pk,
                last,
                &item,
                expires_at,
                &[
                    ("gifts", gift.count),
                    ("gifts_value_cents", gift.total_cents()),
                ],
            )?;
            let order_pk = keys::gift_order_pk(app_id, &gift.order_id);
            let order: Item = HashMap::from([
                (PK.into(), s(&order_pk)),
                (SK.into(), s(keys::GIFT_ORDER_SK)),
                ("type".into(), s("gift_order")),
                ("room_id".into(), n(room_id)),
                ("gift".into(), s(json(gift, &order_pk)?)),
                ("item".into(), s(json(&item, &order_pk)?)),
                ("event_id".into(), s(&event.id)),
                (TTL_ATTR.into(), n(order_expires_at)),
            ]);
            writes.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(self.table.name())
                            .set_item(Some(order))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
            writes.push(
                TransactWriteItem::builder()
                    .update(crate::lifecycle::event_seq_update(
                        &self.table,
                        &room,
                        event_seq,
                    )?)
                    .build(),
            );
            writes.extend(crate::outbox::outbox_writes(
                &self.table,
                app_id,
                room_id,
                std::slice::from_ref(&event),
                now_ms,
            )?);
            match self
                .table
                .transact(writes, "TransactWriteItems gift")
                .await?
            {
                Ok(()) => return Ok(GiftAdded::Added { item, event }),
                // The order was taken meanwhile (the next round reads it and answers the
                // first gift), or another writer took this seq or changed the room: again.
                Err(_) => continue,
            }
        }
        Err(StoreError::Conflict)
    }

    /// Appends the `status` item of room event `event` (a live_status change, its `data`
    /// from [`zhibo_core::audience::commerce::status_data`]) once: `None` when that event was
    /// mirrored before. Kept until `expires_at`.
    pub async fn append_status(
        &self,
        event: &WebhookEvent,
        data: serde_json::Value,
        expires_at: i64,
    ) -> Result<Option<RoomItem>, StoreError> {
        let (app_id, room_id) = (event.app_id.as_str(), event.room_id);
        let pk = keys::chat_pk(app_id, room_id);
        let mark_sk = keys::chat_status_sk(event.seq);
        let at_ms = event.created_at.saturating_mul(1000);
        for _ in 0..ONCE_RETRIES {
            if self
                .table
                .get(pk.clone(), mark_sk.clone(), "GetItem status mark")
                .await?
                .is_some()
            {
                return Ok(None);
            }
            let offset = match crate::rooms::read_room(&self.table, app_id, room_id).await? {
                Some(room) => offset_ms(&room, at_ms),
                None => 0,
            };
            let last = self.head_seq(&pk).await?;
            let seq = last + 1;
            let item = RoomItem {
                id: format!("s{seq}_{}", zhibo_core::ids::random_hex(5)),
                seq,
                kind: ItemType::Status,
                at_ms,
                offset_ms: offset,
                user: None,
                data: data.clone(),
                deleted: false,
            };
            let mut writes = self.append_writes(&pk, last, &item, expires_at, &[])?;
            let mark_index = writes.len();
            writes.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(self.table.name())
                            .set_item(Some(HashMap::from([
                                (PK.into(), s(&pk)),
                                (SK.into(), s(&mark_sk)),
                                ("type".into(), s("status_mark")),
                                ("event_id".into(), s(&event.id)),
                                ("item_seq".into(), n(seq)),
                                (TTL_ATTR.into(), n(expires_at)),
                            ])))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
            match self
                .table
                .transact(writes, "TransactWriteItems status item")
                .await?
            {
                Ok(()) => return Ok(Some(item)),
                Err(codes)
                    if codes
                        .get(mark_index)
                        .is_some_and(|c| c == "ConditionalCheckFailed") =>
                {
                    return Ok(None)
                }
                Err(_) => continue,
            }
        }
        Err(StoreError::Conflict)
    }
}
