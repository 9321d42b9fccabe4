//! The HTTP shell every router shares: [`ApiState`], the [`SignedRequest`] extractor (body
//! limit, then signature, then nonce), JSON and query parsing that name the bad field, and the
//! JSON 404/405 fallbacks. The same routers run in Lambda (lambda_http) and in the local server.

use crate::app::App;
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
}

impl ApiState {
    /// Builds the state from configuration and SDK config.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> ApiState {
        let client = crate::aws::dynamo_client(sdk, &config);
        ApiState {
            store: DynamoStore::new(client, config.table.clone()),
            takedown: crate::takedown::MediaTakedown::from_config(&config, sdk),
            config: Arc::new(config),
        }
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

impl FromRequest<ApiState> for SignedRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let h = &parts.headers;
        let app_id = header(h, headers::APP)?;
        let ts_raw = header(h, headers::TIMESTAMP)?;
        let nonce = header(h, headers::NONCE)?;
        let signature = header(h, headers::SIGNATURE)?;
        let timestamp: i64 = ts_raw.parse().map_err(|_| {
            ApiError::unauthorized(format!(
                "header {} must be unix seconds; got {ts_raw:?}",
                headers::TIMESTAMP
            ))
        })?;
        signing::validate_nonce(nonce).map_err(|e| ApiError::unauthorized(e.to_string()))?;
        let app = state
            .store
            .get_app(app_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized(format!("unknown app {app_id:?}")))?;
        let now = now();
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
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
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

/// The query string as decoded `(key, value)` pairs.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
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
        "no route {} {}; see API.md for the routes",
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
}
