//! The transactional outbox of webhook events: a room's events are written in the same
//! transaction as the status change that caused them ([`OutboxStore::outbox_writes`]), into
//! the room's outbox partition, ordered by their room `seq`; the queue item of that partition
//! is put on the due-work index (gsi3) so that the delivery finds it.
//!
//! Also here: the app's webhook endpoint, the queue's delivery lease (one drain per room at a
//! time), the per-event bookkeeping of the delivery (attempts, dead letters) and the delivery
//! records that `GET /v1/webhook/deliveries` lists and a redelivery starts from.

use crate::item::{n, s, Item, ItemReader};
use crate::table::{build_err, is_condition_failure, sdk_err};
use crate::{StoreError, Table};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use std::collections::HashMap;
use zhibo_core::error::Error;
use zhibo_core::room::RoomId;
use zhibo_core::table::{self, keys, PK, SK};
use zhibo_core::webhook::{
    new_webhook_secret, Attempt, DeliveryRecord, DeliveryStatus, OutboxEvent, WebhookEndpoint,
    WebhookEvent,
};

/// The webhook endpoints, the outbox of webhook events with its delivery lease and due time,
/// and the delivery records.
#[derive(Debug, Clone)]
pub struct OutboxStore {
    table: Table,
}

/// The outbox item of `event` of room `room_id`, enqueued at `now_ms`.
fn outbox_event_item(
    app_id: &str,
    room_id: RoomId,
    e: &WebhookEvent,
    now_ms: i64,
) -> Result<Item, Error> {
    let pk = keys::outbox_pk(app_id, room_id);
    let body = serde_json::to_string(e).map_err(|err| Error::CorruptItem {
        key: pk.clone(),
        what: format!("event not serializable: {err}"),
    })?;
    Ok(HashMap::from([
        (PK.into(), s(&pk)),
        (SK.into(), s(keys::outbox_event_sk(e.seq))),
        ("type".into(), s("outbox_event")),
        ("app_id".into(), s(app_id)),
        ("room_id".into(), n(room_id)),
        ("seq".into(), n(e.seq)),
        ("event_id".into(), s(&e.id)),
        ("event_type".into(), s(e.kind.as_str())),
        ("body".into(), s(body)),
        ("created_ms".into(), n(now_ms)),
        ("attempts".into(), n(0)),
        ("next_attempt_ms".into(), n(now_ms)),
    ]))
}

/// The writes that enqueue `events` (all of one room) for delivery: one item per event
/// (refused if that `seq` exists) and the queue item's due time set to `now_ms` with its
/// version bumped. Part of the caller's transaction (a room change, a replay, an enqueue).
pub(crate) fn outbox_writes(
    table: &Table,
    app_id: &str,
    room_id: RoomId,
    events: &[WebhookEvent],
    now_ms: i64,
) -> Result<Vec<TransactWriteItem>, Error> {
    let mut items = Vec::with_capacity(events.len() + 1);
    if events.is_empty() {
        return Ok(items);
    }
    let pk = keys::outbox_pk(app_id, room_id);
    for e in events {
        items.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table.name())
                        .set_item(Some(outbox_event_item(app_id, room_id, e, now_ms)?))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(|e| Error::dynamo("build outbox put", e))?,
                )
                .build(),
        );
    }
    let shard = keys::due_shard(app_id, room_id);
    let queue = Update::builder()
        .table_name(table.name())
        .key(PK, s(&pk))
        .key(SK, s(keys::OUTBOX_QUEUE_SK))
        .update_expression(
            "SET #dpk = :dpk, #dsk = :dsk, app_id = :app, room_id = :room ADD ver :one",
        )
        .expression_attribute_names("#dpk", table::GSI_DUE.hash_key)
        .expression_attribute_names("#dsk", table::GSI_DUE.range_key)
        .expression_attribute_values(":dpk", s(keys::outbox_due_pk(shard)))
        .expression_attribute_values(":dsk", s(keys::due_sk(now_ms, app_id, room_id)))
        .expression_attribute_values(":app", s(app_id))
        .expression_attribute_values(":room", n(room_id))
        .expression_attribute_values(":one", n(1))
        .build()
        .map_err(|e| Error::dynamo("build outbox queue update", e))?;
    items.push(TransactWriteItem::builder().update(queue).build());
    Ok(items)
}

// ---- webhook endpoint, outbox queue and delivery records -----------------------------------

/// How long a delivery record is kept after its last change (30 days).
pub const DELIVERY_RECORD_TTL_S: i64 = 30 * 86_400;
/// Largest page of [`OutboxStore::list_deliveries`].
pub const MAX_DELIVERY_PAGE: u32 = 100;
/// Events per enqueue transaction (DynamoDB allows 100 items; one is the queue item).
const EVENTS_PER_TRANSACTION: usize = 99;
/// How often a redelivery that lost a race is read again and redone.
const REDELIVER_RETRIES: usize = 5;

/// One page of delivery records, newest event first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    /// This page.
    pub records: Vec<DeliveryRecord>,
    /// Pass as `cursor` to read the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

fn outbox_event_from_item(item: &Item) -> Result<OutboxEvent, Error> {
    let r = ItemReader::new(item);
    Ok(OutboxEvent {
        app_id: r.s("app_id")?,
        room_id: r.n("room_id")?,
        seq: r.n("seq")?,
        event_id: r.s("event_id")?,
        event_type: r.s("event_type")?,
        body: r.s("body")?,
        created_ms: r.n("created_ms")?,
        attempts: r.n_or("attempts", 0)?,
        next_attempt_ms: r.n_or("next_attempt_ms", 0)?,
        tracked: r.bool_or_false("tracked")?,
    })
}

fn delivery_from_item(item: &Item) -> Result<DeliveryRecord, Error> {
    let r = ItemReader::new(item);
    let status = r.s("status")?;
    let status = DeliveryStatus::parse(&status).ok_or_else(|| Error::CorruptItem {
        key: r.s("event_id").unwrap_or_default(),
        what: format!("status {status:?} is not retrying, dead or delivered"),
    })?;
    Ok(DeliveryRecord {
        app_id: r.s("app_id")?,
        event_id: r.s("event_id")?,
        event_type: r.s("event_type")?,
        room_id: r.n("room_id")?,
        seq: r.n("seq")?,
        status,
        attempts: r.n_or("attempts", 0)?,
        last_error: r.s_opt("last_error")?,
        last_status: r.n_opt("last_status")?,
        last_attempt_ms: r.n_opt("last_attempt_ms")?,
        next_attempt_ms: r.n_opt("next_attempt_ms")?,
        body: r.s("body")?,
    })
}

fn endpoint_from_item(item: &Item) -> Result<WebhookEndpoint, Error> {
    let r = ItemReader::new(item);
    Ok(WebhookEndpoint {
        url: r.s("url")?,
        secret: r.s("secret")?,
        updated_at: r.n("updated_at")?,
    })
}

impl OutboxStore {
    /// The outbox in `table`.
    pub fn new(table: Table) -> OutboxStore {
        OutboxStore { table }
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The writes that enqueue `events` (all of one room) for delivery: one item per event
    /// (refused if that `seq` exists) and the queue item's due time set to `now_ms` with its
    /// version bumped. Part of the caller's transaction.
    pub fn outbox_writes(
        &self,
        app_id: &str,
        room_id: RoomId,
        events: &[WebhookEvent],
        now_ms: i64,
    ) -> Result<Vec<TransactWriteItem>, Error> {
        outbox_writes(&self.table, app_id, room_id, events, now_ms)
    }

    // ---- webhook endpoint --------------------------------------------------------------

    /// Sets the app's webhook URL. The secret is generated on the first call and kept by
    /// later ones, unless `rotate_secret` asks for a new one.
    pub async fn put_webhook(
        &self,
        app_id: &str,
        url: &str,
        rotate_secret: bool,
        now: i64,
    ) -> Result<WebhookEndpoint, Error> {
        let secret_expr = if rotate_secret {
            "#secret = :secret"
        } else {
            "#secret = if_not_exists(#secret, :secret)"
        };
        let out = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(keys::app_pk(app_id), keys::WEBHOOK_SK)))
            .update_expression(format!(
                "SET #type = :type, app_id = :app, #url = :url, updated_at = :now, {secret_expr}"
            ))
            .expression_attribute_names("#type", "type")
            .expression_attribute_names("#url", "url")
            .expression_attribute_names("#secret", "secret")
            .expression_attribute_values(":type", s("webhook"))
            .expression_attribute_values(":app", s(app_id))
            .expression_attribute_values(":url", s(url))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":secret", s(new_webhook_secret()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_err("UpdateItem webhook"))?;
        let item = out.attributes.unwrap_or_default();
        endpoint_from_item(&item)
    }

    /// The app's webhook endpoint, if one is set.
    pub async fn get_webhook(&self, app_id: &str) -> Result<Option<WebhookEndpoint>, Error> {
        self.table
            .get(
                keys::app_pk(app_id),
                keys::WEBHOOK_SK.to_string(),
                "GetItem webhook",
            )
            .await?
            .map(|item| endpoint_from_item(&item))
            .transpose()
    }

    /// Removes the app's webhook endpoint; false if none was set. Events enqueued later are
    /// dropped at delivery.
    pub async fn delete_webhook(&self, app_id: &str) -> Result<bool, Error> {
        let out = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(keys::app_pk(app_id), keys::WEBHOOK_SK)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err("DeleteItem webhook"))?;
        Ok(out.attributes.is_some())
    }

    // ---- outbox queue ------------------------------------------------------------------

    /// Enqueues `events` (all of room `room_id`) for delivery on their own, for events not
    /// written with a room change (e.g. `replay.ready`). A `seq` that is already queued
    /// refuses the whole batch with [`StoreError::Conflict`].
    pub async fn enqueue_events(
        &self,
        app_id: &str,
        room_id: RoomId,
        events: &[WebhookEvent],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for chunk in events.chunks(EVENTS_PER_TRANSACTION) {
            let items = self.outbox_writes(app_id, room_id, chunk, now_ms)?;
            if items.is_empty() {
                continue;
            }
            if self
                .table
                .transact(items, "TransactWriteItems enqueue events")
                .await?
                .is_err()
            {
                return Err(StoreError::Conflict);
            }
        }
        Ok(())
    }

    /// Takes the delivery lease of a room's outbox for `owner` until `now_ms + lease_ms`, if
    /// nobody holds it (or the holder's lease expired). Returns the queue's version, or `None`
    /// when the lease is held or the room has no outbox.
    pub async fn acquire_outbox_lease(
        &self,
        app_id: &str,
        room_id: RoomId,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<u64>, Error> {
        let res = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::outbox_pk(app_id, room_id),
                keys::OUTBOX_QUEUE_SK,
            )))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until <= :now)",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now_ms.saturating_add(lease_ms)))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                Ok(Some(ItemReader::new(&item).n_or("ver", 0)?))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(sdk_err("UpdateItem acquire outbox lease")(e)),
        }
    }

    /// Gives the lease back. Returns the queue's version after, or `None` when `owner` no
    /// longer held the lease (it expired and another drain took it).
    pub async fn release_outbox_lease(
        &self,
        app_id: &str,
        room_id: RoomId,
        owner: &str,
    ) -> Result<Option<u64>, Error> {
        let res = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::outbox_pk(app_id, room_id),
                keys::OUTBOX_QUEUE_SK,
            )))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                Ok(Some(ItemReader::new(&item).n_or("ver", 0)?))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(sdk_err("UpdateItem release outbox lease")(e)),
        }
    }

    /// The room's oldest waiting event (lowest `seq`), if any.
    pub async fn outbox_head(
        &self,
        app_id: &str,
        room_id: RoomId,
    ) -> Result<Option<OutboxEvent>, Error> {
        let out = self
            .table
            .client()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::outbox_pk(app_id, room_id)))
            .expression_attribute_values(":prefix", s(keys::OUTBOX_EVENT_PREFIX))
            .scan_index_forward(true)
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(sdk_err("Query outbox head"))?;
        out.items
            .unwrap_or_default()
            .first()
            .map(outbox_event_from_item)
            .transpose()
    }

    /// The room's first `limit` (1..=100) waiting events, lowest `seq` first.
    pub async fn outbox_events(
        &self,
        app_id: &str,
        room_id: RoomId,
        limit: i32,
    ) -> Result<Vec<OutboxEvent>, Error> {
        let out = self
            .table
            .client()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::outbox_pk(app_id, room_id)))
            .expression_attribute_values(":prefix", s(keys::OUTBOX_EVENT_PREFIX))
            .scan_index_forward(true)
            .consistent_read(true)
            .limit(limit.clamp(1, 100))
            .send()
            .await
            .map_err(sdk_err("Query outbox events"))?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(outbox_event_from_item)
            .collect()
    }

    fn event_key(event: &OutboxEvent) -> Item {
        Table::key(
            keys::outbox_pk(&event.app_id, event.room_id),
            keys::outbox_event_sk(event.seq),
        )
    }

    /// The update of an event's delivery record after `attempt` (counted when `counted`:
    /// a request was made), now in `status`.
    fn record_update(
        &self,
        event: &OutboxEvent,
        status: DeliveryStatus,
        attempt: &Attempt,
        counted: bool,
        next_attempt_ms: Option<i64>,
    ) -> Result<TransactWriteItem, Error> {
        let mut sets = vec![
            "#type = :type",
            "app_id = :app",
            "event_id = :id",
            "event_type = :etype",
            "room_id = :room",
            "seq = :seq",
            "body = :body",
            "#status = :status",
            "last_attempt_ms = :at",
            "#ttl = :ttl",
        ];
        let mut removes = Vec::new();
        let mut u = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::app_pk(&event.app_id),
                keys::delivery_sk(&event.event_id),
            )))
            .expression_attribute_names("#type", "type")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", table::TTL_ATTR)
            .expression_attribute_values(":type", s("delivery"))
            .expression_attribute_values(":app", s(&event.app_id))
            .expression_attribute_values(":id", s(&event.event_id))
            .expression_attribute_values(":etype", s(&event.event_type))
            .expression_attribute_values(":room", n(event.room_id))
            .expression_attribute_values(":seq", n(event.seq))
            .expression_attribute_values(":body", s(&event.body))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":at", n(attempt.at_ms))
            .expression_attribute_values(
                ":ttl",
                n(attempt.at_ms.div_euclid(1000) + DELIVERY_RECORD_TTL_S),
            )
            .expression_attribute_values(":one", n(u32::from(counted)));
        match attempt.http_status {
            Some(code) => {
                sets.push("last_status = :code");
                u = u.expression_attribute_values(":code", n(code));
            }
            None => removes.push("last_status"),
        }
        if let Some(err) = &attempt.error {
            sets.push("last_error = :err");
            u = u.expression_attribute_values(":err", s(err));
        }
        match next_attempt_ms {
            Some(t) => {
                sets.push("next_attempt_ms = :next");
                u = u.expression_attribute_values(":next", n(t));
            }
            None => removes.push("next_attempt_ms"),
        }
        let mut expr = format!("SET {} ADD attempts :one", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        Ok(TransactWriteItem::builder()
            .update(u.update_expression(expr).build().map_err(build_err)?)
            .build())
    }

    fn event_delete(&self, event: &OutboxEvent) -> Result<TransactWriteItem, Error> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(self.table.name())
                    .set_key(Some(Self::event_key(event)))
                    .condition_expression("event_id = :id")
                    .expression_attribute_values(":id", s(&event.event_id))
                    .build()
                    .map_err(build_err)?,
            )
            .build())
    }

    /// Records a failed attempt at `event`: its attempts and next attempt time in the outbox,
    /// and its delivery record (`retrying`), in one transaction. False if the event left the
    /// outbox meanwhile.
    pub async fn record_attempt_failure(
        &self,
        event: &OutboxEvent,
        attempt: &Attempt,
        next_attempt_ms: i64,
    ) -> Result<bool, Error> {
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Self::event_key(event)))
            .update_expression("SET attempts = :a, next_attempt_ms = :next, tracked = :t")
            .condition_expression("event_id = :id")
            .expression_attribute_values(":a", n(event.attempts.saturating_add(1)))
            .expression_attribute_values(":next", n(next_attempt_ms))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":id", s(&event.event_id))
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.record_update(
                event,
                DeliveryStatus::Retrying,
                attempt,
                true,
                Some(next_attempt_ms),
            )?,
        ];
        Ok(self
            .table
            .transact(items, "TransactWriteItems record attempt failure")
            .await?
            .is_ok())
    }

    /// Dead-letters `event` after its last failed `attempt` (`counted`: a request was made;
    /// false when it could not even be sent): out of the outbox, delivery record `dead` (with
    /// the body, for a redelivery), in one transaction. False if the event left the outbox
    /// meanwhile.
    pub async fn dead_letter_event(
        &self,
        event: &OutboxEvent,
        attempt: &Attempt,
        counted: bool,
    ) -> Result<bool, Error> {
        let items = vec![
            self.event_delete(event)?,
            self.record_update(event, DeliveryStatus::Dead, attempt, counted, None)?,
        ];
        Ok(self
            .table
            .transact(items, "TransactWriteItems dead-letter event")
            .await?
            .is_ok())
    }

    /// Removes a delivered `event` from the outbox; a tracked one (it failed before, or was
    /// redelivered) also gets its delivery record marked `delivered`. False if the event left
    /// the outbox meanwhile.
    pub async fn complete_outbox_event(
        &self,
        event: &OutboxEvent,
        attempt: &Attempt,
    ) -> Result<bool, Error> {
        if event.tracked || event.attempts > 0 {
            let items = vec![
                self.event_delete(event)?,
                self.record_update(event, DeliveryStatus::Delivered, attempt, true, None)?,
            ];
            return Ok(self
                .table
                .transact(items, "TransactWriteItems complete event")
                .await?
                .is_ok());
        }
        self.delete_outbox_event(event).await
    }

    /// Removes `event` from the outbox without recording anything. False if it was gone.
    pub async fn delete_outbox_event(&self, event: &OutboxEvent) -> Result<bool, Error> {
        let res = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(Self::event_key(event)))
            .condition_expression("event_id = :id")
            .expression_attribute_values(":id", s(&event.event_id))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err("DeleteItem outbox event")(e)),
        }
    }

    /// The queue update that puts a room's outbox on the due-work list at `due_ms`, bumping
    /// its version when `bump` (an enqueue: a running drain must look again).
    fn queue_due_update(
        &self,
        app_id: &str,
        room_id: RoomId,
        due_ms: i64,
        bump: bool,
    ) -> Result<Update, Error> {
        let shard = keys::due_shard(app_id, room_id);
        let mut expr = "SET #dpk = :dpk, #dsk = :dsk, app_id = :app, room_id = :room".to_string();
        let mut u = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::outbox_pk(app_id, room_id),
                keys::OUTBOX_QUEUE_SK,
            )))
            .expression_attribute_names("#dpk", table::GSI_DUE.hash_key)
            .expression_attribute_names("#dsk", table::GSI_DUE.range_key)
            .expression_attribute_values(":dpk", s(keys::outbox_due_pk(shard)))
            .expression_attribute_values(":dsk", s(keys::due_sk(due_ms, app_id, room_id)))
            .expression_attribute_values(":app", s(app_id))
            .expression_attribute_values(":room", n(room_id));
        if bump {
            expr.push_str(" ADD ver :one");
            u = u.expression_attribute_values(":one", n(1));
        }
        u.update_expression(expr).build().map_err(build_err)
    }

    /// Puts the room's outbox on the due-work list at `due_ms` (its version unchanged).
    pub async fn set_outbox_due(
        &self,
        app_id: &str,
        room_id: RoomId,
        due_ms: i64,
    ) -> Result<(), Error> {
        let u = self.queue_due_update(app_id, room_id, due_ms, false)?;
        self.table
            .client()
            .update_item()
            .table_name(u.table_name())
            .set_key(Some(u.key().clone()))
            .update_expression(u.update_expression())
            .set_expression_attribute_names(u.expression_attribute_names().cloned())
            .set_expression_attribute_values(u.expression_attribute_values().cloned())
            .send()
            .await
            .map_err(sdk_err("UpdateItem outbox due"))?;
        Ok(())
    }

    /// Takes the room's outbox off the due-work list if its version is still `ver` (no event
    /// was enqueued since it was read). False when the version moved: look at the outbox again.
    pub async fn clear_outbox_due(
        &self,
        app_id: &str,
        room_id: RoomId,
        ver: u64,
    ) -> Result<bool, Error> {
        let res = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::outbox_pk(app_id, room_id),
                keys::OUTBOX_QUEUE_SK,
            )))
            .update_expression("REMOVE #dpk, #dsk")
            .condition_expression("ver = :ver")
            .expression_attribute_names("#dpk", table::GSI_DUE.hash_key)
            .expression_attribute_names("#dsk", table::GSI_DUE.range_key)
            .expression_attribute_values(":ver", n(ver))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err("UpdateItem clear outbox due")(e)),
        }
    }

    /// The queue's version (how many enqueues it saw), if the room has an outbox.
    pub async fn outbox_ver(&self, app_id: &str, room_id: RoomId) -> Result<Option<u64>, Error> {
        self.table
            .get(
                keys::outbox_pk(app_id, room_id),
                keys::OUTBOX_QUEUE_SK.to_string(),
                "GetItem outbox queue",
            )
            .await?
            .map(|item| ItemReader::new(&item).n_or("ver", 0))
            .transpose()
    }

    /// `(app, room)` of the outboxes of one due-work shard with work due at or before
    /// `now_ms`, most overdue first, at most `limit`.
    pub async fn outboxes_due(
        &self,
        shard: u32,
        now_ms: i64,
        limit: i32,
    ) -> Result<Vec<(String, RoomId)>, Error> {
        self.table
            .due_work(keys::outbox_due_pk(shard), now_ms, limit)
            .await
    }

    // ---- delivery records --------------------------------------------------------------

    /// One delivery record of the app.
    pub async fn get_delivery(
        &self,
        app_id: &str,
        event_id: &str,
    ) -> Result<Option<DeliveryRecord>, Error> {
        self.table
            .get(
                keys::app_pk(app_id),
                keys::delivery_sk(event_id),
                "GetItem delivery",
            )
            .await?
            .map(|item| delivery_from_item(&item))
            .transpose()
    }

    /// The app's delivery records, newest event first, optionally only those in `status`;
    /// at most `limit` (≤ [`MAX_DELIVERY_PAGE`]) after `cursor` (a `next_cursor`).
    pub async fn list_deliveries(
        &self,
        app_id: &str,
        status: Option<DeliveryStatus>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<DeliveryPage, Error> {
        let limit = limit.clamp(1, MAX_DELIVERY_PAGE) as usize;
        let pk = keys::app_pk(app_id);
        let mut start = cursor.map(|c| Table::key(pk.clone(), keys::delivery_sk(c)));
        let mut records = Vec::with_capacity(limit);
        let mut more = false;
        loop {
            let mut q = self
                .table
                .client()
                .query()
                .table_name(self.table.name())
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s(keys::DELIVERY_PREFIX))
                .scan_index_forward(false)
                .limit((limit - records.len()) as i32)
                .set_exclusive_start_key(start.take());
            if let Some(st) = status {
                q = q
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(st.as_str()));
            }
            let out = q.send().await.map_err(sdk_err("Query deliveries"))?;
            for item in out.items.unwrap_or_default() {
                records.push(delivery_from_item(&item)?);
            }
            match out.last_evaluated_key {
                Some(k) if records.len() < limit => start = Some(k),
                Some(_) => {
                    more = true;
                    break;
                }
                None => break,
            }
        }
        let next_cursor = if more {
            records.last().map(|r| r.event_id.clone())
        } else {
            None
        };
        Ok(DeliveryPage {
            records,
            next_cursor,
        })
    }

    /// Sends event `event_id` again: back into its room's outbox with its original id and
    /// `seq`, attempts reset and its retry window restarting at `now_ms`, the queue due now,
    /// the record `retrying` — in one transaction. An event still waiting in the outbox is
    /// made due now. [`StoreError::NotFound`] when the app has no such delivery record.
    pub async fn redeliver(
        &self,
        app_id: &str,
        event_id: &str,
        now_ms: i64,
    ) -> Result<DeliveryRecord, StoreError> {
        for _ in 0..REDELIVER_RETRIES {
            let record = self
                .get_delivery(app_id, event_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            let outbox_pk = keys::outbox_pk(app_id, record.room_id);
            let event_sk = keys::outbox_event_sk(record.seq);
            let queued = self
                .table
                .get(outbox_pk.clone(), event_sk.clone(), "GetItem outbox event")
                .await?
                .is_some_and(|item| {
                    item.get("event_id")
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|id| id == event_id)
                });
            let event_write = if queued {
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(self.table.name())
                            .set_key(Some(Table::key(outbox_pk, event_sk)))
                            .update_expression("SET next_attempt_ms = :now, tracked = :t")
                            .condition_expression("event_id = :id")
                            .expression_attribute_values(":now", n(now_ms))
                            .expression_attribute_values(":t", AttributeValue::Bool(true))
                            .expression_attribute_values(":id", s(event_id))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build()
            } else {
                let item = HashMap::from([
                    (PK.into(), s(outbox_pk)),
                    (SK.into(), s(event_sk)),
                    ("type".into(), s("outbox_event")),
                    ("app_id".into(), s(app_id)),
                    ("room_id".into(), n(record.room_id)),
                    ("seq".into(), n(record.seq)),
                    ("event_id".into(), s(event_id)),
                    ("event_type".into(), s(&record.event_type)),
                    ("body".into(), s(&record.body)),
                    ("created_ms".into(), n(now_ms)),
                    ("attempts".into(), n(0)),
                    ("next_attempt_ms".into(), n(now_ms)),
                    ("tracked".into(), AttributeValue::Bool(true)),
                ]);
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(self.table.name())
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_err)?,
                    )
                    .build()
            };
            let record_write = Update::builder()
                .table_name(self.table.name())
                .set_key(Some(Table::key(
                    keys::app_pk(app_id),
                    keys::delivery_sk(event_id),
                )))
                .update_expression("SET #status = :retrying, next_attempt_ms = :now, #ttl = :ttl")
                .condition_expression("#status = :was")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#ttl", table::TTL_ATTR)
                .expression_attribute_values(":retrying", s(DeliveryStatus::Retrying.as_str()))
                .expression_attribute_values(":was", s(record.status.as_str()))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(
                    ":ttl",
                    n(now_ms.div_euclid(1000) + DELIVERY_RECORD_TTL_S),
                )
                .build()
                .map_err(build_err)?;
            let items = vec![
                event_write,
                TransactWriteItem::builder()
                    .update(self.queue_due_update(app_id, record.room_id, now_ms, true)?)
                    .build(),
                TransactWriteItem::builder().update(record_write).build(),
            ];
            if self
                .table
                .transact(items, "TransactWriteItems redeliver")
                .await?
                .is_ok()
            {
                return Ok(DeliveryRecord {
                    status: DeliveryStatus::Retrying,
                    next_attempt_ms: Some(now_ms),
                    ..record
                });
            }
        }
        Err(StoreError::Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::testing::{assert_names, ill_typed, without};
    use zhibo_core::webhook::EventType;

    fn event() -> WebhookEvent {
        WebhookEvent {
            id: "evt_0000018c2d9f4a10abcdef".into(),
            kind: EventType::RoomStarted,
            created_at: 1_700_000_000,
            app_id: "demo".into(),
            room_id: 7,
            seq: 3,
            data: serde_json::json!({"live_status": 101, "previous_status": 102}),
        }
    }

    #[test]
    fn outbox_event_items_round_trip() {
        let e = event();
        let item = outbox_event_item("demo", 7, &e, 1_700_000_000_500).expect("item");
        let read = outbox_event_from_item(&item).expect("read back");
        assert_eq!(
            read,
            OutboxEvent {
                app_id: "demo".into(),
                room_id: 7,
                seq: 3,
                event_id: e.id.clone(),
                event_type: "room.started".into(),
                body: serde_json::to_string(&e).expect("JSON"),
                created_ms: 1_700_000_000_500,
                attempts: 0,
                next_attempt_ms: 1_700_000_000_500,
                tracked: false,
            }
        );
        // The body is the event as POSTed.
        let body: WebhookEvent = serde_json::from_str(&read.body).expect("body");
        assert_eq!(body, e);
        assert_eq!(item.get(SK), Some(&s(keys::outbox_event_sk(3))));
    }

    #[test]
    fn a_malformed_outbox_event_names_the_attribute() {
        let item = outbox_event_item("demo", 7, &event(), 1_000).expect("item");
        for attr in [
            "app_id",
            "room_id",
            "seq",
            "event_id",
            "event_type",
            "body",
            "created_ms",
        ] {
            assert_names(outbox_event_from_item(&without(&item, attr)), attr);
            assert_names(outbox_event_from_item(&ill_typed(&item, attr)), attr);
        }
        for attr in ["attempts", "next_attempt_ms"] {
            assert_names(outbox_event_from_item(&ill_typed(&item, attr)), attr);
        }
        let mut tracked = item.clone();
        tracked.insert("tracked".into(), s("yes"));
        assert_names(outbox_event_from_item(&tracked), "tracked");
    }

    /// The item [`OutboxStore::put_webhook`]'s update stores for `ep`.
    fn endpoint_item(app_id: &str, ep: &WebhookEndpoint) -> Item {
        let mut item = Table::key(keys::app_pk(app_id), keys::WEBHOOK_SK);
        item.insert("type".into(), s("webhook"));
        item.insert("app_id".into(), s(app_id));
        item.insert("url".into(), s(&ep.url));
        item.insert("secret".into(), s(&ep.secret));
        item.insert("updated_at".into(), n(ep.updated_at));
        item
    }

    #[test]
    fn webhook_endpoint_items_round_trip() {
        let ep = WebhookEndpoint {
            url: "https://example.com/hook".into(),
            secret: new_webhook_secret(),
            updated_at: 1_700_000_000,
        };
        let item = endpoint_item("demo", &ep);
        assert_eq!(endpoint_from_item(&item).expect("read back"), ep);
        for attr in ["url", "secret", "updated_at"] {
            assert_names(endpoint_from_item(&without(&item, attr)), attr);
            assert_names(endpoint_from_item(&ill_typed(&item, attr)), attr);
        }
    }

    /// The item the delivery-record updates ([`OutboxStore::record_attempt_failure`],
    /// `dead_letter_event`, `complete_outbox_event`, `redeliver`) leave for `r`.
    fn delivery_item(r: &DeliveryRecord) -> Item {
        let mut item = Table::key(keys::app_pk(&r.app_id), keys::delivery_sk(&r.event_id));
        item.insert("type".into(), s("delivery"));
        item.insert("app_id".into(), s(&r.app_id));
        item.insert("event_id".into(), s(&r.event_id));
        item.insert("event_type".into(), s(&r.event_type));
        item.insert("room_id".into(), n(r.room_id));
        item.insert("seq".into(), n(r.seq));
        item.insert("body".into(), s(&r.body));
        item.insert("status".into(), s(r.status.as_str()));
        item.insert("attempts".into(), n(r.attempts));
        if let Some(e) = &r.last_error {
            item.insert("last_error".into(), s(e));
        }
        if let Some(c) = r.last_status {
            item.insert("last_status".into(), n(c));
        }
        if let Some(t) = r.last_attempt_ms {
            item.insert("last_attempt_ms".into(), n(t));
        }
        if let Some(t) = r.next_attempt_ms {
            item.insert("next_attempt_ms".into(), n(t));
        }
        item.insert(
            table::TTL_ATTR.into(),
            n(1_700_000_000 + DELIVERY_RECORD_TTL_S),
        );
        item
    }

    fn record() -> DeliveryRecord {
        DeliveryRecord {
            app_id: "demo".into(),
            event_id: "evt_1".into(),
            event_type: "room.started".into(),
            room_id: 7,
            seq: 3,
            status: DeliveryStatus::Retrying,
            attempts: 2,
            last_error: Some("timed out".into()),
            last_status: Some(502),
            last_attempt_ms: Some(1_700_000_000_000),
            next_attempt_ms: Some(1_700_000_030_000),
            body: "{}".into(),
        }
    }

    #[test]
    fn delivery_records_round_trip() {
        for status in [
            DeliveryStatus::Retrying,
            DeliveryStatus::Dead,
            DeliveryStatus::Delivered,
        ] {
            let r = DeliveryRecord { status, ..record() };
            assert_eq!(delivery_from_item(&delivery_item(&r)).expect("read"), r);
        }
        // Optional attributes absent read back as None.
        let bare = DeliveryRecord {
            last_error: None,
            last_status: None,
            last_attempt_ms: None,
            next_attempt_ms: None,
            ..record()
        };
        assert_eq!(
            delivery_from_item(&delivery_item(&bare)).expect("read"),
            bare
        );
    }

    #[test]
    fn a_malformed_delivery_record_names_the_attribute() {
        let item = delivery_item(&record());
        for attr in [
            "app_id",
            "event_id",
            "event_type",
            "room_id",
            "seq",
            "status",
            "body",
        ] {
            assert_names(delivery_from_item(&without(&item, attr)), attr);
            assert_names(delivery_from_item(&ill_typed(&item, attr)), attr);
        }
        for attr in [
            "attempts",
            "last_error",
            "last_status",
            "last_attempt_ms",
            "next_attempt_ms",
        ] {
            assert_names(delivery_from_item(&ill_typed(&item, attr)), attr);
        }
        let mut bad = item.clone();
        bad.insert("status".into(), s("lost"));
        assert_names(delivery_from_item(&bad), "status");
    }
}
