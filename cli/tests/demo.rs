//! The demo page and its signing proxy (`zhibo_cli::demo`), served over real TCP in front of
//! the real function routers on DynamoDB Local, as `zhibo serve --dev-app` serves them.

use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zhibo_api::with_fallbacks;
use zhibo_cli::demo::WebScripts;
use zhibo_test_support::TestApi;

/// A TestApi (its own table and app) plus a server with the API routers and the demo merged.
struct Demo {
    api: TestApi,
    base: String,
    http: reqwest::Client,
    /// Every proxied response (status line, headers, body), to check for the secret.
    seen: std::sync::Mutex<Vec<String>>,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: serde_json::Value,
}

impl Demo {
    async fn start(hlsjs: Option<PathBuf>) -> Demo {
        Demo::with_scripts(WebScripts {
            hlsjs,
            mpegts: None,
        })
        .await
    }

    async fn with_scripts(scripts: WebScripts) -> Demo {
        let api = TestApi::start().await;
        let state = api.state.clone();
        let routes = zhibo_local::function_routes(state.clone(), api.play());
        let demo =
            zhibo_cli::demo::router(with_fallbacks(routes.clone()), api.app.clone(), scripts);
        let router = with_fallbacks(routes.merge(demo));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Demo {
            api,
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, method: &str, path: &str, body: &str, hs: &[(&str, &str)]) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body.to_string());
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in hs {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("HTTP request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let mut record = format!("{status} {path}\n");
        for (k, v) in &headers {
            record.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        record.push_str(&text);
        self.seen.lock().expect("lock").push(record);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, "", &[]).await
    }

    /// Sends `request_line` as is (no client-side path normalisation) and returns the status.
    async fn raw_status(&self, request_line: &str) -> (u16, String) {
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("{request_line}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.expect("read");
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        self.seen.lock().expect("lock").push(text.clone());
        (status, text)
    }

    fn assert_secret_never_seen(&self) {
        let secret = &self.api.app.app_secret;
        let seen = self.seen.lock().expect("lock");
        assert!(!seen.is_empty());
        for r in seen.iter() {
            assert!(
                !r.contains(secret.as_str()),
                "the app secret leaked in:\n{r}"
            );
        }
    }
}

#[tokio::test]
async fn page_and_assets_are_served() {
    let dir = std::env::temp_dir().join(format!(
        "zhibo-demo-test-{}",
        zhibo_core::ids::random_hex(6)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let hlsjs = dir.join("hls.min.js");
    std::fs::write(&hlsjs, "/* hls.js stand-in */ window.Hls = undefined;").expect("write");
    let mpegts = dir.join("mpegts.js");
    std::fs::write(&mpegts, "/* mpegts.js stand-in */").expect("write");
    let demo = Demo::with_scripts(WebScripts {
        hlsjs: Some(hlsjs.clone()),
        mpegts: Some(mpegts.clone()),
    })
    .await;

    // GIVEN the demo router WHEN the page and its files are fetched THEN each has its type.
    let r = demo.get("/demo").await;
    assert!((300..400).contains(&r.status), "{}", r.status);
    assert_eq!(r.headers["location"], "/demo/");

    let r = demo.get("/demo/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers["cache-control"], "no-cache");
    assert!(r.text.contains(r#"id="player""#), "{}", r.text);
    assert!(r.text.contains(r#"id="status""#) && r.text.contains(r#"id="error""#));

    let r = demo.get("/demo/app.js").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/javascript; charset=utf-8");
    assert!(r.text.contains("window.zhiboDemo"));

    let r = demo.get("/demo/style.css").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(r.headers["cache-control"], "no-cache");

    let r = demo.get("/demo/hls.min.js").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/javascript; charset=utf-8");
    assert!(r.text.contains("hls.js stand-in"));
    let r = demo.get("/demo/mpegts.js").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/javascript; charset=utf-8");
    assert!(r.text.contains("mpegts.js stand-in"));

    // WHEN mpegts.js is missing THEN a JSON 404 names it and says how to install it.
    std::fs::remove_file(&mpegts).expect("remove");
    let r = demo.get("/demo/mpegts.js").await;
    assert_eq!(r.status, 404);
    assert!(
        r.text.contains("mpegts.js is not installed") && r.text.contains("scripts/web-deps.sh"),
        "{}",
        r.text
    );

    // WHEN hls.js is missing THEN a JSON 404 says how to install it.
    std::fs::remove_file(&hlsjs).expect("remove");
    let r = demo.get("/demo/hls.min.js").await;
    assert_eq!(r.status, 404);
    assert!(
        r.json["errmsg"]
            .as_str()
            .unwrap_or("")
            .contains("scripts/web-deps.sh"),
        "{}",
        r.text
    );
    let _ = std::fs::remove_dir_all(&dir);

    // The API's own routes are still there, with their JSON fallbacks.
    let r = demo.get("/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["errcode"], 40400);
}

#[tokio::test]
async fn hlsjs_not_configured_says_what_to_do() {
    let demo = Demo::start(None).await;
    let r = demo.get("/demo/hls.min.js").await;
    assert_eq!(r.status, 404);
    assert!(r.text.contains("scripts/web-deps.sh"), "{}", r.text);
}

#[tokio::test]
async fn proxy_calls_the_real_api_signed_as_the_dev_app() {
    let demo = Demo::start(None).await;
    let api = &demo.api;

    // GIVEN rooms created through the signed API
    let a = api.create_room("房间 A", 120).await;
    let b = api.create_room("room B", 240).await;

    // WHEN the page lists rooms through the proxy THEN it sees them.
    let r = demo.get("/demo/api/v1/rooms?limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total"], 2, "{}", r.text);
    let ids: Vec<u64> = r.json["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|room| room["room_id"].as_u64())
        .collect();
    assert!(ids.contains(&a) && ids.contains(&b), "{ids:?}");
    // The query is part of the signature: a canonicalised, multi-parameter query passes.
    let r = demo
        .get("/demo/api/v1/rooms?limit=1&start=1&live_status=102")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["rooms"].as_array().map(Vec::len), Some(1));

    // WHEN the page creates a room (the body the page sends) THEN it exists for the API too.
    let now = zhibo_core::clock::now();
    let body = serde_json::json!({
        "name": "demo page room",
        "cover_img": "https://example.com/c.jpg",
        "anchor_name": "demo",
        "start_time": now + 60,
        "end_time": now + 6 * 3600,
    })
    .to_string();
    let r = demo
        .send(
            "POST",
            "/demo/api/v1/rooms",
            &body,
            &[
                ("origin", demo.base.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json["room_id"].as_u64().expect("room_id");
    let direct = api.call("GET", &format!("/v1/rooms/{created}"), "").await;
    assert_eq!(direct.status, 200, "{}", direct.text);
    assert_eq!(direct.json["name"], "demo page room");

    // Idempotency-Key is passed on, and the API's headers come back.
    let hs = [("idempotency-key", "demo-key-1")];
    let first = demo.send("POST", "/demo/api/v1/rooms", &body, &hs).await;
    let again = demo.send("POST", "/demo/api/v1/rooms", &body, &hs).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.json["room_id"], again.json["room_id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");

    // The page's other calls: push URL, play URLs, replays, status, PATCH.
    let r = demo
        .send(
            "POST",
            &format!("/demo/api/v1/rooms/{created}/push-url"),
            r#"{"expires_in":86400}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let push_url = r.json["push_url"].as_str().expect("push_url");
    assert!(push_url.starts_with("rtmp://"), "{push_url}");
    assert!(r.json["stream_key"].as_str().is_some() && r.json["server"].as_str().is_some());
    let r = demo
        .get(&format!("/demo/api/v1/rooms/{created}/replays"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total"], 0);
    let r = demo
        .get(&format!("/demo/api/v1/rooms/{created}/status"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["live_status"], 102);
    assert!(r.headers.contains_key("etag"));
    let r = demo
        .send(
            "PATCH",
            &format!("/demo/api/v1/rooms/{created}"),
            r#"{"name":"renamed"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["name"], "renamed");

    // The API's errors come back as they are.
    let r = demo.get("/demo/api/v1/rooms/999999").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.json["errmsg"].as_str().is_some_and(|m| !m.is_empty()));
    let r = demo.send("POST", "/demo/api/v1/rooms", "{}", &[]).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["errcode"], 40000);
    let r = demo.get("/demo/api/v1/no-such-route").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.text.contains("no route"), "{}", r.text);

    // DELETE goes through too.
    let r = demo
        .send("DELETE", &format!("/demo/api/v1/rooms/{created}"), "", &[])
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    demo.assert_secret_never_seen();
}

#[tokio::test]
async fn proxy_refuses_what_is_not_the_management_api() {
    let demo = Demo::start(None).await;

    // Paths outside /v1/ (the worker hooks, WeChat's token) are refused before anything is signed.
    for path in [
        "/demo/api/internal/hooks",
        "/demo/api/cgi-bin/token?grant_type=client_credential",
        "/demo/api/v1/%2e%2e/internal/hooks",
        "/demo/api/v1/rooms%2F..%2F..%2Finternal%2Fhooks",
    ] {
        let r = demo.send("POST", path, "{}", &[]).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert!(
            r.json["errmsg"]
                .as_str()
                .is_some_and(|m| m.contains("demo proxy")),
            "{path}: {}",
            r.text
        );
    }
    // Dot segments sent as they are (an HTTP client would normalise them away).
    for line in [
        "GET /demo/api/../x HTTP/1.1",
        "GET /demo/api/v1/../internal/hooks HTTP/1.1",
        "GET /demo/api/../../v1/rooms HTTP/1.1",
    ] {
        let (status, text) = demo.raw_status(line).await;
        assert_eq!(status, 400, "{line}:\n{text}");
    }

    // Another site's page can't use the proxy (CSRF), nor a DNS-rebound host name.
    let r = demo
        .send(
            "POST",
            "/demo/api/v1/rooms",
            "{}",
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = demo
        .send(
            "GET",
            "/demo/api/v1/rooms",
            "",
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = demo
        .send(
            "GET",
            "/demo/api/v1/rooms",
            "",
            &[("host", "rebound.example")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Bodies over 64 KiB are refused, as the API refuses them.
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024));
    let r = demo.send("POST", "/demo/api/v1/rooms", &big, &[]).await;
    assert_eq!(r.status, 413, "{}", r.text);

    // Methods the proxy does not relay.
    let r = demo.send("OPTIONS", "/demo/api/v1/rooms", "", &[]).await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.json["errcode"], 40500, "{}", r.text);

    // Nothing was created by any of this.
    let r = demo.api.call("GET", "/v1/rooms", "").await;
    assert_eq!(r.json["total"], 0, "{}", r.text);

    demo.assert_secret_never_seen();
}
