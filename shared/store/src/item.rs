//! Reading and writing DynamoDB attribute maps with errors that name the item and attribute.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use zhibo_core::error::Error;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute value.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute value.
pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Typed access to an item's attributes.
pub struct ItemReader<'a> {
    item: &'a Item,
}

impl<'a> ItemReader<'a> {
    /// Wraps `item`.
    pub fn new(item: &'a Item) -> Self {
        ItemReader { item }
    }

    fn key(&self) -> String {
        let pk = self
            .item
            .get(zhibo_core::table::PK)
            .and_then(|v| v.as_s().ok());
        let sk = self
            .item
            .get(zhibo_core::table::SK)
            .and_then(|v| v.as_s().ok());
        format!(
            "{}/{}",
            pk.map_or("?", String::as_str),
            sk.map_or("?", String::as_str)
        )
    }

    fn corrupt(&self, what: String) -> Error {
        Error::CorruptItem {
            key: self.key(),
            what,
        }
    }

    /// A required string attribute.
    pub fn s(&self, name: &str) -> Result<String, Error> {
        match self.item.get(name) {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            other => Err(self.corrupt(format!("{name}: expected S, got {other:?}"))),
        }
    }

    /// A string attribute, empty when absent.
    pub fn s_or_empty(&self, name: &str) -> Result<String, Error> {
        match self.item.get(name) {
            None => Ok(String::new()),
            Some(_) => self.s(name),
        }
    }

    /// A required number attribute parsed as `T`.
    pub fn n<T: std::str::FromStr>(&self, name: &str) -> Result<T, Error> {
        match self.item.get(name) {
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| self.corrupt(format!("{name}: {v:?} is not the expected number"))),
            other => Err(self.corrupt(format!("{name}: expected N, got {other:?}"))),
        }
    }

    /// A number attribute, `default` when absent.
    pub fn n_or<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Error> {
        match self.item.get(name) {
            None => Ok(default),
            Some(_) => self.n(name),
        }
    }

    /// A string attribute, `None` when absent.
    pub fn s_opt(&self, name: &str) -> Result<Option<String>, Error> {
        match self.item.get(name) {
            None => Ok(None),
            Some(_) => self.s(name).map(Some),
        }
    }

    /// A number attribute, `None` when absent.
    pub fn n_opt<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.item.get(name) {
            None => Ok(None),
            Some(_) => self.n(name).map(Some),
        }
    }

    /// A boolean attribute, false when absent.
    pub fn bool_or_false(&self, name: &str) -> Result<bool, Error> {
        match self.item.get(name) {
            None => Ok(false),
            Some(AttributeValue::Bool(b)) => Ok(*b),
            other => Err(self.corrupt(format!("{name}: expected BOOL, got {other:?}"))),
        }
    }

    /// A JSON document stored as a string attribute.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let raw = self.s(name)?;
        serde_json::from_str(&raw).map_err(|e| self.corrupt(format!("{name}: bad JSON: {e}")))
    }
}

/// Test helpers shared by the stores' item-mapping tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Item;
    use zhibo_core::error::Error;

    /// Asserts that reading `item` failed with a corrupt-item error naming `attr`.
    pub(crate) fn assert_names<T: std::fmt::Debug>(read: Result<T, Error>, attr: &str) {
        match read {
            Err(e @ Error::CorruptItem { .. }) => {
                let text = e.to_string();
                assert!(text.contains(attr), "{text} does not name {attr}");
            }
            other => panic!("expected a corrupt-item error naming {attr}, got {other:?}"),
        }
    }

    /// `item` without `attr`.
    pub(crate) fn without(item: &Item, attr: &str) -> Item {
        let mut item = item.clone();
        assert!(item.remove(attr).is_some(), "{attr} is not in the item");
        item
    }

    /// `item` with `attr` replaced by a value of the wrong type (a BOOL for a string or number,
    /// a string for a BOOL).
    pub(crate) fn ill_typed(item: &Item, attr: &str) -> Item {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut item = item.clone();
        let wrong = match item.get(attr) {
            Some(AttributeValue::Bool(_)) => AttributeValue::S("yes".into()),
            Some(_) => AttributeValue::Bool(true),
            None => panic!("{attr} is not in the item"),
        };
        item.insert(attr.into(), wrong);
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_names_the_key_and_attribute() {
        let item: Item = HashMap::from([
            ("pk".into(), s("APP#demo")),
            ("sk".into(), s("APP")),
            ("count".into(), s("three")),
        ]);
        let r = ItemReader::new(&item);
        let err = r.n::<u64>("count").expect_err("ill-typed").to_string();
        assert!(
            err.contains("APP#demo/APP") && err.contains("count"),
            "{err}"
        );
        let err = r.s("missing").expect_err("missing").to_string();
        assert!(err.contains("missing"), "{err}");
        assert_eq!(r.s_opt("missing").expect("absent"), None);
        assert_eq!(r.n_or::<u32>("missing", 7).expect("absent"), 7);
        assert!(!r.bool_or_false("missing").expect("absent"));
        let err = r
            .json::<Vec<u8>>("count")
            .expect_err("bad JSON")
            .to_string();
        assert!(err.contains("count: bad JSON"), "{err}");
    }
}
