//! Runs a takedown ([`zhibo_core::takedown`]): lists, deletes and invalidates a room's media in
//! the bucket and the CDN.

use std::time::{Duration, Instant};
use zhibo_core::error::Error;
use zhibo_core::lifecycle::Timers;
use zhibo_core::room::RoomId;
use zhibo_core::takedown::{cdn_paths, delete_order, prefixes, quiet_after_ms, Removed, Scope};

/// Keys deleted per DeleteObjects request (S3's limit).
const DELETE_BATCH: usize = 1000;

/// Deletes media from the bucket and invalidates the CDN.
#[derive(Debug, Clone)]
pub struct MediaTakedown {
    s3: aws_sdk_s3::Client,
    bucket: String,
    cdn: Option<crate::cdn::Invalidator>,
}

impl MediaTakedown {
    /// Over `bucket` with `s3`, invalidating `cdn` if any.
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: &str,
        cdn: Option<crate::cdn::Invalidator>,
    ) -> MediaTakedown {
        MediaTakedown {
            s3,
            bucket: bucket.to_string(),
            cdn,
        }
    }

    /// Records a takedown of `scope` for the room (so the sweeper repeats it until the media
    /// is quiet), then runs it once within `budget`.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        store: &crate::LifecycleStore,
        timers: &Timers,
        app_id: &str,
        room_id: RoomId,
        scope: Scope,
        now_ms: i64,
        budget: Duration,
    ) -> Result<Removed, Error> {
        let pending = crate::PendingTakedown {
            app_id: app_id.to_string(),
            room_id,
            scope,
            quiet_after_ms: quiet_after_ms(now_ms, timers),
        };
        store.put_pending_takedown(&pending).await?;
        self.run(store, &pending, budget, false).await
    }

    /// One run of a takedown: reads the room for a [`Scope::Replays`] one (its live media goes
    /// too once no session is in progress), then [`MediaTakedown::remove`].
    pub async fn run(
        &self,
        store: &crate::LifecycleStore,
        t: &crate::PendingTakedown,
        budget: Duration,
        invalidate: bool,
    ) -> Result<Removed, Error> {
        let live_over = match t.scope {
            Scope::Room => true,
            Scope::Replays => crate::rooms::read_room(store.table(), &t.app_id, t.room_id)
                .await?
                .is_none_or(|r| !r.live_status.session_in_progress()),
        };
        let prefixes = prefixes(&t.app_id, t.room_id, t.scope, live_over);
        let removed = self.remove(&prefixes, budget, invalidate).await?;
        if removed.objects > 0 {
            tracing::info!(
                app_id = %t.app_id,
                room_id = t.room_id,
                scope = t.scope.as_str(),
                objects = removed.objects,
                complete = removed.complete,
                "media taken down"
            );
        }
        Ok(removed)
    }

    /// The configured bucket (through `ZHIBO_S3_ENDPOINT` when set) and CDN distribution.
    pub fn from_config(config: &zhibo_core::Config, sdk: &aws_config::SdkConfig) -> MediaTakedown {
        MediaTakedown {
            s3: crate::aws::s3_client(sdk, config.s3_endpoint.as_deref()),
            bucket: config.media_bucket.clone(),
            cdn: config.cdn_distribution_id.as_ref().map(|id| {
                crate::cdn::Invalidator::new(sdk, id, config.cloudfront_endpoint.as_deref())
            }),
        }
    }

    /// Whether a CDN distribution is invalidated (`CDN_DISTRIBUTION_ID` is set).
    pub fn has_cdn(&self) -> bool {
        self.cdn.is_some()
    }

    /// Deletes every object under `prefixes` (playlists first) within `budget`, then
    /// invalidates the CDN paths of the prefixes when something was deleted or `invalidate`
    /// asks for it.
    pub async fn remove(
        &self,
        prefixes: &[String],
        budget: Duration,
        invalidate: bool,
    ) -> Result<Removed, Error> {
        let started = Instant::now();
        let mut keys = Vec::new();
        for prefix in prefixes {
            let mut pages = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    Error::Media(format!(
                        "ListObjectsV2 {prefix}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    ))
                })?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(String::from)),
                );
            }
        }
        delete_order(&mut keys);
        let mut removed = Removed {
            objects: 0,
            complete: true,
        };
        for batch in keys.chunks(DELETE_BATCH) {
            if started.elapsed() >= budget {
                removed.complete = false;
                break;
            }
            removed.objects += self.delete_batch(batch).await?;
        }
        if let Some(cdn) = &self.cdn {
            if removed.objects > 0 || invalidate {
                cdn.invalidate(&cdn_paths(prefixes)).await?;
            }
        }
        Ok(removed)
    }

    async fn delete_batch(&self, batch: &[String]) -> Result<u64, Error> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let objects = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Media(format!("DeleteObjects request: {e}")))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::Media(format!("DeleteObjects request: {e}")))?;
        let out = self
            .s3
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| {
                Error::Media(format!(
                    "DeleteObjects ({} keys from {}): {}",
                    batch.len(),
                    batch.first().map_or("", String::as_str),
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))
            })?;
        if let Some(first) = out.errors().first() {
            return Err(Error::Media(format!(
                "DeleteObjects refused {} of {} keys (first {}: {} {})",
                out.errors().len(),
                batch.len(),
                first.key().unwrap_or(""),
                first.code().unwrap_or(""),
                first.message().unwrap_or("")
            )));
        }
        Ok(batch.len() as u64)
    }
}
