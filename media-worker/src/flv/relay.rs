//! The HTTP-FLV edge relay (docs/api.md "HTTP-FLV playback (media workers)"): a viewer asks
//! this worker for a live another worker holds. The room service says which one
//! (`POST /internal/hooks/locate`, its hooks' `origin`); this worker opens **one** pull of the
//! live from it and feeds it into a local hub, so every local viewer of that live shares the
//! pull, with the same keyframe start, bounded queues and slow-viewer drops as a local publish.
//! The pull ends when the live ends upstream (its viewers' responses end), when no viewer is
//! left for [`LINGER`], or when a publish of the same live starts here.
//!
//! A pull carries [`RELAY_HEADER`]: a worker serves such a request only from a local publisher,
//! never by relaying again, so relays cannot loop.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use zhibo_core::hooks::check_origin;
use zhibo_core::room::parse_stream_name;
use zhibo_core::signing::{UrlPurpose, UrlSignature};
use zhibo_media::flv_in::FlvTagReader;

use super::hub::{FlvHubs, FlvPublisher};
use crate::hooks::{now_ms, HookClient};
use crate::metrics::Metrics;

/// Header marking a request as another worker's relay pull.
pub const RELAY_HEADER: &str = "x-zhibo-relay";
/// How long a pull with no viewer left goes on (a viewer that reconnects finds it).
pub const LINGER: Duration = Duration::from_secs(10);
/// Connecting to the origin and getting its answer's headers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An origin that sends nothing this long is given up (a live sends several tags a second).
const READ_STALL: Duration = Duration::from_secs(15);
/// How often a pull checks for viewers while it waits for data.
const TICK: Duration = Duration::from_secs(1);
/// Validity of the play URL a pull signs for itself.
const PULL_URL_TTL_S: i64 = 300;
/// Largest tag body accepted from an origin (a keyframe of a 4K stream is well under).
const MAX_TAG_BODY: usize = 8 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a relay cannot serve a viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayRefusal {
    /// Not live anywhere (or on no worker that relays): 404 with the reason.
    NotLive(String),
    /// Banned or paused: 403 with the reason.
    Refused(String),
    /// The room service or the origin could not be asked: 503 with the reason.
    Unavailable(String),
}

/// This worker's relay pulls.
pub struct Relays {
    hubs: Arc<FlvHubs>,
    hooks: HookClient,
    play_key: String,
    http: reqwest::Client,
    /// One start at a time per live: the second viewer waits for the first one's pull.
    starting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    metrics: Arc<Metrics>,
}

impl Relays {
    /// Relays into `hubs`, locating lives through `hooks`, signing pulls with `play_key`.
    pub fn new(
        hubs: Arc<FlvHubs>,
        hooks: HookClient,
        play_key: String,
        metrics: Arc<Metrics>,
    ) -> Result<Relays, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Relays {
            hubs,
            hooks,
            play_key,
            http,
            starting: Mutex::default(),
            metrics,
        })
    }

    /// Makes sure `stream_name` has a hub here: already (a publisher or a pull), or by
    /// starting a pull from the worker that holds it.
    pub async fn open(self: &Arc<Self>, stream_name: &str) -> Result<(), RelayRefusal> {
        let gate = lock(&self.starting)
            .entry(stream_name.to_string())
            .or_default()
            .clone();
        let result = {
            let _started = gate.lock().await;
            self.open_one(stream_name).await
        };
        let mut starting = lock(&self.starting);
        // This call's and the map's handles only: nobody else waits on it.
        if starting
            .get(stream_name)
            .is_some_and(|g| Arc::strong_count(g) <= 2)
        {
            starting.remove(stream_name);
        }
        if result.is_err() {
            Metrics::inc(&self.metrics.flv_relay_errors_total);
        }
        result
    }

    async fn open_one(self: &Arc<Self>, stream_name: &str) -> Result<(), RelayRefusal> {
        if self.hubs.is_live(stream_name) {
            return Ok(());
        }
        let Some((app_id, room_id)) = parse_stream_name(stream_name) else {
            return Err(RelayRefusal::NotLive(format!(
                "{stream_name} is not a stream name"
            )));
        };
        let (status, answer) = self.hooks.locate(stream_name).await.map_err(|e| {
            RelayRefusal::Unavailable(format!(
                "cannot ask the room service where {stream_name} is live: {e}; try again shortly"
            ))
        })?;
        let reason = answer.reason.unwrap_or_default();
        let origin = match (status, answer.origin) {
            (403, _) => return Err(RelayRefusal::Refused(reason)),
            (200, Some(origin)) if answer.live => origin,
            _ => return Err(RelayRefusal::NotLive(reason)),
        };
        check_origin(&origin).map_err(RelayRefusal::Unavailable)?;
        let sig = UrlSignature::sign_room(
            &self.play_key,
            UrlPurpose::Play,
            app_id,
            room_id,
            now_ms() / 1000 + PULL_URL_TTL_S,
        );
        let url = format!("{origin}/live/{stream_name}.flv?{}", sig.query());
        let response = tokio::time::timeout(
            CONNECT_TIMEOUT,
            self.http.get(&url).header(RELAY_HEADER, "1").send(),
        )
        .await
        .map_err(|_| format!("no answer within {CONNECT_TIMEOUT:?}"))
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| {
            RelayRefusal::Unavailable(format!(
                "the worker holding {stream_name} ({origin}) cannot be reached: {e}"
            ))
        })?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(RelayRefusal::NotLive(format!(
                "the worker that held {stream_name} ({origin}) no longer serves it (HTTP {})",
                response.status().as_u16()
            )));
        }
        let publisher = self.hubs.open(stream_name);
        Metrics::inc(&self.metrics.flv_relay_pulls_total);
        self.metrics
            .flv_relay_active
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = stream_name, %origin, "HTTP-FLV relay pull started");
        let this = self.clone();
        let name = stream_name.to_string();
        tokio::spawn(async move {
            let why = pump(response, publisher).await;
            this.metrics
                .flv_relay_active
                .fetch_sub(1, Ordering::Relaxed);
            match why {
                Ok(why) => tracing::info!(stream = %name, "HTTP-FLV relay pull ended: {why}"),
                Err(why) => {
                    Metrics::inc(&this.metrics.flv_relay_errors_total);
                    tracing::warn!(stream = %name, "HTTP-FLV relay pull failed: {why}");
                }
            }
        });
        Ok(())
    }
}

/// Feeds the origin's tags into the hub until the live ends upstream, no viewer is left for
/// [`LINGER`], the hub is replaced, or the origin fails. Dropping `publisher` ends the hub's
/// viewers.
async fn pump(
    mut response: reqwest::Response,
    mut publisher: FlvPublisher,
) -> Result<&'static str, String> {
    let mut reader = FlvTagReader::new(MAX_TAG_BODY);
    let mut alone_since: Option<Instant> = None;
    let mut quiet = Duration::ZERO;
    let mut announced = false;
    loop {
        match publisher.viewers() {
            None => return Ok("a publish of this live started on this worker"),
            Some(0) => {
                let since = *alone_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= LINGER {
                    return Ok("no viewer left");
                }
            }
            Some(_) => alone_since = None,
        }
        let chunk = match tokio::time::timeout(TICK, response.chunk()).await {
            Err(_) => {
                quiet += TICK;
                if quiet >= READ_STALL {
                    return Err(format!("the origin sent nothing for {READ_STALL:?}"));
                }
                continue;
            }
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return Ok("the live ended on the origin"),
            Ok(Err(e)) => return Err(format!("reading from the origin: {e}")),
        };
        quiet = Duration::ZERO;
        reader.push(&chunk);
        loop {
            let tag = match reader.next_tag() {
                Ok(Some(tag)) => tag,
                Ok(None) => break,
                Err(e) => return Err(format!("the origin's stream: {e}")),
            };
            if !announced {
                if let Some(flags) = reader.header_flags() {
                    publisher.announce(flags & 0x04 != 0, flags & 0x01 != 0);
                    announced = true;
                }
            }
            match tag.tag_type {
                8 => publisher.on_audio(tag.timestamp, &tag.body),
                9 => publisher.on_video(tag.timestamp, &tag.body),
                18 => publisher.on_script(&tag.body),
                _ => {}
            }
        }
        publisher.flush();
    }
}
