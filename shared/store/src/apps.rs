//! [`AppStore`]: apps, request nonces and access tokens.

use crate::item::{n, s, Item, ItemReader};
use crate::table::sdk_err;
use crate::Table;
use zhibo_core::app::App;
use zhibo_core::error::Error;
use zhibo_core::table::{keys, TTL_ATTR};

/// Apps, request nonces and access tokens.
#[derive(Debug, Clone)]
pub struct AppStore {
    table: Table,
}

/// The app item of a new app (its room id counter at 0).
fn app_item(app: &App) -> Item {
    let mut item = Table::key(keys::app_pk(&app.app_id), keys::APP_SK);
    item.insert("type".into(), s("app"));
    item.insert("app_id".into(), s(&app.app_id));
    item.insert("app_secret".into(), s(&app.app_secret));
    item.insert("created_at".into(), n(app.created_at));
    item.insert("next_room_id".into(), n(0));
    item
}

/// An app from its app item.
fn app_from_item(item: &Item) -> Result<App, Error> {
    let r = ItemReader::new(item);
    Ok(App {
        app_id: r.s("app_id")?,
        app_secret: r.s("app_secret")?,
        created_at: r.n("created_at")?,
    })
}

/// The nonce item of `nonce`, remembered until `expires_at`.
fn nonce_item(app_id: &str, nonce: &str, expires_at: i64) -> Item {
    let mut item = Table::key(keys::nonce_pk(app_id, nonce), "NONCE");
    item.insert(TTL_ATTR.into(), n(expires_at));
    item
}

/// The item of access token `token` of `app_id`, valid until `expires_at`.
fn token_item(token: &str, app_id: &str, expires_at: i64) -> Item {
    let mut item = Table::key(keys::token_pk(token), "TOKEN");
    item.insert("app_id".into(), s(app_id));
    item.insert(TTL_ATTR.into(), n(expires_at));
    item
}

/// The app and expiry of a token item.
fn token_from_item(item: &Item) -> Result<(String, i64), Error> {
    let r = ItemReader::new(item);
    Ok((r.s("app_id")?, r.n(TTL_ATTR)?))
}

impl AppStore {
    /// Apps in `table`.
    pub fn new(table: Table) -> AppStore {
        AppStore { table }
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Stores a new app; false if the app id is taken.
    pub async fn put_app(&self, app: &App) -> Result<bool, Error> {
        self.table
            .put_conditional(
                app_item(app),
                "attribute_not_exists(pk)",
                None,
                "PutItem app",
            )
            .await
    }

    /// The app, if it exists.
    pub async fn get_app(&self, app_id: &str) -> Result<Option<App>, Error> {
        self.table
            .get(keys::app_pk(app_id), keys::APP_SK, "GetItem app")
            .await?
            .map(|item| app_from_item(&item))
            .transpose()
    }

    /// Records a request nonce for `ttl_s`; false if it was seen (and has not expired).
    pub async fn remember_nonce(
        &self,
        app_id: &str,
        nonce: &str,
        now: i64,
        ttl_s: i64,
    ) -> Result<bool, Error> {
        // TTL deletion is lazy on AWS: an expired item must not block the nonce.
        self.table
            .put_conditional(
                nonce_item(app_id, nonce, now + ttl_s),
                "attribute_not_exists(pk) OR expires_at < :now",
                Some((":now", n(now))),
                "PutItem nonce",
            )
            .await
    }

    /// Stores an access token for `app_id` until `expires_at`.
    pub async fn put_token(&self, token: &str, app_id: &str, expires_at: i64) -> Result<(), Error> {
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(token_item(token, app_id, expires_at)))
            .send()
            .await
            .map_err(sdk_err("PutItem token"))?;
        Ok(())
    }

    /// The app of an access token and the token's expiry (unix seconds), if the token exists.
    /// The caller compares the expiry with now: DynamoDB deletes expired items lazily.
    pub async fn token_app(&self, token: &str) -> Result<Option<(String, i64)>, Error> {
        self.table
            .get(keys::token_pk(token), "TOKEN", "GetItem token")
            .await?
            .map(|item| token_from_item(&item))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::testing::{assert_names, ill_typed, without};

    fn app() -> App {
        App {
            app_id: "demo".into(),
            app_secret: "ab".repeat(32),
            created_at: 1_700_000_000,
        }
    }

    #[test]
    fn app_items_round_trip() {
        let item = app_item(&app());
        assert_eq!(app_from_item(&item).expect("read back"), app());
        assert_eq!(item.get("next_room_id"), Some(&n(0)));
    }

    #[test]
    fn a_malformed_app_item_names_the_attribute() {
        let item = app_item(&app());
        for attr in ["app_id", "app_secret", "created_at"] {
            assert_names(app_from_item(&without(&item, attr)), attr);
            assert_names(app_from_item(&ill_typed(&item, attr)), attr);
        }
    }

    #[test]
    fn token_items_round_trip() {
        let item = token_item("tok", "demo", 1_700_007_200);
        assert_eq!(
            token_from_item(&item).expect("read back"),
            ("demo".to_string(), 1_700_007_200)
        );
        for attr in ["app_id", TTL_ATTR] {
            assert_names(token_from_item(&without(&item, attr)), attr);
            assert_names(token_from_item(&ill_typed(&item, attr)), attr);
        }
    }

    #[test]
    fn a_nonce_item_expires() {
        let item = nonce_item("demo", "n1", 1_000);
        assert_eq!(item.get(TTL_ATTR), Some(&n(1_000)));
        assert_eq!(item.len(), 3, "key and expiry only: {item:?}");
    }
}
