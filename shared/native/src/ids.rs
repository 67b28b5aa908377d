//! Reproducible ULIDs: the timestamp comes from the [`Clock`], the random
//! part from a seeded generator, so a seeded simulation produces the same
//! ids on every run.

use std::sync::{Mutex, PoisonError};

use ulid::Ulid;

use crate::clock::Clock;
use crate::rng::SeededRng;

/// The random part of a ULID is 80 bits.
const RANDOM_MASK: u128 = (1 << 80) - 1;
/// A fresh random part uses 79 bits, leaving room to increment within one
/// millisecond without overflowing.
const FRESH_RANDOM_MASK: u128 = RANDOM_MASK >> 1;

/// Generates ULID strings that are unique and strictly increasing within one
/// generator, even when the clock stands still or goes backwards (like the
/// monotonic mode of the ULID spec: within the same millisecond, the random
/// part is incremented).
#[derive(Debug)]
pub struct SeededIds {
    clock: Clock,
    state: Mutex<IdState>,
}

#[derive(Debug)]
struct IdState {
    rng: SeededRng,
    /// The last id handed out, as (timestamp ms, random part).
    last: Option<(u64, u128)>,
}

impl SeededIds {
    /// A generator reading time from `clock` and randomness seeded by `seed`.
    pub fn new(clock: Clock, seed: u64) -> Self {
        Self {
            clock,
            state: Mutex::new(IdState {
                rng: SeededRng::new(seed),
                last: None,
            }),
        }
    }

    /// A new ULID (26 characters, Crockford base32).
    pub fn next_id(&self) -> String {
        self.next_ulid().to_string()
    }

    /// A "secret" as `Ports::new_secret` gives one: 64 lower-case hex
    /// digits, from two ULIDs of this generator (reproducible, not secret:
    /// for tests and the simulator).
    pub fn next_secret(&self) -> String {
        format!("{:032x}{:032x}", self.next_ulid().0, self.next_ulid().0)
    }

    /// A new ULID value.
    pub fn next_ulid(&self) -> Ulid {
        // Times before the epoch are clamped: a ULID timestamp is unsigned.
        let now = u64::try_from(self.clock.now()).unwrap_or(0);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (ms, random) = match state.last {
            Some((last_ms, last_random)) if now <= last_ms => {
                if last_random < RANDOM_MASK {
                    (last_ms, last_random + 1)
                } else {
                    // The random part is exhausted for this millisecond:
                    // borrow the next one.
                    (last_ms + 1, state.rng.next_u128() & FRESH_RANDOM_MASK)
                }
            }
            _ => (now, state.rng.next_u128() & FRESH_RANDOM_MASK),
        };
        state.last = Some((ms, random));
        Ulid::from_parts(ms, random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn ids_are_ulids_with_the_clock_timestamp() {
        let clock = ManualClock::new(1_700_000_000_123);
        let ids = SeededIds::new(clock.into(), 1);
        let id = ids.next_id();
        assert_eq!(id.len(), 26);
        let parsed = Ulid::from_string(&id).unwrap();
        assert_eq!(parsed.timestamp_ms(), 1_700_000_000_123);
    }

    #[test]
    fn same_seed_and_time_give_same_ids() {
        let a = SeededIds::new(Clock::manual(5_000), 9);
        let b = SeededIds::new(Clock::manual(5_000), 9);
        let c = SeededIds::new(Clock::manual(5_000), 10);
        let first_a = a.next_id();
        assert_eq!(first_a, b.next_id());
        assert_ne!(first_a, c.next_id());
    }

    #[test]
    fn ids_increase_when_the_clock_stands_still_or_goes_back() {
        let clock = ManualClock::new(10_000);
        let ids = SeededIds::new(clock.clone().into(), 2);
        let mut previous = ids.next_id();
        for step in 0..1_000 {
            match step % 3 {
                0 => {}
                1 => {
                    clock.advance(1);
                }
                _ => clock.set(clock.now() - 5),
            }
            let next = ids.next_id();
            assert!(next > previous, "{next} after {previous}");
            previous = next;
        }
    }

    #[test]
    fn exhausted_random_part_moves_to_the_next_millisecond() {
        let ids = SeededIds::new(Clock::manual(77), 0);
        ids.state.lock().unwrap().last = Some((77, RANDOM_MASK));
        let next = ids.next_ulid();
        assert_eq!(next.timestamp_ms(), 78);
    }
}
