//! `zhibo-media-worker`: wiring only — configuration, sink, listeners, signals.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use zhibo_core::env::EnvError;
use zhibo_media_worker::hooks::HookClientError;

use zhibo_media_worker::config::SinkConfig;
use zhibo_media_worker::sink::{FsSink, MediaObjects, S3Objects};
use zhibo_media_worker::{http, Worker, WorkerConfig};

fn main() -> ExitCode {
    release_large_buffers_at_once();
    // `ZHIBO_RUNTIME_THREADS`: 1 (default) runs every connection on one event loop thread, as
    // nginx's worker does: no cross-thread wake-ups per RTMP read. Scale out with more workers
    // (containers), or raise it to spread one worker over several cores.
    let threads = match std::env::var("ZHIBO_RUNTIME_THREADS") {
        Err(_) => 1,
        Ok(v) => {
            match v.trim().parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) => n,
                _ => {
                    eprintln!("zhibo-media-worker: ZHIBO_RUNTIME_THREADS={v:?} is invalid: expected 1..=256");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    match runtime {
        Ok(rt) => rt.block_on(async_main()),
        Err(e) => {
            eprintln!("zhibo-media-worker: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Segment buffers (hundreds of kB, one per live stream) come and go every couple of seconds.
/// glibc's default raises its mmap threshold after the first such buffer is freed, and from
/// then on keeps freed buffers in the heap: resident memory then holds a dead buffer per stream.
/// A fixed 128 KiB threshold maps every large buffer on its own and returns it on free, so
/// resident memory follows the live streams.
fn release_large_buffers_at_once() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tunables; it is called once, before any other
        // thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

async fn async_main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zhibo-media-worker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    /// The environment is invalid.
    #[error("invalid configuration:\n{0}")]
    Config(#[from] EnvError),
    /// A listening socket could not be bound.
    #[error("cannot listen for {what} on {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// `ZHIBO_RELAY_URL=ecs` and the task's address could not be read.
    #[error("ZHIBO_RELAY_URL: {0}")]
    RelayUrl(String),
    /// The hook client could not be built.
    #[error(transparent)]
    Hooks(#[from] HookClientError),
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { what, addr, source })
}

async fn run() -> Result<(), StartError> {
    let mut config = WorkerConfig::from_env()?;
    if config.relay_url_from_ecs() {
        let url = zhibo_media_worker::ecs_metadata::relay_url_from_ecs(config.http_addr.port())
            .await
            .map_err(StartError::RelayUrl)?;
        config.relay_url = Some(url);
    }
    let sink: Arc<dyn MediaObjects> = match &config.sink {
        SinkConfig::S3 { bucket, endpoint } => {
            let sdk = zhibo_store::aws::sdk_config().await;
            let client = zhibo_store::aws::s3_client(&sdk, endpoint.as_deref());
            Arc::new(S3Objects::new(client, bucket.clone()))
        }
        SinkConfig::Fs { root } => Arc::new(FsSink::new(root.clone())),
    };
    let rtmp = bind("RTMP", config.rtmp_addr).await?;
    let http_listener = bind("HTTP", config.http_addr).await?;
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(bind("metrics", addr).await?),
        None => None,
    };
    if config.hooks.is_none() {
        tracing::warn!("ZHIBO_HOOK_URL is unset: publishes are admitted by push signature only, and no hooks are sent");
    }
    tracing::info!(
        rtmp = %config.rtmp_addr,
        http = %config.http_addr,
        metrics = ?config.metrics_addr,
        worker_id = %config.worker_id,
        relay_url = ?config.relay_url,
        sink = ?config.sink,
        auth = ?config.publish_auth,
        "media worker listening"
    );
    let worker = Worker::new(config, sink)?;
    let app = http::router(worker.clone(), metrics_listener.is_none());
    if let Some(listener) = metrics_listener {
        let metrics_app = http::metrics_router(worker.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, metrics_app).await {
                tracing::error!("metrics server failed: {e}");
            }
        });
    }
    let http_listener = http::HttpListener::new(http_listener, &worker);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http_listener, app).await {
            tracing::error!("health/metrics server failed: {e}");
        }
    });
    worker.run(rtmp, shutdown_signal()).await;
    Ok(())
}

/// SIGTERM (ECS, Kubernetes, `kill`) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
