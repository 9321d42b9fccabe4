//! Apps (tenants): an `app_id` and the `app_secret` that signs its requests.

use crate::error::Invalid;

use std::collections::HashMap;
use std::sync::Mutex;

/// A tenant of zhibo. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct App {
    /// `[a-z0-9]{4,32}`.
    pub app_id: String,
    /// ≥ 32 random bytes, hex-encoded; shown once at creation.
    pub app_secret: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
}

impl App {
    /// A new app with a fresh 32-byte secret.
    pub fn generate(app_id: &str, now: i64) -> Result<App, Invalid> {
        validate_app_id(app_id)?;
        Ok(App {
            app_id: app_id.to_string(),
            app_secret: crate::ids::random_hex(32),
            created_at: now,
        })
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Whether `app_id` matches `[a-z0-9]{4,32}` (checked before it is used as a key).
pub fn is_valid_app_id(app_id: &str) -> bool {
    (4..=32).contains(&app_id.len())
        && app_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Checks `app_id` against `[a-z0-9]{4,32}`.
pub fn validate_app_id(app_id: &str) -> Result<(), Invalid> {
    if is_valid_app_id(app_id) {
        Ok(())
    } else {
        Err(Invalid::field("app_id", "must match [a-z0-9]{4,32}"))
    }
}

/// How long a warm function trusts an app record it read (or the absence of one), seconds.
/// A new app or a changed secret takes effect within this time.
pub const APP_CACHE_TTL_S: i64 = 60;
/// Most app ids remembered at once; beyond it the cache starts over (an attacker naming
/// random app ids cannot grow memory).
pub const APP_CACHE_MAX_ENTRIES: usize = 4096;

/// App records (and unknown app ids) read in the last [`APP_CACHE_TTL_S`]: a flood of badly
/// signed requests for one app costs one read per minute, not one per request. Pure: the
/// caller passes `now`.
#[derive(Default)]
pub struct AppCache {
    entries: Mutex<HashMap<String, (Option<App>, i64)>>,
}

impl std::fmt::Debug for AppCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppCache")
    }
}

impl AppCache {
    /// The cached record of `app_id` (`Some(None)`: known not to exist), unless absent or
    /// older than [`APP_CACHE_TTL_S`].
    pub fn get(&self, app_id: &str, now: i64) -> Option<Option<App>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(app_id) {
            Some((app, at)) if now >= *at && now - *at < APP_CACHE_TTL_S => Some(app.clone()),
            _ => None,
        }
    }

    /// Remembers what a read of `app_id` found at `now`.
    pub fn put(&self, app_id: &str, app: Option<App>, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= APP_CACHE_MAX_ENTRIES && !entries.contains_key(app_id) {
            entries.retain(|_, (_, at)| now >= *at && now - *at < APP_CACHE_TTL_S);
            if entries.len() >= APP_CACHE_MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(app_id.to_string(), (app, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids() {
        for ok in ["demo", "a1b2c3d4", &"z".repeat(32)] {
            assert!(validate_app_id(ok).is_ok(), "{ok}");
        }
        for bad in ["abc", "Demo", "de_mo", "démo", &"z".repeat(33), ""] {
            assert!(validate_app_id(bad).is_err(), "{bad}");
        }
        let app = App::generate("demo", 1).unwrap();
        assert_eq!(app.app_secret.len(), 64);
    }

    #[test]
    fn app_cache_expires_and_stays_bounded() {
        let c = AppCache::default();
        let app = App::generate("demo", 1).unwrap();
        assert_eq!(c.get("demo", 100), None);
        c.put("demo", Some(app.clone()), 100);
        c.put("nope", None, 100);
        assert_eq!(c.get("demo", 159), Some(Some(app)));
        assert_eq!(c.get("nope", 120), Some(None));
        assert_eq!(c.get("demo", 160), None, "expired after the TTL");
        assert_eq!(c.get("demo", 99), None, "a clock step back is not trusted");
        for i in 0..APP_CACHE_MAX_ENTRIES * 2 {
            c.put(&format!("app{i}"), None, 200);
        }
        assert!(c.entries.lock().unwrap().len() <= APP_CACHE_MAX_ENTRIES);
        let a = App::generate("demo", 1).unwrap();
        assert!(!format!("{a:?}").contains(&a.app_secret));
    }
}
