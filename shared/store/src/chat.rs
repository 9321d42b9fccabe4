//! A room's audience items (docs/api.md "Audience interaction"): appended with a gap-free `seq`
//! and kept as the room's history, and the per-user rate buckets that hold across concurrent
//! Lambdas.
//!
//! Append: read the head's `seq`, then one transaction moves the head from it to `seq + 1`
//! (conditioned on the value read) and puts the item at `seq + 1` (conditioned on not
//! existing). Two writers never get the same `seq`, and a crash leaves either both or neither,
//! so `seq` has no gap. Rate buckets are written back conditioned on the state read.

use crate::item::{n, s, Item, ItemReader};
use crate::table::{build_err, is_condition_failure, sdk_err};
use crate::{StoreError, Table};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use std::collections::HashMap;
use zhibo_core::audience::item::RoomItem;
use zhibo_core::audience::rate_limit::{Bucket, Limit, RetryAfter};
use zhibo_core::error::Error;
use zhibo_core::room::RoomId;
use zhibo_core::table::{keys, PK, SK, TTL_ATTR};

/// How often an append that lost the race for a `seq` is redone.
const APPEND_RETRIES: usize = 20;
/// How often a rate bucket write that lost a race is redone.
const RATE_RETRIES: usize = 10;
/// Rate buckets outlive their last use by this long (then TTL removes them).
const RATE_TTL_S: i64 = 3600;
/// Largest page of history.
pub const MAX_HISTORY_PAGE: u32 = 100;

/// A room's audience items and its users' rate buckets.
#[derive(Debug, Clone)]
pub struct ChatStore {
    table: Table,
}

impl ChatStore {
    /// Items in `table`.
    pub fn new(table: Table) -> ChatStore {
        ChatStore { table }
    }

    /// Appends the item `build(seq)` makes with the room's next `seq`; kept until
    /// `expires_at` (Unix seconds). Returns the item as stored.
    pub async fn append(
        &self,
        app_id: &str,
        room_id: RoomId,
        expires_at: i64,
        build: impl Fn(u64) -> RoomItem,
    ) -> Result<RoomItem, StoreError> {
        let pk = keys::chat_pk(app_id, room_id);
        for _ in 0..APPEND_RETRIES {
            let head = self
                .table
                .get(pk.clone(), keys::CHAT_HEAD_SK, "GetItem chat head")
                .await?;
            let last: u64 = match &head {
                Some(item) => ItemReader::new(item).n("seq")?,
                None => 0,
            };
            let item = build(last + 1);
            let body = serde_json::to_string(&item).map_err(|e| Error::CorruptItem {
                key: keys::chat_item_sk(item.seq),
                what: format!("item not serializable: {e}"),
            })?;
            let head_update = Update::builder()
                .table_name(self.table.name())
                .key(PK, s(&pk))
                .key(SK, s(keys::CHAT_HEAD_SK))
                .update_expression("SET seq = :next")
                .condition_expression(if last == 0 {
                    "attribute_not_exists(seq)"
                } else {
                    "seq = :last"
                })
                .expression_attribute_values(":next", n(last + 1));
            let head_update = if last == 0 {
                head_update
            } else {
                head_update.expression_attribute_values(":last", n(last))
            }
            .build()
            .map_err(build_err)?;
            let put = Put::builder()
                .table_name(self.table.name())
                .set_item(Some(HashMap::from([
                    (PK.into(), s(&pk)),
                    (SK.into(), s(keys::chat_item_sk(item.seq))),
                    ("type".into(), s("chat_item")),
                    ("seq".into(), n(item.seq)),
                    ("item".into(), s(body)),
                    (TTL_ATTR.into(), n(expires_at)),
                ])))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            let writes = vec![
                TransactWriteItem::builder().update(head_update).build(),
                TransactWriteItem::builder().put(put).build(),
            ];
            match self
                .table
                .transact(writes, "TransactWriteItems chat append")
                .await?
            {
                Ok(()) => return Ok(item),
                // Another writer took this seq: read the head again.
                Err(_) => continue,
            }
        }
        Err(StoreError::Conflict)
    }

    /// Up to `limit` items with `seq > after_seq`, in `seq` order.
    pub async fn history(
        &self,
        app_id: &str,
        room_id: RoomId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<RoomItem>, Error> {
        let out = self
            .table
            .client()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(keys::chat_pk(app_id, room_id)))
            .expression_attribute_values(
                ":from",
                s(keys::chat_item_sk(after_seq.saturating_add(1))),
            )
            .expression_attribute_values(":to", s(keys::chat_item_sk(999_999_999_999)))
            .limit(limit.clamp(1, MAX_HISTORY_PAGE) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err("Query chat history"))?;
        out.items()
            .iter()
            .map(|item| ItemReader::new(item).json::<RoomItem>("item"))
            .collect()
    }

    /// Takes one token from `user_id`'s bucket in the room under `limit`, at `now_ms`.
    pub async fn take_rate(
        &self,
        app_id: &str,
        room_id: RoomId,
        user_id: &str,
        limit: Limit,
        now_ms: i64,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let pk = keys::rate_pk(app_id, room_id, user_id);
        for _ in 0..RATE_RETRIES {
            let current = self
                .table
                .get(pk.clone(), keys::RATE_SK, "GetItem rate bucket")
                .await?;
            let bucket = match &current {
                Some(item) => {
                    let r = ItemReader::new(item);
                    Some(Bucket {
                        milli_tokens: r.n("milli_tokens")?,
                        at_ms: r.n("at_ms")?,
                    })
                }
                None => None,
            };
            let next = match limit.take(bucket, now_ms) {
                Ok(next) => next,
                Err(wait) => return Ok(Err(wait)),
            };
            let item: Item = HashMap::from([
                (PK.into(), s(&pk)),
                (SK.into(), s(keys::RATE_SK)),
                ("milli_tokens".into(), n(next.milli_tokens)),
                ("at_ms".into(), n(next.at_ms)),
                (TTL_ATTR.into(), n(now_ms / 1000 + RATE_TTL_S)),
            ]);
            let mut put = self
                .table
                .client()
                .put_item()
                .table_name(self.table.name())
                .set_item(Some(item));
            put = match bucket {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(b) => put
                    .condition_expression("milli_tokens = :m AND at_ms = :t")
                    .expression_attribute_values(":m", n(b.milli_tokens))
                    .expression_attribute_values(":t", n(b.at_ms)),
            };
            let written = match put.send().await {
                Ok(_) => true,
                Err(e) if is_condition_failure(&e) => false,
                Err(e) => return Err(sdk_err("PutItem rate bucket")(e).into()),
            };
            if written {
                return Ok(Ok(()));
            }
        }
        Err(StoreError::Conflict)
    }

    /// Whether `user_id` is muted in the room.
    pub async fn is_muted(
        &self,
        app_id: &str,
        room_id: RoomId,
        user_id: &str,
    ) -> Result<bool, Error> {
        Ok(self
            .table
            .get(
                keys::chat_pk(app_id, room_id),
                keys::mute_sk(user_id),
                "GetItem mute",
            )
            .await?
            .is_some())
    }

    /// Mutes (or unmutes) `user_id` in the room; idempotent.
    pub async fn set_muted(
        &self,
        app_id: &str,
        room_id: RoomId,
        user_id: &str,
        muted: bool,
        now: i64,
    ) -> Result<(), Error> {
        let key = Table::key(keys::chat_pk(app_id, room_id), keys::mute_sk(user_id));
        if muted {
            let mut item = key;
            item.insert("muted_at".into(), n(now));
            self.table
                .client()
                .put_item()
                .table_name(self.table.name())
                .set_item(Some(item))
                .send()
                .await
                .map_err(sdk_err("PutItem mute"))?;
        } else {
            self.table
                .client()
                .delete_item()
                .table_name(self.table.name())
                .set_key(Some(key))
                .send()
                .await
                .map_err(sdk_err("DeleteItem mute"))?;
        }
        Ok(())
    }

    /// The item at `seq`, if stored.
    pub async fn get_item(
        &self,
        app_id: &str,
        room_id: RoomId,
        seq: u64,
    ) -> Result<Option<RoomItem>, Error> {
        match self
            .table
            .get(
                keys::chat_pk(app_id, room_id),
                keys::chat_item_sk(seq),
                "GetItem chat item",
            )
            .await?
        {
            Some(item) => Ok(Some(ItemReader::new(&item).json("item")?)),
            None => Ok(None),
        }
    }

    /// Marks the item at `seq` deleted (its data emptied); false when it was already deleted
    /// or does not exist.
    pub async fn mark_deleted(
        &self,
        app_id: &str,
        room_id: RoomId,
        item: &RoomItem,
    ) -> Result<bool, Error> {
        let mut deleted = item.clone();
        deleted.deleted = true;
        deleted.data = serde_json::json!({});
        let body = serde_json::to_string(&deleted).map_err(|e| Error::CorruptItem {
            key: keys::chat_item_sk(item.seq),
            what: format!("item not serializable: {e}"),
        })?;
        match self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::chat_pk(app_id, room_id),
                keys::chat_item_sk(item.seq),
            )))
            .update_expression("SET #item = :body, deleted = :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleted)")
            .expression_attribute_names("#item", "item")
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err("UpdateItem delete chat item")(e)),
        }
    }

    /// The app's blocked words (empty when never set).
    pub async fn blocked_words(&self, app_id: &str) -> Result<Vec<String>, Error> {
        match self
            .table
            .get(
                keys::app_pk(app_id),
                keys::MODERATION_SK,
                "GetItem moderation",
            )
            .await?
        {
            Some(item) => ItemReader::new(&item).json("blocked_words"),
            None => Ok(Vec::new()),
        }
    }

    /// Replaces the app's blocked words.
    pub async fn put_blocked_words(
        &self,
        app_id: &str,
        words: &[String],
        now: i64,
    ) -> Result<(), Error> {
        let body = serde_json::to_string(words).map_err(|e| Error::CorruptItem {
            key: keys::MODERATION_SK.into(),
            what: format!("words not serializable: {e}"),
        })?;
        let mut item = Table::key(keys::app_pk(app_id), keys::MODERATION_SK);
        item.insert("blocked_words".into(), s(body));
        item.insert("updated_at".into(), n(now));
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_err("PutItem moderation"))?;
        Ok(())
    }

    /// Adds `count` likes to the room's total (one atomic write) and, at most once per second
    /// per room across every writer, elects this call to publish the running total.
    pub async fn add_likes(
        &self,
        app_id: &str,
        room_id: RoomId,
        count: u64,
        now_s: i64,
    ) -> Result<LikesAdded, Error> {
        let key = Table::key(keys::chat_pk(app_id, room_id), keys::CHAT_COUNTERS_SK);
        let out = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key.clone()))
            .update_expression("ADD likes :c")
            .expression_attribute_values(":c", n(count))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_err("UpdateItem likes"))?;
        let attrs = out.attributes.unwrap_or_default();
        let r = ItemReader::new(&attrs);
        let total: u64 = r.n("likes")?;
        let published_s: i64 = r.n_or("likes_published_s", 0)?;
        if published_s >= now_s {
            return Ok(LikesAdded {
                total,
                publish: false,
            });
        }
        let elected = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key))
            .update_expression("SET likes_published_s = :now")
            .condition_expression(
                "attribute_not_exists(likes_published_s) OR likes_published_s < :now",
            )
            .expression_attribute_values(":now", n(now_s))
            .send()
            .await;
        let publish = match elected {
            Ok(_) => true,
            Err(e) if is_condition_failure(&e) => false,
            Err(e) => return Err(sdk_err("UpdateItem likes election")(e)),
        };
        Ok(LikesAdded { total, publish })
    }

    /// Counts one more published message in the room.
    pub async fn count_message(&self, app_id: &str, room_id: RoomId) -> Result<(), Error> {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::chat_pk(app_id, room_id),
                keys::CHAT_COUNTERS_SK,
            )))
            .update_expression("ADD messages :one")
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(sdk_err("UpdateItem message count"))?;
        Ok(())
    }

    /// The room's counters: `(likes, messages)`.
    pub async fn counters(&self, app_id: &str, room_id: RoomId) -> Result<(u64, u64), Error> {
        match self
            .table
            .get(
                keys::chat_pk(app_id, room_id),
                keys::CHAT_COUNTERS_SK,
                "GetItem counters",
            )
            .await?
        {
            Some(item) => {
                let r = ItemReader::new(&item);
                Ok((r.n_or("likes", 0)?, r.n_or("messages", 0)?))
            }
            None => Ok((0, 0)),
        }
    }

    /// Counts one action of `user_id` in the room in the current `window_s`-second window,
    /// refused past `max` in that window: one conditional atomic write, so concurrent
    /// requests never conflict (a fixed window: up to `2 * max` across a window boundary).
    pub async fn count_in_window(
        &self,
        app_id: &str,
        room_id: RoomId,
        user_id: &str,
        max: u32,
        now_ms: i64,
    ) -> Result<Result<(), RetryAfter>, Error> {
        let window = now_ms.div_euclid(1000);
        let key = Table::key(
            keys::rate_pk(app_id, room_id, user_id),
            format!("{}#{window}", keys::RATE_SK),
        );
        let res = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key))
            .update_expression("ADD hits :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(hits) OR hits < :max")
            .expression_attribute_names("#ttl", TTL_ATTR)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":ttl", n(window + 120))
            .send()
            .await;
        match res {
            Ok(_) => Ok(Ok(())),
            Err(e) if is_condition_failure(&e) => {
                let ms = u64::try_from((window + 1) * 1000 - now_ms)
                    .unwrap_or(1000)
                    .max(1);
                Ok(Err(RetryAfter { ms }))
            }
            Err(e) => Err(sdk_err("UpdateItem rate window")(e)),
        }
    }
}

/// What [`ChatStore::add_likes`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LikesAdded {
    /// The room's total after this add.
    pub total: u64,
    /// This call won this second's `likes` item: it publishes `total`.
    pub publish: bool,
}
