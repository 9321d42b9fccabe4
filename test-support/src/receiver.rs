//! A webhook receiver for tests: a real HTTP server that checks every delivery with
//! [`zhibo_core::webhook::verify`] (403-free: a bad signature answers 401 and is not kept)
//! and keeps the verified events.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use http::{HeaderMap, StatusCode};
use std::sync::{Arc, Mutex};
use zhibo_core::webhook::{self, WebhookEvent};

#[derive(Default)]
struct Shared {
    secret: Mutex<String>,
    events: Mutex<Vec<WebhookEvent>>,
    refused: Mutex<usize>,
}

/// A running receiver.
#[derive(Clone)]
pub struct WebhookReceiver {
    shared: Arc<Shared>,
    /// The URL to register with `PUT /v1/webhook`.
    pub url: String,
}

async fn receive(State(r): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = r.secret.lock().map(|s| s.clone()).unwrap_or_default();
    let sig = headers.get("zhibo-signature").and_then(|v| v.to_str().ok());
    match webhook::verify(&secret, sig, &body, zhibo_core::clock::now()) {
        Ok(e) => {
            if let Ok(mut events) = r.events.lock() {
                events.push(e);
            }
            StatusCode::NO_CONTENT
        }
        Err(_) => {
            if let Ok(mut n) = r.refused.lock() {
                *n += 1;
            }
            StatusCode::UNAUTHORIZED
        }
    }
}

impl WebhookReceiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> WebhookReceiver {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { shared, url }
    }

    /// The secret `PUT /v1/webhook` answered with.
    pub fn set_secret(&self, secret: &str) {
        if let Ok(mut s) = self.shared.secret.lock() {
            *s = secret.to_string();
        }
    }

    /// The verified events so far.
    pub fn events(&self) -> Vec<WebhookEvent> {
        self.shared
            .events
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// The types of the verified events of one room, in arrival order.
    pub fn types(&self, room_id: u64) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e.room_id == room_id)
            .map(|e| e.kind.as_str().to_string())
            .collect()
    }

    /// Deliveries refused for a bad signature.
    pub fn refused(&self) -> usize {
        self.shared.refused.lock().map(|n| *n).unwrap_or(0)
    }
}
