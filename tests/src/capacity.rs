//! Measuring DynamoDB consumed capacity: a [`CapacityMeter`] is an SDK interceptor that asks
//! every call for `ReturnConsumedCapacity=INDEXES` and adds up what the answers report (DynamoDB
//! Local reports it as DynamoDB does). [`metered_store`] gives a store over a test API's table
//! whose every call is metered, so tests can assert what an operation costs.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::sync::{Arc, Mutex};
use zhibo_store::{Deps, Table};

/// Capacity units consumed, the table and its indexes together.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Write units (every write operation, transactions included).
    pub write: f64,
    /// Read units.
    pub read: f64,
    /// Of `write`, the units written to global secondary indexes.
    pub index_write: f64,
    /// DynamoDB calls made.
    pub calls: u32,
}

/// Operations that consume read capacity (the others consume write capacity).
const READS: [&str; 5] = [
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
];
/// Operations that accept `ReturnConsumedCapacity`.
const METERED: [&str; 10] = [
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// An interceptor that meters consumed capacity; clones share the count.
#[derive(Debug, Default, Clone)]
pub struct CapacityMeter {
    total: Arc<Mutex<Capacity>>,
}

impl CapacityMeter {
    /// What was consumed since the last [`CapacityMeter::take`].
    pub fn take(&self) -> Capacity {
        std::mem::take(&mut *self.total.lock().expect("meter lock"))
    }
}

/// The metered operation of the call in flight (kept in its config bag between the hooks).
#[derive(Debug, Clone)]
struct Operation(String);

impl Storable for Operation {
    type Storer = StoreReplace<Self>;
}

fn operation(target: Option<&str>) -> Option<&str> {
    target
        .and_then(|t| t.rsplit_once('.'))
        .map(|(_, op)| op)
        .filter(|op| METERED.contains(op))
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request_mut();
        let Some(op) = operation(req.headers().get("x-amz-target")) else {
            return Ok(());
        };
        cfg.interceptor_state().store_put(Operation(op.to_string()));
        let Some(bytes) = req.body().bytes() else {
            return Ok(());
        };
        let mut body: serde_json::Value = serde_json::from_slice(bytes)?;
        body["ReturnConsumedCapacity"] = "INDEXES".into();
        let bytes = serde_json::to_vec(&body)?;
        req.headers_mut()
            .insert("content-length", bytes.len().to_string());
        *req.body_mut() = SdkBody::from(bytes);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Operation(op)) = cfg.load::<Operation>() else {
            return Ok(());
        };
        let op = op.as_str();
        let Some(body) = ctx.response().body().bytes() else {
            return Ok(());
        };
        let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let consumed = match &body["ConsumedCapacity"] {
            serde_json::Value::Array(a) => a.clone(),
            serde_json::Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        let mut t = self.total.lock().expect("meter lock");
        t.calls += 1;
        for c in consumed {
            let units = c["CapacityUnits"].as_f64().unwrap_or(0.0);
            if READS.contains(&op) {
                t.read += units;
            } else {
                t.write += units;
                if let Some(gsis) = c["GlobalSecondaryIndexes"].as_object() {
                    t.index_write += gsis
                        .values()
                        .filter_map(|g| g["CapacityUnits"].as_f64())
                        .sum::<f64>();
                }
            }
        }
        Ok(())
    }
}

/// The test API's dependencies with every store over its table through a client whose every
/// call is metered by the returned meter.
pub fn metered_store(api: &crate::TestApi) -> (Deps, CapacityMeter) {
    let meter = CapacityMeter::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&api.sdk)
        .endpoint_url(crate::dynamo_endpoint())
        .interceptor(meter.clone())
        .build();
    let store = api.state.with_table(Table::new(
        aws_sdk_dynamodb::Client::from_conf(conf),
        api.state.config.table.clone(),
    ));
    (store, meter)
}
