//! The WeChat-compatible function: `GET /cgi-bin/token` and `POST /wxa/business/getliveinfo`,
//! with WeChat's exact field names and error codes, so a backend written for WeChat's live API
//! only changes its base URL.
//!
//! Trigger: API Gateway HTTP API (events: `events/wechat-*.apigw-v2.json`).

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use zhibo_api::ApiError;
use zhibo_api::{json_response, query_pairs, read_body};
use zhibo_core::clock::now;
use zhibo_core::room::Room;
use zhibo_core::signing::constant_time_eq;
use zhibo_store::Deps;

/// Lifetime of an access token, in seconds (as WeChat).
pub const TOKEN_TTL_S: i64 = 7200;

/// WeChat error codes used here.
pub mod wx_codes {
    /// Invalid credential: the access token is unknown.
    pub const INVALID_CREDENTIAL: i64 = 40001;
    /// Invalid grant_type.
    pub const INVALID_GRANT_TYPE: i64 = 40002;
    /// Invalid appid.
    pub const INVALID_APPID: i64 = 40013;
    /// Invalid arguments.
    pub const INVALID_ARGS: i64 = 40097;
    /// Invalid appsecret.
    pub const INVALID_APPSECRET: i64 = 40125;
    /// access_token missing.
    pub const ACCESS_TOKEN_MISSING: i64 = 41001;
    /// appid missing.
    pub const APPID_MISSING: i64 = 41002;
    /// secret missing.
    pub const SECRET_MISSING: i64 = 41004;
    /// access_token expired.
    pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
    /// Data format error (the body is not the expected JSON).
    pub const DATA_FORMAT: i64 = 47001;
    /// The app has created no live room (getliveinfo).
    pub const NO_ROOMS: i64 = 1;
}

/// The routes of this function.
pub fn router(state: Deps) -> Router {
    Router::new()
        .route("/cgi-bin/token", get(token))
        .route("/wxa/business/getliveinfo", post(getliveinfo))
        .with_state(state)
}

fn wx(status: StatusCode, errcode: i64, errmsg: impl Into<String>) -> ApiError {
    ApiError::new(status, errcode, errmsg)
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

/// Longest `secret` compared (app secrets are 64 hex characters).
const MAX_SECRET_LEN: usize = 128;

/// `GET /cgi-bin/token?grant_type=client_credential&appid=..&secret=..`. Malformed app ids are
/// refused before any read; app records come through [`Deps::app`]'s short cache.
async fn token(State(st): State<Deps>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = query_pairs(raw.as_deref());
    match param(&q, "grant_type") {
        Some("client_credential") => {}
        other => {
            return Err(wx(
                StatusCode::BAD_REQUEST,
                wx_codes::INVALID_GRANT_TYPE,
                format!("invalid grant_type {other:?}: use grant_type=client_credential"),
            ))
        }
    }
    let app_id = param(&q, "appid").ok_or_else(|| {
        wx(
            StatusCode::BAD_REQUEST,
            wx_codes::APPID_MISSING,
            "appid missing",
        )
    })?;
    let secret = param(&q, "secret").ok_or_else(|| {
        wx(
            StatusCode::BAD_REQUEST,
            wx_codes::SECRET_MISSING,
            "secret missing",
        )
    })?;
    // Refused before any read: an app id of the wrong format, a secret of the wrong length.
    if !zhibo_core::app::is_valid_app_id(app_id) {
        return Err(wx(
            StatusCode::UNAUTHORIZED,
            wx_codes::INVALID_APPID,
            "invalid appid: an app id is [a-z0-9]{4,32}",
        ));
    }
    // One answer for an unknown app and a wrong secret, so app ids cannot be probed.
    let refused = || {
        wx(
            StatusCode::UNAUTHORIZED,
            wx_codes::INVALID_APPSECRET,
            "invalid appid or appsecret: check both against what was printed when the app was created",
        )
    };
    if secret.len() > MAX_SECRET_LEN {
        return Err(refused());
    }
    let app = st.app(app_id, now()).await?.ok_or_else(refused)?;
    if !constant_time_eq(app.app_secret.as_bytes(), secret.as_bytes()) {
        return Err(refused());
    }
    let access_token = zhibo_core::ids::random_hex(32);
    st.apps
        .put_token(&access_token, &app.app_id, now() + TOKEN_TTL_S)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &TokenResponse {
            access_token,
            expires_in: TOKEN_TTL_S,
        },
    ))
}

#[derive(Deserialize)]
struct LiveInfoRequest {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    room_id: Option<serde_json::Value>,
    #[serde(default)]
    start: Option<serde_json::Value>,
    #[serde(default)]
    limit: Option<serde_json::Value>,
}

/// WeChat's `room_info` entry: exactly its field names.
#[derive(Serialize)]
struct RoomInfo<'a> {
    name: &'a str,
    roomid: u64,
    cover_img: &'a str,
    live_status: u16,
    start_time: i64,
    end_time: i64,
    anchor_name: &'a str,
    anchor_img: &'a str,
    goods: &'a [zhibo_core::room::Goods],
}

impl<'a> From<&'a Room> for RoomInfo<'a> {
    fn from(r: &'a Room) -> Self {
        RoomInfo {
            name: &r.name,
            roomid: r.room_id,
            cover_img: &r.cover_img,
            live_status: r.live_status.code(),
            start_time: r.start_time,
            end_time: r.end_time,
            anchor_name: &r.anchor_name,
            anchor_img: &r.anchor_img,
            goods: &r.goods,
        }
    }
}

#[derive(Serialize)]
struct RoomInfoResponse<'a> {
    errcode: i64,
    errmsg: &'static str,
    room_info: Vec<RoomInfo<'a>>,
    total: u64,
}

/// A non-negative integer field (WeChat clients send numbers; numeric strings are accepted).
fn int_field(
    v: &Option<serde_json::Value>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let n = match v {
        None | Some(serde_json::Value::Null) => return Ok(default),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    };
    n.filter(|n| *n <= max).ok_or_else(|| {
        wx(
            StatusCode::BAD_REQUEST,
            wx_codes::INVALID_ARGS,
            format!("{name}: must be an integer in 0..={max}"),
        )
    })
}

/// `POST /wxa/business/getliveinfo?access_token=..`: the room list (errcode 1 when the app has
/// no rooms).
async fn getliveinfo(
    State(st): State<Deps>,
    headers: http::HeaderMap,
    RawQuery(raw): RawQuery,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let body = read_body(body).await?;
    let q = query_pairs(raw.as_deref());
    let token = param(&q, "access_token").ok_or_else(|| {
        wx(
            StatusCode::UNAUTHORIZED,
            wx_codes::ACCESS_TOKEN_MISSING,
            "access_token missing: get one from /cgi-bin/token",
        )
    })?;
    let (app_id, expires_at) = st.apps.token_app(token).await?.ok_or_else(|| {
        wx(
            StatusCode::UNAUTHORIZED,
            wx_codes::INVALID_CREDENTIAL,
            "invalid credential: access_token is invalid; get one from /cgi-bin/token",
        )
    })?;
    if expires_at <= now() {
        return Err(wx(
            StatusCode::UNAUTHORIZED,
            wx_codes::ACCESS_TOKEN_EXPIRED,
            "access_token expired; get a new one from /cgi-bin/token",
        ));
    }
    let req: LiveInfoRequest = serde_json::from_slice(&body).map_err(|e| {
        wx(
            StatusCode::BAD_REQUEST,
            wx_codes::DATA_FORMAT,
            format!("data format error: the body must be a JSON object like {{\"start\":0,\"limit\":10}} ({e})"),
        )
    })?;
    match req.action.as_deref() {
        None => {}
        Some("get_replay") => return get_replay(&st, &headers, &app_id, &req).await,
        Some(action) => {
            return Err(wx(
                StatusCode::BAD_REQUEST,
                wx_codes::INVALID_ARGS,
                format!(
                    "action {action:?} is not supported: use \"get_replay\", or omit action to list rooms"
                ),
            ))
        }
    }
    let start = int_field(&req.start, "start", 0, u64::from(u32::MAX))?;
    let limit = int_field(&req.limit, "limit", 10, 100)?.max(1) as u32;
    let page = st.rooms.list_rooms(&app_id, None, start, limit).await?;
    let (errcode, errmsg) = if page.total == 0 {
        (
            wx_codes::NO_ROOMS,
            "no live room: this app has not created any room",
        )
    } else {
        (0, "ok")
    };
    Ok(json_response(
        StatusCode::OK,
        &RoomInfoResponse {
            errcode,
            errmsg,
            room_info: page.rooms.iter().map(RoomInfo::from).collect(),
            total: page.total,
        },
    ))
}

/// WeChat's `live_replay` entry: exactly its field names, times in ISO 8601 UTC.
#[derive(Serialize)]
struct LiveReplay {
    expire_time: String,
    create_time: String,
    media_url: String,
}

#[derive(Serialize)]
struct LiveReplayResponse {
    live_replay: Vec<LiveReplay>,
    errcode: i64,
    total: u64,
    errmsg: &'static str,
}

/// `getliveinfo` with `{"action": "get_replay", "room_id", "start", "limit"}`: the room's
/// replays, newest first. `expire_time` is when `media_url` stops working (the replay's
/// expiry, or a signed URL's, whichever is first), as WeChat's field means.
async fn get_replay(
    st: &Deps,
    headers: &http::HeaderMap,
    app_id: &str,
    req: &LiveInfoRequest,
) -> Result<Response, ApiError> {
    if req.room_id.is_none() {
        return Err(wx(
            StatusCode::BAD_REQUEST,
            wx_codes::INVALID_ARGS,
            "room_id: required with action get_replay",
        ));
    }
    let room_id = int_field(&req.room_id, "room_id", 0, u64::MAX)?;
    let start = int_field(&req.start, "start", 0, u64::from(u32::MAX))?;
    let limit = int_field(&req.limit, "limit", 10, 100)?.max(1) as u32;
    let room = st.rooms.get_room(app_id, room_id).await?.ok_or_else(|| {
        wx(
            StatusCode::NOT_FOUND,
            wx_codes::NO_ROOMS,
            format!("room_id {room_id} does not exist"),
        )
    })?;
    let now = now();
    let page = st.replays.list_replays(&room, start, limit, now).await?;
    let playback = st.config.playback.for_request(headers);
    let live_replay = page
        .replays
        .iter()
        .map(|r| {
            let url = playback.replay(app_id, room_id, &r.replay_id, now);
            let expires = url
                .expires_at
                .map_or(r.expire_time, |t| t.min(r.expire_time));
            LiveReplay {
                expire_time: zhibo_core::table::iso8601_utc(expires),
                create_time: zhibo_core::table::iso8601_utc(r.create_time),
                media_url: url.url,
            }
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &LiveReplayResponse {
            live_replay,
            errcode: 0,
            total: page.total,
            errmsg: "ok",
        },
    ))
}
