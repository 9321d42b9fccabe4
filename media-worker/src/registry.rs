//! Which rooms this worker holds: one live publisher per stream name, and rooms whose publisher
//! left recently (inside the reconnect window) waiting to be continued or closed.
//!
//! A live room's [`RoomHls`] and [`StreamUploader`] are owned by its connection task (no lock
//! per media message); they come back here when the session ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use zhibo_media::hls::LivePlaylistConfig;

use crate::metrics::Metrics;
use crate::room_hls::RoomHls;
use crate::rtmp::publish_auth::{AuthorizedPublish, PublishRefusal};
use crate::sink::{FlushReport, StreamUploader, UploadQueue};

enum Slot {
    Live {
        kick: Arc<Notify>,
    },
    Lingering {
        room: Box<RoomHls>,
        uploader: StreamUploader,
        since: Instant,
    },
}

/// A publish session's hold on its room.
pub struct Claim {
    /// The room's HLS state (continued when the room was lingering).
    pub room: RoomHls,
    /// The room's ordered uploader.
    pub uploader: StreamUploader,
    /// Notified when the publisher must be dropped (hook said no, shutdown of this room).
    pub kick: Arc<Notify>,
    /// Whether this continues a room inside its reconnect window.
    pub continued: bool,
    previous_since: Option<Instant>,
}

/// Rooms held by this worker.
pub struct Registry {
    slots: Mutex<HashMap<String, Slot>>,
    closing: Mutex<Vec<JoinHandle<FlushReport>>>,
    shutdown_deadline: Mutex<Option<Instant>>,
    queue: UploadQueue,
    live_config: LivePlaylistConfig,
    reconnect_window: Duration,
    metrics: Arc<Metrics>,
}

impl Registry {
    /// An empty registry uploading through `queue`.
    pub fn new(
        queue: UploadQueue,
        live_config: LivePlaylistConfig,
        reconnect_window: Duration,
        metrics: Arc<Metrics>,
    ) -> Registry {
        Registry {
            slots: Mutex::new(HashMap::new()),
            closing: Mutex::new(Vec::new()),
            shutdown_deadline: Mutex::new(None),
            queue,
            live_config,
            reconnect_window,
            metrics,
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic elsewhere while holding the lock leaves the map usable.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the room for a new publish session, or refuses when another publisher holds it.
    pub fn claim(
        &self,
        publish: &AuthorizedPublish,
        session_id: &str,
        kick: Arc<Notify>,
        now_ms: i64,
    ) -> Result<Claim, PublishRefusal> {
        let mut slots = self.slots();
        let live = Slot::Live { kick: kick.clone() };
        let (mut room, uploader, continued, previous_since) =
            match slots.insert(publish.stream_name.clone(), live) {
                Some(Slot::Lingering {
                    room,
                    uploader,
                    since,
                }) => (*room, uploader, true, Some(since)),
                Some(other @ Slot::Live { .. }) => {
                    slots.insert(publish.stream_name.clone(), other);
                    return Err(PublishRefusal::denied(format!(
                        "stream {} is already being published; stop the other publisher first",
                        publish.stream_name
                    )));
                }
                None => (
                    RoomHls::new(&publish.app_id, publish.room_id, self.live_config, now_ms),
                    self.queue.stream(&publish.stream_name),
                    false,
                    None,
                ),
            };
        room.begin_session(session_id, now_ms);
        Ok(Claim {
            room,
            uploader,
            kick,
            continued,
            previous_since,
        })
    }

    /// Gives back a claim whose publish was refused after all (the hook said no): a lingering
    /// room goes back to lingering as it was, a new one is dropped.
    pub fn unclaim(&self, stream_name: &str, claim: Claim, now_ms: i64) {
        let mut slots = self.slots();
        slots.remove(stream_name);
        if let Some(since) = claim.previous_since {
            let mut room = claim.room;
            room.end_session(now_ms);
            slots.insert(
                stream_name.to_string(),
                Slot::Lingering {
                    room: Box::new(room),
                    uploader: claim.uploader,
                    since,
                },
            );
        }
    }

    /// A session ended: the room lingers for the reconnect window (or closes at once when the
    /// window is 0).
    pub fn release(
        &self,
        stream_name: &str,
        mut room: RoomHls,
        uploader: StreamUploader,
        now_ms: i64,
    ) {
        if self.reconnect_window.is_zero() {
            return self.release_and_close(stream_name, room, uploader, now_ms);
        }
        room.end_session(now_ms);
        self.slots().insert(
            stream_name.to_string(),
            Slot::Lingering {
                room: Box::new(room),
                uploader,
                since: Instant::now(),
            },
        );
    }

    /// A session ended because the worker shuts down, or because it broke a limit: the room
    /// closes now (final live playlist, replay), with uploads bounded by the shutdown deadline
    /// when there is one.
    pub fn release_and_close(
        &self,
        stream_name: &str,
        mut room: RoomHls,
        uploader: StreamUploader,
        now_ms: i64,
    ) {
        room.end_session(now_ms);
        self.slots().remove(stream_name);
        self.close_room(room, uploader, now_ms, None);
    }

    /// Drops the live publisher of `stream_name`, if any.
    pub fn kick(&self, stream_name: &str) -> bool {
        match self.slots().get(stream_name) {
            Some(Slot::Live { kick, .. }) => {
                kick.notify_one();
                true
            }
            _ => false,
        }
    }

    /// Closes the rooms whose reconnect window has passed.
    pub fn close_expired(&self, now_ms: i64) {
        let expired: Vec<(String, Slot)> = {
            let mut slots = self.slots();
            let names: Vec<String> = slots
                .iter()
                .filter(|(_, s)| matches!(s, Slot::Lingering { since, .. } if since.elapsed() >= self.reconnect_window))
                .map(|(k, _)| k.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|k| slots.remove(&k).map(|s| (k, s)))
                .collect()
        };
        for (_, slot) in expired {
            if let Slot::Lingering { room, uploader, .. } = slot {
                self.close_room(*room, uploader, now_ms, None);
            }
        }
    }

    /// Shutdown: from now on rooms close at once, and their uploads give up at `deadline`;
    /// every lingering room closes now.
    pub fn begin_shutdown(&self, now_ms: i64, deadline: Instant) {
        *self
            .shutdown_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(deadline);
        let all: Vec<Slot> = {
            let mut slots = self.slots();
            let names: Vec<String> = slots
                .iter()
                .filter(|(_, s)| matches!(s, Slot::Lingering { .. }))
                .map(|(k, _)| k.clone())
                .collect();
            names.into_iter().filter_map(|k| slots.remove(&k)).collect()
        };
        for slot in all {
            if let Slot::Lingering { room, uploader, .. } = slot {
                self.close_room(*room, uploader, now_ms, Some(deadline));
            }
        }
    }

    /// Rooms held (live or lingering).
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// Whether no room is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes a room's final objects behind its queued segments and drains its uploader.
    fn close_room(
        &self,
        mut room: RoomHls,
        uploader: StreamUploader,
        now_ms: i64,
        deadline: Option<Instant>,
    ) {
        let deadline = deadline.or(*self
            .shutdown_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()));
        let (objects, summary) = room.close(now_ms);
        for object in objects {
            uploader.put(object);
        }
        if let Some(summary) = summary {
            Metrics::inc(&self.metrics.replays_total);
            tracing::info!(
                replay_id = %summary.replay_id,
                stream = %summary.stream_name,
                segments = summary.segments,
                duration_s = summary.duration_s,
                "replay closed"
            );
        }
        let handle = tokio::spawn(async move { uploader.close(deadline).await });
        let mut closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
        closing.retain(|h| !h.is_finished());
        closing.push(handle);
    }

    /// Waits for every closing room's uploads (shutdown).
    pub async fn wait_closed(&self) -> Vec<FlushReport> {
        let handles: Vec<_> = {
            let mut closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
            closing.drain(..).collect()
        };
        let mut reports = Vec::new();
        for h in handles {
            if let Ok(r) = h.await {
                reports.push(r);
            }
        }
        reports
    }
}
