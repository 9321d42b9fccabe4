//! An app's moderation settings (one `#MODERATION` item per app: blocked words and the
//! optional review call) and the count of messages a room's flood control held (docs/api.md
//! "Moderation", "Messages"; the flood window itself moves with each message's reservation,
//! [`ChatStore::append_message`]).

use crate::item::{n, s, ItemReader};
use crate::{ChatStore, Table};
use zhibo_core::audience::review::{ReviewFail, ReviewSettings};
use zhibo_core::error::Error;
use zhibo_core::room::RoomId;
use zhibo_core::table::keys;

/// An app's moderation settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Moderation {
    /// Blocked words, as the app gave them.
    pub blocked_words: Vec<String>,
    /// The review call, when set.
    pub review: Option<ReviewSettings>,
}

impl ChatStore {
    /// The app's moderation settings (none set: no words, no review call).
    pub async fn moderation(&self, app_id: &str) -> Result<Moderation, Error> {
        let Some(item) = self
            .table
            .get(
                keys::app_pk(app_id),
                keys::MODERATION_SK,
                "GetItem moderation",
            )
            .await?
        else {
            return Ok(Moderation::default());
        };
        let r = ItemReader::new(&item);
        let review = match r.s_opt("review_url")? {
            None => None,
            Some(url) => {
                let fail = r.s("review_fail")?;
                Some(ReviewSettings {
                    url,
                    fail: ReviewFail::parse(&fail).ok_or_else(|| Error::CorruptItem {
                        key: keys::MODERATION_SK.into(),
                        what: format!("review_fail {fail:?}"),
                    })?,
                    secret: r.s("review_secret")?,
                })
            }
        };
        Ok(Moderation {
            blocked_words: r.json("blocked_words")?,
            review,
        })
    }

    /// Replaces the app's moderation settings (words and review call together, one write).
    pub async fn put_moderation(
        &self,
        app_id: &str,
        settings: &Moderation,
        now: i64,
    ) -> Result<(), Error> {
        let body =
            serde_json::to_string(&settings.blocked_words).map_err(|e| Error::CorruptItem {
                key: keys::MODERATION_SK.into(),
                what: format!("words not serializable: {e}"),
            })?;
        let mut item = Table::key(keys::app_pk(app_id), keys::MODERATION_SK);
        item.insert("blocked_words".into(), s(body));
        item.insert("updated_at".into(), n(now));
        if let Some(r) = &settings.review {
            item.insert("review_url".into(), s(&r.url));
            item.insert("review_fail".into(), s(r.fail.as_str()));
            item.insert("review_secret".into(), s(&r.secret));
        }
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(item))
            .send()
            .await
            .map_err(crate::table::sdk_err("PutItem moderation"))?;
        Ok(())
    }

    /// Counts one message that flood control did not deliver (`messages_dropped`).
    pub async fn count_dropped(&self, app_id: &str, room_id: RoomId) -> Result<(), Error> {
        self.add_to_counter(
            app_id,
            room_id,
            "messages_dropped",
            1,
            "UpdateItem messages dropped",
        )
        .await
    }
}
