//! The ports over Spin's host interfaces, and the entrypoint glue.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::{Either, select};
use gasline_core::event::Consumer;
use gasline_core::route_stats::{from_stored, merge, stored_name};
use gasline_ports::{
    HttpClient, HttpError, KvStore, Message, Ports, PublishError, Publisher, Rate, RateLimiter, RouteCounters,
    RouteKey, Row, SqlStore, Statement, StoreError, Taken, Tally, Value,
};
use gasline_store::consume::Outcome;
use spin_sdk::http::body::IncomingBodyExt as _;
use spin_sdk::sqlite::{self, Connection};
use spin_sdk::{key_value, redis, variables};

use crate::faults::{self, Faults};
use crate::{decode_expiring, encode_expiring};

/// A database error as the store sees it. A missing table or column means
/// the schema is behind this build (instances do not migrate on their
/// own): unavailable until someone migrates, said plainly in the log.
fn classify(error: sqlite::Error) -> StoreError {
    let message = format!("{error:?}");
    let lower = message.to_ascii_lowercase();
    if lower.contains("constraint failed") {
        StoreError::Conflict(message)
    } else if lower.contains("no such table") || lower.contains("no such column") {
        eprintln!(
            "gasline: the database schema is behind this build ({message}); apply the migrations: \
             `gasline migrate --sqlite FILE`, or POST /v1/ops/migrate once a schema exists (docs/SPIN.md)"
        );
        StoreError::Unavailable(message)
    } else if lower.contains("busy") || lower.contains("locked") {
        StoreError::Unavailable(message)
    } else {
        StoreError::Backend(message)
    }
}

fn to_spin(value: Value) -> sqlite::Value {
    match value {
        Value::Null => sqlite::Value::Null,
        Value::Integer(i) => sqlite::Value::Integer(i),
        Value::Real(f) => sqlite::Value::Real(f),
        Value::Text(s) => sqlite::Value::Text(s),
        Value::Blob(b) => sqlite::Value::Blob(b),
    }
}

fn from_spin(value: &sqlite::Value) -> Value {
    match value {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(i) => Value::Integer(*i),
        sqlite::Value::Real(f) => Value::Real(*f),
        sqlite::Value::Text(s) => Value::Text(s.clone()),
        sqlite::Value::Blob(b) => Value::Blob(b.clone()),
    }
}

/// Spin SQLite as the SQL port. A batch runs in one `BEGIN IMMEDIATE …
/// COMMIT` transaction on the component's connection.
pub struct SpinSql(Connection, faults::SqlOutage);

impl SpinSql {
    /// The injected outage's refusal of a write, when one is on (never in
    /// a production build).
    fn refuse_writes(&self) -> Result<(), StoreError> {
        if self.1.is_down(now_ms()) {
            return Err(StoreError::Unavailable("test fault: SQL writes are down".into()));
        }
        Ok(())
    }

    async fn run(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let mut result = self
            .0
            .execute(sql, params.into_iter().map(to_spin))
            .await
            .map_err(classify)?;
        let columns: Arc<[String]> = Arc::from(result.columns().to_vec());
        let mut rows = Vec::new();
        while let Some(row) = result.next().await {
            rows.push(Row::new(columns.clone(), row.values.iter().map(from_spin).collect()));
        }
        // Errors surface only here: never skip it.
        result.result().await.map_err(classify)?;
        Ok(rows)
    }
}

impl SqlStore for SpinSql {
    async fn query(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        self.run(&statement.sql, statement.params).await
    }

    async fn write_returning(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        self.refuse_writes()?;
        self.query(statement).await
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
        self.refuse_writes()?;
        self.run("BEGIN IMMEDIATE", Vec::new()).await?;
        for statement in statements {
            if let Err(error) = self.run(&statement.sql, statement.params).await {
                let _ = self.run("ROLLBACK", Vec::new()).await;
                return Err(error);
            }
        }
        if let Err(error) = self.run("COMMIT", Vec::new()).await {
            let _ = self.run("ROLLBACK", Vec::new()).await;
            return Err(error);
        }
        Ok(())
    }
}

/// Spin key-value as the KV port, with expiry kept in the value.
pub struct SpinKv(key_value::Store);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl KvStore for SpinKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let stored = self
            .0
            .get(key)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{e:?}")))?;
        Ok(stored.and_then(|s| decode_expiring(&s, now_ms()).map(<[u8]>::to_vec)))
    }

    async fn put(&self, key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), StoreError> {
        let expires_at = ttl_seconds.map_or(0, |ttl| now_ms() + i64::from(ttl) * 1000);
        self.0
            .set(key, encode_expiring(value, expires_at))
            .await
            .map_err(|e| StoreError::Unavailable(format!("{e:?}")))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0
            .delete(key)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{e:?}")))
    }
}

/// A connection to the application's Redis (`redis_address`).
async fn open_redis(address: Option<&str>) -> Result<redis::Connection, String> {
    let address = address.ok_or("redis_address is not set")?;
    redis::Connection::open(address).await.map_err(|e| format!("{e:?}"))
}

/// Redis pub/sub as the publisher: one channel per event topic.
pub struct SpinRedis {
    address: Option<String>,
    faults: Faults,
}

impl Publisher for SpinRedis {
    async fn check(&self) -> Result<(), PublishError> {
        let connection = open_redis(self.address.as_deref()).await.map_err(PublishError)?;
        match connection.execute("PING", []).await {
            Ok(reply) if reply == [redis::RedisResult::Status("PONG".into())] => Ok(()),
            Ok(reply) => Err(PublishError(format!("PING answered {reply:?}"))),
            Err(e) => Err(PublishError(format!("{e:?}"))),
        }
    }

    async fn publish(&self, message: Message) -> Result<(), PublishError> {
        if self.faults.drops(&message.topic) {
            return Ok(());
        }
        if message.delay_seconds > 0 {
            // Pub/sub cannot delay: leave it in the outbox for the sweeper.
            return Err(PublishError("delayed events are sent by the sweeper when due".into()));
        }
        let connection = open_redis(self.address.as_deref()).await.map_err(PublishError)?;
        connection
            .publish(&message.topic, &message.body)
            .await
            .map_err(|e| PublishError(format!("{e:?}")))
    }
}

/// Outbound HTTP, raced against a timer.
pub struct SpinHttp;

impl HttpClient for SpinHttp {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout_ms: u32,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, spin_sdk::http::FullBody::new(bytes::Bytes::from(body)));
        let call = Box::pin(async move {
            let response = spin_sdk::http::send(request)
                .await
                .map_err(|e| HttpError::Unreachable(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let bytes = body
                .bytes()
                .await
                .map_err(|e| HttpError::Unreachable(format!("{e:?}")))?;
            Ok(http::Response::from_parts(parts, bytes.to_vec()))
        });
        let timer = Box::pin(spin_sdk::time::sleep(std::time::Duration::from_millis(u64::from(
            timeout_ms,
        ))));
        match select(call, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(HttpError::Timeout),
        }
    }
}

/// Rate-limit buckets in Redis (the one store every Spin instance of the
/// application shares, already there for the saga's bell): each step is
/// one `EVAL` of `bucket/step.lua`, the core's [`gasline_core::limit::take`]
/// written for Redis, on Redis's clock (`bucket/clock.lua`), so concurrent
/// instances cannot both spend the last request, nor disagree about the
/// time. A test runs the step against the core's function on a real Redis
/// (`tests/spin-host/tests/bucket.rs`).
pub struct SpinLimiter {
    address: Option<String>,
}

/// The script's text, sent with every call (Redis keeps it compiled).
pub const BUCKET_SCRIPT: &str = concat!(include_str!("bucket/clock.lua"), include_str!("bucket/step.lua"));

impl RateLimiter for SpinLimiter {
    async fn take(&self, key: &str, rate: Rate) -> Result<Taken, StoreError> {
        let unavailable = |e: String| StoreError::Unavailable(format!("rate limiter: {e}"));
        let connection = open_redis(self.address.as_deref()).await.map_err(unavailable)?;
        let arguments = [
            redis::RedisParameter::Binary(BUCKET_SCRIPT.as_bytes().to_vec()),
            redis::RedisParameter::Int64(1),
            redis::RedisParameter::Binary(format!("gasline:rate:{key}").into_bytes()),
            redis::RedisParameter::Int64(rate.interval_ms()),
            redis::RedisParameter::Int64(rate.tolerance_ms()),
        ];
        let answer = connection
            .execute("EVAL", arguments)
            .await
            .map_err(|e| unavailable(format!("{e:?}")))?;
        match answer.as_slice() {
            [redis::RedisResult::Int64(1), redis::RedisResult::Int64(tat)] => Ok(Taken::Allowed { tat: *tat }),
            [redis::RedisResult::Int64(0), redis::RedisResult::Int64(ms)] => Ok(Taken::Limited { retry_after_ms: *ms }),
            other => Err(StoreError::Backend(format!("rate limiter answered {other:?}"))),
        }
    }
}

/// Route counters on Spin, in Redis: a Spin instance serves one request,
/// so there is nothing to gather in memory. Each request adds itself with
/// one `EVAL` (`counters/add.lua`: a hash per method, route and class,
/// listed in one set); `/metrics` reads them all with one more
/// (`counters/totals.lua`).
pub struct SpinCounters {
    address: Option<String>,
}

const COUNTS_SET: &str = "gasline:requests";
const ADD_SCRIPT: &str = include_str!("counters/add.lua");
const TOTALS_SCRIPT: &str = include_str!("counters/totals.lua");

impl RouteCounters for SpinCounters {
    async fn add(&self, key: RouteKey, tally: Tally) {
        let Ok(connection) = open_redis(self.address.as_deref()).await else {
            return;
        };
        let bucket = tally.buckets.iter().position(|n| *n > 0).map_or(-1, |i| i as i64);
        let hash = format!("{COUNTS_SET}:{}", stored_name(&key));
        let arguments = [
            redis::RedisParameter::Binary(ADD_SCRIPT.as_bytes().to_vec()),
            redis::RedisParameter::Int64(2),
            redis::RedisParameter::Binary(hash.into_bytes()),
            redis::RedisParameter::Binary(COUNTS_SET.as_bytes().to_vec()),
            redis::RedisParameter::Int64(i64::try_from(tally.sum_ms).unwrap_or(i64::MAX)),
            redis::RedisParameter::Int64(bucket),
        ];
        let _ = connection.execute("EVAL", arguments).await;
    }

    async fn totals(&self) -> Result<BTreeMap<RouteKey, Tally>, StoreError> {
        let unavailable = |e: String| StoreError::Unavailable(format!("route counters: {e}"));
        let connection = open_redis(self.address.as_deref()).await.map_err(unavailable)?;
        let arguments = [
            redis::RedisParameter::Binary(TOTALS_SCRIPT.as_bytes().to_vec()),
            redis::RedisParameter::Int64(1),
            redis::RedisParameter::Binary(COUNTS_SET.as_bytes().to_vec()),
        ];
        let answer = connection
            .execute("EVAL", arguments)
            .await
            .map_err(|e| unavailable(format!("{e:?}")))?;
        let mut totals = BTreeMap::new();
        let prefix = format!("{COUNTS_SET}:");
        for entry in answer.chunks(12) {
            let [redis::RedisResult::Binary(name), numbers @ ..] = entry else {
                return Err(StoreError::Backend(format!("route counters answered {entry:?}")));
            };
            let numbers: Vec<u64> = numbers
                .iter()
                .map(|n| match n {
                    redis::RedisResult::Int64(n) => u64::try_from(*n).unwrap_or(0),
                    _ => 0,
                })
                .collect();
            let name = String::from_utf8_lossy(name);
            if let Some((key, tally)) = from_stored(name.strip_prefix(&prefix).unwrap_or_default(), &numbers) {
                merge(&mut totals, key, &tally);
            }
        }
        Ok(totals)
    }
}

/// Everything a handler may use, over one Spin component instance.
pub struct SpinPorts {
    sql: SpinSql,
    kv: SpinKv,
    queue: SpinRedis,
    http: SpinHttp,
    limiter: SpinLimiter,
    counters: SpinCounters,
}

impl SpinPorts {
    /// Opens the default SQLite database and the default key-value store.
    /// Nothing here checks or migrates the schema: that is a deployment
    /// step (`gasline migrate`, `POST /v1/ops/migrate`; docs/SPIN.md), and
    /// a schema that is behind shows as a clear error where a statement
    /// meets it (`classify`).
    pub async fn open() -> Result<Self, String> {
        let sql = SpinSql(
            Connection::open_default().await.map_err(|e| format!("sqlite: {e:?}"))?,
            faults::SqlOutage::read().await,
        );
        let kv = key_value::Store::open_default()
            .await
            .map_err(|e| format!("key-value: {e:?}"))?;
        let address = variables::get("redis_address").await.ok().filter(|a| !a.is_empty());
        Ok(Self {
            sql,
            kv: SpinKv(kv),
            limiter: SpinLimiter {
                address: address.clone(),
            },
            counters: SpinCounters {
                address: address.clone(),
            },
            queue: SpinRedis {
                address,
                faults: Faults::read().await,
            },
            http: SpinHttp,
        })
    }
}

impl Ports for SpinPorts {
    type Sql = SpinSql;
    type Kv = SpinKv;
    type Queue = SpinRedis;
    type Http = SpinHttp;
    type Limiter = SpinLimiter;
    type Counters = SpinCounters;

    fn sql(&self) -> &SpinSql {
        &self.sql
    }

    fn counters(&self) -> &SpinCounters {
        &self.counters
    }

    /// To stdout, which Spin keeps per component (`.spin/logs/`, or the
    /// platform's log collector), one JSON object per line.
    fn log(&self, line: &gasline_core::log::Line) {
        println!("{}", line.render());
    }

    fn limiter(&self) -> &SpinLimiter {
        &self.limiter
    }

    fn kv(&self) -> &SpinKv {
        &self.kv
    }

    fn queue(&self) -> &SpinRedis {
        &self.queue
    }

    fn http(&self) -> &SpinHttp {
        &self.http
    }

    fn now(&self) -> i64 {
        now_ms()
    }

    fn new_id(&self) -> String {
        let random = spin_sdk::wasip3::random::random::get_random_u64();
        let more = spin_sdk::wasip3::random::random::get_random_u64();
        let bits = (u128::from(random) << 16) | u128::from(more & 0xffff);
        ulid::Ulid::from_parts(u64::try_from(now_ms()).unwrap_or(0), bits).to_string()
    }

    fn new_secret(&self) -> String {
        (0..4)
            .map(|_| format!("{:016x}", spin_sdk::wasip3::random::random::get_random_u64()))
            .collect()
    }

    /// Spin variables are lower snake case, as ours are.
    async fn variable(&self, name: &str) -> Option<String> {
        variables::get(name).await.ok()
    }
}

/// Opens the ports and admits a Spin request ([`admit`], with the
/// deployment's body limit); on failure, the response to send instead.
pub async fn accept(
    request: spin_sdk::http::Request,
) -> Result<(gasline_http::Call, SpinPorts), gasline_http::Response> {
    let unavailable = |cause: String| {
        eprintln!("gasline: {cause}");
        gasline_http::Problem::unavailable().into_response()
    };
    let ports = SpinPorts::open()
        .await
        .map_err(|cause| unavailable(cause.to_string()))?;
    let config = gasline_store::config(&ports).await.map_err(unavailable)?;
    Ok((admit(request, config.max_body_bytes).await?, ports))
}

/// Admits a Spin request ([`gasline_http::admit_head`]: a declared body
/// over the route's limit is refused before it is read), then its body;
/// on refusal, the response to send instead.
pub async fn admit(
    request: spin_sdk::http::Request,
    configured_max: usize,
) -> Result<gasline_http::Call, gasline_http::Response> {
    let (parts, body) = request.into_parts();
    // Spin hands over the full URL; admission keeps the path and query.
    let pending = gasline_http::admit_head(&gasline_http::Head::of(&parts), configured_max)?;
    let bytes = body.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    pending.with_body(bytes)
}

/// Handles one Redis message with `handle`, which takes a batch.
///
/// Spin's Redis trigger hands an instance one message at a time, each at
/// the cost of a fresh instance, a fresh database connection and a write;
/// and pub/sub hands every message to every instance subscribed. So the
/// message is a doorbell and the SQL outbox is the queue: the instance
/// claims the message's event with the other events waiting for this
/// consumer, under a lease ([`gasline_store::outbox::claim`], one write),
/// and decides and commits them together as a queue batch is on Workers.
/// Other instances woken by the same message claim what is left, often
/// nothing. Pub/sub has no acknowledgement or redelivery: an event the
/// handler could not finish stays unprocessed in the outbox, and the
/// sweeper sends it again once its lease has run out.
pub async fn consume<F>(consumer: Consumer, body: &[u8], handle: F)
where
    F: AsyncFnOnce(&[Vec<u8>], &SpinPorts) -> Vec<Outcome>,
{
    let name = consumer.as_str();
    if faults::fails(name).await {
        return;
    }
    let ports = match SpinPorts::open().await {
        Ok(ports) => ports,
        Err(cause) => return eprintln!("gasline: {name}: {cause}"),
    };
    let config = match gasline_store::config(&ports).await {
        Ok(config) => config,
        Err(cause) => return eprintln!("gasline: {name}: {cause}"),
    };
    // The lease lasts the sweeper's redelivery grace: by the time it
    // re-sends an event whose instance died, the lease is over.
    let claimed =
        gasline_store::outbox::claim(ports.sql(), consumer, body, ports.now(), config.outbox_redeliver_ms).await;
    let bodies = match claimed {
        Ok(bodies) if bodies.is_empty() => return,
        Ok(bodies) => bodies,
        Err(cause) => return eprintln!("gasline: {name}: claiming events: {cause}; the sweeper will re-send them"),
    };
    let retries = handle(&bodies, &ports)
        .await
        .into_iter()
        .filter(|o| *o == Outcome::Retry)
        .count();
    if retries > 0 {
        eprintln!("gasline: {name}: {retries} event(s) asked for a retry; the sweeper will re-send them");
    }
    // As on one request in sixteen: restart the sweeper's tick if it stopped.
    if ports.new_id().ends_with(['0', '1']) {
        crate::tick::keep_armed().await;
    }
}

/// The response type Spin's HTTP export takes.
pub type SpinResponse = http::Response<spin_sdk::http::FullBody<bytes::Bytes>>;

/// Turns the neutral response into Spin's.
pub fn reply(response: gasline_http::Response) -> SpinResponse {
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, spin_sdk::http::FullBody::new(bytes::Bytes::from(body)))
}
