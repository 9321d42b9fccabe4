//! The running worker: shared state, the accept loop, housekeeping and graceful shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use zhibo_media::hls::LivePlaylistConfig;

use crate::config::WorkerConfig;
use crate::hooks::{now_ms, HookClient};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::rtmp::connection;
use crate::sink::{SegmentSink, UploadConfig, UploadQueue};

/// Everything connections share.
pub struct Worker {
    /// Configuration.
    pub config: WorkerConfig,
    /// Rooms held.
    pub registry: Registry,
    /// Hook client, when hooks are configured.
    pub hooks: Option<HookClient>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The upload queue (for its stats).
    pub queue: UploadQueue,
    draining: AtomicBool,
}

impl Worker {
    /// Builds the worker around a sink.
    pub fn new(config: WorkerConfig, sink: Arc<dyn SegmentSink>) -> Result<Arc<Worker>, String> {
        let metrics = Arc::new(Metrics::default());
        let queue = UploadQueue::new(
            sink,
            UploadConfig {
                concurrency: config.upload_concurrency,
                memory_budget_bytes: config.upload_memory_bytes,
                spill_dir: config.spill_dir.clone(),
                max_stream_objects: config.upload_stream_objects,
                max_stream_bytes: config.upload_stream_bytes,
                max_spill_bytes: config.spill_max_bytes,
                ..UploadConfig::default()
            },
        );
        let live = LivePlaylistConfig {
            window_size: config.live_window,
            target_duration_secs: u64::from(config.segment_target_ms.div_ceil(1000)),
        };
        let registry = Registry::new(
            queue.clone(),
            live,
            config.reconnect_window,
            metrics.clone(),
        );
        let hooks = match &config.hooks {
            Some(h) => Some(HookClient::new(h.clone(), &config.worker_id)?),
            None => None,
        };
        Ok(Arc::new(Worker {
            config,
            registry,
            hooks,
            metrics,
            queue,
            draining: AtomicBool::new(false),
        }))
    }

    /// Whether the worker still takes publishers (`/healthz` answers 503 once draining, so a
    /// load balancer stops sending new ones).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The Prometheus text of `/metrics`.
    pub fn render_metrics(&self) -> String {
        let hook_failures = self.hooks.as_ref().map(|h| h.failures()).unwrap_or(0);
        self.metrics.render(&self.queue.stats(), hook_failures)
    }

    /// Accepts RTMP connections on `listener` until `stop` resolves, then shuts down
    /// gracefully: stop accepting, end every session (last segment, final playlists,
    /// replays), wait for uploads and hooks up to the grace period.
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut housekeeping = tokio::time::interval(Duration::from_secs(1));
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off instead of spinning.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    if connections.len() >= self.config.max_connections {
                        tracing::warn!(%peer, "refusing a connection: {} open (ZHIBO_MAX_CONNECTIONS)", connections.len());
                        drop(stream);
                        continue;
                    }
                    Metrics::inc(&self.metrics.connections_total);
                    self.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
                    let worker = self.clone();
                    let rx = shutdown_rx.clone();
                    connections.spawn(async move {
                        // A bug must cost one connection, not the counters of the worker.
                        let served = std::panic::AssertUnwindSafe(connection::serve(stream, peer, worker.clone(), rx));
                        let reason = futures::FutureExt::catch_unwind(served).await;
                        worker.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
                        match reason {
                            Ok(reason) => tracing::debug!(%peer, ?reason, "connection closed"),
                            Err(_) => tracing::error!(%peer, "connection task panicked; connection closed"),
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = housekeeping.tick() => self.registry.close_expired(now_ms()),
                _ = &mut stop => break,
            }
        }
        drop(listener);
        self.draining.store(true, Ordering::Relaxed);
        let grace = self.config.shutdown_grace;
        let deadline = Instant::now() + grace;
        tracing::info!(
            connections = connections.len(),
            rooms = self.registry.len(),
            "shutting down: ending sessions, uploading within {grace:?}"
        );
        self.registry.begin_shutdown(now_ms(), deadline);
        let _ = shutdown_tx.send(true);
        let tokio_deadline = tokio::time::Instant::from_std(deadline);
        while !connections.is_empty() {
            match tokio::time::timeout_at(tokio_deadline, connections.join_next()).await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        "{} connections did not end within the grace period",
                        connections.len()
                    );
                    connections.abort_all();
                    break;
                }
            }
        }
        let reports = self.registry.wait_closed().await;
        let abandoned: usize = reports.iter().map(|r| r.abandoned).sum();
        if abandoned > 0 {
            tracing::error!(
                "{abandoned} objects could not be uploaded before the shutdown deadline"
            );
        }
        if let Some(hooks) = &self.hooks {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            let pending = hooks.drain(left).await;
            if pending > 0 {
                tracing::error!("{pending} hook calls were not delivered before exit");
            }
        }
        tracing::info!("shutdown complete");
    }
}
