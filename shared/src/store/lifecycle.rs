//! Applying the lifecycle state machine ([`crate::lifecycle`]) to stored rooms: read the room,
//! run the pure transition, write the new status, the app's counts and the webhook events in
//! one transaction conditioned on the version read; on a lost race, read again and redo.

use super::dynamo::{build_err, sdk_err};
use super::item::{n, s, Item};
use super::{DynamoStore, StoreError};
use crate::error::Error;
use crate::lifecycle::{self, Input, Outcome, Timers};
use crate::live_status::LiveStatus;
use crate::room::{Room, RoomId};
use crate::schema::{self, keys, PK, SK};
use crate::webhook::WebhookEvent;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

/// How often a transition that lost a race is redone.
const APPLY_RETRIES: usize = 8;

/// A transition that was applied (or that changed nothing).
#[derive(Debug, Clone)]
pub struct Applied {
    /// The room as read before the transition.
    pub before: Room,
    /// The transition's result; `outcome.room` is what is stored now.
    pub outcome: Outcome,
    /// The webhook events written with it.
    pub events: Vec<WebhookEvent>,
}

/// The gsi3 keys of a room's running timer, if one runs.
pub(super) fn timer_keys(room: &Room, timers: &Timers) -> Option<(String, String)> {
    lifecycle::next_deadline(room, timers).map(|deadline| {
        (
            keys::timer_pk(keys::due_shard(&room.app_id, room.room_id)),
            keys::due_sk(deadline.saturating_mul(1000), &room.app_id, room.room_id),
        )
    })
}

/// The lifecycle attributes of a room item.
pub(super) fn lifecycle_attrs(room: &Room) -> Vec<(&'static str, Option<AttributeValue>)> {
    let l = &room.lifecycle;
    vec![
        ("session_id", l.session_id.as_deref().map(s)),
        ("session_seq", Some(n(l.session_seq))),
        ("session_open", Some(AttributeValue::Bool(l.session_open))),
        ("worker_id", l.worker_id.as_deref().map(s)),
        ("last_seen", Some(n(l.last_seen))),
        ("live_started_at", l.live_started_at.map(n)),
        ("status_since", Some(n(l.status_since))),
        ("event_seq", Some(n(l.event_seq))),
    ]
}

/// Reads the lifecycle attributes back (defaults for rooms written before they existed).
pub(super) fn lifecycle_from_item(
    r: &super::item::ItemReader<'_>,
    updated_at: i64,
) -> Result<lifecycle::Lifecycle, Error> {
    Ok(lifecycle::Lifecycle {
        session_id: r.s_opt("session_id")?,
        session_seq: r.n_or("session_seq", 0)?,
        session_open: r.bool_or_false("session_open")?,
        worker_id: r.s_opt("worker_id")?,
        last_seen: r.n_or("last_seen", 0)?,
        live_started_at: r.n_opt("live_started_at")?,
        status_since: r.n_or("status_since", updated_at)?,
        event_seq: r.n_or("event_seq", 0)?,
    })
}

/// The webhook event of each status change in `outcome`.
pub fn events_of(outcome: &Outcome, now_ms: i64) -> Vec<WebhookEvent> {
    let room = &outcome.room;
    outcome
        .changes
        .iter()
        .map(|c| WebhookEvent {
            id: WebhookEvent::new_id(now_ms),
            kind: c.event,
            created_at: now_ms.div_euclid(1000),
            app_id: room.app_id.clone(),
            room_id: room.room_id,
            seq: c.seq,
            data: serde_json::json!({
                "live_status": c.to.code(),
                "previous_status": c.from.code(),
                "reason": c.cause.as_str(),
                "session_id": room.lifecycle.session_id,
            }),
        })
        .collect()
}

impl DynamoStore {
    /// Applies `input` to room `room_id` of `app_id` at `now_ms`: reads it, runs
    /// [`lifecycle::transition`], and, if anything changed, writes the room, the app's status
    /// counts and one outbox event per status change in one transaction conditioned on the
    /// version read (redone from a fresh read when another write won). Entering 101 is refused
    /// with [`StoreError::ConcurrentLives`] when the app already has `max_concurrent_lives`.
    pub async fn apply_lifecycle(
        &self,
        app_id: &str,
        room_id: RoomId,
        input: Input<'_>,
        timers: &Timers,
        max_concurrent_lives: u32,
        now_ms: i64,
    ) -> Result<Applied, StoreError> {
        for _ in 0..APPLY_RETRIES {
            let before = self
                .get_room(app_id, room_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            let outcome = lifecycle::transition(&before, input, timers, now_ms.div_euclid(1000));
            if !outcome.changed {
                return Ok(Applied {
                    before,
                    outcome,
                    events: Vec::new(),
                });
            }
            let events = events_of(&outcome, now_ms);
            match self
                .write_transition(
                    &before,
                    &outcome,
                    &events,
                    timers,
                    max_concurrent_lives,
                    now_ms,
                )
                .await
            {
                Ok(room) => {
                    let mut outcome = outcome;
                    outcome.room = room;
                    return Ok(Applied {
                        before,
                        outcome,
                        events,
                    });
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Writes a transition's room (lifecycle attributes, status, timer) conditioned on
    /// `before.version`, with the counts change and the outbox events. Returns the stored room.
    pub(super) async fn write_transition(
        &self,
        before: &Room,
        outcome: &Outcome,
        events: &[WebhookEvent],
        timers: &Timers,
        max_concurrent_lives: u32,
        now_ms: i64,
    ) -> Result<Room, StoreError> {
        let mut room = outcome.room.clone();
        room.version = before.version + 1;
        let mut sets = vec![
            "live_status = :st".to_string(),
            "#g2pk = :g2pk".to_string(),
            "updated_at = :upd".to_string(),
            "version = :nv".to_string(),
        ];
        let mut removes = Vec::new();
        let mut u = Update::builder()
            .table_name(self.table())
            .key(PK, s(keys::app_pk(&room.app_id)))
            .key(SK, s(keys::room_sk(room.room_id)))
            .condition_expression("version = :v")
            .expression_attribute_names("#g2pk", schema::GSI_ROOMS_BY_STATUS.hash_key)
            .expression_attribute_values(":st", n(room.live_status.code()))
            .expression_attribute_values(
                ":g2pk",
                s(keys::rooms_by_status_pk(&room.app_id, room.live_status)),
            )
            .expression_attribute_values(":upd", n(room.updated_at))
            .expression_attribute_values(":nv", n(room.version))
            .expression_attribute_values(":v", n(before.version));
        for (i, (name, value)) in lifecycle_attrs(&room).into_iter().enumerate() {
            u = u.expression_attribute_names(format!("#l{i}"), name);
            match value {
                Some(v) => {
                    sets.push(format!("#l{i} = :l{i}"));
                    u = u.expression_attribute_values(format!(":l{i}"), v);
                }
                None => removes.push(format!("#l{i}")),
            }
        }
        u = u
            .expression_attribute_names("#g3pk", schema::GSI_DUE.hash_key)
            .expression_attribute_names("#g3sk", schema::GSI_DUE.range_key);
        match timer_keys(&room, timers) {
            Some((pk, sk)) => {
                sets.push("#g3pk = :g3pk, #g3sk = :g3sk".to_string());
                u = u
                    .expression_attribute_values(":g3pk", s(pk))
                    .expression_attribute_values(":g3sk", s(sk));
            }
            None => removes.push("#g3pk, #g3sk".to_string()),
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let update = u.update_expression(expr).build().map_err(build_err)?;
        let status_changed = before.live_status != room.live_status;
        if !status_changed && events.is_empty() {
            // A heartbeat: one conditional UpdateItem, no transaction.
            let res = self
                .client()
                .update_item()
                .table_name(update.table_name())
                .set_key(Some(update.key().clone()))
                .update_expression(update.update_expression())
                .set_condition_expression(update.condition_expression().map(str::to_string))
                .set_expression_attribute_names(update.expression_attribute_names().cloned())
                .set_expression_attribute_values(update.expression_attribute_values().cloned())
                .send()
                .await;
            return match res {
                Ok(_) => Ok(room),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Err(StoreError::Conflict)
                }
                Err(e) => Err(sdk_err("UpdateItem room lifecycle")(e).into()),
            };
        }
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        let quota_index = if status_changed {
            let enters_live = room.live_status == LiveStatus::Live;
            items.push(self.counts_update(
                &room.app_id,
                &[
                    (keys::status_count_attr(room.live_status), 1),
                    (keys::status_count_attr(before.live_status), -1),
                ],
                enters_live.then_some(max_concurrent_lives),
            )?);
            enters_live.then_some(1)
        } else {
            None
        };
        items.extend(self.outbox_writes(&room.app_id, room.room_id, events, now_ms)?);
        match self
            .transact(items, "TransactWriteItems room lifecycle")
            .await?
        {
            Ok(()) => Ok(room),
            Err(codes) => {
                if quota_index
                    .is_some_and(|i| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed"))
                {
                    Err(StoreError::ConcurrentLives {
                        max: max_concurrent_lives,
                    })
                } else {
                    Err(StoreError::Conflict)
                }
            }
        }
    }

    /// Stores the deadline `timers` give `room` now (or removes it), if the room is unchanged.
    /// A deadline in the past is pushed to `now_ms` + 1 s so a sweep cannot spin on it.
    pub async fn rearm_timer(
        &self,
        room: &Room,
        timers: &Timers,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut u = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PK, s(keys::app_pk(&room.app_id)))
            .key(SK, s(keys::room_sk(room.room_id)))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(room.version))
            .expression_attribute_names("#g3pk", schema::GSI_DUE.hash_key)
            .expression_attribute_names("#g3sk", schema::GSI_DUE.range_key);
        u = match lifecycle::next_deadline(room, timers) {
            Some(deadline) => u
                .update_expression("SET #g3pk = :pk, #g3sk = :sk")
                .expression_attribute_values(
                    ":pk",
                    s(keys::timer_pk(keys::due_shard(&room.app_id, room.room_id))),
                )
                .expression_attribute_values(
                    ":sk",
                    s(keys::due_sk(
                        deadline.saturating_mul(1000).max(now_ms + 1000),
                        &room.app_id,
                        room.room_id,
                    )),
                ),
            None => u.update_expression("REMOVE #g3pk, #g3sk"),
        };
        match u.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(()) // written since: that write set the timer
            }
            Err(e) => Err(sdk_err("UpdateItem rearm timer")(e).into()),
        }
    }

    /// Rooms of one due-work shard whose timer fell due at or before `now_ms`, oldest first,
    /// at most `limit`.
    pub async fn rooms_due(
        &self,
        shard: u32,
        now_ms: i64,
        limit: i32,
    ) -> Result<Vec<(String, RoomId)>, Error> {
        self.due_work(keys::timer_pk(shard), now_ms, limit).await
    }

    /// `(app, room)` of the gsi3 entries under `pk` due at or before `now_ms`.
    pub(super) async fn due_work(
        &self,
        pk: String,
        now_ms: i64,
        limit: i32,
    ) -> Result<Vec<(String, RoomId)>, Error> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(schema::GSI_DUE.name)
            .key_condition_expression("#h = :h AND #r <= :until")
            .expression_attribute_names("#h", schema::GSI_DUE.hash_key)
            .expression_attribute_names("#r", schema::GSI_DUE.range_key)
            .expression_attribute_values(":h", s(pk))
            .expression_attribute_values(":until", s(keys::due_sk_until(now_ms)))
            .limit(limit.max(1))
            .send()
            .await
            .map_err(sdk_err("Query due work"))?;
        let mut found = Vec::new();
        for item in out.items.unwrap_or_default() {
            if let Some(sk) = item_str(&item, schema::GSI_DUE.range_key) {
                if let Some((_, app, room)) = keys::parse_due_sk(sk) {
                    found.push((app.to_string(), room));
                }
            }
        }
        Ok(found)
    }
}

fn item_str<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}
