//! The demo web page of `zhibo serve --dev-app`: **local development only**.
//!
//! [`router`] serves `web/demo/` (embedded in the binary) under `/demo/`, hls.js and mpegts.js
//! from files installed by `scripts/web-deps.sh` ([`WebScripts`]), and a signing proxy, `/demo/api/v1/...`, through which
//! the page calls the real API: each request is signed with the dev app's id and secret exactly
//! as a client would sign it, and handed in-process to the same routers `zhibo serve` serves.
//! Nothing of the API is duplicated here, and the secret never leaves the process (a response
//! that would contain it is refused).
//!
//! The proxy lets anyone who can reach it act as the dev app. It is merged only by
//! `zhibo serve --dev-app`, which binds to 127.0.0.1 by default; it refuses paths outside
//! `/v1/`, cross-site browser requests (`Origin`, `Sec-Fetch-Site`) and `Host` names other than
//! `localhost` or an IP address (DNS rebinding). Never expose it on a network you don't trust.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use percent_encoding::percent_decode_str;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;
use zhibo_api::ApiError;
use zhibo_api::{method_not_allowed_fallback, read_body, with_fallbacks};
use zhibo_core::app::App;
use zhibo_core::clock::now;
use zhibo_core::error::codes;
use zhibo_core::signing::{headers, RequestToSign};

const INDEX_HTML: &str = include_str!("../../web/demo/index.html");
const APP_JS: &str = include_str!("../../web/demo/app.js");
const STYLE_CSS: &str = include_str!("../../web/demo/style.css");

/// Where the signing proxy is mounted: `/demo/api/v1/rooms` calls `/v1/rooms`.
pub const PROXY_PREFIX: &str = "/demo/api";

/// Largest API response the proxy relays (API answers are small JSON documents).
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Request headers passed on to the API besides the signature headers the proxy adds.
const FORWARDED_HEADERS: [&str; 3] = ["content-type", "idempotency-key", "if-none-match"];

/// Response headers not relayed (the body is re-framed by this server).
const DROPPED_RESPONSE_HEADERS: [&str; 3] = ["content-length", "transfer-encoding", "connection"];

/// The demo page's two vendored players, installed (pinned) by `scripts/web-deps.sh` and read
/// at request time, so installing them needs no restart.
#[derive(Debug, Clone, Default)]
pub struct WebScripts {
    /// `hls.min.js` (HLS in browsers without native HLS), served at `/demo/hls.min.js`.
    pub hlsjs: Option<PathBuf>,
    /// `mpegts.js` (HTTP-FLV through Media Source Extensions), served at `/demo/mpegts.js`.
    pub mpegts: Option<PathBuf>,
}

impl WebScripts {
    /// `ZHIBO_HLSJS` and `ZHIBO_MPEGTSJS` when set, else where `scripts/web-deps.sh` installs
    /// them, under `${ZHIBO_CACHE:-$HOME/.cache/zhibo}/web/node_modules/` (named even before
    /// they exist). A path is `None` when neither its variable, `ZHIBO_CACHE` nor `HOME` is set.
    pub fn from_env() -> WebScripts {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let cache = var("ZHIBO_CACHE")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache/zhibo")));
        let installed = |rel: &str| cache.as_ref().map(|c| c.join("web/node_modules").join(rel));
        WebScripts {
            hlsjs: var("ZHIBO_HLSJS")
                .map(PathBuf::from)
                .or_else(|| installed("hls.js/dist/hls.min.js")),
            mpegts: var("ZHIBO_MPEGTSJS")
                .map(PathBuf::from)
                .or_else(|| installed("mpegts.js/dist/mpegts.js")),
        }
    }

    /// The scripts that are configured but not on disk, by name (for a start-up warning).
    pub fn missing(&self) -> Vec<&'static str> {
        [("hls.js", &self.hlsjs), ("mpegts.js", &self.mpegts)]
            .into_iter()
            .filter(|(_, p)| !p.as_deref().is_some_and(Path::exists))
            .map(|(name, _)| name)
            .collect()
    }
}

#[derive(Clone)]
struct Demo {
    /// The API routers, with the JSON 404/405 fallbacks.
    api: Router,
    /// The dev app whose secret signs proxied requests (never logged, never answered).
    app: Arc<App>,
    /// The vendored players.
    scripts: Arc<WebScripts>,
}

/// The demo page and its signing proxy, to merge into `zhibo serve`'s router.
///
/// `api` is the merged function routers (the JSON 404/405 fallbacks are added for the proxy's
/// own calls), `app` the dev app that signs the proxied requests, `scripts` where hls.js and
/// mpegts.js are (see [`WebScripts::from_env`]). Local development only; see the module docs.
pub fn router(api: Router, app: App, scripts: WebScripts) -> Router {
    let demo = Demo {
        api: with_fallbacks(api),
        app: Arc::new(app),
        scripts: Arc::new(scripts),
    };
    Router::new()
        .route("/demo", get(|| async { Redirect::temporary("/demo/") }))
        .route(
            "/demo/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/demo/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/demo/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route(
            "/demo/hls.min.js",
            get(|State(demo): State<Demo>| async move {
                serve_script("hls.js", "ZHIBO_HLSJS", demo.scripts.hlsjs.as_deref()).await
            }),
        )
        .route(
            "/demo/mpegts.js",
            get(|State(demo): State<Demo>| async move {
                serve_script(
                    "mpegts.js",
                    "ZHIBO_MPEGTSJS",
                    demo.scripts.mpegts.as_deref(),
                )
                .await
            }),
        )
        .route(
            "/demo/api/{*path}",
            get(proxy).post(proxy).put(proxy).patch(proxy).delete(proxy),
        )
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .with_state(demo)
}

/// An embedded file of `web/demo/`.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /demo/{script}`: an installed vendored player, or a 404 that says how to install it.
async fn serve_script(name: &str, var: &str, path: Option<&Path>) -> Response {
    let Some(path) = path else {
        return script_missing(name, var, None);
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => script_missing(name, var, Some(path)),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            format!("cannot read {name} at {}: {e}", path.display()),
        )
        .into_response(),
    }
}

fn script_missing(name: &str, var: &str, path: Option<&Path>) -> Response {
    let looked = match path {
        Some(p) => format!(" (looked for {})", p.display()),
        None => format!(" (set {var} to its path)"),
    };
    ApiError::not_found(format!(
        "{name} is not installed{looked}: run scripts/web-deps.sh, then reload the page"
    ))
    .into_response()
}

/// `/demo/api/v1/...`: signs the request as the dev app and calls the API in-process.
async fn proxy(State(demo): State<Demo>, req: Request) -> Response {
    match forward(&demo, req).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn forward(demo: &Demo, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    check_browser_origin(&parts.headers)?;
    let path = api_path(parts.uri.path())?;
    let query = parts.uri.query();
    let body = read_body(body).await?;
    let nonce = zhibo_core::ids::random_hex(12);
    let timestamp = now();
    let signature = RequestToSign {
        method: parts.method.as_str(),
        path,
        query,
        timestamp,
        nonce: &nonce,
        body: &body,
    }
    .sign(demo.app.app_secret.as_bytes());
    let uri = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut inner = Request::builder().method(parts.method.clone()).uri(uri);
    for name in FORWARDED_HEADERS {
        if let Some(v) = parts.headers.get(name) {
            inner = inner.header(name, v);
        }
    }
    let inner = inner
        .header(headers::APP, demo.app.app_id.as_str())
        .header(headers::TIMESTAMP, timestamp.to_string())
        .header(headers::NONCE, nonce.as_str())
        .header(headers::SIGNATURE, signature)
        .body(Body::from(body))
        .map_err(|e| ApiError::bad_request(format!("cannot forward this request: {e}")))?;
    let res = match demo.api.clone().oneshot(inner).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    let (mut res_parts, res_body) = res.into_parts();
    let bytes = axum::body::to_bytes(res_body, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| ApiError::internal(&format!("demo proxy: reading the API's answer: {e}")))?;
    for name in DROPPED_RESPONSE_HEADERS {
        res_parts.headers.remove(name);
    }
    if leaks_secret(&demo.app.app_secret, &res_parts.headers, &bytes) {
        return Err(ApiError::internal(&format!(
            "demo proxy: the API's answer to {} {path} contains the app secret; not relayed",
            parts.method
        )));
    }
    Ok(Response::from_parts(res_parts, Body::from(bytes)))
}

/// The API path of a proxy path: `/demo/api/v1/rooms` → `/v1/rooms`. Only `/v1/` paths, and
/// no `.`/`..` segments (even percent-encoded) or encoded slashes, so the proxy can't be
/// pointed at `/internal/hooks` or anything else outside the management API.
fn api_path(full: &str) -> Result<&str, ApiError> {
    let path = full.strip_prefix(PROXY_PREFIX).unwrap_or(full);
    if !path.starts_with("/v1/") {
        return Err(ApiError::bad_request(format!(
            "the demo proxy forwards management API paths only ({PROXY_PREFIX}/v1/...); got {path:?}"
        )));
    }
    for segment in path.split('/') {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        if decoded == "." || decoded == ".." || decoded.contains(['/', '\\']) {
            return Err(ApiError::bad_request(format!(
                "the demo proxy refuses dot segments and encoded slashes in paths; got {path:?}"
            )));
        }
    }
    Ok(path)
}

/// Refuses what a browser sends for another site's page (CSRF), and `Host` names that are
/// neither `localhost` nor an IP address (a DNS-rebound name). Non-browser clients send
/// neither `Origin` nor `Sec-Fetch-Site`, and pass.
fn check_browser_origin(h: &HeaderMap) -> Result<(), ApiError> {
    let forbidden = |msg: String| ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, msg);
    let text = |v: &HeaderValue| v.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let host = h.get(header::HOST).map(text);
    if let Some(host) = &host {
        if !is_local_host(host) {
            return Err(forbidden(format!(
                "the demo proxy answers only requests to localhost or an IP address; got Host {host:?}"
            )));
        }
    }
    if let Some(site) = h.get("sec-fetch-site").map(text) {
        if site == "cross-site" || site == "same-site" {
            return Err(forbidden(
                "the demo proxy answers only its own page (Sec-Fetch-Site is cross-site)".into(),
            ));
        }
    }
    if let Some(origin) = h.get(header::ORIGIN).map(text) {
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if authority.is_none() || authority != host.as_deref() {
            return Err(forbidden(format!(
                "the demo proxy answers only its own page; Origin {origin:?} is another site"
            )));
        }
    }
    Ok(())
}

/// `localhost` or an IP address, with or without a port (`[::1]:18080`).
fn is_local_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        }
    } else {
        host.split_once(':').map_or(host, |(name, _)| name)
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok()
}

/// Whether `secret` appears in the body or any header value of a response.
fn leaks_secret(secret: &str, headers: &HeaderMap, body: &Bytes) -> bool {
    let needle = secret.as_bytes();
    let contains =
        |hay: &[u8]| !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle);
    contains(body) || headers.values().any(|v| contains(v.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_v1_paths_pass() {
        assert_eq!(api_path("/demo/api/v1/rooms").unwrap(), "/v1/rooms");
        assert_eq!(
            api_path("/demo/api/v1/rooms/7/push-url").unwrap(),
            "/v1/rooms/7/push-url"
        );
        for bad in [
            "/demo/api/internal/hooks",
            "/demo/api/../x",
            "/demo/api/v1/../internal/hooks",
            "/demo/api/v1/%2e%2E/internal/hooks",
            "/demo/api/v1/rooms%2F..%2Finternal",
            "/demo/api/v1/./rooms",
            "/demo/api/v1",
            "/demo/api/cgi-bin/token",
            "/demo/api/",
        ] {
            let e = api_path(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn hosts() {
        for ok in [
            "127.0.0.1:18080",
            "localhost:18080",
            "localhost",
            "[::1]:18080",
            "[::1]",
            "192.168.1.20:18080",
        ] {
            assert!(is_local_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:18080",
            "localhost.evil.example",
            "[::1]x",
            "",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_local_host(bad), "{bad}");
        }
    }

    #[test]
    fn browser_origins() {
        let mut h = HeaderMap::new();
        assert!(check_browser_origin(&h).is_ok(), "curl-like request");
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:18080"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:18080"),
        );
        assert!(check_browser_origin(&h).is_ok(), "the page itself");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert_eq!(
            check_browser_origin(&h).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_browser_origin(&h).is_err());
        h.remove("sec-fetch-site");
        h.insert(
            header::HOST,
            HeaderValue::from_static("rebound.example:18080"),
        );
        assert!(check_browser_origin(&h).is_err());
    }

    #[test]
    fn secret_scan() {
        let h = HeaderMap::new();
        assert!(leaks_secret(
            "s3cr3t",
            &h,
            &Bytes::from_static(b"{\"x\":\"s3cr3t\"}")
        ));
        assert!(!leaks_secret("s3cr3t", &h, &Bytes::from_static(b"{}")));
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("..s3cr3t.."));
        assert!(leaks_secret("s3cr3t", &h, &Bytes::new()));
    }
}
