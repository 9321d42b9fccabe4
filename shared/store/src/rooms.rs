//! [`RoomStore`]: rooms (the room item, read with its live-session item), their creation
//! with the app's counts, the quota day and the idempotency key in one transaction, edits,
//! deletion and listing.

use crate::item::{n, s, Item, ItemReader};
use crate::table::{backoff, build_err, sdk_err, SdkErrorText, TRANSACTION_RETRIES};
use crate::{StoreError, Table};
use aws_sdk_dynamodb::types::{AttributeValue, Put, Select, TransactWriteItem, Update};
use std::collections::HashMap;
use zhibo_core::error::Error;
use zhibo_core::live_status::LiveStatus;
use zhibo_core::room::{Room, RoomId};
use zhibo_core::table::{self, keys, quota_day, PK, SK, TTL_ATTR};

/// How long an idempotency key is remembered (24 h, as Stripe).
pub const IDEMPOTENCY_TTL_S: i64 = 24 * 3600;
/// True when an idempotency key stored with `expires_at` no longer holds at `now`.
fn idempotency_expired(expires_at: i64, now: i64) -> bool {
    expires_at < now
}

/// An `Idempotency-Key` header and the hash of the body it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The header value.
    pub key: String,
    /// Hex SHA-256 of the request body.
    pub body_sha256: String,
}

/// Quotas checked when a room is created or its schedule moves.
#[derive(Debug, Clone, Copy)]
pub struct CreateLimits {
    /// Rooms scheduled on one quota day.
    pub max_lives_per_day: u32,
    /// The quota day's UTC offset.
    pub quota_utc_offset_minutes: i32,
}

/// The outcome of a create.
#[derive(Debug, Clone)]
pub struct CreatedRoom {
    /// The room.
    pub room: Room,
    /// True when an earlier create with the same idempotency key made it.
    pub replayed: bool,
}

/// One page of rooms and the total matching the filter.
#[derive(Debug, Clone)]
pub struct RoomPage {
    /// Rooms matching the filter, in all pages.
    pub total: u64,
    /// This page, newest `start_time` first.
    pub rooms: Vec<Room>,
}

/// Rooms, their quotas, idempotency keys and listings.
#[derive(Debug, Clone)]
pub struct RoomStore {
    table: Table,
}

fn room_item(room: &Room) -> Result<Item, Error> {
    let start_sk = keys::room_start_sk(room.start_time, room.room_id);
    let goods = serde_json::to_string(&room.goods).map_err(|e| Error::CorruptItem {
        key: keys::room_sk(room.room_id),
        what: format!("goods not serializable: {e}"),
    })?;
    let mut item: Item = HashMap::from([
        (PK.into(), s(keys::app_pk(&room.app_id))),
        (SK.into(), s(keys::room_sk(room.room_id))),
        (
            table::GSI_ROOMS_BY_START.hash_key.into(),
            s(keys::rooms_by_start_pk(&room.app_id)),
        ),
        (
            table::GSI_ROOMS_BY_START.range_key.into(),
            s(start_sk.clone()),
        ),
        (
            table::GSI_ROOMS_BY_STATUS.hash_key.into(),
            s(keys::rooms_by_status_pk(&room.app_id, room.live_status)),
        ),
        (table::GSI_ROOMS_BY_STATUS.range_key.into(), s(start_sk)),
        ("type".into(), s("room")),
        ("app_id".into(), s(&room.app_id)),
        ("room_id".into(), n(room.room_id)),
        ("name".into(), s(&room.name)),
        ("cover_img".into(), s(&room.cover_img)),
        ("anchor_name".into(), s(&room.anchor_name)),
        ("anchor_img".into(), s(&room.anchor_img)),
        ("start_time".into(), n(room.start_time)),
        ("end_time".into(), n(room.end_time)),
        ("goods".into(), s(goods)),
        ("close_like".into(), AttributeValue::Bool(room.close_like)),
        (
            "close_comment".into(),
            AttributeValue::Bool(room.close_comment),
        ),
        (
            "close_replay".into(),
            AttributeValue::Bool(room.close_replay),
        ),
        ("live_status".into(), n(room.live_status.code())),
        ("created_at".into(), n(room.created_at)),
        ("updated_at".into(), n(room.updated_at)),
        ("version".into(), n(room.version)),
    ]);
    // Whole-item writes happen only outside a live session (create, patch). The room item
    // carries the timer only while 102 (its end_time, which does not depend on the lifecycle
    // timers); the lifecycle is in the live-session item.
    if !crate::lifecycle::timer_on_live_item(room.live_status) {
        if let Some((pk, sk)) =
            crate::lifecycle::timer_keys(room, &zhibo_core::lifecycle::Timers::default())
        {
            item.insert(table::GSI_DUE.hash_key.into(), s(pk));
            item.insert(table::GSI_DUE.range_key.into(), s(sk));
        }
    }
    Ok(item)
}

/// A room from its room item and its live-session item (`None`: not stored yet).
fn room_from_items(item: &Item, live: Option<&Item>) -> Result<Room, Error> {
    let r = ItemReader::new(item);
    let app_id = r.s("app_id")?;
    let room_id: RoomId = r.n("room_id")?;
    let code: u16 = r.n("live_status")?;
    let live_status = LiveStatus::from_code(code).ok_or_else(|| Error::CorruptItem {
        key: keys::room_sk(room_id),
        what: format!("live_status {code} is not 101-107"),
    })?;
    let updated_at: i64 = r.n("updated_at")?;
    let (lifecycle, live_item) = crate::lifecycle::lifecycle_from_item(live, updated_at)?;
    Ok(Room {
        lifecycle,
        live_item,
        stream_name: zhibo_core::room::stream_name(&app_id, room_id),
        app_id,
        room_id,
        name: r.s("name")?,
        cover_img: r.s_or_empty("cover_img")?,
        anchor_name: r.s("anchor_name")?,
        anchor_img: r.s_or_empty("anchor_img")?,
        start_time: r.n("start_time")?,
        end_time: r.n("end_time")?,
        goods: r.json("goods")?,
        close_like: r.bool_or_false("close_like")?,
        close_comment: r.bool_or_false("close_comment")?,
        close_replay: r.bool_or_false("close_replay")?,
        live_status,
        created_at: r.n("created_at")?,
        updated_at,
        version: r.n("version")?,
    })
}

/// The idempotency item of `key` for room `room_id`, remembered until `now` +
/// [`IDEMPOTENCY_TTL_S`].
fn idempotency_item(app_id: &str, key: &IdempotencyKey, room_id: RoomId, now: i64) -> Item {
    let mut item = Table::key(keys::idempotency_pk(app_id, &key.key), "IDEM");
    item.insert("room_id".into(), n(room_id));
    item.insert("body_sha256".into(), s(&key.body_sha256));
    item.insert(TTL_ATTR.into(), n(now + IDEMPOTENCY_TTL_S));
    item
}

/// What an idempotency item holds: the room id, the body hash and the expiry.
fn idempotency_from_item(item: &Item) -> Result<(RoomId, String, i64), Error> {
    let r = ItemReader::new(item);
    Ok((r.n("room_id")?, r.s("body_sha256")?, r.n(TTL_ATTR)?))
}

/// A room of the table, if it exists (its room item and its live-session item, read together).
pub(crate) async fn read_room(
    table: &Table,
    app_id: &str,
    room_id: RoomId,
) -> Result<Option<Room>, Error> {
    let (room, live) = tokio::try_join!(
        table.get(keys::app_pk(app_id), keys::room_sk(room_id), "GetItem room"),
        table.get(
            keys::live_pk(app_id, room_id),
            keys::LIVE_SK,
            "GetItem live session"
        ),
    )?;
    room.map(|i| room_from_items(&i, live.as_ref())).transpose()
}

impl RoomStore {
    /// Rooms in `table`.
    pub fn new(table: Table) -> RoomStore {
        RoomStore { table }
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// A room, if it exists (its room item and its live-session item, read together).
    pub async fn get_room(&self, app_id: &str, room_id: RoomId) -> Result<Option<Room>, Error> {
        read_room(&self.table, app_id, room_id).await
    }

    /// Rooms `ids` of `app_id` in that order (those that exist), with BatchGetItem: each
    /// room's room item and live-session item. Eventually consistent (half the read units), like
    /// the index queries that give the ids.
    async fn get_rooms(&self, app_id: &str, ids: &[RoomId]) -> Result<Vec<Room>, Error> {
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        // 100 keys per call: 50 rooms.
        for chunk in ids.chunks(50) {
            let mut keys = Vec::with_capacity(chunk.len() * 2);
            for &id in chunk {
                keys.push(Table::key(keys::app_pk(app_id), keys::room_sk(id)));
                keys.push(Table::key(keys::live_pk(app_id, id), keys::LIVE_SK));
            }
            let mut attempt = 0;
            while !keys.is_empty() {
                let out = self
                    .table
                    .client()
                    .batch_get_item()
                    .request_items(
                        self.table.name(),
                        aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                            .set_keys(Some(std::mem::take(&mut keys)))
                            .build()
                            .map_err(build_err)?,
                    )
                    .send()
                    .await
                    .map_err(sdk_err("BatchGetItem rooms"))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(self.table.name()))
                    .unwrap_or_default()
                {
                    let key = |a: &str| item.get(a).and_then(|v| v.as_s().ok()).cloned();
                    if let (Some(pk), Some(sk)) = (key(PK), key(SK)) {
                        found.insert((pk, sk), item);
                    }
                }
                if let Some(rest) = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.table.name()))
                {
                    keys = rest.keys;
                    attempt += 1;
                    if attempt > TRANSACTION_RETRIES {
                        return Err(Error::dynamo(
                            "BatchGetItem rooms",
                            SdkErrorText("keys stayed unprocessed after retries".into()),
                        ));
                    }
                    backoff(attempt).await;
                }
            }
        }
        let mut rooms = Vec::with_capacity(ids.len());
        for &id in ids {
            let room_key = (keys::app_pk(app_id), keys::room_sk(id));
            let live_key = (keys::live_pk(app_id, id), keys::LIVE_SK.to_string());
            if let Some(item) = found.get(&room_key) {
                rooms.push(room_from_items(item, found.get(&live_key))?);
            }
        }
        Ok(rooms)
    }

    /// The room an earlier create with this idempotency key made, if any and the key has not
    /// expired at `now` (DynamoDB deletes expired items lazily, up to days later); a different
    /// body under the same key is refused.
    pub async fn find_idempotent_room(
        &self,
        app_id: &str,
        key: &IdempotencyKey,
        now: i64,
    ) -> Result<Option<Room>, StoreError> {
        let Some(item) = self
            .table
            .get(
                keys::idempotency_pk(app_id, &key.key),
                "IDEM",
                "GetItem idempotency",
            )
            .await?
        else {
            return Ok(None);
        };
        let (room_id, body_sha256, expires_at) = idempotency_from_item(&item)?;
        if idempotency_expired(expires_at, now) {
            return Ok(None);
        }
        if body_sha256 != key.body_sha256 {
            return Err(StoreError::IdempotencyMismatch);
        }
        // The room may have been deleted since: the first answer was still this room.
        match self.get_room(app_id, room_id).await? {
            Some(room) => Ok(Some(room)),
            None => Err(StoreError::NotFound),
        }
    }

    async fn next_room_id(&self, app_id: &str) -> Result<RoomId, StoreError> {
        let res = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(keys::app_pk(app_id), keys::APP_SK)))
            .update_expression("ADD next_room_id :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let attrs = out.attributes.unwrap_or_default();
                Ok(ItemReader::new(&attrs).n("next_room_id")?)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::UnknownApp)
            }
            Err(e) => Err(sdk_err("UpdateItem next_room_id")(e).into()),
        }
    }

    fn quota_update(
        &self,
        app_id: &str,
        day: &str,
        delta: i64,
        limits: &CreateLimits,
        expires_at: i64,
    ) -> Result<TransactWriteItem, Error> {
        let mut u = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Table::key(keys::app_pk(app_id), keys::quota_sk(day))))
            .update_expression("ADD lives :d SET expires_at = :exp")
            .expression_attribute_values(":d", n(delta))
            .expression_attribute_values(":exp", n(expires_at));
        if delta > 0 {
            u = u
                .condition_expression("attribute_not_exists(lives) OR lives < :max")
                .expression_attribute_values(":max", n(limits.max_lives_per_day));
        }
        Ok(TransactWriteItem::builder()
            .update(u.build().map_err(build_err)?)
            .build())
    }

    /// Creates a room (status 102) for a validated request, atomically with the app's counts,
    /// the quota day of its `start_time`, and the idempotency key. A retry with the same key
    /// returns the first room.
    pub async fn create_room(
        &self,
        app_id: &str,
        req: zhibo_core::room::CreateRoom,
        idempotency: Option<&IdempotencyKey>,
        limits: &CreateLimits,
        now: i64,
    ) -> Result<CreatedRoom, StoreError> {
        if let Some(key) = idempotency {
            if let Some(room) = self.find_idempotent_room(app_id, key, now).await? {
                return Ok(CreatedRoom {
                    room,
                    replayed: true,
                });
            }
        }
        let room_id = self.next_room_id(app_id).await?;
        let room = Room::new(app_id, room_id, req, now);
        let day = quota_day(room.start_time, limits.quota_utc_offset_minutes);
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(self.table.name())
                        .set_item(Some(room_item(&room)?))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
            self.table.counts_update(
                app_id,
                &[
                    ("total".to_string(), 1),
                    (keys::status_count_attr(LiveStatus::NotStarted), 1),
                ],
                None,
            )?,
            self.quota_update(app_id, &day, 1, limits, room.end_time + 2 * 86_400)?,
        ];
        if let Some(key) = idempotency {
            let item = idempotency_item(app_id, key, room_id, now);
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(self.table.name())
                            .set_item(Some(item))
                            // An expired key still in the table is replaced.
                            .condition_expression("attribute_not_exists(pk) OR #exp < :now")
                            .expression_attribute_names("#exp", TTL_ATTR)
                            .expression_attribute_values(":now", n(now))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        match self
            .table
            .transact(items, "TransactWriteItems create room")
            .await?
        {
            Ok(()) => Ok(CreatedRoom {
                room,
                replayed: false,
            }),
            Err(codes) => {
                let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
                if failed(3) {
                    // Another request with the same key won the race: answer its room.
                    if let Some(key) = idempotency {
                        if let Some(room) = self.find_idempotent_room(app_id, key, now).await? {
                            return Ok(CreatedRoom {
                                room,
                                replayed: true,
                            });
                        }
                    }
                    Err(StoreError::Conflict)
                } else if failed(2) {
                    Err(StoreError::LivesPerDay {
                        day,
                        max: limits.max_lives_per_day,
                    })
                } else {
                    Err(StoreError::Conflict)
                }
            }
        }
    }

    /// Replaces `old` with `new` (same app and room) if `old` is still what is stored
    /// (same version), moving the quota day when the start day changes.
    pub async fn replace_room(
        &self,
        old: &Room,
        new: &Room,
        limits: &CreateLimits,
    ) -> Result<Room, StoreError> {
        let mut new = new.clone();
        new.version = old.version + 1;
        let mut items = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(self.table.name())
                    .set_item(Some(room_item(&new)?))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(old.version))
                    .build()
                    .map_err(build_err)?,
            )
            .build()];
        let old_day = quota_day(old.start_time, limits.quota_utc_offset_minutes);
        let new_day = quota_day(new.start_time, limits.quota_utc_offset_minutes);
        let day_moves = old_day != new_day;
        if day_moves {
            items.push(self.quota_update(
                &old.app_id,
                &new_day,
                1,
                limits,
                new.end_time + 2 * 86_400,
            )?);
            items.push(self.quota_update(
                &old.app_id,
                &old_day,
                -1,
                limits,
                old.end_time + 2 * 86_400,
            )?);
        }
        match self
            .table
            .transact(items, "TransactWriteItems replace room")
            .await?
        {
            Ok(()) => Ok(new),
            Err(codes) => {
                if day_moves && codes.get(1).is_some_and(|c| c == "ConditionalCheckFailed") {
                    Err(StoreError::LivesPerDay {
                        day: new_day,
                        max: limits.max_lives_per_day,
                    })
                } else {
                    Err(StoreError::Conflict)
                }
            }
        }
    }

    /// Deletes `room` and its live-session item if it is unchanged since read (same version).
    /// A room that never went live gives its quota-day slot back.
    pub async fn delete_room(&self, room: &Room, limits: &CreateLimits) -> Result<(), StoreError> {
        let delete = |key: Item| {
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(self.table.name())
                .set_key(Some(key))
        };
        let mut items = vec![TransactWriteItem::builder()
            .delete(
                delete(Table::key(
                    keys::app_pk(&room.app_id),
                    keys::room_sk(room.room_id),
                ))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(room.version))
                .build()
                .map_err(build_err)?,
            )
            .build()];
        if room.live_item.version > 0 {
            items.push(
                TransactWriteItem::builder()
                    .delete(
                        delete(crate::lifecycle::live_key(&room.app_id, room.room_id))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        items.push(self.table.counts_update(
            &room.app_id,
            &[
                ("total".to_string(), -1),
                (keys::status_count_attr(room.live_status), -1),
            ],
            None,
        )?);
        if room.live_status == LiveStatus::NotStarted {
            let day = quota_day(room.start_time, limits.quota_utc_offset_minutes);
            items.push(self.quota_update(
                &room.app_id,
                &day,
                -1,
                limits,
                room.end_time + 2 * 86_400,
            )?);
        }
        match self
            .table
            .transact(items, "TransactWriteItems delete room")
            .await?
        {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// The app's room counts: total, and per status.
    pub async fn room_count(&self, app_id: &str, status: Option<LiveStatus>) -> Result<u64, Error> {
        let Some(item) = self
            .table
            .get(keys::app_pk(app_id), keys::COUNTS_SK, "GetItem counts")
            .await?
        else {
            return Ok(0);
        };
        let attr = status.map_or_else(|| "total".to_string(), keys::status_count_attr);
        let v: i64 = ItemReader::new(&item).n_or(&attr, 0)?;
        Ok(v.max(0) as u64)
    }

    /// A page of an app's rooms, newest `start_time` first, optionally in one status. Served
    /// by Queries on a GSI: the first `start` rooms are skipped with `Select=COUNT` queries
    /// (no items transferred), then one page is read.
    pub async fn list_rooms(
        &self,
        app_id: &str,
        status: Option<LiveStatus>,
        start: u64,
        limit: u32,
    ) -> Result<RoomPage, Error> {
        let total = self.room_count(app_id, status).await?;
        let (index, hash) = match status {
            None => (table::GSI_ROOMS_BY_START, keys::rooms_by_start_pk(app_id)),
            Some(st) => (
                table::GSI_ROOMS_BY_STATUS,
                keys::rooms_by_status_pk(app_id, st),
            ),
        };
        let query = || {
            self.table
                .client()
                .query()
                .table_name(self.table.name())
                .index_name(index.name)
                .key_condition_expression("#h = :h")
                .expression_attribute_names("#h", index.hash_key)
                .expression_attribute_values(":h", s(&hash))
                .scan_index_forward(false)
        };
        let mut exclusive_start: Option<Item> = None;
        let mut skipped = 0u64;
        while skipped < start {
            let want = (start - skipped).min(1000) as i32;
            let out = query()
                .select(Select::Count)
                .limit(want)
                .set_exclusive_start_key(exclusive_start.take())
                .send()
                .await
                .map_err(sdk_err("Query count"))?;
            skipped += out.count.max(0) as u64;
            match out.last_evaluated_key {
                Some(k) => exclusive_start = Some(k),
                None => {
                    return Ok(RoomPage {
                        total,
                        rooms: Vec::new(),
                    })
                }
            }
        }
        // The index projects keys only: the page's ids, then their items.
        let mut ids = Vec::with_capacity(limit as usize);
        while ids.len() < limit as usize {
            let out = query()
                .limit((limit as usize - ids.len()) as i32)
                .set_exclusive_start_key(exclusive_start.take())
                .send()
                .await
                .map_err(sdk_err("Query rooms"))?;
            for item in out.items.unwrap_or_default() {
                let sk = ItemReader::new(&item).s(SK)?;
                ids.push(keys::parse_room_sk(&sk).ok_or_else(|| Error::CorruptItem {
                    key: format!("{}/{sk}", keys::app_pk(app_id)),
                    what: format!("{sk:?} in index {} is not a room key", index.name),
                })?);
            }
            match out.last_evaluated_key {
                Some(k) => exclusive_start = Some(k),
                None => break,
            }
        }
        let mut rooms = self.get_rooms(app_id, &ids).await?;
        // A room read in another status than its index entry (it changed since, or the
        // eventually consistent read lags) is not listed under that status.
        rooms.retain(|r| status.is_none_or(|st| r.live_status == st));
        Ok(RoomPage { total, rooms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_items_round_trip() {
        let req: zhibo_core::room::CreateRoom = serde_json::from_value(serde_json::json!({
            "name": "r", "anchor_name": "a", "start_time": 1_000, "end_time": 4_600,
            "cover_img": "https://example.com/c.png", "close_like": true,
            "goods": [{"cover_img": "https://example.com/g.png", "url": "pages/g", "price": 5, "name": "g"}],
        }))
        .expect("create request");
        let room = Room::new("demo", 7, req, 900);
        let item = room_item(&room).expect("room item");
        // No lifecycle on the room item: a heartbeat never has to rewrite it.
        for attr in crate::LIFECYCLE_ATTRS {
            assert!(!item.contains_key(attr), "{attr} on the room item");
        }
        // 102 keeps its end_time timer on the room item.
        assert!(item.contains_key(table::GSI_DUE.range_key));
        assert_eq!(room_from_items(&item, None).expect("read back"), room);
        // Once live, the timer is the live item's.
        let mut live = room.clone();
        live.live_status = LiveStatus::Ended;
        assert!(!room_item(&live)
            .expect("room item")
            .contains_key(table::GSI_DUE.range_key));
    }

    #[test]
    fn an_idempotency_key_holds_until_its_expiry() {
        let stored = 1_000 + IDEMPOTENCY_TTL_S;
        assert!(!idempotency_expired(stored, 1_000));
        assert!(!idempotency_expired(stored, stored));
        assert!(idempotency_expired(stored, stored + 1));
    }

    fn room() -> Room {
        let req: zhibo_core::room::CreateRoom = serde_json::from_value(serde_json::json!({
            "name": "r", "anchor_name": "a", "start_time": 1_000, "end_time": 4_600,
        }))
        .expect("create request");
        Room::new("demo", 7, req, 900)
    }

    #[test]
    fn a_malformed_room_item_names_the_attribute() {
        use crate::item::testing::{assert_names, ill_typed, without};
        let item = room_item(&room()).expect("room item");
        for attr in [
            "app_id",
            "room_id",
            "name",
            "anchor_name",
            "start_time",
            "end_time",
            "goods",
            "live_status",
            "created_at",
            "updated_at",
            "version",
        ] {
            assert_names(room_from_items(&without(&item, attr), None), attr);
            assert_names(room_from_items(&ill_typed(&item, attr), None), attr);
        }
        for attr in ["cover_img", "close_like", "close_comment", "close_replay"] {
            assert_names(room_from_items(&ill_typed(&item, attr), None), attr);
        }
        let mut bad = item.clone();
        bad.insert("live_status".into(), n(108));
        assert_names(room_from_items(&bad, None), "live_status");
        bad = item.clone();
        bad.insert("goods".into(), s("{not json"));
        assert_names(room_from_items(&bad, None), "goods");
    }

    #[test]
    fn idempotency_items_round_trip() {
        let key = IdempotencyKey {
            key: "order-1".into(),
            body_sha256: "ab".repeat(32),
        };
        let item = idempotency_item("demo", &key, 7, 1_000);
        assert_eq!(
            idempotency_from_item(&item).expect("read back"),
            (7, key.body_sha256.clone(), 1_000 + IDEMPOTENCY_TTL_S)
        );
        use crate::item::testing::{assert_names, ill_typed, without};
        for attr in ["room_id", "body_sha256", TTL_ATTR] {
            assert_names(idempotency_from_item(&without(&item, attr)), attr);
            assert_names(idempotency_from_item(&ill_typed(&item, attr)), attr);
        }
    }
}
