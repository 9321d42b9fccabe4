//! `GET /live/{stream_name}.flv?txSecret=..&txTime=..`: HTTP-FLV playback of a stream published
//! to this worker (Tencent's path and signature algorithm, with the app's play key derived from
//! `PLAY_KEY`). Refusals are JSON `{"errcode", "errmsg"}` like the rest of the API.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use zhibo_core::error::codes;
use zhibo_core::room::parse_stream_name;
use zhibo_core::signing::{UrlPurpose, UrlSignature};

use super::hub::SubscribeError;
use super::relay::{RelayRefusal, RELAY_HEADER};
use crate::hooks::now_ms;
use crate::metrics::Metrics;
use crate::worker::Worker;

/// Statuses counted in `zhibo_flv_refused_total{status}`, in [`Metrics::flv_refused_total`]
/// order.
pub const REFUSAL_STATUSES: [u16; 5] = [400, 401, 403, 404, 503];

fn cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn refuse(worker: &Worker, status: StatusCode, errcode: i64, errmsg: String) -> Response {
    if let Some(i) = REFUSAL_STATUSES.iter().position(|&s| s == status.as_u16()) {
        if let Some(counter) = worker.metrics.flv_refused_total.get(i) {
            Metrics::inc(counter);
        }
    }
    cors(
        (
            status,
            axum::Json(serde_json::json!({ "errcode": errcode, "errmsg": errmsg })),
        )
            .into_response(),
    )
}

/// `OPTIONS /live/{file}`: CORS preflight (mpegts.js in a browser).
pub async fn preflight() -> Response {
    let mut r = cors(StatusCode::NO_CONTENT.into_response());
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

/// `GET /live/{stream_name}.flv?txSecret=..&txTime=..`.
pub async fn play(
    State(worker): State<Arc<Worker>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(play_key) = &worker.config.play_key else {
        return refuse(
            &worker,
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            "HTTP-FLV playback is not configured on this media worker: set PLAY_KEY (the same master play key as the functions)".into(),
        );
    };
    let Some(name) = file.strip_suffix(".flv") else {
        return refuse(
            &worker,
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!(
                "no such path /live/{file}: play /live/{{stream_name}}.flv?txSecret=..&txTime=.."
            ),
        );
    };
    if parse_stream_name(name).is_none() {
        return refuse(
            &worker,
            StatusCode::BAD_REQUEST,
            codes::BAD_FIELD,
            format!("stream name {name:?} is not {{app_id}}_{{room_id}}: use the flv URL the play-urls API returns"),
        );
    }
    let mut tx_secret = None;
    let mut tx_time = None;
    for pair in query.as_deref().unwrap_or_default().split('&') {
        let (slot, v) = match pair.split_once('=') {
            Some(("txSecret", v)) => (&mut tx_secret, v),
            Some(("txTime", v)) => (&mut tx_time, v),
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return refuse(
                &worker,
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHORIZED,
                format!("playback URL for {name} repeats txSecret or txTime: use the URL exactly as issued"),
            );
        }
    }
    if let Err(e) = UrlSignature::verify_stream(
        &play_key.0,
        UrlPurpose::Play,
        name,
        tx_secret,
        tx_time,
        now_ms() / 1000,
    ) {
        return refuse(
            &worker,
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            format!("playback URL refused for {name}: {e}"),
        );
    }
    let mut subscribed = worker.flv.subscribe(name);
    // Not here: pull it from the worker that holds it, unless this request is itself a pull.
    if let (Err(SubscribeError::NotLive), Some(relay), false) = (
        &subscribed,
        &worker.flv_relay,
        headers.contains_key(RELAY_HEADER),
    ) {
        subscribed = match relay.open(name).await {
            Ok(()) => worker.flv.subscribe(name),
            Err(RelayRefusal::Refused(why)) => Err(SubscribeError::Refused(why)),
            Err(RelayRefusal::NotLive(why)) => {
                return refuse(
                    &worker,
                    StatusCode::NOT_FOUND,
                    codes::NOT_FOUND,
                    format!("stream {name} is not live: {why}"),
                )
            }
            Err(RelayRefusal::Unavailable(why)) => {
                return refuse(
                    &worker,
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UNAVAILABLE,
                    why,
                )
            }
        };
    }
    let viewer = match subscribed {
        Ok(v) => v,
        Err(SubscribeError::NotLive) => {
            return refuse(
                &worker,
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                format!("stream {name} is not live on this media worker"),
            )
        }
        Err(SubscribeError::Refused(why)) => {
            return refuse(
                &worker,
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                format!("stream {name} was stopped: {why}"),
            )
        }
        Err(SubscribeError::Full(max)) => {
            return refuse(
                &worker,
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UNAVAILABLE,
                format!("this media worker serves its maximum of {max} HTTP-FLV viewers (ZHIBO_MAX_FLV_VIEWERS); try again shortly or play HLS"),
            )
        }
    };
    // Each tag goes out as its own chunk: the shared `Bytes` every viewer holds, not a copy
    // (hyper gathers queued chunks into one vectored write).
    let body = futures::stream::unfold(viewer, |viewer| async move {
        let tags = viewer.next().await?;
        viewer.sent(tags.iter().map(|t| t.len()).sum());
        Some((
            futures::stream::iter(tags.into_iter().map(Ok::<_, Infallible>)),
            viewer,
        ))
    })
    .flatten();
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("video/x-flv"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    cors(response)
}
