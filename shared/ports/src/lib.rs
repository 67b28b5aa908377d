//! # gasline-ports
//!
//! The capabilities a handler needs, one small trait each, implemented once
//! per platform (Spin, Cloudflare Workers, native). Handlers are written
//! against [`Ports`] and never see which platform they run on.
//!
//! The traits use `async fn` without `Send` bounds: Workers futures are
//! `!Send`, and every platform here runs one request on one thread.

#![allow(async_fn_in_trait)]

use std::sync::Arc;

// Its own tests run in every workspace test run; only the feature builds
// (the hostile end-to-end runs) link it.
#[cfg(any(test, feature = "test-faults"))]
pub mod faults;

/// A value bound to, or read from, SQL (the SQLite storage classes).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One SQL statement with positional parameters (`?1`, `?2`, … or `?`).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Self {
        Self {
            sql: sql.into(),
            params,
        }
    }
}

/// Builds a [`Statement`]: `sql!("SELECT … WHERE id = ?1", id)`.
#[macro_export]
macro_rules! sql {
    ($sql:expr $(, $param:expr)* $(,)?) => {
        $crate::Statement::new($sql, vec![$($crate::Value::from($param)),*])
    };
}

/// One result row; columns are looked up by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The raw value of a column.
    pub fn value(&self, column: &str) -> Result<&Value, StoreError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .map(|i| &self.values[i])
            .ok_or_else(|| StoreError::Backend(format!("no column {column:?} in result")))
    }

    pub fn int(&self, column: &str) -> Result<i64, StoreError> {
        match self.value(column)? {
            Value::Integer(v) => Ok(*v),
            other => Err(type_error(column, "integer", other)),
        }
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.int(column).map(Some),
        }
    }

    pub fn real(&self, column: &str) -> Result<f64, StoreError> {
        match self.value(column)? {
            Value::Real(v) => Ok(*v),
            #[allow(clippy::cast_precision_loss)]
            Value::Integer(v) => Ok(*v as f64),
            other => Err(type_error(column, "real", other)),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, StoreError> {
        match self.value(column)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(type_error(column, "text", other)),
        }
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.text(column).map(Some),
        }
    }
}

fn type_error(column: &str, wanted: &str, got: &Value) -> StoreError {
    StoreError::Backend(format!("column {column:?}: expected {wanted}, got {got:?}"))
}

/// What can go wrong talking to the SQL store.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A constraint refused the batch (a conditional update found nothing to
    /// change, a unique key was taken). Nothing was written. Callers re-read
    /// and decide again; it is not a fault.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store is busy or unreachable; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reported.
    #[error("store error: {0}")]
    Backend(String),
}

/// The SQL database (D1, Spin SQLite, rusqlite). SQLite dialect.
pub trait SqlStore {
    /// Runs one read statement and returns its rows.
    async fn query(&self, statement: Statement) -> Result<Vec<Row>, StoreError>;

    /// Runs several read statements in one round trip (D1: one `batch`
    /// call), answering the rows of each in order. Platforms whose store is
    /// in-process run them one after the other.
    async fn query_many(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>, StoreError> {
        let mut out = Vec::with_capacity(statements.len());
        for statement in statements {
            out.push(self.query(statement).await?);
        }
        Ok(out)
    }

    /// Runs one statement that writes and returns rows (`UPDATE …
    /// RETURNING`), atomically as every single statement is. It is a write
    /// round trip; platforms whose `query` runs any statement need not
    /// override it.
    async fn write_returning(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        self.query(statement).await
    }

    /// Runs the statements as one atomic unit: all take effect or none do.
    /// This is the only atomic unit the handlers assume (D1 has no
    /// interactive transactions).
    async fn batch(&self, statements: Vec<Statement>) -> Result<(), StoreError>;
}

/// A key-value store for hot, disposable data (Workers KV, Spin key-value).
/// Reads may be stale: never keep anything here that must be exact.
pub trait KvStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value`; with `ttl_seconds`, the store may drop it after that long.
    async fn put(&self, key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// A message for the queue: a topic (queue/channel name) and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub body: Vec<u8>,
    /// Deliver no earlier than this many seconds from now.
    pub delay_seconds: u32,
}

/// Why a publish failed. Publishing is always retried later by the outbox
/// sweeper, so the caller only logs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

/// The queue that chains the saga (Cloudflare Queues, Redis pub/sub, the
/// in-process queue).
pub trait Publisher {
    async fn publish(&self, message: Message) -> Result<(), PublishError>;

    /// Whether the queue can be reached now, where that can be asked
    /// without sending a message (Spin: a Redis `PING`). Where it cannot
    /// (Cloudflare Queues), `Ok`: the outbox shows a queue that does not
    /// deliver (`/readyz`, "queue").
    async fn check(&self) -> Result<(), PublishError> {
        Ok(())
    }

    /// Takes `messages` to send once the reply has gone out, where the
    /// platform keeps running after replying (Workers: `ctx.waitUntil`);
    /// gives them back where it cannot, and the caller publishes them now.
    /// Only for messages whose outbox rows are committed: one taken here
    /// and then lost is re-sent by the outbox sweeper.
    fn publish_after_reply(&self, messages: Vec<Message>) -> Result<(), Vec<Message>> {
        Err(messages)
    }
}

/// Outbound HTTP (GIS traffic, remote signer), bounded by a timeout.
pub trait HttpClient {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout_ms: u32,
    ) -> Result<http::Response<Vec<u8>>, HttpError>;
}

/// Why an outbound call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("timed out")]
    Timeout,
    #[error("unreachable: {0}")]
    Unreachable(String),
}

/// Per-caller token buckets ([`gasline_core::limit`]), each advanced in one
/// atomic step of the store that fits the platform: a Durable Object per
/// bucket on Workers, a Lua script in Redis on Spin, memory in-process.
/// The bucket runs on the store's clock, not the caller's: instances whose
/// clocks disagree by more than a burst's worth of time would otherwise
/// refuse each other's requests.
pub trait RateLimiter {
    /// Asks `key`'s bucket for one request under `rate`.
    async fn take(&self, key: &str, rate: Rate) -> Result<Taken, StoreError>;
}

pub use gasline_core::limit::{Rate, Taken};

/// Requests counted per route (`gasline_core::route_stats`), for
/// `/metrics`: totals across every instance of the deployment, as far as
/// the platform's store has them (Workers: each isolate's counts reach D1
/// within seconds; Spin: Redis, at once).
pub trait RouteCounters {
    /// Counts one answered request. Never fails the request: a count that
    /// cannot be kept is lost.
    async fn add(&self, key: RouteKey, tally: Tally);
    /// The totals so far.
    async fn totals(&self) -> Result<std::collections::BTreeMap<RouteKey, Tally>, StoreError>;
}

pub use gasline_core::route_stats::{RouteKey, Tally};

/// Everything a handler may use. One implementation per platform.
pub trait Ports {
    type Sql: SqlStore;
    type Kv: KvStore;
    type Queue: Publisher;
    type Http: HttpClient;
    type Limiter: RateLimiter;
    type Counters: RouteCounters;

    fn sql(&self) -> &Self::Sql;
    fn counters(&self) -> &Self::Counters;
    fn kv(&self) -> &Self::Kv;
    fn limiter(&self) -> &Self::Limiter;
    fn queue(&self) -> &Self::Queue;
    fn http(&self) -> &Self::Http;

    /// Now, in milliseconds since the Unix epoch (UTC).
    fn now(&self) -> i64;

    /// A new unique id (a ULID string: time-ordered, 26 characters).
    fn new_id(&self) -> String;

    /// A new secret for a bearer token: 32 bytes from the platform's
    /// cryptographically secure random source, as 64 lower-case hex digits.
    fn new_secret(&self) -> String;

    /// A secret or configuration variable by name (Spin variable, Workers
    /// secret/var, environment natively). `None` when unset.
    async fn variable(&self, name: &str) -> Option<String>;

    /// Writes one structured log line (`gasline_core::log`): to the
    /// Workers log, to Spin's stdout, to memory natively (tests read it).
    fn log(&self, line: &gasline_core::log::Line);
}
