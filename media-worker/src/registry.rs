//! Which rooms this worker holds: one live publisher per stream name, and rooms whose publisher
//! left recently waiting for a republish (inside the reconnect window) or to be closed.
//!
//! A live room's [`RoomHls`] and [`StreamUploader`] are owned by its connection task (no lock
//! per media message). What a room writes is fenced in the bucket (`zhibo_store::live_room`):
//! a republish on another worker supersedes this one whatever this registry says. A waiting room
//! costs a few hundred bytes here (its names and when its session ended), not a segment buffer:
//! its segments, journal and head are in the bucket, where any worker continues it and where its
//! replay is rebuilt when it closes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use zhibo_core::room::RoomId;
use zhibo_media::hls::LivePlaylistConfig;
use zhibo_store::live_room::{claim_room, close_replay, ClaimError, CloseRule, Closed};

use crate::metrics::Metrics;
use crate::room_hls::{RoomHls, RoomWrites};
use crate::rtmp::publish_auth::{AuthorizedPublish, PublishRefusal};
use crate::sink::{FlushReport, MediaObjects, StreamUploader, UploadQueue};

enum Slot {
    /// A publisher on this worker holds the stream (claiming it, or publishing).
    Live { kick: Arc<Notify> },
    /// Its session ended at `since`; closed here when the window passes, unless a republish
    /// (here or on another worker) continues it first.
    Waiting(Waiting),
}

struct Waiting {
    app_id: String,
    room_id: RoomId,
    session_id: String,
    since: Instant,
}

/// A publish session's hold on its room.
pub struct Claim {
    /// The room's HLS state (continued from the bucket when the room was waiting).
    pub room: RoomHls,
    /// The room's ordered uploader.
    pub uploader: StreamUploader,
    /// Notified when the publisher must be dropped (hook said no, shutdown of this room).
    pub kick: Arc<Notify>,
}

impl Claim {
    /// Queues `writes` on the room's uploader, the live playlist through the session's fence.
    pub fn upload(&self, writes: RoomWrites) {
        for object in writes.objects {
            self.uploader.put(object);
        }
        if let Some(playlist) = writes.playlist {
            self.uploader
                .put_fenced(playlist, self.room.fence().clone());
        }
    }
}

/// What happens to a room whose session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Wait for a republish for the reconnect window, then close the replay.
    Linger,
    /// Close the replay as soon as its uploads are stored (the live is over, or the stream
    /// broke a limit).
    CloseNow,
    /// Leave it open in the bucket for a republish on another worker (this worker is shutting
    /// down; the control plane closes it if none comes).
    Leave,
}

/// Rooms held by this worker.
pub struct Registry {
    slots: Mutex<HashMap<String, Slot>>,
    closing: Mutex<Vec<JoinHandle<FlushReport>>>,
    shutdown_deadline: Mutex<Option<Instant>>,
    queue: UploadQueue,
    objects: Arc<dyn MediaObjects>,
    live_config: LivePlaylistConfig,
    reconnect_window: Duration,
    metrics: Arc<Metrics>,
}

impl Registry {
    /// An empty registry uploading through `queue` into `objects`.
    pub fn new(
        queue: UploadQueue,
        objects: Arc<dyn MediaObjects>,
        live_config: LivePlaylistConfig,
        reconnect_window: Duration,
        metrics: Arc<Metrics>,
    ) -> Registry {
        Registry {
            slots: Mutex::new(HashMap::new()),
            closing: Mutex::new(Vec::new()),
            shutdown_deadline: Mutex::new(None),
            queue,
            objects,
            live_config,
            reconnect_window,
            metrics,
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic elsewhere while holding the lock leaves the map usable.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.reconnect_window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Reserves the stream for a publisher of this worker, or refuses when one already holds it
    /// here. A room waiting here is taken over (the claim decides, from the bucket, whether it
    /// continues).
    pub fn reserve(&self, stream_name: &str, kick: Arc<Notify>) -> Result<(), PublishRefusal> {
        let mut slots = self.slots();
        if let Some(Slot::Live { .. }) = slots.get(stream_name) {
            return Err(PublishRefusal::denied(format!(
                "stream {stream_name} is already being published; stop the other publisher first"
            )));
        }
        slots.insert(stream_name.to_string(), Slot::Live { kick });
        Ok(())
    }

    /// Gives back a reservation whose publish was refused after all.
    pub fn unreserve(&self, stream_name: &str, kick: &Arc<Notify>) {
        let mut slots = self.slots();
        if matches!(slots.get(stream_name), Some(Slot::Live { kick: k }) if Arc::ptr_eq(k, kick)) {
            slots.remove(stream_name);
        }
    }

    /// Claims the reserved room in the bucket for session `session_id` (granted by the `publish`
    /// hook): continues its open replay inside the window, whichever worker wrote it, or starts
    /// a new one. Refused when a newer session already writes it.
    pub async fn claim(
        &self,
        publish: &AuthorizedPublish,
        session_id: &str,
        kick: Arc<Notify>,
        now_ms: i64,
    ) -> Result<Claim, PublishRefusal> {
        let claimed = claim_room(
            &*self.objects,
            &publish.app_id,
            publish.room_id,
            session_id,
            now_ms,
            self.window_ms(),
            RoomHls::empty_playlist(self.live_config),
        )
        .await;
        let claimed = match claimed {
            Ok(c) => c,
            Err(e) => {
                self.unreserve(&publish.stream_name, &kick);
                if let ClaimError::Objects(inner) = &e {
                    tracing::warn!(stream = %publish.stream_name, "claiming the room failed: {inner}");
                    return Err(PublishRefusal::denied(
                        "publish refused: the media storage is unreachable; try again shortly",
                    ));
                }
                return Err(PublishRefusal::denied(format!("publish refused: {e}")));
            }
        };
        let room = RoomHls::from_claim(
            &publish.app_id,
            publish.room_id,
            self.live_config,
            session_id,
            now_ms,
            claimed,
        );
        Ok(Claim {
            room,
            uploader: self.queue.stream(&publish.stream_name),
            kick,
        })
    }

    /// A session ended at `now_ms`: its last journal chunk and a `waiting` head are queued
    /// behind its segments; then, once they are stored, the room is handled as `release` says.
    pub fn release(&self, stream_name: &str, claim: Claim, release: Release, now_ms: i64) {
        let Claim {
            mut room,
            uploader,
            kick,
        } = claim;
        let writes = room.end_session(now_ms);
        for object in writes.objects {
            uploader.put(object);
        }
        if let Some(playlist) = writes.playlist {
            uploader.put_fenced(playlist, room.fence().clone());
        }
        let release = if release == Release::Linger && self.reconnect_window.is_zero() {
            Release::CloseNow
        } else {
            release
        };
        {
            let mut slots = self.slots();
            // Unless a newer publisher here took the name meanwhile (it owns the slot then).
            if matches!(slots.get(stream_name), Some(Slot::Live { kick: k }) if Arc::ptr_eq(k, &kick))
            {
                if release == Release::Linger {
                    let waiting = Waiting {
                        app_id: room.app_id().to_string(),
                        room_id: room.room_id(),
                        session_id: room.session_id().to_string(),
                        since: Instant::now(),
                    };
                    slots.insert(stream_name.to_string(), Slot::Waiting(waiting));
                } else {
                    slots.remove(stream_name);
                }
            }
        }
        let deadline = *self
            .shutdown_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let objects = self.objects.clone();
        let metrics = self.metrics.clone();
        let stream = stream_name.to_string();
        let close = (release == Release::CloseNow).then(|| {
            (
                room.app_id().to_string(),
                room.room_id(),
                room.session_id().to_string(),
            )
        });
        let handle = tokio::spawn(async move {
            let report = uploader.close(deadline).await;
            if let Some((app_id, room_id, session_id)) = close {
                close_own(&*objects, &metrics, &stream, &app_id, room_id, &session_id).await;
            }
            report
        });
        let mut closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
        closing.retain(|h| !h.is_finished());
        closing.push(handle);
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

    /// Closes the waiting rooms whose reconnect window has passed (unless a republish, here or
    /// elsewhere, continued them: the close is refused by the head then).
    pub fn close_expired(&self) {
        // Due rooms leave the map as their close starts (a failed close is logged; the sweeper
        // or the next claim closes the room from the bucket).
        let due: Vec<(String, Waiting)> = {
            let mut slots = self.slots();
            let names: Vec<String> = slots
                .iter()
                .filter(|(_, s)| matches!(s, Slot::Waiting(w) if w.since.elapsed() >= self.reconnect_window))
                .map(|(k, _)| k.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|k| match slots.remove(&k) {
                    Some(Slot::Waiting(w)) => Some((k, w)),
                    _ => None,
                })
                .collect()
        };
        self.close_waiting(due);
    }

    fn close_waiting(&self, rooms: Vec<(String, Waiting)>) {
        for (stream, w) in rooms {
            let objects = self.objects.clone();
            let metrics = self.metrics.clone();
            let handle = tokio::spawn(async move {
                close_own(
                    &*objects,
                    &metrics,
                    &stream,
                    &w.app_id,
                    w.room_id,
                    &w.session_id,
                )
                .await;
                FlushReport::default()
            });
            let mut closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
            closing.retain(|h| !h.is_finished());
            closing.push(handle);
        }
    }

    /// Shutdown: from now on uploads give up at `deadline`; waiting rooms stay open in the
    /// bucket, or are closed now when `close_waiting` (no control plane to close them later).
    pub fn begin_shutdown(&self, deadline: Instant, close_waiting: bool) {
        *self
            .shutdown_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(deadline);
        let waiting: Vec<(String, Waiting)> = {
            let mut slots = self.slots();
            let names: Vec<String> = slots
                .iter()
                .filter(|(_, s)| matches!(s, Slot::Waiting(_)))
                .map(|(k, _)| k.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|k| match slots.remove(&k) {
                    Some(Slot::Waiting(w)) => Some((k, w)),
                    _ => None,
                })
                .collect()
        };
        if close_waiting {
            self.close_waiting(waiting);
        }
    }

    /// Rooms held (live or waiting).
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// Whether no room is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for every ending room's uploads and closes (shutdown).
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

/// Closes the replay of this worker's session `session_id` (its head must still say so).
async fn close_own(
    objects: &dyn MediaObjects,
    metrics: &Metrics,
    stream: &str,
    app_id: &str,
    room_id: RoomId,
    session_id: &str,
) {
    let rule = CloseRule::Own {
        session_id: session_id.to_string(),
    };
    match close_replay(objects, app_id, room_id, zhibo_core::clock::now_ms(), rule).await {
        Ok(Closed::Now(summary)) | Ok(Closed::Already(summary)) => {
            if let Some(summary) = summary {
                Metrics::inc(&metrics.replays_total);
                tracing::info!(
                    replay_id = %summary.replay_id,
                    %stream,
                    segments = summary.segments,
                    duration_s = summary.duration_s,
                    "replay closed"
                );
            }
        }
        Ok(Closed::NotAllowed) => {
            tracing::info!(%stream, session = session_id, "not closing: a newer session continued the room")
        }
        Ok(Closed::Nothing) => {}
        Err(e) => {
            tracing::warn!(%stream, "closing the replay failed (the sweeper or the next publish closes it): {e}")
        }
    }
}
