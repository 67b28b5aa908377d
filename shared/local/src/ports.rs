//! The ports the local system hands to handlers: the native adapters, with
//! SQL access that yields to other handlers before every statement. Handlers
//! running together on one thread therefore interleave at each await, the way
//! concurrent invocations interleave on a real platform — so the conditional
//! updates and version checks are exercised by real races, not just by
//! sequential runs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use gasline_native::{FaultyQueue, MemoryKv, NativeServices, ScriptedHttp, SqliteStore};
use gasline_ports::{Ports, Row, SqlStore, Statement, StoreError};

/// Returns `Pending` once (waking itself), letting sibling futures run.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// SQLite behind a yield point.
#[derive(Debug, Clone, Copy)]
pub struct InterleavedSql<'a> {
    inner: &'a SqliteStore,
}

impl SqlStore for InterleavedSql<'_> {
    async fn query(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        YieldNow(false).await;
        self.inner.query(statement).await
    }

    async fn query_many(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>, StoreError> {
        YieldNow(false).await;
        self.inner.query_many(statements).await
    }

    async fn write_returning(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        YieldNow(false).await;
        self.inner.write_returning(statement).await
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
        YieldNow(false).await;
        self.inner.batch(statements).await
    }
}

/// [`Ports`] for handlers run by the local system.
#[derive(Debug, Clone, Copy)]
pub struct LocalPorts<'a> {
    services: &'a NativeServices,
    sql: InterleavedSql<'a>,
    /// How far this invocation's clock is off (ms).
    skew_ms: i64,
}

impl<'a> LocalPorts<'a> {
    pub fn new(services: &'a NativeServices) -> Self {
        Self::skewed(services, 0)
    }

    /// Ports whose clock reads `skew_ms` off the system's.
    pub fn skewed(services: &'a NativeServices, skew_ms: i64) -> Self {
        Self {
            services,
            sql: InterleavedSql { inner: &services.sql },
            skew_ms,
        }
    }
}

impl<'a> Ports for LocalPorts<'a> {
    type Sql = InterleavedSql<'a>;
    type Kv = MemoryKv;
    type Queue = FaultyQueue;
    type Http = ScriptedHttp;
    type Limiter = gasline_native::MemoryLimiter;
    type Counters = gasline_native::MemoryCounters;

    fn sql(&self) -> &InterleavedSql<'a> {
        &self.sql
    }

    fn counters(&self) -> &gasline_native::MemoryCounters {
        &self.services.counters
    }

    fn limiter(&self) -> &gasline_native::MemoryLimiter {
        &self.services.limiter
    }

    fn kv(&self) -> &MemoryKv {
        &self.services.kv
    }

    fn queue(&self) -> &FaultyQueue {
        &self.services.queue
    }

    fn http(&self) -> &ScriptedHttp {
        &self.services.http
    }

    fn now(&self) -> i64 {
        self.services.clock.now() + self.skew_ms
    }

    fn new_id(&self) -> String {
        self.services.ids.next_id()
    }

    /// Two ids' worth of the seeded generator: reproducible runs, not
    /// production secrets (this adapter serves tests and the simulator).
    fn new_secret(&self) -> String {
        self.services.ids.next_secret()
    }

    async fn variable(&self, name: &str) -> Option<String> {
        self.services.variables.get(name)
    }

    fn log(&self, line: &gasline_core::log::Line) {
        self.services.log.write(line);
    }
}
