//! The HTTP shell every router shares: [`ApiState`], the [`SignedRequest`] extractor (body
//! limit; header formats, clock window and query shape before any read; then the app (cached
//! briefly), the signature and the nonce), JSON and query parsing that name the bad field, and the
//! JSON 404/405 fallbacks. The same routers run in Lambda (lambda_http) and in the local server.

use crate::app::{App, AppCache};
use crate::error::ApiError;
use crate::signing::{self, headers, RequestToSign};
use crate::store::DynamoStore;
use crate::Config;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use std::sync::Arc;

/// Largest accepted request body (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared by every handler of a router.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The table.
    pub store: DynamoStore,
    /// Configuration parsed at start-up.
    pub config: Arc<Config>,
    /// Removes banned and `close_replay` media from the bucket and the CDN.
    pub takedown: crate::takedown::MediaTakedown,
    /// App records read in the last minute (shared by clones of this state).
    pub apps: Arc<AppCache>,
}

impl ApiState {
    /// Builds the state from configuration and SDK config.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> ApiState {
        let client = crate::aws::dynamo_client(sdk, &config);
        ApiState {
            store: DynamoStore::new(client, config.table.clone()),
            takedown: crate::takedown::MediaTakedown::from_config(&config, sdk),
            config: Arc::new(config),
            apps: Arc::new(AppCache::default()),
        }
    }

    /// The app `app_id` (validated `[a-z0-9]{4,32}` by the caller) from the cache, or read
    /// from the table and cached ([`crate::app::APP_CACHE_TTL_S`], unknown ids too).
    pub async fn app(&self, app_id: &str, now: i64) -> Result<Option<App>, ApiError> {
        if let Some(cached) = self.apps.get(app_id, now) {
            return Ok(cached);
        }
        let app = self.store.get_app(app_id).await?;
        self.apps.put(app_id, app.clone(), now);
        Ok(app)
    }

    /// Quotas for room creation, from configuration.
    pub fn create_limits(&self) -> crate::store::CreateLimits {
        crate::store::CreateLimits {
            max_lives_per_day: self.config.max_lives_per_day,
            quota_utc_offset_minutes: self.config.quota_utc_offset_minutes,
        }
    }
}

/// Server time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Server time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with 413.
pub async fn read_body(body: axum::body::Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))
}

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
    if !crate::app::is_valid_app_id(app_id) {
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

impl FromRequest<ApiState> for SignedRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let h = &parts.headers;
        let now = now();
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
            .store
            .remember_nonce(&app.app_id, nonce, now, signing::NONCE_TTL_S)
            .await?
        {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                crate::error::codes::REPLAYED,
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

/// Parses a JSON object body into `T`; errors name the field (`goods[2].price: invalid type ...`).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::error::codes::BAD_JSON,
            "request body is empty; send a JSON object",
        ));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::error::codes::BAD_JSON,
            "request body must be a JSON object ({...})",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::error::codes::BAD_JSON,
                format!("request body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            ApiError::bad_request(format!("request body: {inner}"))
        } else {
            ApiError::bad_field(&path, inner)
        }
    })
}

/// The query string as decoded `(key, value)` pairs: percent-decoded exactly as the signature's
/// canonical query reads it (a `+` is a literal plus, RFC 3986), so a handler sees what was
/// signed.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// A numeric query parameter in `min..=max`, or `default` when absent.
pub fn query_number(
    pairs: &[(String, String)],
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    match pairs.iter().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_field(
                name,
                format_args!("must be an integer in {min}..={max}; got {v:?}"),
            )),
        },
    }
}

/// A `room_id` path segment: a positive integer.
pub fn parse_room_id(raw: &str) -> Result<u64, ApiError> {
    match raw.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_field(
            "room_id",
            format_args!("must be a positive integer; got {raw:?}"),
        )),
    }
}

/// A JSON response with a status.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Adds the JSON 404 and 405 answers to a complete router (a function's, or the local
/// server's merge of all of them: axum allows one fallback per merged router).
pub fn with_fallbacks(router: axum::Router) -> axum::Router {
    router
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
}

/// JSON 404 for unknown routes.
pub async fn not_found_fallback(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; see docs/api.md for the routes",
        req.method(),
        req.uri().path()
    ))
}

/// JSON 405 for a known path with another method.
pub async fn method_not_allowed_fallback(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        crate::error::codes::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        a: i64,
        b: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        c: bool,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<T>(br#"{"a":"x","b":[]}"#).unwrap_err();
        assert!(
            e.body.errmsg.starts_with("a: invalid type"),
            "{}",
            e.body.errmsg
        );
        let e = parse_json::<T>(br#"{"a":1,"b":[{"c":true},{"c":3}]}"#).unwrap_err();
        assert!(e.body.errmsg.starts_with("b[1].c: "), "{}", e.body.errmsg);
        let e = parse_json::<T>(br#"{"a":1"#).unwrap_err();
        assert_eq!(e.body.errcode, crate::error::codes::BAD_JSON);
        let e = parse_json::<T>(b"").unwrap_err();
        assert!(e.body.errmsg.contains("empty"));
        let e = parse_json::<T>(br#"{"a":1}"#).unwrap_err();
        assert!(
            e.body.errmsg.contains("missing field `b`"),
            "{}",
            e.body.errmsg
        );
    }

    #[test]
    fn query_numbers() {
        let q = query_pairs(Some("start=5&limit=101&x=%41"));
        assert_eq!(query_number(&q, "start", 0, 0, u64::MAX).unwrap(), 5);
        assert_eq!(query_number(&q, "missing", 10, 1, 100).unwrap(), 10);
        let e = query_number(&q, "limit", 10, 1, 100).unwrap_err();
        assert!(e.body.errmsg.starts_with("limit: "));
        assert_eq!(q[2].1, "A");
        assert!(parse_room_id("0").is_err());
        assert!(parse_room_id("-1").is_err());
        assert_eq!(parse_room_id("12").unwrap(), 12);
    }

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
