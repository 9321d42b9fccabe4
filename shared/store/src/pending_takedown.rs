//! Pending takedowns ([`zhibo_core::takedown`]): one small item per room and scope in its own
//! partition (`TAKEDOWN`), written when a ban or `close_replay` asks for one and deleted when
//! the sweeper confirms the room's media is gone and quiet. Bans are rare, so one partition
//! read by one Query per sweep is enough; nothing here touches the room item.

use crate::dynamo::sdk_err;
use crate::item::{n, s, ItemReader};
use crate::DynamoStore;
use std::collections::HashMap;
use zhibo_core::error::Error;
use zhibo_core::room::RoomId;
use zhibo_core::table::{PK, SK, TTL_ATTR};
use zhibo_core::takedown::Scope;

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

impl DynamoStore {
    /// Records (or renews) a pending takedown.
    pub async fn put_pending_takedown(&self, t: &PendingTakedown) -> Result<(), Error> {
        self.client()
            .put_item()
            .table_name(self.table())
            .item(PK, s(TAKEDOWN_PK))
            .item(SK, s(takedown_sk(&t.app_id, t.room_id, t.scope)))
            .item("type", s("takedown"))
            .item("app_id", s(&t.app_id))
            .item("room_id", n(t.room_id))
            .item("scope", s(t.scope.as_str()))
            .item("quiet_after_ms", n(t.quiet_after_ms))
            .item(
                TTL_ATTR,
                n(t.quiet_after_ms.div_euclid(1000) + TAKEDOWN_ITEM_TTL_S),
            )
            .send()
            .await
            .map_err(sdk_err("PutItem takedown"))?;
        Ok(())
    }

    /// Up to `limit` pending takedowns.
    pub async fn pending_takedowns(&self, limit: i32) -> Result<Vec<PendingTakedown>, Error> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(TAKEDOWN_PK))
            .limit(limit)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err("Query takedowns"))?;
        let mut found = Vec::new();
        for item in out.items.unwrap_or_default() {
            let r = ItemReader::new(&item);
            let scope = r.s("scope")?;
            found.push(PendingTakedown {
                app_id: r.s("app_id")?,
                room_id: r.n("room_id")?,
                scope: Scope::parse(&scope).ok_or_else(|| Error::CorruptItem {
                    key: format!("{TAKEDOWN_PK}/{}", r.s(SK).unwrap_or_default()),
                    what: format!("unknown takedown scope {scope:?}"),
                })?,
                quiet_after_ms: r.n("quiet_after_ms")?,
            });
        }
        Ok(found)
    }

    /// Deletes a pending takedown the sweeper confirmed, unless it was renewed meanwhile (a
    /// later request moved its quiet time): true if deleted.
    pub async fn confirm_takedown(&self, t: &PendingTakedown) -> Result<bool, Error> {
        let res = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(HashMap::from([
                (PK.to_string(), s(TAKEDOWN_PK)),
                (
                    SK.to_string(),
                    s(takedown_sk(&t.app_id, t.room_id, t.scope)),
                ),
            ])))
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
