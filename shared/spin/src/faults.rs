//! Test-only fault injection for the faulty end-to-end run
//! (`cargo xtask test --only e2e-spin`; docs/DEVELOPING.md, "Test-only
//! faults").
//!
//! Compiled in only with the `test-faults` feature, which no production
//! build enables, read from variables only the generated test manifest
//! declares. Without the feature [`Faults`] injects nothing, and the
//! variable names are not in the component at all.

#[cfg(feature = "test-faults")]
pub use injected::{Faults, SqlOutage, fails};
#[cfg(not(feature = "test-faults"))]
pub use none::{Faults, SqlOutage, fails};

#[cfg(feature = "test-faults")]
mod injected {
    use gasline_ports::faults::{Outage, share};
    use spin_sdk::variables;

    async fn variable(name: &str) -> String {
        variables::get(name).await.unwrap_or_default()
    }

    /// The faults a component was started with.
    pub struct Faults {
        /// `test_drop_publish`: comma-separated topics whose publishes
        /// "succeed" and are lost, as Redis pub/sub can lose them.
        dropped_topics: String,
        /// `test_drop_share`: the share (0 to 1) of all publishes lost so.
        drop_share: f64,
    }

    impl Faults {
        pub async fn read() -> Self {
            Self {
                dropped_topics: variable("test_drop_publish").await,
                drop_share: share(&variable("test_drop_share").await),
            }
        }

        /// Whether a publish on `topic` is to be lost.
        pub fn drops(&self, topic: &str) -> bool {
            self.dropped_topics.split(',').any(|t| t.trim() == topic)
                || (self.drop_share > 0.0 && random_share() < self.drop_share)
        }
    }

    /// A uniform draw in `[0, 1)`.
    fn random_share() -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let draw = (spin_sdk::wasip3::random::random::get_random_u64() >> 11) as f64;
        draw / (1u64 << 53) as f64
    }

    /// When SQL writes fail (`test_sql_outage`, `"<down ms>/<every ms>"`).
    pub struct SqlOutage(Option<Outage>);

    impl SqlOutage {
        pub async fn read() -> Self {
            Self(Outage::parse(&variable("test_sql_outage").await))
        }

        pub fn is_down(&self, now: i64) -> bool {
            self.0.is_some_and(|outage| outage.is_down(now))
        }
    }

    /// Whether `consumer` is to fail every message, as a broken deployment
    /// would (`test_fail_consumer`).
    pub async fn fails(consumer: &str) -> bool {
        let fails = variables::get("test_fail_consumer").await.is_ok_and(|c| c == consumer);
        if fails {
            eprintln!("gasline: {consumer}: failing on purpose (test_fail_consumer)");
        }
        fails
    }
}

#[cfg(not(feature = "test-faults"))]
mod none {
    /// No faults: a production build.
    pub struct Faults;

    impl Faults {
        pub async fn read() -> Self {
            Self
        }

        pub fn drops(&self, _topic: &str) -> bool {
            false
        }
    }

    pub async fn fails(_consumer: &str) -> bool {
        false
    }

    pub struct SqlOutage;

    impl SqlOutage {
        pub async fn read() -> Self {
            Self
        }

        pub fn is_down(&self, _now: i64) -> bool {
            false
        }
    }
}
