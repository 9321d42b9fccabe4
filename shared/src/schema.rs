//! The single DynamoDB table: its definition (used to create it locally and checked against
//! `template.yaml`) and the one place that builds item keys.
//!
//! | item | pk | sk | other keys |
//! |---|---|---|---|
//! | app | `APP#{app}` | `#APP` | `next_room_id` counter |
//! | counts | `APP#{app}` | `#COUNTS` | `total`, `s101`..`s107` (maintained in every room transaction) |
//! | room | `APP#{app}` | `ROOM#{room_id:012}` | gsi1: `ROOMS#{app}` / `{start:012}#{room:012}`; gsi2: `ROOMS#{app}#{status}` / same |
//! | day quota | `APP#{app}` | `QUOTA#{yyyy-mm-dd}` | `lives`, TTL |
//! | nonce | `NONCE#{app}#{nonce}` | `NONCE` | TTL |
//! | idempotency key | `IDEM#{app}#{key}` | `IDEM` | `room_id`, `body_sha256`, TTL |
//! | access token | `TOKEN#{token}` | `TOKEN` | `app_id`, TTL |

use crate::live_status::LiveStatus;
use crate::room::RoomId;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// TTL attribute (unix seconds).
pub const TTL_ATTR: &str = "expires_at";

/// A global secondary index of the table (string hash and range keys, all attributes projected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// Index name.
    pub name: &'static str,
    /// Hash key attribute.
    pub hash_key: &'static str,
    /// Range key attribute.
    pub range_key: &'static str,
}

/// Rooms of an app by `start_time`.
pub const GSI_ROOMS_BY_START: IndexSpec = IndexSpec {
    name: "gsi1",
    hash_key: "gsi1pk",
    range_key: "gsi1sk",
};
/// Rooms of an app in one `live_status`, by `start_time`.
pub const GSI_ROOMS_BY_STATUS: IndexSpec = IndexSpec {
    name: "gsi2",
    hash_key: "gsi2pk",
    range_key: "gsi2sk",
};
/// Every GSI of the table.
pub const INDEXES: [IndexSpec; 2] = [GSI_ROOMS_BY_START, GSI_ROOMS_BY_STATUS];

/// Key builders: the only code that knows the key formats.
pub mod keys {
    use super::*;

    /// `APP#{app}`.
    pub fn app_pk(app_id: &str) -> String {
        format!("APP#{app_id}")
    }
    /// The app item's sort key.
    pub const APP_SK: &str = "#APP";
    /// The counts item's sort key.
    pub const COUNTS_SK: &str = "#COUNTS";
    /// `ROOM#{room_id:012}`.
    pub fn room_sk(room_id: RoomId) -> String {
        format!("ROOM#{room_id:012}")
    }
    /// gsi1 hash key of an app's rooms.
    pub fn rooms_by_start_pk(app_id: &str) -> String {
        format!("ROOMS#{app_id}")
    }
    /// gsi2 hash key of an app's rooms in one status.
    pub fn rooms_by_status_pk(app_id: &str, status: LiveStatus) -> String {
        format!("ROOMS#{app_id}#{}", status.code())
    }
    /// Range key of both room indexes: start time then room id, zero-padded so strings sort
    /// as numbers.
    pub fn room_start_sk(start_time: i64, room_id: RoomId) -> String {
        format!("{:012}#{room_id:012}", start_time.max(0))
    }
    /// `QUOTA#{day}`.
    pub fn quota_sk(day: &str) -> String {
        format!("QUOTA#{day}")
    }
    /// A request nonce's partition key.
    pub fn nonce_pk(app_id: &str, nonce: &str) -> String {
        format!("NONCE#{app_id}#{nonce}")
    }
    /// An idempotency key's partition key.
    pub fn idempotency_pk(app_id: &str, key: &str) -> String {
        format!("IDEM#{app_id}#{key}")
    }
    /// An access token's partition key.
    pub fn token_pk(token: &str) -> String {
        format!("TOKEN#{token}")
    }
    /// The counts attribute of one status, e.g. `s101`.
    pub fn status_count_attr(status: LiveStatus) -> String {
        format!("s{}", status.code())
    }
}

/// The quota day (`yyyy-mm-dd`) that unix time `t` falls on at UTC offset `offset_minutes`.
pub fn quota_day(t: i64, offset_minutes: i32) -> String {
    let local = t.saturating_add(i64::from(offset_minutes) * 60);
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// ISO 8601 UTC with seconds, e.g. `2020-11-11T03:49:55Z` (WeChat's replay times).
pub fn iso8601_utc(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times() {
        assert_eq!(quota_day(0, 0), "1970-01-01");
        // 2026-11-23 16:00 UTC is 2026-11-24 00:00 in UTC+8.
        assert_eq!(quota_day(1_795_449_600, 480), "2026-11-24");
        assert_eq!(quota_day(1_795_449_600 - 1, 480), "2026-11-23");
        assert_eq!(quota_day(1_795_449_600, 0), "2026-11-23");
        assert_eq!(iso8601_utc(1_605_066_595), "2020-11-11T03:49:55Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn sort_keys_sort_numerically() {
        let a = keys::room_start_sk(999, 5);
        let b = keys::room_start_sk(1000, 1);
        assert!(a < b);
        assert!(keys::room_sk(9) < keys::room_sk(10));
    }
}
