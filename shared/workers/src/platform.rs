//! The ports over a Worker's bindings, and the entrypoint glue.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::{Either, join_all, select};
use gasline_core::event::EventType;
use gasline_core::route_stats::merge;
use gasline_ports::{
    HttpClient, HttpError, KvStore, Message, Ports, PublishError, Publisher, RouteCounters, RouteKey, Row, SqlStore,
    Statement, StoreError, Tally, Value,
};
use gasline_store::consume::Outcome;
use gasline_store::route_counts;
use worker::js_sys::{Math, Uint8Array};
use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, Context, D1Database, Date, Delay, Env, Fetch, Headers, MessageBatch, MessageExt, Method,
    QueueContentType, RawMessage, RawMessageBuilder, Request, RequestInit, Response, console_error, console_log,
    console_warn,
};

use crate::faults;
use crate::limiter::WorkerLimiter;

fn classify(message: String) -> StoreError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("constraint failed") {
        StoreError::Conflict(message)
    } else if [
        "busy",
        "locked",
        "overloaded",
        "timeout",
        "timed out",
        "network",
        "reset",
        "unavailable",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        StoreError::Unavailable(message)
    } else {
        StoreError::Backend(message)
    }
}

fn to_js(params: &[Value]) -> Vec<JsValue> {
    params
        .iter()
        .map(|v| match v {
            Value::Null => JsValue::NULL,
            #[allow(clippy::cast_precision_loss)]
            Value::Integer(i) => JsValue::from_f64(*i as f64),
            Value::Real(f) => JsValue::from_f64(*f),
            Value::Text(s) => JsValue::from_str(s),
            Value::Blob(b) => Uint8Array::from(b.as_slice()).into(),
        })
        .collect()
}

fn from_json(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(i64::from(b)),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Real(n.as_f64().unwrap_or(f64::NAN)), Value::Integer),
        serde_json::Value::String(s) => Value::Text(s),
        serde_json::Value::Array(items) => Value::Blob(
            items
                .iter()
                .map(|i| u8::try_from(i.as_u64().unwrap_or(0)).unwrap_or(0))
                .collect(),
        ),
        other @ serde_json::Value::Object(_) => Value::Text(other.to_string()),
    }
}

/// D1 as the SQL port. A batch is D1's `batch()`: one implicit transaction.
pub struct D1Sql(D1Database, faults::SqlOutage);

impl D1Sql {
    /// The injected outage's refusal of a write, when one is on (never in
    /// a production build).
    fn refuse_writes(&self) -> Result<(), StoreError> {
        let now = i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX);
        if self.1.is_down(now) {
            return Err(StoreError::Unavailable("test fault: SQL writes are down".into()));
        }
        Ok(())
    }
}

/// The rows of one D1 result, or its error.
fn rows_of(result: &worker::D1Result) -> Result<Vec<Row>, StoreError> {
    if let Some(error) = result.error() {
        return Err(classify(error));
    }
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        result.results().map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (columns, values): (Vec<String>, Vec<Value>) = row.into_iter().map(|(k, v)| (k, from_json(v))).unzip();
            Row::new(Arc::from(columns), values)
        })
        .collect())
}

impl SqlStore for D1Sql {
    async fn query(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        let prepared = self
            .0
            .prepare(statement.sql)
            .bind(&to_js(&statement.params))
            .map_err(|e| classify(e.to_string()))?;
        let result = prepared.all().await.map_err(|e| classify(e.to_string()))?;
        rows_of(&result)
    }

    async fn query_many(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>, StoreError> {
        let prepared = statements
            .into_iter()
            .map(|s| self.0.prepare(s.sql).bind(&to_js(&s.params)))
            .collect::<worker::Result<Vec<_>>>()
            .map_err(|e| classify(e.to_string()))?;
        let results = self.0.batch(prepared).await.map_err(|e| classify(e.to_string()))?;
        results.iter().map(rows_of).collect()
    }

    async fn write_returning(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        self.refuse_writes()?;
        self.query(statement).await
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
        self.refuse_writes()?;
        let prepared = statements
            .into_iter()
            .map(|s| self.0.prepare(s.sql).bind(&to_js(&s.params)))
            .collect::<worker::Result<Vec<_>>>()
            .map_err(|e| classify(e.to_string()))?;
        self.0.batch(prepared).await.map_err(|e| classify(e.to_string()))?;
        Ok(())
    }
}

/// Workers KV as the key-value port. Workers KV's shortest TTL is 60 s.
pub struct WorkerKv(worker::KvStore);

impl KvStore for WorkerKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0
            .get(key)
            .bytes()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn put(&self, key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), StoreError> {
        let mut put = self
            .0
            .put_bytes(key, value)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        if let Some(ttl) = ttl_seconds {
            put = put.expiration_ttl(u64::from(ttl.max(60)));
        }
        put.execute().await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0
            .delete(key)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// Cloudflare Queues as the publisher: one producer binding per topic.
/// Serving a request, it also keeps the messages to send after the reply
/// (see [`serve`]).
pub struct WorkerQueues {
    env: Env,
    /// `Some` while serving a request: what [`serve`] sends in `waitUntil`.
    after_reply: Option<RefCell<Vec<Message>>>,
}

impl WorkerQueues {
    fn direct(env: Env) -> Self {
        Self { env, after_reply: None }
    }

    /// Sends `messages` at once; logs the ones that fail (their outbox rows
    /// are the sweeper's).
    async fn publish_all(&self, messages: Vec<Message>) {
        let sent = join_all(messages.into_iter().map(|m| self.publish(m))).await;
        for error in sent.into_iter().filter_map(Result::err) {
            console_warn!("gasline: {error}; the sweeper re-sends it");
        }
    }
}

impl Publisher for WorkerQueues {
    fn publish_after_reply(&self, messages: Vec<Message>) -> Result<(), Vec<Message>> {
        match &self.after_reply {
            Some(pending) => {
                pending.borrow_mut().extend(messages);
                Ok(())
            }
            None => Err(messages),
        }
    }

    async fn publish(&self, message: Message) -> Result<(), PublishError> {
        if faults::drops(&self.env, &message.topic) || faults::lost(&self.env) {
            return Ok(());
        }
        let binding = crate::queue_binding(&message.topic);
        let consumed = EventType::from_topic(&message.topic)
            .and_then(EventType::consumer)
            .is_some();
        let queue = match self.env.queue(&binding) {
            Ok(queue) => queue,
            // Notifications nobody here consumes need no queue.
            Err(_) if !consumed => return Ok(()),
            Err(e) => return Err(PublishError(format!("no queue binding {binding}: {e}"))),
        };
        let body = String::from_utf8(message.body).map_err(|e| PublishError(e.to_string()))?;
        let send = RawMessageBuilder::new(JsValue::from_str(&body))
            .delay_seconds(message.delay_seconds)
            .build_with_content_type(QueueContentType::Text);
        queue.send_raw(send).await.map_err(|e| PublishError(e.to_string()))
    }
}

/// `fetch` with a timeout (the request is aborted when it fires).
pub struct WorkerHttp;

impl HttpClient for WorkerHttp {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout_ms: u32,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let (parts, body) = request.into_parts();
        let headers = Headers::new();
        for (name, value) in &parts.headers {
            if let Ok(value) = value.to_str() {
                let _ = headers.set(name.as_str(), value);
            }
        }
        let mut init = RequestInit::new();
        init.with_method(Method::from(parts.method.to_string()))
            .with_headers(headers);
        if !body.is_empty() {
            init.with_body(Some(Uint8Array::from(body.as_slice()).into()));
        }
        let request =
            Request::new_with_init(&parts.uri.to_string(), &init).map_err(|e| HttpError::Unreachable(e.to_string()))?;
        let controller = AbortController::default();
        let fetch = Fetch::Request(request);
        let signal = controller.signal();
        let call = fetch.send_with_signal(&signal);
        let timer = Delay::from(std::time::Duration::from_millis(u64::from(timeout_ms)));
        let mut response = match select(Box::pin(call), Box::pin(timer)).await {
            Either::Left((result, _)) => result.map_err(|e| HttpError::Unreachable(e.to_string()))?,
            Either::Right(_) => {
                controller.abort();
                return Err(HttpError::Timeout);
            }
        };
        let mut builder = http::Response::builder().status(response.status_code());
        for (name, value) in response.headers().entries() {
            builder = builder.header(name, value);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| HttpError::Unreachable(e.to_string()))?;
        builder.body(bytes).map_err(|e| HttpError::Unreachable(e.to_string()))
    }
}

/// How often an isolate adds the requests it counted to D1.
const COUNTS_FLUSH_MS: u64 = 10_000;

thread_local! {
    /// This isolate's counts not yet in D1, and when it last added some
    /// (0: never, so an isolate's first request is added at once).
    static PENDING_COUNTS: RefCell<(u64, BTreeMap<RouteKey, Tally>)> = const { RefCell::new((0, BTreeMap::new())) };
}

/// Route counters on Workers. An isolate serves many requests, one at a
/// time, so it counts them in memory and adds them to D1
/// (`gasline_store::route_counts`) at most every `COUNTS_FLUSH_MS` (10 s), in
/// the request that finds the interval over: one write per isolate per
/// interval, not per request. Counts of an isolate evicted in between, or
/// whose write fails twice, are lost (at most an interval's worth).
pub struct WorkerCounters(D1Sql);

impl RouteCounters for WorkerCounters {
    async fn add(&self, key: RouteKey, tally: Tally) {
        let now = Date::now().as_millis();
        let due = PENDING_COUNTS.with(|pending| {
            let mut pending = pending.borrow_mut();
            merge(&mut pending.1, key, &tally);
            (now.saturating_sub(pending.0) >= COUNTS_FLUSH_MS).then(|| {
                pending.0 = now;
                std::mem::take(&mut pending.1)
            })
        });
        let Some(counts) = due else {
            return;
        };
        if self.0.batch(route_counts::add(&counts)).await.is_err() {
            // Kept for the next interval.
            PENDING_COUNTS.with(|pending| {
                let mut pending = pending.borrow_mut();
                for (key, tally) in counts {
                    merge(&mut pending.1, key, &tally);
                }
            });
        }
    }

    async fn totals(&self) -> Result<BTreeMap<RouteKey, Tally>, StoreError> {
        route_counts::totals(&self.0).await
    }
}

/// Everything a handler may use, over one Worker's `Env`.
pub struct WorkerPorts {
    env: Env,
    sql: D1Sql,
    counters: WorkerCounters,
    kv: WorkerKv,
    queue: WorkerQueues,
    http: WorkerHttp,
    limiter: WorkerLimiter,
}

impl WorkerPorts {
    /// Binds `DB` and `KV` (queues are bound per message, by topic).
    pub fn new(env: Env) -> worker::Result<Self> {
        Ok(Self {
            sql: D1Sql(env.d1("DB")?, faults::SqlOutage::read(&env)),
            counters: WorkerCounters(D1Sql(env.d1("DB")?, faults::SqlOutage::read(&env))),
            kv: WorkerKv(env.kv("KV")?),
            queue: WorkerQueues::direct(env.clone()),
            http: WorkerHttp,
            limiter: WorkerLimiter(env.durable_object(crate::limiter::BINDING).ok()),
            env,
        })
    }

    /// Ports for serving one request: committed events are published after
    /// the reply (see [`serve`]).
    fn replying(env: Env) -> worker::Result<Self> {
        let mut ports = Self::new(env)?;
        ports.queue.after_reply = Some(RefCell::new(Vec::new()));
        Ok(ports)
    }
}

impl Ports for WorkerPorts {
    type Sql = D1Sql;
    type Kv = WorkerKv;
    type Queue = WorkerQueues;
    type Http = WorkerHttp;
    type Limiter = WorkerLimiter;
    type Counters = WorkerCounters;

    fn sql(&self) -> &D1Sql {
        &self.sql
    }

    fn counters(&self) -> &WorkerCounters {
        &self.counters
    }

    /// To the Worker's log (`console.log`: Workers Logs, `wrangler tail`,
    /// Logpush), one JSON object per line.
    fn log(&self, line: &gasline_core::log::Line) {
        console_log!("{}", line.render());
    }

    fn limiter(&self) -> &WorkerLimiter {
        &self.limiter
    }

    fn kv(&self) -> &WorkerKv {
        &self.kv
    }

    fn queue(&self) -> &WorkerQueues {
        &self.queue
    }

    fn http(&self) -> &WorkerHttp {
        &self.http
    }

    fn now(&self) -> i64 {
        i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
    }

    /// A ULID: the time, then 80 bits from the runtime's cryptographic
    /// source (`crypto.getRandomValues`), as Spin's come from WASI random:
    /// order, event and waybill ids, and the random part of trace ids, are
    /// not guessable from one another.
    fn new_id(&self) -> String {
        let mut bytes = [0u8; 16];
        random_bytes(&mut bytes[6..]);
        let random = u128::from_be_bytes(bytes);
        let ms = u64::try_from(self.now()).unwrap_or(0);
        ulid::Ulid::from_parts(ms, random).to_string()
    }

    fn new_secret(&self) -> String {
        let mut bytes = [0u8; 32];
        random_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    async fn variable(&self, name: &str) -> Option<String> {
        self.env
            .secret(name)
            .map(|s| s.to_string())
            .or_else(|_| self.env.var(name).map(|v| v.to_string()))
            .ok()
    }
}

/// Fills `out` from the Web Crypto API every Workers runtime has. Were it
/// ever missing, `Math.random` fills the gap (ids stay unique, only
/// guessable) and the log says so.
fn random_bytes(out: &mut [u8]) {
    use worker::wasm_bindgen::JsCast as _;
    let filled = (|| {
        let crypto = worker::js_sys::Reflect::get(&worker::js_sys::global(), &JsValue::from_str("crypto"))?;
        let fill: worker::js_sys::Function =
            worker::js_sys::Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))?.dyn_into()?;
        let array = Uint8Array::new_with_length(u32::try_from(out.len()).unwrap_or(0));
        fill.call1(&crypto, &array)?;
        array.copy_to(out);
        Ok::<(), JsValue>(())
    })();
    if let Err(cause) = filled {
        console_error!("gasline: crypto.getRandomValues failed ({cause:?}); ids use Math.random");
        for byte in out.iter_mut() {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let value = (Math::random() * 256.0) as u8;
            *byte = value;
        }
    }
}

/// A 503 problem for when the Worker's own bindings are missing; the cause
/// goes to the log, not to the client.
fn unavailable(cause: &str) -> worker::Result<Response> {
    console_error!("gasline: {cause}");
    reply(gasline_http::Problem::unavailable().into_response())
}

/// Serves one request with `handle` (parse → decide → commit, in the
/// function crate) and replies; then publishes the events the handler
/// committed in `ctx.waitUntil`, so the client does not wait on the queue.
/// Their outbox rows are committed and marked sent before the reply: a
/// send that fails there is logged, and the sweeper re-sends it after the
/// redelivery grace, as it does a lost message.
pub async fn serve<F>(request: Request, env: Env, ctx: &Context, handle: F) -> worker::Result<Response>
where
    F: AsyncFn(gasline_http::Call, &WorkerPorts) -> gasline_http::Response,
{
    let (call, ports) = match accept(request, env).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let response = handle(call, &ports).await;
    let pending = ports.queue.after_reply.as_ref().map(RefCell::take).unwrap_or_default();
    if !pending.is_empty() {
        let queues = WorkerQueues::direct(ports.env.clone());
        ctx.wait_until(async move { queues.publish_all(pending).await });
    }
    reply(response)
}

/// Builds the ports and admits a Workers request ([`admit`], with the
/// deployment's body limit); on failure, the response to send instead.
async fn accept(request: Request, env: Env) -> Result<(gasline_http::Call, WorkerPorts), worker::Result<Response>> {
    let ports = WorkerPorts::replying(env).map_err(|e| unavailable(&format!("bindings: {e}")))?;
    let config = gasline_store::config(&ports).await.map_err(|e| unavailable(&e))?;
    Ok((admit(request, config.max_body_bytes).await?, ports))
}

/// Admits a Workers request ([`gasline_http::admit_head`]: a declared body
/// over the route's limit is refused before it is read), then its body;
/// on refusal, the response to send instead. Header values are handed to
/// admission as bytes: workerd passes on values (control characters) that
/// the `http` crate cannot hold, and those are the client's 4xx.
pub async fn admit(
    mut request: Request,
    configured_max: usize,
) -> Result<gasline_http::Call, worker::Result<Response>> {
    let url = request.url().map_err(|e| unavailable(&format!("url: {e}")))?;
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let head = gasline_http::Head {
        method: request.method().to_string(),
        target,
        headers: request
            .headers()
            .entries()
            .map(|(name, value)| (name, value.into_bytes()))
            .collect(),
    };
    let pending = gasline_http::admit_head(&head, configured_max).map_err(reply)?;
    let body = request.bytes().await.unwrap_or_default();
    pending.with_body(body).map_err(reply)
}

/// Turns the neutral response into a Workers response.
pub fn reply(response: gasline_http::Response) -> worker::Result<Response> {
    let (parts, body) = response.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.set(name.as_str(), value)?;
        }
    }
    Ok(Response::from_bytes(body)?
        .with_status(parts.status.as_u16())
        .with_headers(headers))
}

fn body_of(message: &RawMessage) -> Vec<u8> {
    let body = message.body();
    body.as_string()
        .or_else(|| worker::js_sys::JSON::stringify(&body).ok().map(String::from))
        .unwrap_or_default()
        .into_bytes()
}

/// Hands every message of a batch to `handle`, all at once so the waits on
/// D1 overlap — for consumers whose messages do not compete for the same
/// rows (the dead-letter consumer in status). See [`consume_batch`].
pub async fn consume<F>(consumer: &str, batch: MessageBatch<JsValue>, env: Env, handle: F)
where
    F: AsyncFn(&[u8], &WorkerPorts) -> Outcome,
{
    consume_batch(consumer, batch, env, async |bodies: &[Vec<u8>], ports: &WorkerPorts| {
        join_all(bodies.iter().map(|b| handle(b, ports))).await
    })
    .await;
}

/// Hands the bodies of a whole batch to `handle` (one outcome per body, in
/// order) and acks or retries each message by its outcome. Never fails the
/// batch: a Rust queue handler that returns `Err` would redeliver every
/// message. `consumer` names the function (for the test-only fault that
/// makes it ask for a retry of everything, built only with the
/// `test-faults` feature).
pub async fn consume_batch<F>(consumer: &str, batch: MessageBatch<JsValue>, env: Env, handle: F)
where
    F: AsyncFn(&[Vec<u8>], &WorkerPorts) -> Vec<Outcome>,
{
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    if faults::fails(&env, consumer) {
        for m in &messages {
            m.retry_with_options(&worker::QueueRetryOptionsBuilder::new().with_delay_seconds(1).build());
        }
        return;
    }
    let ports = match WorkerPorts::new(env) {
        Ok(p) => p,
        Err(e) => {
            console_error!("gasline: bindings: {e}");
            for m in &messages {
                m.retry_with_options(&worker::QueueRetryOptionsBuilder::new().with_delay_seconds(30).build());
            }
            return;
        }
    };
    let bodies: Vec<Vec<u8>> = messages.iter().map(body_of).collect();
    let mut outcomes = handle(&bodies, &ports).await;
    // A handler that answers for fewer bodies leaves the rest retried.
    outcomes.resize(messages.len(), Outcome::Retry);
    let now = ports.now();
    for (message, outcome) in messages.iter().zip(outcomes) {
        match outcome {
            Outcome::Ack => message.ack(),
            Outcome::Retry => {
                let age = now - i64::try_from(message.timestamp().as_millis()).unwrap_or(now);
                let delay = crate::retry_delay_seconds(age);
                message.retry_with_options(
                    &worker::QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(delay)
                        .build(),
                );
            }
        }
    }
}
