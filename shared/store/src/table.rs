//! [`Table`]: the one DynamoDB table every store works on (client and table name), with what
//! the stores share: reads and conditional writes, transactions retried on races, the app's
//! counts update, due-work queries, SDK error mapping and `create_table` for `zhibo
//! init-storage`.

use crate::item::{n, s, Item};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use zhibo_core::backoff::{Backoff, Jitter};
use zhibo_core::error::Error;
use zhibo_core::room::RoomId;
use zhibo_core::table::{self, keys, IndexSpec, PK, SK, TTL_ATTR};

/// How often a transaction that lost a race with another is retried.
pub(crate) const TRANSACTION_RETRIES: u32 = 12;

/// Why a store write was refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost a race or the item changed since it was read.
    #[error("the item changed concurrently")]
    Conflict,
    /// The item does not exist.
    #[error("not found")]
    NotFound,
    /// The per-day live quota for `day` is exhausted.
    #[error("at most {max} lives may be scheduled on {day}")]
    LivesPerDay {
        /// The quota day.
        day: String,
        /// The quota.
        max: u32,
    },
    /// The concurrent-live quota is exhausted.
    #[error("at most {max} rooms may be live at once")]
    ConcurrentLives {
        /// The quota.
        max: u32,
    },
    /// The idempotency key was used before with a different body.
    #[error("Idempotency-Key was already used with a different request body")]
    IdempotencyMismatch,
    /// The app does not exist.
    #[error("unknown app")]
    UnknownApp,
    /// Storage failed.
    #[error(transparent)]
    Internal(#[from] Error),
}

/// The zhibo table in DynamoDB: a client and the table name. Cheap to clone; every store
/// ([`crate::AppStore`], [`crate::RoomStore`], ...) is a thin wrapper over one.
#[derive(Debug, Clone)]
pub struct Table {
    client: Client,
    name: Arc<str>,
}

pub(crate) fn sdk_err<E, R>(op: &'static str) -> impl FnOnce(SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        let text = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
        Error::dynamo(op, SdkErrorText(text))
    }
}

/// Whether a DynamoDB call failed its condition expression (any operation's error type).
pub(crate) fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    e.code() == Some("ConditionalCheckFailedException")
}

/// The display text of an SDK error with its whole source chain.
#[derive(Debug)]
pub struct SdkErrorText(pub(crate) String);
impl std::fmt::Display for SdkErrorText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SdkErrorText {}

pub(crate) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::dynamo("build request", e)
}

/// The codes in a cancelled transaction's reasons, one per item (`None` when that item was fine).
fn cancellation_codes(
    e: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>,
) -> Option<Vec<String>> {
    match e {
        SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(tc) => Some(
                tc.cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_string())
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// Between retries of a transaction that lost a race: 10 ms doubling up to 640 ms, each wait
/// drawn from its upper half so that racing writers spread out.
const RACE_BACKOFF: Backoff =
    Backoff::doubling(Duration::from_millis(10), Duration::from_millis(640))
        .with_jitter(Jitter::Equal);

/// Waits before retry `attempt` (0 for the first retry) of a transaction that lost a race.
pub(crate) async fn backoff(attempt: u32) {
    let wait = RACE_BACKOFF.delay(attempt.saturating_add(1), rand::random());
    tokio::time::sleep(wait).await;
}

impl Table {
    /// The table `name` through `client`.
    pub fn new(client: Client, name: impl Into<String>) -> Table {
        Table {
            client,
            name: Arc::from(name.into()),
        }
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
        HashMap::from([(PK.into(), s(pk)), (SK.into(), s(sk.into()))])
    }

    pub(crate) async fn get(
        &self,
        pk: String,
        sk: impl Into<String>,
        op: &'static str,
    ) -> Result<Option<Item>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(self.name())
            .set_key(Some(Table::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err(op))?;
        Ok(out.item)
    }

    /// A conditional PutItem: true if written, false if `condition` failed.
    pub(crate) async fn put_conditional(
        &self,
        item: Item,
        condition: &str,
        value: Option<(&str, AttributeValue)>,
        op: &'static str,
    ) -> Result<bool, Error> {
        let mut put = self
            .client
            .put_item()
            .table_name(self.name())
            .set_item(Some(item))
            .condition_expression(condition);
        if let Some((k, v)) = value {
            put = put.expression_attribute_values(k, v);
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(op)(e)),
        }
    }

    // ---- table lifecycle -------------------------------------------------------------

    /// Creates the table (keys, GSIs, streams) and enables TTL, as [`zhibo_core::table`] defines
    /// it. Returns false if it already existed.
    pub async fn create_table(&self) -> Result<bool, Error> {
        let key = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .map_err(build_err)
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)
        };
        let mut attrs = vec![attr(PK)?, attr(SK)?];
        let mut gsis = Vec::new();
        for IndexSpec {
            name,
            hash_key,
            range_key,
            keys_only,
        } in table::INDEXES
        {
            attrs.push(attr(hash_key)?);
            attrs.push(attr(range_key)?);
            gsis.push(
                GlobalSecondaryIndex::builder()
                    .index_name(name)
                    .key_schema(key(hash_key, KeyType::Hash)?)
                    .key_schema(key(range_key, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(if keys_only {
                                ProjectionType::KeysOnly
                            } else {
                                ProjectionType::All
                            })
                            .build(),
                    )
                    .build()
                    .map_err(build_err)?,
            );
        }
        let res = self
            .client
            .create_table()
            .table_name(self.name())
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attrs))
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .set_global_secondary_indexes(Some(gsis))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_in_use_exception()) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(sdk_err("CreateTable")(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(self.name())
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTR)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(sdk_err("UpdateTimeToLive"))?;
        Ok(true)
    }

    /// An update of the app's counts item: `ADD attr delta` for each pair, optionally
    /// conditioned on the first attribute staying below `below` (checked before the add).
    pub(crate) fn counts_update(
        &self,
        app_id: &str,
        deltas: &[(String, i64)],
        below: Option<u32>,
    ) -> Result<TransactWriteItem, Error> {
        let mut u = Update::builder()
            .table_name(self.name())
            .set_key(Some(Table::key(keys::app_pk(app_id), keys::COUNTS_SK)));
        let mut parts = Vec::new();
        for (i, (attr, delta)) in deltas.iter().enumerate() {
            parts.push(format!("#c{i} :d{i}"));
            u = u
                .expression_attribute_names(format!("#c{i}"), attr)
                .expression_attribute_values(format!(":d{i}"), n(delta));
        }
        u = u.update_expression(format!("ADD {}", parts.join(", ")));
        if let Some(max) = below {
            u = u
                .condition_expression("attribute_not_exists(#c0) OR #c0 < :max")
                .expression_attribute_values(":max", n(max));
        }
        Ok(TransactWriteItem::builder()
            .update(u.build().map_err(build_err)?)
            .build())
    }

    /// Runs a transaction, retrying when it lost a race with another transaction
    /// (`TransactionConflict`). A condition failure returns the per-item reason codes.
    pub(crate) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        op: &'static str,
    ) -> Result<Result<(), Vec<String>>, Error> {
        let mut attempt = 0;
        loop {
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match res {
                Ok(_) => return Ok(Ok(())),
                Err(e) => match cancellation_codes(&e) {
                    Some(codes)
                        if codes.iter().any(|c| c == "TransactionConflict")
                            && !codes.iter().any(|c| c == "ConditionalCheckFailed")
                            && attempt < TRANSACTION_RETRIES =>
                    {
                        attempt += 1;
                        backoff(attempt).await;
                    }
                    Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                        return Ok(Err(codes))
                    }
                    _ => return Err(sdk_err(op)(e)),
                },
            }
        }
    }

    /// `(app, room)` of the gsi3 entries under `pk` due at or before `now_ms`.
    pub(crate) async fn due_work(
        &self,
        pk: String,
        now_ms: i64,
        limit: i32,
    ) -> Result<Vec<(String, RoomId)>, Error> {
        let out = self
            .client
            .query()
            .table_name(self.name())
            .index_name(table::GSI_DUE.name)
            .key_condition_expression("#h = :h AND #r <= :until")
            .expression_attribute_names("#h", table::GSI_DUE.hash_key)
            .expression_attribute_names("#r", table::GSI_DUE.range_key)
            .expression_attribute_values(":h", s(pk))
            .expression_attribute_values(":until", s(keys::due_sk_until(now_ms)))
            .limit(limit.max(1))
            .send()
            .await
            .map_err(sdk_err("Query due work"))?;
        let mut found = Vec::new();
        for item in out.items.unwrap_or_default() {
            if let Some(sk) = item_str(&item, table::GSI_DUE.range_key) {
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
