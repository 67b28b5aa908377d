//! Per-caller rate limits: a token bucket, kept in the form of the generic
//! cell rate algorithm (GCRA).
//!
//! A bucket holds up to `burst` requests and refills at `per_minute`. Rather
//! than a level and a timestamp, its whole state is one number: the
//! *theoretical arrival time* (`tat`, ms) — when the bucket would be full
//! again if nothing more were taken. Taking a request moves it one
//! interval (`60 000 / per_minute` ms) later; a request is refused when
//! that would put it more than `burst` intervals ahead of now. One number is
//! what lets every store keep a bucket with one atomic step: a Durable
//! Object's memory on Workers, one Lua script in Redis on Spin
//! (`shared/spin/src/bucket.lua`, checked against [`take`] by a test), a
//! map in-process.
//!
//! A refused request takes nothing, so a client that waits the
//! `Retry-After` it was given is served.

use serde::{Deserialize, Serialize};

/// How fast one caller may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Sustained requests per minute (the refill).
    pub per_minute: u32,
    /// Requests that may come at once after a quiet spell (the bucket's size).
    pub burst: u32,
}

/// The outcome of asking a bucket for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Served; the bucket's new state.
    Allowed { tat: i64 },
    /// Refused; the bucket is unchanged and one request fits again in
    /// this many milliseconds (at least 1).
    Limited { retry_after_ms: i64 },
}

impl Rate {
    /// Milliseconds one request takes to refill (at least 1).
    pub fn interval_ms(self) -> i64 {
        (60_000 / i64::from(self.per_minute.max(1))).max(1)
    }

    /// How far ahead of now the bucket's `tat` may run: a full bucket is
    /// `burst` intervals of credit.
    pub fn tolerance_ms(self) -> i64 {
        self.interval_ms() * i64::from(self.burst.max(1))
    }

    /// How long an idle bucket keeps mattering: after this it is full
    /// whatever it held, so a store may forget it (a TTL).
    pub fn memory_ms(self) -> i64 {
        self.tolerance_ms()
    }
}

/// Asks the bucket whose state is `tat` (`None`: never used, or forgotten:
/// full) for one request at `now`.
pub fn take(tat: Option<i64>, now: i64, rate: Rate) -> Taken {
    let start = tat.map_or(now, |tat| tat.max(now));
    let next = start + rate.interval_ms();
    let ahead = next - now;
    if ahead > rate.tolerance_ms() {
        Taken::Limited {
            retry_after_ms: ahead - rate.tolerance_ms(),
        }
    } else {
        Taken::Allowed { tat: next }
    }
}

/// The rate limits of each kind of caller; `None` means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// A customer app's backend: every customer of the app shares its token.
    pub app: Option<Rate>,
    /// A rider's phone: inbox polls, location every few seconds, progress.
    pub rider: Option<Rate>,
    /// A station device: telemetry every few seconds.
    pub station: Option<Rate>,
    /// The dispatch desk and its scripts.
    pub ops: Option<Rate>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            app: Some(Rate {
                per_minute: 60_000,
                burst: 1_000,
            }),
            rider: Some(Rate {
                per_minute: 120,
                burst: 30,
            }),
            station: Some(Rate {
                per_minute: 120,
                burst: 20,
            }),
            ops: Some(Rate {
                per_minute: 6_000,
                burst: 300,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_minute: 60,
        burst: 3,
    };

    /// Takes requests at `times`, threading the state; the outcome of each.
    fn run(times: &[i64], rate: Rate) -> Vec<Taken> {
        let mut tat = None;
        times
            .iter()
            .map(|&now| {
                let taken = take(tat, now, rate);
                if let Taken::Allowed { tat: next } = taken {
                    tat = Some(next);
                }
                taken
            })
            .collect()
    }

    #[test]
    fn a_full_bucket_serves_its_burst_at_once_then_refuses() {
        let outcomes = run(&[0, 0, 0, 0], RATE);
        assert!(outcomes[..3].iter().all(|t| matches!(t, Taken::Allowed { .. })));
        assert_eq!(outcomes[3], Taken::Limited { retry_after_ms: 1_000 });
    }

    #[test]
    fn waiting_the_retry_after_is_enough_and_a_moment_less_is_not() {
        let outcomes = run(&[0, 0, 0, 999, 1_000], RATE);
        assert_eq!(outcomes[3], Taken::Limited { retry_after_ms: 1 });
        assert!(matches!(outcomes[4], Taken::Allowed { .. }));
    }

    #[test]
    fn refused_requests_take_nothing() {
        let outcomes = run(&[0, 0, 0, 10, 20, 30, 1_000], RATE);
        assert!(matches!(outcomes[6], Taken::Allowed { .. }), "{outcomes:?}");
    }

    #[test]
    fn the_sustained_rate_is_served_for_ever() {
        let times: Vec<i64> = (0..1_000).map(|i| i * 1_000).collect();
        assert!(run(&times, RATE).iter().all(|t| matches!(t, Taken::Allowed { .. })));
    }

    #[test]
    fn a_quiet_spell_refills_no_more_than_the_burst() {
        let mut times = vec![0; 3];
        times.extend([3_600_000; 4]);
        let outcomes = run(&times, RATE);
        assert!(outcomes[3..6].iter().all(|t| matches!(t, Taken::Allowed { .. })));
        assert!(matches!(outcomes[6], Taken::Limited { .. }));
    }

    #[test]
    fn a_clock_that_steps_back_cannot_mint_requests() {
        let outcomes = run(&[10_000, 10_000, 10_000, 0, 5_000], RATE);
        assert!(matches!(outcomes[3], Taken::Limited { .. }));
        assert!(matches!(outcomes[4], Taken::Limited { .. }));
    }

    #[test]
    fn over_any_window_no_more_than_burst_plus_refill_is_served() {
        // A client hammering every 7 ms for a minute.
        let times: Vec<i64> = (0..8_572).map(|i| i * 7).collect();
        let served = run(&times, RATE)
            .iter()
            .filter(|t| matches!(t, Taken::Allowed { .. }))
            .count();
        // 3 at once, then one a second over 60 s.
        assert!((62..=64).contains(&served), "{served}");
    }

    #[test]
    fn degenerate_rates_still_limit() {
        let zero = Rate {
            per_minute: 0,
            burst: 0,
        };
        let outcomes = run(&[0, 0], zero);
        assert!(matches!(outcomes[0], Taken::Allowed { .. }));
        assert!(matches!(outcomes[1], Taken::Limited { .. }));
    }
}
