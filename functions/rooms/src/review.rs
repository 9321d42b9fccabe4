//! The review call's I/O (docs/api.md "Moderation"): the app's settings, cached like its
//! blocked words, the URL check when they are set, and the signed POST with its 500 ms budget.
//! What the answer decides is [`zhibo_core::audience::review`].
//!
//! Deployed (`WEBHOOK_ALLOW_HTTP` unset), a review URL is `https://` to a public host: internal
//! literals are refused when set and again before each call, and names are resolved by
//! [`zhibo_store::public_dns::PublicResolver`], which refuses internal addresses before any
//! connection. Locally (`WEBHOOK_ALLOW_HTTP=1`, as webhooks), `http://` and loopback are allowed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use zhibo_api::ApiError;
use zhibo_core::audience::item::ItemUser;
use zhibo_core::audience::review::{
    decide, parse_answer, Decision, ReviewFailure, ReviewRequest, ReviewSettings,
    MAX_REVIEW_ANSWER_BYTES, MAX_REVIEW_URL_LEN, REVIEW_BUDGET_MS,
};
use zhibo_core::webhook::address::is_internal_host;
use zhibo_core::webhook::{signature_header, SIGNATURE_HEADER};
use zhibo_store::Deps;

/// How long a function keeps an app's review settings before reading them again.
pub const REVIEW_CACHE_S: i64 = 10;
/// The `User-Agent` of review calls.
pub const USER_AGENT: &str = concat!("zhibo-review/", env!("CARGO_PKG_VERSION"));

/// Checks a `review_url`: absolute, `https://` (or `http://` when `allow_http`, locally), a
/// host, no credentials or fragment, at most [`MAX_REVIEW_URL_LEN`] bytes; without
/// `allow_http`, not localhost nor an internal address literal.
pub fn validate_review_url(raw: &str, allow_http: bool) -> Result<(), ApiError> {
    let field = "review_url";
    if raw.len() > MAX_REVIEW_URL_LEN {
        return Err(ApiError::bad_field(
            field,
            format_args!(
                "must be at most {MAX_REVIEW_URL_LEN} bytes; got {}",
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
        .map_err(|e| ApiError::bad_field(field, format_args!("must be {want}; {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        other => {
            return Err(ApiError::bad_field(
                field,
                format_args!("must be {want}; got scheme {other:?}"),
            ))
        }
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(ApiError::bad_field(
            field,
            format_args!("must be {want} with a host"),
        ));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::bad_field(
            field,
            "must not contain credentials (user:password@); check the Zhibo-Signature instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(ApiError::bad_field(field, "must not contain a #fragment"));
    }
    if !allow_http && is_internal_host(host) {
        return Err(ApiError::bad_field(
            field,
            "must point to a public host, not localhost or a loopback, private or link-local address",
        ));
    }
    Ok(())
}

type SettingsCache = Mutex<HashMap<String, (i64, Option<Arc<ReviewSettings>>)>>;

fn settings_cache() -> &'static SettingsCache {
    static CACHE: OnceLock<SettingsCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Forgets this process's copy of `app_id`'s review settings (after they were changed).
pub fn forget(app_id: &str) {
    settings_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(app_id);
}

/// The app's review settings, from this process's cache (at most [`REVIEW_CACHE_S`] old).
async fn settings(st: &Deps, app_id: &str) -> Result<Option<Arc<ReviewSettings>>, ApiError> {
    let now = zhibo_core::clock::now();
    let cached = settings_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(app_id)
        .filter(|(at, _)| now - at < REVIEW_CACHE_S)
        .map(|(_, s)| s.clone());
    if let Some(s) = cached {
        return Ok(s);
    }
    let review = st.chat.moderation(app_id).await?.review.map(Arc::new);
    settings_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(app_id.to_string(), (now, review.clone()));
    Ok(review)
}

/// The HTTP client of review calls: the whole call within [`REVIEW_BUDGET_MS`] (also enforced
/// around it), no redirects, and public destinations only unless `allow_any`.
fn client(allow_any: bool) -> &'static reqwest::Client {
    static PUBLIC: OnceLock<reqwest::Client> = OnceLock::new();
    static ANY: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if allow_any { &ANY } else { &PUBLIC };
    cell.get_or_init(|| {
        let budget = Duration::from_millis(REVIEW_BUDGET_MS);
        let b = reqwest::Client::builder()
            .timeout(budget)
            .connect_timeout(budget)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        let b = if allow_any {
            b
        } else {
            zhibo_store::public_dns::public_only(b)
        };
        // A builder with these settings only fails without a TLS backend, which is linked in.
        b.build().unwrap_or_default()
    })
}

fn failure_of(e: &reqwest::Error) -> ReviewFailure {
    if zhibo_store::public_dns::is_not_public(e) {
        ReviewFailure::NotPublic
    } else if e.is_timeout() {
        ReviewFailure::Timeout
    } else {
        ReviewFailure::Unreachable
    }
}

/// One signed POST of `body` to `review`, its answer read up to [`MAX_REVIEW_ANSWER_BYTES`].
async fn call(
    review: &ReviewSettings,
    allow_any: bool,
    body: Vec<u8>,
    now: i64,
) -> Result<zhibo_core::audience::review::Verdict, ReviewFailure> {
    if !allow_any {
        // IP literals are not resolved, so the resolver never sees them: checked here.
        let internal = url::Url::parse(&review.url)
            .ok()
            .and_then(|u| u.host_str().map(is_internal_host))
            .unwrap_or(true);
        if internal {
            return Err(ReviewFailure::NotPublic);
        }
    }
    let signature = signature_header(&review.secret, now, &body);
    let mut res = client(allow_any)
        .post(&review.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| failure_of(&e))?;
    let status = res.status().as_u16();
    let mut answer = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| failure_of(&e))? {
        if answer.len() + chunk.len() > MAX_REVIEW_ANSWER_BYTES {
            return Err(ReviewFailure::BadAnswer(format!(
                "longer than {MAX_REVIEW_ANSWER_BYTES} bytes"
            )));
        }
        answer.extend_from_slice(&chunk);
    }
    parse_answer(status, &answer)
}

/// Reviews a message (blocked words already passed) when the app set a review call:
/// [`Decision::Publish`] when it has none.
pub async fn review(
    st: &Deps,
    app_id: &str,
    room_id: u64,
    user: &ItemUser,
    text: &str,
    at_ms: i64,
) -> Result<Decision, ApiError> {
    let Some(review) = settings(st, app_id).await? else {
        return Ok(Decision::Publish);
    };
    let body = serde_json::to_vec(&ReviewRequest {
        app_id,
        room_id,
        user,
        text,
        at_ms,
    })
    .map_err(|e| ApiError::internal(&e))?;
    let allow_any = st.config.webhook_allow_http;
    let outcome = match tokio::time::timeout(
        Duration::from_millis(REVIEW_BUDGET_MS),
        call(&review, allow_any, body, at_ms.div_euclid(1000)),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(ReviewFailure::Timeout),
    };
    if let Err(e) = &outcome {
        tracing::warn!(app_id, room_id, fail = review.fail.as_str(), error = %e, "review call failed");
    }
    Ok(decide(&outcome, review.fail))
}
