//! Apps (tenants): an `app_id` and the `app_secret` that signs its requests.

use crate::error::ApiError;

/// A tenant of zhibo.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub fn generate(app_id: &str, now: i64) -> Result<App, ApiError> {
        validate_app_id(app_id)?;
        Ok(App {
            app_id: app_id.to_string(),
            app_secret: crate::ids::random_hex(32),
            created_at: now,
        })
    }
}

/// Checks `app_id` against `[a-z0-9]{4,32}`.
pub fn validate_app_id(app_id: &str) -> Result<(), ApiError> {
    let ok = (4..=32).contains(&app_id.len())
        && app_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_field("app_id", "must match [a-z0-9]{4,32}"))
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
}
