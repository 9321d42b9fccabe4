//! Indexed replays: the replay item, written in one transaction with the room's next event
//! `seq` and the `replay.ready` outbox event, so a replay is never recorded without its event
//! nor announced twice (the put is conditioned on the replay not existing).

use crate::item::{n, s, Item, ItemReader};
use crate::table::{build_err, sdk_err};
use crate::{StoreError, Table};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use std::collections::HashMap;
use zhibo_core::error::Error;
use zhibo_core::replay::Replay;
use zhibo_core::room::RoomId;
use zhibo_core::table::{keys, PK, SK, TTL_ATTR};
use zhibo_core::webhook::WebhookEvent;

/// How often a record that lost a race with a room change is redone.
const RECORD_RETRIES: usize = 8;
/// Attribute set while the replay's EventBridge event has not been sent.
const EVENTBRIDGE_PENDING: &str = "eventbridge_pending";

/// What [`ReplayStore::record_replay`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedReplay {
    /// Recorded now, with this `replay.ready` event in the outbox.
    Recorded(WebhookEvent),
    /// It was recorded before (a redelivered S3 event); `eventbridge_pending` tells whether
    /// its EventBridge event still has to be sent.
    AlreadyRecorded {
        /// The stored replay.
        replay: Replay,
        /// Its `replay.ready` event as first written.
        event: Option<WebhookEvent>,
        /// Its EventBridge event was not confirmed sent.
        eventbridge_pending: bool,
    },
    /// The room does not exist (deleted after its live): nothing recorded.
    RoomMissing,
    /// The room has `close_replay` set: nothing recorded, nothing announced.
    ReplayClosed,
}

/// A page of a room's replays.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPage {
    /// Replays of the room that have not expired.
    pub total: u64,
    /// The page, newest first.
    pub replays: Vec<Replay>,
}

fn replay_item(r: &Replay, event: &WebhookEvent) -> Result<Item, Error> {
    let body = serde_json::to_string(event).map_err(|e| Error::CorruptItem {
        key: keys::replay_sk(r.room_id, &r.replay_id),
        what: format!("event not serializable: {e}"),
    })?;
    Ok(HashMap::from([
        (PK.into(), s(keys::app_pk(&r.app_id))),
        (SK.into(), s(keys::replay_sk(r.room_id, &r.replay_id))),
        ("type".into(), s("replay")),
        ("app_id".into(), s(&r.app_id)),
        ("room_id".into(), n(r.room_id)),
        ("replay_id".into(), s(&r.replay_id)),
        ("playlist_key".into(), s(&r.playlist_key)),
        ("create_time".into(), n(r.create_time)),
        ("end_time".into(), n(r.end_time)),
        ("expire_time".into(), n(r.expire_time)),
        ("duration_s".into(), n(r.duration_s)),
        ("segments".into(), n(r.segments)),
        ("size_bytes".into(), n(r.size_bytes)),
        ("discontinuities".into(), n(r.discontinuities)),
        ("indexed_at_ms".into(), n(r.indexed_at_ms)),
        ("event_id".into(), s(&r.event_id)),
        (EVENTBRIDGE_PENDING.into(), AttributeValue::Bool(true)),
        (TTL_ATTR.into(), n(r.expire_time)),
        ("event".into(), s(body)),
    ]))
}

fn replay_from_item(item: &Item) -> Result<Replay, Error> {
    let r = ItemReader::new(item);
    Ok(Replay {
        app_id: r.s("app_id")?,
        room_id: r.n("room_id")?,
        replay_id: r.s("replay_id")?,
        playlist_key: r.s("playlist_key")?,
        create_time: r.n("create_time")?,
        end_time: r.n("end_time")?,
        expire_time: r.n("expire_time")?,
        duration_s: r.n("duration_s")?,
        segments: r.n("segments")?,
        size_bytes: r.n("size_bytes")?,
        discontinuities: r.n_or("discontinuities", 0)?,
        indexed_at_ms: r.n("indexed_at_ms")?,
        event_id: r.s("event_id")?,
    })
}

/// Indexed replays of rooms.
#[derive(Debug, Clone)]
pub struct ReplayStore {
    table: Table,
}

impl ReplayStore {
    /// Replays in `table`.
    pub fn new(table: Table) -> ReplayStore {
        ReplayStore { table }
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Records `replay` with its `replay.ready` event, made by `event(seq)` for the room's next
    /// event `seq`: the replay item (refused if it exists), the room's `event_seq` (conditioned
    /// on the room's version, redone from a fresh read when a status change won) and the outbox
    /// event, in one transaction.
    pub async fn record_replay(
        &self,
        replay: &Replay,
        event: impl Fn(u64) -> WebhookEvent,
        now_ms: i64,
    ) -> Result<RecordedReplay, StoreError> {
        for _ in 0..RECORD_RETRIES {
            let Some(room) =
                crate::rooms::read_room(&self.table, &replay.app_id, replay.room_id).await?
            else {
                // A redelivery after the room was deleted still finds the replay.
                return Ok(match self.get_replay_item(replay).await? {
                    Some(found) => found,
                    None => RecordedReplay::RoomMissing,
                });
            };
            if room.close_replay {
                return Ok(RecordedReplay::ReplayClosed);
            }
            let seq = room.lifecycle.event_seq + 1;
            let ev = event(seq);
            let put = Put::builder()
                .table_name(self.table.name())
                .set_item(Some(replay_item(replay, &ev)?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            // The room as read (close_replay) must still hold; the event seq is the live
            // item's, which every status change also writes.
            let unchanged = ConditionCheck::builder()
                .table_name(self.table.name())
                .key(PK, s(keys::app_pk(&room.app_id)))
                .key(SK, s(keys::room_sk(room.room_id)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(room.version))
                .build()
                .map_err(build_err)?;
            let mut items = vec![
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder()
                    .update(crate::lifecycle::event_seq_update(&self.table, &room, seq)?)
                    .build(),
                TransactWriteItem::builder()
                    .condition_check(unchanged)
                    .build(),
            ];
            items.extend(crate::outbox::outbox_writes(
                &self.table,
                &room.app_id,
                room.room_id,
                std::slice::from_ref(&ev),
                now_ms,
            )?);
            match self
                .table
                .transact(items, "TransactWriteItems record replay")
                .await?
            {
                Ok(()) => return Ok(RecordedReplay::Recorded(ev)),
                Err(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                    return match self.get_replay_item(replay).await? {
                        Some(found) => Ok(found),
                        // Recorded and expired (TTL) in between: nothing to do either way.
                        None => Err(StoreError::Conflict),
                    };
                }
                Err(_) => continue,
            }
        }
        Err(StoreError::Conflict)
    }

    async fn get_replay_item(&self, replay: &Replay) -> Result<Option<RecordedReplay>, Error> {
        let Some(item) = self
            .table
            .get(
                keys::app_pk(&replay.app_id),
                keys::replay_sk(replay.room_id, &replay.replay_id),
                "GetItem replay",
            )
            .await?
        else {
            return Ok(None);
        };
        let r = ItemReader::new(&item);
        let event = r
            .s_opt("event")?
            .and_then(|body| serde_json::from_str::<WebhookEvent>(&body).ok());
        Ok(Some(RecordedReplay::AlreadyRecorded {
            replay: replay_from_item(&item)?,
            event,
            eventbridge_pending: r.bool_or_false(EVENTBRIDGE_PENDING)?,
        }))
    }

    /// One replay of a room, if recorded and not expired at `now`.
    pub async fn get_replay(
        &self,
        app_id: &str,
        room_id: RoomId,
        replay_id: &str,
        now: i64,
    ) -> Result<Option<Replay>, Error> {
        let item = self
            .table
            .get(
                keys::app_pk(app_id),
                keys::replay_sk(room_id, replay_id),
                "GetItem replay",
            )
            .await?;
        match item {
            Some(item) => Ok(Some(replay_from_item(&item)?).filter(|r| r.expire_time > now)),
            None => Ok(None),
        }
    }

    /// Notes that a replay's EventBridge event was sent.
    pub async fn mark_replay_published(&self, replay: &Replay) -> Result<(), Error> {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::app_pk(&replay.app_id),
                keys::replay_sk(replay.room_id, &replay.replay_id),
            )))
            .update_expression("REMOVE #p")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#p", EVENTBRIDGE_PENDING)
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception())
                {
                    Ok(())
                } else {
                    Err(sdk_err("UpdateItem replay published")(e))
                }
            })
    }

    /// A room's replays not expired at `now`, newest first: `limit` of them from `start`, and
    /// how many there are (one Query over the room's replays; a room has few). None for a room
    /// with `close_replay`.
    pub async fn list_replays(
        &self,
        room: &zhibo_core::room::Room,
        start: u64,
        limit: u32,
        now: i64,
    ) -> Result<ReplayPage, Error> {
        let mut page = ReplayPage {
            total: 0,
            replays: Vec::new(),
        };
        if room.close_replay {
            return Ok(page);
        }
        let (app_id, room_id) = (room.app_id.as_str(), room.room_id);
        let mut exclusive_start: Option<Item> = None;
        loop {
            let out = self
                .table
                .client()
                .query()
                .table_name(self.table.name())
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .filter_expression("expire_time > :now")
                .expression_attribute_values(":pk", s(keys::app_pk(app_id)))
                .expression_attribute_values(":prefix", s(keys::replay_prefix(room_id)))
                .expression_attribute_values(":now", n(now))
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(exclusive_start.take())
                .send()
                .await
                .map_err(sdk_err("Query replays"))?;
            for item in out.items() {
                if page.total >= start && page.replays.len() < limit as usize {
                    page.replays.push(replay_from_item(item)?);
                }
                page.total += 1;
            }
            match out.last_evaluated_key {
                Some(k) => exclusive_start = Some(k),
                None => return Ok(page),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::testing::{assert_names, ill_typed, without};
    use zhibo_core::webhook::EventType;

    fn replay() -> Replay {
        Replay {
            app_id: "demo".into(),
            room_id: 7,
            replay_id: "0000018c2d9f4a10abcdef".into(),
            playlist_key: "hls/demo/7/replays/r.m3u8".into(),
            create_time: 1_700_000_000,
            end_time: 1_700_003_600,
            expire_time: 1_702_592_000,
            duration_s: 3_599.5,
            segments: 900,
            size_bytes: 123_456_789,
            discontinuities: 2,
            indexed_at_ms: 1_700_003_601_234,
            event_id: "evt_1".into(),
        }
    }

    fn event() -> WebhookEvent {
        WebhookEvent {
            id: "evt_1".into(),
            kind: EventType::ReplayReady,
            created_at: 1_700_003_601,
            app_id: "demo".into(),
            room_id: 7,
            seq: 9,
            data: serde_json::json!({"replay_id": "0000018c2d9f4a10abcdef"}),
        }
    }

    #[test]
    fn replay_items_round_trip() {
        let item = replay_item(&replay(), &event()).expect("item");
        assert_eq!(replay_from_item(&item).expect("read back"), replay());
        // The event as first written, and the EventBridge flag, are kept with it.
        let r = ItemReader::new(&item);
        let stored: WebhookEvent = r.json("event").expect("event");
        assert_eq!(stored, event());
        assert!(r.bool_or_false(EVENTBRIDGE_PENDING).expect("flag"));
        assert_eq!(item.get(TTL_ATTR), Some(&n(replay().expire_time)));
        // Items written before discontinuities were counted read as 0.
        let old = without(&item, "discontinuities");
        assert_eq!(replay_from_item(&old).expect("old").discontinuities, 0);
    }

    #[test]
    fn a_malformed_replay_item_names_the_attribute() {
        let item = replay_item(&replay(), &event()).expect("item");
        for attr in [
            "app_id",
            "room_id",
            "replay_id",
            "playlist_key",
            "create_time",
            "end_time",
            "expire_time",
            "duration_s",
            "segments",
            "size_bytes",
            "indexed_at_ms",
            "event_id",
        ] {
            assert_names(replay_from_item(&without(&item, attr)), attr);
            assert_names(replay_from_item(&ill_typed(&item, attr)), attr);
        }
        assert_names(
            replay_from_item(&ill_typed(&item, "discontinuities")),
            "discontinuities",
        );
    }
}
