//! Per-stream fan-out of HTTP-FLV viewers.
//!
//! The publishing connection holds an [`FlvPublisher`]: every audio/video/metadata message goes
//! through the stream's [`FlvStream`] (encoded once into a shared [`Bytes`]) and is pushed into
//! every viewer's byte-bounded [`ViewerBuffer`] under the hub's lock, without ever awaiting a
//! viewer. A viewer subscribes under the same lock, so its start
//! ([`FlvStream::start_for_new_viewer`]) and the live tags after it neither miss nor repeat a
//! tag. A viewer whose queue passes its byte limit is removed at once and counted
//! (`zhibo_flv_viewers_dropped_total`); its response ends when it next asks for data.
//!
//! When the publisher goes (stop, kick, limit, shutdown) the hub ends every viewer's response.
//! A publisher dropped by a heartbeat answer (pause, ban) leaves a short-lived record so that
//! viewers of the stream get 403 with the reason for [`REFUSAL_TTL`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;
use zhibo_media::flv_out::{file_header, FlvStream, FlvStreamConfig, OnMetaData, ViewerBuffer};

use crate::metrics::Metrics;

/// How long viewers of a stream whose publisher was dropped by a heartbeat answer (pause, ban)
/// get 403 with the reason, instead of 404.
pub const REFUSAL_TTL: Duration = Duration::from_secs(60);

/// Locks a mutex whose state stays consistent after every call (a panic elsewhere leaves it
/// usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a viewer cannot subscribe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// No publisher of this stream on this worker.
    NotLive,
    /// The stream's publisher was just dropped by a heartbeat answer; the reason.
    Refused(String),
    /// `ZHIBO_MAX_FLV_VIEWERS` reached.
    Full(usize),
}

/// Every live stream's hub on this worker, and the refusal records.
pub struct FlvHubs {
    live: Mutex<HashMap<String, Arc<Hub>>>,
    refused: Mutex<HashMap<String, (Instant, String)>>,
    metrics: Arc<Metrics>,
    viewer_buffer_bytes: usize,
    max_viewers: usize,
    stream_config: FlvStreamConfig,
}

impl FlvHubs {
    /// Hubs whose viewers queue at most `viewer_buffer_bytes`, at most `max_viewers` viewers
    /// in all.
    pub fn new(metrics: Arc<Metrics>, viewer_buffer_bytes: usize, max_viewers: usize) -> Self {
        let defaults = FlvStreamConfig::default();
        FlvHubs {
            live: Mutex::default(),
            refused: Mutex::default(),
            metrics,
            viewer_buffer_bytes,
            max_viewers,
            // A start larger than a viewer's queue would drop every new viewer at once: the
            // GOP cache stays well under the queue's limit.
            stream_config: FlvStreamConfig {
                max_cache_bytes: (viewer_buffer_bytes / 2).min(defaults.max_cache_bytes),
                ..defaults
            },
        }
    }

    /// A publish of `stream_name` started: its hub, replacing (and ending) any older one.
    pub fn open(self: &Arc<Self>, stream_name: &str) -> FlvPublisher {
        let hub = Arc::new(Hub {
            state: Mutex::new(HubState {
                stream: FlvStream::new(self.stream_config),
                viewers: HashMap::new(),
                next_id: 0,
                ended: false,
                announced: None,
            }),
        });
        lock(&self.refused).remove(stream_name);
        let old = lock(&self.live).insert(stream_name.to_string(), hub.clone());
        if let Some(old) = old {
            self.end_hub(&old);
        }
        FlvPublisher {
            hubs: self.clone(),
            stream_name: stream_name.to_string(),
            hub,
            ended: false,
        }
    }

    /// Subscribes a viewer of `stream_name`: its queue already holds the viewer's start.
    pub fn subscribe(self: &Arc<Self>, stream_name: &str) -> Result<FlvViewer, SubscribeError> {
        let hub = lock(&self.live).get(stream_name).cloned();
        let Some(hub) = hub else {
            let mut refused = lock(&self.refused);
            return match refused.get(stream_name) {
                Some((at, why)) if at.elapsed() < REFUSAL_TTL => {
                    Err(SubscribeError::Refused(why.clone()))
                }
                Some(_) => {
                    refused.remove(stream_name);
                    Err(SubscribeError::NotLive)
                }
                None => Err(SubscribeError::NotLive),
            };
        };
        let mut state = lock(&hub.state);
        if state.ended {
            return Err(SubscribeError::NotLive);
        }
        let max = self.max_viewers as u64;
        self.metrics
            .flv_viewers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| SubscribeError::Full(self.max_viewers))?;
        Metrics::inc(&self.metrics.flv_viewers_total);
        let viewer = Arc::new(Viewer {
            queue: Mutex::new(ViewerQueue {
                buffer: ViewerBuffer::new(self.viewer_buffer_bytes),
                ended: false,
            }),
            notify: Notify::new(),
        });
        let mut start = state.stream.start_for_new_viewer();
        // Before the first media message the header would announce neither audio nor video,
        // and players (mpegts.js) would then ignore both: announce the tracks the publisher's
        // onMetaData names, or both. (A player told of a track that never comes waits for it.)
        if !state.stream.has_audio() && !state.stream.has_video() {
            let (audio, video) = state.announced.unwrap_or((true, true));
            if let Some(header) = start.first_mut() {
                *header = file_header(audio, video);
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        if viewer.push_all(start) {
            state.viewers.insert(id, viewer.clone());
        } else {
            self.dropped(stream_name);
        }
        drop(state);
        Ok(FlvViewer {
            hubs: self.clone(),
            hub,
            id,
            viewer,
        })
    }

    fn dropped(&self, stream_name: &str) {
        self.metrics.flv_viewers.fetch_sub(1, Ordering::Relaxed);
        Metrics::inc(&self.metrics.flv_viewers_dropped_total);
        tracing::info!(
            stream = stream_name,
            limit_bytes = self.viewer_buffer_bytes,
            "dropping an HTTP-FLV viewer that fell behind by more than ZHIBO_FLV_VIEWER_BUFFER_KB"
        );
    }

    /// Ends every viewer of `hub` and removes them.
    fn end_hub(&self, hub: &Hub) {
        let mut state = lock(&hub.state);
        state.ended = true;
        let viewers = std::mem::take(&mut state.viewers);
        drop(state);
        self.metrics
            .flv_viewers
            .fetch_sub(viewers.len() as u64, Ordering::Relaxed);
        for viewer in viewers.values() {
            viewer.end();
        }
    }

    /// Whether `stream_name` has a hub on this worker (a publisher or a relay).
    pub fn is_live(&self, stream_name: &str) -> bool {
        lock(&self.live).contains_key(stream_name)
    }

    /// Live streams with a hub on this worker.
    pub fn live_streams(&self) -> usize {
        lock(&self.live).len()
    }
}

/// One live stream's viewers and FLV state.
pub struct Hub {
    state: Mutex<HubState>,
}

struct HubState {
    stream: FlvStream,
    viewers: HashMap<u64, Arc<Viewer>>,
    next_id: u64,
    ended: bool,
    /// The tracks (audio, video) the publisher's onMetaData names, when it names any.
    announced: Option<(bool, bool)>,
}

struct Viewer {
    queue: Mutex<ViewerQueue>,
    notify: Notify,
}

struct ViewerQueue {
    buffer: ViewerBuffer,
    ended: bool,
}

impl Viewer {
    /// Queues tags; `false` when the viewer is lagging (its response then ends).
    fn push_all(&self, tags: impl IntoIterator<Item = Bytes>) -> bool {
        let pushed = lock(&self.queue).buffer.push_all(tags).is_ok();
        self.notify.notify_one();
        pushed
    }

    fn end(&self) {
        lock(&self.queue).ended = true;
        self.notify.notify_one();
    }
}

/// The publishing connection's side of a hub. Dropping it ends the stream's viewers.
pub struct FlvPublisher {
    hubs: Arc<FlvHubs>,
    stream_name: String,
    hub: Arc<Hub>,
    ended: bool,
}

impl FlvPublisher {
    /// A video message (FLV video tag body).
    pub fn on_video(&mut self, timestamp: u32, body: &[u8]) {
        self.broadcast(|s| s.on_video(timestamp, body));
    }

    /// An audio message (FLV audio tag body).
    pub fn on_audio(&mut self, timestamp: u32, body: &[u8]) {
        self.broadcast(|s| s.on_audio(timestamp, body));
    }

    /// The publisher's `onMetaData`.
    pub fn on_metadata(&mut self, metadata: &OnMetaData) {
        let tracks = (
            metadata.audio_codec_id.is_some(),
            metadata.video_codec_id.is_some(),
        );
        if tracks != (false, false) {
            lock(&self.hub.state).announced = Some(tracks);
        }
        let body = metadata.encode();
        self.broadcast(|s| s.on_metadata(&body));
    }

    /// A script tag body as it came (the edge relay passes the origin's `onMetaData` on).
    pub fn on_script(&mut self, body: &[u8]) {
        self.broadcast(|s| s.on_metadata(body));
    }

    /// The tracks the stream has, as its source announced them (the origin's FLV header, for
    /// a relay), for viewers that join before any media.
    pub fn announce(&mut self, audio: bool, video: bool) {
        if audio || video {
            lock(&self.hub.state).announced = Some((audio, video));
        }
    }

    /// Viewers now; `None` once the hub ended (replaced by a newer publish of the stream).
    pub fn viewers(&self) -> Option<usize> {
        let state = lock(&self.hub.state);
        (!state.ended).then_some(state.viewers.len())
    }

    fn broadcast(
        &mut self,
        feed: impl FnOnce(&mut FlvStream) -> zhibo_media::Result<Option<Bytes>>,
    ) {
        let mut state = lock(&self.hub.state);
        let tag = match feed(&mut state.stream) {
            Ok(Some(tag)) => tag,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(stream = %self.stream_name, "not sent to HTTP-FLV viewers: {e}");
                return;
            }
        };
        let mut lagging = Vec::new();
        for (&id, viewer) in &state.viewers {
            if !viewer.push_all([tag.clone()]) {
                lagging.push(id);
            }
        }
        for id in lagging {
            state.viewers.remove(&id);
            self.hubs.dropped(&self.stream_name);
        }
    }

    /// The publish ended: every viewer's response ends. With `refusal` (the reason a heartbeat
    /// answer gave for dropping the publisher: pause, ban), viewers get 403 with it for
    /// [`REFUSAL_TTL`].
    pub fn end(mut self, refusal: Option<String>) {
        self.finish(refusal);
    }

    fn finish(&mut self, refusal: Option<String>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        {
            let mut live = lock(&self.hubs.live);
            if live
                .get(&self.stream_name)
                .is_some_and(|h| Arc::ptr_eq(h, &self.hub))
            {
                live.remove(&self.stream_name);
            }
        }
        if let Some(why) = refusal {
            let mut refused = lock(&self.hubs.refused);
            refused.retain(|_, (at, _)| at.elapsed() < REFUSAL_TTL);
            refused.insert(self.stream_name.clone(), (Instant::now(), why));
        }
        self.hubs.end_hub(&self.hub);
    }
}

impl Drop for FlvPublisher {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// One viewer's subscription; dropping it (the response ended or its client left)
/// unsubscribes.
pub struct FlvViewer {
    hubs: Arc<FlvHubs>,
    hub: Arc<Hub>,
    id: u64,
    viewer: Arc<Viewer>,
}

impl FlvViewer {
    /// The next tags to send (everything queued), waiting for some; `None` once the stream
    /// ended (publisher gone) or the viewer was dropped for lagging.
    pub async fn next(&self) -> Option<Vec<Bytes>> {
        loop {
            {
                let mut queue = lock(&self.viewer.queue);
                if queue.buffer.is_lagging() {
                    return None;
                }
                let mut tags = Vec::with_capacity(queue.buffer.len());
                while let Some(tag) = queue.buffer.pop() {
                    tags.push(tag);
                }
                if !tags.is_empty() {
                    return Some(tags);
                }
                if queue.ended {
                    return None;
                }
            }
            // A push between the unlock and here leaves a permit: no wake-up is lost.
            self.viewer.notify.notified().await;
        }
    }

    /// Counts bytes sent to viewers.
    pub fn sent(&self, bytes: usize) {
        self.hubs
            .metrics
            .flv_bytes_out_total
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

impl Drop for FlvViewer {
    fn drop(&mut self) {
        let removed = lock(&self.hub.state).viewers.remove(&self.id).is_some();
        if removed {
            self.hubs
                .metrics
                .flv_viewers
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYFRAME: &[u8] = &[0x17, 0x01, 0, 0, 0, 0xAA];
    const INTER: &[u8] = &[0x27, 0x01, 0, 0, 0, 0xBB];
    const AVC_SEQ: &[u8] = &[0x17, 0x00, 0, 0, 0, 1, 2, 3];

    fn hubs(buffer: usize, max: usize) -> Arc<FlvHubs> {
        Arc::new(FlvHubs::new(Arc::default(), buffer, max))
    }

    async fn drain(v: &FlvViewer) -> Vec<Bytes> {
        tokio::time::timeout(Duration::from_secs(5), v.next())
            .await
            .unwrap()
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn viewer_starts_at_keyframe_then_gets_live_tags_then_ends() {
        let hubs = hubs(1 << 20, 10);
        let mut p = hubs.open("demo_1");
        p.on_video(0, AVC_SEQ);
        p.on_video(0, KEYFRAME);
        p.on_video(33, INTER);
        let v = hubs.subscribe("demo_1").unwrap();
        assert_eq!(hubs.metrics.flv_viewers.load(Ordering::Relaxed), 1);
        let start = drain(&v).await;
        // Header, sequence header, keyframe, inter frame.
        assert_eq!(start.len(), 4);
        assert_eq!(&start[0][..3], b"FLV");
        assert_eq!(start[2][11], 0x17);
        p.on_video(66, INTER);
        let live = drain(&v).await;
        assert_eq!(live.len(), 1);
        p.end(None);
        assert!(v.next().await.is_none());
        assert_eq!(hubs.metrics.flv_viewers.load(Ordering::Relaxed), 0);
        assert_eq!(
            hubs.subscribe("demo_1").err(),
            Some(SubscribeError::NotLive)
        );
    }

    #[tokio::test]
    async fn a_lagging_viewer_is_dropped_and_others_continue() {
        let hubs = hubs(64, 10);
        let mut p = hubs.open("demo_1");
        p.on_video(0, KEYFRAME);
        let slow = hubs.subscribe("demo_1").unwrap();
        let fast = hubs.subscribe("demo_1").unwrap();
        for ts in 1..20 {
            p.on_video(ts, INTER);
            assert!(!drain(&fast).await.is_empty());
        }
        assert!(slow.next().await.is_none());
        assert_eq!(
            hubs.metrics
                .flv_viewers_dropped_total
                .load(Ordering::Relaxed),
            1
        );
        assert_eq!(hubs.metrics.flv_viewers.load(Ordering::Relaxed), 1);
        drop(fast);
        assert_eq!(hubs.metrics.flv_viewers.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn refusal_record_limit_and_replacement() {
        let hubs = hubs(1 << 20, 1);
        let p = hubs.open("demo_1");
        let v = hubs.subscribe("demo_1").unwrap();
        assert_eq!(
            hubs.subscribe("demo_1").err(),
            Some(SubscribeError::Full(1))
        );
        p.end(Some("the room was banned".into()));
        assert!(drain(&v).await.len() == 1 && v.next().await.is_none());
        assert_eq!(
            hubs.subscribe("demo_1").err(),
            Some(SubscribeError::Refused("the room was banned".into()))
        );
        // A new publish clears the record; it replaces (ends) an older hub.
        let old = hubs.open("demo_1");
        let v = hubs.subscribe("demo_1").unwrap();
        let _new = hubs.open("demo_1");
        drain(&v).await;
        assert!(v.next().await.is_none());
        drop(old);
        assert_eq!(hubs.live_streams(), 1);
    }

    #[tokio::test]
    async fn before_media_the_header_names_the_tracks_onmetadata_names() {
        let hubs = hubs(1 << 20, 10);
        let mut p = hubs.open("demo_1");
        let v = hubs.subscribe("demo_1").unwrap();
        assert_eq!(drain(&v).await[0][4], 0x05, "nothing known: both");
        p.on_metadata(&OnMetaData {
            audio_codec_id: Some(10),
            ..OnMetaData::default()
        });
        let v = hubs.subscribe("demo_1").unwrap();
        assert_eq!(drain(&v).await[0][4], 0x04, "audio only, from onMetaData");
        p.on_video(0, KEYFRAME);
        let v = hubs.subscribe("demo_1").unwrap();
        assert_eq!(drain(&v).await[0][4], 0x01, "media seen wins");
    }
}
