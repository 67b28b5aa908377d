//! Test-only fault injection for the faulty end-to-end run
//! (`cargo xtask test --only e2e-workers`; docs/DEVELOPING.md, "Test-only
//! faults").
//!
//! Compiled in only with the `test-faults` feature, which no production
//! build enables; the faulty run builds its own copies of the Workers with
//! it. Without the feature nothing is injected, and the variable names are
//! not in the Worker at all.

#[cfg(feature = "test-faults")]
pub use injected::{drops, fails};
#[cfg(not(feature = "test-faults"))]
pub use none::{drops, fails};

#[cfg(feature = "test-faults")]
mod injected {
    use worker::{Env, console_warn};

    fn variable(env: &Env, name: &str) -> String {
        env.var(name).map(|v| v.to_string()).unwrap_or_default()
    }

    /// Whether a publish on `topic` is to "succeed" and be lost, as Redis
    /// pub/sub can lose it (`test_drop_publish`: comma-separated topics);
    /// only the outbox sweeper can recover it.
    pub fn drops(env: &Env, topic: &str) -> bool {
        variable(env, "test_drop_publish").split(',').any(|t| t.trim() == topic)
    }

    /// Whether `consumer` is to ask for a retry of every message, as a
    /// broken deployment would (`test_fail_consumer`).
    pub fn fails(env: &Env, consumer: &str) -> bool {
        let fails = variable(env, "test_fail_consumer") == consumer;
        if fails {
            console_warn!("gasline: {consumer}: failing on purpose (test_fail_consumer)");
        }
        fails
    }
}

#[cfg(not(feature = "test-faults"))]
mod none {
    use worker::Env;

    pub fn drops(_env: &Env, _topic: &str) -> bool {
        false
    }

    pub fn fails(_env: &Env, _consumer: &str) -> bool {
        false
    }
}
