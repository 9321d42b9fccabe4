//! The signed API's items (docs/api.md "Audience interaction"): gifts (idempotent by
//! `order_id`), announcements (`goods.featured`, `notice`) and the `status` items that mirror a
//! room's live_status changes. Pure checks and shapes; the rooms function and the webhook
//! delivery store and publish what these build.

use serde::{Deserialize, Serialize};

use super::item::{ItemType, ItemUser};
use super::token::{Role, MAX_AVATAR_LEN, MAX_NICKNAME_CHARS, MAX_USER_ID_LEN};
use crate::room::Goods;
use crate::webhook::{EventType, WebhookEvent};

/// Most of one gift in one order.
pub const MAX_GIFT_COUNT: u64 = 9_999;
/// Highest value of one gift, in cents (1,000,000 yuan).
pub const MAX_GIFT_VALUE_CENTS: u64 = 100_000_000;
/// Longest `gift_id` and `order_id`, in bytes.
pub const MAX_GIFT_KEY_LEN: usize = 64;
/// Longest gift `name`, in characters.
pub const MAX_GIFT_NAME_CHARS: usize = 32;
/// Longest notice, in characters.
pub const MAX_NOTICE_CHARS: usize = 500;

/// A refused field: which one and why (the route answers 400 with both).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong and what is accepted.
    pub reason: String,
}

fn bad<T>(field: &'static str, reason: impl Into<String>) -> Result<T, FieldError> {
    Err(FieldError {
        field,
        reason: reason.into(),
    })
}

/// An id the customer chose (`gift_id`, `order_id`): 1-64 bytes of `A-Z a-z 0-9 _ - . : #`.
fn safe_key(field: &'static str, v: &str) -> Result<(), FieldError> {
    if v.is_empty()
        || v.len() > MAX_GIFT_KEY_LEN
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'#'))
    {
        return bad(
            field,
            "must be 1-64 characters of A-Z, a-z, 0-9 and _ - . : #",
        );
    }
    Ok(())
}

/// A display text: at most `max` characters, no control characters.
fn display(field: &'static str, v: &str, max: usize, required: bool) -> Result<(), FieldError> {
    let chars = v.chars().count();
    if (required && v.trim().is_empty()) || chars > max || v.chars().any(char::is_control) {
        let size = if required {
            format!("1 to {max}")
        } else {
            format!("at most {max}")
        };
        return bad(
            field,
            format!("must be {size} characters without control characters"),
        );
    }
    Ok(())
}

/// `POST /v1/rooms/{room_id}/gifts` as sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftRequest {
    /// The giver (the customer's user id).
    pub user_id: String,
    /// The giver's shown name.
    #[serde(default)]
    pub nickname: String,
    /// The giver's avatar URL (`https://`, optional).
    #[serde(default)]
    pub avatar: String,
    /// The customer's gift id.
    pub gift_id: String,
    /// The gift's shown name.
    pub name: String,
    /// How many (1..=9999).
    pub count: u64,
    /// The value of one, in cents (0..=100,000,000).
    pub value_cents: u64,
    /// The customer's order: a gift is accepted once per `order_id` in an app.
    pub order_id: String,
}

/// A checked gift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gift {
    /// The giver (role `viewer`).
    pub user: ItemUser,
    /// The customer's gift id.
    pub gift_id: String,
    /// Shown name.
    pub name: String,
    /// How many.
    pub count: u64,
    /// Value of one, in cents.
    pub value_cents: u64,
    /// The customer's order id.
    pub order_id: String,
}

impl GiftRequest {
    /// Checks every field (the first bad one is named).
    pub fn check(self) -> Result<Gift, FieldError> {
        if self.user_id.is_empty()
            || self.user_id.len() > MAX_USER_ID_LEN
            || self.user_id.chars().any(char::is_control)
        {
            return bad("user_id", "must be 1-64 bytes without control characters");
        }
        display("nickname", &self.nickname, MAX_NICKNAME_CHARS, false)?;
        if !self.avatar.is_empty()
            && (self.avatar.len() > MAX_AVATAR_LEN
                || !self.avatar.starts_with("https://")
                || self.avatar.chars().any(char::is_control))
        {
            return bad(
                "avatar",
                "must be empty or an https:// URL of at most 512 characters",
            );
        }
        safe_key("gift_id", &self.gift_id)?;
        display("name", &self.name, MAX_GIFT_NAME_CHARS, true)?;
        if !(1..=MAX_GIFT_COUNT).contains(&self.count) {
            return bad(
                "count",
                format!("must be 1..={MAX_GIFT_COUNT} (got {})", self.count),
            );
        }
        if self.value_cents > MAX_GIFT_VALUE_CENTS {
            return bad(
                "value_cents",
                format!(
                    "must be 0..={MAX_GIFT_VALUE_CENTS} cents per gift (got {})",
                    self.value_cents
                ),
            );
        }
        safe_key("order_id", &self.order_id)?;
        Ok(Gift {
            user: ItemUser {
                user_id: self.user_id,
                nickname: self.nickname,
                avatar: self.avatar,
                role: Role::Viewer,
            },
            gift_id: self.gift_id,
            name: self.name,
            count: self.count,
            value_cents: self.value_cents,
            order_id: self.order_id,
        })
    }
}

impl Gift {
    /// The total value, `count * value_cents` (bounded above: at most about 10^12).
    pub fn total_cents(&self) -> u64 {
        self.count.saturating_mul(self.value_cents)
    }

    /// The `gift` item's `data`.
    pub fn item_data(&self) -> serde_json::Value {
        serde_json::json!({
            "gift_id": self.gift_id,
            "name": self.name,
            "count": self.count,
            "value_cents": self.value_cents,
            "order_id": self.order_id,
        })
    }

    /// The `gift.received` webhook's `data` for the gift stored as item `item_id`/`item_seq`
    /// of room `room_id` at `at_ms`.
    pub fn event_data(
        &self,
        room_id: u64,
        item_id: &str,
        item_seq: u64,
        at_ms: i64,
    ) -> serde_json::Value {
        serde_json::json!({
            "room_id": room_id,
            "order_id": self.order_id,
            "user": self.user,
            "gift_id": self.gift_id,
            "name": self.name,
            "count": self.count,
            "value_cents": self.value_cents,
            "total_cents": self.total_cents(),
            "item_id": item_id,
            "item_seq": item_seq,
            "at_ms": at_ms,
        })
    }

    /// Why a retry with the same `order_id` is not the same gift, if it is not: every field
    /// must match the first request's (and its room).
    pub fn mismatch(&self, room_id: u64, first: &Gift, first_room: u64) -> Option<String> {
        if room_id != first_room {
            return Some(format!(
                "order_id {:?} was already used for a gift in room {first_room}",
                first.order_id
            ));
        }
        if self != first {
            return Some(format!(
                "order_id {:?} was already used for a different gift (user, gift, count or value differ); use a new order_id for a new gift",
                first.order_id
            ));
        }
        None
    }
}

/// `POST /v1/rooms/{room_id}/announcements` as sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementRequest {
    /// `goods.featured` or `notice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `goods.featured`: the index in the room's `goods`.
    pub goods_index: Option<u64>,
    /// For `notice`: the text.
    pub text: Option<String>,
}

/// A checked announcement: the item's type and data.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// `goods.featured` or `notice`.
    pub kind: ItemType,
    /// The item's data.
    pub data: serde_json::Value,
}

/// A notice's text, checked: trimmed, 1..=500 characters, no control characters but newlines.
pub fn check_notice_text(text: &str) -> Result<String, String> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err("text is empty".into());
    }
    if chars > MAX_NOTICE_CHARS {
        return Err(format!(
            "text is {chars} characters; at most {MAX_NOTICE_CHARS}"
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("text has control characters".into());
    }
    Ok(text.to_string())
}

impl AnnouncementRequest {
    /// Checks the request against the room's `goods` (the shelf a `goods_index` points into).
    pub fn check(self, goods: &[Goods]) -> Result<Announcement, FieldError> {
        match self.kind.as_str() {
            "goods.featured" => {
                if self.text.is_some() {
                    return bad(
                        "text",
                        "is for type notice; goods.featured takes goods_index",
                    );
                }
                let Some(i) = self.goods_index else {
                    return bad("goods_index", "required for goods.featured: the index of the goods in the room's goods list");
                };
                let Some(g) = usize::try_from(i).ok().and_then(|i| goods.get(i)) else {
                    return bad(
                        "goods_index",
                        if goods.is_empty() {
                            format!("{i} is out of range: the room has no goods (set them with PATCH /v1/rooms/{{room_id}})")
                        } else {
                            format!(
                                "{i} is out of range: the room has {} goods (0..={})",
                                goods.len(),
                                goods.len() - 1
                            )
                        },
                    );
                };
                Ok(Announcement {
                    kind: ItemType::GoodsFeatured,
                    data: serde_json::json!({
                        "goods_index": i,
                        "name": g.name,
                        "price": g.price,
                        "url": g.url,
                        "cover_img": g.cover_img,
                    }),
                })
            }
            "notice" => {
                if self.goods_index.is_some() {
                    return bad(
                        "goods_index",
                        "is for type goods.featured; notice takes text",
                    );
                }
                let Some(text) = self.text else {
                    return bad("text", "required for notice: 1 to 500 characters");
                };
                let text = check_notice_text(&text).map_err(|reason| FieldError {
                    field: "text",
                    reason,
                })?;
                Ok(Announcement {
                    kind: ItemType::Notice,
                    data: serde_json::json!({"text": text}),
                })
            }
            other => bad(
                "type",
                format!("{other:?} is not one of goods.featured, notice"),
            ),
        }
    }
}

/// The `status` item's `data` for a room event: `{"live_status", "previous_status",
/// "reason"}`; `None` for events that are not live_status changes (`replay.ready`,
/// `gift.received`).
pub fn status_data(event: &WebhookEvent) -> Option<serde_json::Value> {
    match event.kind {
        EventType::RoomStarted
        | EventType::RoomPaused
        | EventType::RoomResumed
        | EventType::RoomAbnormal
        | EventType::RoomEnded
        | EventType::RoomBanned
        | EventType::RoomExpired => {
            let d = &event.data;
            let mut data = serde_json::json!({"live_status": d.get("live_status")?.as_u64()?});
            if let Some(p) = d.get("previous_status").and_then(|v| v.as_u64()) {
                data["previous_status"] = p.into();
            }
            if let Some(r) = d.get("reason").and_then(|v| v.as_str()) {
                data["reason"] = r.into();
            }
            Some(data)
        }
        EventType::ReplayReady | EventType::GiftReceived => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gift() -> GiftRequest {
        GiftRequest {
            user_id: "u1".into(),
            nickname: "小明".into(),
            avatar: String::new(),
            gift_id: "rocket".into(),
            name: "火箭".into(),
            count: 2,
            value_cents: 500,
            order_id: "ord_2024-01:7".into(),
        }
    }

    #[test]
    fn gifts_are_checked_field_by_field() {
        let g = gift().check().unwrap();
        assert_eq!(g.user.role, Role::Viewer);
        assert_eq!(g.total_cents(), 1000);
        assert_eq!(g.item_data()["order_id"], "ord_2024-01:7");
        type Change = Box<dyn Fn(&mut GiftRequest)>;
        let cases: Vec<(&str, Change)> = vec![
            ("user_id", Box::new(|g| g.user_id.clear())),
            ("user_id", Box::new(|g| g.user_id = "x".repeat(65))),
            ("nickname", Box::new(|g| g.nickname = "名".repeat(33))),
            ("nickname", Box::new(|g| g.nickname = "a\u{7}".into())),
            ("avatar", Box::new(|g| g.avatar = "http://x/a.png".into())),
            ("gift_id", Box::new(|g| g.gift_id.clear())),
            ("gift_id", Box::new(|g| g.gift_id = "a b".into())),
            ("name", Box::new(|g| g.name = "  ".into())),
            ("name", Box::new(|g| g.name = "名".repeat(33))),
            ("count", Box::new(|g| g.count = 0)),
            ("count", Box::new(|g| g.count = 10_000)),
            ("value_cents", Box::new(|g| g.value_cents = 100_000_001)),
            ("order_id", Box::new(|g| g.order_id.clear())),
            ("order_id", Box::new(|g| g.order_id = "o".repeat(65))),
            ("order_id", Box::new(|g| g.order_id = "订单1".into())),
            ("order_id", Box::new(|g| g.order_id = "a/b".into())),
        ];
        for (field, change) in cases {
            let mut g = gift();
            change(&mut g);
            assert_eq!(g.check().unwrap_err().field, field);
        }
        let mut max = gift();
        max.count = MAX_GIFT_COUNT;
        max.value_cents = MAX_GIFT_VALUE_CENTS;
        max.order_id = "o".repeat(64);
        assert_eq!(max.check().unwrap().total_cents(), 999_900_000_000);
        let mut free = gift();
        free.value_cents = 0;
        assert!(free.check().is_ok());
    }

    #[test]
    fn a_reused_order_id_must_be_the_same_gift() {
        let g = gift().check().unwrap();
        assert_eq!(g.mismatch(7, &g, 7), None);
        assert!(g.mismatch(8, &g, 7).unwrap().contains("room 7"));
        let mut other = gift();
        other.count = 3;
        let other = other.check().unwrap();
        assert!(other.mismatch(7, &g, 7).unwrap().contains("different gift"));
    }

    fn goods() -> Vec<Goods> {
        vec![Goods {
            cover_img: "https://x/c.png".into(),
            url: "pages/p?id=1".into(),
            price: 1999,
            name: "茶".into(),
        }]
    }

    fn ann(kind: &str, goods_index: Option<u64>, text: Option<&str>) -> AnnouncementRequest {
        AnnouncementRequest {
            kind: kind.into(),
            goods_index,
            text: text.map(Into::into),
        }
    }

    #[test]
    fn announcements_point_into_the_shelf_or_carry_a_notice() {
        let a = ann("goods.featured", Some(0), None)
            .check(&goods())
            .unwrap();
        assert_eq!(a.kind, ItemType::GoodsFeatured);
        assert_eq!(a.data["name"], "茶");
        assert_eq!(a.data["price"], 1999);
        assert_eq!(a.data["goods_index"], 0);
        let e = ann("goods.featured", Some(1), None)
            .check(&goods())
            .unwrap_err();
        assert_eq!(e.field, "goods_index");
        assert!(e.reason.contains("1 goods"), "{e}");
        assert!(ann("goods.featured", Some(0), None)
            .check(&[])
            .unwrap_err()
            .reason
            .contains("no goods"));
        assert_eq!(
            ann("goods.featured", Some(u64::MAX), None)
                .check(&goods())
                .unwrap_err()
                .field,
            "goods_index"
        );
        assert_eq!(
            ann("goods.featured", None, None)
                .check(&goods())
                .unwrap_err()
                .field,
            "goods_index"
        );
        let n = ann("notice", None, Some(" 今晚 8 点上新 "))
            .check(&[])
            .unwrap();
        assert_eq!(n.kind, ItemType::Notice);
        assert_eq!(n.data["text"], "今晚 8 点上新");
        for bad in [None, Some(""), Some("a\u{0}")] {
            assert_eq!(
                ann("notice", None, bad).check(&[]).unwrap_err().field,
                "text"
            );
        }
        let long = "字".repeat(501);
        assert!(ann("notice", None, Some(&long)).check(&[]).is_err());
        assert!(ann("notice", None, Some(&long[..1500])).check(&[]).is_ok());
        assert_eq!(
            ann("notice", Some(0), Some("x"))
                .check(&[])
                .unwrap_err()
                .field,
            "goods_index"
        );
        assert_eq!(
            ann("poll", None, None).check(&[]).unwrap_err().field,
            "type"
        );
    }

    #[test]
    fn room_events_become_status_data() {
        let mut e = WebhookEvent {
            id: "evt_1".into(),
            kind: EventType::RoomEnded,
            created_at: 1,
            app_id: "demo".into(),
            room_id: 7,
            seq: 3,
            data: serde_json::json!({"live_status": 103, "previous_status": 101, "reason": "end", "session_id": "s"}),
        };
        assert_eq!(
            status_data(&e),
            Some(serde_json::json!({"live_status": 103, "previous_status": 101, "reason": "end"}))
        );
        e.kind = EventType::ReplayReady;
        assert_eq!(status_data(&e), None);
        e.kind = EventType::GiftReceived;
        assert_eq!(status_data(&e), None);
        e.kind = EventType::RoomStarted;
        e.data = serde_json::json!({});
        assert_eq!(status_data(&e), None);
    }
}
