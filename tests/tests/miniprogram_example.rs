//! `examples/miniprogram/`: its node tests (signing test vector, `node --check` of every file),
//! then its backend (`backend/server.mjs`) against a real API, which proves the example's
//! request signing against the real server.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use zhibo_e2e_tests::TestApi;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `node`, or a failure that says how to get it (never a silent skip).
fn node() -> &'static str {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "node is missing: the mini-program example's tests need Node.js 20+; `make test` installs it \
         (apt-get install nodejs)"
    );
    "node"
}

#[test]
fn node_tests_of_the_example_pass() {
    let out = std::process::Command::new(node())
        .args(["--test", "examples/miniprogram/backend/"])
        .current_dir(workspace_root())
        .output()
        .expect("run node --test");
    assert!(
        out.status.success(),
        "node --test examples/miniprogram/backend/ failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The backend process, killed when dropped.
struct Backend {
    child: tokio::process::Child,
    base: String,
}

impl Backend {
    async fn start(api: &TestApi) -> Backend {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let child = tokio::process::Command::new(node())
            .arg("examples/miniprogram/backend/server.mjs")
            .current_dir(workspace_root())
            .env("ZHIBO_API", &api.base)
            .env("ZHIBO_APP_ID", &api.app.app_id)
            .env("ZHIBO_APP_SECRET", &api.app.app_secret)
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node examples/miniprogram/backend/server.mjs");
        let mut backend = Backend {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        // Ready when /healthz answers (polled; the process exiting fails at once).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = backend.child.try_wait() {
                panic!("the example backend exited at start: {status}");
            }
            let ready = api
                .http
                .get(format!("{}/healthz", backend.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return backend;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the example backend did not answer /healthz within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn request(
        &self,
        http: &reqwest::Client,
        method: &str,
        path: &str,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let res = http
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .expect("request to the example backend");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        (status, json)
    }
}

#[tokio::test]
async fn example_backend_signs_requests_the_real_api_accepts() {
    // PLAY_HOST: play-urls (and so the example's /rooms/:id/play) carries the HTTP-FLV URL the
    // live page gives <live-player>.
    let api = TestApi::start_with(&[
        ("PLAY_HOST", "play.example.com"),
        ("PLAY_KEY", "example-play-key-0123456789"),
        ("VIEWER_TOKEN_KEY", "example-viewer-key-0123456789"),
        ("REALTIME_WS_URL", "ws://127.0.0.1:18080/event/realtime"),
        ("REALTIME_HTTP_URL", "http://127.0.0.1:18080/event"),
    ])
    .await;
    let a = api.create_room("小程序 A", 120).await;
    let b = api.create_room("mini-program B", 240).await;
    let backend = Backend::start(&api).await;
    let http = &api.http;

    // GET /rooms goes through the example's signing to GET /v1/rooms.
    let (status, rooms) = backend.request(http, "GET", "/rooms").await;
    assert_eq!(status, 200, "{rooms}");
    assert_eq!(rooms["total"], 2, "{rooms}");
    let ids: Vec<u64> = rooms["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|r| r["room_id"].as_u64())
        .collect();
    assert!(ids.contains(&a) && ids.contains(&b), "{ids:?}");
    assert!(rooms["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .any(|r| r["name"] == "小程序 A"));

    // The mini-program's other calls, each signed differently (query, body, path).
    let (status, s) = backend
        .request(http, "GET", &format!("/rooms/{a}/status"))
        .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["live_status"], 102);
    let (status, p) = backend
        .request(http, "POST", &format!("/rooms/{a}/push"))
        .await;
    assert_eq!(status, 200, "{p}");
    assert!(
        p["push_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("rtmp://")),
        "{p}"
    );
    let (status, r) = backend
        .request(http, "GET", &format!("/rooms/{a}/replays"))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["total"], 0, "{r}");
    let (status, w) = backend
        .request(http, "GET", &format!("/rooms/{a}/wechat-replays"))
        .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["errcode"], 0, "{w}");
    assert!(w["live_replay"].is_array(), "{w}");
    let (status, play) = backend
        .request(http, "GET", &format!("/rooms/{a}/play"))
        .await;
    assert_eq!(status, 200, "{play}");
    assert!(
        play["hls"]
            .as_str()
            .is_some_and(|u| u.ends_with("/index.m3u8") || u.contains("/index.m3u8?")),
        "{play}"
    );
    let flv = format!(
        "https://play.example.com/live/{}.flv?txSecret=",
        zhibo_core::room::stream_name(&api.app.app_id, a)
    );
    assert!(
        play["flv"].as_str().is_some_and(|u| u.starts_with(&flv)),
        "the live page's <live-player src>: {play}"
    );

    // The chat's viewer token: issued by zhibo for a guest the backend vouches for.
    let (status, grant) = backend
        .request(http, "POST", &format!("/rooms/{a}/viewer-token"))
        .await;
    assert_eq!(status, 200, "{grant}");
    let token = grant["token"].as_str().unwrap_or_default();
    let claims = zhibo_core::audience::token::verify(
        "example-viewer-key-0123456789",
        token,
        zhibo_core::clock::now(),
        Some((&api.app.app_id, a)),
    )
    .expect("a token for this room");
    assert!(claims.user_id.starts_with("guest-"), "{grant}");
    assert_eq!(
        grant["realtime"]["channel"],
        format!("/zhibo/{}/{a}", api.app.app_id)
    );

    // zhibo's errors reach the mini-program as they are.
    let (status, e) = backend.request(http, "GET", "/rooms/999999/status").await;
    assert_eq!(status, 404, "{e}");
    assert!(e["errmsg"].as_str().is_some_and(|m| !m.is_empty()), "{e}");

    // The secret never reaches the mini-program.
    for body in [&rooms, &s, &p, &r, &w, &play, &e, &grant] {
        assert!(!body.to_string().contains(&api.app.app_secret));
    }
    drop(backend);
}

/// The live page plays a live's `flv` in `<live-player mode="live">` with low-latency cache
/// settings, falls back to `<video>` with `hls`, and plays replays in `<video>`.
#[test]
fn live_page_plays_flv_in_live_player_and_replays_in_video() {
    let page = workspace_root().join("examples/miniprogram/miniprogram/pages/live");
    let wxml = std::fs::read_to_string(page.join("live.wxml")).expect("live.wxml");
    let element = |tag: &str, needle: &str| -> String {
        let mut rest = wxml.as_str();
        while let Some(at) = rest.find(&format!("<{tag} ")) {
            let end = rest[at..].find("/>").map_or(rest.len(), |e| at + e);
            let el = &rest[at..end];
            if el.contains(needle) {
                return el.to_string();
            }
            rest = &rest[end..];
        }
        panic!("live.wxml has no <{tag}> with {needle}:\n{wxml}");
    };
    let player = element("live-player", r#"src="{{flv}}""#);
    for attr in [
        r#"mode="live""#,
        "autoplay",
        "min-cache=",
        "max-cache=",
        "bindstatechange",
    ] {
        assert!(
            player.contains(attr),
            "<live-player> lacks {attr}: {player}"
        );
    }
    element("video", r#"src="{{hls}}""#);
    element("video", r#"src="{{replayUrl}}""#);
    let js = std::fs::read_to_string(page.join("live.js")).expect("live.js");
    assert!(
        js.contains("flv: p.flv"),
        "live.js takes flv from /rooms/:id/play"
    );
}
