//! [`Deps`]: what every function (HTTP routers, the sweeper, the webhook delivery) is built from.

use crate::{CreateLimits, DynamoStore, MediaTakedown};
use std::sync::Arc;
use zhibo_core::app::{App, AppCache};
use zhibo_core::Config;

/// Shared by every handler of a function; cheap to clone.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The table.
    pub store: DynamoStore,
    /// Configuration parsed at start-up.
    pub config: Arc<Config>,
    /// Removes banned and `close_replay` media from the bucket and the CDN.
    pub takedown: MediaTakedown,
    /// App records read in the last minute (shared by clones of this value).
    pub apps: Arc<AppCache>,
}

impl Deps {
    /// Builds the dependencies from configuration and SDK config.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Deps {
        let client = crate::aws::dynamo_client(sdk, &config);
        Deps {
            store: DynamoStore::new(client, config.table.clone()),
            takedown: MediaTakedown::from_config(&config, sdk),
            config: Arc::new(config),
            apps: Arc::new(AppCache::default()),
        }
    }

    /// The app `app_id` (validated `[a-z0-9]{4,32}` by the caller) from the cache, or read
    /// from the table and cached ([`zhibo_core::app::APP_CACHE_TTL_S`], unknown ids too).
    pub async fn app(&self, app_id: &str, now: i64) -> Result<Option<App>, zhibo_core::Error> {
        if let Some(cached) = self.apps.get(app_id, now) {
            return Ok(cached);
        }
        let app = self.store.get_app(app_id).await?;
        self.apps.put(app_id, app.clone(), now);
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
