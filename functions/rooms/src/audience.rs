//! Audience routes of the rooms function (docs/api.md "Audience interaction"): viewers post
//! messages with their viewer token (`Authorization: Bearer`, CORS on), the customer's backend
//! reads a room's history with the signed API. Every accepted item is stored with the room's
//! next `seq` first, then published on the room's channel: an item is never delivered without
//! being in the history, and a client that sees a gap in `seq` reads it from there.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use zhibo_api::{
    json_response, parse_json, parse_room_id, query_number, query_pairs, ApiError, SignedRequest,
};
use zhibo_core::audience::channel::room_channel;
use zhibo_core::audience::item::{check_message_text, ItemType, RoomItem};
use zhibo_core::audience::rate_limit::Limit;
use zhibo_core::audience::token::{verify, TokenError, ViewerClaims};
use zhibo_core::audience::AudienceConfig;
use zhibo_core::error::codes;
use zhibo_core::LiveStatus;
use zhibo_store::{Deps, MAX_HISTORY_PAGE};

/// Messages one user may post: 1 per second on average, 5 at once.
pub const USER_MESSAGE_LIMIT: Limit = Limit { per_s: 1, burst: 5 };
/// Largest body of a viewer route.
const MAX_VIEWER_BODY: usize = 4096;

/// Adds the CORS headers of the viewer routes (the token is the credential, sent explicitly).
fn cors(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    res
}

/// `OPTIONS` of the viewer routes: the CORS preflight.
pub async fn preflight() -> Response {
    let mut res = cors(StatusCode::NO_CONTENT.into_response());
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    res
}

fn audience(st: &Deps) -> Result<&AudienceConfig, ApiError> {
    st.config.audience.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            "audience interaction is not configured: set VIEWER_TOKEN_KEY, REALTIME_WS_URL and REALTIME_HTTP_URL",
        )
    })
}

/// The viewer behind `Authorization: Bearer {token}`, for room `room_id` of the token's app.
fn viewer(
    aud: &AudienceConfig,
    headers: &HeaderMap,
    room_id: u64,
) -> Result<ViewerClaims, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "send `Authorization: Bearer {token}` with a viewer token from POST /v1/rooms/{room_id}/viewer-tokens",
            )
        })?;
    let claims = verify(
        &aud.viewer_token_key,
        token.trim(),
        zhibo_core::clock::now(),
        None,
    )
    .map_err(|e: TokenError| ApiError::unauthorized(e.to_string()))?;
    if claims.room_id != room_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            format!(
                "this viewer token is for room {}, not room {room_id}: get a token for this room",
                claims.room_id
            ),
        ));
    }
    Ok(claims)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostMessage {
    text: String,
}

/// What `POST /v1/rooms/{room_id}/messages` answers.
#[derive(Serialize)]
struct PostedMessage {
    id: String,
    seq: u64,
    status: &'static str,
}

/// `POST /v1/rooms/{room_id}/messages` `{"text"}` with a viewer token.
pub async fn post_message(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    cors(
        match post_message_inner(&st, &room_id, &headers, &body).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        },
    )
}

async fn post_message_inner(
    st: &Deps,
    raw_room: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let aud = audience(st)?;
    let room_id = parse_room_id(raw_room)?;
    let claims = viewer(aud, headers, room_id)?;
    if body.len() > MAX_VIEWER_BODY {
        return Err(ApiError::too_large(MAX_VIEWER_BODY));
    }
    let msg: PostMessage = parse_json(body)?;
    let text = check_message_text(&msg.text).map_err(|e| ApiError::bad_field("text", e))?;
    let now_ms = zhibo_core::clock::now_ms();
    if let Err(wait) = st
        .chat
        .take_rate(
            &claims.app_id,
            room_id,
            &claims.user_id,
            USER_MESSAGE_LIMIT,
            now_ms,
        )
        .await
        .map_err(ApiError::from)?
    {
        let mut res = ApiError::quota(format!(
            "user {} posts too fast: at most {} message per second ({} at once); retry after {} s",
            claims.user_id,
            USER_MESSAGE_LIMIT.per_s,
            USER_MESSAGE_LIMIT.burst,
            wait.seconds()
        ))
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.seconds()));
        return Ok(res);
    }
    let room = st
        .rooms
        .get_room(&claims.app_id, room_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("room {room_id} does not exist")))?;
    if !matches!(
        room.live_status,
        LiveStatus::Live | LiveStatus::Paused | LiveStatus::Abnormal
    ) {
        return Err(ApiError::conflict(format!(
            "room {room_id} is not live ({}): messages are taken only during a live (replays are read-only)",
            room.live_status.code()
        )));
    }
    if room.close_comment {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            format!("comments are closed in room {room_id} (close_comment)"),
        ));
    }
    let offset_ms = room
        .lifecycle
        .live_started_at
        .map_or(0, |s| (now_ms - s * 1000).max(0));
    let expires_at = now_ms / 1000 + st.config.replay_ttl_days * 86_400;
    let user = (&claims).into();
    let item = st
        .chat
        .append(&claims.app_id, room_id, expires_at, |seq| RoomItem {
            id: format!("msg_{}", zhibo_core::ids::random_hex(10)),
            seq,
            kind: ItemType::Message,
            at_ms: now_ms,
            offset_ms,
            user: Some(ItemUser::clone(&user)),
            data: serde_json::json!({"text": text}),
        })
        .await?;
    publish(st, &claims.app_id, room_id, &item).await;
    Ok(json_response(
        StatusCode::OK,
        &PostedMessage {
            id: item.id,
            seq: item.seq,
            status: "published",
        },
    ))
}

use zhibo_core::audience::item::ItemUser;

/// Publishes a stored item on its room's channel. A failure is logged, not returned: the
/// item is in the history, where subscribers fill the gap in `seq` from.
async fn publish(st: &Deps, app_id: &str, room_id: u64, item: &RoomItem) {
    let Some(publisher) = &st.realtime else {
        return;
    };
    let event = match serde_json::to_string(item) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "room item not serializable");
            return;
        }
    };
    if let Err(e) = publisher
        .publish(&room_channel(app_id, room_id), &[event])
        .await
    {
        tracing::warn!(app_id, room_id, seq = item.seq, error = %e, "realtime publish failed; the item is in the history");
    }
}

/// What `GET /v1/rooms/{room_id}/messages` answers.
#[derive(Serialize)]
struct History {
    items: Vec<RoomItem>,
    /// The `seq` to pass as `after_seq` for the next page (the last item's, or `after_seq`).
    next_after_seq: u64,
}

/// `GET /v1/rooms/{room_id}/messages?after_seq=&limit=` (signed): the room's items in `seq`
/// order, also after the live (for the replay: `offset_ms` lines them up with it).
pub async fn history(
    State(st): State<Deps>,
    Path(raw_room): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room_id = parse_room_id(&raw_room)?;
    let q = query_pairs(req.query.as_deref());
    let after_seq = query_number(&q, "after_seq", 0, 0, 999_999_999_998)?;
    let limit = query_number(&q, "limit", 50, 1, u64::from(MAX_HISTORY_PAGE))? as u32;
    st.rooms
        .get_room(&req.app.app_id, room_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("room {room_id} does not exist")))?;
    let items = st
        .chat
        .history(&req.app.app_id, room_id, after_seq, limit)
        .await?;
    let next_after_seq = items.last().map_or(after_seq, |i| i.seq);
    Ok(json_response(
        StatusCode::OK,
        &History {
            items,
            next_after_seq,
        },
    ))
}
