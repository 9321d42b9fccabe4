//! The signed API's audience items (docs/api.md "Audience interaction"): gifts, after the
//! customer's own payment and idempotent by `order_id`, and announcements (`goods.featured`,
//! `notice`). Both are stored with the room's next `seq` and then published on its channel,
//! like viewers' messages (audience.rs).

use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;
use zhibo_api::{json_response, parse_json, parse_room_id, ApiError, SignedRequest};
use zhibo_core::audience::commerce::{AnnouncementRequest, GiftRequest};
use zhibo_core::audience::item::RoomItem;
use zhibo_core::LiveStatus;
use zhibo_store::{Deps, GiftAdded, GIFT_ORDER_MIN_TTL_S};

use crate::audience::publish;

/// What `POST /v1/rooms/{room_id}/gifts` answers.
#[derive(Serialize)]
struct GiftShown {
    /// The `gift` item's id.
    id: String,
    /// Its `seq` in the room.
    seq: u64,
    /// True when this `order_id` had been accepted before: nothing was added now.
    duplicate: bool,
    /// The item as stored (and published the first time).
    item: RoomItem,
}

/// `POST /v1/rooms/{room_id}/gifts` `{"user_id", "nickname", "avatar"?, "gift_id", "name",
/// "count", "value_cents", "order_id"}` (signed, after the customer's own payment) →
/// `{"id", "seq", "duplicate", "item"}`. Once per `order_id` in the app: a retry (also racing)
/// answers the first gift's item with `"duplicate": true`, and it is shown, counted in
/// `stats` and sent as `gift.received` once. Only while the room is live (101, 105, 106).
pub async fn post_gift(
    State(st): State<Deps>,
    Path(raw_room): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room_id = parse_room_id(&raw_room)?;
    let body: GiftRequest = parse_json(&req.body)?;
    let gift = body
        .check()
        .map_err(|e| ApiError::bad_field(e.field, e.reason))?;
    let now_ms = zhibo_core::clock::now_ms();
    let now = now_ms.div_euclid(1000);
    let ttl_s = st.config.replay_ttl_days.saturating_mul(86_400);
    let added = st
        .chat
        .add_gift(
            &req.app.app_id,
            room_id,
            &gift,
            now + ttl_s,
            now + ttl_s.max(GIFT_ORDER_MIN_TTL_S),
            now_ms,
        )
        .await?;
    let (item, duplicate) = match added {
        GiftAdded::Added { item, event } => {
            tracing::info!(app_id = %req.app.app_id, room_id, order_id = %gift.order_id, seq = item.seq, event_id = %event.id, "gift added");
            publish(&st, &req.app.app_id, room_id, &item).await;
            (item, false)
        }
        GiftAdded::Duplicate(item) => (item, true),
        GiftAdded::OrderReused(why) => return Err(ApiError::conflict(why)),
        GiftAdded::RoomMissing => {
            return Err(ApiError::not_found(format!(
                "room {room_id} does not exist"
            )))
        }
        GiftAdded::NotLive(status) => {
            return Err(ApiError::conflict(format!(
            "room {room_id} is not live ({}): gifts are taken only during a live (101, 105 or 106)",
            status.code()
        )))
        }
    };
    Ok(json_response(
        StatusCode::OK,
        &GiftShown {
            id: item.id.clone(),
            seq: item.seq,
            duplicate,
            item,
        },
    ))
}

/// What `POST /v1/rooms/{room_id}/announcements` answers.
#[derive(Serialize)]
struct AnnouncementShown {
    id: String,
    seq: u64,
    item: RoomItem,
}

/// `POST /v1/rooms/{room_id}/announcements` `{"type": "goods.featured", "goods_index"}` or
/// `{"type": "notice", "text"}` (signed) → `{"id", "seq", "item"}`: a `goods.featured` item
/// carrying the room's goods entry, or a `notice` (1-500 characters; the app's own text, so
/// not matched against its blocked words). From the room itself (`user` null). Taken before
/// and during a live (102, 101, 105, 106); refused once it is over (103, 104, 107).
pub async fn post_announcement(
    State(st): State<Deps>,
    Path(raw_room): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room_id = parse_room_id(&raw_room)?;
    let body: AnnouncementRequest = parse_json(&req.body)?;
    let app_id = req.app.app_id.as_str();
    let room = st
        .rooms
        .get_room(app_id, room_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("room {room_id} does not exist")))?;
    if matches!(
        room.live_status,
        LiveStatus::Ended | LiveStatus::Banned | LiveStatus::Expired
    ) {
        return Err(ApiError::conflict(format!(
            "room {room_id} is over ({}): announcements are taken before and during a live only",
            room.live_status.code()
        )));
    }
    let ann = body
        .check(&room.goods)
        .map_err(|e| ApiError::bad_field(e.field, e.reason))?;
    let now_ms = zhibo_core::clock::now_ms();
    let offset_ms = room.lifecycle.offset_ms(now_ms);
    let expires_at = now_ms.div_euclid(1000) + st.config.replay_ttl_days.saturating_mul(86_400);
    let item = st
        .chat
        .append(app_id, room_id, expires_at, |seq| RoomItem {
            id: format!("a{seq}_{}", zhibo_core::ids::random_hex(5)),
            seq,
            kind: ann.kind,
            at_ms: now_ms,
            offset_ms,
            user: None,
            data: ann.data.clone(),
            deleted: false,
        })
        .await?;
    publish(&st, app_id, room_id, &item).await;
    Ok(json_response(
        StatusCode::OK,
        &AnnouncementShown {
            id: item.id.clone(),
            seq: item.seq,
            item,
        },
    ))
}
