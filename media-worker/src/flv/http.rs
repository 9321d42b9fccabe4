//! `GET /live/{stream_name}.flv?txSecret=..&txTime=..`: HTTP-FLV playback of a stream published
//! to this worker (Tencent's path and signature algorithm, with the app's play key derived from
//! `PLAY_KEY`): who may play what ([`open_play`]) and the browsers' preflight. Refusals are JSON
//! `{"errcode", "errmsg"}` like the rest of the API. The requests themselves are read and
//! answered on the socket by [`super::socket`], not by the HTTP framework.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use zhibo_core::error::codes;
use zhibo_core::room::parse_stream_name;
use zhibo_core::signing::{UrlPurpose, UrlSignature};

use super::hub::{FlvViewer, SubscribeError};
use super::relay::RelayRefusal;
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

/// A refused play request: its status and the JSON `{"errcode", "errmsg"}` reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The API's error code.
    pub errcode: i64,
    /// What was wrong and what to do.
    pub errmsg: String,
}

impl Refusal {
    /// A refusal with `status`, `errcode` and what was wrong (`errmsg`).
    pub fn new(status: StatusCode, errcode: i64, errmsg: String) -> Refusal {
        Refusal {
            status,
            errcode,
            errmsg,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({ "errcode": self.errcode, "errmsg": self.errmsg }).to_string()
    }
}

fn refuse(worker: &Worker, status: StatusCode, errcode: i64, errmsg: String) -> Refusal {
    if let Some(i) = REFUSAL_STATUSES.iter().position(|&s| s == status.as_u16()) {
        if let Some(counter) = worker.metrics.flv_refused_total.get(i) {
            Metrics::inc(counter);
        }
    }
    Refusal::new(status, errcode, errmsg)
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

/// `GET /live/{file}?{query}` (`file` is `{stream_name}.flv`): the viewer's subscription,
/// its start already queued, or why not. `relay_pull` marks another worker's pull (served only
/// from a local publisher, never relayed again). The response itself is written by
/// [`super::socket`].
pub async fn open_play(
    worker: &Worker,
    file: &str,
    query: Option<&str>,
    relay_pull: bool,
) -> Result<FlvViewer, Refusal> {
    let Some(play_key) = &worker.config.play_key else {
        return Err(refuse(
            worker,
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            "HTTP-FLV playback is not configured on this media worker: set PLAY_KEY (the same master play key as the functions)".into(),
        ));
    };
    let Some(name) = file.strip_suffix(".flv") else {
        return Err(refuse(
            worker,
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!(
                "no such path /live/{file}: play /live/{{stream_name}}.flv?txSecret=..&txTime=.."
            ),
        ));
    };
    if parse_stream_name(name).is_none() {
        return Err(refuse(
            worker,
            StatusCode::BAD_REQUEST,
            codes::BAD_FIELD,
            format!("stream name {name:?} is not {{app_id}}_{{room_id}}: use the flv URL the play-urls API returns"),
        ));
    }
    let mut tx_secret = None;
    let mut tx_time = None;
    for pair in query.unwrap_or_default().split('&') {
        let (slot, v) = match pair.split_once('=') {
            Some(("txSecret", v)) => (&mut tx_secret, v),
            Some(("txTime", v)) => (&mut tx_time, v),
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(refuse(
                worker,
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHORIZED,
                format!("playback URL for {name} repeats txSecret or txTime: use the URL exactly as issued"),
            ));
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
        return Err(refuse(
            worker,
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            format!("playback URL refused for {name}: {e}"),
        ));
    }
    let mut subscribed = worker.flv.subscribe(name);
    // Not here: pull it from the worker that holds it, unless this request is itself a pull.
    if let (Err(SubscribeError::NotLive), Some(relay), false) =
        (&subscribed, &worker.flv_relay, relay_pull)
    {
        subscribed = match relay.open(name).await {
            Ok(()) => worker.flv.subscribe(name),
            Err(RelayRefusal::Refused(why)) => Err(SubscribeError::Refused(why)),
            Err(RelayRefusal::NotLive(why)) => {
                return Err(refuse(
                    worker,
                    StatusCode::NOT_FOUND,
                    codes::NOT_FOUND,
                    format!("stream {name} is not live: {why}"),
                ))
            }
            Err(RelayRefusal::Unavailable(why)) => {
                return Err(refuse(
                    worker,
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UNAVAILABLE,
                    why,
                ))
            }
        };
    }
    subscribed.map_err(|e| match e {
        SubscribeError::NotLive => refuse(
            worker,
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("stream {name} is not live on this media worker"),
        ),
        SubscribeError::Refused(why) => refuse(
            worker,
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            format!("stream {name} was stopped: {why}"),
        ),
        SubscribeError::Full(max) => refuse(
            worker,
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            format!("this media worker serves its maximum of {max} HTTP-FLV viewers (ZHIBO_MAX_FLV_VIEWERS); try again shortly or play HLS"),
        ),
    })
}
