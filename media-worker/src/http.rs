//! The worker's HTTP side: `/healthz` for load balancers, `/metrics` for Prometheus and
//! HTTP-FLV playback `/live/{stream_name}.flv` ([`crate::flv::http`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::worker::Worker;

/// `GET /healthz` (200 `ok`, 503 `draining` after SIGTERM), `GET /live/{stream_name}.flv` and,
/// when `with_metrics`, `GET /metrics`.
pub fn router(worker: Arc<Worker>, with_metrics: bool) -> Router {
    let router = Router::new().route("/healthz", get(health)).route(
        "/live/{file}",
        get(crate::flv::http::play).options(crate::flv::http::preflight),
    );
    let router = if with_metrics {
        router.route("/metrics", get(metrics))
    } else {
        router
    };
    router.with_state(worker)
}

/// `GET /metrics` alone, for `ZHIBO_METRICS_ADDR`.
pub fn metrics_router(worker: Arc<Worker>) -> Router {
    Router::new()
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

/// The worker's HTTP listener: every accepted connection gets `ZHIBO_HTTP_SNDBUF_KB` and is
/// closed when a write stalls for `ZHIBO_HTTP_WRITE_STALL_S` ([`StallGuarded`]).
pub struct HttpListener {
    inner: tokio::net::TcpListener,
    sndbuf: usize,
    write_stall: std::time::Duration,
    metrics: Arc<crate::metrics::Metrics>,
}

impl HttpListener {
    /// Wraps a bound listener with the worker's settings.
    pub fn new(inner: tokio::net::TcpListener, worker: &Worker) -> Self {
        HttpListener {
            inner,
            sndbuf: worker.config.http_sndbuf_bytes,
            write_stall: worker.config.http_write_stall,
            metrics: worker.metrics.clone(),
        }
    }
}

impl axum::serve::Listener for HttpListener {
    type Io = StallGuarded;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Accept errors are logged and retried by axum's own TcpListener implementation.
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        if self.sndbuf > 0 {
            if let Err(e) = set_send_buffer(&io, self.sndbuf) {
                tracing::debug!("could not set ZHIBO_HTTP_SNDBUF_KB on an HTTP connection: {e}");
            }
        }
        let guarded = StallGuarded {
            io,
            stall: self.write_stall,
            timer: None,
            metrics: self.metrics.clone(),
        };
        (guarded, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An HTTP connection whose writes fail with `TimedOut` once the peer has accepted no byte for
/// the stall limit (0 = never): a viewer that stopped reading (dropped from its stream once its
/// queue overflowed) does not keep its socket, kernel buffers and connection task for as long
/// as it stays connected.
pub struct StallGuarded {
    io: tokio::net::TcpStream,
    stall: std::time::Duration,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl StallGuarded {
    /// After a write returned `Pending`: `Ready(Err)` once the stall limit has passed.
    fn stalled(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Error> {
        if self.stall.is_zero() {
            return std::task::Poll::Pending;
        }
        let stall = self.stall;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match std::future::Future::poll(timer.as_mut(), cx) {
            std::task::Poll::Ready(()) => {
                crate::metrics::Metrics::inc(&self.metrics.http_write_stalls_total);
                std::task::Poll::Ready(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the client accepted no data for {stall:?} (ZHIBO_HTTP_WRITE_STALL_S): closing the connection"),
                ))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    fn on_write(
        &mut self,
        cx: &mut std::task::Context<'_>,
        result: std::task::Poll<std::io::Result<usize>>,
    ) -> std::task::Poll<std::io::Result<usize>> {
        match result {
            std::task::Poll::Pending => self.stalled(cx).map(Err),
            ready => {
                self.timer = None;
                ready
            }
        }
    }
}

impl tokio::io::AsyncRead for StallGuarded {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for StallGuarded {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.io).poll_write(cx, buf);
        self.on_write(cx, result)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.on_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
