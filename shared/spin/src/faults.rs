//! Test-only fault injection for the faulty end-to-end run
//! (`cargo xtask test --only e2e-spin`; docs/DEVELOPING.md, "Test-only
//! faults").
//!
//! Compiled in only with the `test-faults` feature, which no production
//! build enables, read from variables only the generated test manifest
//! declares. Without the feature [`Faults`] injects nothing, and the
//! variable names are not in the component at all.

#[cfg(feature = "test-faults")]
pub use injected::{Faults, fails};
#[cfg(not(feature = "test-faults"))]
pub use none::{Faults, fails};

#[cfg(feature = "test-faults")]
mod injected {
    use spin_sdk::variables;

    /// The faults a component was started with.
    pub struct Faults {
        /// `test_drop_publish`: comma-separated topics whose publishes
        /// "succeed" and are lost, as Redis pub/sub can lose them.
        dropped_topics: String,
    }

    impl Faults {
        pub async fn read() -> Self {
            let dropped_topics = variables::get("test_drop_publish").await.unwrap_or_default();
            Self { dropped_topics }
        }

        /// Whether a publish on `topic` is to be lost.
        pub fn drops(&self, topic: &str) -> bool {
            self.dropped_topics.split(',').any(|t| t.trim() == topic)
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
}
