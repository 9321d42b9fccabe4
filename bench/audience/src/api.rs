//! `zhibo serve` as a child process, and the calls the bench makes to it: the signed API (as
//! docs/api.md "Request signing" specifies), the worker's publish hook, the viewer routes.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use zhibo_core::app::App;
use zhibo_core::hooks::{HookEvent, HookEventKind, HOOKS_PATH, SIGNATURE_HEADER};
use zhibo_core::signing::{headers, BodySignature, RequestToSign};

/// The hook secret the bench's server is started with.
pub const HOOK_SECRET: &str = "bench-hook-secret-0123456789";
/// The viewer token key the bench's server is started with.
pub const VIEWER_TOKEN_KEY: &str = "bench-viewer-token-key-0123456789";
/// The key the server's functions publish to its realtime endpoint with.
pub const PUBLISH_KEY: &str = "bench-publish-key-0123456789";

/// A running `zhibo serve`.
pub struct Server {
    child: tokio::process::Child,
    /// Its process id (for its CPU time).
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts `bin serve --addr addr` with `env` on top of this process's environment
    /// (output to `log`) and waits until it accepts connections.
    pub async fn start(
        bin: &str,
        addr: SocketAddr,
        env: &[(String, String)],
        log: &str,
    ) -> Result<Server, String> {
        let out = std::fs::File::create(log).map_err(|e| format!("{log}: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("{log}: {e}"))?;
        let mut cmd = tokio::process::Command::new(bin);
        cmd.args(["serve", "--addr", &addr.to_string()])
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("starting {bin}: {e}"))?;
        let pid = child.id().ok_or("zhibo serve exited at once")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("zhibo serve exited ({status}); see {log}"));
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "zhibo serve did not listen on {addr} within 30 s; see {log}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Server {
            child,
            pid,
            base: format!("http://{addr}"),
        })
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A client of one server as one app.
#[derive(Clone)]
pub struct Client {
    /// The server.
    pub base: String,
    /// The app (id and secret).
    pub app: App,
    /// The HTTP client (pooled keep-alive connections).
    pub http: reqwest::Client,
}

impl Client {
    /// A signed call; returns the status and the body as JSON.
    pub async fn call(&self, method: &str, path: &str, body: &str) -> Result<(u16, Value), String> {
        let ts = zhibo_core::clock::now();
        let nonce = zhibo_core::ids::random_hex(12);
        let (p, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let sig = RequestToSign {
            method,
            path: p,
            query,
            timestamp: ts,
            nonce: &nonce,
            body: body.as_bytes(),
        }
        .sign(self.app.app_secret.as_bytes());
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let r = self
            .http
            .request(m, format!("{}{path}", self.base))
            .header(headers::APP, &self.app.app_id)
            .header(headers::TIMESTAMP, ts.to_string())
            .header(headers::NONCE, nonce)
            .header(headers::SIGNATURE, sig)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = r.status().as_u16();
        let text = r
            .text()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Creates a room starting now and returns its id.
    pub async fn create_room(&self, name: &str) -> Result<u64, String> {
        let now = zhibo_core::clock::now();
        let body = json!({
            "name": name,
            "cover_img": "https://example.com/cover.jpg",
            "anchor_name": "主播",
            "anchor_img": "https://example.com/anchor.jpg",
            "start_time": now + 60,
            "end_time": now + 6 * 3600,
        });
        let (status, v) = self.call("POST", "/v1/rooms", &body.to_string()).await?;
        v["room_id"]
            .as_u64()
            .filter(|_| status == 201)
            .ok_or_else(|| format!("POST /v1/rooms: HTTP {status} {v}"))
    }

    /// Takes the room live as the media worker does when a publisher connects (the publish
    /// hook, signed with the hook secret).
    pub async fn go_live(&self, room_id: u64) -> Result<(), String> {
        let event = HookEvent {
            event: HookEventKind::Publish,
            event_id: zhibo_core::ids::random_hex(8),
            session_id: format!("0199a0b1c2d3-{room_id:04}"),
            seq: 0,
            app_id: self.app.app_id.clone(),
            room_id,
            stream_name: zhibo_core::room::stream_name(&self.app.app_id, room_id),
            worker_id: "bench-worker".into(),
            client_ip: "127.0.0.1".into(),
            at_ms: zhibo_core::clock::now_ms(),
            reason: None,
            origin: None,
        };
        let body = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
        let sig = BodySignature::header(HOOK_SECRET.as_bytes(), zhibo_core::clock::now(), &body);
        let r = self
            .http
            .post(format!("{}{HOOKS_PATH}", self.base))
            .header(SIGNATURE_HEADER, sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("publish hook: {e}"))?;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status != 200 || v["allow"] != true {
            return Err(format!("publish hook: HTTP {status} {v}"));
        }
        Ok(())
    }

    /// A viewer token grant (`{"token", "expires_at", "realtime"}`) for `user` in the room.
    pub async fn grant(&self, room_id: u64, user: &str) -> Result<Value, String> {
        let body = json!({"user_id": user, "nickname": format!("观众{user}"), "ttl_s": 3600});
        let (status, v) = self
            .call(
                "POST",
                &format!("/v1/rooms/{room_id}/viewer-tokens"),
                &body.to_string(),
            )
            .await?;
        if status != 200 {
            return Err(format!("viewer token: HTTP {status} {v}"));
        }
        Ok(v)
    }

    /// Grants for `users` users named `{prefix}{i}`, 16 at a time; returns their tokens.
    pub async fn tokens(
        &self,
        room_id: u64,
        prefix: &str,
        users: usize,
    ) -> Result<Vec<String>, String> {
        let mut out = Vec::with_capacity(users);
        for start in (0..users).step_by(16) {
            let batch = (start..users.min(start + 16))
                .map(|i| async move { self.grant(room_id, &format!("{prefix}{i}")).await });
            for g in futures::future::join_all(batch).await {
                let g = g?;
                out.push(
                    g["token"]
                        .as_str()
                        .ok_or("a grant without token")?
                        .to_string(),
                );
            }
        }
        Ok(out)
    }

    /// A viewer route's POST with a viewer token: the status and the body.
    pub async fn viewer_post(
        &self,
        path: &str,
        token: &str,
        body: String,
    ) -> Result<(u16, Value), String> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| request_error(&e))?;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }
}

/// A failed request, said briefly (the kind, not the URL).
fn request_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within the client's 30-s timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(c) = src {
            msg = format!("{msg}: {c}");
            src = c.source();
        }
        msg
    }
}
