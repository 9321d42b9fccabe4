//! What zhibo's tests share (every function's tests, the worker's, the cross-function
//! scenarios in `tests/`): a served API over a fresh table, the local stack's endpoints, a
//! webhook receiver, and the Lambda-path fixture helpers ([`lambda_event`]).
//!
//! [`TestApi::start`] creates a fresh table in DynamoDB Local (`ZHIBO_DYNAMO_ENDPOINT`, which
//! `make test` sets), serves every function's router on a real TCP port, and creates an app;
//! [`TestApi::call`] signs requests exactly as docs/api.md "Request signing" specifies. Each test gets its own table,
//! so tests run in parallel without seeing each other's rooms.

pub mod audience;
pub mod lambda_event;
pub mod receiver;

pub use receiver::WebhookReceiver;
use std::collections::HashMap;
use zhibo_core::app::App;
use zhibo_core::clock::now;
use zhibo_core::signing::{headers, RequestToSign};
use zhibo_core::Config;
use zhibo_store::Deps;

/// The push key of every test API (the media worker's tests sign with their own).
pub const TEST_PUSH_KEY: &str = "test-push-key-0123456789";

/// The hook secret of every test API.
pub const TEST_HOOK_SECRET: &str = "test-hook-secret-0123456789";

/// A response: status, headers and the body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON.
    pub json: serde_json::Value,
    /// The raw body text.
    pub text: String,
}

impl Reply {
    /// The `errmsg` of an error body.
    pub fn errmsg(&self) -> &str {
        self.json["errmsg"].as_str().unwrap_or("")
    }
}

/// A running API over its own table, with one app.
pub struct TestApi {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The state the server runs with (for direct store access in tests).
    pub state: Deps,
    /// The test app.
    pub app: App,
    /// HTTP client.
    pub http: reqwest::Client,
    /// SDK configuration (region, test credentials) for more clients.
    pub sdk: aws_config::SdkConfig,
}

/// A port nothing listens on now (for a listener or a child process a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// The local S3 endpoint (SeaweedFS), or a panic that says how to start it.
pub fn s3_endpoint() -> String {
    std::env::var("ZHIBO_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "ZHIBO_S3_ENDPOINT is not set: these tests need SeaweedFS. \
             Run `make test`, or `scripts/stack.sh up && eval \"$(scripts/stack.sh env)\"` first."
        )
    })
}

/// The DynamoDB Local endpoint, or a panic that says how to start it.
pub fn dynamo_endpoint() -> String {
    std::env::var("ZHIBO_DYNAMO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "ZHIBO_DYNAMO_ENDPOINT is not set: these tests need DynamoDB Local. \
             Run `make test`, or `scripts/stack.sh up && eval \"$(scripts/stack.sh env)\"` first."
        )
    })
}

impl TestApi {
    /// Starts an API with default test settings (start lead 0, quotas 50).
    pub async fn start() -> TestApi {
        TestApi::start_with(&[]).await
    }

    /// Starts an API with configuration overrides (`("MAX_LIVES_PER_DAY", "5")`, ...).
    pub async fn start_with(overrides: &[(&str, &str)]) -> TestApi {
        // With RUST_LOG set, the functions' logs (an internal error's cause) show in the
        // test's output.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let table = format!("zhibo_test_{}", zhibo_core::ids::random_hex(6));
        let mut env: HashMap<String, String> = HashMap::from([
            ("ZHIBO_TABLE".into(), table),
            ("ZHIBO_DYNAMO_ENDPOINT".into(), dynamo_endpoint()),
            ("MIN_START_LEAD_S".into(), "0".into()),
            ("PUSH_KEY".into(), TEST_PUSH_KEY.into()),
            ("INGEST_HOST".into(), "ingest.example.com:1935".into()),
            ("HOOK_SECRET".into(), TEST_HOOK_SECRET.into()),
        ]);
        // The media bucket of the local stack, when it runs (S3-facing tests need it).
        for k in ["ZHIBO_S3_ENDPOINT", "MEDIA_BUCKET"] {
            if let Ok(v) = std::env::var(k) {
                env.insert(k.into(), v);
            }
        }
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
        // DynamoDB Local accepts any credentials; default them so `cargo test` alone works
        // against a running stack.
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_credentials())
            .load()
            .await;
        let play = fn_play::PlayState::new(config.clone(), &sdk);
        let state = Deps::new(config, &sdk);
        state.table.create_table().await.expect("create test table");
        let app =
            App::generate(&format!("t{}", zhibo_core::ids::random_hex(5)), now()).expect("app id");
        assert!(state.apps.put_app(&app).await.expect("put app"));
        let router = zhibo_local::api_router(state.clone(), play);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TestApi {
            base: format!("http://{addr}"),
            state,
            app,
            http: reqwest::Client::new(),
            sdk,
        }
    }

    /// The play function's state over this API's configuration.
    pub fn play(&self) -> fn_play::PlayState {
        fn_play::PlayState::new((*self.state.config).clone(), &self.sdk)
    }

    /// An S3 client for the local stack's media bucket (`ZHIBO_S3_ENDPOINT`).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        zhibo_store::aws::s3_client(&self.sdk, Some(&s3_endpoint()))
    }

    /// The replay indexer over this API's table and the local media bucket, without an
    /// EventBridge bus unless the configuration names one.
    pub fn indexer(&self) -> fn_replay_indexer::Indexer {
        fn_replay_indexer::Indexer::new(
            self.state.table.clone(),
            self.s3(),
            fn_replay_indexer::EventBus::from_config(&self.sdk, &self.state.config),
            self.state.config.clone(),
        )
    }

    /// Runs the local stand-in for S3 event notifications (SeaweedFS metadata events →
    /// S3Event → the indexer), as `zhibo serve` does. Panics when the stack's
    /// `ZHIBO_WEED_BIN` / `ZHIBO_SEAWEEDFS_FILER` are not set.
    pub fn spawn_replay_indexer(&self) -> tokio::task::JoinHandle<()> {
        let notifications =
            zhibo_local::seaweedfs::FilerNotifications::from_env(&self.state.config.media_bucket)
                .expect(
                    "ZHIBO_WEED_BIN and ZHIBO_SEAWEEDFS_FILER must be set (eval \"$(scripts/stack.sh env)\")",
                );
        zhibo_local::background::spawn_replay_indexer(self.indexer(), notifications)
    }

    /// Starts a [`WebhookReceiver`] and registers it as the app's webhook (the API must allow
    /// `http://` URLs: `WEBHOOK_ALLOW_HTTP=1`).
    pub async fn register_webhook(&self) -> WebhookReceiver {
        let rx = WebhookReceiver::start().await;
        let r = self
            .call("PUT", "/v1/webhook", &format!(r#"{{"url":"{}"}}"#, rx.url))
            .await;
        assert_eq!(r.status, 200, "PUT /v1/webhook: {}", r.text);
        rx.set_secret(r.json["secret"].as_str().expect("webhook secret"));
        rx
    }

    /// Sends a request signed with the test app's secret.
    pub async fn call(&self, method: &str, path_and_query: &str, body: &str) -> Reply {
        self.call_with(method, path_and_query, body.as_bytes(), &[])
            .await
    }

    /// Signed request headers for a request at time `ts` with `nonce`.
    pub fn sign_headers(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        ts: i64,
        nonce: &str,
    ) -> Vec<(String, String)> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let sig = RequestToSign {
            method,
            path,
            query,
            timestamp: ts,
            nonce,
            body,
        }
        .sign(self.app.app_secret.as_bytes());
        vec![
            (headers::APP.into(), self.app.app_id.clone()),
            (headers::TIMESTAMP.into(), ts.to_string()),
            (headers::NONCE.into(), nonce.to_string()),
            (headers::SIGNATURE.into(), sig),
        ]
    }

    /// Sends a signed request with extra headers (later ones replace the signature headers).
    pub async fn call_with(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Reply {
        let nonce = zhibo_core::ids::random_hex(12);
        let mut hs = self.sign_headers(method, path_and_query, body, now(), &nonce);
        for (k, v) in extra {
            hs.retain(|(hk, _)| !hk.eq_ignore_ascii_case(k));
            hs.push((k.to_string(), v.to_string()));
        }
        self.raw(method, path_and_query, body.to_vec(), &hs).await
    }

    /// Sends a request with exactly these headers (no signing).
    pub async fn raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: Vec<u8>,
        hs: &[(String, String)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path_and_query))
            .body(body);
        for (k, v) in hs {
            req = req.header(k.as_str(), v.as_str());
        }
        let res = req.send().await.expect("HTTP request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    /// Creates a room through the API and returns its id.
    pub async fn create_room(&self, name: &str, start_in: i64) -> u64 {
        let r = self
            .call("POST", "/v1/rooms", &self.room_body(name, start_in))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["room_id"].as_u64().expect("room_id")
    }

    /// Moves a room to `status` through the store (as the worker hooks will).
    pub async fn set_status(&self, room_id: u64, status: zhibo_core::LiveStatus) {
        let room = self
            .state
            .rooms
            .get_room(&self.app.app_id, room_id)
            .await
            .expect("get room")
            .expect("room exists");
        self.state
            .lifecycle
            .set_live_status(&room, status, self.state.config.max_concurrent_lives, now())
            .await
            .expect("set live_status");
    }

    /// A worker hook event of the test app's room `room_id`.
    pub fn hook_event(
        &self,
        kind: zhibo_core::hooks::HookEventKind,
        room_id: u64,
        session_id: &str,
        seq: u64,
    ) -> zhibo_core::hooks::HookEvent {
        zhibo_core::hooks::HookEvent {
            event: kind,
            event_id: zhibo_core::ids::random_hex(8),
            session_id: session_id.to_string(),
            seq,
            app_id: self.app.app_id.clone(),
            room_id,
            stream_name: zhibo_core::room::stream_name(&self.app.app_id, room_id),
            worker_id: "test-worker".into(),
            client_ip: "127.0.0.1".into(),
            at_ms: zhibo_core::clock::now_ms(),
            reason: None,
            origin: None,
        }
    }

    /// Asks which worker holds a live (`POST /internal/hooks/locate`), signed as a worker does.
    pub async fn locate(&self, stream_name: &str) -> Reply {
        let body = serde_json::to_vec(&zhibo_core::hooks::LocateRequest {
            stream_name: stream_name.to_string(),
            worker_id: "test-edge".into(),
        })
        .expect("locate JSON");
        let sig =
            zhibo_core::signing::BodySignature::header(TEST_HOOK_SECRET.as_bytes(), now(), &body);
        self.raw(
            "POST",
            zhibo_core::hooks::LOCATE_PATH,
            body,
            &[
                ("content-type".into(), "application/json".into()),
                (zhibo_core::hooks::SIGNATURE_HEADER.into(), sig),
            ],
        )
        .await
    }

    /// Sends a worker hook as the media worker does (signed with [`TEST_HOOK_SECRET`]).
    pub async fn hook(&self, event: &zhibo_core::hooks::HookEvent) -> Reply {
        let body = serde_json::to_vec(event).expect("hook JSON");
        let sig =
            zhibo_core::signing::BodySignature::header(TEST_HOOK_SECRET.as_bytes(), now(), &body);
        self.raw(
            "POST",
            zhibo_core::hooks::HOOKS_PATH,
            body,
            &[
                ("content-type".into(), "application/json".into()),
                (zhibo_core::hooks::SIGNATURE_HEADER.into(), sig),
            ],
        )
        .await
    }

    /// Runs the sweeper every `every` in the background, as `zhibo serve` does.
    pub fn spawn_sweeper(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        zhibo_local::background::spawn_sweeper(self.state.clone(), every)
    }

    /// Runs the webhook delivery every `every` in the background, as `zhibo serve` does.
    pub fn spawn_delivery(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let deliverer = fn_webhook_delivery::Deliverer::from_config(
            self.state.outbox.clone(),
            &self.state.config,
        )
        .expect("webhook HTTP client");
        zhibo_local::background::spawn_delivery_pump(deliverer, every)
    }

    /// The room as stored.
    pub async fn stored_room(&self, room_id: u64) -> zhibo_core::room::Room {
        self.state
            .rooms
            .get_room(&self.app.app_id, room_id)
            .await
            .expect("get room")
            .expect("room exists")
    }

    /// A valid create body starting `start_in` seconds from now, lasting an hour.
    pub fn room_body(&self, name: &str, start_in: i64) -> String {
        let start = now() + start_in;
        serde_json::json!({
            "name": name,
            "cover_img": "https://example.com/cover.jpg",
            "anchor_name": "主播",
            "anchor_img": "https://example.com/anchor.jpg",
            "start_time": start,
            "end_time": start + 3600,
            "goods": [{"cover_img": "https://example.com/g.png", "url": "pages/goods/1", "price": 1100, "name": "商品"}],
        })
        .to_string()
    }
}

fn aws_sdk_credentials() -> aws_credential_types::provider::SharedCredentialsProvider {
    let id = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "test".into());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "test".into());
    aws_credential_types::provider::SharedCredentialsProvider::new(
        aws_credential_types::Credentials::new(id, secret, None, None, "zhibo-tests"),
    )
}
