//! The replay indexer: when a replay playlist lands in the media bucket
//! (`replays/{app_id}/{room_id}/{replay_id}.m3u8`, written by the worker after the reconnect
//! window closed), it records the replay and announces it with `replay.ready`.
//!
//! Trigger: S3 ObjectCreated on `replays/*.m3u8` (an [`S3Event`], several records per event;
//! fixtures `events/replay-indexer-*.json`). On the local stack, crate `zhibo-local` turns
//! SeaweedFS's own metadata events into the same S3Event JSON and hands it to the same
//! [`Indexer::handle`].
//!
//! Layers:
//! - **Pure core**: [`inspect_playlist`] checks a playlist (strict parse, `EXT-X-ENDLIST`, at
//!   least one segment) and sums it up; [`replay_record`] turns that, the object's metadata and
//!   the time into the [`Replay`] to store.
//! - **Shell**: [`Indexer`] reads the object (GetObject, bounded), records the replay with its
//!   outbox event in one DynamoDB transaction ([`ReplayStore::record_replay`]), then puts the
//!   event on EventBridge and notes that it did. Redelivered S3 events change nothing and
//!   announce nothing twice; an EventBridge put that failed is retried by the redelivery.

use aws_lambda_events::s3::{S3Event, S3EventRecord};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use zhibo_core::playback::Playback;
use zhibo_core::replay::{is_valid_replay_id, metadata, Replay};
use zhibo_core::room::RoomId;
use zhibo_core::takedown::Scope;
use zhibo_core::webhook::{EventType, WebhookEvent};
use zhibo_core::LiveStatus;
use zhibo_core::{object_keys, Config};
use zhibo_media::hls::{parse_media_playlist, PlaylistType};
use zhibo_store::MediaTakedown;
use zhibo_store::{LifecycleStore, RecordedReplay, ReplayStore, RoomStore, StoreError, Table};

/// Largest replay playlist read.
pub const MAX_PLAYLIST_BYTES: u64 = zhibo_core::replay::MAX_PLAYLIST_BYTES;
/// EventBridge `Source` of zhibo's events.
pub const EVENT_SOURCE: &str = "zhibo";
/// EventBridge `DetailType` of a replay being ready (the `detail` is the webhook event body).
pub const DETAIL_TYPE_REPLAY_READY: &str = "replay.ready";
/// Time budget of a takedown the indexer runs (the sweeper finishes what remains).
const TAKEDOWN_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
/// Segment keys listed per request when a playlist carries no size metadata.
const LIST_PAGE: i32 = 1000;

/// What a replay playlist says about the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistFacts {
    /// Sum of the `EXTINF` durations, seconds.
    pub duration_s: f64,
    /// Number of segments.
    pub segments: u64,
    /// `EXT-X-DISCONTINUITY` tags.
    pub discontinuities: u64,
    /// `EXT-X-PROGRAM-DATE-TIME` of the first segment, unix milliseconds.
    pub first_program_date_time_ms: Option<i64>,
    /// The bucket keys of the segments, resolved against the playlist's key, in order.
    pub segment_keys: Vec<String>,
}

/// Why a replay playlist is not indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The key is not `replays/{app_id}/{room_id}/{replay_id}.m3u8`.
    #[error(
        "{0:?} is not a replay playlist key (replays/{{app_id}}/{{room_id}}/{{replay_id}}.m3u8)"
    )]
    NotAReplayKey(String),
    /// The object is gone (deleted before the event was handled).
    #[error("object {0:?} does not exist")]
    Missing(String),
    /// Over [`MAX_PLAYLIST_BYTES`].
    #[error("playlist is {0} bytes, more than the {MAX_PLAYLIST_BYTES} a replay can have")]
    TooLarge(u64),
    /// Not a complete VOD playlist.
    #[error("malformed playlist: {0}")]
    Malformed(String),
    /// The room was deleted: there is nothing to attach the replay to.
    #[error("room {0} does not exist")]
    RoomMissing(RoomId),
    /// The room has `close_replay` set: the replay was removed from the bucket.
    #[error("room {0} has close_replay set: its replays are not offered (removed)")]
    ReplayClosed(RoomId),
    /// The room is banned: its media was removed from the bucket.
    #[error("room {0} is banned (104): its media is taken down (removed)")]
    RoomBanned(RoomId),
}

/// Checks a replay playlist and sums it up. `key` is its bucket key (segment URIs are
/// resolved against it); every segment must be media of the key's own room
/// ([`object_keys::is_room_media`]): a playlist cannot name another room's or app's objects.
pub fn inspect_playlist(key: &str, body: &[u8]) -> Result<PlaylistFacts, Rejected> {
    let (app_id, room_id, _) = object_keys::parse_replay_playlist(key)
        .ok_or_else(|| Rejected::NotAReplayKey(key.to_string()))?;
    let text = std::str::from_utf8(body)
        .map_err(|e| Rejected::Malformed(format!("not UTF-8 text ({e})")))?;
    let playlist = parse_media_playlist(text).map_err(|e| Rejected::Malformed(e.to_string()))?;
    if !playlist.ended {
        return Err(Rejected::Malformed(
            "no #EXT-X-ENDLIST: a replay playlist must be complete".into(),
        ));
    }
    if playlist.playlist_type == Some(PlaylistType::Event) {
        return Err(Rejected::Malformed(
            "#EXT-X-PLAYLIST-TYPE:EVENT: a replay playlist is VOD".into(),
        ));
    }
    if playlist.segments.is_empty() {
        return Err(Rejected::Malformed("no segments".into()));
    }
    let segment_keys = playlist
        .segments
        .iter()
        .map(|s| {
            let k = object_keys::resolve_uri(key, &s.uri).ok_or_else(|| {
                Rejected::Malformed(format!(
                    "segment URI {:?} does not name an object of this bucket",
                    s.uri
                ))
            })?;
            if !object_keys::is_room_media(app_id, room_id, &k) {
                return Err(Rejected::Malformed(format!(
                    "segment URI {:?} names {k:?}, outside this room's media ({})",
                    s.uri,
                    object_keys::live_room_prefix(app_id, room_id)
                )));
            }
            Ok(k)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let duration_ms: u64 = playlist
        .segments
        .iter()
        .map(|s| (s.duration * 1000.0).round() as u64)
        .sum();
    Ok(PlaylistFacts {
        duration_s: duration_ms as f64 / 1000.0,
        segments: playlist.segments.len() as u64,
        discontinuities: playlist.segments.iter().filter(|s| s.discontinuity).count() as u64,
        first_program_date_time_ms: playlist
            .segments
            .first()
            .and_then(|s| s.program_date_time_ms),
        segment_keys,
    })
}

/// The replay to record for playlist `key` of app `app_id`, room `room_id`: sizes and times
/// from the worker's metadata (`size_bytes` when given by the caller otherwise), else the
/// first `EXT-X-PROGRAM-DATE-TIME`, else the object's time minus the duration.
#[allow(clippy::too_many_arguments)]
pub fn replay_record(
    (app_id, room_id, replay_id): (&str, RoomId, &str),
    key: &str,
    facts: &PlaylistFacts,
    meta: &HashMap<String, String>,
    size_bytes: u64,
    object_time_ms: i64,
    ttl_days: i64,
    now_ms: i64,
) -> Replay {
    let meta_i64 = |k: &str| meta.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    let duration_ms = (facts.duration_s * 1000.0) as i64;
    let start_ms = meta_i64(metadata::START_MS)
        .or(facts.first_program_date_time_ms)
        .unwrap_or(object_time_ms - duration_ms);
    let end_ms = meta_i64(metadata::END_MS)
        .filter(|e| *e >= start_ms)
        .unwrap_or(start_ms + duration_ms);
    let create_time = start_ms.div_euclid(1000);
    Replay {
        app_id: app_id.to_string(),
        room_id,
        replay_id: replay_id.to_string(),
        playlist_key: key.to_string(),
        create_time,
        end_time: end_ms.div_euclid(1000),
        expire_time: create_time.saturating_add(ttl_days.saturating_mul(86_400)),
        duration_s: facts.duration_s,
        segments: facts.segments,
        size_bytes,
        discontinuities: facts.discontinuities,
        indexed_at_ms: now_ms,
        event_id: WebhookEvent::new_id(now_ms),
    }
}

/// Decodes an S3 event's object key (URL-encoded, `+` for spaces).
pub fn decode_event_key(raw: &str) -> Option<String> {
    let plus = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

/// What happened to one record of an S3 event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum RecordOutcome {
    /// Recorded now; `replay.ready` enqueued (and sent to EventBridge when configured).
    Indexed {
        /// The object key.
        key: String,
        /// The replay.
        replay_id: String,
        /// The `replay.ready` event id.
        event_id: String,
    },
    /// Recorded before (a redelivery): nothing new (an EventBridge put still owed was sent).
    Duplicate {
        /// The object key.
        key: String,
        /// The replay.
        replay_id: String,
    },
    /// Not indexed, and retrying cannot help.
    Rejected {
        /// The object key (as decoded, or raw when it could not be).
        key: String,
        /// Why.
        reason: String,
    },
    /// Not an ObjectCreated record or not a replay playlist: ignored.
    Ignored {
        /// The object key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A dependency failed; the event should be delivered again.
    Failed {
        /// The object key.
        key: String,
        /// What failed.
        error: String,
    },
}

/// The outcome of every record of one S3 event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexReport {
    /// One per record, in order.
    pub records: Vec<RecordOutcome>,
}

impl IndexReport {
    /// Whether a record failed in a way a redelivery may fix.
    pub fn has_failures(&self) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r, RecordOutcome::Failed { .. }))
    }
}

/// Where `replay.ready` goes besides the webhook outbox.
#[derive(Debug, Clone)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBus {
    /// The bus `EVENT_BUS_NAME` names (none when unset), through `ZHIBO_EVENTBRIDGE_ENDPOINT`
    /// when set.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Option<EventBus> {
        let bus = config.event_bus.clone()?;
        let mut b = aws_sdk_eventbridge::config::Builder::from(sdk);
        if let Some(ep) = &config.eventbridge_endpoint {
            b = b.endpoint_url(ep);
        }
        Some(EventBus {
            client: aws_sdk_eventbridge::Client::from_conf(b.build()),
            bus,
        })
    }

    /// Puts `event` on the bus: source [`EVENT_SOURCE`], detail-type its type, detail its
    /// webhook body, resources the playlist object's ARN.
    pub async fn put(&self, event: &WebhookEvent, resource: &str) -> Result<(), String> {
        let detail = serde_json::to_string(event).map_err(|e| e.to_string())?;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(EVENT_SOURCE)
            .detail_type(event.kind.as_str())
            .detail(detail)
            .event_bus_name(&self.bus)
            .resources(resource)
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                event.created_at,
            ))
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "EventBridge PutEvents: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                )
            })?;
        if out.failed_entry_count() > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(format!("EventBridge refused the event: {why}"));
        }
        Ok(())
    }
}

/// The indexer: the stores, the media bucket and the event bus.
#[derive(Debug, Clone)]
pub struct Indexer {
    rooms: RoomStore,
    lifecycle: LifecycleStore,
    replays: ReplayStore,
    s3: aws_sdk_s3::Client,
    events: Option<EventBus>,
    config: Arc<Config>,
    takedown: MediaTakedown,
}

impl Indexer {
    /// An indexer over `table`, reading objects with `s3`, sending to `events` if any.
    pub fn new(
        table: Table,
        s3: aws_sdk_s3::Client,
        events: Option<EventBus>,
        config: Arc<Config>,
    ) -> Indexer {
        let takedown = MediaTakedown::new(s3.clone(), &config.media_bucket, None);
        Indexer {
            rooms: RoomStore::new(table.clone()),
            lifecycle: LifecycleStore::new(table.clone()),
            replays: ReplayStore::new(table),
            s3,
            events,
            config,
            takedown,
        }
    }

    /// Invalidates `cdn` when the indexer removes replays (the deployed indexer; tests have no
    /// CDN).
    pub fn with_cdn(mut self, cdn: Option<zhibo_store::cdn::Invalidator>) -> Indexer {
        self.takedown = MediaTakedown::new(self.s3.clone(), &self.config.media_bucket, cdn);
        self
    }

    /// Refuses a replay of a banned or `close_replay` room, and takes the room's media (or
    /// replays) down: the replay a worker writes after a ban or with `close_replay` is never
    /// served.
    async fn refuse_taken_down(&self, app_id: &str, room_id: RoomId) -> Result<(), IndexError> {
        let room = self
            .rooms
            .get_room(app_id, room_id)
            .await
            .map_err(|e| IndexError::failed(format!("reading room {room_id}"), e))?;
        let (scope, rejected) = match room {
            Some(r) if r.live_status == LiveStatus::Banned => {
                (Scope::Room, Rejected::RoomBanned(room_id))
            }
            Some(r) if r.close_replay => (Scope::Replays, Rejected::ReplayClosed(room_id)),
            _ => return Ok(()),
        };
        self.take_down(app_id, room_id, scope).await?;
        Err(rejected.into())
    }

    async fn take_down(
        &self,
        app_id: &str,
        room_id: RoomId,
        scope: Scope,
    ) -> Result<(), IndexError> {
        self.takedown
            .request(
                &self.lifecycle,
                &self.config.timers,
                app_id,
                room_id,
                scope,
                zhibo_core::clock::now_ms(),
                TAKEDOWN_BUDGET,
            )
            .await
            .map(|_| ())
            .map_err(|e| IndexError::failed("taking the media down", e))
    }

    /// Built from configuration: DynamoDB, S3 and EventBridge clients with their local
    /// endpoint overrides.
    pub fn from_config(config: Config, sdk: &aws_config::SdkConfig) -> Indexer {
        let table = Table::new(
            zhibo_store::aws::dynamo_client(sdk, &config),
            config.table.clone(),
        );
        let s3 = zhibo_store::aws::s3_client(sdk, config.s3_endpoint.as_deref());
        let events = EventBus::from_config(sdk, &config);
        if events.is_none() {
            tracing::info!("EVENT_BUS_NAME is not set: replay.ready goes to webhooks only");
        }
        let cdn = config.cdn_distribution_id.as_ref().map(|id| {
            zhibo_store::cdn::Invalidator::new(sdk, id, config.cloudfront_endpoint.as_deref())
        });
        Indexer::new(table, s3, events, Arc::new(config)).with_cdn(cdn)
    }

    /// Handles every record of `event` (records are independent: one failing does not stop
    /// the others).
    pub async fn handle(&self, event: &S3Event) -> IndexReport {
        let mut report = IndexReport::default();
        for record in &event.records {
            let outcome = self.handle_record(record).await;
            match &outcome {
                RecordOutcome::Indexed { key, event_id, .. } => {
                    tracing::info!(key, event_id, "replay indexed")
                }
                RecordOutcome::Duplicate { key, .. } => {
                    tracing::info!(key, "replay already indexed (redelivered event)")
                }
                RecordOutcome::Rejected { key, reason } => {
                    tracing::warn!(key, reason, "replay playlist not indexed")
                }
                RecordOutcome::Ignored { key, reason } => tracing::debug!(key, reason, "ignored"),
                RecordOutcome::Failed { key, error } => {
                    tracing::error!(key, error, "indexing failed; the event should be retried")
                }
            }
            report.records.push(outcome);
        }
        report
    }

    async fn handle_record(&self, record: &S3EventRecord) -> RecordOutcome {
        let raw_key = record.s3.object.key.clone().unwrap_or_default();
        let Some(key) = decode_event_key(&raw_key) else {
            return RecordOutcome::Rejected {
                key: raw_key,
                reason: "the object key is not valid URL-encoded UTF-8".into(),
            };
        };
        let name = record.event_name.as_deref().unwrap_or_default();
        if !key.ends_with(".m3u8") {
            return RecordOutcome::Ignored {
                key,
                reason: "not a playlist (the notification filter is replays/*.m3u8)".into(),
            };
        }
        if !name.starts_with("ObjectCreated:") {
            return RecordOutcome::Ignored {
                key,
                reason: format!("event {name:?} is not ObjectCreated"),
            };
        }
        let Some(bucket) = record.s3.bucket.name.clone().filter(|b| !b.is_empty()) else {
            return RecordOutcome::Rejected {
                key,
                reason: "the record names no bucket".into(),
            };
        };
        match self
            .index(&bucket, &key, record.event_time.timestamp_millis())
            .await
        {
            Ok(outcome) => outcome,
            Err(IndexError::Rejected(r)) => RecordOutcome::Rejected {
                key,
                reason: r.to_string(),
            },
            Err(e @ IndexError::Failed { .. }) => RecordOutcome::Failed {
                key,
                error: e.to_string(),
            },
        }
    }

    async fn index(
        &self,
        bucket: &str,
        key: &str,
        object_time_ms: i64,
    ) -> Result<RecordOutcome, IndexError> {
        let (app_id, room_id, replay_id) = object_keys::parse_replay_playlist(key)
            .filter(|(_, _, id)| is_valid_replay_id(id))
            .ok_or_else(|| Rejected::NotAReplayKey(key.to_string()))?;
        self.refuse_taken_down(app_id, room_id).await?;
        let (body, meta) = self.read_playlist(bucket, key).await?;
        let facts = inspect_playlist(key, &body)?;
        let size_bytes = match meta
            .get(metadata::SIZE_BYTES)
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(n) => n,
            None => self.segment_bytes(bucket, &facts.segment_keys).await?,
        };
        let now_ms = zhibo_core::clock::now_ms();
        let replay = replay_record(
            (app_id, room_id, replay_id),
            key,
            &facts,
            &meta,
            size_bytes,
            object_time_ms,
            self.config.replay_ttl_days,
            now_ms,
        );
        let media_url = match &self.config.playback {
            p @ Playback::Public { .. } => Some(p.replay(app_id, room_id, replay_id, 0).url),
            Playback::Signed { .. } => None,
        };
        let data = replay.ready_event_data(media_url.as_deref());
        let recorded = self
            .replays
            .record_replay(
                &replay,
                |seq| WebhookEvent {
                    id: replay.event_id.clone(),
                    kind: EventType::ReplayReady,
                    created_at: now_ms.div_euclid(1000),
                    app_id: app_id.to_string(),
                    room_id,
                    seq,
                    data: data.clone(),
                },
                now_ms,
            )
            .await
            .map_err(|e| match e {
                StoreError::Internal(e) => IndexError::failed("recording the replay", e),
                other => IndexError::failed("recording the replay", other),
            })?;
        let resource = format!("arn:aws:s3:::{bucket}/{key}");
        match recorded {
            RecordedReplay::RoomMissing => Err(Rejected::RoomMissing(room_id).into()),
            RecordedReplay::ReplayClosed => {
                // close_replay was set since the check above.
                self.take_down(app_id, room_id, Scope::Replays).await?;
                Err(Rejected::ReplayClosed(room_id).into())
            }
            RecordedReplay::Recorded(event) => {
                self.publish(&replay, &event, &resource).await?;
                Ok(RecordOutcome::Indexed {
                    key: key.to_string(),
                    replay_id: replay.replay_id.clone(),
                    event_id: event.id,
                })
            }
            RecordedReplay::AlreadyRecorded {
                replay,
                event,
                eventbridge_pending,
            } => {
                if let (true, Some(event)) = (eventbridge_pending, event) {
                    self.publish(&replay, &event, &resource).await?;
                }
                Ok(RecordOutcome::Duplicate {
                    key: key.to_string(),
                    replay_id: replay.replay_id,
                })
            }
        }
    }

    /// Sends the event to EventBridge (when configured) and notes it was sent.
    async fn publish(
        &self,
        replay: &Replay,
        event: &WebhookEvent,
        resource: &str,
    ) -> Result<(), IndexError> {
        let Some(bus) = &self.events else {
            return Ok(());
        };
        bus.put(event, resource)
            .await
            .map_err(|e| IndexError::failed("publishing on EventBridge", e))?;
        self.replays
            .mark_replay_published(replay)
            .await
            .map_err(|e| IndexError::failed("noting the EventBridge publication", e))
    }

    async fn read_playlist(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(Vec<u8>, HashMap<String, String>), IndexError> {
        let out = match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) => {
                if e.as_service_error().is_some_and(|se| se.is_no_such_key()) {
                    return Err(Rejected::Missing(key.to_string()).into());
                }
                return Err(IndexError::failed(format!("S3 GetObject {key}"), e));
            }
        };
        let len = out.content_length().unwrap_or(0).max(0) as u64;
        if len > MAX_PLAYLIST_BYTES {
            return Err(Rejected::TooLarge(len).into());
        }
        let meta = out.metadata().cloned().unwrap_or_default();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| IndexError::failed(format!("reading {key}"), e))?
            .into_bytes();
        if body.len() as u64 > MAX_PLAYLIST_BYTES {
            return Err(Rejected::TooLarge(body.len() as u64).into());
        }
        Ok((body.to_vec(), meta))
    }

    /// The summed size of `segment_keys`, by listing their folders (for playlists without
    /// the worker's size metadata). Every segment must exist.
    async fn segment_bytes(
        &self,
        bucket: &str,
        segment_keys: &[String],
    ) -> Result<u64, IndexError> {
        let mut wanted: HashMap<&str, Option<u64>> =
            segment_keys.iter().map(|k| (k.as_str(), None)).collect();
        let mut folders: Vec<&str> = segment_keys
            .iter()
            .map(|k| k.rsplit_once('/').map_or("", |(dir, _)| dir))
            .collect();
        folders.dedup();
        folders.sort_unstable();
        folders.dedup();
        for folder in folders {
            let mut pages = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(format!("{folder}/"))
                .max_keys(LIST_PAGE)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| IndexError::failed(format!("S3 ListObjectsV2 {folder}/"), e))?;
                for obj in page.contents() {
                    if let Some(slot) = obj.key().and_then(|k| wanted.get_mut(k)) {
                        *slot = Some(obj.size().unwrap_or(0).max(0) as u64);
                    }
                }
            }
        }
        let missing: Vec<&str> = segment_keys
            .iter()
            .filter(|k| wanted.get(k.as_str()).is_some_and(|v| v.is_none()))
            .map(String::as_str)
            .collect();
        if let Some(first) = missing.first() {
            return Err(Rejected::Malformed(format!(
                "{} of its segments are not in the bucket (first: {first})",
                missing.len()
            ))
            .into());
        }
        Ok(wanted.values().map(|v| v.unwrap_or(0)).sum())
    }
}

/// Why indexing one record stopped: the playlist is refused for good, or a call failed (S3
/// redelivers the event, and the indexer is idempotent).
#[derive(Debug, thiserror::Error)]
enum IndexError {
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error("{context}: {}", aws_sdk_s3::error::DisplayErrorContext(source.as_ref()))]
    Failed {
        /// What was being done.
        context: String,
        /// The failed call's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl IndexError {
    /// `source` failed while doing `context`.
    fn failed(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> IndexError {
        IndexError::Failed {
            context: context.into(),
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests;
