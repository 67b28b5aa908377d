//! The wasmtime side: the engine, the linker with every interface the host
//! provides, and the per-instance store data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{Config, Engine};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p3::{WasiHttpCtxView, WasiHttpView};

use crate::allowed::AllowedHosts;
use crate::outbound::OutboundHttp;
use crate::resp;
use crate::variables::ComponentVariables;

/// What the whole application shares: where the SQLite databases and the
/// key-value stores are, and pooled Redis connections.
pub struct AppResources {
    /// SQLite database label → file.
    pub sqlite: HashMap<String, std::path::PathBuf>,
    /// Key-value store label → Redis pool.
    pub key_value: HashMap<String, Arc<resp::Pool>>,
    /// Outbound Redis (`spin:redis`) pools by address.
    pub redis: Mutex<HashMap<String, Arc<resp::Pool>>>,
}

impl AppResources {
    pub fn redis_pool(&self, address: &str) -> anyhow::Result<Arc<resp::Pool>> {
        let mut pools = self.redis.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let pool = Arc::new(resp::Pool::new(resp::Address::parse(address)?));
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }
}

/// One component's grants from the manifest.
pub struct ComponentGrants {
    pub id: String,
    pub allowed_hosts: AllowedHosts,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub variables: ComponentVariables,
    pub environment: Vec<(String, String)>,
    pub app: Arc<AppResources>,
}

/// The store data of one instance (one HTTP request or Redis message).
pub struct Ctx {
    pub table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: OutboundHttp,
    pub grants: Arc<ComponentGrants>,
}

impl Ctx {
    pub fn new(grants: Arc<ComponentGrants>) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        // Guest output goes to the test's output, as `spin up` shows it.
        // Sockets stay closed (the default): network access goes through
        // outbound HTTP and Redis, checked against allowed_outbound_hosts.
        wasi.inherit_stdout().inherit_stderr();
        for (k, v) in &grants.environment {
            wasi.env(k, v);
        }
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound: OutboundHttp::new(grants.id.clone(), grants.allowed_hosts.clone()),
            grants,
        }
    }
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Ctx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.outbound,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// The `HasData` marker the Spin interfaces are implemented on.
pub struct Spin;

impl HasData for Spin {
    type Data<'a> = &'a mut Ctx;
}

/// Component model async (WASI 0.3, what spin-sdk 6 needs) and epoch
/// interruption (a running guest yields every tick, so timeouts fire).
pub fn engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model_async(true).epoch_interruption(true);
    Ok(Engine::new(&config)?)
}

/// Everything a spin-sdk 6 component may import that the host provides:
/// WASI 0.2 (what Rust's std on wasm32-wasip2 links), WASI 0.3 (what the
/// SDK's wasip3 bindings link, including `wasi:http` client and types), and
/// Spin's SQLite, key-value, Redis and variables. Anything else makes
/// instantiation fail, naming the import.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<Ctx>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    crate::bindings::SpinImports::add_to_linker::<Ctx, Spin>(&mut linker, |ctx| ctx)?;
    Ok(linker)
}

/// Runs a blocking closure off the async workers (SQLite calls).
pub async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> wasmtime::Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| wasmtime::format_err!("blocking task failed: {e}"))
}
