//! `POST /v1/rooms/{room_id}/presence` (viewer token, CORS on): a viewer reports that it is
//! watching, every ≤ 60 s ([`REPORT_INTERVAL_S`] recommended). It is how viewers are counted
//! (`viewers_now`, `viewers_peak`, `viewers_unique`, `watch_time_s`; see
//! [`zhibo_core::audience::presence`]), and it publishes the room's `stats` item when one is due.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use zhibo_api::{json_response, ApiError};
use zhibo_core::audience::presence::REPORT_INTERVAL_S;
use zhibo_store::Deps;

use crate::audience::{cors, live_room, viewer_request};

/// The report's body: `{}` (or none at all).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceReport {}

/// `POST /v1/rooms/{room_id}/presence`.
pub async fn post_presence(
    State(st): State<Deps>,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    cors(match report(&st, &room_id, &headers, &body).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    })
}

async fn report(
    st: &Deps,
    raw_room: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    let (claims, room_id, PresenceReport {}) = viewer_request(st, raw_room, headers, body)?;
    let room = live_room(st, &claims, room_id, "presence reports").await?;
    let now_ms = zhibo_core::clock::now_ms();
    let now_s = now_ms.div_euclid(1000);
    let expires_at = now_s + st.config.replay_ttl_days * 86_400;
    let counted = st
        .chat
        .record_presence(&claims.app_id, room_id, &claims.user_id, now_s, expires_at)
        .await?
        .is_some();
    if let Err(e) = zhibo_store::presence::publish_stats_if_due(st, &room, now_ms).await {
        tracing::warn!(app_id = %claims.app_id, room_id, error = %e, "stats item not published");
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"counted": counted, "interval_s": REPORT_INTERVAL_S}),
    ))
}
