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

/// Sets a connection's socket send buffer (`SO_SNDBUF`; `ZHIBO_HTTP_SNDBUF_KB`). The kernel
/// doubles the value for its bookkeeping and stops autotuning this socket.
pub fn set_send_buffer(stream: &tokio::net::TcpStream, bytes: usize) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live local, on a socket
        // descriptor `stream` owns for the duration of the call.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(unix))]
    let _ = (stream, bytes);
    Ok(())
}
