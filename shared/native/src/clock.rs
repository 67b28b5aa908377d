//! Where "now" comes from natively: a [`ManualClock`] that tests and the
//! simulator move by hand, or the [`SystemClock`].
//!
//! The domain core never reads a clock; adapters do, and they take a
//! [`Clock`] so that key-value expiry, queue delays and id timestamps all
//! follow the same (possibly simulated) time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A clock set and advanced by hand. Clones share the same time, so one
/// handle can drive every adapter that holds another.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now_ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock that reads `start_ms` (milliseconds since the Unix epoch).
    pub fn new(start_ms: i64) -> Self {
        Self {
            now_ms: Arc::new(AtomicI64::new(start_ms)),
        }
    }

    /// The current time in milliseconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    /// Sets the time. Going backwards is allowed (to test clock skew).
    pub fn set(&self, ms: i64) {
        self.now_ms.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms` and returns the new time.
    pub fn advance(&self, ms: i64) -> i64 {
        self.now_ms.fetch_add(ms, Ordering::SeqCst) + ms
    }
}

/// The machine's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The current time in milliseconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the system clock is set after 1970");
        i64::try_from(since_epoch.as_millis()).expect("milliseconds since 1970 fit in i64")
    }
}

/// Either clock, for adapters that must work with both. Cheap to clone;
/// clones of a manual clock share its time.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Simulated time, moved by hand.
    Manual(ManualClock),
    /// Wall-clock time.
    System(SystemClock),
}

impl Clock {
    /// A new manual clock starting at `start_ms`.
    pub fn manual(start_ms: i64) -> Self {
        Clock::Manual(ManualClock::new(start_ms))
    }

    /// The system clock.
    pub fn system() -> Self {
        Clock::System(SystemClock)
    }

    /// The current time in milliseconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        match self {
            Clock::Manual(clock) => clock.now(),
            Clock::System(clock) => clock.now(),
        }
    }

    /// The manual clock behind this handle, if it is one.
    pub fn as_manual(&self) -> Option<&ManualClock> {
        match self {
            Clock::Manual(clock) => Some(clock),
            Clock::System(_) => None,
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(clock: ManualClock) -> Self {
        Clock::Manual(clock)
    }
}

impl From<SystemClock> for Clock {
    fn from(clock: SystemClock) -> Self {
        Clock::System(clock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_sets_and_advances() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now(), 1_000);
        assert_eq!(clock.advance(250), 1_250);
        assert_eq!(clock.now(), 1_250);
        clock.set(10);
        assert_eq!(clock.now(), 10);
    }

    #[test]
    fn clones_of_a_manual_clock_share_time() {
        let clock = ManualClock::new(0);
        let handle: Clock = clock.clone().into();
        clock.advance(42);
        assert_eq!(handle.now(), 42);
        assert!(handle.as_manual().is_some());
    }

    #[test]
    fn system_clock_is_after_2024() {
        // 2024-01-01T00:00:00Z
        assert!(Clock::system().now() > 1_704_067_200_000);
        assert!(Clock::system().as_manual().is_none());
    }
}
