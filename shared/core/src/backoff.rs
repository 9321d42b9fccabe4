//! Capped exponential backoff: the one schedule every retry loop uses (the worker's uploads and
//! hooks, the webhook deliveries). Pure: the caller draws the jitter, so the schedule is
//! deterministic under test. Saturating throughout: no setting or attempt count overflows or
//! panics.

use std::time::Duration;

/// How a delay is spread so that many retrying clients do not hit a server in waves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// The delay is exactly the capped exponential one.
    None,
    /// "Equal jitter": a delay in `[d/2, d]`.
    Equal,
    /// A delay in `[d, d × (1 + fraction)]` (may exceed the cap by that fraction).
    Up {
        /// How much longer the delay may get, e.g. `0.2` for +20 %.
        fraction: f64,
    },
}

/// `initial`, `initial × factor`, `initial × factor²`, … up to `max`, spread by `jitter`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub initial: Duration,
    /// The longest delay (before jitter).
    pub max: Duration,
    /// How much each further failure multiplies the delay by (2: doubling; 0 or 1: constant).
    pub factor: u32,
    /// How the delay is spread.
    pub jitter: Jitter,
}

impl Backoff {
    /// Doubling from `initial` up to `max`, without jitter.
    pub const fn doubling(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            factor: 2,
            jitter: Jitter::None,
        }
    }

    /// The same schedule with `jitter`.
    pub const fn with_jitter(self, jitter: Jitter) -> Backoff {
        Backoff { jitter, ..self }
    }

    /// The capped delay after `attempt` failures (`attempt` 0 counts as 1), before jitter.
    pub fn base(&self, attempt: u32) -> Duration {
        let mut d = self.initial.min(self.max);
        if self.factor <= 1 {
            return d;
        }
        // Each step multiplies by at least 2, so the cap (or Duration::MAX) is reached after
        // at most ~100 steps whatever `attempt` is.
        for _ in 1..attempt.max(1) {
            if d >= self.max || d.is_zero() {
                break;
            }
            d = d.saturating_mul(self.factor).min(self.max);
        }
        d
    }

    /// The delay before the next attempt after `attempt` failures (≥ 1), with `jitter` a
    /// random number in `0.0..1.0` drawn by the caller (clamped to `0.0..=1.0`; NaN counts as
    /// 0). Never panics.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let d = self.base(attempt);
        let j = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        match self.jitter {
            Jitter::None => d,
            Jitter::Equal => {
                let half = d / 2;
                (d - half).saturating_add(scale(half, j))
            }
            Jitter::Up { fraction } => {
                let f = if fraction.is_nan() {
                    0.0
                } else {
                    fraction.max(0.0)
                };
                d.saturating_add(scale(d, f * j))
            }
        }
    }
}

/// `d × f` for `f ≥ 0`, saturating at `Duration::MAX`.
fn scale(d: Duration, f: f64) -> Duration {
    // `as` from f64 to u128 saturates (and maps NaN to 0).
    from_nanos(((d.as_nanos() as f64) * f) as u128)
}

fn from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff::doubling(100 * MS, 1000 * MS);
        let got: Vec<u128> = (0..8).map(|n| b.delay(n, 0.5).as_millis()).collect();
        assert_eq!(got, [100, 100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX, 0.0), 1000 * MS);
    }

    #[test]
    fn other_factors() {
        let b = Backoff {
            factor: 3,
            ..Backoff::doubling(MS, 100 * MS)
        };
        let got: Vec<u128> = (1..7).map(|n| b.delay(n, 0.0).as_millis()).collect();
        assert_eq!(got, [1, 3, 9, 27, 81, 100]);
        for factor in [0, 1] {
            let b = Backoff {
                factor,
                ..Backoff::doubling(7 * MS, 100 * MS)
            };
            assert_eq!(b.delay(u32::MAX, 0.0), 7 * MS);
        }
    }

    #[test]
    fn initial_above_the_cap_is_capped() {
        let b = Backoff::doubling(5000 * MS, 1000 * MS);
        assert_eq!(b.delay(1, 0.0), 1000 * MS);
    }

    #[test]
    fn extreme_settings_saturate() {
        let jitters = [
            Jitter::None,
            Jitter::Equal,
            Jitter::Up { fraction: 0.2 },
            Jitter::Up { fraction: f64::MAX },
            Jitter::Up { fraction: f64::NAN },
        ];
        for jitter in jitters {
            for factor in [0, 1, 2, u32::MAX] {
                for (initial, max) in [
                    (Duration::MAX, Duration::MAX),
                    (Duration::ZERO, Duration::MAX),
                    (Duration::MAX, Duration::ZERO),
                    (Duration::from_nanos(1), Duration::MAX),
                ] {
                    let b = Backoff {
                        initial,
                        max,
                        factor,
                        jitter,
                    };
                    for attempt in [0, 1, 2, 31, 32, 64, 200, u32::MAX] {
                        for j in [0.0, 0.5, 0.999, 1.0, -1.0, 7.0, f64::NAN, f64::INFINITY] {
                            let d = b.delay(attempt, j);
                            if jitter == Jitter::None || max.is_zero() {
                                assert!(d <= max);
                            }
                        }
                    }
                }
            }
        }
        let b = Backoff::doubling(Duration::MAX, Duration::MAX).with_jitter(Jitter::Equal);
        for attempt in [1, 2, 31, 32, u32::MAX] {
            assert!(b.delay(attempt, 0.0) >= Duration::MAX / 2);
        }
        let b = Backoff::doubling(Duration::from_nanos(1), Duration::MAX);
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::MAX);
    }

    #[test]
    fn equal_jitter_stays_within_half_and_whole() {
        let b = Backoff::doubling(100 * MS, 1000 * MS).with_jitter(Jitter::Equal);
        for attempt in 1..10 {
            let d = b.base(attempt);
            for j in [0.0, 0.1, 0.5, 0.9, 0.999_999] {
                let got = b.delay(attempt, j);
                assert!(got >= d - d / 2 && got <= d, "{got:?} for {d:?} at {j}");
            }
            assert_eq!(b.delay(attempt, 0.0), d - d / 2);
        }
        assert_eq!(b.delay(1, 0.5), 75 * MS);
    }

    #[test]
    fn up_jitter_adds_at_most_its_fraction() {
        let b =
            Backoff::doubling(5000 * MS, 3_600_000 * MS).with_jitter(Jitter::Up { fraction: 0.2 });
        assert_eq!(b.delay(1, 0.0), 5000 * MS);
        assert_eq!(b.delay(1, 1.0), 6000 * MS);
        assert_eq!(b.delay(1, 0.5), 5500 * MS);
        assert_eq!(b.delay(40, 1.0), 4_320_000 * MS);
        for j in [0.0, 0.3, 0.999] {
            let got = b.delay(3, j);
            assert!(got >= 20_000 * MS && got < 24_000 * MS, "{got:?}");
        }
    }
}
