//! The single DynamoDB table: its definition (used to create it locally and checked against
//! `template.yaml`) and the one place that builds item keys.
//!
//! | item | pk | sk | other keys |
//! |---|---|---|---|
//! | app | `APP#{app}` | `#APP` | `next_room_id` counter |
//! | counts | `APP#{app}` | `#COUNTS` | `total`, `s101`..`s107` (maintained in every room transaction) |
//! | room | `APP#{app}` | `ROOM#{room_id:012}` | gsi1: `ROOMS#{app}` / `{start:012}#{room:012}`; gsi2: `ROOMS#{app}#{status}` / same |
//! | live session | `LIVE#{app}#{room:012}` | `#LIVE` | the room's lifecycle, a copy of its status, `lver`; gsi3 timer once it left 102 |
//! | day quota | `APP#{app}` | `QUOTA#{yyyy-mm-dd}` | `lives`, TTL |
//! | nonce | `NONCE#{app}#{nonce}` | `NONCE` | TTL |
//! | idempotency key | `IDEM#{app}#{key}` | `IDEM` | `room_id`, `body_sha256`, TTL |
//! | access token | `TOKEN#{token}` | `TOKEN` | `app_id`, TTL |
//! | webhook endpoint | `APP#{app}` | `#WEBHOOK` | `url`, `secret` |
//! | delivery record | `APP#{app}` | `DELIVERY#{event_id}` | status, attempts, last error, body, TTL |
//! | outbox queue | `OUTBOX#{app}#{room:012}` | `#QUEUE` | `ver`, lease; gsi3 while events wait |
//! | outbox event | `OUTBOX#{app}#{room:012}` | `EVT#{seq:012}` | body, attempts, next attempt |
//! | replay | `APP#{app}` | `REPLAY#{room:012}#{replay_id}` | duration, segments, bytes, TTL at `expire_time` |
//! | chat head | `CHAT#{app}#{room:012}` | `#HEAD` | `seq`: the last item's (gap-free per room); `messages`, `flood_s`/`flood_n` (flood control's second and its count), `gifts`, `gifts_value_cents` |
//! | chat item | `CHAT#{app}#{room:012}` | `ITEM#{seq:012}` | the published item (JSON), TTL with the replays |
//! | rate bucket | `RATE#{app}#{room:012}#{user}` | `RATE` | a user's message token bucket, TTL; `muted_at` (then no TTL) while muted |
//! | like window | `RATE#{app}#{room:012}#likes#{user}` | `RATE#{second}` | `hits`: a user's like batches that second, TTL |
//! | viewer presence | `CHAT#{app}#{room:012}` | `VIEWER#{user}` | `first_s`, `last_s`, TTL |
//! | viewers per minute | `CHAT#{app}#{room:012}` | `#VIEWERS#{minute:012}` | `seen` (distinct viewers), TTL |
//! | room counters | `CHAT#{app}#{room:012}` | `#COUNTERS` | `likes`, `messages_dropped`, `likes_published_s`, `viewers_unique`, `watch_time_s`, `viewers_peak`, `stats_published_s` |
//! | moderation settings | `APP#{app}` | `#MODERATION` | `blocked_words` (JSON), `updated_at` |
//! | gift order | `GIFT#{app}#{order_id}` | `GIFT` | the gift's `room_id`, request and item (JSON), TTL |
//! | status mirrored | `CHAT#{app}#{room:012}` | `STATUS#{event_seq:012}` | the `status` item of a room event, TTL |
//!
//! A heartbeat writes only the small live-session item, never the room item (whose goods may be
//! ~60 KB): status changes write both in one transaction, and every write of either is
//! conditioned on the version read. The room indexes project keys only, so a write that moves no
//! index key writes no index; a listing reads its page's items with BatchGetItem.
//!
//! gsi3 ("due work") is sparse: a room (its room item while 102, its live item after) carries `TIMER#{shard}` / `{deadline_ms:013}#{app}#{room}`
//! while one of its timers runs (the sweeper's work list), an outbox queue carries
//! `OUTBOX#{shard}` / `{due_ms:013}#{app}#{room}` while events wait (the delivery's work list).
//! Both are spread over [`DUE_SHARDS`] partitions.

use crate::live_status::LiveStatus;
use crate::room::RoomId;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// TTL attribute (unix seconds).
pub const TTL_ATTR: &str = "expires_at";

/// A global secondary index of the table (string hash and range keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// Index name.
    pub name: &'static str,
    /// Hash key attribute.
    pub hash_key: &'static str,
    /// Range key attribute.
    pub range_key: &'static str,
    /// Only the keys are projected (else every attribute). The room indexes project keys only:
    /// an index that projects a room's goods or lifecycle is rewritten by every such write.
    pub keys_only: bool,
}

/// Rooms of an app by `start_time`.
pub const GSI_ROOMS_BY_START: IndexSpec = IndexSpec {
    name: "gsi1",
    hash_key: "gsi1pk",
    range_key: "gsi1sk",
    keys_only: true,
};
/// Rooms of an app in one `live_status`, by `start_time`.
pub const GSI_ROOMS_BY_STATUS: IndexSpec = IndexSpec {
    name: "gsi2",
    hash_key: "gsi2pk",
    range_key: "gsi2sk",
    keys_only: true,
};
/// Work that falls due at a time: rooms with a running timer, outbox queues with waiting events.
pub const GSI_DUE: IndexSpec = IndexSpec {
    name: "gsi3",
    hash_key: "gsi3pk",
    range_key: "gsi3sk",
    keys_only: true,
};
/// Every GSI of the table.
pub const INDEXES: [IndexSpec; 3] = [GSI_ROOMS_BY_START, GSI_ROOMS_BY_STATUS, GSI_DUE];
/// Partitions of each due-work list in gsi3 (the sweeper and the delivery read them all).
pub const DUE_SHARDS: u32 = 8;

/// Key builders: the only code that knows the key formats.
pub mod keys {
    use super::*;

    /// `APP#{app}`.
    pub fn app_pk(app_id: &str) -> String {
        format!("APP#{app_id}")
    }
    /// The app item's sort key.
    pub const APP_SK: &str = "#APP";
    /// The counts item's sort key.
    pub const COUNTS_SK: &str = "#COUNTS";
    /// `ROOM#{room_id:012}`.
    pub fn room_sk(room_id: RoomId) -> String {
        format!("ROOM#{room_id:012}")
    }
    /// Parses a room item's sort key back into the room id.
    pub fn parse_room_sk(sk: &str) -> Option<RoomId> {
        sk.strip_prefix("ROOM#")?.parse().ok()
    }
    /// The partition of a room's live-session item.
    pub fn live_pk(app_id: &str, room_id: RoomId) -> String {
        format!("LIVE#{app_id}#{room_id:012}")
    }
    /// The live-session item's sort key.
    pub const LIVE_SK: &str = "#LIVE";
    /// gsi1 hash key of an app's rooms.
    pub fn rooms_by_start_pk(app_id: &str) -> String {
        format!("ROOMS#{app_id}")
    }
    /// gsi2 hash key of an app's rooms in one status.
    pub fn rooms_by_status_pk(app_id: &str, status: LiveStatus) -> String {
        format!("ROOMS#{app_id}#{}", status.code())
    }
    /// Range key of both room indexes: start time then room id, zero-padded so strings sort
    /// as numbers.
    pub fn room_start_sk(start_time: i64, room_id: RoomId) -> String {
        format!("{:012}#{room_id:012}", start_time.max(0))
    }
    /// `QUOTA#{day}`.
    pub fn quota_sk(day: &str) -> String {
        format!("QUOTA#{day}")
    }
    /// A request nonce's partition key.
    pub fn nonce_pk(app_id: &str, nonce: &str) -> String {
        format!("NONCE#{app_id}#{nonce}")
    }
    /// An idempotency key's partition key.
    pub fn idempotency_pk(app_id: &str, key: &str) -> String {
        format!("IDEM#{app_id}#{key}")
    }
    /// An access token's partition key.
    pub fn token_pk(token: &str) -> String {
        format!("TOKEN#{token}")
    }
    /// The due-work shard of a room (FNV-1a of its stream name).
    pub fn due_shard(app_id: &str, room_id: RoomId) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in crate::room::stream_name(app_id, room_id).bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        h % DUE_SHARDS
    }
    /// gsi3 hash key of the rooms whose timers run, in one shard.
    pub fn timer_pk(shard: u32) -> String {
        format!("TIMER#{shard}")
    }
    /// gsi3 hash key of the outbox queues with waiting events, in one shard.
    pub fn outbox_due_pk(shard: u32) -> String {
        format!("OUTBOX#{shard}")
    }
    /// gsi3 range key: when the work is due (unix ms), then which room.
    pub fn due_sk(due_ms: i64, app_id: &str, room_id: RoomId) -> String {
        format!("{:013}#{app_id}#{room_id:012}", due_ms.max(0))
    }
    /// Upper bound of the gsi3 range keys due at or before `now_ms`.
    pub fn due_sk_until(now_ms: i64) -> String {
        format!("{:013}#~", now_ms.max(0))
    }
    /// Parses a gsi3 range key back into (due ms, app, room).
    pub fn parse_due_sk(sk: &str) -> Option<(i64, &str, RoomId)> {
        let mut parts = sk.splitn(3, '#');
        let due = parts.next()?.parse().ok()?;
        let app = parts.next()?;
        let room = parts.next()?.parse().ok()?;
        Some((due, app, room))
    }
    /// The webhook endpoint item's sort key.
    pub const WEBHOOK_SK: &str = "#WEBHOOK";
    /// A delivery record's sort key.
    pub fn delivery_sk(event_id: &str) -> String {
        format!("DELIVERY#{event_id}")
    }
    /// Sort key prefix of every delivery record.
    pub const DELIVERY_PREFIX: &str = "DELIVERY#";
    /// The partition of a room's outbox.
    pub fn outbox_pk(app_id: &str, room_id: RoomId) -> String {
        format!("OUTBOX#{app_id}#{room_id:012}")
    }
    /// The outbox queue item's sort key.
    pub const OUTBOX_QUEUE_SK: &str = "#QUEUE";
    /// An outbox event's sort key (events sort by their room `seq`).
    pub fn outbox_event_sk(seq: u64) -> String {
        format!("EVT#{seq:012}")
    }
    /// Sort key prefix of every outbox event.
    pub const OUTBOX_EVENT_PREFIX: &str = "EVT#";
    /// A replay's sort key (a room's replays sort by their time-ordered id).
    pub fn replay_sk(room_id: RoomId, replay_id: &str) -> String {
        format!("{}{replay_id}", replay_prefix(room_id))
    }
    /// A room's audience items (its head and its items).
    pub fn chat_pk(app_id: &str, room_id: RoomId) -> String {
        format!("CHAT#{app_id}#{room_id:012}")
    }
    /// The chat head's sort key (the last `seq`).
    pub const CHAT_HEAD_SK: &str = "#HEAD";
    /// The room's audience counters' sort key (likes, messages).
    pub const CHAT_COUNTERS_SK: &str = "#COUNTERS";
    /// Sort key prefix of a room's items.
    pub const CHAT_ITEM_PREFIX: &str = "ITEM#";
    /// A chat item's sort key.
    pub fn chat_item_sk(seq: u64) -> String {
        format!("{CHAT_ITEM_PREFIX}{seq:012}")
    }
    /// A user's rate bucket in a room (`user_id` is 1-64 bytes, no control characters).
    pub fn rate_pk(app_id: &str, room_id: RoomId, user_id: &str) -> String {
        format!("RATE#{app_id}#{room_id:012}#{user_id}")
    }
    /// The rate bucket's sort key.
    pub const RATE_SK: &str = "RATE";
    /// A viewer's presence record in the room's chat partition (`first_s`, `last_s`).
    pub fn viewer_sk(user_id: &str) -> String {
        format!("VIEWER#{user_id}")
    }
    /// A minute's distinct-viewer count in the room's chat partition (`seen`).
    pub fn viewers_bucket_sk(bucket: i64) -> String {
        format!("#VIEWERS#{bucket:012}")
    }
    /// A gift's order record (`order_id`: 1-64 of `A-Za-z0-9_-.:#`): one gift per order per app.
    pub fn gift_order_pk(app_id: &str, order_id: &str) -> String {
        format!("GIFT#{app_id}#{order_id}")
    }
    /// The gift order record's sort key.
    pub const GIFT_ORDER_SK: &str = "GIFT";
    /// The record that room event `event_seq` was mirrored as a `status` item (chat partition).
    pub fn chat_status_sk(event_seq: u64) -> String {
        format!("STATUS#{event_seq:012}")
    }
    /// The app's moderation settings' sort key (in the app partition).
    pub const MODERATION_SK: &str = "#MODERATION";
    /// Sort key prefix of a room's replays.
    pub fn replay_prefix(room_id: RoomId) -> String {
        format!("REPLAY#{room_id:012}#")
    }
    /// The counts attribute of one status, e.g. `s101`.
    pub fn status_count_attr(status: LiveStatus) -> String {
        format!("s{}", status.code())
    }
}

/// The quota day (`yyyy-mm-dd`) that unix time `t` falls on at UTC offset `offset_minutes`.
pub fn quota_day(t: i64, offset_minutes: i32) -> String {
    let local = utc(t.saturating_add(i64::from(offset_minutes) * 60));
    format!(
        "{:04}-{:02}-{:02}",
        local.year(),
        u8::from(local.month()),
        local.day()
    )
}

/// ISO 8601 UTC with seconds, e.g. `2020-11-11T03:49:55Z` (WeChat's replay times).
pub fn iso8601_utc(t: i64) -> String {
    let at = utc(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Unix time `t` as a UTC date and time, clamped to the years -9999..=9999 the calendar covers.
fn utc(t: i64) -> time::OffsetDateTime {
    let min = time::PrimitiveDateTime::MIN.assume_utc().unix_timestamp();
    let max = time::PrimitiveDateTime::MAX.assume_utc().unix_timestamp();
    time::OffsetDateTime::from_unix_timestamp(t.clamp(min, max))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times() {
        assert_eq!(quota_day(0, 0), "1970-01-01");
        // 2026-11-23 16:00 UTC is 2026-11-24 00:00 in UTC+8.
        assert_eq!(quota_day(1_795_449_600, 480), "2026-11-24");
        assert_eq!(quota_day(1_795_449_600 - 1, 480), "2026-11-23");
        assert_eq!(quota_day(1_795_449_600, 0), "2026-11-23");
        assert_eq!(iso8601_utc(1_605_066_595), "2020-11-11T03:49:55Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(-1), "1969-12-31T23:59:59Z");
        // Out of the calendar's range: clamped, never a panic.
        assert_eq!(iso8601_utc(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(quota_day(i64::MIN, -720), "-9999-01-01");
    }

    #[test]
    fn due_keys_sort_by_time_and_parse_back() {
        let a = keys::due_sk(999, "demo", 7);
        let b = keys::due_sk(1000, "demo", 3);
        assert!(a < b);
        assert!(b <= keys::due_sk_until(1000));
        assert!(keys::due_sk(1001, "demo", 1) > keys::due_sk_until(1000));
        assert_eq!(keys::parse_due_sk(&b), Some((1000, "demo", 3)));
        assert!(keys::due_shard("demo", 7) < DUE_SHARDS);
    }

    #[test]
    fn sort_keys_sort_numerically() {
        let a = keys::room_start_sk(999, 5);
        let b = keys::room_start_sk(1000, 1);
        assert!(a < b);
        assert!(keys::room_sk(9) < keys::room_sk(10));
        assert_eq!(keys::parse_room_sk(&keys::room_sk(42)), Some(42));
        assert_eq!(keys::parse_room_sk("REPLAY#000000000042"), None);
    }
}
