//! The circuit-breaker policy for outside systems (GIS today; the remote
//! signer and webhooks later), as a pure value: callers keep its state
//! wherever suits them (the key-value store for GIS) and ask it whether a
//! call may go out and what a result does to it.

use crate::Millis;

/// A breaker's state: consecutive failures, and until when it is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breaker {
    pub failures: u32,
    /// While `now` is before this, no call goes out (fallback only).
    pub open_until: Option<Millis>,
}

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive failures that open it.
    pub failures_to_open: u32,
    /// How long it then stays open (ms).
    pub open_ms: Millis,
}

impl Breaker {
    /// May a call go out now? Closed, or open but past its time (half-open:
    /// the next call decides).
    pub fn allows(&self, now: Millis) -> bool {
        self.open_until.is_none_or(|until| until <= now)
    }

    /// The state after a call that succeeded (`ok`) or failed at `now`.
    /// A success closes it; the failure that reaches the limit opens it for
    /// `open_ms` and starts the count again.
    pub fn after(self, ok: bool, now: Millis, policy: Policy) -> Breaker {
        if ok {
            return Breaker::default();
        }
        let failures = self.failures.saturating_add(1);
        if failures >= policy.failures_to_open {
            Breaker {
                failures: 0,
                open_until: Some(now + policy.open_ms),
            }
        } else {
            Breaker { failures, ..self }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        failures_to_open: 3,
        open_ms: 30_000,
    };

    #[test]
    fn opens_after_the_limit_and_half_opens_after_its_time() {
        let mut b = Breaker::default();
        assert!(b.allows(0));
        b = b.after(false, 1, POLICY).after(false, 2, POLICY);
        assert_eq!(b.failures, 2);
        assert!(b.allows(2));
        b = b.after(false, 3, POLICY);
        assert_eq!(b.open_until, Some(30_003));
        assert!(!b.allows(30_002));
        assert!(b.allows(30_003));
        assert_eq!(b.after(true, 30_004, POLICY), Breaker::default());
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::default().after(false, 1, POLICY).after(true, 2, POLICY);
        assert_eq!(b.after(false, 3, POLICY).failures, 1);
    }
}
