//! Rate-limit buckets in this process's memory ([`gasline_core::limit`]),
//! on the services' clock: the store's clock, which an instance's skewed
//! clock does not move.

use std::collections::HashMap;
use std::sync::Mutex;

use gasline_ports::{Rate, RateLimiter, StoreError, Taken};

use crate::clock::Clock;

/// Buckets kept before the full ones are forgotten (a bucket past its
/// `tat` is full, which is what a forgotten one is).
const KEPT: usize = 65_536;

/// Every bucket of one process.
#[derive(Debug)]
pub struct MemoryLimiter {
    clock: Clock,
    buckets: Mutex<HashMap<String, i64>>,
}

impl MemoryLimiter {
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

impl RateLimiter for MemoryLimiter {
    async fn take(&self, key: &str, rate: Rate) -> Result<Taken, StoreError> {
        let now = self.clock.now();
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| StoreError::Unavailable("rate limiter lock poisoned".into()))?;
        if buckets.len() >= KEPT {
            buckets.retain(|_, tat| *tat > now);
        }
        let taken = gasline_core::limit::take(buckets.get(key).copied(), now, rate);
        if let Taken::Allowed { tat } = taken {
            buckets.insert(key.to_owned(), tat);
        }
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;

    const RATE: Rate = Rate {
        per_minute: 60,
        burst: 2,
    };

    #[test]
    fn buckets_are_per_key_and_refill_with_the_clock() {
        let clock = Clock::manual(1_000_000);
        let limiter = MemoryLimiter::new(clock.clone());
        let take = |key: &str| block_on(limiter.take(key, RATE)).unwrap();
        assert!(matches!(take("a"), Taken::Allowed { .. }));
        assert!(matches!(take("a"), Taken::Allowed { .. }));
        assert_eq!(take("a"), Taken::Limited { retry_after_ms: 1_000 });
        assert!(
            matches!(take("b"), Taken::Allowed { .. }),
            "another key has its own bucket"
        );
        clock.as_manual().unwrap().advance(1_000);
        assert!(matches!(take("a"), Taken::Allowed { .. }));
    }
}
