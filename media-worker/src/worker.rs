//! The running worker: shared state, the accept loop, housekeeping and graceful shutdown.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use zhibo_media::hls::LivePlaylistConfig;

use crate::admission::{Admission, Budgets, ConnectionBudget, NotPublishing};
use crate::config::WorkerConfig;
use crate::flv::FlvHubs;
use crate::hooks::{HookClient, HookClientError};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::rtmp::connection;
use crate::sink::{MediaObjects, UploadConfig, UploadQueue};

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
    /// HTTP-FLV viewers of the streams published (or relayed) here.
    pub flv: Arc<FlvHubs>,
    /// The edge relay (with hooks and `PLAY_KEY`): pulls lives other workers hold.
    pub flv_relay: Option<Arc<crate::flv::relay::Relays>>,
    /// Pre-publish and publishing connection budgets; the handle closes an evicted connection.
    budget: Mutex<ConnectionBudget<Arc<Notify>>>,
    draining: AtomicBool,
    /// Set once at shutdown: publishers that support it are asked to reconnect.
    reconnect_request: watch::Sender<bool>,
    /// Publishing connections that accept a reconnect request, now.
    reconnectable: watch::Sender<usize>,
}

/// A publishing connection whose client accepts Enhanced RTMP reconnect requests, counted by
/// the worker while it lives (shutdown waits for these to leave after asking them to).
pub struct ReconnectablePublisher {
    worker: Arc<Worker>,
}

impl Drop for ReconnectablePublisher {
    fn drop(&mut self) {
        self.worker
            .reconnectable
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A connection's place in the worker's budgets, given back when dropped (also when its task
/// panics).
pub struct BudgetSlot {
    worker: Arc<Worker>,
    id: u64,
    publishing: bool,
    /// Notified when the connection is evicted to make room for a newer one.
    pub evicted: Arc<Notify>,
}

impl BudgetSlot {
    /// While `true`, the connection waits for its publish to be authorized and is not evicted.
    pub fn set_authorizing(&self, authorizing: bool) {
        self.worker.budget().set_authorizing(self.id, authorizing);
    }

    /// Moves the connection to the publishing budget.
    pub fn start_publishing(&mut self) -> Result<(), NotPublishing> {
        if self.publishing {
            return Ok(());
        }
        let mut budget = self.worker.budget();
        let started = budget.start_publishing(self.id);
        self.publishing = started.is_ok();
        self.worker.set_preauth_gauge(&budget);
        started
    }
}

impl Drop for BudgetSlot {
    fn drop(&mut self) {
        let mut budget = self.worker.budget();
        if self.publishing {
            budget.stop_publishing();
        } else {
            budget.remove(self.id);
        }
        self.worker.set_preauth_gauge(&budget);
    }
}

impl Worker {
    /// Builds the worker around a sink.
    pub fn new(
        config: WorkerConfig,
        objects: Arc<dyn MediaObjects>,
    ) -> Result<Arc<Worker>, HookClientError> {
        let metrics = Arc::new(Metrics::default());
        let queue = UploadQueue::new(
            objects.clone(),
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
            objects,
            live,
            config.reconnect_window,
            metrics.clone(),
        );
        let hooks = match &config.hooks {
            Some(h) => Some(HookClient::new(
                h.clone(),
                &config.worker_id,
                config.relay_url.as_deref(),
            )?),
            None => None,
        };
        let flv = Arc::new(FlvHubs::new(
            metrics.clone(),
            config.flv_viewer_buffer_bytes,
            config.max_flv_viewers,
            config.flv_sendfile,
        ));
        let flv_relay = match (&hooks, &config.play_key) {
            (Some(hooks), Some(key)) => Some(Arc::new(
                crate::flv::relay::Relays::new(
                    flv.clone(),
                    hooks.clone(),
                    key.0.clone(),
                    metrics.clone(),
                )
                .map_err(HookClientError)?,
            )),
            _ => None,
        };
        Ok(Arc::new(Worker {
            flv,
            flv_relay,
            registry,
            hooks,
            budget: Mutex::new(ConnectionBudget::new(Budgets {
                pre_auth: config.max_preauth_connections,
                pre_auth_per_address: config.max_preauth_per_address,
                publishing: config.max_connections,
            })),
            config,
            metrics,
            queue,
            draining: AtomicBool::new(false),
            reconnect_request: watch::Sender::new(false),
            reconnectable: watch::Sender::new(0),
        }))
    }

    fn budget(&self) -> MutexGuard<'_, ConnectionBudget<Arc<Notify>>> {
        // The budget's state is consistent after every call: a panic elsewhere leaves it usable.
        self.budget.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_preauth_gauge(&self, budget: &ConnectionBudget<Arc<Notify>>) {
        self.metrics
            .preauth_connections
            .store(budget.pre_auth_len() as u64, Ordering::Relaxed);
    }

    /// Admits a new connection from `ip` to the pre-publish pool, evicting the oldest
    /// pre-publish connection if the pool is full; `None`: refuse it.
    pub fn admit_connection(self: &Arc<Self>, ip: IpAddr) -> Option<BudgetSlot> {
        let evicted = Arc::new(Notify::new());
        let mut budget = self.budget();
        let answer = budget.admit(ip, evicted.clone());
        self.set_preauth_gauge(&budget);
        drop(budget);
        match answer {
            Admission::Admitted { id, evicted: old } => {
                if let Some(old) = old {
                    Metrics::inc(&self.metrics.preauth_evicted_total);
                    // Stored if that connection is not waiting yet: it closes at its next poll.
                    old.notify_one();
                }
                Some(BudgetSlot {
                    worker: self.clone(),
                    id,
                    publishing: false,
                    evicted,
                })
            }
            Admission::Refused(why) => {
                Metrics::inc(&self.metrics.preauth_refused_total);
                tracing::debug!(%ip, ?why, "refusing a connection: pre-publish budget");
                None
            }
        }
    }

    /// Whether the worker still takes publishers (`/healthz` answers 503 once draining, so a
    /// load balancer stops sending new ones).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Counts a publishing connection whose client accepts reconnect requests until the
    /// returned guard is dropped.
    pub fn reconnectable_publisher(self: &Arc<Self>) -> ReconnectablePublisher {
        self.reconnectable.send_modify(|n| *n += 1);
        ReconnectablePublisher {
            worker: self.clone(),
        }
    }

    /// Changes once, at shutdown, when publishers that support it are to be asked to
    /// reconnect (see [`ReconnectablePublisher`]).
    pub fn reconnect_requests(&self) -> watch::Receiver<bool> {
        self.reconnect_request.subscribe()
    }

    /// Scale-in, step one: asks every publisher whose client supports it (Enhanced RTMP
    /// `capsEx` Reconnect) to reconnect, which through the load balancer lands on another
    /// worker, and waits up to `ZHIBO_RECONNECT_REQUEST_WAIT_S` (and never past `deadline`)
    /// for them to leave. The others are closed by the shutdown that follows, as before; an
    /// encoder reconnects on its own after a close.
    async fn ask_publishers_to_reconnect(&self, deadline: Instant) {
        let asked = *self.reconnectable.borrow();
        let wait = self
            .config
            .reconnect_request_wait
            .min(deadline.saturating_duration_since(Instant::now()));
        if asked == 0 || wait.is_zero() {
            return;
        }
        tracing::info!(
            publishers = asked,
            "asking the publishers that support it to reconnect (Enhanced RTMP reconnect request); waiting up to {wait:?} for them to leave"
        );
        let mut left = self.reconnectable.subscribe();
        self.reconnect_request.send_replace(true);
        let all_left = tokio::time::timeout(wait, left.wait_for(|&n| n == 0)).await;
        let staying = *self.reconnectable.borrow();
        if all_left.is_ok() {
            tracing::info!("every publisher asked to reconnect has left");
        } else {
            tracing::info!(
                staying,
                "{staying} of {asked} publishers asked to reconnect are still connected after {wait:?}: closing them"
            );
        }
    }

    /// The Prometheus text of `/metrics`.
    pub fn render_metrics(&self) -> String {
        let hook_failures = self.hooks.as_ref().map(|h| h.failures()).unwrap_or(0);
        self.metrics.render(&self.queue.stats(), hook_failures)
    }

    /// Accepts RTMP connections on `listener` until `stop` resolves, then shuts down
    /// gracefully: stop accepting, ask publishers that support it to reconnect elsewhere and
    /// give them a moment to, end every session (last segment, final playlists, replays), wait
    /// for uploads and hooks up to the grace period.
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
                    // Until its publish is authorized a connection counts against the small
                    // pre-publish budget (per address and overall), then against
                    // ZHIBO_MAX_CONNECTIONS: idle sockets cannot take a publisher's place.
                    let Some(slot) = self.admit_connection(peer.ip()) else {
                        drop(stream);
                        continue;
                    };
                    Metrics::inc(&self.metrics.connections_total);
                    self.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
                    let worker = self.clone();
                    let rx = shutdown_rx.clone();
                    connections.spawn(async move {
                        // A bug must cost one connection, not the counters of the worker.
                        let served = std::panic::AssertUnwindSafe(connection::serve(stream, peer, worker.clone(), slot, rx));
                        let reason = futures::FutureExt::catch_unwind(served).await;
                        worker.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
                        match reason {
                            Ok(reason) => tracing::debug!(%peer, ?reason, "connection closed"),
                            Err(_) => tracing::error!(%peer, "connection task panicked; connection closed"),
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = housekeeping.tick() => self.registry.close_expired(),
                _ = &mut stop => break,
            }
        }
        drop(listener);
        self.draining.store(true, Ordering::Relaxed);
        let grace = self.config.shutdown_grace;
        let deadline = Instant::now() + grace;
        // New connections go elsewhere now (listener closed, /healthz 503): publishers that can
        // move on their own are asked to, while their media is still taken here.
        self.ask_publishers_to_reconnect(deadline).await;
        tracing::info!(
            connections = connections.len(),
            rooms = self.registry.len(),
            "shutting down: ending sessions, uploading within {grace:?}"
        );
        // Without a control plane no one else closes this worker's waiting rooms.
        self.registry.begin_shutdown(deadline, self.hooks.is_none());
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
