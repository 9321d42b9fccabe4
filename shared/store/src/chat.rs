//! A room's audience items (docs/api.md "Audience interaction"): appended with a gap-free `seq`
//! and kept as the room's history, and the per-user rate buckets that hold across concurrent
//! Lambdas.
//!
//! Append: reserve the next `seq` with an atomic ADD on the head (writers never conflict, so a
//! room takes hundreds of items per second), then put the item there if the slot is empty. Two
//! writers never get the same `seq`; a writer that dies between the two writes leaves a hole
//! that the history fills with a `deleted` placeholder once it is a minute old, so `seq` has no
//! gap. A user's message bucket and mute share one item, written back conditioned on the state
//! the writer started from.

use crate::item::{n, s, ItemReader};
use crate::table::{is_condition_failure, sdk_err};
use crate::{StoreError, Table};
use std::collections::HashMap;
use zhibo_core::audience::item::RoomItem;
use zhibo_core::audience::rate_limit::{Bucket, Limit, RetryAfter};
use zhibo_core::error::Error;
use zhibo_core::room::RoomId;
use zhibo_core::table::{keys, PK, SK, TTL_ATTR};

/// A hole in a room's `seq` (a writer that reserved it and died) is filled once a later item
/// is this old: far beyond a function's timeout, so its writer is gone.
pub const HOLE_AGE_MS: i64 = 60_000;
/// How often a rate bucket write that lost a race is redone.
const RATE_RETRIES: usize = 10;
/// Rate buckets outlive their last use by this long (then TTL removes them).
const RATE_TTL_S: i64 = 3600;
/// Largest page of history.
pub const MAX_HISTORY_PAGE: u32 = 100;

/// A room's audience items and its users' rate buckets.
#[derive(Debug, Clone)]
pub struct ChatStore {
    pub(crate) table: Table,
    rate_guesses: RateGuesses,
}

impl ChatStore {
    /// Items in `table`.
    pub fn new(table: Table) -> ChatStore {
        ChatStore {
            table,
            rate_guesses: RateGuesses::default(),
        }
    }

    /// Appends the item `build(seq)` makes with the room's next `seq`; kept until
    /// `expires_at` (Unix seconds). Returns the item as stored.
    ///
    /// Two writes that never conflict with each other, so a room takes hundreds of items per
    /// second: the head's `seq` is moved by an atomic `ADD` (the reservation), then the item is
    /// put at the reserved `seq` if that slot is still empty. A writer that dies between the
    /// two leaves a hole; [`ChatStore::history`] fills a hole once a later item is
    /// [`HOLE_AGE_MS`] old (a `deleted` placeholder), and a writer that comes back after that
    /// gets [`StoreError::Conflict`] (its item was not stored: the client retries).
    pub async fn append(
        &self,
        app_id: &str,
        room_id: RoomId,
        expires_at: i64,
        build: impl Fn(u64) -> RoomItem,
    ) -> Result<RoomItem, StoreError> {
        let pk = keys::chat_pk(app_id, room_id);
        let out = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(pk.clone(), keys::CHAT_HEAD_SK)))
            .update_expression("ADD seq :one")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err("UpdateItem chat head"))?;
        let item = build(reserved_seq(out.attributes())?);
        self.put_reserved(&pk, item, expires_at).await
    }

    /// Puts `item` at the `seq` just reserved for it; [`StoreError::Conflict`] when the slot
    /// was filled as a hole meanwhile (the writer took longer than [`HOLE_AGE_MS`]).
    async fn put_reserved(
        &self,
        pk: &str,
        item: RoomItem,
        expires_at: i64,
    ) -> Result<RoomItem, StoreError> {
        if self.put_item(pk, &item, expires_at).await? {
            Ok(item)
        } else {
            Err(StoreError::Conflict)
        }
    }

    /// Appends a viewer's message like [`ChatStore::append`], under the room's flood control:
    /// at most `per_s` messages in the second of `now_ms` (across every function instance; a
    /// `now_ms` behind the window's second counts in that window), else `Err(RetryAfter)` and
    /// nothing is written. The reservation also counts the message
    /// (`messages` on the head) and its second (`flood_s`, `flood_n`), so the three cost one
    /// write; the first message of a second costs two (the window moves), a held one three.
    pub async fn append_message(
        &self,
        app_id: &str,
        room_id: RoomId,
        expires_at: i64,
        per_s: u32,
        now_ms: i64,
        build: impl Fn(u64) -> RoomItem,
    ) -> Result<Result<RoomItem, RetryAfter>, StoreError> {
        let pk = keys::chat_pk(app_id, room_id);
        let second = now_ms.div_euclid(1000);
        // Within the current window (also when it is already a later second: a writer whose
        // clock or request lagged is counted there, never held for being late); else start
        // the window (when it is older); else, a writer started it meanwhile: within it once
        // more; else the second is full.
        let in_window = (
            "ADD seq :one, messages :one, flood_n :one",
            "flood_s >= :s AND flood_n < :max",
        );
        let new_window = (
            "ADD seq :one, messages :one SET flood_s = :s, flood_n = :one",
            "attribute_not_exists(flood_s) OR flood_s < :s",
        );
        for (update, condition) in [in_window, new_window, in_window] {
            let res = self
                .table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(Table::key(pk.clone(), keys::CHAT_HEAD_SK)))
                .update_expression(update)
                .condition_expression(condition)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":s", n(second))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew);
            let res = if condition.contains(":max") {
                res.expression_attribute_values(":max", n(per_s))
            } else {
                res
            };
            match res.send().await {
                Ok(out) => {
                    let item = build(reserved_seq(out.attributes())?);
                    return self.put_reserved(&pk, item, expires_at).await.map(Ok);
                }
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(sdk_err("UpdateItem chat head")(e).into()),
            }
        }
        let ms = u64::try_from((second + 1) * 1000 - now_ms)
            .unwrap_or(1000)
            .max(1);
        Ok(Err(RetryAfter { ms }))
    }

    /// Puts `item` at its `seq` if the slot is empty; false when it was taken (a hole filled).
    async fn put_item(&self, pk: &str, item: &RoomItem, expires_at: i64) -> Result<bool, Error> {
        let body = serde_json::to_string(item).map_err(|e| Error::CorruptItem {
            key: keys::chat_item_sk(item.seq),
            what: format!("item not serializable: {e}"),
        })?;
        self.table
            .put_conditional(
                HashMap::from([
                    (PK.into(), s(pk)),
                    (SK.into(), s(keys::chat_item_sk(item.seq))),
                    ("type".into(), s("chat_item")),
                    ("seq".into(), n(item.seq)),
                    ("item".into(), s(body)),
                    (TTL_ATTR.into(), n(expires_at)),
                ]),
                "attribute_not_exists(pk)",
                None,
                "PutItem chat item",
            )
            .await
    }

    /// Fills the holes in `items` (a page in `seq` order after `after_seq`, each with its
    /// expiry) that are older than [`HOLE_AGE_MS`] at `now_ms` with `deleted` placeholders
    /// (kept as long as the item after them), so `seq` has no gap.
    async fn fill_holes(
        &self,
        pk: &str,
        after_seq: u64,
        items: Vec<(RoomItem, i64)>,
        now_ms: i64,
    ) -> Result<Vec<RoomItem>, Error> {
        let mut out = Vec::with_capacity(items.len());
        let mut expected = after_seq.saturating_add(1);
        for (item, expires_at) in items {
            while expected < item.seq && now_ms - item.at_ms >= HOLE_AGE_MS {
                let hole = RoomItem {
                    id: format!("x{expected}_hole"),
                    seq: expected,
                    kind: item.kind,
                    at_ms: item.at_ms,
                    offset_ms: item.offset_ms,
                    user: None,
                    data: serde_json::json!({}),
                    deleted: true,
                };
                if self.put_item(pk, &hole, expires_at).await? {
                    tracing::warn!(
                        pk,
                        seq = expected,
                        "filled a hole in a room's items (its writer never finished)"
                    );
                    out.push(hole);
                } else if let Some(late) = self.get_item_at(pk, expected).await? {
                    // Its writer finished after all.
                    out.push(late);
                }
                expected += 1;
            }
            if expected < item.seq {
                // A younger hole: its writer may still be finishing; stop the page before it.
                break;
            }
            expected = item.seq + 1;
            out.push(item);
        }
        Ok(out)
    }

    async fn get_item_at(&self, pk: &str, seq: u64) -> Result<Option<RoomItem>, Error> {
        match self
            .table
            .get(pk.to_string(), keys::chat_item_sk(seq), "GetItem chat item")
            .await?
        {
            Some(item) => Ok(Some(ItemReader::new(&item).json::<RoomItem>("item")?)),
            None => Ok(None),
        }
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
        let items = out
            .items()
            .iter()
            .map(|item| {
                let r = ItemReader::new(item);
                Ok((r.json::<RoomItem>("item")?, r.n_or(TTL_ATTR, 0)?))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.fill_holes(
            &keys::chat_pk(app_id, room_id),
            after_seq,
            items,
            zhibo_core::clock::now_ms(),
        )
        .await
    }

    /// Takes one message token from `user_id`'s bucket in the room under `limit`, at `now_ms`,
    /// unless the user is muted there: one conditional write in the usual case.
    ///
    /// The bucket and the mute live on one item (the user's `RATE` item), so the write that
    /// takes the token is conditioned on "not muted" as well as on the bucket it started from.
    /// That bucket is this process's last write for the user when it has one (a guess; a
    /// write elsewhere fails the condition, whose answer carries the stored bucket to retry
    /// from), so a user posting through one instance costs one write per message.
    pub async fn take_message_token(
        &self,
        app_id: &str,
        room_id: RoomId,
        user_id: &str,
        limit: Limit,
        now_ms: i64,
    ) -> Result<Result<(), Refused>, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let pk = keys::rate_pk(app_id, room_id, user_id);
        let mut guess = self.rate_guesses.get(&pk);
        for _ in 0..RATE_RETRIES {
            let next = match limit.take(guess, now_ms) {
                Ok(next) => next,
                Err(wait) => return Ok(Err(Refused::TooFast(wait))),
            };
            let mut update = self
                .table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(Table::key(pk.clone(), keys::RATE_SK)))
                .update_expression("SET milli_tokens = :nm, at_ms = :nt, #ttl = :ttl")
                .expression_attribute_names("#ttl", TTL_ATTR)
                .expression_attribute_values(":nm", n(next.milli_tokens))
                .expression_attribute_values(":nt", n(next.at_ms))
                .expression_attribute_values(":ttl", n(now_ms / 1000 + RATE_TTL_S))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            update = match guess {
                None => update.condition_expression(
                    "attribute_not_exists(muted_at) AND attribute_not_exists(milli_tokens)",
                ),
                Some(b) => update
                    .condition_expression(
                        "attribute_not_exists(muted_at) AND milli_tokens = :m AND at_ms = :t",
                    )
                    .expression_attribute_values(":m", n(b.milli_tokens))
                    .expression_attribute_values(":t", n(b.at_ms)),
            };
            let stored = match update.send().await {
                Ok(_) => {
                    self.rate_guesses.put(pk, next);
                    return Ok(Ok(()));
                }
                Err(e) if is_condition_failure(&e) => match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(c) if c.item.is_some() => {
                        c.item
                    }
                    // No item in the answer: the item was absent (then only a race explains the
                    // failure) or the endpoint does not return it; read it.
                    _ => {
                        self.table
                            .get(pk.clone(), keys::RATE_SK, "GetItem rate bucket")
                            .await?
                    }
                },
                Err(e) => return Err(sdk_err("UpdateItem rate bucket")(e).into()),
            };
            guess = match &stored {
                Some(item) => {
                    let r = ItemReader::new(item);
                    if item.contains_key("muted_at") {
                        self.rate_guesses.forget(&pk);
                        return Ok(Err(Refused::Muted));
                    }
                    match (
                        item.contains_key("milli_tokens"),
                        item.contains_key("at_ms"),
                    ) {
                        (true, true) => Some(Bucket {
                            milli_tokens: r.n("milli_tokens")?,
                            at_ms: r.n("at_ms")?,
                        }),
                        _ => None,
                    }
                }
                None => None,
            };
        }
        Err(StoreError::Conflict)
    }

    /// Mutes (or unmutes) `user_id` in the room; true when that changed something. A muted
    /// user's `RATE` item carries `muted_at` and no expiry; unmuted, it expires as a bucket.
    pub async fn set_muted(
        &self,
        app_id: &str,
        room_id: RoomId,
        user_id: &str,
        muted: bool,
        now: i64,
    ) -> Result<bool, Error> {
        let pk = keys::rate_pk(app_id, room_id, user_id);
        self.rate_guesses.forget(&pk);
        let update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(pk, keys::RATE_SK)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld);
        let update = if muted {
            update
                .update_expression("SET muted_at = if_not_exists(muted_at, :now) REMOVE #ttl")
                .expression_attribute_names("#ttl", TTL_ATTR)
                .expression_attribute_values(":now", n(now))
        } else {
            update
                .update_expression("REMOVE muted_at SET #ttl = :ttl")
                .condition_expression("attribute_exists(muted_at)")
                .expression_attribute_names("#ttl", TTL_ATTR)
                .expression_attribute_values(":ttl", n(now + RATE_TTL_S))
        };
        match update.send().await {
            Ok(out) => Ok(muted != out.attributes().is_some_and(|a| a.contains_key("muted_at"))),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err("UpdateItem mute")(e)),
        }
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

    /// Adds `by` to one of the room's counters (one atomic write on the `#COUNTERS` item).
    pub(crate) async fn add_to_counter(
        &self,
        app_id: &str,
        room_id: RoomId,
        counter: &'static str,
        by: u64,
        op: &'static str,
    ) -> Result<(), Error> {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Table::key(
                keys::chat_pk(app_id, room_id),
                keys::CHAT_COUNTERS_SK,
            )))
            .update_expression("ADD #counter :by")
            .expression_attribute_names("#counter", counter)
            .expression_attribute_values(":by", n(by))
            .send()
            .await
            .map_err(sdk_err(op))?;
        Ok(())
    }

    /// The room's counters (zero before anything was counted).
    pub async fn counters(&self, app_id: &str, room_id: RoomId) -> Result<RoomCounters, Error> {
        // Messages and gift totals live on the chat head, written with each message's and
        // gift's reservation (append_message, chat_commerce.rs).
        let pk = keys::chat_pk(app_id, room_id);
        let (item, head) = tokio::try_join!(
            self.table
                .get(pk.clone(), keys::CHAT_COUNTERS_SK, "GetItem counters"),
            self.table
                .get(pk.clone(), keys::CHAT_HEAD_SK, "GetItem chat head"),
        )?;
        let mut counters = match item {
            Some(item) => RoomCounters::read(&ItemReader::new(&item))?,
            None => RoomCounters::default(),
        };
        if let Some(head) = head {
            let r = ItemReader::new(&head);
            counters.messages = r.n_or("messages", 0)?;
            counters.gifts = r.n_or("gifts", 0)?;
            counters.gifts_value_cents = r.n_or("gifts_value_cents", 0)?;
        }
        Ok(counters)
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

/// The room's audience counters (the `#COUNTERS` item).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoomCounters {
    /// Likes in all.
    pub likes: u64,
    /// Messages published (on the chat head).
    pub messages: u64,
    /// Messages flood control did not deliver (over `ROOM_MESSAGES_PER_S`).
    pub messages_dropped: u64,
    /// Gifts in all (the sum of their `count`; on the chat head).
    pub gifts: u64,
    /// Their value in all, cents (`count * value_cents` summed).
    pub gifts_value_cents: u64,
    /// Distinct viewers who ever reported presence.
    pub viewers_unique: u64,
    /// Seconds watched, from presence reports.
    pub watch_time_s: u64,
    /// The highest viewers-now recorded.
    pub viewers_peak: u64,
}

impl RoomCounters {
    fn read(r: &ItemReader<'_>) -> Result<RoomCounters, Error> {
        Ok(RoomCounters {
            likes: r.n_or("likes", 0)?,
            messages_dropped: r.n_or("messages_dropped", 0)?,
            viewers_unique: r.n_or("viewers_unique", 0)?,
            watch_time_s: r.n_or("watch_time_s", 0)?,
            viewers_peak: r.n_or("viewers_peak", 0)?,
            ..RoomCounters::default()
        })
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

/// The `seq` an `ADD seq` on the head returned.
fn reserved_seq(
    attributes: Option<&HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) -> Result<u64, Error> {
    match attributes {
        Some(a) => ItemReader::new(a).n("seq"),
        None => Err(Error::CorruptItem {
            key: keys::CHAT_HEAD_SK.into(),
            what: "ADD seq returned no value".into(),
        }),
    }
}

/// Why [`ChatStore::take_message_token`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user is muted in the room.
    Muted,
    /// The user's bucket is empty: the next message is allowed after this.
    TooFast(RetryAfter),
}

/// Most users whose last bucket write this process remembers (then it starts over).
const MAX_RATE_GUESSES: usize = 10_000;

/// This process's last bucket write per user (by rate key): the state the next write is
/// conditioned on. Only a guess: a wrong one costs one failed write, never a wrong answer.
#[derive(Debug, Clone, Default)]
struct RateGuesses(std::sync::Arc<std::sync::Mutex<HashMap<String, Bucket>>>);

impl RateGuesses {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bucket>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn get(&self, pk: &str) -> Option<Bucket> {
        self.map().get(pk).copied()
    }
    fn put(&self, pk: String, bucket: Bucket) {
        let mut map = self.map();
        if map.len() >= MAX_RATE_GUESSES && !map.contains_key(&pk) {
            map.clear();
        }
        map.insert(pk, bucket);
    }
    fn forget(&self, pk: &str) {
        self.map().remove(pk);
    }
}
