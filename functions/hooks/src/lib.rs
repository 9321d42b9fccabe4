//! The hooks function: `POST /internal/hooks` (docs/api.md "Worker hooks").
//!
//! The media worker signs every call with the hook secret (`Zhibo-Signature`); this function
//! verifies it, runs the live-status state machine ([`zhibo_core::lifecycle`]) through
//! [`zhibo_store::LifecycleStore::apply_lifecycle`] (one read, one conditional
//! transaction with the room's webhook events), and answers `{"allow": bool, "reason"}`:
//! 200 to go on, 403 to refuse a publish or drop a publisher (pause, ban, end, a newer
//! session). An unpublish is always acknowledged once stored, so the worker stops retrying.

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use http::StatusCode;
use zhibo_api::ApiError;
use zhibo_api::{json_response, parse_json, read_body};
use zhibo_core::hooks::{
    check_origin, HookAnswer, HookEvent, HookEventKind, LocateAnswer, LocateRequest, HOOKS_PATH,
    HOOK_CLOCK_WINDOW_S, LOCATE_PATH, SIGNATURE_HEADER,
};
use zhibo_core::lifecycle::{Input, Verdict};
use zhibo_core::live_status::LiveStatus;
use zhibo_core::room::{parse_stream_name, stream_name};
use zhibo_core::signing::BodySignature;
use zhibo_store::Deps;
use zhibo_store::StoreError;

/// The routes of this function.
pub fn router(state: Deps) -> Router {
    Router::new()
        .route(HOOKS_PATH, post(hook))
        .route(LOCATE_PATH, post(locate))
        .with_state(state)
}

fn answer(allow: bool, reason: Option<String>) -> Response {
    refuse(allow, reason, false)
}

/// An answer; `live_over` tells the worker the room's live is over (it closes the replay now).
fn refuse(allow: bool, reason: Option<String>, live_over: bool) -> Response {
    let status = if allow {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    json_response(
        status,
        &HookAnswer {
            allow,
            reason,
            live_over: !allow && live_over,
        },
    )
}

/// Checks what the body says about itself: the stream name is the room's, the ids are sane, a
/// `reason` only on an `unpublish` (its value was checked when the body was parsed).
fn check_event(e: &HookEvent) -> Result<(), ApiError> {
    if e.reason.is_some() && e.event != HookEventKind::Unpublish {
        return Err(ApiError::bad_field(
            "reason",
            format!(
                "is only sent with an unpublish (\"stopped\" or \"dropped\"); leave it out of a {}",
                match e.event {
                    HookEventKind::Publish => "publish",
                    _ => "heartbeat",
                }
            ),
        ));
    }
    if let Some(origin) = &e.origin {
        if e.event == HookEventKind::Unpublish {
            return Err(ApiError::bad_field(
                "origin",
                "is only sent with a publish or heartbeat; leave it out of an unpublish",
            ));
        }
        check_origin(origin).map_err(|why| ApiError::bad_field("origin", why))?;
    }
    if e.room_id == 0 || parse_stream_name(&e.stream_name) != Some((&e.app_id, e.room_id)) {
        return Err(ApiError::bad_field(
            "stream_name",
            format!(
                "must be {:?} for app_id {:?} and room_id {}",
                stream_name(&e.app_id, e.room_id),
                e.app_id,
                e.room_id
            ),
        ));
    }
    for (field, v) in [
        ("session_id", &e.session_id),
        ("event_id", &e.event_id),
        ("worker_id", &e.worker_id),
    ] {
        if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::bad_field(
                field,
                "must be 1-128 visible ASCII characters",
            ));
        }
    }
    Ok(())
}

/// The body of a hook request whose signature holds.
async fn verified_body(st: &Deps, req: Request) -> Result<axum::body::Bytes, ApiError> {
    let (parts, body) = req.into_parts();
    let body = read_body(body).await?;
    let Some(secret) = st.config.hook_secret.as_deref() else {
        return Err(ApiError::internal(
            &"HOOK_SECRET is not configured, so worker hooks cannot be verified",
        ));
    };
    let header = parts
        .headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    BodySignature::verify_within(
        secret.as_bytes(),
        header,
        &body,
        zhibo_core::clock::now(),
        HOOK_CLOCK_WINDOW_S,
    )
    .map_err(|e| ApiError::unauthorized(format!("hook signature: {e}")))?;
    Ok(body)
}

/// `POST /internal/hooks/locate`: which worker holds a live, for the HTTP-FLV edge relay (one
/// read of the room).
async fn locate(State(st): State<Deps>, req: Request) -> Result<Response, ApiError> {
    let body = verified_body(&st, req).await?;
    let ask: LocateRequest = parse_json(&body)?;
    let Some((app_id, room_id)) = parse_stream_name(&ask.stream_name) else {
        return Err(ApiError::bad_field(
            "stream_name",
            "must be {app_id}_{room_id}",
        ));
    };
    let not_live = |reason: String| {
        json_response(
            StatusCode::NOT_FOUND,
            &LocateAnswer {
                live: false,
                origin: None,
                worker_id: None,
                reason: Some(reason),
            },
        )
    };
    let Some(room) = st.rooms.get_room(app_id, room_id).await? else {
        return Ok(not_live(format!(
            "room {room_id} of app {app_id} does not exist"
        )));
    };
    let l = &room.lifecycle;
    let answer = match room.live_status {
        LiveStatus::Banned | LiveStatus::Paused => json_response(
            StatusCode::FORBIDDEN,
            &LocateAnswer {
                live: false,
                origin: None,
                worker_id: None,
                reason: Some(format!(
                    "room {room_id} is {} ({})",
                    if room.live_status == LiveStatus::Banned {
                        "banned"
                    } else {
                        "paused"
                    },
                    room.live_status.code()
                )),
            },
        ),
        LiveStatus::Live if l.session_open && l.origin.is_some() => json_response(
            StatusCode::OK,
            &LocateAnswer {
                live: true,
                origin: l.origin.clone(),
                worker_id: l.worker_id.clone(),
                reason: None,
            },
        ),
        LiveStatus::Live => not_live(format!(
            "room {room_id} is live on a worker that does not relay (no ZHIBO_RELAY_URL)"
        )),
        other => not_live(format!("room {room_id} is not live ({})", other.code())),
    };
    tracing::info!(stream = %ask.stream_name, asked_by = %ask.worker_id, status = answer.status().as_u16(), "locate answered");
    Ok(answer)
}

/// `POST /internal/hooks`.
async fn hook(State(st): State<Deps>, req: Request) -> Result<Response, ApiError> {
    let body = verified_body(&st, req).await?;
    let event: HookEvent = parse_json(&body)?;
    check_event(&event)?;
    let applied = st
        .lifecycle
        .apply_lifecycle(
            &event.app_id,
            event.room_id,
            Input::Hook(&event),
            &st.config.timers,
            st.config.max_concurrent_lives,
            zhibo_core::clock::now_ms(),
        )
        .await;
    let kind = event.event;
    let res = match applied {
        Ok(a) => {
            for c in &a.outcome.changes {
                tracing::info!(
                    app = %event.app_id, room = event.room_id, session = %event.session_id,
                    seq = event.seq, "live_status {} -> {} ({})", c.from, c.to, c.cause.as_str()
                );
            }
            // A live's heartbeats (every 10 s by default) keep its `stats` items coming
            // while no viewer reports presence.
            if kind == HookEventKind::Heartbeat && a.outcome.verdict == Verdict::Allow {
                let now_ms = zhibo_core::clock::now_ms();
                if let Err(e) =
                    zhibo_store::presence::publish_stats_if_due(&st, &a.outcome.room, now_ms).await
                {
                    tracing::warn!(app = %event.app_id, room = event.room_id, error = %e, "stats item not published");
                }
            }
            match a.outcome.verdict {
                Verdict::Allow => answer(true, None),
                Verdict::Deny(_) if kind == HookEventKind::Unpublish => answer(true, None),
                Verdict::Deny(reason) => {
                    refuse(false, Some(reason), a.outcome.room.live_status.is_final())
                }
            }
        }
        Err(StoreError::NotFound) if kind == HookEventKind::Unpublish => answer(true, None),
        Err(StoreError::NotFound) => refuse(
            false,
            Some(format!(
                "room {} of app {} does not exist",
                event.room_id, event.app_id
            )),
            true,
        ),
        Err(StoreError::ConcurrentLives { max }) => answer(
            false,
            Some(format!(
                "app {} already has {max} rooms live, its concurrent-live quota",
                event.app_id
            )),
        ),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        app = %event.app_id, room = event.room_id, session = %event.session_id, seq = event.seq,
        event = ?kind, status = res.status().as_u16(), "hook answered"
    );
    Ok(res)
}
