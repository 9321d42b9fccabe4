//! What is published on a room's channel and kept as its history: one shape for every kind.

use serde::{Deserialize, Serialize};

use super::token::{Role, ViewerClaims};

/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// The kinds of items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemType {
    /// A viewer's comment (`data.text`).
    #[serde(rename = "message")]
    Message,
    /// The room's running like total.
    #[serde(rename = "likes")]
    Likes,
    /// A gift.
    #[serde(rename = "gift")]
    Gift,
    /// A featured product.
    #[serde(rename = "goods.featured")]
    GoodsFeatured,
    /// A notice.
    #[serde(rename = "notice")]
    Notice,
    /// The room's live_status changed.
    #[serde(rename = "status")]
    Status,
    /// Viewer numbers.
    #[serde(rename = "stats")]
    Stats,
    /// A message was deleted by moderation.
    #[serde(rename = "message.deleted")]
    MessageDeleted,
}

/// Who an item is from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemUser {
    /// The customer's user id.
    pub user_id: String,
    /// Shown name.
    pub nickname: String,
    /// Avatar URL ("" for none).
    pub avatar: String,
    /// Their role.
    pub role: Role,
}

impl From<&ViewerClaims> for ItemUser {
    fn from(c: &ViewerClaims) -> ItemUser {
        ItemUser {
            user_id: c.user_id.clone(),
            nickname: c.nickname.clone(),
            avatar: c.avatar.clone(),
            role: c.role,
        }
    }
}

/// One item: `{"id", "seq", "type", "at_ms", "offset_ms", "user", "data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomItem {
    /// Unique id (`msg_…`).
    pub id: String,
    /// 1, 2, 3… per room, without gaps.
    pub seq: u64,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: ItemType,
    /// When it was accepted (Unix ms).
    pub at_ms: i64,
    /// Milliseconds since the live started (0 before), to show it in sync with the replay.
    pub offset_ms: i64,
    /// Who it is from (none for the room's own items).
    pub user: Option<ItemUser>,
    /// The kind's fields (`{}` once deleted).
    pub data: serde_json::Value,
    /// Deleted by moderation (then also announced by a `message.deleted` item).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// A message's id: `m{seq}_{random}`, so moderation finds the item from the id alone.
pub fn message_id(seq: u64, random_hex: &str) -> String {
    format!("m{seq}_{random_hex}")
}

/// The `seq` a message id names, if it is one.
pub fn seq_of_message_id(id: &str) -> Option<u64> {
    let (seq, rest) = id.strip_prefix('m')?.split_once('_')?;
    if rest.is_empty() || rest.len() > 32 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if seq.is_empty()
        || seq.len() > 12
        || seq.starts_with('0')
        || !seq.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    seq.parse().ok()
}

/// A message's text, checked: trimmed, 1..=200 characters, no control characters but newlines.
pub fn check_message_text(text: &str) -> Result<String, String> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err("text is empty".into());
    }
    if chars > MAX_MESSAGE_CHARS {
        return Err(format!(
            "text is {chars} characters; at most {MAX_MESSAGE_CHARS}"
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("text has control characters".into());
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_bounded_and_clean() {
        assert_eq!(check_message_text("  你好 ").unwrap(), "你好");
        assert!(check_message_text("   ").is_err());
        assert!(check_message_text(&"字".repeat(201)).is_err());
        assert!(check_message_text(&"字".repeat(200)).is_ok());
        assert!(check_message_text("a\u{0}b").is_err());
        assert!(check_message_text("line\nline").is_ok());
    }

    #[test]
    fn message_ids_name_their_seq() {
        let id = message_id(42, "abcdef0123");
        assert_eq!(id, "m42_abcdef0123");
        assert_eq!(seq_of_message_id(&id), Some(42));
        for bad in [
            "42_abc",
            "m_abc",
            "m042_abc",
            "m42_",
            "m42_xyz",
            "m4x_abc",
            "m1234567890123_ab",
        ] {
            assert_eq!(seq_of_message_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn items_serialize_as_documented() {
        let item = RoomItem {
            id: "msg_1".into(),
            seq: 3,
            kind: ItemType::GoodsFeatured,
            at_ms: 10,
            offset_ms: 5,
            user: None,
            data: serde_json::json!({"goods_index": 2}),
            deleted: false,
        };
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(v["type"], "goods.featured");
        assert_eq!(v["seq"], 3);
        assert!(v["user"].is_null());
    }
}
