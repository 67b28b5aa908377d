//! # gasline-native
//!
//! Native adapters for the Gasline ports, for tests and simulation: the same
//! handler code that runs on Spin and Cloudflare Workers runs here against
//!
//! - [`SqliteStore`]: SQLite via rusqlite (bundled), with the project's
//!   `infra/migrations/` embedded at compile time and applied like
//!   `wrangler d1 migrations apply` ([`SqliteStore::migrate`]);
//! - [`MemoryKv`]: an in-memory key-value store with TTL;
//! - [`MemoryLimiter`]: rate-limit buckets in memory;
//! - [`FaultyQueue`]: an in-process queue that duplicates, drops, fails and
//!   reorders messages reproducibly from a seed ([`Faults`]);
//! - [`ScriptedHttp`]: canned outbound HTTP answers, with requests recorded;
//! - [`ManualClock`] / [`SystemClock`] behind [`Clock`], and [`SeededIds`]
//!   for reproducible ULIDs;
//! - [`NativeVariables`] for configuration and secrets;
//! - [`NativePorts`], which bundles references to all of the above as a
//!   [`gasline_ports::Ports`], and [`NativeServices`], which owns one of each.
//!
//! Everything is synchronous underneath: the port futures complete on their
//! first poll, so `futures::executor::block_on` drives them. Every adapter
//! takes `&self` and is `Send + Sync` (a mutex inside), so one instance can
//! be shared between the publishing side and the driver of a simulation.

pub mod clock;
pub mod counters;
pub mod http_client;
pub mod ids;
pub mod kv;
pub mod limiter;
pub mod log;
pub mod ports;
pub mod queue;
pub mod rng;
pub mod sqlite;
pub mod variables;

pub use clock::{Clock, ManualClock, SystemClock};
pub use counters::MemoryCounters;
pub use http_client::{HttpResult, RecordedRequest, ScriptedHttp, json_response};
pub use ids::SeededIds;
pub use kv::MemoryKv;
pub use limiter::MemoryLimiter;
pub use log::MemoryLog;
pub use ports::{NativePorts, NativeServices};
pub use queue::{Delivery, Faults, FaultyQueue, QueueStats};
pub use rng::SeededRng;
pub use sqlite::{MIGRATIONS, MIGRATIONS_TABLE, MigrationError, RoundTrips, SqliteStore};
pub use variables::NativeVariables;

#[cfg(test)]
mod tests {
    use super::*;

    /// The adapters are shared between a publishing side and a driver,
    /// possibly on different threads.
    #[test]
    fn adapters_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SqliteStore>();
        assert_send_sync::<MemoryKv>();
        assert_send_sync::<MemoryLimiter>();
        assert_send_sync::<FaultyQueue>();
        assert_send_sync::<ScriptedHttp>();
        assert_send_sync::<SeededIds>();
        assert_send_sync::<NativeVariables>();
        assert_send_sync::<Clock>();
        assert_send_sync::<NativeServices>();
        assert_send_sync::<NativePorts<'static>>();
    }
}
