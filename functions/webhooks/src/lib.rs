//! The webhooks function: the customer's webhook endpoint and its deliveries (the
//! `/v1/webhook` routes of docs/api.md "Webhooks to the customer"). The outbox is sent by
//! the `webhook-delivery` function (`functions/webhook-delivery`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use zhibo_api::ApiError;
use zhibo_api::SignedRequest;
use zhibo_api::{json_response, parse_json, query_number, query_pairs};
use zhibo_core::clock::now;
use zhibo_core::webhook::{DeliveryRecord, DeliveryStatus};
use zhibo_store::Deps;
use zhibo_store::{StoreError, MAX_DELIVERY_PAGE};

pub use zhibo_core::webhook::address::{is_internal, is_internal_host};

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;
/// Default page size of `GET /v1/webhook/deliveries`.
pub const DEFAULT_DELIVERY_PAGE: u64 = 20;

/// The routes of this function.
pub fn router(state: Deps) -> Router {
    Router::new()
        .route(
            "/v1/webhook",
            get(get_webhook).put(put_webhook).delete(delete_webhook),
        )
        .route("/v1/webhook/deliveries", get(list_deliveries))
        .route("/v1/webhook/deliveries/{id}/redeliver", post(redeliver))
        .with_state(state)
}

/// Checks a webhook URL: absolute, `https://` (or `http://` when `allow_http`, for local
/// development), a host, no credentials or fragment, at most [`MAX_URL_LEN`] characters;
/// without `allow_http`, not a loopback, private or link-local address.
pub fn validate_url(raw: &str, allow_http: bool) -> Result<(), ApiError> {
    if raw.len() > MAX_URL_LEN {
        return Err(ApiError::bad_field(
            "url",
            format_args!(
                "must be at most {MAX_URL_LEN} characters; got {}",
                raw.len()
            ),
        ));
    }
    let want = if allow_http {
        "an absolute http:// or https:// URL"
    } else {
        "an absolute https:// URL"
    };
    let url = url::Url::parse(raw)
        .map_err(|e| ApiError::bad_field("url", format_args!("must be {want}; {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        other => {
            return Err(ApiError::bad_field(
                "url",
                format_args!("must be {want}; got scheme {other:?}"),
            ))
        }
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(ApiError::bad_field(
            "url",
            format_args!("must be {want} with a host"),
        ));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::bad_field(
            "url",
            "must not contain credentials (user:password@); authenticate with the signature",
        ));
    }
    if url.fragment().is_some() {
        return Err(ApiError::bad_field("url", "must not contain a #fragment"));
    }
    if !allow_http && is_internal_host(host) {
        return Err(ApiError::bad_field(
            "url",
            "must point to a public host, not localhost or a loopback, private or link-local address",
        ));
    }
    Ok(())
}

// ---- endpoint ----------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutWebhook {
    url: String,
    #[serde(default)]
    rotate_secret: bool,
}

#[derive(Serialize)]
struct WebhookCreated {
    url: String,
    secret: String,
    updated_at: i64,
}

#[derive(Serialize)]
struct WebhookShown {
    url: String,
    secret_hint: String,
    updated_at: i64,
}

/// `PUT /v1/webhook {"url", "rotate_secret"?}` → the endpoint with its secret. The secret is
/// generated on the first call and kept when only the URL changes.
async fn put_webhook(State(st): State<Deps>, req: SignedRequest) -> Result<Response, ApiError> {
    let body: PutWebhook = parse_json(&req.body)?;
    validate_url(&body.url, st.config.webhook_allow_http)?;
    let ep = st
        .outbox
        .put_webhook(&req.app.app_id, &body.url, body.rotate_secret, now())
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &WebhookCreated {
            url: ep.url,
            secret: ep.secret,
            updated_at: ep.updated_at,
        },
    ))
}

/// `GET /v1/webhook` → the endpoint with the secret's last 4 characters; 404 when none is set.
async fn get_webhook(State(st): State<Deps>, req: SignedRequest) -> Result<Response, ApiError> {
    let ep = st
        .outbox
        .get_webhook(&req.app.app_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("no webhook is set; set one with PUT /v1/webhook {\"url\"}")
        })?;
    let hint_start = ep.secret.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    Ok(json_response(
        StatusCode::OK,
        &WebhookShown {
            secret_hint: ep.secret[hint_start..].to_string(),
            url: ep.url,
            updated_at: ep.updated_at,
        },
    ))
}

/// `DELETE /v1/webhook` → 204 (also when none was set). Events are no longer delivered.
async fn delete_webhook(State(st): State<Deps>, req: SignedRequest) -> Result<Response, ApiError> {
    st.outbox.delete_webhook(&req.app.app_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- deliveries --------------------------------------------------------------------------

#[derive(Serialize)]
struct DeliveryView {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    room_id: u64,
    seq: u64,
    status: &'static str,
    attempts: u32,
    last_error: Option<String>,
    last_status: Option<u16>,
    last_attempt_at: Option<i64>,
    next_attempt_at: Option<i64>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(r: DeliveryRecord) -> Self {
        DeliveryView {
            id: r.event_id,
            kind: r.event_type,
            room_id: r.room_id,
            seq: r.seq,
            status: r.status.as_str(),
            attempts: r.attempts,
            last_error: r.last_error,
            last_status: r.last_status,
            last_attempt_at: r.last_attempt_ms.map(|t| t.div_euclid(1000)),
            next_attempt_at: r.next_attempt_ms.map(|t| t.div_euclid(1000)),
        }
    }
}

#[derive(Serialize)]
struct DeliveryList {
    deliveries: Vec<DeliveryView>,
    next_cursor: Option<String>,
}

/// True for what an event id can look like (`evt_` + hex; at most 64 characters).
fn is_event_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `GET /v1/webhook/deliveries?status=&limit=&cursor=` → the events that failed at least once,
/// newest first.
async fn list_deliveries(State(st): State<Deps>, req: SignedRequest) -> Result<Response, ApiError> {
    let q = query_pairs(req.query.as_deref());
    let limit = query_number(
        &q,
        "limit",
        DEFAULT_DELIVERY_PAGE,
        1,
        MAX_DELIVERY_PAGE.into(),
    )?;
    let status = match q.iter().find(|(k, _)| k == "status") {
        None => None,
        Some((_, v)) => Some(DeliveryStatus::parse(v).ok_or_else(|| {
            ApiError::bad_field(
                "status",
                format_args!("must be retrying, dead or delivered; got {v:?}"),
            )
        })?),
    };
    let cursor = match q.iter().find(|(k, _)| k == "cursor") {
        None => None,
        Some((_, c)) if is_event_id(c) => Some(c.as_str()),
        Some((_, c)) => {
            return Err(ApiError::bad_field(
                "cursor",
                format_args!("must be a next_cursor from a previous page; got {c:?}"),
            ))
        }
    };
    let page = st
        .outbox
        .list_deliveries(&req.app.app_id, status, limit as u32, cursor)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &DeliveryList {
            deliveries: page.records.into_iter().map(DeliveryView::from).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

#[derive(Serialize)]
struct Redelivered {
    id: String,
    status: &'static str,
}

/// `POST /v1/webhook/deliveries/{id}/redeliver` → 202: the event goes back into its room's
/// outbox with its id and `seq`; 404 for an event that never failed or is unknown.
async fn redeliver(
    State(st): State<Deps>,
    Path(id): Path<String>,
    req: SignedRequest,
) -> Result<Response, ApiError> {
    let unknown = || {
        ApiError::not_found(format!(
            "no delivery {id:?}; GET /v1/webhook/deliveries lists the events that can be redelivered"
        ))
    };
    if !is_event_id(&id) {
        return Err(unknown());
    }
    match st
        .outbox
        .redeliver(&req.app.app_id, &id, zhibo_core::clock::now_ms())
        .await
    {
        Ok(r) => Ok(json_response(
            StatusCode::ACCEPTED,
            &Redelivered {
                id: r.event_id,
                status: r.status.as_str(),
            },
        )),
        Err(StoreError::NotFound) => Err(unknown()),
        Err(StoreError::Conflict) => Err(ApiError::conflict(format!(
            "delivery {id:?} changed while it was being redelivered; retry"
        ))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(validate_url("https://example.com/hook?x=1", false).is_ok());
        assert!(validate_url("https://8.8.8.8/hook", false).is_ok());
        assert!(validate_url("http://127.0.0.1:9000/hook", true).is_ok());
        for (bad, allow) in [
            ("http://example.com/hook", false),
            ("ftp://example.com/hook", true),
            ("example.com/hook", false),
            ("/hook", false),
            ("", false),
            ("https://user:pw@example.com/", false),
            ("https://example.com/#frag", false),
            ("https://localhost/hook", false),
            ("https://127.0.0.1/hook", false),
            ("https://10.1.2.3/hook", false),
            ("https://169.254.169.254/latest", false),
            ("https://[::1]/hook", false),
            ("https://[::ffff:127.0.0.1]/hook", false),
            ("https://[fd00::1]/hook", false),
        ] {
            let e = validate_url(bad, allow).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                e.body.errmsg.starts_with("url: "),
                "{bad}: {}",
                e.body.errmsg
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(validate_url(&long, false)
            .unwrap_err()
            .body
            .errmsg
            .contains("2048"));
        let longest = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN - 20));
        assert!(validate_url(&longest, false).is_ok());
    }

    #[test]
    fn event_ids() {
        assert!(is_event_id("evt_018c2e5f1a2b3abcdef"));
        assert!(!is_event_id(""));
        assert!(!is_event_id("evt/../x"));
        assert!(!is_event_id(&"a".repeat(65)));
    }
}
