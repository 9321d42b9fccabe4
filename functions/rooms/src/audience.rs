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
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use zhibo_api::{
    json_response, parse_json, parse_room_id, query_number, query_pairs, ApiError, SignedRequest,
};
use zhibo_core::audience::channel::room_channel;

use zhibo_core::audience::item::{
    check_message_text, message_id, seq_of_message_id, ItemType, ItemUser, RoomItem,
};
use zhibo_core::audience::moderation::BlockedWords;
use zhibo_core::audience::review::{Decision, ReviewFail, ReviewSettings};
use zhibo_core::audience::token::{verify, TokenError, ViewerClaims};
use zhibo_core::audience::AudienceConfig;
use zhibo_core::error::codes;
use zhibo_core::LiveStatus;
use zhibo_store::{Deps, Refused, MAX_HISTORY_PAGE};

/// Like batches one user may post per second (clients batch taps, up to 100 per batch).
pub const USER_LIKE_BATCHES_PER_S: u32 = 50;
/// Most taps in one like batch.
pub const MAX_LIKES_PER_BATCH: u64 = 100;
/// Largest body of a viewer route.
const MAX_VIEWER_BODY: usize = 4096;

/// 429 with `Retry-After` (whole seconds) and the reason.
fn too_fast(reason: String, wait: zhibo_core::audience::rate_limit::RetryAfter) -> Response {
    let mut res =
        ApiError::quota(format!("{reason}; retry after {} s", wait.seconds())).into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait.seconds()));
    res
}

/// When an item accepted at `now_ms` sits in the live (`offset_ms`), and when its history
/// expires (with the room's replays).
fn offset_and_expiry(st: &Deps, room: &zhibo_core::room::Room, now_ms: i64) -> (i64, i64) {
    (
        room.lifecycle.offset_ms(now_ms),
        now_ms / 1000 + st.config.replay_ttl_days * 86_400,
    )
}

/// Adds the CORS headers of the viewer routes (the token is the credential, sent explicitly).
pub(crate) fn cors(mut res: Response) -> Response {
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

/// A viewer route's request: the viewer (token for this room), the room id and the JSON body,
/// checked in that order (nothing is parsed before the token is verified).
pub(crate) fn viewer_request<T: serde::de::DeserializeOwned>(
    st: &Deps,
    raw_room: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ViewerClaims, u64, T), ApiError> {
    let aud = audience(st)?;
    let room_id = parse_room_id(raw_room)?;
    let claims = viewer(aud, headers, room_id)?;
    if body.len() > MAX_VIEWER_BODY {
        return Err(ApiError::too_large(MAX_VIEWER_BODY));
    }
    Ok((claims, room_id, parse_json(body)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostMessage {
    text: String,
}

/// What `POST /v1/rooms/{room_id}/messages` answers.
#[derive(Serialize)]
struct PostedMessage {
    id: Option<String>,
    seq: Option<u64>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// How long a function keeps an app's blocked words before reading them again.
pub const BLOCKED_WORDS_CACHE_S: i64 = 10;

type WordsCache = Mutex<HashMap<String, (i64, Arc<BlockedWords>)>>;

fn words_cache() -> &'static WordsCache {
    static CACHE: OnceLock<WordsCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The app's blocked words, from this process's cache (at most [`BLOCKED_WORDS_CACHE_S`] old).
async fn blocked_words(st: &Deps, app_id: &str) -> Result<Arc<BlockedWords>, ApiError> {
    let now = zhibo_core::clock::now();
    let cached = words_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(app_id)
        .filter(|(at, _)| now - at < BLOCKED_WORDS_CACHE_S)
        .map(|(_, w)| w.clone());
    if let Some(words) = cached {
        return Ok(words);
    }
    let list = st.chat.blocked_words(app_id).await?;
    // Stored lists were checked when put; one that no longer builds blocks nothing new.
    let words = Arc::new(BlockedWords::new(&list).unwrap_or_else(|e| {
        tracing::error!(app_id, error = %e, "stored blocked words do not build");
        BlockedWords::new(&[]).expect("an empty list builds")
    }));
    words_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(app_id.to_string(), (now, words.clone()));
    Ok(words)
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
    let (claims, room_id, msg): (_, _, PostMessage) = viewer_request(st, raw_room, headers, body)?;
    let text = check_message_text(&msg.text).map_err(|e| ApiError::bad_field("text", e))?;
    let now_ms = zhibo_core::clock::now_ms();
    let limit = audience(st)?.message_limit;
    match st
        .chat
        .take_message_token(&claims.app_id, room_id, &claims.user_id, limit, now_ms)
        .await
        .map_err(ApiError::from)?
    {
        Ok(()) => {}
        Err(Refused::TooFast(wait)) => {
            return Ok(too_fast(
                format!(
                    "user {} posts too fast: at most one message per {} ms ({} at once)",
                    claims.user_id, limit.interval_ms, limit.burst
                ),
                wait,
            ))
        }
        Err(Refused::Muted) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                format!("user {} is muted in room {room_id}", claims.user_id),
            ))
        }
    }
    let room = live_room(st, &claims, room_id, "messages").await?;
    if room.close_comment {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            format!("comments are closed in room {room_id} (close_comment)"),
        ));
    }
    if let Some(word) = blocked_words(st, &claims.app_id).await?.find(&text) {
        tracing::info!(app_id = %claims.app_id, room_id, user = %claims.user_id, word, "message rejected: blocked word");
        return Ok(json_response(
            StatusCode::OK,
            &PostedMessage {
                id: None,
                seq: None,
                status: "rejected",
                reason: Some("the text contains a word this app blocks".into()),
            },
        ));
    }
    let (offset_ms, expires_at) = offset_and_expiry(st, &room, now_ms);
    let user = (&claims).into();
    // The app's review call, then the room's flood control (docs/api.md "Messages"), which
    // holds the message or appends it.
    let refused =
        match crate::review::review(st, &claims.app_id, room_id, &user, &text, now_ms).await? {
            Decision::Publish => None,
            Decision::Held(reason) => Some(("held", reason)),
            Decision::Rejected(reason) => Some(("rejected", reason)),
        };
    let appended = match refused {
        Some(refusal) => Err(refusal),
        None => {
            let per_s = audience(st)?.room_messages_per_s;
            let build = |seq| RoomItem {
                id: message_id(seq, &zhibo_core::ids::random_hex(5)),
                seq,
                kind: ItemType::Message,
                at_ms: now_ms,
                offset_ms,
                user: Some(ItemUser::clone(&user)),
                data: serde_json::json!({"text": text}),
                deleted: false,
            };
            crate::flood::append(
                st,
                &claims.app_id,
                room_id,
                expires_at,
                per_s,
                now_ms,
                build,
            )
            .await?
            .map_err(|reason| ("held", reason))
        }
    };
    let item = match appended {
        Ok(item) => item,
        Err((status, reason)) => {
            return Ok(json_response(
                StatusCode::OK,
                &PostedMessage {
                    id: None,
                    seq: None,
                    status,
                    reason: Some(reason),
                },
            ))
        }
    };
    publish(st, &claims.app_id, room_id, &item).await;
    Ok(json_response(
        StatusCode::OK,
        &PostedMessage {
            id: Some(item.id),
            seq: Some(item.seq),
            status: "published",
            reason: None,
        },
    ))
}

/// Publishes a stored item on its room's channel. A failure is logged, not returned: the
/// item is in the history, where subscribers fill the gap in `seq` from.
pub(crate) async fn publish(st: &Deps, app_id: &str, room_id: u64, item: &RoomItem) {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutModeration {
    blocked_words: Vec<String>,
    review_url: Option<String>,
    review_fail: Option<String>,
}

#[derive(Serialize)]
struct ModerationShown {
    blocked_words: Vec<String>,
    review_url: Option<String>,
    review_fail: Option<ReviewFail>,
    /// The whole secret, in the answer of `PUT` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    review_secret: Option<String>,
    /// Its last 4 characters, in the answer of `GET` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    review_secret_hint: Option<String>,
}

impl ModerationShown {
    fn new(m: zhibo_store::Moderation, whole_secret: bool) -> ModerationShown {
        let secret = m.review.as_ref().map(|r| r.secret.clone());
        let hint = secret.as_ref().map(|s| {
            let start = s.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
            s[start..].to_string()
        });
        ModerationShown {
            blocked_words: m.blocked_words,
            review_url: m.review.as_ref().map(|r| r.url.clone()),
            review_fail: m.review.as_ref().map(|r| r.fail),
            review_secret: secret.filter(|_| whole_secret),
            review_secret_hint: hint.filter(|_| !whole_secret),
        }
    }
}

/// `PUT /v1/moderation` `{"blocked_words", "review_url"?, "review_fail"?}` (signed): replaces
/// the app's blocked words (at most 1000, each at most 50 characters) and its review call
/// (none without `review_url`; `review_fail` `open`, the default, or `closed`). The answer
/// carries the review call's signing secret, generated when a review call is first set and
/// kept while one stays set. Changes apply to new messages within 10 s.
pub async fn put_moderation(
    State(st): State<Deps>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let body: PutModeration = parse_json(&req.body)?;
    BlockedWords::new(&body.blocked_words).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fail = match body.review_fail.as_deref() {
        None => ReviewFail::Open,
        Some(f) => ReviewFail::parse(f).ok_or_else(|| {
            ApiError::bad_field(
                "review_fail",
                format!("{f:?} is not \"open\" or \"closed\""),
            )
        })?,
    };
    let app_id = req.app.app_id.as_str();
    let review = match body.review_url {
        None if body.review_fail.is_some() => {
            return Err(ApiError::bad_field(
                "review_fail",
                "applies to a review call: send it with review_url",
            ))
        }
        None => None,
        Some(url) => {
            crate::review::validate_review_url(&url, st.config.webhook_allow_http)?;
            let secret = match st.chat.moderation(app_id).await?.review {
                Some(current) => current.secret,
                None => zhibo_core::audience::review::new_review_secret(),
            };
            Some(ReviewSettings { url, fail, secret })
        }
    };
    let settings = zhibo_store::Moderation {
        blocked_words: body.blocked_words,
        review,
    };
    st.chat
        .put_moderation(app_id, &settings, zhibo_core::clock::now())
        .await?;
    words_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(app_id);
    crate::review::forget(app_id);
    Ok(json_response(
        StatusCode::OK,
        &ModerationShown::new(settings, true),
    ))
}

/// `GET /v1/moderation` (signed): the settings, with the review secret's last 4 characters.
pub async fn get_moderation(
    State(st): State<Deps>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &ModerationShown::new(st.chat.moderation(&req.app.app_id).await?, false),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomModeration {
    action: String,
    user_id: Option<String>,
    message_id: Option<String>,
}

/// `POST /v1/rooms/{room_id}/moderation` `{"action": "mute"|"unmute", "user_id"}` or
/// `{"action": "delete_message", "message_id"}` (signed) → `{"action", "changed"}`. A deleted
/// message's data is emptied in the history and a `message.deleted` item is published.
pub async fn room_moderation(
    State(st): State<Deps>,
    Path(raw_room): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room_id = parse_room_id(&raw_room)?;
    let body: RoomModeration = parse_json(&req.body)?;
    let app_id = req.app.app_id.as_str();
    st.rooms
        .get_room(app_id, room_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("room {room_id} does not exist")))?;
    let changed = match body.action.as_str() {
        "mute" | "unmute" => {
            let user = body
                .user_id
                .filter(|u| !u.is_empty() && u.len() <= 64 && !u.chars().any(char::is_control))
                .ok_or_else(|| {
                    ApiError::bad_field("user_id", "required for mute and unmute: 1-64 bytes")
                })?;
            let muted = body.action == "mute";
            st.chat
                .set_muted(app_id, room_id, &user, muted, zhibo_core::clock::now())
                .await?
        }
        "delete_message" => {
            let id = body
                .message_id
                .ok_or_else(|| ApiError::bad_field("message_id", "required for delete_message"))?;
            let seq = seq_of_message_id(&id).ok_or_else(|| {
                ApiError::bad_field("message_id", "is not a message id (m{seq}_{hex})")
            })?;
            let item = st
                .chat
                .get_item(app_id, room_id, seq)
                .await?
                .filter(|i| i.id == id && i.kind == ItemType::Message)
                .ok_or_else(|| {
                    ApiError::not_found(format!("message {id} is not in room {room_id}"))
                })?;
            let changed = st.chat.mark_deleted(app_id, room_id, &item).await?;
            if changed {
                let now_ms = zhibo_core::clock::now_ms();
                let expires_at = now_ms / 1000 + st.config.replay_ttl_days * 86_400;
                let notice = st
                    .chat
                    .append(app_id, room_id, expires_at, |seq| RoomItem {
                        id: format!("d{seq}_{}", zhibo_core::ids::random_hex(5)),
                        seq,
                        kind: ItemType::MessageDeleted,
                        at_ms: now_ms,
                        offset_ms: (now_ms - item.at_ms).max(0) + item.offset_ms,
                        user: None,
                        data: serde_json::json!({"message_id": item.id, "seq": item.seq}),
                        deleted: false,
                    })
                    .await?;
                publish(&st, app_id, room_id, &notice).await;
            }
            changed
        }
        other => {
            return Err(ApiError::bad_field(
                "action",
                format!("{other:?} is not one of mute, unmute, delete_message"),
            ))
        }
    };
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"action": body.action, "changed": changed}),
    ))
}

/// The room behind a viewer route, when it takes audience input (live, paused or abnormal).
pub(crate) async fn live_room(
    st: &Deps,
    claims: &ViewerClaims,
    room_id: u64,
    what: &str,
) -> Result<zhibo_core::room::Room, ApiError> {
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
            "room {room_id} is not live ({}): {what} are taken only during a live (replays are read-only)",
            room.live_status.code()
        )));
    }
    Ok(room)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostLikes {
    count: u64,
}

/// `POST /v1/rooms/{room_id}/likes` `{"count": 1..100}` with a viewer token: adds a batch of
/// taps to the room's total (one write); at most one `likes` item per second per room carries
/// the running total on the channel.
pub async fn post_likes(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    cors(
        match post_likes_inner(&st, &room_id, &headers, &body).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        },
    )
}

async fn post_likes_inner(
    st: &Deps,
    raw_room: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (claims, room_id, likes): (_, _, PostLikes) = viewer_request(st, raw_room, headers, body)?;
    if !(1..=MAX_LIKES_PER_BATCH).contains(&likes.count) {
        return Err(ApiError::bad_field(
            "count",
            format!("must be 1..={MAX_LIKES_PER_BATCH} (batch taps on the client)"),
        ));
    }
    let now_ms = zhibo_core::clock::now_ms();
    if let Err(wait) = st
        .chat
        .count_in_window(
            &claims.app_id,
            room_id,
            &format!("likes#{}", claims.user_id),
            USER_LIKE_BATCHES_PER_S,
            now_ms,
        )
        .await?
    {
        return Ok(too_fast(
            format!(
                "user {} sends like batches too fast: at most {USER_LIKE_BATCHES_PER_S} per second (batch taps)",
                claims.user_id
            ),
            wait,
        ));
    }
    let room = live_room(st, &claims, room_id, "likes").await?;
    if room.close_like {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            format!("likes are closed in room {room_id} (close_like)"),
        ));
    }
    let added = st
        .chat
        .add_likes(&claims.app_id, room_id, likes.count, now_ms / 1000)
        .await?;
    if added.publish {
        // The latest total when the item is written (other batches may have landed since).
        let total = st
            .chat
            .counters(&claims.app_id, room_id)
            .await
            .map_or(added.total, |c| c.likes.max(added.total));
        let (offset_ms, expires_at) = offset_and_expiry(st, &room, now_ms);
        let item = st
            .chat
            .append(&claims.app_id, room_id, expires_at, |seq| RoomItem {
                id: format!("l{seq}_{}", zhibo_core::ids::random_hex(5)),
                seq,
                kind: ItemType::Likes,
                at_ms: now_ms,
                offset_ms,
                user: None,
                data: serde_json::json!({"total": total}),
                deleted: false,
            })
            .await?;
        publish(st, &claims.app_id, room_id, &item).await;
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"total": added.total}),
    ))
}

/// `GET /v1/rooms/{room_id}/stats` (signed): the room's audience figures (viewer numbers from
/// presence reports; likes, messages and gifts exact).
pub async fn stats(
    State(st): State<Deps>,
    Path(raw_room): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room_id = parse_room_id(&raw_room)?;
    st.rooms
        .get_room(&req.app.app_id, room_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("room {room_id} does not exist")))?;
    let now_s = zhibo_core::clock::now();
    let stats = st.chat.room_stats(&req.app.app_id, room_id, now_s).await?;
    Ok(json_response(StatusCode::OK, &stats))
}
