//! Per-room flood control (docs/api.md "Messages"): a room publishes at most
//! `ROOM_MESSAGES_PER_S` messages per second, counted in DynamoDB so it holds across every
//! function instance; the rest are answered `held`, counted in the room's `messages_dropped`
//! and neither stored nor delivered.

use zhibo_api::ApiError;
use zhibo_core::audience::item::RoomItem;
use zhibo_store::Deps;

/// Appends a message that passed every other check, unless its room already published
/// `per_s` messages in the second of `now_ms`: then `Err(reason)` (and it is counted as
/// dropped). One write for the window, the `seq` and the count ([`ChatStore::append_message`]).
///
/// [`ChatStore::append_message`]: zhibo_store::ChatStore::append_message
pub async fn append(
    st: &Deps,
    app_id: &str,
    room_id: u64,
    expires_at: i64,
    per_s: u32,
    now_ms: i64,
    build: impl Fn(u64) -> RoomItem,
) -> Result<Result<RoomItem, String>, ApiError> {
    if let Ok(item) = st
        .chat
        .append_message(app_id, room_id, expires_at, per_s, now_ms, build)
        .await?
    {
        return Ok(Ok(item));
    }
    if let Err(e) = st.chat.count_dropped(app_id, room_id).await {
        tracing::warn!(app_id, room_id, error = %e, "dropped message not counted");
    }
    Ok(Err(format!(
        "room flood control: room {room_id} already published {per_s} messages this second \
         (ROOM_MESSAGES_PER_S); this one is counted, not delivered: send it again later"
    )))
}
