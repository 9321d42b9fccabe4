//! The worker's HTTP side: `/healthz` for load balancers, `/metrics` for Prometheus and
//! HTTP-FLV playback `/live/{stream_name}.flv` ([`crate::flv::http`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::worker::Worker;

/// `GET /healthz` (200 `ok`, 503 `draining` after SIGTERM), `GET /metrics` and
/// `GET /live/{stream_name}.flv`.
pub fn router(worker: Arc<Worker>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route(
            "/live/{file}",
            get(crate::flv::http::play).options(crate::flv::http::preflight),
        )
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
