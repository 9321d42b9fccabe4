//! The [`SignedRequest`] extractor: body limit; header formats, clock window and query shape
//! before any read; then the app (cached briefly), the signature and the nonce.

use crate::parse::{query_pairs, read_body};
use crate::ApiError;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::HeaderMap;
use zhibo_core::app::App;
use zhibo_core::signing::{self, headers, RequestToSign};
use zhibo_store::Deps;

fn header<'a>(h: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    let v = h
        .get(name)
        .ok_or_else(|| ApiError::unauthorized(format!("missing header {name}")))?;
    v.to_str()
        .map_err(|_| ApiError::unauthorized(format!("header {name} is not visible ASCII")))
}

/// A management API request whose signature, timestamp and nonce were verified.
#[derive(Debug)]
pub struct SignedRequest {
    /// The calling app.
    pub app: App,
    /// Request headers.
    pub headers: HeaderMap,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The raw body (≤ 64 KiB).
    pub body: Bytes,
}

/// The answer to an unknown app id and to a wrong signature alike, so app ids cannot be
/// probed (a caller with a typo in `X-Zhibo-App` gets the same hint).
pub const UNKNOWN_APP_OR_MISMATCH: &str = "signature does not match, or X-Zhibo-App names no app; \
     check X-Zhibo-App, the app secret and the string to sign (README \"Signing: rules and a test vector\")";

/// The checks that need no read, in order: header formats, the clock window, the nonce and
/// signature formats, and the query's shape (no repeated keys). Returns the parsed timestamp.
fn precheck<'a>(
    h: &'a HeaderMap,
    query: Option<&str>,
    now: i64,
) -> Result<(i64, &'a str), ApiError> {
    let app_id = header(h, headers::APP)?;
    if !zhibo_core::app::is_valid_app_id(app_id) {
        return Err(ApiError::unauthorized(format!(
            "header {} must be an app id ([a-z0-9]{{4,32}})",
            headers::APP
        )));
    }
    let ts_raw = header(h, headers::TIMESTAMP)?;
    let timestamp: i64 = ts_raw.parse().map_err(|_| {
        ApiError::unauthorized(format!(
            "header {} must be unix seconds (an integer)",
            headers::TIMESTAMP
        ))
    })?;
    if !signing::within_window(timestamp, now) {
        return Err(ApiError::unauthorized(
            signing::SignatureError::OutsideWindow {
                ts: timestamp,
                now,
                window_s: signing::CLOCK_WINDOW_S,
            }
            .to_string(),
        ));
    }
    signing::validate_nonce(header(h, headers::NONCE)?)
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    let signature = header(h, headers::SIGNATURE)?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::unauthorized(format!(
            "header {} must be 64 hex characters (HMAC-SHA256)",
            headers::SIGNATURE
        )));
    }
    if let Some(key) = repeated_query_key(query) {
        return Err(ApiError::bad_field(
            &key,
            "appears more than once in the query; send each parameter once",
        ));
    }
    Ok((timestamp, app_id))
}

/// The first query key that appears more than once (decoded as [`query_pairs`] does).
pub fn repeated_query_key(query: Option<&str>) -> Option<String> {
    let pairs = query_pairs(query);
    let mut seen = std::collections::HashSet::new();
    pairs
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| !seen.insert(k.clone()))
}

impl FromRequest<Deps> for SignedRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Deps) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let h = &parts.headers;
        let now = zhibo_core::clock::now();
        // Everything that can be refused without a read is refused here.
        let (timestamp, app_id) = precheck(h, parts.uri.query(), now)?;
        let nonce = header(h, headers::NONCE)?;
        let signature = header(h, headers::SIGNATURE)?;
        let app = state
            .app(app_id, now)
            .await?
            .ok_or_else(|| ApiError::unauthorized(UNKNOWN_APP_OR_MISMATCH))?;
        let to_sign = RequestToSign {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            timestamp,
            nonce,
            body: &body,
        };
        to_sign
            .verify(app.app_secret.as_bytes(), signature, now)
            .map_err(|e| match e {
                signing::SignatureError::Mismatch => {
                    ApiError::unauthorized(UNKNOWN_APP_OR_MISMATCH)
                }
                e => ApiError::unauthorized(e.to_string()),
            })?;
        if !state
            .apps
            .remember_nonce(&app.app_id, nonce, now, signing::NONCE_TTL_S)
            .await?
        {
            return Err(ApiError::new(
                http::StatusCode::UNAUTHORIZED,
                zhibo_core::error::codes::REPLAYED,
                format!("nonce {nonce:?} was already used in the last {} s; send a fresh nonce with every request", signing::NONCE_TTL_S),
            ));
        }
        Ok(SignedRequest {
            app,
            headers: parts.headers,
            query: parts.uri.query().map(str::to_string),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_headers(app: &str, ts: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(headers::APP, app.parse().unwrap());
        h.insert(headers::TIMESTAMP, ts.parse().unwrap());
        h.insert(headers::NONCE, "nonce-0001".parse().unwrap());
        h.insert(headers::SIGNATURE, "ab".repeat(32).parse().unwrap());
        h
    }

    /// Item 6 / L2 / L15: refused before any read, with the reason, never a panic.
    #[test]
    fn precheck_refuses_without_a_read() {
        let now = 1_800_000_000;
        let ok = signed_headers("demo", &now.to_string());
        assert!(precheck(&ok, Some("limit=10"), now).is_ok());
        let status = |h: &HeaderMap, q: Option<&str>| {
            let e = precheck(h, q, now).unwrap_err();
            (e.status.as_u16(), e.body.errmsg)
        };
        for ts in [
            i64::MIN.to_string(),
            i64::MAX.to_string(),
            (now - 301).to_string(),
        ] {
            let (code, msg) = status(&signed_headers("demo", &ts), None);
            assert_eq!(code, 401);
            assert!(msg.contains("more than 300 s away"), "{msg}");
        }
        let (code, msg) = status(&signed_headers(&"a".repeat(3000), &now.to_string()), None);
        assert_eq!(code, 401);
        assert!(msg.contains("must be an app id"), "{msg}");
        let mut bad_sig = ok.clone();
        bad_sig.insert(headers::SIGNATURE, "zz".parse().unwrap());
        assert_eq!(status(&bad_sig, None).0, 401);
        let (code, msg) = status(&ok, Some("limit=10&limit=100"));
        assert_eq!(code, 400);
        assert!(msg.starts_with("limit: appears more than once"), "{msg}");
        assert_eq!(
            status(&ok, Some("a=1&%61=2")).0,
            400,
            "decoded keys compare"
        );
    }

    /// L1: the handler reads the query as the signature's canonical form does.
    #[test]
    fn handlers_read_the_query_as_it_was_signed() {
        let raw = "c=1+1&d=a%20b&e=%2B";
        let pairs = query_pairs(Some(raw));
        let rebuilt: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    signing::rfc3986_encode(k),
                    signing::rfc3986_encode(v)
                )
            })
            .collect();
        assert_eq!(signing::canonical_query(Some(raw)), rebuilt.join("&"));
        assert_eq!(pairs[0].1, "1+1");
    }
}
