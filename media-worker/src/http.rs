//! The worker's HTTP side: `/healthz` for load balancers and `/metrics` for Prometheus.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::worker::Worker;

/// `GET /healthz` (200 `ok`, 503 `draining` after SIGTERM) and `GET /metrics`.
pub fn router(worker: Arc<Worker>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .with_state(worker)
}

async fn health(State(worker): State<Arc<Worker>>) -> impl IntoResponse {
    if worker.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn metrics(State(worker): State<Arc<Worker>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        worker.render_metrics(),
    )
}
