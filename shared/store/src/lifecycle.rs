//! Applying the lifecycle state machine ([`zhibo_core::lifecycle`]) to stored rooms: read the room
//! (its room item and its live-session item), run the pure transition, and write the result
//! conditioned on the versions read — a change of the session alone (a heartbeat) to the small
//! live-session item only; a status change to both items, the app's counts and the webhook
//! events in one transaction. On a lost race, read again and redo.

use crate::item::{n, s, Item, ItemReader};
use crate::table::{build_err, sdk_err};
use crate::{StoreError, Table};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use zhibo_core::error::Error;
use zhibo_core::lifecycle::{self, events_of, Input, LiveItem, Outcome, Timers};
use zhibo_core::live_status::LiveStatus;
use zhibo_core::room::{Room, RoomId};
use zhibo_core::table::{self, keys, PK, SK, TTL_ATTR};
use zhibo_core::takedown::Scope;
use zhibo_core::webhook::WebhookEvent;

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
pub(crate) fn timer_keys(room: &Room, timers: &Timers) -> Option<(String, String)> {
    lifecycle::next_deadline(room, timers)
        .map(|deadline| timer_keys_at(room, deadline.saturating_mul(1000)))
}

/// The gsi3 keys of a timer of `room` due at `due_ms`.
fn timer_keys_at(room: &Room, due_ms: i64) -> (String, String) {
    (
        keys::timer_pk(keys::due_shard(&room.app_id, room.room_id)),
        keys::due_sk(due_ms, &room.app_id, room.room_id),
    )
}

/// Which item carries a room's timer in gsi3: the room item while 102 (its one timer is
/// `end_time`, which a PATCH may move), the live-session item from then on (its timers move
/// with the session: a heartbeat must not rewrite the room item).
pub(crate) fn timer_on_live_item(status: LiveStatus) -> bool {
    status != LiveStatus::NotStarted
}

/// The attributes of a room's [`lifecycle::Lifecycle`] in its live-session item.
pub const LIFECYCLE_ATTRS: [&str; 10] = [
    "session_id",
    "session_seq",
    "session_open",
    "worker_id",
    "last_seen",
    "live_started_at",
    "status_since",
    "event_seq",
    "origin",
    "live_started_at_ms",
];

/// The live-session item's version attribute.
const LIVE_VERSION: &str = "lver";
/// The live-session item's copy of the room's status (see [`LiveItem::status`]).
const LIVE_STATUS: &str = "live_status";

/// The lifecycle attributes of a room, named as [`LIFECYCLE_ATTRS`] (`None`: removed).
pub(crate) fn lifecycle_attrs(room: &Room) -> [(&'static str, Option<AttributeValue>); 10] {
    let l = &room.lifecycle;
    let [a, b, c, d, e, f, g, h, i, j] = LIFECYCLE_ATTRS;
    [
        (a, l.session_id.as_deref().map(s)),
        (b, Some(n(l.session_seq))),
        (c, Some(AttributeValue::Bool(l.session_open))),
        (d, l.worker_id.as_deref().map(s)),
        (e, Some(n(l.last_seen))),
        (f, l.live_started_at.map(n)),
        (g, Some(n(l.status_since))),
        (h, Some(n(l.event_seq))),
        (i, l.origin.as_deref().map(s)),
        (j, l.live_started_at_ms.map(n)),
    ]
}

/// A room's lifecycle and live-item bookkeeping from its live-session item; `None` (no item
/// yet: the room never left 102) gives the initial lifecycle, entered at `updated_at`.
pub(crate) fn lifecycle_from_item(
    item: Option<&Item>,
    updated_at: i64,
) -> Result<(lifecycle::Lifecycle, LiveItem), Error> {
    let Some(item) = item else {
        return Ok((
            lifecycle::Lifecycle {
                status_since: updated_at,
                ..Default::default()
            },
            LiveItem::default(),
        ));
    };
    let r = crate::item::ItemReader::new(item);
    let [a, b, c, d, e, f, g, h, i, j] = LIFECYCLE_ATTRS;
    let l = lifecycle::Lifecycle {
        session_id: r.s_opt(a)?,
        session_seq: r.n_or(b, 0)?,
        session_open: r.bool_or_false(c)?,
        worker_id: r.s_opt(d)?,
        last_seen: r.n_or(e, 0)?,
        live_started_at: r.n_opt(f)?,
        status_since: r.n_or(g, updated_at)?,
        event_seq: r.n_or(h, 0)?,
        origin: r.s_opt(i)?,
        live_started_at_ms: r.n_opt(j)?,
    };
    let timer_ms = match r.s_opt(table::GSI_DUE.range_key)? {
        None => None,
        Some(sk) => Some(
            keys::parse_due_sk(&sk)
                .map(|(due, _, _)| due)
                .ok_or_else(|| {
                    let pk = item.get(PK).and_then(|v| v.as_s().ok());
                    Error::CorruptItem {
                        key: format!("{}/{}", pk.map_or("?", String::as_str), keys::LIVE_SK),
                        what: format!("{}: {sk:?} is not a due-work key", table::GSI_DUE.range_key),
                    }
                })?,
        ),
    };
    Ok((
        l,
        LiveItem {
            version: r.n_or(LIVE_VERSION, 0)?,
            timer_ms,
            status: r.n_opt::<u16>(LIVE_STATUS)?.and_then(LiveStatus::from_code),
        },
    ))
}

/// The key of a room's live-session item.
pub(crate) fn live_key(app_id: &str, room_id: RoomId) -> Item {
    Table::key(keys::live_pk(app_id, room_id), keys::LIVE_SK)
}

/// What a write does to an item's gsi3 timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerWrite {
    /// Leave it as stored.
    Keep,
    /// Store this deadline (unix ms).
    Set(i64),
    /// Remove it.
    Remove,
}

impl TimerWrite {
    fn of(deadline_ms: Option<i64>) -> TimerWrite {
        deadline_ms.map_or(TimerWrite::Remove, TimerWrite::Set)
    }

    /// Adds the SET or REMOVE of the timer keys of `room` to `sets`/`removes`.
    fn apply(
        self,
        room: &Room,
        mut u: aws_sdk_dynamodb::types::builders::UpdateBuilder,
        sets: &mut Vec<String>,
        removes: &mut Vec<String>,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        if self == TimerWrite::Keep {
            return u;
        }
        u = u
            .expression_attribute_names("#g3pk", table::GSI_DUE.hash_key)
            .expression_attribute_names("#g3sk", table::GSI_DUE.range_key);
        match self {
            TimerWrite::Set(due_ms) => {
                let (pk, sk) = timer_keys_at(room, due_ms);
                sets.push("#g3pk = :g3pk, #g3sk = :g3sk".to_string());
                u.expression_attribute_values(":g3pk", s(pk))
                    .expression_attribute_values(":g3sk", s(sk))
            }
            _ => {
                removes.push("#g3pk, #g3sk".to_string());
                u
            }
        }
    }
}

fn update_expression(sets: &[String], removes: &[String]) -> String {
    let mut expr = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    expr
}

/// Lifecycle transitions of rooms (with their counts and webhook events), their timers on the
/// due-work index, and pending takedowns.
#[derive(Debug, Clone)]
pub struct LifecycleStore {
    table: Table,
}

impl LifecycleStore {
    /// Lifecycles in `table`.
    pub fn new(table: Table) -> LifecycleStore {
        LifecycleStore { table }
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// A live that ends (`room.ended`, `room.banned`) carries the room's final audience
    /// figures in `data.stats`.
    async fn add_final_stats(&self, events: &mut [WebhookEvent], now_ms: i64) -> Result<(), Error> {
        use zhibo_core::webhook::EventType;
        for e in events
            .iter_mut()
            .filter(|e| matches!(e.kind, EventType::RoomEnded | EventType::RoomBanned))
        {
            let stats = crate::ChatStore::new(self.table.clone())
                .room_stats(&e.app_id, e.room_id, now_ms.div_euclid(1000))
                .await?;
            e.data["stats"] = serde_json::to_value(stats).unwrap_or_default();
        }
        Ok(())
    }

    /// Applies `input` to room `room_id` of `app_id` at `now_ms`: reads it, runs
    /// [`lifecycle::transition`], and, if anything changed, writes it: the live-session item
    /// alone for a change of the session (a heartbeat: one small conditional write), else that
    /// item, the room item, the app's status counts and one outbox event per status change in
    /// one transaction, each conditioned on the version read (redone from a fresh read when
    /// another write won). Entering 101 is refused
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
            let before = crate::rooms::read_room(&self.table, app_id, room_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            if before
                .live_item
                .status
                .is_some_and(|s| s != before.live_status)
            {
                // The two items were read on either side of a status change: read again.
                continue;
            }
            let mut outcome =
                lifecycle::transition(&before, input, timers, now_ms.div_euclid(1000));
            // The machine counts in seconds; items' `offset_ms` counts from this 101 to the
            // millisecond (the replay starts right after it).
            if before.lifecycle.live_started_at.is_none()
                && outcome.room.lifecycle.live_started_at.is_some()
            {
                outcome.room.lifecycle.live_started_at_ms = Some(now_ms);
            }
            if !outcome.changed {
                return Ok(Applied {
                    before,
                    outcome,
                    events: Vec::new(),
                });
            }
            let mut events = events_of(&outcome, now_ms);
            self.add_final_stats(&mut events, now_ms).await?;
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

    /// Moves `room` (as read) to status `to` without going through the state machine (an
    /// operator repair, and tests), with the app's counts; entering 101 is refused when
    /// `max_concurrent_lives` rooms are already live. No webhook event is emitted.
    pub async fn set_live_status(
        &self,
        room: &Room,
        to: LiveStatus,
        max_concurrent_lives: u32,
        now: i64,
    ) -> Result<Room, StoreError> {
        if to == room.live_status {
            return Ok(room.clone());
        }
        let mut new = room.clone();
        new.live_status = to;
        new.updated_at = now;
        new.lifecycle.status_since = now;
        if to == LiveStatus::Live {
            new.lifecycle.last_seen = now;
            new.lifecycle.live_started_at.get_or_insert(now);
        }
        let outcome = zhibo_core::lifecycle::Outcome {
            room: new,
            changes: Vec::new(),
            verdict: zhibo_core::lifecycle::Verdict::Allow,
            changed: true,
        };
        self.write_transition(
            room,
            &outcome,
            &[],
            &zhibo_core::lifecycle::Timers::default(),
            max_concurrent_lives,
            now * 1000,
        )
        .await
    }

    /// Writes a transition: the live-session item (lifecycle, timer) conditioned on
    /// `before.live_item.version`, and, when the status changes or events are emitted, in one
    /// transaction with it the room item (status, gsi2 key) conditioned on `before.version`, the
    /// counts change and the outbox events. A change of the session alone (a heartbeat) is one
    /// conditional UpdateItem of the small live item. Returns the stored room.
    async fn write_transition(
        &self,
        before: &Room,
        outcome: &Outcome,
        events: &[WebhookEvent],
        timers: &Timers,
        max_concurrent_lives: u32,
        now_ms: i64,
    ) -> Result<Room, StoreError> {
        let mut room = outcome.room.clone();
        let status_changed = before.live_status != room.live_status;
        let session_only = !status_changed && events.is_empty();
        let next = lifecycle::next_deadline(&room, timers);
        let live_timer = if !timer_on_live_item(room.live_status) {
            TimerWrite::Remove
        } else if session_only
            && lifecycle::keeps_stored_deadline(before.live_item.timer_ms, next, timers, now_ms)
        {
            TimerWrite::Keep
        } else {
            TimerWrite::of(next.map(|d| d.saturating_mul(1000)))
        };
        room.live_item = LiveItem {
            version: before.live_item.version + 1,
            timer_ms: match live_timer {
                TimerWrite::Keep => before.live_item.timer_ms,
                TimerWrite::Set(ms) => Some(ms),
                TimerWrite::Remove => None,
            },
            status: Some(room.live_status),
        };
        let live = live_update(&self.table, before.live_item.version, &room, live_timer)?;
        if session_only {
            let res = self
                .table
                .client()
                .update_item()
                .table_name(live.table_name())
                .set_key(Some(live.key().clone()))
                .update_expression(live.update_expression())
                .set_condition_expression(live.condition_expression().map(str::to_string))
                .set_expression_attribute_names(live.expression_attribute_names().cloned())
                .set_expression_attribute_values(live.expression_attribute_values().cloned())
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
                Err(e) => Err(sdk_err("UpdateItem live session")(e).into()),
            };
        }
        room.version = before.version + 1;
        let mut sets = vec![
            "live_status = :st".to_string(),
            "#g2pk = :g2pk".to_string(),
            "updated_at = :upd".to_string(),
            "version = :nv".to_string(),
        ];
        let mut removes = Vec::new();
        let mut u = Update::builder()
            .table_name(self.table.name())
            .key(PK, s(keys::app_pk(&room.app_id)))
            .key(SK, s(keys::room_sk(room.room_id)))
            .condition_expression("version = :v")
            .expression_attribute_names("#g2pk", table::GSI_ROOMS_BY_STATUS.hash_key)
            .expression_attribute_values(":st", n(room.live_status.code()))
            .expression_attribute_values(
                ":g2pk",
                s(keys::rooms_by_status_pk(&room.app_id, room.live_status)),
            )
            .expression_attribute_values(":upd", n(room.updated_at))
            .expression_attribute_values(":nv", n(room.version))
            .expression_attribute_values(":v", n(before.version));
        let room_timer = if timer_on_live_item(room.live_status) {
            TimerWrite::Remove
        } else {
            TimerWrite::of(next.map(|d| d.saturating_mul(1000)))
        };
        u = room_timer.apply(&room, u, &mut sets, &mut removes);
        let update = u
            .update_expression(update_expression(&sets, &removes))
            .build()
            .map_err(build_err)?;
        let mut items = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().update(live).build(),
        ];
        let quota_index = if status_changed {
            let enters_live = room.live_status == LiveStatus::Live;
            items.push(self.table.counts_update(
                &room.app_id,
                &[
                    (keys::status_count_attr(room.live_status), 1),
                    (keys::status_count_attr(before.live_status), -1),
                ],
                enters_live.then_some(max_concurrent_lives),
            )?);
            enters_live.then_some(items.len() - 1)
        } else {
            None
        };
        items.extend(crate::outbox::outbox_writes(
            &self.table,
            &room.app_id,
            room.room_id,
            events,
            now_ms,
        )?);
        match self
            .table
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

    /// Stores the deadline `timers` give `room` now (or removes it) on the item that carries
    /// its timer, if that item is unchanged since `room` was read. A deadline in the past is
    /// pushed to `now_ms` + 1 s so a sweep cannot spin on it.
    pub async fn rearm_timer(
        &self,
        room: &Room,
        timers: &Timers,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (key, version_attr, version) = if timer_on_live_item(room.live_status) {
            (
                live_key(&room.app_id, room.room_id),
                LIVE_VERSION,
                room.live_item.version,
            )
        } else {
            (
                Table::key(keys::app_pk(&room.app_id), keys::room_sk(room.room_id)),
                "version",
                room.version,
            )
        };
        let mut u = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", version_attr)
            .expression_attribute_values(":v", n(version));
        u = u
            .expression_attribute_names("#g3pk", table::GSI_DUE.hash_key)
            .expression_attribute_names("#g3sk", table::GSI_DUE.range_key);
        u = match lifecycle::next_deadline(room, timers) {
            Some(deadline) => {
                let (pk, sk) =
                    timer_keys_at(room, deadline.saturating_mul(1000).max(now_ms + 1000));
                u.update_expression("SET #g3pk = :pk, #g3sk = :sk")
                    .expression_attribute_values(":pk", s(pk))
                    .expression_attribute_values(":sk", s(sk))
            }
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
        self.table
            .due_work(keys::timer_pk(shard), now_ms, limit)
            .await
    }
}

/// The update of `room`'s live-session item to `room.lifecycle` and version
/// `room.live_item.version`, conditioned on the stored version being `read_version` (0: no
/// item yet).
fn live_update(
    table: &Table,
    read_version: u64,
    room: &Room,
    timer: TimerWrite,
) -> Result<Update, Error> {
    let mut sets = vec!["#lver = :nlv".to_string(), "#lst = :lst".to_string()];
    let mut removes = Vec::new();
    let mut u = Update::builder()
        .table_name(table.name())
        .set_key(Some(live_key(&room.app_id, room.room_id)))
        .expression_attribute_names("#lver", LIVE_VERSION)
        .expression_attribute_values(":nlv", n(room.live_item.version))
        .expression_attribute_names("#lst", LIVE_STATUS)
        .expression_attribute_values(":lst", n(room.live_status.code()));
    u = if read_version == 0 {
        u.condition_expression("attribute_not_exists(#lver)")
    } else {
        u.condition_expression("#lver = :lv")
            .expression_attribute_values(":lv", n(read_version))
    };
    for (i, (name, value)) in lifecycle_attrs(room).into_iter().enumerate() {
        u = u.expression_attribute_names(format!("#l{i}"), name);
        match value {
            Some(v) => {
                sets.push(format!("#l{i} = :l{i}"));
                u = u.expression_attribute_values(format!(":l{i}"), v);
            }
            None => removes.push(format!("#l{i}")),
        }
    }
    u = timer.apply(room, u, &mut sets, &mut removes);
    u.update_expression(update_expression(&sets, &removes))
        .build()
        .map_err(build_err)
}

/// The update of `room`'s live-session item that takes event `seq` (a replay's event),
/// conditioned on the item being as read.
pub(crate) fn event_seq_update(table: &Table, room: &Room, seq: u64) -> Result<Update, Error> {
    let mut next = room.clone();
    next.lifecycle.event_seq = seq;
    next.live_item.version = room.live_item.version + 1;
    live_update(table, room.live_item.version, &next, TimerWrite::Keep)
}

// ---- pending takedowns ---------------------------------------------------------------------
//
// Pending takedowns ([`zhibo_core::takedown`]): one small item per room and scope in its own
// partition (`TAKEDOWN`), written when a ban or `close_replay` asks for one and deleted when
// the sweeper confirms the room's media is gone and quiet. Bans are rare, so one partition
// read by one Query per sweep is enough; nothing here touches the room item.

/// The partition of pending takedowns.
const TAKEDOWN_PK: &str = "TAKEDOWN";
/// How long a takedown that never confirms (a bucket that keeps failing) is kept after its
/// quiet time, seconds.
const TAKEDOWN_ITEM_TTL_S: i64 = 7 * 86_400;

/// A takedown to repeat until the room's media is quiet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTakedown {
    /// The app.
    pub app_id: String,
    /// The room.
    pub room_id: RoomId,
    /// What to remove.
    pub scope: Scope,
    /// Repeat at least until then (unix ms): [`zhibo_core::takedown::quiet_after_ms`].
    pub quiet_after_ms: i64,
}

fn takedown_sk(app_id: &str, room_id: RoomId, scope: Scope) -> String {
    format!("{app_id}#{room_id:012}#{}", scope.as_str())
}

/// The key of a pending takedown's item.
fn takedown_key(t: &PendingTakedown) -> Item {
    Table::key(
        TAKEDOWN_PK.to_string(),
        takedown_sk(&t.app_id, t.room_id, t.scope),
    )
}

/// The item of a pending takedown.
fn takedown_item(t: &PendingTakedown) -> Item {
    let mut item = takedown_key(t);
    item.insert("type".into(), s("takedown"));
    item.insert("app_id".into(), s(&t.app_id));
    item.insert("room_id".into(), n(t.room_id));
    item.insert("scope".into(), s(t.scope.as_str()));
    item.insert("quiet_after_ms".into(), n(t.quiet_after_ms));
    item.insert(
        TTL_ATTR.into(),
        n(t.quiet_after_ms.div_euclid(1000) + TAKEDOWN_ITEM_TTL_S),
    );
    item
}

/// A pending takedown from its item.
fn takedown_from_item(item: &Item) -> Result<PendingTakedown, Error> {
    let r = ItemReader::new(item);
    let scope = r.s("scope")?;
    Ok(PendingTakedown {
        app_id: r.s("app_id")?,
        room_id: r.n("room_id")?,
        scope: Scope::parse(&scope).ok_or_else(|| Error::CorruptItem {
            key: format!("{TAKEDOWN_PK}/{}", r.s(SK).unwrap_or_default()),
            what: format!("scope: unknown takedown scope {scope:?}"),
        })?,
        quiet_after_ms: r.n("quiet_after_ms")?,
    })
}

impl LifecycleStore {
    /// Records (or renews) a pending takedown.
    pub async fn put_pending_takedown(&self, t: &PendingTakedown) -> Result<(), Error> {
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(takedown_item(t)))
            .send()
            .await
            .map_err(sdk_err("PutItem takedown"))?;
        Ok(())
    }

    /// Up to `limit` pending takedowns.
    pub async fn pending_takedowns(&self, limit: i32) -> Result<Vec<PendingTakedown>, Error> {
        let out = self
            .table
            .client()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(TAKEDOWN_PK))
            .limit(limit)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err("Query takedowns"))?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(takedown_from_item)
            .collect()
    }

    /// Deletes a pending takedown the sweeper confirmed, unless it was renewed meanwhile (a
    /// later request moved its quiet time): true if deleted.
    pub async fn confirm_takedown(&self, t: &PendingTakedown) -> Result<bool, Error> {
        let res = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(takedown_key(t)))
            .condition_expression("quiet_after_ms = :q")
            .expression_attribute_values(":q", n(t.quiet_after_ms))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err("DeleteItem takedown")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_room() -> Room {
        let req: zhibo_core::room::CreateRoom = serde_json::from_value(serde_json::json!({
            "name": "r", "anchor_name": "a", "start_time": 1_000, "end_time": 4_600,
        }))
        .expect("create request");
        let mut room = Room::new("demo", 7, req, 900);
        room.live_status = LiveStatus::Live;
        room.lifecycle = lifecycle::Lifecycle {
            session_id: Some("0000018c2d9f4a10abcdef".into()),
            session_seq: 41,
            session_open: true,
            worker_id: Some("worker-1".into()),
            origin: Some("http://10.0.1.5:9090".into()),
            last_seen: 1_234,
            live_started_at: Some(1_100),
            live_started_at_ms: Some(1_100_250),
            status_since: 1_150,
            event_seq: 3,
        };
        room
    }

    /// The item the live update stores for `room` (what DynamoDB makes of its SETs).
    fn stored_live_item(room: &Room, version: u64, timer_ms: Option<i64>) -> Item {
        let mut item = live_key(&room.app_id, room.room_id);
        for (name, value) in lifecycle_attrs(room) {
            if let Some(v) = value {
                item.insert(name.into(), v);
            }
        }
        item.insert(LIVE_VERSION.into(), n(version));
        item.insert(LIVE_STATUS.into(), n(room.live_status.code()));
        if let Some(ms) = timer_ms {
            let (pk, sk) = timer_keys_at(room, ms);
            item.insert(table::GSI_DUE.hash_key.into(), s(pk));
            item.insert(table::GSI_DUE.range_key.into(), s(sk));
        }
        item
    }

    #[test]
    fn live_item_round_trips() {
        let room = live_room();
        let item = stored_live_item(&room, 5, Some(1_279_000));
        let (l, live) = lifecycle_from_item(Some(&item), 1).expect("read back");
        assert_eq!(l, room.lifecycle);
        assert_eq!(
            live,
            LiveItem {
                version: 5,
                timer_ms: Some(1_279_000),
                status: Some(LiveStatus::Live),
            }
        );
        // Absent options are absent attributes, and read back as None.
        let mut bare = room.clone();
        bare.lifecycle.session_id = None;
        bare.lifecycle.worker_id = None;
        bare.lifecycle.live_started_at = None;
        bare.lifecycle.live_started_at_ms = None;
        let item = stored_live_item(&bare, 1, None);
        assert!(!item.contains_key("session_id") && !item.contains_key("live_started_at"));
        let (l, live) = lifecycle_from_item(Some(&item), 1).expect("read back");
        assert_eq!(l, bare.lifecycle);
        assert_eq!(live.timer_ms, None);
    }

    #[test]
    fn a_room_without_live_item_has_the_initial_lifecycle() {
        let (l, live) = lifecycle_from_item(None, 777).expect("no item");
        assert_eq!(
            l,
            lifecycle::Lifecycle {
                status_since: 777,
                ..Default::default()
            }
        );
        assert_eq!(live, LiveItem::default());
    }

    #[test]
    fn a_bad_timer_key_names_the_item() {
        let room = live_room();
        let mut item = stored_live_item(&room, 1, None);
        item.insert(table::GSI_DUE.range_key.into(), s("soon"));
        let err = lifecycle_from_item(Some(&item), 1).expect_err("corrupt");
        let text = err.to_string();
        assert!(text.contains("LIVE#demo#000000000007"), "{text}");
    }

    #[test]
    fn lifecycle_attrs_are_the_listed_ones() {
        let names: Vec<_> = lifecycle_attrs(&live_room())
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(names, LIFECYCLE_ATTRS);
    }

    #[test]
    fn only_102_keeps_its_timer_on_the_room_item() {
        for s in LiveStatus::ALL {
            assert_eq!(timer_on_live_item(s), s != LiveStatus::NotStarted, "{s}");
        }
    }

    #[test]
    fn a_malformed_live_item_names_the_attribute() {
        use crate::item::testing::{assert_names, ill_typed};
        let item = stored_live_item(&live_room(), 5, Some(1_279_000));
        for attr in
            LIFECYCLE_ATTRS
                .into_iter()
                .chain([LIVE_VERSION, LIVE_STATUS, table::GSI_DUE.range_key])
        {
            assert_names(lifecycle_from_item(Some(&ill_typed(&item, attr)), 1), attr);
        }
    }

    fn takedown() -> PendingTakedown {
        PendingTakedown {
            app_id: "demo".into(),
            room_id: 7,
            scope: Scope::Replays,
            quiet_after_ms: 1_700_000_123_456,
        }
    }

    #[test]
    fn takedown_items_round_trip() {
        for scope in [Scope::Room, Scope::Replays] {
            let t = PendingTakedown {
                scope,
                ..takedown()
            };
            let item = takedown_item(&t);
            assert_eq!(takedown_from_item(&item).expect("read back"), t);
            assert_eq!(item.get(PK), Some(&s(TAKEDOWN_PK)));
        }
        // Each room and scope has its own item.
        let room = takedown_item(&PendingTakedown {
            scope: Scope::Room,
            ..takedown()
        });
        assert_ne!(room.get(SK), takedown_item(&takedown()).get(SK));
    }

    #[test]
    fn a_malformed_takedown_item_names_the_attribute() {
        use crate::item::testing::{assert_names, ill_typed, without};
        let item = takedown_item(&takedown());
        for attr in ["app_id", "room_id", "scope", "quiet_after_ms"] {
            assert_names(takedown_from_item(&without(&item, attr)), attr);
            assert_names(takedown_from_item(&ill_typed(&item, attr)), attr);
        }
        let mut bad = item.clone();
        bad.insert("scope".into(), s("everything"));
        assert_names(takedown_from_item(&bad), "scope");
    }
}
