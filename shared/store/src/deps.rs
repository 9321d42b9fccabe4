//! [`Deps`]: what every function (HTTP routers, the sweeper, the webhook delivery) is built from.

#[cfg(feature = "media")]
use crate::MediaTakedown;
use crate::{
    AppStore, ChatStore, CreateLimits, LifecycleStore, OutboxStore, ReplayStore, RoomStore, Table,
};
use std::sync::Arc;
use zhibo_core::app::{App, AppCache};
use zhibo_core::Config;

/// Shared by every handler of a function; cheap to clone.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The table every store below works on.
    pub table: Table,
    /// Apps, request nonces and access tokens.
    pub apps: AppStore,
    /// Rooms, quotas, idempotency keys and listings.
    pub rooms: RoomStore,
    /// Lifecycle transitions, timers and pending takedowns.
    pub lifecycle: LifecycleStore,
    /// Webhook endpoints, the outbox and delivery records.
    pub outbox: OutboxStore,
    /// Indexed replays.
    pub replays: ReplayStore,
    /// Audience items and rate buckets.
    pub chat: ChatStore,
    /// Configuration parsed at start-up.
    pub config: Arc<Config>,
    #[cfg(feature = "media")]
    /// Removes banned and `close_replay` media from the bucket and the CDN.
    pub takedown: MediaTakedown,
    #[cfg(feature = "media")]
    /// The media bucket's objects (replays closed from the journal).
    pub media: crate::media_objects::S3Objects,
    #[cfg(feature = "realtime")]
    /// Publishes on rooms' realtime channels (`None` without audience configuration).
    pub realtime: Option<crate::realtime::RealtimePublisher>,
    /// App records read in the last minute (shared by clones of this value).
    pub app_cache: Arc<AppCache>,
}

impl Deps {
    /// Builds the dependencies from configuration and SDK config.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Deps {
        let client = crate::aws::dynamo_client(sdk, &config);
        let table = Table::new(client, config.table.clone());
        Deps {
            apps: AppStore::new(table.clone()),
            rooms: RoomStore::new(table.clone()),
            lifecycle: LifecycleStore::new(table.clone()),
            outbox: OutboxStore::new(table.clone()),
            replays: ReplayStore::new(table.clone()),
            chat: ChatStore::new(table.clone()),
            table,
            #[cfg(feature = "media")]
            takedown: MediaTakedown::from_config(&config, sdk),
            #[cfg(feature = "media")]
            media: crate::media_objects::S3Objects::new(
                crate::aws::s3_client(sdk, config.s3_endpoint.as_deref()),
                config.media_bucket.clone(),
            ),
            #[cfg(feature = "realtime")]
            realtime: config
                .realtime_publish
                .as_ref()
                .map(|a| crate::realtime::RealtimePublisher::new(a, sdk)),
            config: Arc::new(config),
            app_cache: Arc::new(AppCache::default()),
        }
    }

    /// The same dependencies with every store over `table` instead (tests: a metered or
    /// gated client); the app cache is shared.
    pub fn with_table(&self, table: Table) -> Deps {
        Deps {
            apps: AppStore::new(table.clone()),
            rooms: RoomStore::new(table.clone()),
            lifecycle: LifecycleStore::new(table.clone()),
            outbox: OutboxStore::new(table.clone()),
            replays: ReplayStore::new(table.clone()),
            chat: ChatStore::new(table.clone()),
            table,
            ..self.clone()
        }
    }

    /// The app `app_id` (validated `[a-z0-9]{4,32}` by the caller) from the cache, or read
    /// from the table and cached ([`zhibo_core::app::APP_CACHE_TTL_S`], unknown ids too).
    pub async fn app(&self, app_id: &str, now: i64) -> Result<Option<App>, zhibo_core::Error> {
        if let Some(cached) = self.app_cache.get(app_id, now) {
            return Ok(cached);
        }
        let app = self.apps.get_app(app_id).await?;
        self.app_cache.put(app_id, app.clone(), now);
        Ok(app)
    }

    /// Quotas for room creation, from configuration.
    pub fn create_limits(&self) -> CreateLimits {
        CreateLimits {
            max_lives_per_day: self.config.max_lives_per_day,
            quota_utc_offset_minutes: self.config.quota_utc_offset_minutes,
        }
    }
}
