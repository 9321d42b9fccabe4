//! Viewer numbers (docs/api.md "Audience interaction"): presence reports recorded with O(1)
//! writes each ([`zhibo_core::audience::presence`] says what a report adds), the room's
//! [`RoomStats`], and the `stats` item published at most every
//! [`STATS_EVERY_S`](zhibo_core::audience::presence::STATS_EVERY_S) seconds per room across every
//! function instance (a conditional election on the counters item, as for `likes`).

use crate::chat::RoomCounters;
use crate::item::{n, ItemReader};
use crate::table::{is_condition_failure, sdk_err};
use crate::ChatStore;
use zhibo_core::audience::presence::{
    bucket_of, report_effect, viewers_now, ReportEffect, RoomStats, MIN_REPORT_GAP_S, STATS_EVERY_S,
};
use zhibo_core::error::Error;
use zhibo_core::room::RoomId;
use zhibo_core::table::{keys, TTL_ATTR};

/// Minute counts outlive their minute by this long (then TTL removes them).
const BUCKET_TTL_S: i64 = 3600;

impl ChatStore {
    /// Records a presence report of `user_id` at `now_s`; `None` when it came less than
    /// [`MIN_REPORT_GAP_S`] after the user's last one (nothing written). The presence record
    /// expires at `expires_at` (with the room's history).
    pub async fn record_presence(
        &self,
        app_id: &str,
        room_id: RoomId,
        user_id: &str,
        now_s: i64,
        expires_at: i64,
    ) -> Result<Option<ReportEffect>, Error> {
        let pk = keys::chat_pk(app_id, room_id);
        let res = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(crate::Table::key(
                pk.clone(),
                keys::viewer_sk(user_id),
            )))
            .update_expression(
                "SET last_s = :now, first_s = if_not_exists(first_s, :now), #ttl = :ttl",
            )
            .condition_expression("attribute_not_exists(last_s) OR last_s <= :recent")
            .expression_attribute_names("#ttl", TTL_ATTR)
            .expression_attribute_values(":now", n(now_s))
            .expression_attribute_values(":recent", n(now_s - MIN_REPORT_GAP_S))
            .expression_attribute_values(":ttl", n(expires_at))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
            .send()
            .await;
        let old = match res {
            Ok(out) => out.attributes,
            Err(e) if is_condition_failure(&e) => return Ok(None),
            Err(e) => return Err(sdk_err("UpdateItem viewer presence")(e)),
        };
        let last_s = match &old {
            Some(item) => ItemReader::new(item).n_opt("last_s")?,
            None => None,
        };
        let effect = report_effect(last_s, now_s);
        if effect.unique > 0 || effect.watch_s > 0 {
            self.table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(crate::Table::key(pk.clone(), keys::CHAT_COUNTERS_SK)))
                .update_expression("ADD viewers_unique :u, watch_time_s :w")
                .expression_attribute_values(":u", n(effect.unique))
                .expression_attribute_values(":w", n(effect.watch_s))
                .send()
                .await
                .map_err(sdk_err("UpdateItem viewer counters"))?;
        }
        if effect.new_in_bucket {
            let bucket = bucket_of(now_s);
            self.table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(crate::Table::key(pk, keys::viewers_bucket_sk(bucket))))
                .update_expression("ADD seen :one SET #ttl = :ttl")
                .expression_attribute_names("#ttl", TTL_ATTR)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":ttl", n(now_s + BUCKET_TTL_S))
                .send()
                .await
                .map_err(sdk_err("UpdateItem viewers per minute"))?;
        }
        Ok(Some(effect))
    }

    /// Distinct viewers of this and the last minute ([`viewers_now`]).
    async fn viewers_now(&self, app_id: &str, room_id: RoomId, now_s: i64) -> Result<u64, Error> {
        let bucket = bucket_of(now_s);
        let mut counts = [0u64; 2];
        for (i, b) in [bucket, bucket - 1].into_iter().enumerate() {
            if let Some(item) = self
                .table
                .get(
                    keys::chat_pk(app_id, room_id),
                    keys::viewers_bucket_sk(b),
                    "GetItem viewers per minute",
                )
                .await?
            {
                counts[i] = ItemReader::new(&item).n_or("seen", 0)?;
            }
        }
        Ok(viewers_now(counts[0], counts[1]))
    }

    /// The room's figures at `now_s`; a `viewers_now` above the recorded peak raises it.
    pub async fn room_stats(
        &self,
        app_id: &str,
        room_id: RoomId,
        now_s: i64,
    ) -> Result<RoomStats, Error> {
        let counters = self.counters(app_id, room_id).await?;
        let now = self.viewers_now(app_id, room_id, now_s).await?;
        if now > counters.viewers_peak {
            let now = i64::try_from(now).unwrap_or(i64::MAX);
            self.set_counter_if_below(
                app_id,
                room_id,
                "viewers_peak",
                now,
                now,
                "UpdateItem viewers peak",
            )
            .await?;
        }
        Ok(stats_of(&counters, now))
    }

    /// Claims this room's next `stats` item: true for one caller per
    /// [`STATS_EVERY_S`] seconds, across every instance.
    pub async fn claim_stats_item(
        &self,
        app_id: &str,
        room_id: RoomId,
        now_s: i64,
    ) -> Result<bool, Error> {
        // `stats_published_s <= now - STATS_EVERY_S`, i.e. below `now - STATS_EVERY_S + 1`.
        self.set_counter_if_below(
            app_id,
            room_id,
            "stats_published_s",
            now_s,
            now_s - STATS_EVERY_S + 1,
            "UpdateItem stats election",
        )
        .await
    }

    /// Sets `attr` of the room's counters item to `value` if it is absent or below `below`
    /// (one conditional write); false when it was not.
    async fn set_counter_if_below(
        &self,
        app_id: &str,
        room_id: RoomId,
        attr: &'static str,
        value: i64,
        below: i64,
        op: &'static str,
    ) -> Result<bool, Error> {
        let res = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(crate::Table::key(
                keys::chat_pk(app_id, room_id),
                keys::CHAT_COUNTERS_SK,
            )))
            .update_expression("SET #a = :value")
            .condition_expression("attribute_not_exists(#a) OR #a < :below")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":value", n(value))
            .expression_attribute_values(":below", n(below))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err(op)(e)),
        }
    }
}

/// The figures from the counters and the viewers now.
pub fn stats_of(c: &RoomCounters, viewers_now: u64) -> RoomStats {
    RoomStats {
        viewers_now,
        viewers_peak: c.viewers_peak.max(viewers_now),
        viewers_unique: c.viewers_unique,
        watch_time_s: c.watch_time_s,
        likes: c.likes,
        messages: c.messages,
        messages_dropped: c.messages_dropped,
        gifts: c.gifts,
        gifts_value_cents: c.gifts_value_cents,
    }
}

/// Publishes the room's `stats` item when this call wins the room's
/// [`STATS_EVERY_S`]-second election and the room is live (stored first with its `seq`, like
/// every item; a failed publish is logged: subscribers fill the gap from the history). The
/// item, when one was made.
#[cfg(feature = "realtime")]
pub async fn publish_stats_if_due(
    deps: &crate::Deps,
    room: &zhibo_core::room::Room,
    now_ms: i64,
) -> Result<Option<zhibo_core::audience::item::RoomItem>, crate::StoreError> {
    use zhibo_core::audience::item::{ItemType, RoomItem};
    if room.live_status != zhibo_core::LiveStatus::Live || deps.realtime.is_none() {
        return Ok(None);
    }
    let (app_id, room_id) = (room.app_id.as_str(), room.room_id);
    let now_s = now_ms.div_euclid(1000);
    if !deps.chat.claim_stats_item(app_id, room_id, now_s).await? {
        return Ok(None);
    }
    let stats = deps.chat.room_stats(app_id, room_id, now_s).await?;
    let data = serde_json::to_value(stats).unwrap_or_default();
    let offset_ms = room.lifecycle.offset_ms(now_ms);
    let expires_at = now_s + deps.config.replay_ttl_days * 86_400;
    let item = deps
        .chat
        .append(app_id, room_id, expires_at, |seq| RoomItem {
            id: format!("s{seq}_{}", zhibo_core::ids::random_hex(5)),
            seq,
            kind: ItemType::Stats,
            at_ms: now_ms,
            offset_ms,
            user: None,
            data: data.clone(),
            deleted: false,
        })
        .await?;
    if let (Some(publisher), Ok(event)) = (&deps.realtime, serde_json::to_string(&item)) {
        let channel = zhibo_core::audience::channel::room_channel(app_id, room_id);
        if let Err(e) = publisher.publish(&channel, &[event]).await {
            tracing::warn!(app_id, room_id, seq = item.seq, error = %e, "stats publish failed; the item is in the history");
        }
    }
    Ok(Some(item))
}
