//! `zhibo-media-worker`: wiring only — configuration, sink, listeners, signals.

use std::process::ExitCode;
use std::sync::Arc;

use zhibo_media_worker::config::SinkConfig;
use zhibo_media_worker::sink::{FsSink, S3Sink, SegmentSink};
use zhibo_media_worker::{http, Worker, WorkerConfig};

#[tokio::main]
async fn main() -> ExitCode {
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

async fn run() -> Result<(), String> {
    let config = WorkerConfig::from_env().map_err(|e| format!("invalid configuration:\n{e}"))?;
    let sink: Arc<dyn SegmentSink> = match &config.sink {
        SinkConfig::S3 { bucket, endpoint } => {
            let sdk = zhibo_shared::aws::sdk_config().await;
            let client = zhibo_shared::aws::s3_client(&sdk, endpoint.as_deref());
            Arc::new(S3Sink::new(client, bucket.clone()))
        }
        SinkConfig::Fs { root } => Arc::new(FsSink::new(root.clone())),
    };
    let rtmp = tokio::net::TcpListener::bind(config.rtmp_addr)
        .await
        .map_err(|e| format!("cannot listen for RTMP on {}: {e}", config.rtmp_addr))?;
    let http_listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| format!("cannot listen for HTTP on {}: {e}", config.http_addr))?;
    if config.hooks.is_none() {
        tracing::warn!("ZHIBO_HOOK_URL is unset: publishes are admitted by push signature only, and no hooks are sent");
    }
    tracing::info!(
        rtmp = %config.rtmp_addr,
        http = %config.http_addr,
        worker_id = %config.worker_id,
        sink = ?config.sink,
        auth = ?config.publish_auth,
        "media worker listening"
    );
    let worker = Worker::new(config, sink)?;
    let app = http::router(worker.clone());
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
