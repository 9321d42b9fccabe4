//! Per-stream fan-out of HTTP-FLV viewers.
//!
//! The publishing connection holds an [`FlvPublisher`]: every audio/video/metadata message goes
//! through the stream's [`FlvStream`] (encoded once into a shared [`Bytes`]); once per read of
//! the source the tags go to every viewer as one buffer under the hub's lock, without ever
//! awaiting a viewer: written straight to the viewer's socket when it takes them without
//! blocking and nothing is waiting before them (no task wake-up per viewer: the cost per
//! viewer is one `writev`), else queued in its byte-bounded [`ViewerBuffer`] for its writer
//! task. A viewer subscribes under the same lock, so its start
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
use tokio::net::TcpStream;
use tokio::sync::Notify;
use zhibo_media::flv_out::{file_header, FlvStream, FlvStreamConfig, OnMetaData, ViewerBuffer};

use super::live_file::LiveFile;
use super::socket::{unwritten, write_now};
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
    sendfile: bool,
    stream_config: FlvStreamConfig,
}

impl FlvHubs {
    /// Hubs whose viewers queue at most `viewer_buffer_bytes`, at most `max_viewers` viewers
    /// in all; with `sendfile`, batches reach the viewers through a [`LiveFile`].
    pub fn new(
        metrics: Arc<Metrics>,
        viewer_buffer_bytes: usize,
        max_viewers: usize,
        sendfile: bool,
    ) -> Self {
        let defaults = FlvStreamConfig::default();
        FlvHubs {
            live: Mutex::default(),
            refused: Mutex::default(),
            metrics,
            viewer_buffer_bytes,
            max_viewers,
            sendfile,
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
                pending: Vec::new(),
                pending_bytes: 0,
                metrics: self.metrics.clone(),
                live_file: self.sendfile.then(|| match LiveFile::create() {
                    Ok(file) => Some(file),
                    Err(e) => {
                        tracing::warn!(stream = %stream_name, "no in-memory file for sendfile ({e}): writing to HTTP-FLV viewers with writev");
                        None
                    }
                }).flatten(),
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
        // The new viewer's start includes the pending tags: the others get them first.
        for _ in state.flush_pending() {
            self.dropped(stream_name);
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
                socket: None,
                writing: false,
                closed: false,
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
        if !matches!(viewer.push_all(start, None), Pushed::Lagging) {
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
    /// Tags encoded since the last flush (already in the stream's GOP cache), not yet queued
    /// to the viewers, and their size.
    pending: Vec<Bytes>,
    pending_bytes: usize,
    metrics: Arc<Metrics>,
    /// Where each batch goes once, for `sendfile` to the viewers (`ZHIBO_FLV_SENDFILE`).
    live_file: Option<LiveFile>,
}

/// Pending tags are flushed on their own beyond this many bytes (a publisher whose one read
/// loop takes a flood of messages still reaches its viewers in bounded pieces).
const MAX_PENDING_BYTES: usize = 256 * 1024;

impl HubState {
    /// Queues the pending tags to every viewer as one shared buffer (one refcount and one
    /// wake-up per viewer per batch, not per tag); the ids of the viewers dropped for lagging.
    fn flush_pending(&mut self) -> Vec<u64> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let batch = concat(std::mem::take(&mut self.pending));
        self.pending_bytes = 0;
        // Into the live's file once, for sendfile; without it (off, or the write failed),
        // each viewer gets a writev of the batch.
        let in_file = match (self.live_file.as_mut(), self.viewers.is_empty()) {
            (Some(file), false) => match file.append(&batch) {
                Ok(at) => Some(at),
                Err(e) => {
                    tracing::debug!("batch not in the live's file ({e}): writev");
                    None
                }
            },
            _ => None,
        };
        let from_file = self.live_file.as_ref().zip(in_file);
        let mut lagging = Vec::new();
        let mut written = 0;
        for (&id, viewer) in &self.viewers {
            match viewer.push_all([batch.clone()], from_file) {
                Pushed::Written(n) => written += n,
                Pushed::Queued => {}
                Pushed::Lagging => lagging.push(id),
            }
        }
        for id in &lagging {
            self.viewers.remove(id);
        }
        if written > 0 {
            self.metrics
                .flv_bytes_out_total
                .fetch_add(written as u64, Ordering::Relaxed);
        }
        lagging
    }
}

/// The tags as one buffer (no copy for a single tag).
pub fn concat(mut tags: Vec<Bytes>) -> Bytes {
    if tags.len() == 1 {
        return tags.pop().unwrap_or_default();
    }
    let mut out = bytes::BytesMut::with_capacity(tags.iter().map(Bytes::len).sum());
    for tag in &tags {
        out.extend_from_slice(tag);
    }
    out.freeze()
}

struct Viewer {
    queue: Mutex<ViewerQueue>,
    notify: Notify,
}

struct ViewerQueue {
    buffer: ViewerBuffer,
    ended: bool,
    /// The viewer's socket once its writer attached it ([`FlvViewer::attach`]).
    socket: Option<Arc<TcpStream>>,
    /// The writer task holds popped tags it has not finished writing: new tags queue behind
    /// them rather than being written straight away (which would reorder the stream).
    writing: bool,
    /// A write to the socket failed (the client left): the writer ends the response.
    closed: bool,
}

/// What [`Viewer::push_all`] did with the tags.
enum Pushed {
    /// Written to the viewer's socket straight away: this many bytes, no wake-up.
    Written(usize),
    /// Queued for the viewer's writer (woken).
    Queued,
    /// The queue is over its limit: the viewer is dropped.
    Lagging,
}

impl Viewer {
    /// Queues tags, or writes them to the viewer's socket at once when nothing is queued or
    /// being written and the socket takes them without blocking (one `writev`, no task
    /// wake-up: what most viewers get for every batch).
    ///
    /// `from_file`: `tags` is one batch, also in that file at that offset: the direct write is
    /// a `sendfile` from it.
    fn push_all(
        &self,
        tags: impl IntoIterator<Item = Bytes>,
        from_file: Option<(&LiveFile, u64)>,
    ) -> Pushed {
        let mut queue = lock(&self.queue);
        let q = &mut *queue;
        let mut tags: Vec<Bytes> = tags.into_iter().collect();
        let mut written = 0;
        if let (Some(socket), false, false, true, false) =
            (&q.socket, q.writing, q.closed, q.buffer.is_empty(), q.ended)
        {
            let sent = match (from_file, tags.as_slice()) {
                (Some((file, at)), [batch]) => file.send_now(socket, at, batch.len()),
                _ => write_now(socket, &tags),
            };
            match sent {
                Ok(n) => {
                    written = n;
                    tags = unwritten(tags, n);
                    if tags.is_empty() {
                        return Pushed::Written(n);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    q.closed = true;
                    drop(queue);
                    self.notify.notify_one();
                    return Pushed::Queued;
                }
            }
        }
        let pushed = q.buffer.push_all(tags).is_ok();
        drop(queue);
        self.notify.notify_one();
        match (pushed, written) {
            (false, _) => Pushed::Lagging,
            (true, 0) => Pushed::Queued,
            // Part went out now; the rest is queued (and counted when the writer sends it).
            (true, n) => Pushed::Written(n),
        }
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
        state.pending_bytes += tag.len();
        state.pending.push(tag);
        if state.pending_bytes >= MAX_PENDING_BYTES {
            for _ in state.flush_pending() {
                self.hubs.dropped(&self.stream_name);
            }
        }
    }

    /// Queues the tags since the last flush to the viewers; called once per read of the
    /// source (every message of one read goes out in one piece).
    pub fn flush(&mut self) {
        let lagging = lock(&self.hub.state).flush_pending();
        for _ in lagging {
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
        self.flush();
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
    /// Gives the viewer its socket (its response head written): from then on, batches are
    /// written to it straight from the publisher whenever nothing is queued or being written.
    pub fn attach(&self, socket: Arc<TcpStream>) {
        lock(&self.viewer.queue).socket = Some(socket);
    }

    /// The next tags to send (everything queued), waiting for some; `None` once the stream
    /// ended (publisher gone), the viewer was dropped for lagging or a write to its socket
    /// failed. The caller writes them before asking again: until then new tags queue behind
    /// them.
    pub async fn next(&self) -> Option<Vec<Bytes>> {
        loop {
            {
                let mut queue = lock(&self.viewer.queue);
                if queue.buffer.is_lagging() || queue.closed {
                    return None;
                }
                let mut tags = Vec::with_capacity(queue.buffer.len());
                while let Some(tag) = queue.buffer.pop() {
                    tags.push(tag);
                }
                queue.writing = !tags.is_empty();
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
        Arc::new(FlvHubs::new(Arc::default(), buffer, max, true))
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
        p.flush();
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
            p.flush();
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

    #[tokio::test]
    async fn one_read_reaches_viewers_as_one_buffer_and_a_joiner_gets_no_tag_twice() {
        let hubs = hubs(1 << 20, 10);
        let mut p = hubs.open("demo_1");
        p.on_video(0, KEYFRAME);
        let early = hubs.subscribe("demo_1").unwrap();
        drain(&early).await;
        // One read: two tags, then a viewer joins before the flush, then a third tag.
        p.on_video(33, INTER);
        p.on_video(66, INTER);
        let late = hubs.subscribe("demo_1").unwrap();
        p.on_video(99, INTER);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), late.next())
                .await
                .is_ok(),
            "the joiner's start is queued at once"
        );
        p.flush();
        let tag = INTER.len() + 15;
        let got: Vec<usize> = drain(&early).await.iter().map(Bytes::len).collect();
        assert_eq!(
            got,
            [2 * tag, tag],
            "the joiner's flush, then this read's rest"
        );
        // The joiner: header + keyframe + the two pending tags, then only the third.
        let got: Vec<usize> = drain(&late).await.iter().map(Bytes::len).collect();
        assert_eq!(got, [tag]);
        p.flush();
        p.on_video(132, INTER);
        p.on_audio(132, &[0xAF, 0x01, 1, 2]);
        p.flush();
        assert_eq!(drain(&early).await.len(), 1, "a read's tags in one buffer");
    }

    /// A viewer whose socket is attached gets each batch from the live's file (sendfile),
    /// byte for byte what the queue path gives; with sendfile off, the same bytes by writev.
    #[tokio::test]
    async fn attached_viewers_get_batches_by_sendfile_or_writev_alike() {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        for sendfile in [true, false] {
            let hubs = Arc::new(FlvHubs::new(Arc::default(), 1 << 20, 10, sendfile));
            let mut p = hubs.open("demo_1");
            p.on_video(0, KEYFRAME);
            let v = hubs.subscribe("demo_1").unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = tokio::spawn(async move {
                let mut c = TcpStream::connect(addr).await.unwrap();
                let mut bytes = Vec::new();
                c.read_to_end(&mut bytes).await.unwrap();
                bytes
            });
            let (server, _) = listener.accept().await.unwrap();
            let server = Arc::new(server);
            let start = concat(drain(&v).await);
            v.attach(server.clone());
            // As the socket's writer does once it wrote the start: ask for more (none yet).
            assert!(tokio::time::timeout(Duration::from_millis(20), v.next())
                .await
                .is_err());
            for i in 1..=50u32 {
                p.on_video(i * 33, INTER);
                p.on_video(i * 33 + 1, INTER);
                p.flush();
            }
            let in_file = lock(&p.hub.state).live_file.as_ref().map(|f| f.bytes());
            assert_eq!(in_file.is_some_and(|n| n > 0), sendfile, "{in_file:?}");
            assert!(
                tokio::time::timeout(Duration::from_millis(50), v.next())
                    .await
                    .is_err(),
                "nothing queued: every batch was written straight away"
            );
            drop(p);
            assert!(drain(&v).await.is_empty(), "ended");
            drop(v);
            drop(server);
            let mut bytes = start.to_vec();
            bytes.extend(client.await.unwrap());
            got.push(bytes);
        }
        assert_eq!(got[0], got[1]);
        assert_eq!(
            got[0].len(),
            13 + (KEYFRAME.len() + 15) + 100 * (INTER.len() + 15)
        );
    }
}
