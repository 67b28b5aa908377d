//! The native [`Ports`]: references to the native adapters bundled so that
//! the same handler code that runs on Spin and Workers runs in tests and in
//! the simulator. [`NativeServices`] owns one of each and lends them out.

use gasline_ports::Ports;

use crate::clock::{Clock, ManualClock};
use crate::counters::MemoryCounters;
use crate::http_client::ScriptedHttp;
use crate::ids::SeededIds;
use crate::kv::MemoryKv;
use crate::limiter::MemoryLimiter;
use crate::log::MemoryLog;
use crate::queue::{Faults, FaultyQueue};
use crate::sqlite::SqliteStore;
use crate::variables::NativeVariables;

/// [`Ports`] over borrowed native adapters. Cheap to copy; build one per
/// handler call or keep one around.
#[derive(Debug, Clone, Copy)]
pub struct NativePorts<'a> {
    /// The SQL store.
    pub sql: &'a SqliteStore,
    /// The key-value store.
    pub kv: &'a MemoryKv,
    /// The queue that `publish` writes to.
    pub queue: &'a FaultyQueue,
    /// Outbound HTTP.
    pub http: &'a ScriptedHttp,
    /// Where `now()` comes from.
    pub clock: &'a Clock,
    /// Where `new_id()` comes from.
    pub ids: &'a SeededIds,
    /// Where `variable()` looks.
    pub variables: &'a NativeVariables,
    /// The rate limits' buckets.
    pub limiter: &'a MemoryLimiter,
    /// Where log lines go.
    pub log: &'a MemoryLog,
    /// Requests counted per route.
    pub counters: &'a MemoryCounters,
}

impl Ports for NativePorts<'_> {
    type Sql = SqliteStore;
    type Kv = MemoryKv;
    type Queue = FaultyQueue;
    type Http = ScriptedHttp;
    type Limiter = MemoryLimiter;
    type Counters = MemoryCounters;

    fn sql(&self) -> &SqliteStore {
        self.sql
    }

    fn counters(&self) -> &MemoryCounters {
        self.counters
    }

    fn limiter(&self) -> &MemoryLimiter {
        self.limiter
    }

    fn kv(&self) -> &MemoryKv {
        self.kv
    }

    fn queue(&self) -> &FaultyQueue {
        self.queue
    }

    fn http(&self) -> &ScriptedHttp {
        self.http
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn new_id(&self) -> String {
        self.ids.next_id()
    }

    /// Two ids' worth of the seeded generator: reproducible runs, not
    /// production secrets (this adapter serves tests and the simulator).
    fn new_secret(&self) -> String {
        self.ids.next_secret()
    }

    fn log(&self, line: &gasline_core::log::Line) {
        self.log.write(line);
    }

    async fn variable(&self, name: &str) -> Option<String> {
        self.variables.get(name)
    }
}

/// One of each native adapter, all on the same clock. The fields are public
/// so a test can script HTTP, set variables, drive the queue or seed SQL.
#[derive(Debug)]
pub struct NativeServices {
    /// The SQL store (migrated by [`NativeServices::in_memory`]).
    pub sql: SqliteStore,
    /// The key-value store.
    pub kv: MemoryKv,
    /// The faulty queue.
    pub queue: FaultyQueue,
    /// Scripted outbound HTTP.
    pub http: ScriptedHttp,
    /// The shared clock.
    pub clock: Clock,
    /// The id generator.
    pub ids: SeededIds,
    /// The variables.
    pub variables: NativeVariables,
    /// The rate limits' buckets, shared by every handler call.
    pub limiter: MemoryLimiter,
    /// The log lines written.
    pub log: MemoryLog,
    /// Requests counted per route.
    pub counters: MemoryCounters,
}

impl NativeServices {
    /// A simulated world: an in-memory SQLite database with every embedded
    /// migration applied, a manual clock at `start_ms`, and a queue and id
    /// generator seeded from `seed`.
    ///
    /// # Panics
    /// When SQLite cannot be opened or a migration fails (a broken
    /// migration must stop the tests loudly), or when `faults` holds a
    /// probability outside `[0, 1]`.
    pub fn in_memory(seed: u64, faults: Faults, start_ms: i64) -> Self {
        let clock = Clock::manual(start_ms);
        let sql = SqliteStore::memory().expect("open in-memory SQLite");
        if let Err(error) = sql.migrate() {
            panic!("{error}");
        }
        Self {
            sql,
            kv: MemoryKv::new(clock.clone()),
            // Different streams for the queue and the ids, both from `seed`.
            queue: FaultyQueue::new(clock.clone(), seed, faults),
            ids: SeededIds::new(clock.clone(), seed ^ 0x5EED_1D5E_ED1D_5EED),
            http: ScriptedHttp::new(),
            variables: NativeVariables::new(),
            limiter: MemoryLimiter::new(clock.clone()),
            log: MemoryLog::default(),
            counters: MemoryCounters::default(),
            clock,
        }
    }

    /// The manual clock, to advance simulated time.
    ///
    /// # Panics
    /// Never for services built by [`in_memory`](Self::in_memory); a caller
    /// that put a system clock in `clock` gets a panic.
    pub fn manual_clock(&self) -> &ManualClock {
        self.clock
            .as_manual()
            .expect("NativeServices built with a manual clock")
    }

    /// The ports over these services, for handler calls.
    pub fn ports(&self) -> NativePorts<'_> {
        NativePorts {
            sql: &self.sql,
            kv: &self.kv,
            queue: &self.queue,
            http: &self.http,
            clock: &self.clock,
            ids: &self.ids,
            variables: &self.variables,
            limiter: &self.limiter,
            log: &self.log,
            counters: &self.counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use gasline_ports::{HttpClient, KvStore, Message, Publisher, SqlStore, sql};

    /// A handler written only against the port traits, as functions are.
    async fn record_and_announce(ports: &impl Ports, body: &str) -> String {
        let id = ports.new_id();
        ports
            .sql()
            .batch(vec![
                sql!("CREATE TABLE IF NOT EXISTS note (id TEXT PRIMARY KEY, at INTEGER)"),
                sql!("INSERT INTO note VALUES (?1, ?2)", id.clone(), ports.now()),
            ])
            .await
            .unwrap();
        ports.kv().put(&id, body.as_bytes(), Some(60)).await.unwrap();
        ports
            .queue()
            .publish(Message {
                topic: "note.created".to_owned(),
                body: id.as_bytes().to_vec(),
                delay_seconds: 0,
            })
            .await
            .unwrap();
        id
    }

    #[test]
    fn a_port_generic_handler_runs_on_native_services() {
        let services = NativeServices::in_memory(7, Faults::none(), 1_700_000_000_000);
        services.variables.set("region", "sh");
        let ports = services.ports();

        let id = block_on(record_and_announce(&ports, "hello"));
        assert_eq!(id.len(), 26);
        assert_eq!(block_on(ports.variable("region")).as_deref(), Some("sh"));
        assert_eq!(block_on(ports.variable("unset")), None);

        let rows = block_on(
            services
                .sql
                .query(sql!("SELECT at FROM note WHERE id = ?1", id.clone())),
        )
        .unwrap();
        assert_eq!(rows[0].int("at").unwrap(), 1_700_000_000_000);
        let delivery = services.queue.pop_due(services.clock.now()).unwrap();
        assert_eq!(delivery.message.body, id.as_bytes());

        services.manual_clock().advance(60_000);
        assert_eq!(ports.now(), 1_700_000_060_000);
        assert_eq!(
            block_on(ports.kv().get(&id)).unwrap(),
            None,
            "the KV entry expired with the shared clock"
        );
        assert!(block_on(ports.http().send(http::Request::new(Vec::new()), 100)).is_err());
    }

    #[test]
    fn in_memory_applies_the_embedded_migrations() {
        let services = NativeServices::in_memory(1, Faults::none(), 0);
        let applied = services.sql.applied_migrations().unwrap();
        let embedded: Vec<&str> = crate::sqlite::MIGRATIONS.iter().map(|(name, _)| *name).collect();
        assert_eq!(applied, embedded);
    }
}
