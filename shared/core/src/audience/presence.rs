//! Viewer numbers from presence (`POST /v1/rooms/{room_id}/presence`, every ≤ 60 s while
//! watching): what one presence report adds to the room's counters, and how many viewers a room
//! has now. Counting costs O(1) writes per report and O(1) reads per figure, whatever the
//! audience size:
//!
//! - each viewer has a presence record (`first_s`, `last_s`); a report more than
//!   [`MIN_REPORT_GAP_S`] after the last one moves `last_s` (closer reports change nothing);
//! - the first report of a user is a new unique viewer;
//! - the time since the last report is watch time when it is at most [`MAX_WATCH_GAP_S`] (a
//!   viewer who came back after longer adds nothing for the gap);
//! - the first report of a user in a minute adds one to that minute's count;
//! - viewers now = the larger of this minute's and the last minute's counts: a sliding window
//!   of one to two minutes, so a viewer who reports every ≤ 60 s is always counted and one who
//!   left stops being counted within two minutes.

use serde::{Deserialize, Serialize};

/// How often clients should report (the answer's `interval_s`).
pub const REPORT_INTERVAL_S: u64 = 30;
/// Reports closer than this to the user's last one are answered without a write.
pub const MIN_REPORT_GAP_S: i64 = 5;
/// The longest gap between two reports still counted as watch time (the 60-s contract plus
/// slack for a slow network).
pub const MAX_WATCH_GAP_S: i64 = 75;
/// The width of a viewers-now bucket.
pub const BUCKET_S: i64 = 60;
/// A `stats` item is published at most this often per room (at least every heartbeat of the
/// live's media worker, 10 s by default, and on presence reports).
pub const STATS_EVERY_S: i64 = 5;

/// The minute bucket `at_s` falls in.
pub fn bucket_of(at_s: i64) -> i64 {
    at_s.div_euclid(BUCKET_S)
}

/// What one accepted report adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportEffect {
    /// 1 for the user's first report in the room.
    pub unique: u64,
    /// Seconds of watch time since the previous report.
    pub watch_s: u64,
    /// The user's first report in this minute: add one to the minute's count.
    pub new_in_bucket: bool,
}

/// The effect of a report at `now_s` by a user whose previous accepted report was at
/// `last_s` (`None`: never).
pub fn report_effect(last_s: Option<i64>, now_s: i64) -> ReportEffect {
    match last_s {
        None => ReportEffect {
            unique: 1,
            watch_s: 0,
            new_in_bucket: true,
        },
        Some(last) => {
            let gap = now_s.saturating_sub(last);
            ReportEffect {
                unique: 0,
                watch_s: if (0..=MAX_WATCH_GAP_S).contains(&gap) {
                    gap as u64
                } else {
                    0
                },
                new_in_bucket: bucket_of(last) != bucket_of(now_s),
            }
        }
    }
}

/// Viewers now from this minute's and the last minute's distinct-viewer counts.
pub fn viewers_now(this_minute: u64, last_minute: u64) -> u64 {
    this_minute.max(last_minute)
}

/// A room's audience figures: `GET /v1/rooms/{room_id}/stats`, the `stats` item's `data` and
/// `room.ended`'s `data.stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomStats {
    /// Distinct viewers who reported presence in the last one to two minutes.
    pub viewers_now: u64,
    /// The highest `viewers_now` seen.
    pub viewers_peak: u64,
    /// Distinct viewers who ever reported presence.
    pub viewers_unique: u64,
    /// Seconds watched, summed over viewers (from their presence reports).
    pub watch_time_s: u64,
    /// Likes in all.
    pub likes: u64,
    /// Messages published.
    pub messages: u64,
    /// Messages flood control did not deliver (over `ROOM_MESSAGES_PER_S`).
    pub messages_dropped: u64,
    /// Gifts in all (the sum of their `count`).
    pub gifts: u64,
    /// Their value in all, cents.
    pub gifts_value_cents: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_report_is_unique_and_new_in_its_minute() {
        assert_eq!(
            report_effect(None, 1000),
            ReportEffect {
                unique: 1,
                watch_s: 0,
                new_in_bucket: true
            }
        );
    }

    #[test]
    fn later_reports_add_watch_time_and_count_once_per_minute() {
        // 120 is the start of minute 2.
        let e = report_effect(Some(125), 155);
        assert_eq!((e.unique, e.watch_s, e.new_in_bucket), (0, 30, false));
        let e = report_effect(Some(155), 185);
        assert_eq!((e.unique, e.watch_s, e.new_in_bucket), (0, 30, true));
        // Back after ten minutes: counted again, but the gap is not watch time.
        let e = report_effect(Some(185), 785);
        assert_eq!((e.unique, e.watch_s, e.new_in_bucket), (0, 0, true));
        // A clock that went backwards adds nothing.
        assert_eq!(report_effect(Some(200), 100).watch_s, 0);
    }

    #[test]
    fn viewers_now_spans_this_and_the_last_minute() {
        assert_eq!(viewers_now(3, 10), 10);
        assert_eq!(viewers_now(12, 10), 12);
        assert_eq!(bucket_of(-1), -1);
        assert_eq!(bucket_of(59), 0);
        assert_eq!(bucket_of(60), 1);
    }

    proptest! {
        /// A viewer reporting every 1..=60 s is in every minute bucket its reports span, and
        /// its watch time is exactly the time between its first and last report.
        #[test]
        fn a_steady_viewer_is_in_every_minute_and_watch_time_adds_up(
            start in 0i64..1_000_000,
            gaps in proptest::collection::vec(MIN_REPORT_GAP_S..=60, 1..200),
        ) {
            let mut last = None;
            let mut at = start;
            let mut watch = 0;
            let mut buckets = std::collections::BTreeSet::new();
            for gap in gaps {
                let e = report_effect(last, at);
                watch += e.watch_s;
                if e.new_in_bucket {
                    prop_assert!(buckets.insert(bucket_of(at)));
                }
                last = Some(at);
                at += gap;
            }
            let end = last.unwrap_or(start);
            prop_assert_eq!(watch as i64, end - start);
            let every: Vec<i64> = (bucket_of(start)..=bucket_of(end)).collect();
            prop_assert_eq!(buckets.into_iter().collect::<Vec<_>>(), every);
        }
    }
}
