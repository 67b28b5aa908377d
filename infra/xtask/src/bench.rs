//! `cargo xtask bench-workers` and `cargo xtask bench-spin`: the per-runtime
//! figures of `docs/BENCHMARKS.md`, with release builds of the functions.
//!
//! - Workers: on the local Workers runtime (workerd, through the Miniflare
//!   harness); the hello-world worker runs as a fifth worker in the same
//!   harness (same workerd, same router).
//! - Spin: the components on the wasmtime test host (`tests/spin-host`,
//!   built with the `host-release` profile), with its own redis-server; the
//!   hello-world component is a fifth component of the same application (a
//!   copy of `spin.toml` with one more route); the app runs its sweeper on
//!   its own Redis-timed tick, as deployed (nothing calls the sweep route).
//!
//! For each:
//!
//! 1. wasm size of each function and of the hello-world baseline, raw and
//!    `gzip -9`;
//! 2. `POST /v1/orders` latency at concurrency 1 and 32 beside hello's
//!    `GET`, measured in the same run, in alternating rounds;
//! 3. the saga (received → waybill signed) for many orders placed at a fixed
//!    rate, from each order's own timeline — on Workers once with the
//!    harness's queue settings (`maxBatchTimeout` 0) and once with the
//!    wrangler files' production batch settings (`max_batch_timeout = 1`,
//!    `max_batch_size = 10`); on Spin with Redis pub/sub as the host
//!    delivers it (one message at a time, as Spin's Redis trigger does);
//! 4. where the saga's time goes, step by step.
//!
//! The load generator is a thread per concurrent client, each with its own
//! keep-alive connection (`gasline_testkit::Loopback`, over ureq), opened
//! before the measured requests. The client does the same work for the
//! baseline and for us, and its crates are built optimised even in xtask's
//! dev build (`[profile.dev.package]` in the workspace manifest), so its
//! cost stays out of the hello figures.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use gasline_testkit::{Call, Client, DevEnv, Loopback, OrderBody, RedisServer, Reply as Answer, order_id, place_call};
use serde_json::Value;

use crate::cmd::Cmd;
use crate::ensure;
use crate::spin;
use crate::steps::{self, Step};
use crate::up::{self, Harness};
use crate::usage;
use crate::workers::{self, LocalRun};

/// Measured requests per round: hello and ours alternate in rounds so slow
/// phases of a noisy machine hit both.
const ROUNDS: usize = 5;
/// Requests of each kind sent (at concurrency 32) before measuring.
const WARMUP: usize = 100;
/// Orders placed (one at a time, waited for) before a saga run, so that
/// every worker is compiled and warm.
const SAGA_WARMUP: usize = 20;
/// Client threads placing the saga's orders (at the given rate).
const SAGA_CLIENTS: usize = 16;
/// How long the saga may take to settle after the last order is placed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// Dispatch configuration of the benchmark runs: demo rider positions never
/// go stale, nobody's acceptance times out during a run (no reassignments
/// in the background), and no night window (an empty one), so that all six
/// demo stations serve at whatever hour the benchmark runs — at night only
/// the two monitored ones would, and the riders near them run out.
const BENCH_DISPATCH: &str = r#"{"rider_location_max_age_ms": 31536000000, "accept_timeout_ms": 3600000,
    "night_start_minute": 0, "night_end_minute": 0}"#;
/// States an order passes through on its way to a signed waybill.
const PENDING_STATES: [&str; 3] = ["received", "source_allocated", "rider_assigned"];
/// The cargo profile the Spin test host is built with when it is measured.
const HOST_PROFILE: &str = "host-release";
/// The hello-world Spin component (`infra/spin/hello`).
const SPIN_HELLO_CRATE: &str = "gasline-hello-spin";
/// How long a benchmark client waits for one answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// The runtime a benchmark run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// The four Workers on workerd (Miniflare harness).
    Workers,
    /// The four Spin components on the wasmtime test host.
    Spin,
}

impl Runtime {
    /// The xtask command measuring this runtime.
    pub fn command(self) -> &'static str {
        match self {
            Self::Workers => "bench-workers",
            Self::Spin => "bench-spin",
        }
    }

    /// The measurements after the sizes this runtime has, in the order run.
    pub fn parts(self) -> &'static [Part] {
        match self {
            Self::Workers => &[Part::Latency, Part::Saga, Part::SagaBatched],
            Self::Spin => &[Part::Latency, Part::Saga],
        }
    }

    /// The hello-world baseline's route (it answers `hello`).
    fn hello_path(self) -> &'static str {
        match self {
            Self::Workers => "/",
            Self::Spin => "/hello",
        }
    }

    fn out_dir(self) -> PathBuf {
        up::target_dir().join(self.command())
    }
}

/// A measurement after the sizes (which are always reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// `POST /v1/orders` beside hello, at concurrency 1 and 32.
    Latency,
    /// The saga: on Workers with the harness's queue settings (no batch
    /// wait), on Spin with Redis pub/sub.
    Saga,
    /// Workers only: the saga with the production batch settings.
    SagaBatched,
}

/// The command line of `cargo xtask bench-workers` and `bench-spin`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Args {
    /// Measured requests of each kind at concurrency 1.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = positive)]
    requests_c1: usize,
    /// Measured requests of each kind at concurrency 32.
    #[arg(long, value_name = "N", default_value_t = 3_000, value_parser = positive)]
    requests_c32: usize,
    /// Orders in each saga run.
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = positive)]
    orders: usize,
    /// Orders placed per second in the saga runs.
    #[arg(long, value_name = "R", default_value_t = 10.0, value_parser = per_second)]
    rate: f64,
    /// Spin only: one saga run for each of these numbers of test-host
    /// instances (comma-separated), the instances sharing one SQLite file
    /// and one redis-server as the replicas of one deployment do; POSTs
    /// are spread over them. Default `1,2`.
    #[arg(long, value_name = "N", value_delimiter = ',', value_parser = positive)]
    instances: Vec<usize>,
    /// Only these measurements (comma-separated or repeated; the sizes are
    /// always reported). `saga-batched` is Workers only.
    #[arg(long, value_name = "PARTS", value_enum, value_delimiter = ',')]
    only: Vec<Part>,
}

/// A whole number above zero (`1_000` is fine).
fn positive(text: &str) -> Result<usize, String> {
    match text.replace('_', "").parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("a positive whole number, not `{text}`")),
    }
}

/// A rate above zero.
fn per_second(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(format!("orders per second above zero, not `{text}`")),
    }
}

/// What one benchmark run measures, and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub runtime: Runtime,
    /// Measured requests of each kind at concurrency 1.
    pub requests_c1: usize,
    /// Measured requests of each kind at concurrency 32.
    pub requests_c32: usize,
    /// Orders in each saga run.
    pub orders: usize,
    /// Orders placed per second in the saga runs.
    pub rate: f64,
    /// Instances of the runtime in each saga run (one run per entry).
    pub instances: Vec<usize>,
    /// The measurements to make, in [`Runtime::parts`] order.
    pub only: Vec<Part>,
}

impl Options {
    /// The run `args` ask for on `runtime`; a part the runtime does not
    /// have is a usage error.
    pub fn new(runtime: Runtime, args: Args) -> Result<Self> {
        if let Some(part) = args.only.iter().find(|p| !runtime.parts().contains(p)) {
            let name = clap::ValueEnum::to_possible_value(part).map(|v| v.get_name().to_owned());
            return Err(usage(format!(
                "`{}` has no part `{}`",
                runtime.command(),
                name.unwrap_or_default()
            )));
        }
        let instances = match runtime {
            Runtime::Spin if args.instances.is_empty() => vec![1, 2],
            Runtime::Spin => args.instances,
            Runtime::Workers if args.instances.iter().all(|n| *n == 1) => vec![1],
            Runtime::Workers => {
                return Err(usage(
                    "`bench-workers` has no `--instances`: workerd scales by isolates on its own".to_owned(),
                ));
            }
        };
        let only = runtime
            .parts()
            .iter()
            .copied()
            .filter(|p| args.only.is_empty() || args.only.contains(p))
            .collect();
        Ok(Self {
            runtime,
            requests_c1: args.requests_c1,
            requests_c32: args.requests_c32,
            orders: args.orders,
            rate: args.rate,
            instances,
            only,
        })
    }
}

/// `cargo xtask bench-workers` / `bench-spin`: builds everything, measures,
/// prints the figures as Markdown and writes them to
/// `target/<command>/report.md`.
pub fn run(options: &Options) -> Result<()> {
    let runtime = options.runtime;
    let report = RefCell::new(String::new());
    let gasline = up::target_dir().join("debug").join("gasline");
    let out = runtime.out_dir();
    {
        let mut r = report.borrow_mut();
        let _ = writeln!(r, "# {}, {}\n", runtime.command(), machine_note());
        let _ = writeln!(
            r,
            "options: {} requests of each kind at concurrency 1 and {} at 32 ({ROUNDS} alternating rounds, \
             {WARMUP} warm-up each); saga runs of {} orders at {} orders/s, on {} instance(s)\n",
            options.requests_c1,
            options.requests_c32,
            options.orders,
            options.rate,
            options
                .instances
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and ")
        );
    }
    let mut run = match runtime {
        Runtime::Workers => vec![
            Step::new("tools", || ensure::all(ensure::WORKERS_TOOLS)),
            Step::new("build workers", || worker_sizes(&mut report.borrow_mut())),
            Step::new("build gasline", || {
                Cmd::cargo().args(["build", "--locked", "-p", "gasline-cli"]).run()
            }),
        ],
        Runtime::Spin => vec![
            Step::new("tools", || ensure::all(ensure::SPIN_TOOLS)),
            Step::new("build components", || component_sizes(&mut report.borrow_mut())),
            Step::new("build gasline and the host", || {
                Cmd::cargo().args(["build", "--locked", "-p", "gasline-cli"]).run()?;
                Cmd::cargo()
                    .args([
                        "build",
                        "--locked",
                        "--profile",
                        HOST_PROFILE,
                        "-p",
                        "gasline-spin-host",
                    ])
                    .run()
            }),
        ],
    };
    for part in &options.only {
        match *part {
            Part::Latency => run.push(Step::new("POST latency", || {
                post_latency(&mut report.borrow_mut(), options, &gasline)
            })),
            Part::Saga => {
                for &n in &options.instances {
                    let (step, name) = match n {
                        1 => ("saga".to_owned(), "saga".to_owned()),
                        n => (format!("saga, {n} instances"), format!("saga-{n}")),
                    };
                    let report = &report;
                    let gasline = &gasline;
                    run.push(Step::new(step, move || {
                        saga(&mut report.borrow_mut(), options, gasline, &name, None, n)
                    }));
                }
            }
            Part::SagaBatched => run.push(Step::new("saga, production batches", || {
                saga(
                    &mut report.borrow_mut(),
                    options,
                    &gasline,
                    "saga-batched",
                    Some("{}"),
                    1,
                )
            })),
        }
    }
    let outcome = steps::run_all(&format!("xtask {}", runtime.command()), run);
    // What was measured, also when a later step failed.
    let report = report.into_inner();
    std::fs::create_dir_all(&out)?;
    let path = out.join("report.md");
    std::fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    println!("\n{report}");
    eprintln!("(also written to {})", path.display());
    outcome
}

/// Date, CPU and cores, for the report's heading.
fn machine_note() -> String {
    let date = Cmd::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .read()
        .map_or_else(|_| "?".to_owned(), |d| d.trim().to_owned());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "?".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{date}, {cores} cores, {cpu}, load average {}", load_average())
}

/// The 1-minute load average (the machine is shared: what else ran).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

// --- 1. sizes ---------------------------------------------------------------

/// Builds the four workers and the hello worker (release) and reports their
/// wasm sizes.
fn worker_sizes(report: &mut String) -> Result<()> {
    let mut rows = Vec::new();
    for name in workers::FUNCTIONS {
        rows.push((name.to_owned(), PathBuf::from("functions").join(name)));
    }
    rows.push(("hello (baseline)".to_owned(), PathBuf::from(up::HELLO_WORKER)));
    let _ = writeln!(report, "## wasm size (worker-build --release)\n");
    let _ = writeln!(report, "| worker | wasm, raw | wasm, gzip -9 | index.js |");
    let _ = writeln!(report, "|---|---|---|---|");
    for (name, dir) in rows {
        let raw = up::build_worker(&dir)?;
        let build = dir.join("build");
        let gzip = up::gzip_size(&build.join("index_bg.wasm")).context("gzip is not installed")?;
        let js = std::fs::metadata(build.join("index.js")).map_or(0, |m| m.len());
        let _ = writeln!(
            report,
            "| {name} | {} | {} | {} B |",
            size(raw),
            size(gzip),
            thousands(js)
        );
    }
    report.push('\n');
    Ok(())
}

/// Builds the four components and the hello component as `spin build`
/// does (release, wasm32-wasip2) and reports their sizes. Hello is built by
/// a cargo run of its own, so that the functions' spin-sdk features are not
/// unified into it.
fn component_sizes(report: &mut String) -> Result<()> {
    spin::build_components()?;
    Cmd::cargo()
        .args(["build", "--release", "--locked", "--target", ensure::SPIN_TARGET])
        .args(["-p", SPIN_HELLO_CRATE])
        .run()?;
    let mut rows: Vec<(String, PathBuf)> = workers::FUNCTIONS
        .iter()
        .map(|name| ((*name).to_owned(), spin::component_wasm(&format!("gasline-{name}"))))
        .collect();
    rows.push(("hello (baseline)".to_owned(), spin::component_wasm(SPIN_HELLO_CRATE)));
    let _ = writeln!(
        report,
        "## component size (cargo build --release --target wasm32-wasip2, as `spin build`)\n"
    );
    let _ = writeln!(report, "| component | wasm, raw | wasm, gzip -9 |");
    let _ = writeln!(report, "|---|---|---|");
    for (name, wasm) in rows {
        let raw = std::fs::metadata(&wasm)
            .with_context(|| format!("{} was not built", wasm.display()))?
            .len();
        let gzip = up::gzip_size(&wasm).context("gzip is not installed")?;
        let _ = writeln!(report, "| {name} | {} | {} |", size(raw), size(gzip));
    }
    report.push('\n');
    Ok(())
}

/// `560,038 B (547 KiB)`
fn size(bytes: u64) -> String {
    format!("{} B ({:.0} KiB)", thousands(bytes), kib(bytes))
}

#[allow(clippy::cast_precision_loss)]
fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// --- a harness instance with demo data ---------------------------------------

/// The four functions (and optionally the hello baseline) on a fresh
/// instance of the runtime with demo data — on Spin, one or more test-host
/// processes sharing one SQLite file and one redis-server.
struct Instance {
    harnesses: Vec<Harness>,
    /// Spin only: the redis-server the processes share.
    redis: Option<RedisServer>,
    /// `http://127.0.0.1:port` of the first process.
    base: String,
    /// Every process's base URL, the first one first.
    bases: Vec<String>,
    app: String,
    ops: String,
}

/// What an [`Instance`] starts with.
struct Setup<'a> {
    /// Its folder under the runtime's output folder.
    name: &'a str,
    riders: usize,
    /// Cylinders of every spec per station.
    stock: usize,
    /// Workers only: the harness's `queueOverrides` (`None`: no batch wait).
    queue_overrides: Option<&'a str>,
    /// With the hello-world baseline.
    hello: bool,
    /// Spin only: test-host processes sharing the database and Redis.
    processes: usize,
}

impl Instance {
    fn start(options: &Options, gasline: &Path, setup: &Setup<'_>) -> Result<Self> {
        let &Setup {
            name,
            riders,
            stock,
            queue_overrides,
            hello,
            processes,
        } = setup;
        let runtime = options.runtime;
        let dir = std::env::current_dir()?.join(runtime.out_dir()).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let database = dir.join("gasline.db");
        let mut demo = Cmd::new(gasline)
            .args(["demo", "--riders", &riders.to_string(), "--stock", &stock.to_string()])
            .args(["--url", "http://127.0.0.1", "--dir"])
            .arg(&dir);
        if runtime == Runtime::Spin {
            demo = demo.arg("--sqlite").arg(&database);
        }
        demo.no_stdin().run()?;
        let mut redis = None;
        let harnesses = match runtime {
            Runtime::Workers => {
                let dispatch = dir.join("dispatch-config.json");
                std::fs::write(&dispatch, BENCH_DISPATCH)?;
                let extra = if hello {
                    let build = workers::absolute(&Path::new(up::HELLO_WORKER).join("build"))?;
                    vec![format!(
                        r#"{{ "name": "hello", "build": {}, "routes": ["GET /"] }}"#,
                        workers::json_string(&build)
                    )]
                } else {
                    Vec::new()
                };
                let config = workers::write_config(&LocalRun {
                    queue_overrides,
                    extra_workers: &extra,
                    ..LocalRun::new(&dir, &dispatch, None)
                })?;
                eprintln!(
                    "{name}: {riders} riders, {stock} cylinders of every spec per station, queueOverrides {}",
                    queue_overrides.unwrap_or("{\"maxBatchTimeout\": 0}")
                );
                vec![Harness::start(config.to_str().context("UTF-8 path")?, &[])?]
            }
            Runtime::Spin => {
                let manifest = bench_manifest(&dir, hello)?;
                let host = up::target_dir().join(HOST_PROFILE).join("gasline-spin-host");
                eprintln!(
                    "{name}: {riders} riders, {stock} cylinders of every spec per station, on {processes} test-host process(es)"
                );
                let server = RedisServer::start()?;
                let url = server.url();
                redis = Some(server);
                (0..processes)
                    .map(|_| {
                        let command =
                            spin::host_command(&host, &manifest, &dir, &database, BENCH_DISPATCH, Some(&url))?;
                        Harness::spawn(command)
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let bases: Vec<String> = harnesses
            .iter()
            .map(|h| h.url.trim_end_matches('/').to_owned())
            .collect();
        let base = bases[0].clone();
        let env = DevEnv::load(&dir.join("dev.env"))?;
        let ops = env.require("GASLINE_OPS_TOKEN")?.to_owned();
        Ok(Self {
            app: env.require("GASLINE_APP_TOKEN")?.to_owned(),
            ops,
            harnesses,
            redis,
            base,
            bases,
        })
    }

    /// CPU seconds the runtime's processes have used so far, all of them.
    fn cpu_seconds(&self) -> f64 {
        self.harnesses.iter().map(Harness::cpu_seconds).sum()
    }

    fn stop(self) -> Result<()> {
        let stopped: Vec<Result<()>> = self.harnesses.into_iter().map(Harness::stop).collect();
        drop(self.redis);
        stopped.into_iter().collect()
    }

    /// A client of this instance with a connection of its own.
    fn client(&self) -> Client<Loopback> {
        client(&self.base)
    }

    /// `POST /v1/orders` number `i` of run `label`.
    fn order(&self, label: &str, i: usize) -> Call {
        place_call(&self.app, &format!("bench-{label}-{i}"), &OrderBody::nth(i).to_string())
    }

    /// `GET /v1/orders/{id}` as the dispatch desk.
    fn order_status(&self, id: &str) -> Call {
        Call::get(&format!("/v1/orders/{id}")).token(&self.ops)
    }

    /// `orders_by_state` from `GET /v1/stats`.
    fn states(&self, client: &Client<Loopback>) -> Result<Vec<(String, f64)>> {
        let reply = client.get("/v1/stats", &self.ops)?;
        if reply.status != 200 {
            bail!("GET /v1/stats answered {}: {}", reply.status, reply.text());
        }
        Ok(reply.json()["orders_by_state"]
            .as_object()
            .context("no orders_by_state in /v1/stats")?
            .iter()
            .map(|(state, n)| (state.clone(), n.as_f64().unwrap_or(0.0)))
            .collect())
    }

    /// Sends each request once the order placed by the one before has
    /// settled (reached `waybill_signed`, or left the way there).
    fn one_at_a_time(&self, requests: &[Call]) -> Result<Load> {
        let client = self.client();
        open_connection(&client);
        let mut load = Load::default();
        for (index, request) in requests.iter().enumerate() {
            let sent = Instant::now();
            let answer = client.send(request)?;
            let latency = sent.elapsed();
            load.wall += latency;
            if answer.status == 202 {
                self.settle(&client, &order_id(&answer)?)?;
            }
            load.replies.push(Reply { index, latency, answer });
        }
        Ok(load)
    }

    /// Polls one order until it is no longer on its way to a signed waybill.
    fn settle(&self, client: &Client<Loopback>, id: &str) -> Result<()> {
        let started = Instant::now();
        let get = self.order_status(id);
        loop {
            let reply = client.send(&get)?;
            if reply.status != 200 {
                bail!("GET /v1/orders/{id} answered {}: {}", reply.status, reply.text());
            }
            let order = reply.json();
            let state = order["state"].as_str().unwrap_or_default();
            if !PENDING_STATES.contains(&state) {
                return Ok(());
            }
            if started.elapsed() > DRAIN_TIMEOUT {
                bail!("order {id} still {state} after {}s", DRAIN_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until no order is on its way to a signed waybill any more;
    /// returns the count by state and how long it took.
    fn drain(&self) -> Result<(Vec<(String, f64)>, Duration)> {
        let started = Instant::now();
        let client = self.client();
        loop {
            let states = self.states(&client)?;
            let pending: f64 = states
                .iter()
                .filter(|(s, _)| PENDING_STATES.contains(&s.as_str()))
                .map(|(_, n)| n)
                .sum();
            if pending == 0.0 {
                eprintln!(
                    "settled in {:.1}s: {}",
                    started.elapsed().as_secs_f64(),
                    states_line(&states)
                );
                return Ok((states, started.elapsed()));
            }
            if started.elapsed() > DRAIN_TIMEOUT {
                bail!(
                    "orders still on their way after {}s: {states:?}",
                    DRAIN_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A copy of `spin.toml` in `dir` with its sources as absolute paths to the
/// release components and, with `hello`, the hello component on `/hello`
/// (more specific than status's `/...`, so Spin's router picks it).
fn bench_manifest(dir: &Path, hello: bool) -> Result<PathBuf> {
    let root = std::env::current_dir()?;
    let release = root.join(up::target_dir()).join(ensure::SPIN_TARGET).join("release");
    let mut manifest = std::fs::read_to_string("spin.toml").context("reading spin.toml")?;
    let relative = format!("source = \"target/{}/release/", ensure::SPIN_TARGET);
    if !manifest.contains(&relative) {
        bail!("spin.toml has no `{relative}…` sources any more: update bench_manifest");
    }
    manifest = manifest.replace(&relative, &format!("source = \"{}/", release.display()));
    if hello {
        let _ = write!(
            manifest,
            "\n# Added by cargo xtask bench-spin: the baseline.\n\
             [[trigger.http]]\nroute = \"/hello\"\ncomponent = \"hello\"\n\n\
             [component.hello]\nsource = \"{}\"\n",
            root.join(spin::component_wasm(SPIN_HELLO_CRATE)).display()
        );
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest)?;
    Ok(path)
}

// --- 2. POST /v1/orders beside hello -----------------------------------------

/// What one row of the latency table measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `GET` of the hello-world baseline.
    Hello,
    /// `GET /healthz`: one of our functions (status), no storage — what
    /// our code and wasm cost without the database.
    Health,
    /// `GET /v1/orders/{id}`: status with a token it trusts (cached) and
    /// one SQL read — what one database round trip adds.
    Read,
    /// `POST /v1/orders`, each sent once the previous order's saga settled.
    Quiet,
    /// `POST /v1/orders` back to back (the saga runs behind them).
    Ours,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Hello => "`GET` hello",
            Self::Health => "`GET /healthz` (status, no storage)",
            Self::Read => "`GET /v1/orders/{id}` (status, one SQL read)",
            Self::Quiet => "`POST /v1/orders`, each after the previous order settled",
            Self::Ours => "`POST /v1/orders`, back to back",
        }
    }
}

fn post_latency(report: &mut String, options: &Options, gasline: &Path) -> Result<()> {
    let orders = 2 * WARMUP + 2 * options.requests_c1 + options.requests_c32;
    let runtime = options.runtime;
    let setup = Setup {
        name: "latency",
        riders: orders + orders / 10,
        stock: orders,
        queue_overrides: None,
        hello: true,
        processes: 1,
    };
    let inst = Instance::start(options, gasline, &setup)?;
    let hello = Call::get(runtime.hello_path());
    let calls = |call: &Call, n: usize| vec![call.clone(); n];
    let check = |kind: Kind, load: &Load| -> Result<()> {
        let bad = |r: &&Reply| match kind {
            Kind::Hello => r.answer.status != 200 || r.answer.body != b"hello",
            Kind::Health | Kind::Read => r.answer.status != 200,
            Kind::Quiet | Kind::Ours => r.answer.status != 202,
        };
        match load.replies.iter().find(bad) {
            Some(r) => bail!("{} answered {}: {}", kind.label(), r.answer.status, r.answer.text()),
            None => Ok(()),
        }
    };
    let mut placed = 0;
    let mut ours = |count: usize| -> Vec<Call> {
        let requests = (placed..placed + count).map(|i| inst.order("latency", i)).collect();
        placed += count;
        requests
    };

    eprintln!(
        "warm-up: {WARMUP} GET {} (hello), POST /v1/orders, GET /healthz and GET /v1/orders/{{id}} at concurrency 32",
        runtime.hello_path()
    );
    check(Kind::Hello, &run_load(&inst.base, &calls(&hello, WARMUP), 32, None))?;
    let warm = run_load(&inst.base, &ours(WARMUP), 32, None);
    check(Kind::Ours, &warm)?;
    let read = inst.order_status(&order_id(&warm.replies[0].answer)?);
    let health = Call::get("/healthz");
    check(Kind::Health, &run_load(&inst.base, &calls(&health, WARMUP), 32, None))?;
    check(Kind::Read, &run_load(&inst.base, &calls(&read, WARMUP), 32, None))?;
    inst.drain()?;

    let setup = match runtime {
        Runtime::Workers => {
            "## POST /v1/orders beside the hello worker (same harness, same router)\n\n\
             Hello is a fifth worker on `GET /`; the four functions are routed as in `cargo xtask up`."
        }
        Runtime::Spin => {
            "## POST /v1/orders beside the hello component (same test host, same router)\n\n\
             Hello is a fifth component on `GET /hello`, added to a copy of `spin.toml`; the four \
             functions are routed by the manifest. A fresh instance per request, as Spin does."
        }
    };
    let _ = writeln!(
        report,
        "{setup} {ROUNDS} rounds per concurrency, each: hello's share, then `/healthz`'s and the read's, (at concurrency 1) ours one at a \
         time with the order's saga settled before the next POST, then ours back to back, then \
         wait until the saga of the orders just placed has settled. Back to back, matching and \
         signing run on the same cores while the POSTs are measured. One keep-alive connection \
         per client thread. Where a POST's time goes, step by step: hello is the runtime and \
         its router; `GET /healthz` adds one of our functions and no storage (liveness; \
         the readiness check with its SQL read is `/readyz`); `GET /v1/orders/{{id}}` adds \
         token checking (cached) and its own reads; the POST \
         adds strict parsing, the decision and one atomic write batch (and, where the runtime \
         cannot send after replying, the queue send).\n"
    );
    let _ = writeln!(
        report,
        "| request | concurrency | requests | p50 | p90 | p99 | max | requests/s |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (concurrency, total) in [(1, options.requests_c1), (32, options.requests_c32)] {
        let kinds: &[Kind] = if concurrency == 1 {
            &[Kind::Hello, Kind::Health, Kind::Read, Kind::Quiet, Kind::Ours]
        } else {
            &[Kind::Hello, Kind::Health, Kind::Read, Kind::Ours]
        };
        let mut loads: Vec<Load> = kinds.iter().map(|_| Load::default()).collect();
        for round in 0..ROUNDS {
            let share = total / ROUNDS + usize::from(round < total % ROUNDS);
            eprintln!(
                "concurrency {concurrency}, round {}/{ROUNDS}: {share} of each",
                round + 1
            );
            for (kind, sum) in kinds.iter().zip(&mut loads) {
                let load = match kind {
                    Kind::Hello => run_load(&inst.base, &calls(&hello, share), concurrency, None),
                    Kind::Health => run_load(&inst.base, &calls(&health, share), concurrency, None),
                    Kind::Read => run_load(&inst.base, &calls(&read, share), concurrency, None),
                    Kind::Quiet => inst.one_at_a_time(&ours(share))?,
                    Kind::Ours => run_load(&inst.base, &ours(share), concurrency, None),
                };
                check(*kind, &load)?;
                if *kind == Kind::Ours {
                    inst.drain()?;
                }
                sum.absorb(load);
            }
        }
        let summaries: Vec<Summary> = loads.iter().map(Summary::of).collect();
        for (kind, s) in kinds.iter().zip(&summaries) {
            let rate = if *kind == Kind::Quiet {
                "—".to_owned()
            } else {
                format!("{:.0}", s.rate)
            };
            let _ = writeln!(
                report,
                "| {} | {concurrency} | {} | {} | {} | {} | {} | {rate} |",
                kind.label(),
                s.count,
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                ms(s.max),
            );
        }
        let hello = summaries[0];
        for (kind, s) in kinds.iter().zip(&summaries).skip(1) {
            let rate = if *kind == Kind::Quiet {
                "—".to_owned()
            } else {
                format!("{:.2}×", s.rate / hello.rate)
            };
            ratios.push((concurrency, *kind, s.p50 / hello.p50, s.p99 / hello.p99, rate));
        }
    }
    let _ = writeln!(report, "\n| ours / hello | concurrency | p50 | p99 | requests/s |");
    let _ = writeln!(report, "|---|---|---|---|---|");
    for (concurrency, kind, p50, p99, rate) in ratios {
        let _ = writeln!(
            report,
            "| {} | {concurrency} | {p50:.1}× | {p99:.1}× | {rate} |",
            kind.label()
        );
    }
    let (states, _) = inst.drain()?;
    let _ = writeln!(
        report,
        "\nOrders at the end: {}. Load average after: {}.\n",
        states_line(&states),
        load_average()
    );
    inst.stop()
}

// --- 3. and 4. the saga -------------------------------------------------------

fn saga(
    report: &mut String,
    options: &Options,
    gasline: &Path,
    name: &str,
    queue_overrides: Option<&str>,
    processes: usize,
) -> Result<()> {
    let orders = options.orders;
    let total = orders + SAGA_WARMUP;
    let setup = Setup {
        name,
        riders: total + orders / 10,
        stock: total,
        queue_overrides,
        hello: false,
        processes,
    };
    let inst = Instance::start(options, gasline, &setup)?;
    eprintln!("warm-up: {SAGA_WARMUP} orders, one at a time");
    for i in 0..SAGA_WARMUP {
        let load = run_load(&inst.base, &[inst.order(&format!("{name}-warm"), i)], 1, None);
        if let Some(r) = load.replies.iter().find(|r| r.answer.status != 202) {
            bail!("POST /v1/orders answered {}: {}", r.answer.status, r.answer.text());
        }
        inst.drain()?;
    }
    eprintln!("placing {orders} orders at {} per second", options.rate);
    let requests: Vec<Call> = (0..orders).map(|i| inst.order(name, i)).collect();
    let cpu_before = inst.cpu_seconds();
    let load = run_load_across(&inst.bases, &requests, SAGA_CLIENTS, Some(options.rate));
    let mut ids = vec![String::new(); orders];
    for reply in &load.replies {
        if reply.answer.status != 202 {
            bail!(
                "POST /v1/orders answered {}: {}",
                reply.answer.status,
                reply.answer.text()
            );
        }
        ids[reply.index] = order_id(&reply.answer)?;
    }
    let placing = load.wall;
    let (states, settled) = inst.drain()?;
    let cpu = inst.cpu_seconds() - cpu_before;
    eprintln!(
        "placed in {:.1}s, settled {:.1}s later: {}",
        placing.as_secs_f64(),
        settled.as_secs_f64(),
        states_line(&states)
    );
    // Each order's own timeline (workerd's clock, ms).
    let gets: Vec<Call> = ids.iter().map(|id| inst.order_status(id)).collect();
    let fetched = run_load(&inst.base, &gets, 4, None);
    let mut timelines = Vec::new();
    let mut finals = Vec::<(String, usize)>::new();
    let mut reasons = Vec::<(String, usize)>::new();
    for reply in &fetched.replies {
        if reply.answer.status != 200 {
            bail!(
                "GET /v1/orders/{} answered {}: {}",
                ids[reply.index],
                reply.answer.status,
                reply.answer.text()
            );
        }
        let order = reply.answer.json();
        let state = order["state"].as_str().unwrap_or("?").to_owned();
        if state != "waybill_signed" {
            let reason = order["reason"].as_str().unwrap_or("?");
            count(&mut reasons, format!("{state}: {reason}"));
        }
        count(&mut finals, state);
        timelines.push(Timeline::of(&order));
    }
    inst.stop()?;
    let once = match options.runtime {
        Runtime::Spin => Some(events_once(
            &std::env::current_dir()?
                .join(options.runtime.out_dir())
                .join(name)
                .join("gasline.db"),
            processes,
        )?),
        Runtime::Workers => None,
    };

    let signed = timelines.iter().filter(|t| t.signed.is_some()).count();
    let settings = match (options.runtime, queue_overrides) {
        (Runtime::Spin, _) => format!(
            "Redis pub/sub, one message at a time per Redis address (as Spin's Redis trigger delivers), \
             {processes} test-host process(es) on one SQLite file and one redis-server, each claiming \
             waiting events with a lease, POSTs spread over them by client thread, \
             the sweeper on the app's own tick"
        ),
        (Runtime::Workers, None) => {
            "harness default `queueOverrides: {\"maxBatchTimeout\": 0}` (every other setting from the \
                 wrangler files: `max_batch_size = 10`, `max_retries = 2`)"
                .to_owned()
        }
        (Runtime::Workers, Some(_)) => {
            "the wrangler files' own settings (`queueOverrides: {}`): `max_batch_size = 10`, \
                    `max_batch_timeout = 1`, `max_retries = 2`"
                .to_owned()
        }
    };
    let _ = writeln!(
        report,
        "## Saga: {orders} orders at {} orders/s, queues: {settings}\n",
        options.rate
    );
    let _ = writeln!(
        report,
        "Placed by {SAGA_CLIENTS} client threads in {:.1} s ({:.0} orders/s achieved; POST p50 {} p99 {}); \
         the last order settled {:.1} s after the last POST, so **{:.0} signed waybills/s** from the first POST to the \
         last settled order. The runtime's processes used {:.1} CPU-seconds meanwhile ({:.1} ms per order; the \
         machine had {:.1} in that time). Reached `waybill_signed`: **{signed} of {orders}**. \
         Final states: {}{}. Riders: {}, nobody accepts. Load average after: {}.\n",
        placing.as_secs_f64(),
        load.rate(),
        ms(Summary::of(&load).p50),
        ms(Summary::of(&load).p99),
        settled.as_secs_f64(),
        signed as f64 / (placing + settled).as_secs_f64(),
        cpu,
        cpu * 1000.0 / orders as f64,
        (placing + settled).as_secs_f64() * std::thread::available_parallelism().map_or(1, usize::from) as f64,
        finals
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                reasons
                    .iter()
                    .map(|(r, n)| format!("{n} × {r}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
        total + orders / 10,
        load_average(),
    );
    let _ = writeln!(
        report,
        "| step (from each order's timeline) | orders | p50 | p90 | p99 | max |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|---|");
    let steps: [(&str, Delta); 5] = [
        ("received → source_allocated", |t| Some(t.allocated? - t.received?)),
        ("source_allocated → rider_assigned", |t| {
            Some(t.assigned? - t.allocated?)
        }),
        ("rider_assigned → waybill_signed", |t| Some(t.signed? - t.assigned?)),
        ("received → rider_assigned", |t| Some(t.assigned? - t.received?)),
        ("**received → waybill_signed**", |t| Some(t.signed? - t.received?)),
    ];
    for (label, delta) in &steps {
        #[allow(clippy::cast_precision_loss)]
        let mut values: Vec<f64> = timelines.iter().filter_map(delta).map(|d| d as f64).collect();
        values.sort_by(f64::total_cmp);
        let _ = writeln!(
            report,
            "| {label} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
            values.len(),
            percentile(&values, 50.0),
            percentile(&values, 90.0),
            percentile(&values, 99.0),
            values.last().copied().unwrap_or(f64::NAN)
        );
    }
    report.push('\n');
    if let Some(once) = once {
        let _ = writeln!(report, "{once}\n");
    }
    if signed != orders {
        // Riders and stock suffice for every order, so this is the system's
        // doing: report it, and keep measuring.
        let _ = writeln!(
            report,
            "**Only {signed} of {orders} orders reached `waybill_signed`** (riders and stock sufficed).\n"
        );
        eprintln!("warning: only {signed} of {orders} orders reached waybill_signed");
    }
    Ok(())
}

/// From the database of a Spin run: how many events with a consumer were
/// sent, how many of them were processed (each at most once: the
/// processed-event record is keyed by consumer and event), and how many
/// times they were published (each publish rings every process).
fn events_once(database: &Path, processes: usize) -> Result<String> {
    let db = rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", database.display()))?;
    let (due, processed, publishes): (i64, i64, i64) = db.query_row(
        "SELECT COUNT(*), \
                SUM(EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = o.consumer AND p.event_id = o.event_id)), \
                COALESCE(SUM(o.deliveries), 0) \
         FROM outbox o WHERE o.consumer IS NOT NULL AND o.sent_at IS NOT NULL",
        [],
        |row| Ok((row.get(0)?, row.get::<_, Option<i64>>(1)?.unwrap_or(0), row.get(2)?)),
    )?;
    if processed != due {
        eprintln!("warning: {due} events were sent and only {processed} processed");
    }
    Ok(format!(
        "Across {processes} process(es): of {due} events with a consumer that were sent, **{processed} were \
         processed** (at most once each: the processed-event record is keyed by consumer and event); they were \
         published {publishes} times \
         ({} re-sends by the sweeper), so the processes heard {} doorbells between them.",
        publishes - due,
        publishes * i64::try_from(processes)?
    ))
}

/// Adds one to `key`'s count.
fn count(counts: &mut Vec<(String, usize)>, key: String) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => counts.push((key, 1)),
    }
}

/// The time between two steps of a timeline (ms), if it has both.
type Delta = fn(&Timeline) -> Option<i64>;

/// When an order first reached each step (ms, workerd's clock).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Timeline {
    received: Option<i64>,
    allocated: Option<i64>,
    assigned: Option<i64>,
    signed: Option<i64>,
}

impl Timeline {
    fn of(order: &Value) -> Self {
        let mut t = Self::default();
        for entry in order["timeline"].as_array().map_or(&[][..], Vec::as_slice) {
            let at = entry["at"].as_i64();
            let slot = match entry["state"].as_str() {
                Some("received") => &mut t.received,
                Some("source_allocated") => &mut t.allocated,
                Some("rider_assigned") => &mut t.assigned,
                Some("waybill_signed") => &mut t.signed,
                _ => continue,
            };
            if slot.is_none() {
                *slot = at;
            }
        }
        t
    }
}

fn states_line(states: &[(String, f64)]) -> String {
    states
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// --- the load generator -------------------------------------------------------

/// One answered request.
#[derive(Debug, Clone)]
struct Reply {
    /// Which request (index into the list given to [`run_load`]).
    index: usize,
    latency: Duration,
    answer: Answer,
}

/// What a load run got.
#[derive(Debug, Default)]
struct Load {
    replies: Vec<Reply>,
    /// Wall time from the first send to the last answer.
    wall: Duration,
}

impl Load {
    fn absorb(&mut self, other: Load) {
        self.replies.extend(other.replies);
        self.wall += other.wall;
    }

    fn rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.replies.len() as f64;
        n / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Sends `requests` over `concurrency` keep-alive connections (one thread
/// and one client each, its connection opened before the first request),
/// each thread taking the next unsent request; with `rate`, request `i` is
/// not sent before `i / rate` seconds from the start. A request that got no
/// answer becomes a reply with status 0 and the error as its body.
fn run_load(base: &str, requests: &[Call], concurrency: usize, rate: Option<f64>) -> Load {
    run_load_across(&[base.to_owned()], requests, concurrency, rate)
}

/// [`run_load`] with client thread `t` talking to `bases[t % bases.len()]`,
/// as a load balancer keeping each keep-alive connection on one replica.
fn run_load_across(bases: &[String], requests: &[Call], concurrency: usize, rate: Option<f64>) -> Load {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let per_thread: Vec<Vec<Reply>> = std::thread::scope(|scope| {
        let next = &next;
        let threads: Vec<_> = (0..concurrency.max(1))
            .map(|thread| {
                let base = &bases[thread % bases.len()];
                scope.spawn(move || {
                    let client = client(base);
                    open_connection(&client);
                    let mut replies = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(request) = requests.get(index) else {
                            break;
                        };
                        if let Some(rate) = rate {
                            #[allow(clippy::cast_precision_loss)]
                            let due = started + Duration::from_secs_f64(index as f64 / rate);
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                        }
                        let sent = Instant::now();
                        let answer = client.send(request).unwrap_or_else(|e| Answer {
                            status: 0,
                            body: format!("{e:#}").into_bytes(),
                            content_type: String::new(),
                            headers: Vec::new(),
                        });
                        replies.push(Reply {
                            index,
                            latency: sent.elapsed(),
                            answer,
                        });
                    }
                    replies
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_default()).collect()
    });
    let wall = started.elapsed();
    let mut load = Load {
        wall,
        ..Load::default()
    };
    for replies in per_thread {
        load.replies.extend(replies);
    }
    load.replies.sort_by_key(|r| r.index);
    load
}

/// A benchmark client of `base` (its own connection pool).
fn client(base: &str) -> Client<Loopback> {
    Client::new(Loopback::new(base, ANSWER_TIMEOUT))
}

/// Opens the client's keep-alive connection with a `GET /healthz` (not
/// measured), so that the first measured request does not pay for it. A
/// failure shows at the first measured request.
fn open_connection(client: &Client<Loopback>) {
    let _ = client.send(&Call::get("/healthz"));
}

/// Percentiles of a load's latencies (ms) and its rate.
#[derive(Debug, Clone, Copy)]
struct Summary {
    count: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    rate: f64,
}

impl Summary {
    fn of(load: &Load) -> Self {
        let mut ms: Vec<f64> = load.replies.iter().map(|r| r.latency.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Self {
            count: ms.len(),
            p50: percentile(&ms, 50.0),
            p90: percentile(&ms, 90.0),
            p99: percentile(&ms, 99.0),
            max: ms.last().copied().unwrap_or(f64::NAN),
            rate: load.rate(),
        }
    }
}

/// Nearest-rank percentile of sorted values (NaN when there are none).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds for the tables: two decimals below 10 ms.
fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} ms")
    } else {
        format!("{value:.1} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bench-workers ARGS` as clap reads it, through the real command line.
    fn parse(runtime: Runtime, args: &[&str]) -> Result<Options> {
        let command = runtime.command();
        let cli = <crate::Cli as clap::Parser>::try_parse_from(["xtask", command].iter().chain(args))?;
        match cli.command {
            crate::Command::BenchWorkers(args) | crate::Command::BenchSpin(args) => Options::new(runtime, args),
            other => panic!("{command} parsed as {other:?}"),
        }
    }

    #[test]
    fn options_parse() {
        let workers = Runtime::Workers;
        let defaults = parse(workers, &[]).unwrap();
        assert_eq!(
            (
                defaults.requests_c1,
                defaults.requests_c32,
                defaults.orders,
                defaults.rate
            ),
            (500, 3_000, 1_000, 10.0)
        );
        assert_eq!(defaults.only, workers.parts());
        let options = parse(
            workers,
            &[
                "--orders",
                "200",
                "--rate=30",
                "--requests-c1",
                "50",
                "--requests-c32=1_000",
            ],
        )
        .unwrap();
        assert_eq!(
            options,
            Options {
                runtime: workers,
                requests_c1: 50,
                requests_c32: 1_000,
                orders: 200,
                rate: 30.0,
                instances: vec![1],
                only: workers.parts().to_vec(),
            }
        );
        let args = ["--only", "saga-batched,saga", "--only=saga"];
        assert_eq!(parse(workers, &args).unwrap().only, [Part::Saga, Part::SagaBatched]);
        // Spin has no queue batches to vary.
        let spin = Runtime::Spin;
        assert!(
            parse(spin, &args)
                .unwrap_err()
                .downcast_ref::<crate::UsageError>()
                .is_some()
        );
        assert_eq!(
            parse(spin, &["--only=saga,latency"]).unwrap().only,
            [Part::Latency, Part::Saga]
        );
        // One saga run per instance count; Workers has no count to give.
        assert_eq!(parse(spin, &[]).unwrap().instances, [1, 2]);
        assert_eq!(parse(spin, &["--instances=1,3"]).unwrap().instances, [1, 3]);
        assert!(parse(spin, &["--instances=0"]).is_err());
        assert!(
            parse(workers, &["--instances", "2"])
                .unwrap_err()
                .downcast_ref::<crate::UsageError>()
                .is_some()
        );
        for bad in [
            &["--orders"][..],
            &["--orders", "0"],
            &["--rate", "-1"],
            &["--rate", "inf"],
            &["--fast"],
            &["--only", "sizes"],
        ] {
            assert!(parse(workers, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_timeline_counts_the_first_time_each_step_was_reached() {
        let order: Value = serde_json::from_str(
            r#"{"id":"ord-1","state":"waybill_signed","timeline":[{"state":"received","at":1795406400000},
               {"state":"source_allocated","at":1795406400012},{"state":"rider_assigned","at":1795406400012},
               {"state":"waybill_signed","at":1795406400031},{"state":"rider_assigned","at":1795406500000}]}"#,
        )
        .unwrap();
        assert_eq!(
            Timeline::of(&order),
            Timeline {
                received: Some(1_795_406_400_000),
                allocated: Some(1_795_406_400_012),
                assigned: Some(1_795_406_400_012),
                signed: Some(1_795_406_400_031),
            }
        );
        assert_eq!(Timeline::of(&Value::Null), Timeline::default());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
