//! The rooms function: every `/v1/rooms` route of docs/api.md "Rooms".
//!
//! Trigger: API Gateway HTTP API (events: `events/rooms-*.apigw-v2.json`). [`router`] is an
//! axum Router that lambda_http runs directly, and that the local server (`zhibo serve`)
//! merges with the other functions' routers, so both run the same handler code.

mod audience;
mod commerce;
mod flood;
mod presence;
mod review;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use zhibo_api::ApiError;
use zhibo_api::{
    json_response, parse_json, parse_room_id, query_number, query_pairs, SignedRequest,
};
use zhibo_core::clock::now;
use zhibo_core::lifecycle::{Action, Input, Verdict};
use zhibo_core::room::{CreateRoom, PatchRoom, Room};
use zhibo_core::signing::{UrlPurpose, UrlSignature};
use zhibo_core::LiveStatus;
use zhibo_store::Deps;
use zhibo_store::{IdempotencyKey, StoreError};

/// Largest page of `GET /v1/rooms`.
pub const MAX_LIMIT: u64 = 100;
/// How often a write that lost a race with another is re-read and retried.
const WRITE_RETRIES: usize = 5;

/// The routes of this function.
pub fn router(state: Deps) -> Router {
    Router::new()
        .route("/v1/rooms", get(list_rooms).post(create_room))
        .route(
            "/v1/rooms/{room_id}",
            get(get_room).patch(patch_room).delete(delete_room),
        )
        .route("/v1/rooms/{room_id}/status", get(room_status))
        .route("/v1/rooms/{room_id}/push-url", post(push_url))
        .route("/v1/rooms/{room_id}/actions", post(room_action))
        .route("/v1/rooms/{room_id}/replays", get(list_replays))
        .route("/v1/rooms/{room_id}/play-urls", get(play_urls))
        .route("/v1/rooms/{room_id}/viewer-tokens", post(viewer_token))
        .route(
            "/v1/rooms/{room_id}/messages",
            post(audience::post_message)
                .get(audience::history)
                .options(audience::preflight),
        )
        .route(
            "/v1/rooms/{room_id}/moderation",
            post(audience::room_moderation),
        )
        .route(
            "/v1/rooms/{room_id}/likes",
            post(audience::post_likes).options(audience::preflight),
        )
        .route(
            "/v1/rooms/{room_id}/presence",
            post(presence::post_presence).options(audience::preflight),
        )
        .route("/v1/rooms/{room_id}/stats", get(audience::stats))
        .route("/v1/rooms/{room_id}/gifts", post(commerce::post_gift))
        .route(
            "/v1/rooms/{room_id}/announcements",
            post(commerce::post_announcement),
        )
        .route(
            "/v1/moderation",
            get(audience::get_moderation).put(audience::put_moderation),
        )
        .with_state(state)
}

/// Default validity of a viewer token.
pub const DEFAULT_VIEWER_TOKEN_TTL_S: i64 = 7200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewerTokenRequest {
    user_id: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    avatar: String,
    #[serde(default = "viewer_role")]
    role: zhibo_core::audience::token::Role,
    ttl_s: Option<i64>,
}

fn viewer_role() -> zhibo_core::audience::token::Role {
    zhibo_core::audience::token::Role::Viewer
}

/// `POST /v1/rooms/{room_id}/viewer-tokens` → `{"token", "expires_at", "realtime"}`: the
/// customer's backend vouches for one of its users in one room (docs/api.md "Audience
/// interaction"). The token is verified later without a database read; this route reads the
/// room once, so no token is issued for a deleted or banned room.
async fn viewer_token(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let Some(audience) = st.config.audience.as_ref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            zhibo_core::error::codes::UNAVAILABLE,
            "audience interaction is not configured: set VIEWER_TOKEN_KEY, REALTIME_WS_URL and REALTIME_HTTP_URL",
        ));
    };
    let body: ViewerTokenRequest = parse_json(&req.body)?;
    let ttl = body.ttl_s.unwrap_or(DEFAULT_VIEWER_TOKEN_TTL_S);
    if !(60..=zhibo_core::audience::token::MAX_TTL_S).contains(&ttl) {
        return Err(ApiError::bad_field(
            "ttl_s",
            "must be 60..=86400 seconds (or absent: 7200)",
        ));
    }
    let room = load_room(&st, &req.app.app_id, &room_id).await?;
    if room.live_status == LiveStatus::Banned {
        return Err(ApiError::conflict(format!(
            "room {} is banned (104): no viewer tokens are issued for it",
            room.room_id
        )));
    }
    let claims = zhibo_core::audience::token::ViewerClaims {
        app_id: room.app_id.clone(),
        room_id: room.room_id,
        user_id: body.user_id,
        nickname: body.nickname,
        avatar: body.avatar,
        role: body.role,
        exp: now() + ttl,
    };
    claims
        .check()
        .map_err(|e| ApiError::bad_field(e.field, e.reason))?;
    Ok(json_response(StatusCode::OK, &audience.grant(&claims)))
}

#[derive(Serialize)]
struct PlayUrls {
    hls: String,
    /// The signed HTTP-FLV URL on the media workers; `None` when `PLAY_HOST` is not set.
    flv: Option<String>,
    /// When the first of the URLs stops working (`None` when none expires).
    expires_at: Option<i64>,
    mode: &'static str,
}

/// `GET /v1/rooms/{room_id}/play-urls` → `{"hls", "flv", "expires_at", "mode"}`: the public URL
/// of the live playlist, or a signed playback URL, and the signed HTTP-FLV URL on the media
/// workers (`expires_at`: the earliest expiry). Refused for a banned room.
async fn play_urls(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room = load_room(&st, &req.app.app_id, &room_id).await?;
    if room.live_status == LiveStatus::Banned {
        return Err(ApiError::conflict(format!(
            "room {} is banned (104): it cannot be watched",
            room.room_id
        )));
    }
    let now = now();
    let url = st
        .config
        .playback
        .for_request(&req.headers)
        .live(&room.app_id, room.room_id, now);
    let flv = st
        .config
        .flv
        .as_ref()
        .map(|flv| flv.live(&room.app_id, room.room_id, now));
    let expires_at = [url.expires_at, flv.as_ref().and_then(|f| f.expires_at)]
        .into_iter()
        .flatten()
        .min();
    Ok(json_response(
        StatusCode::OK,
        &PlayUrls {
            hls: url.url,
            flv: flv.map(|f| f.url),
            expires_at,
            mode: match st.config.playback {
                zhibo_core::playback::Playback::Public { .. } => "public",
                zhibo_core::playback::Playback::Signed { .. } => "signed",
            },
        },
    ))
}

/// Largest page of `GET /v1/rooms/{id}/replays`.
pub const MAX_REPLAY_LIMIT: u64 = 100;

/// One replay as `GET /v1/rooms/{id}/replays` lists it.
#[derive(Serialize)]
struct ReplayEntry {
    replay_id: String,
    create_time: i64,
    end_time: i64,
    expire_time: i64,
    duration_s: f64,
    segments: u64,
    size_bytes: u64,
    media_url: String,
    /// Set when `media_url` is a signed URL: when it stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    media_url_expires_at: Option<i64>,
}

#[derive(Serialize)]
struct ReplayList {
    total: u64,
    replays: Vec<ReplayEntry>,
}

/// `GET /v1/rooms/{room_id}/replays?start=0&limit=10`: the room's replays, newest first (none
/// when the room has `close_replay`).
async fn list_replays(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let q = query_pairs(req.query.as_deref());
    let start = query_number(&q, "start", 0, 0, u64::from(u32::MAX))?;
    let limit = query_number(&q, "limit", 10, 1, MAX_REPLAY_LIMIT)? as u32;
    let room = load_room(&st, &req.app.app_id, &room_id).await?;
    let now = now();
    let page = st.replays.list_replays(&room, start, limit, now).await?;
    let playback = st.config.playback.for_request(&req.headers);
    let replays = page
        .replays
        .into_iter()
        .map(|r| {
            let url = playback.replay(&r.app_id, r.room_id, &r.replay_id, now);
            ReplayEntry {
                media_url: url.url,
                media_url_expires_at: url.expires_at,
                replay_id: r.replay_id,
                create_time: r.create_time,
                end_time: r.end_time,
                expire_time: r.expire_time,
                duration_s: r.duration_s,
                segments: r.segments,
                size_bytes: r.size_bytes,
            }
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &ReplayList {
            total: page.total,
            replays,
        },
    ))
}

fn idempotency_key(h: &HeaderMap, body: &[u8]) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(v) = h.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        .ok_or_else(|| {
            ApiError::bad_field("Idempotency-Key", "must be 1-255 visible ASCII characters")
        })?;
    Ok(Some(IdempotencyKey {
        key: key.to_string(),
        body_sha256: hex::encode(sha2::Sha256::digest(body)),
    }))
}

fn created(room: &Room, replayed: bool) -> Response {
    let mut res = json_response(StatusCode::CREATED, room);
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

/// `POST /v1/rooms` → 201 room. A retry with the same `Idempotency-Key` returns the first room.
async fn create_room(State(st): State<Deps>, req: SignedRequest) -> Result<Response, ApiError> {
    let app_id = &req.app.app_id;
    let idem = idempotency_key(&req.headers, &req.body)?;
    if let Some(key) = &idem {
        // A retry is answered before validation: the first request's answer stands even if
        // its start_time has since come too close.
        if let Some(room) = st.rooms.find_idempotent_room(app_id, key, now()).await? {
            return Ok(created(&room, true));
        }
    }
    let body: CreateRoom = parse_json(&req.body)?;
    body.validate(now(), st.config.min_start_lead_s)?;
    let out = st
        .rooms
        .create_room(app_id, body, idem.as_ref(), &st.create_limits(), now())
        .await?;
    Ok(created(&out.room, out.replayed))
}

#[derive(Serialize)]
struct RoomList {
    total: u64,
    rooms: Vec<Room>,
}

/// `GET /v1/rooms?start=0&limit=10[&live_status=101]`, newest `start_time` first.
async fn list_rooms(State(st): State<Deps>, req: SignedRequest) -> Result<Response, ApiError> {
    let q = query_pairs(req.query.as_deref());
    let start = query_number(&q, "start", 0, 0, u64::from(u32::MAX))?;
    let limit = query_number(&q, "limit", 10, 1, MAX_LIMIT)? as u32;
    let status = match q.iter().find(|(k, _)| k == "live_status") {
        None => None,
        Some((_, v)) => Some(
            v.parse::<u16>()
                .ok()
                .and_then(LiveStatus::from_code)
                .ok_or_else(|| {
                    ApiError::bad_field("live_status", format_args!("must be 101-107; got {v:?}"))
                })?,
        ),
    };
    let page = st
        .rooms
        .list_rooms(&req.app.app_id, status, start, limit)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &RoomList {
            total: page.total,
            rooms: page.rooms,
        },
    ))
}

async fn load_room(st: &Deps, app_id: &str, raw_id: &str) -> Result<Room, ApiError> {
    let room_id = parse_room_id(raw_id)?;
    st.rooms
        .get_room(app_id, room_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("room {room_id} does not exist")))
}

/// `GET /v1/rooms/{room_id}`.
async fn get_room(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room = load_room(&st, &req.app.app_id, &room_id).await?;
    Ok(json_response(StatusCode::OK, &room))
}

/// `PATCH /v1/rooms/{room_id}`: not while a live session is in progress.
async fn patch_room(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let patch: PatchRoom = parse_json(&req.body)?;
    if patch.is_empty() {
        return Err(ApiError::bad_request(
            "request body changes nothing; send at least one field to change",
        ));
    }
    for _ in 0..WRITE_RETRIES {
        let room = load_room(&st, &req.app.app_id, &room_id).await?;
        let new = room.apply_patch(&patch, now(), st.config.min_start_lead_s)?;
        match st
            .rooms
            .replace_room(&room, &new, &st.create_limits())
            .await
        {
            Ok(saved) => {
                // close_replay set: the room's replays stop being served (docs/api.md "Takedown").
                if saved.close_replay && !room.close_replay {
                    take_down(
                        &st,
                        &saved.app_id,
                        saved.room_id,
                        zhibo_core::takedown::Scope::Replays,
                    )
                    .await;
                }
                return Ok(json_response(StatusCode::OK, &saved));
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// `DELETE /v1/rooms/{room_id}` → 204; 409 while a live session is in progress.
async fn delete_room(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    for _ in 0..WRITE_RETRIES {
        let room = load_room(&st, &req.app.app_id, &room_id).await?;
        if room.live_status.session_in_progress() {
            return Err(ApiError::conflict(format!(
                "room {} is live (live_status {}); end it before deleting",
                room.room_id, room.live_status
            )));
        }
        match st.rooms.delete_room(&room, &st.create_limits()).await {
            Ok(()) => return Ok(StatusCode::NO_CONTENT.into_response()),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

#[derive(Serialize)]
struct RoomStatus {
    room_id: u64,
    live_status: LiveStatus,
    updated_at: i64,
}

/// The status endpoint's entity tag: a digest of exactly what the body shows (heartbeats bump
/// the room's version without changing it, so the version is not used).
fn status_etag(room: &Room) -> String {
    format!(
        "\"{}-{}-{}\"",
        room.room_id,
        room.live_status.code(),
        room.updated_at
    )
}

/// `GET /v1/rooms/{room_id}/status` with an `ETag`; `If-None-Match` answers 304.
async fn room_status(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room = load_room(&st, &req.app.app_id, &room_id).await?;
    let etag = status_etag(&room);
    let matches = req
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(
            StatusCode::OK,
            &RoomStatus {
                room_id: room.room_id,
                live_status: room.live_status,
                updated_at: room.updated_at,
            },
        )
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// How long after the room's `end_time` a push URL stays valid (an encoder that reconnects
/// late is not locked out).
pub const PUSH_URL_AFTER_END_S: i64 = 3600;
/// Shortest lifetime of a push URL, seconds.
pub const MIN_PUSH_URL_TTL_S: i64 = 60;
/// Longest lifetime of a push URL, seconds (a week, for OBS profiles set up ahead): the most
/// the worker accepts.
pub const MAX_PUSH_URL_TTL_S: i64 = zhibo_core::signing::MAX_URL_TTL_S;

/// The expiry of a push URL (docs/api.md "Stream URLs"): `now + expires_in`, by default the room's
/// `end_time` + 1 h, never later than that nor more than 7 days ahead. `None` when the room's
/// `end_time` + 1 h is less than a minute away.
pub fn push_url_expiry(end_time: i64, expires_in: Option<i64>, now: i64) -> Option<i64> {
    let cap = end_time
        .saturating_add(PUSH_URL_AFTER_END_S)
        .min(now.saturating_add(MAX_PUSH_URL_TTL_S));
    if cap < now.saturating_add(MIN_PUSH_URL_TTL_S) {
        return None;
    }
    Some(expires_in.map_or(cap, |ttl| now.saturating_add(ttl).min(cap)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushUrlRequest {
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Serialize)]
struct PushUrl {
    push_url: String,
    server: String,
    stream_key: String,
    expires_at: i64,
}

/// `POST /v1/rooms/{room_id}/push-url` `{"expires_in"}` → a Tencent-compatible signed RTMP URL,
/// also split into OBS's `server` and `stream_key`. Refused once the room can never go live
/// again (ended, banned, expired).
async fn push_url(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let body: PushUrlRequest = if req.body.iter().all(u8::is_ascii_whitespace) {
        PushUrlRequest { expires_in: None }
    } else {
        parse_json(&req.body)?
    };
    if body
        .expires_in
        .is_some_and(|ttl| !(MIN_PUSH_URL_TTL_S..=MAX_PUSH_URL_TTL_S).contains(&ttl))
    {
        return Err(ApiError::bad_field(
            "expires_in",
            format!(
                "must be {MIN_PUSH_URL_TTL_S}..={MAX_PUSH_URL_TTL_S} seconds (or absent: valid until the room's end_time + 1 h)"
            ),
        ));
    }
    let Some(master) = st.config.push_key.as_deref() else {
        return Err(ApiError::internal(
            &"PUSH_KEY is not configured, so push URLs cannot be signed",
        ));
    };
    let room = load_room(&st, &req.app.app_id, &room_id).await?;
    if matches!(
        room.live_status,
        LiveStatus::Ended | LiveStatus::Banned | LiveStatus::Expired
    ) {
        return Err(ApiError::conflict(format!(
            "room {} is {} ({}); it cannot go live again",
            room.room_id,
            match room.live_status {
                LiveStatus::Ended => "ended",
                LiveStatus::Banned => "banned",
                _ => "expired",
            },
            room.live_status.code()
        )));
    }
    let now = now();
    let Some(expires_at) = push_url_expiry(room.end_time, body.expires_in, now) else {
        return Err(ApiError::conflict(format!(
            "room {}'s end_time + 1 h ({}) is less than {MIN_PUSH_URL_TTL_S} s away or has \
             passed, and push URLs are valid until then at the latest; {}",
            room.room_id,
            room.end_time.saturating_add(PUSH_URL_AFTER_END_S),
            if room.live_status == LiveStatus::NotStarted {
                "PATCH the room's end_time to a later time, or create a new room"
            } else {
                "create a new room to go live again"
            }
        )));
    };
    let sig = UrlSignature::sign_room(
        master,
        UrlPurpose::Push,
        &room.app_id,
        room.room_id,
        expires_at,
    );
    let server = format!("rtmp://{}/live/", st.config.ingest_host);
    let stream_key = format!("{}?{}", room.stream_name, sig.query());
    Ok(json_response(
        StatusCode::OK,
        &PushUrl {
            push_url: format!("{server}{stream_key}"),
            server,
            stream_key,
            expires_at,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionRequest {
    action: Action,
}

#[derive(Serialize)]
struct ActionResult {
    room_id: u64,
    action: Action,
    live_status: LiveStatus,
    previous_status: LiveStatus,
    changed: bool,
    updated_at: i64,
    /// After `ban`: `"complete"` when the room's media is already gone from the bucket (and
    /// CDN), `"pending"` when the sweeper finishes it (docs/api.md "Takedown").
    #[serde(skip_serializing_if = "Option::is_none")]
    media_takedown: Option<&'static str>,
}

/// Takes a banned room's media down (or a `close_replay` room's replays): recorded for the
/// sweeper to repeat, and run once now within [`zhibo_core::takedown::ANSWER_BUDGET`]. A
/// failure is logged and left to the sweeper: the status change already stands.
async fn take_down(
    st: &Deps,
    app_id: &str,
    room_id: u64,
    scope: zhibo_core::takedown::Scope,
) -> &'static str {
    match st
        .takedown
        .request(
            &st.lifecycle,
            &st.config.timers,
            app_id,
            room_id,
            scope,
            zhibo_core::clock::now_ms(),
            zhibo_core::takedown::ANSWER_BUDGET,
        )
        .await
    {
        Ok(r) if r.complete => "complete",
        Ok(_) => "pending",
        Err(e) => {
            tracing::error!(
                app_id,
                room_id,
                "takedown failed; the sweeper retries it: {e}"
            );
            "pending"
        }
    }
}

/// Closes the room's open replay from the bucket within [`zhibo_core::takedown::ANSWER_BUDGET`];
/// a failure or timeout is logged (the replay stays open in the bucket: see the README).
async fn close_replay_now(st: &Deps, app_id: &str, room_id: u64) {
    let close = zhibo_store::live_room::close_replay(
        &st.media,
        app_id,
        room_id,
        zhibo_core::clock::now_ms(),
        zhibo_store::live_room::CloseRule::Any,
    );
    match tokio::time::timeout(zhibo_core::takedown::ANSWER_BUDGET, close).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(app = %app_id, room = room_id, "closing the replay failed: {e}")
        }
        Err(_) => tracing::warn!(app = %app_id, room = room_id, "closing the replay took too long"),
    }
}

/// `POST /v1/rooms/{room_id}/actions` `{"action": "pause"|"resume"|"ban"|"end"}` → 200 with the
/// new status (an action already in effect changes nothing and says so); 409 when the room's
/// status does not allow it. `pause`, `ban` and `end` drop the publisher at its worker's next
/// heartbeat (the hook answers `allow: false`), and refuse republishing. `ban` also takes the
/// room's media down ([`zhibo_core::takedown`]).
async fn room_action(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let room_id = zhibo_api::parse_room_id(&room_id)?;
    let body: ActionRequest = parse_json(&req.body)?;
    let applied = st
        .lifecycle
        .apply_lifecycle(
            &req.app.app_id,
            room_id,
            Input::Action(body.action),
            &st.config.timers,
            st.config.max_concurrent_lives,
            zhibo_core::clock::now_ms(),
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(format!("room {room_id} does not exist")),
            e => e.into(),
        })?;
    let room = &applied.outcome.room;
    if let Verdict::Deny(reason) = &applied.outcome.verdict {
        return Err(ApiError::conflict(reason.clone()));
    }
    // A repeated ban runs the takedown again (idempotent): a retry after a failed one helps.
    let media_takedown = match (body.action, room.live_status) {
        (Action::Ban, LiveStatus::Banned) => Some(
            take_down(
                &st,
                &req.app.app_id,
                room_id,
                zhibo_core::takedown::Scope::Room,
            )
            .await,
        ),
        _ => None,
    };
    // An `end` while no worker writes the room (the publisher had left, or its worker died):
    // its replay closes now, from the bucket. A writing worker is dropped at its next
    // heartbeat and closes its own.
    if body.action == Action::End
        && room.live_status == LiveStatus::Ended
        && applied.before.live_status != LiveStatus::Ended
        && zhibo_core::lifecycle::writer_gone(room, &st.config.timers, room.updated_at)
    {
        close_replay_now(&st, &req.app.app_id, room_id).await;
    }
    Ok(json_response(
        StatusCode::OK,
        &ActionResult {
            room_id,
            action: body.action,
            live_status: room.live_status,
            previous_status: applied.before.live_status,
            changed: room.live_status != applied.before.live_status,
            updated_at: room.updated_at,
            media_takedown,
        },
    ))
}
