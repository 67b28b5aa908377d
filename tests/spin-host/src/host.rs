//! The host: reads `spin.toml`, prepares every triggered component, serves
//! HTTP on a real socket and delivers Redis messages by channel.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

use crate::allowed::AllowedHosts;
use crate::bindings::trigger::RedisTriggerPre;
use crate::manifest::{Manifest, RouteDecl};
use crate::resp;
use crate::router::{Route, Router};
use crate::runtime::{self, AppResources, ComponentGrants, Ctx};
use crate::variables::{ComponentVariables, Variables};

/// Largest request body the host passes to a component.
const MAX_REQUEST_BODY: usize = 16 << 20;

/// How to run a manifest: what `spin up` takes from its flags and runtime
/// config.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The `spin.toml`; component sources resolve against its folder.
    pub manifest: PathBuf,
    /// Variable values (as a variables provider would give them); they win
    /// over `SPIN_VARIABLE_<NAME>` in the environment and over defaults.
    pub variables: HashMap<String, String>,
    /// Whether `SPIN_VARIABLE_*` from the process environment is read.
    pub read_env_variables: bool,
    /// SQLite database label → file. `default` is always there: unless
    /// given, `<state_dir>/sqlite_db.db` (as `spin up` uses `.spin/`).
    pub sqlite: HashMap<String, PathBuf>,
    /// SQL files run on the `default` database at start, in order, like
    /// `spin up --sqlite @file`.
    pub sqlite_statements: Vec<PathBuf>,
    /// Key-value store label → Redis URL (`type = "redis"` in a runtime
    /// config). A component granted a store the host has no URL for stops
    /// the host at start.
    pub key_value: HashMap<String, String>,
    /// Where the HTTP trigger listens; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where `default` SQLite lives unless `sqlite` says otherwise.
    pub state_dir: PathBuf,
    /// Longest a single component invocation may run.
    pub invocation_timeout: Duration,
    /// Component id → `.wasm` to use instead of the manifest's `source`
    /// (e.g. components built into another target folder).
    pub sources: HashMap<String, PathBuf>,
}

impl HostConfig {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        let manifest = manifest.into();
        let state_dir = manifest.parent().unwrap_or(Path::new(".")).join(".spin");
        Self {
            manifest,
            variables: HashMap::new(),
            read_env_variables: true,
            sqlite: HashMap::new(),
            sqlite_statements: Vec::new(),
            key_value: HashMap::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir,
            invocation_timeout: Duration::from_secs(30),
            sources: HashMap::new(),
        }
    }

    pub fn variable(mut self, name: &str, value: impl Into<String>) -> Self {
        self.variables.insert(name.to_owned(), value.into());
        self
    }
}

/// Live counters behind [`StatsSnapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    pub http_requests: AtomicU64,
    pub http_failures: AtomicU64,
    pub redis_messages: AtomicU64,
    pub redis_handled: AtomicU64,
    pub redis_failures: AtomicU64,
}

/// Counters a test can poll ([`SpinHost::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// HTTP requests routed to a component.
    pub http_requests: u64,
    /// Of those, the ones whose component trapped, timed out or returned
    /// an error code (answered 500).
    pub http_failures: u64,
    /// Redis messages received on subscribed channels (× subscribers).
    pub redis_messages: u64,
    /// Redis handler invocations that returned `Ok`.
    pub redis_handled: u64,
    /// Redis handler invocations that returned `Err`, trapped or timed out.
    pub redis_failures: u64,
}

impl Stats {
    fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            http_requests: self.http_requests.load(Ordering::SeqCst),
            http_failures: self.http_failures.load(Ordering::SeqCst),
            redis_messages: self.redis_messages.load(Ordering::SeqCst),
            redis_handled: self.redis_handled.load(Ordering::SeqCst),
            redis_failures: self.redis_failures.load(Ordering::SeqCst),
        }
    }
}

struct HttpComponent {
    pre: ServicePre<Ctx>,
    grants: Arc<ComponentGrants>,
}

struct RedisComponent {
    pre: RedisTriggerPre<Ctx>,
    grants: Arc<ComponentGrants>,
}

struct App {
    engine: Engine,
    router: Router,
    http: HashMap<String, HttpComponent>,
    /// Redis address → channel → subscribed component ids.
    subscriptions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    redis: HashMap<String, RedisComponent>,
    stats: Arc<Stats>,
    timeout: Duration,
}

/// A running host. Dropping it stops the HTTP listener, the Redis
/// subscriptions and every in-flight invocation.
pub struct SpinHost {
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    stats: Arc<Stats>,
    sqlite: HashMap<String, PathBuf>,
    components: Vec<(String, Duration)>,
}

impl SpinHost {
    /// Starts the application: every component that a trigger names is
    /// compiled and pre-instantiated first, so a missing import or export
    /// fails here, naming it.
    pub fn start(config: HostConfig) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("spin-host")
            .enable_all()
            .build()?;
        let (addr, stats, sqlite, components) = runtime.block_on(start(config))?;
        Ok(Self {
            runtime: Some(runtime),
            addr,
            stats,
            sqlite,
            components,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The file behind a SQLite database label.
    pub fn sqlite_path(&self, label: &str) -> Option<&Path> {
        self.sqlite.get(label).map(PathBuf::as_path)
    }

    /// Each prepared component and how long compiling it took.
    pub fn components(&self) -> &[(String, Duration)] {
        &self.components
    }
}

impl Drop for SpinHost {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Applies SQL files to a database file (one batch per file).
pub fn apply_sql_files(db: &Path, files: &[PathBuf]) -> anyhow::Result<()> {
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let conn = crate::spin_sqlite::open_file(db)?;
    for file in files {
        let sql = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        conn.execute_batch(&sql)
            .with_context(|| format!("applying {} to {}", file.display(), db.display()))?;
    }
    Ok(())
}

type Started = (
    SocketAddr,
    Arc<Stats>,
    HashMap<String, PathBuf>,
    Vec<(String, Duration)>,
);

async fn start(config: HostConfig) -> anyhow::Result<Started> {
    let manifest = Manifest::load(&config.manifest)?;
    let manifest_dir = config.manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let env: Vec<(String, String)> = if config.read_env_variables {
        std::env::vars().collect()
    } else {
        Vec::new()
    };
    let vars = Variables::resolve(&manifest.variables, &config.variables, env)?;

    // Backing stores.
    let mut sqlite = config.sqlite.clone();
    sqlite
        .entry("default".to_owned())
        .or_insert_with(|| config.state_dir.join("sqlite_db.db"));
    let default_db = sqlite["default"].clone();
    let statements = config.sqlite_statements.clone();
    runtime::blocking(move || apply_sql_files(&default_db, &statements)).await??;
    let key_value = config
        .key_value
        .iter()
        .map(|(label, url)| Ok((label.clone(), Arc::new(resp::Pool::new(resp::Address::parse(url)?)))))
        .collect::<anyhow::Result<HashMap<_, _>>>()?;
    let resources = Arc::new(AppResources {
        sqlite: sqlite.clone(),
        key_value,
        redis: Default::default(),
    });

    // Which components the triggers use.
    let mut router = Router::default();
    let mut http_ids = Vec::new();
    for trigger in &manifest.trigger.http {
        let id = manifest.component_id(&trigger.component)?.to_owned();
        if let RouteDecl::Pattern(route) = &trigger.route {
            router.add(Route::parse(route, &id)?)?;
        }
        if !http_ids.contains(&id) {
            http_ids.push(id);
        }
    }
    let app_redis_address = manifest
        .application
        .trigger
        .redis
        .as_ref()
        .and_then(|r| r.address.clone());
    let mut subscriptions: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut redis_ids = Vec::new();
    for trigger in &manifest.trigger.redis {
        let id = manifest.component_id(&trigger.component)?.to_owned();
        let address = trigger
            .address
            .clone()
            .or_else(|| app_redis_address.clone())
            .context("redis trigger address")?;
        let address = vars
            .expand(&address)
            .with_context(|| format!("redis trigger on {}", trigger.channel))?;
        let channel = vars
            .expand(&trigger.channel)
            .with_context(|| format!("redis trigger channel {}", trigger.channel))?;
        subscriptions
            .entry(address)
            .or_default()
            .entry(channel)
            .or_default()
            .push(id.clone());
        if !redis_ids.contains(&id) {
            redis_ids.push(id);
        }
    }

    // Grants and compiled components.
    let engine = runtime::engine()?;
    let linker = runtime::linker(&engine)?;
    let mut grants = HashMap::new();
    let mut compiled = HashMap::new();
    let mut timings = Vec::new();
    for id in http_ids.iter().chain(&redis_ids) {
        if grants.contains_key(id) {
            continue;
        }
        let decl = &manifest.component[id];
        for label in &decl.key_value_stores {
            if !resources.key_value.contains_key(label) {
                bail!("component {id} uses key-value store {label:?}, which the host has no Redis URL for");
            }
        }
        for label in &decl.sqlite_databases {
            if !resources.sqlite.contains_key(label) {
                bail!("component {id} uses SQLite database {label:?}, which the host has no file for");
            }
        }
        let hosts: Vec<String> = decl
            .allowed_outbound_hosts
            .iter()
            .map(|h| vars.expand(h))
            .collect::<Result<_, _>>()?;
        grants.insert(
            id.clone(),
            Arc::new(ComponentGrants {
                id: id.clone(),
                allowed_hosts: AllowedHosts::parse(&hosts).with_context(|| format!("component {id}"))?,
                key_value_stores: decl.key_value_stores.clone(),
                sqlite_databases: decl.sqlite_databases.clone(),
                variables: ComponentVariables::expand(&vars, &decl.variables)
                    .with_context(|| format!("component {id} variables"))?,
                environment: decl.environment.clone().into_iter().collect(),
                app: resources.clone(),
            }),
        );
        let source = match config.sources.get(id) {
            Some(path) => path.clone(),
            None => manifest.source_path(&manifest_dir, id)?,
        };
        let started = Instant::now();
        let engine_for_compile = engine.clone();
        let component = runtime::blocking(move || {
            let bytes = std::fs::read(&source)
                .with_context(|| format!("component source {} (build the components first)", source.display()))?;
            Component::new(&engine_for_compile, bytes)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("compiling {}", source.display()))
        })
        .await??;
        timings.push((id.clone(), started.elapsed()));
        compiled.insert(id.clone(), component);
    }
    let prepare = |id: &String, linker: &Linker<Ctx>| {
        linker
            .instantiate_pre(&compiled[id])
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {id}: the host cannot satisfy its imports"))
    };
    let mut http = HashMap::new();
    for id in &http_ids {
        let pre = ServicePre::new(prepare(id, &linker)?)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {id} has an HTTP route but no wasi:http/handler export"))?;
        http.insert(
            id.clone(),
            HttpComponent {
                pre,
                grants: grants[id].clone(),
            },
        );
    }
    let mut redis = HashMap::new();
    for id in &redis_ids {
        let pre = RedisTriggerPre::new(prepare(id, &linker)?)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {id} has a Redis trigger but no spin:redis/inbound-redis export"))?;
        redis.insert(
            id.clone(),
            RedisComponent {
                pre,
                grants: grants[id].clone(),
            },
        );
    }

    let stats = Arc::new(Stats::default());
    let app = Arc::new(App {
        engine: engine.clone(),
        router,
        http,
        subscriptions,
        redis,
        stats: stats.clone(),
        timeout: config.invocation_timeout,
    });

    // Epoch ticks let a long-running guest yield, so timeouts can fire.
    let ticker = engine.weak();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(10));
        loop {
            interval.tick().await;
            match ticker.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    });

    for (address, channels) in &app.subscriptions {
        let conn = subscribe(address, channels.keys())
            .await
            .with_context(|| format!("Redis trigger at {address}"))?;
        tokio::spawn(deliver(app.clone(), address.clone(), conn));
    }

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(app.clone(), listener));
    Ok((addr, stats, sqlite, timings))
}

impl App {
    fn store(&self, grants: &Arc<ComponentGrants>) -> Store<Ctx> {
        let mut store = Store::new(&self.engine, Ctx::new(grants.clone()));
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        store
    }
}

// ---------------------------------------------------------------- Redis

async fn subscribe<'a>(address: &str, channels: impl Iterator<Item = &'a String>) -> anyhow::Result<resp::Connection> {
    let channels: Vec<&String> = channels.collect();
    let mut conn = resp::Connection::connect(&resp::Address::parse(address)?).await?;
    let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    args.extend(channels.iter().map(|c| c.as_bytes()));
    conn.send(&args).await?;
    for _ in &channels {
        match conn.read().await? {
            resp::Reply::Array(Some(items))
                if items.first() == Some(&resp::Reply::Bulk(Some(b"subscribe".to_vec()))) => {}
            other => bail!("unexpected reply to SUBSCRIBE: {other:?}"),
        }
    }
    Ok(conn)
}

/// Delivers one subscription's messages the way Spin's Redis trigger does:
/// one message at a time per Redis address (the next is read after every
/// component subscribed to the channel has finished with this one), the
/// components of one channel concurrently.
async fn deliver(app: Arc<App>, address: String, mut conn: resp::Connection) {
    loop {
        let reply = match conn.read().await {
            Ok(reply) => reply,
            Err(e) => {
                eprintln!("spin-host: Redis subscription at {address} ended: {e:#}");
                return;
            }
        };
        let resp::Reply::Array(Some(items)) = reply else {
            continue;
        };
        let [
            resp::Reply::Bulk(Some(kind)),
            resp::Reply::Bulk(Some(channel)),
            resp::Reply::Bulk(Some(payload)),
        ] = items.as_slice()
        else {
            continue;
        };
        if kind != b"message" {
            continue;
        }
        let channel = String::from_utf8_lossy(channel).into_owned();
        let Some(ids) = app.subscriptions.get(&address).and_then(|c| c.get(&channel)) else {
            continue;
        };
        let handlers = ids.iter().map(|id| {
            app.stats.redis_messages.fetch_add(1, Ordering::SeqCst);
            let (app, channel, payload) = (&app, &channel, payload.clone());
            async move {
                let outcome = match tokio::time::timeout(app.timeout, invoke_redis(app, id, payload)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(anyhow::anyhow!("timed out after {:?}", app.timeout)),
                };
                match outcome {
                    Ok(()) => app.stats.redis_handled.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        eprintln!("spin-host: component {id} failed on a message from {channel}: {e:#}");
                        app.stats.redis_failures.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        });
        futures::future::join_all(handlers).await;
    }
}

async fn invoke_redis(app: &App, id: &str, payload: Vec<u8>) -> anyhow::Result<()> {
    let component = &app.redis[id];
    let mut store = app.store(&component.grants);
    let trigger = component.pre.instantiate_async(&mut store).await?;
    let result = store
        .run_concurrent(async |accessor| {
            trigger
                .spin_redis_inbound_redis()
                .call_handle_message(accessor, payload)
                .await
        })
        .await??;
    result.map_err(|e| anyhow::anyhow!("handler returned {e:?}"))
}

// ---------------------------------------------------------------- HTTP

async fn serve(app: Arc<App>, listener: TcpListener) {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("spin-host: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(client);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, req, local, client).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn text(status: u16, body: &str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    response
}

async fn handle(
    app: &App,
    request: hyper::Request<Incoming>,
    local: SocketAddr,
    client: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if path == "/.well-known/spin/health" {
        return text(200, "OK");
    }
    let Some(matched) = app.router.route(&path) else {
        return text(404, "Not Found");
    };
    let component_id = matched.route.component.clone();
    let (mut parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return text(413, "request body too large or unreadable"),
    };
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| local.to_string(), str::to_owned);
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let full_url = format!("http://{host}{path_and_query}");
    let Ok(uri) = full_url.parse::<http::Uri>() else {
        return text(400, "bad request URL");
    };
    parts.uri = uri;
    let mut spin_headers = vec![
        ("spin-full-url".to_owned(), full_url.clone()),
        ("spin-path-info".to_owned(), matched.path_info.clone()),
        ("spin-matched-route".to_owned(), matched.route.raw.clone()),
        ("spin-raw-component-route".to_owned(), matched.route.raw.clone()),
        ("spin-component-route".to_owned(), matched.route.prefix().to_owned()),
        ("spin-base-path".to_owned(), "/".to_owned()),
        ("spin-client-addr".to_owned(), client.to_string()),
    ];
    for (name, value) in &matched.params {
        spin_headers.push((format!("spin-path-match-{}", name.replace('_', "-")), value.clone()));
    }
    for (name, value) in spin_headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(name), http::HeaderValue::try_from(value)) {
            parts.headers.insert(name, value);
        }
    }
    let request = http::Request::from_parts(
        parts,
        Full::new(body)
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );

    app.stats.http_requests.fetch_add(1, Ordering::SeqCst);
    let outcome = match tokio::time::timeout(app.timeout, invoke_http(app, &component_id, request)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(anyhow::anyhow!("timed out after {:?}", app.timeout)),
    };
    match outcome {
        Ok(response) => {
            let mut response = response.map(Full::new);
            // The body is whole now: hyper sets its length.
            response.headers_mut().remove(http::header::TRANSFER_ENCODING);
            response.headers_mut().remove(http::header::CONTENT_LENGTH);
            response
        }
        Err(e) => {
            app.stats.http_failures.fetch_add(1, Ordering::SeqCst);
            eprintln!("spin-host: component {component_id} failed on {path}: {e:#}");
            text(500, "Internal Server Error")
        }
    }
}

async fn invoke_http(
    app: &App,
    id: &str,
    request: http::Request<http_body_util::combinators::UnsyncBoxBody<Bytes, ErrorCode>>,
) -> anyhow::Result<http::Response<Bytes>> {
    let component = &app.http[id];
    let mut store = app.store(&component.grants);
    let service = component.pre.instantiate_async(&mut store).await?;
    let (request, request_io) = wasmtime_wasi_http::p3::Request::from_http(request);
    let response = store
        .run_concurrent(async |accessor| -> wasmtime::Result<http::Response<Bytes>> {
            let response = async {
                let response = match service.handle(accessor, request).await? {
                    Ok(response) => response,
                    Err(code) => wasmtime::bail!("the component answered with error code {code:?}"),
                };
                let response = accessor.with(|access| response.into_http(access, async { Ok(()) }))?;
                let (parts, body) = response.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| wasmtime::format_err!("response body: {e:?}"))?;
                wasmtime::error::Ok(http::Response::from_parts(parts, body.to_bytes()))
            };
            let request_io = async {
                request_io
                    .await
                    .map_err(|e| wasmtime::format_err!("request body: {e:?}"))
            };
            let (response, ()) = futures::try_join!(response, request_io)?;
            Ok(response)
        })
        .await??;
    Ok(response)
}
