//! The worker's HTTP side: `/healthz` for load balancers, `/metrics` for Prometheus and
//! HTTP-FLV playback `/live/{stream_name}.flv`, which [`HttpListener`] hands to
//! [`crate::flv::socket`] before the HTTP framework sees it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, options};
use axum::Router;

use crate::worker::Worker;

/// `GET /healthz` (200 `ok`, 503 `draining` after SIGTERM), the preflight of
/// `/live/{stream_name}.flv` and, when `with_metrics`, `GET /metrics`.
pub fn router(worker: Arc<Worker>, with_metrics: bool) -> Router {
    let router = Router::new()
        .route("/healthz", get(health))
        .route("/live/{file}", options(crate::flv::http::preflight));
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

/// New connections whose first bytes are still awaited, at most (more are closed at once).
pub const MAX_UNSORTED: usize = 4096;

/// The worker's HTTP listener. Every accepted connection gets `ZHIBO_HTTP_SNDBUF_KB`; its
/// first bytes decide where it goes ([`crate::flv::socket::route`]): `GET /live/` to
/// [`crate::flv::socket::serve`], the rest to the HTTP framework, closed when a write stalls
/// for `ZHIBO_HTTP_WRITE_STALL_S` ([`StallGuarded`]). A connection that sends nothing for
/// [`crate::flv::socket::HEAD_TIMEOUT`] is closed.
pub struct HttpListener {
    inner: tokio::net::TcpListener,
    worker: Arc<Worker>,
    to_framework: tokio::sync::mpsc::Sender<(tokio::net::TcpStream, std::net::SocketAddr)>,
    for_framework: tokio::sync::mpsc::Receiver<(tokio::net::TcpStream, std::net::SocketAddr)>,
    unsorted: Arc<std::sync::atomic::AtomicUsize>,
}

impl HttpListener {
    /// Wraps a bound listener with the worker's settings.
    pub fn new(inner: tokio::net::TcpListener, worker: &Arc<Worker>) -> Self {
        let (to_framework, for_framework) = tokio::sync::mpsc::channel(256);
        HttpListener {
            inner,
            worker: worker.clone(),
            to_framework,
            for_framework,
            unsorted: Arc::default(),
        }
    }

    /// Sorts a new connection in its own task: FLV is served there, the rest is passed to
    /// [`axum::serve::Listener::accept`].
    fn sort(&self, io: tokio::net::TcpStream, addr: std::net::SocketAddr) {
        use std::sync::atomic::Ordering;
        let sndbuf = self.worker.config.http_sndbuf_bytes;
        if sndbuf > 0 {
            if let Err(e) = crate::tcp_tuning::set_send_buffer(&io, sndbuf) {
                tracing::debug!("could not set ZHIBO_HTTP_SNDBUF_KB on an HTTP connection: {e}");
            }
        }
        if self.unsorted.fetch_add(1, Ordering::Relaxed) >= MAX_UNSORTED {
            self.unsorted.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(
                "{MAX_UNSORTED} HTTP connections have sent no request yet: closing a new one"
            );
            return;
        }
        let (worker, unsorted) = (self.worker.clone(), self.unsorted.clone());
        let to_framework = self.to_framework.clone();
        tokio::spawn(async move {
            let accepted = tokio::time::Instant::now();
            let deadline = accepted + crate::flv::socket::HEAD_TIMEOUT;
            let route = crate::flv::socket::sort(&io, deadline).await;
            unsorted.fetch_sub(1, Ordering::Relaxed);
            match route {
                Some(crate::flv::socket::Route::Flv) => {
                    crate::flv::socket::serve(io, worker, accepted).await
                }
                Some(_) => {
                    let _ = to_framework.send((io, addr)).await;
                }
                None => {
                    // Too little before the deadline: take the few peeked bytes so the close
                    // is a clean FIN, not a reset.
                    let mut first = [0u8; crate::flv::socket::FLV_PREFIX.len()];
                    let _ = io.try_read(&mut first);
                }
            }
        });
    }
}

impl axum::serve::Listener for HttpListener {
    type Io = StallGuarded;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                Some((io, addr)) = self.for_framework.recv() => {
                    let guarded = StallGuarded {
                        io,
                        stall: self.worker.config.http_write_stall,
                        timer: None,
                        metrics: self.worker.metrics.clone(),
                    };
                    return (guarded, addr);
                }
                // Accept errors are logged and retried by axum's own TcpListener implementation.
                (io, addr) = axum::serve::Listener::accept(&mut self.inner) => self.sort(io, addr),
            }
        }
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
