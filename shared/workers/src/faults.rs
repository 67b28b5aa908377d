//! Test-only fault injection for the faulty end-to-end run
//! (`cargo xtask test --only e2e-workers`; docs/DEVELOPING.md, "Test-only
//! faults").
//!
//! Compiled in only with the `test-faults` feature, which no production
//! build enables; the faulty run builds its own copies of the Workers with
//! it. Without the feature nothing is injected, and the variable names are
//! not in the Worker at all.

#[cfg(feature = "test-faults")]
pub use injected::{SqlOutage, drops, fails, lost};
#[cfg(not(feature = "test-faults"))]
pub use none::{SqlOutage, drops, fails, lost};

#[cfg(feature = "test-faults")]
mod injected {
    use gasline_ports::faults::{Outage, share};
    use worker::js_sys::Math;
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

    /// Whether this publish is to "succeed" and be lost, as a share of all
    /// of them (`test_drop_share`, 0 to 1).
    pub fn lost(env: &Env) -> bool {
        let share = share(&variable(env, "test_drop_share"));
        share > 0.0 && Math::random() < share
    }

    /// When SQL writes fail (`test_sql_outage`, `"<down ms>/<every ms>"`).
    pub struct SqlOutage(Option<Outage>);

    impl SqlOutage {
        pub fn read(env: &Env) -> Self {
            Self(Outage::parse(&variable(env, "test_sql_outage")))
        }

        pub fn is_down(&self, now: i64) -> bool {
            self.0.is_some_and(|outage| outage.is_down(now))
        }
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

    pub fn lost(_env: &Env) -> bool {
        false
    }

    pub struct SqlOutage;

    impl SqlOutage {
        pub fn read(_env: &Env) -> Self {
            Self
        }

        pub fn is_down(&self, _now: i64) -> bool {
            false
        }
    }
}
