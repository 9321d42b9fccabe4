//! A token bucket: one token every `interval_ms` up to `burst`, one per action. Pure: the caller
//! keeps the [`Bucket`] (in DynamoDB, written back with a condition on the value it read, so
//! concurrent Lambdas cannot both spend the same token).

use serde::{Deserialize, Serialize};

/// A bucket's state: tokens in thousandths, as of `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Tokens × 1000 (integer arithmetic: no float drift across writes).
    pub milli_tokens: u64,
    /// When `milli_tokens` was computed (Unix ms).
    pub at_ms: i64,
}

/// A limit: one action per `interval_ms` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// One token comes back every this many milliseconds (≥ 1).
    pub interval_ms: u64,
    /// Bucket size (≥ 1).
    pub burst: u32,
}

/// Refused: how long until one token is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// Milliseconds until the next action is allowed.
    pub ms: u64,
}

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header (at least 1).
    pub fn seconds(self) -> u64 {
        self.ms.div_ceil(1000).max(1)
    }
}

impl Limit {
    /// Takes one token from `bucket` (`None`: a full bucket) at `now_ms`: the new state, or how
    /// long to wait. A clock that went backwards refills nothing.
    pub fn take(self, bucket: Option<Bucket>, now_ms: i64) -> Result<Bucket, RetryAfter> {
        let interval = self.interval_ms.max(1);
        let cap = u64::from(self.burst.max(1)) * 1000;
        // A clock that went backwards keeps the later time, so nothing is refilled twice.
        let at_ms = bucket.map_or(now_ms, |b| b.at_ms.max(now_ms));
        let current = match bucket {
            None => cap,
            Some(b) => {
                let elapsed = u64::try_from(now_ms.saturating_sub(b.at_ms)).unwrap_or(0);
                b.milli_tokens
                    .saturating_add(elapsed.saturating_mul(1000) / interval)
                    .min(cap)
            }
        };
        if current >= 1000 {
            Ok(Bucket {
                milli_tokens: current - 1000,
                at_ms,
            })
        } else {
            Err(RetryAfter {
                ms: ((1000 - current) * interval).div_ceil(1000),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: Limit = Limit {
        interval_ms: 1000,
        burst: 5,
    };

    #[test]
    fn a_burst_then_one_per_second() {
        let mut b = None;
        for _ in 0..5 {
            b = Some(MSG.take(b, 10_000).unwrap());
        }
        let r = MSG.take(b, 10_000).unwrap_err();
        assert_eq!(r.ms, 1000);
        assert_eq!(r.seconds(), 1);
        assert_eq!(MSG.take(b, 10_400).unwrap_err().ms, 600);
        let b = MSG.take(b, 11_000).unwrap();
        assert!(MSG.take(Some(b), 11_000).is_err());
        // Long idle refills to the burst, not beyond.
        let mut b = Some(MSG.take(Some(b), 1_000_000).unwrap());
        for _ in 0..4 {
            b = Some(MSG.take(b, 1_000_000).unwrap());
        }
        assert!(MSG.take(b, 1_000_000).is_err());
    }

    #[test]
    fn slow_refills_say_how_long_to_wait() {
        let slow = Limit {
            interval_ms: 600_000,
            burst: 1,
        };
        let b = slow.take(None, 0).unwrap();
        assert_eq!(slow.take(Some(b), 0).unwrap_err().ms, 600_000);
        assert_eq!(slow.take(Some(b), 300_000).unwrap_err().seconds(), 300);
        assert!(slow.take(Some(b), 600_000).is_ok());
    }

    #[test]
    fn a_clock_going_backwards_refills_nothing() {
        let b = Bucket {
            milli_tokens: 0,
            at_ms: 5_000,
        };
        assert!(MSG.take(Some(b), 1_000).is_err());
    }
}
