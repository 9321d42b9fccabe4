//! Signed playback (docs/api.md "Stream URLs"): `GET /play/{app_id}/{room_id}/index.m3u8` and
//! `GET /play/{app_id}/{room_id}/replays/{replay_id}.m3u8`, each with `?txSecret=..&txTime=..`
//! signed with the app's key derived from `PLAY_KEY` over the room's stream name (the push
//! URL's algorithm). A valid request gets the playlist from the private media bucket with
//! every segment URI replaced by a presigned S3 GET, so viewers play without a CDN and without
//! the bucket being public.
//!
//! Trigger: API Gateway HTTP API (`events/play-*.apigw-v2.json`); `zhibo serve` merges
//! [`router`] with the others. Layers: the signature check and
//! [`zhibo_core::playback::rewrite_playlist`] are pure; this crate adds the S3 reads, the
//! presigner and the HTTP answers (CORS on every answer, errors included, so a web player can
//! show why it was refused). A valid URL of a banned room, a deleted room or a `close_replay`
//! room's replay is refused ([`status`], docs/api.md "Takedown").

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use zhibo_api::query_pairs;
use zhibo_api::ApiError;
use zhibo_core::clock::now;
use zhibo_core::playback::{playlist_keys, rewrite_playlist, Playback};
use zhibo_core::replay::is_valid_replay_id;
use zhibo_core::room::RoomId;
use zhibo_core::signing::{UrlPurpose, UrlSignature};
use zhibo_core::{object_keys, Config};

/// Lifetime of the presigned segment URLs in a live playlist (players reload it every target
/// duration, so a segment is fetched within seconds of being listed).
pub const LIVE_SEGMENT_URL_TTL_S: i64 = 600;
/// Shortest lifetime of the presigned segment URLs in a replay playlist.
pub const MIN_REPLAY_SEGMENT_URL_TTL_S: i64 = 600;
/// Longest lifetime of a presigned URL (SigV4's limit: 7 days).
pub const MAX_PRESIGN_TTL_S: i64 = 7 * 86_400;
/// `Cache-Control` of a signed live playlist.
pub const CACHE_SIGNED_LIVE: &str = "private, max-age=1";
/// `Cache-Control` of a signed replay playlist.
pub const CACHE_SIGNED_REPLAY: &str = "private, max-age=60";

pub mod status;

/// What the playback routes need: configuration (the play key), the media bucket and the
/// rooms' status ([`status::RoomGate`]).
#[derive(Debug, Clone)]
pub struct PlayState {
    config: Arc<Config>,
    s3: aws_sdk_s3::Client,
    rooms: status::RoomGate,
}

impl PlayState {
    /// From configuration; `ZHIBO_S3_ENDPOINT` points the S3 client at SeaweedFS and
    /// `ZHIBO_DYNAMO_ENDPOINT` the table at DynamoDB Local.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> PlayState {
        let s3 = zhibo_store::aws::s3_client(sdk, config.s3_endpoint.as_deref());
        let store = zhibo_store::RoomStore::new(zhibo_store::Table::new(
            zhibo_store::aws::dynamo_client(sdk, &config),
            config.table.clone(),
        ));
        PlayState {
            config: Arc::new(config),
            s3,
            rooms: status::RoomGate::new(store),
        }
    }
}

/// The routes of this function.
pub fn router(state: PlayState) -> Router {
    Router::new()
        .route(
            "/play/{app_id}/{room_id}/index.m3u8",
            get(live).options(preflight),
        )
        .route(
            "/play/{app_id}/{room_id}/replays/{file}",
            get(replay).options(preflight),
        )
        .with_state(state)
}

/// Adds the CORS headers every playback answer carries (the URL itself is the credential, so
/// any origin may read it, as it may read a public bucket).
fn cors(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("content-length, content-type"),
    );
    res
}

async fn preflight() -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("range, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    cors(res)
}

/// Which playlist a request names.
enum Target {
    Live,
    Replay(String),
}

async fn live(
    State(st): State<PlayState>,
    Path((app_id, room_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    cors(
        serve(&st, &app_id, &room_id, Target::Live, query.as_deref())
            .await
            .unwrap_or_else(IntoResponse::into_response),
    )
}

async fn replay(
    State(st): State<PlayState>,
    Path((app_id, room_id, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let target = match file
        .strip_suffix(".m3u8")
        .filter(|id| is_valid_replay_id(id))
    {
        Some(id) => Target::Replay(id.to_string()),
        None => {
            return cors(
                ApiError::not_found(format!(
                    "{file:?} is not a replay playlist: expected replays/{{replay_id}}.m3u8"
                ))
                .into_response(),
            )
        }
    };
    cors(
        serve(&st, &app_id, &room_id, target, query.as_deref())
            .await
            .unwrap_or_else(IntoResponse::into_response),
    )
}

async fn serve(
    st: &PlayState,
    app_id: &str,
    raw_room: &str,
    target: Target,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let Playback::Signed { play_key, .. } = &st.config.playback else {
        return Err(ApiError::not_found(
            "signed playback is not enabled (PLAYBACK_MODE=public): play from the public URL \
             that GET /v1/rooms/{room_id}/play-urls returns",
        ));
    };
    zhibo_core::app::validate_app_id(app_id)
        .map_err(|_| ApiError::not_found(format!("unknown app {app_id:?}")))?;
    let room_id: RoomId = zhibo_api::parse_room_id(raw_room)?;
    let q = query_pairs(query);
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let now = now();
    // Verified over the path's own spelling: `/play/demo/07/...` is not room 7's URL.
    let expires_at = UrlSignature::verify_stream(
        play_key,
        UrlPurpose::Play,
        &format!("{app_id}_{raw_room}"),
        param("txSecret"),
        param("txTime"),
        now,
    )
    .map_err(|e| ApiError::unauthorized(format!("playback URL refused: {e}")))?;
    // A valid URL of a banned room (or of a close_replay room's replay) is refused.
    let facts = st.rooms.facts(app_id, room_id).await?;
    if let Some(refused) = status::refusal(room_id, facts, matches!(target, Target::Replay(_))) {
        return Err(refused);
    }
    let (key, url_ttl, cache) = match &target {
        Target::Live => (
            object_keys::live_playlist(app_id, room_id),
            LIVE_SEGMENT_URL_TTL_S,
            CACHE_SIGNED_LIVE,
        ),
        Target::Replay(id) => (
            object_keys::replay_playlist(app_id, room_id, id),
            (expires_at - now).clamp(MIN_REPLAY_SEGMENT_URL_TTL_S, MAX_PRESIGN_TTL_S),
            CACHE_SIGNED_REPLAY,
        ),
    };
    let text = read_playlist(st, &key, &target, room_id).await?;
    let presign =
        aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(url_ttl as u64))
            .map_err(|e| ApiError::internal(&e))?;
    // Presigning is local work (no request is sent): sign each key, then substitute.
    let segment_keys = playlist_keys(&text, &key);
    // A playlist names only its own room's media (L11): anything else is not signed.
    if let Some(outside) = segment_keys
        .iter()
        .find(|k| !object_keys::is_room_media(app_id, room_id, k))
    {
        return Err(ApiError::internal(&format!(
            "{key} names {outside}, outside room {room_id}'s media: not signed"
        )));
    }
    let mut urls = Vec::with_capacity(segment_keys.len());
    for k in &segment_keys {
        let req = st
            .s3
            .get_object()
            .bucket(&st.config.media_bucket)
            .key(k)
            .presigned(presign.clone())
            .await
            .map_err(|e| {
                ApiError::internal(&format!(
                    "presigning {k}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))
            })?;
        urls.push(req.uri().to_string());
    }
    let mut urls = urls.into_iter();
    let (body, _) = rewrite_playlist(&text, &key, |_| urls.next().unwrap_or_default());
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(object_keys::CONTENT_TYPE_PLAYLIST),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(res)
}

async fn read_playlist(
    st: &PlayState,
    key: &str,
    target: &Target,
    room_id: RoomId,
) -> Result<String, ApiError> {
    let out = match st
        .s3
        .get_object()
        .bucket(&st.config.media_bucket)
        .key(key)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
            return Err(ApiError::not_found(match target {
                Target::Live => format!("room {room_id} has no live stream yet: publish first"),
                Target::Replay(id) => format!("room {room_id} has no replay {id}"),
            }))
        }
        Err(e) => {
            return Err(ApiError::internal(&format!(
                "S3 GetObject {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )))
        }
    };
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| ApiError::internal(&format!("reading {key}: {e}")))?
        .into_bytes();
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::internal(&format!("{key} is not UTF-8 text")))
}
