//! The four functions as Cloudflare Workers on the local runtime (workerd,
//! through the Miniflare harness): building them, describing them to the
//! harness, the end-to-end step CI runs, and `cargo xtask up`.
//!
//! The wrangler files under `infra/cloudflare/` are the one description of
//! each Worker (bindings, queues, crons); the harness configuration written
//! here only adds what differs locally: shared D1/KV, the dev key, the demo
//! data, routes, and (for tests) the dispatch configuration and faults.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::cmd::Cmd;
use crate::ensure;
use crate::faults;
use crate::steps::{self, Step};
use crate::up::{self, Harness};

/// The function crates, by their directory under `functions/`.
pub const FUNCTIONS: [&str; 4] = ["intake", "matching", "signing", "status"];

/// What `cargo xtask build-worker` builds: the four functions, and the
/// router in front of a deployment split into cells (`docs/SCALING.md`).
pub const WORKERS: [&str; 5] = ["intake", "matching", "signing", "status", "router"];

/// Demo riders loaded for local runs.
const DEMO_RIDERS: &str = "40";

/// Builds one function as a Worker (`cargo xtask build-worker NAME`, also the
/// `[build] command` of its wrangler file).
pub fn build_one(name: &str) -> Result<()> {
    if !WORKERS.contains(&name) {
        bail!("no function {name:?}; the functions are {}", WORKERS.join(", "));
    }
    let dir = Path::new("functions").join(name);
    let raw = up::build_worker(&dir)?;
    let wasm = dir.join("build").join("index_bg.wasm");
    let gzip = up::gzip_size(&wasm).map_or_else(|| "?".to_owned(), |n| n.to_string());
    eprintln!("worker {name}: {raw} bytes of wasm, {gzip} gzip -9");
    Ok(())
}

/// Builds all four Workers.
pub fn build_all() -> Result<()> {
    FUNCTIONS.iter().try_for_each(|name| build_one(name))
}

/// The wasm `worker-build` wrote for function `name` into `out_dir`.
fn wasm_of(name: &str, out_dir: &str) -> PathBuf {
    Path::new("functions").join(name).join(out_dir).join("index_bg.wasm")
}

/// Builds the functions that carry a fault in any faulty run with the
/// `test-faults` feature, into their [`faults::WORKER_BUILD_DIR`] (the
/// variables a run is started with pick its faults).
fn build_with_faults() -> Result<()> {
    let mut built = Vec::new();
    for function in FUNCTIONS {
        let dir = Path::new("functions").join(function);
        up::build_worker_variant(&dir, faults::WORKER_BUILD_DIR, &[faults::FEATURE])?;
        built.push(wasm_of(function, faults::WORKER_BUILD_DIR));
    }
    faults::check_test_build(&built)
}

/// A JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `path` made absolute (from the current folder, the workspace root), as UTF-8.
pub fn absolute(path: &Path) -> Result<String> {
    let path = std::env::current_dir()?.join(path);
    path.to_str().map(str::to_owned).context("paths must be UTF-8")
}

/// What a local run differs in.
pub struct LocalRun<'a> {
    /// The folder `gasline demo` wrote (seed.sql, keys, dev.env).
    pub dir: &'a Path,
    /// The dispatch configuration file (JSON).
    pub dispatch_config: &'a Path,
    /// Keep D1/KV/queue state here across runs (`None`: in memory).
    pub persist: Option<&'a Path>,
    /// Run the test-only faults a faulty end-to-end run expects (their
    /// builds must exist: [`faults`]).
    pub faults: Option<faults::Run>,
    /// The GIS traffic service matching is to ask (`None`: the static heat
    /// map, as the wrangler files have it).
    pub gis_url: Option<&'a str>,
    /// The harness's `queueOverrides` (a JSON object); `None`: `{"maxBatchTimeout": 0}`,
    /// what `up` and the end-to-end tests run with. `Some("{}")` keeps the
    /// wrangler files' batch settings.
    pub queue_overrides: Option<&'a str>,
    /// More workers (harness configuration objects), listed before the four
    /// so that their routes win (the benchmarks' hello-world baseline).
    pub extra_workers: &'a [String],
}

impl<'a> LocalRun<'a> {
    /// A run of the four Workers as `up` and the end-to-end tests describe
    /// them: default queue overrides, no faults, no extra workers.
    pub fn new(dir: &'a Path, dispatch_config: &'a Path, persist: Option<&'a Path>) -> Self {
        Self {
            dir,
            dispatch_config,
            persist,
            faults: None,
            gis_url: None,
            queue_overrides: None,
            extra_workers: &[],
        }
    }
}

/// Writes the harness configuration for the four Workers into `run.dir`
/// (`harness.json`) and returns its path.
pub fn write_config(run: &LocalRun<'_>) -> Result<PathBuf> {
    let dir = absolute(run.dir)?;
    let cf = absolute(Path::new(ensure::CLOUDFLARE_DIR))?;
    let migrations = absolute(Path::new("infra/migrations"))?;
    let dispatch = std::fs::read_to_string(run.dispatch_config)
        .with_context(|| format!("reading {}", run.dispatch_config.display()))?;
    let persist = match run.persist {
        Some(p) => format!("\n  \"persist\": {},", json_string(&absolute(p)?)),
        None => String::new(),
    };
    // A faulty run: a function with a fault runs its `test-faults` build
    // (see crate::faults), started with the fault's variables; matching
    // with the run's GIS.
    let faults_of = |name: &str| -> Result<String> {
        let mut vars: Vec<(&str, &str)> = run
            .faults
            .into_iter()
            .flat_map(|faulty| faulty.of(name))
            .map(|f| (f.variable, f.value))
            .collect();
        let build = if vars.is_empty() {
            String::new()
        } else {
            let build = absolute(&Path::new("functions").join(name).join(faults::WORKER_BUILD_DIR))?;
            format!(",\n       \"build\": {}", json_string(&build))
        };
        if let (Some(url), "matching") = (run.gis_url, name) {
            vars.push(("gis_url", url));
        }
        if vars.is_empty() {
            return Ok(build);
        }
        let vars: Vec<String> = vars
            .iter()
            .map(|(k, v)| format!("{}: {}", json_string(k), json_string(v)))
            .collect();
        Ok(format!("{build}, \"vars\": {{ {} }}", vars.join(", ")))
    };
    let file = |name: &str| format!("{{\"file\": {}}}", json_string(&format!("{dir}/{name}")));
    let queue_overrides = run.queue_overrides.unwrap_or(r#"{ "maxBatchTimeout": 0 }"#);
    let extra: String = run
        .extra_workers
        .iter()
        .map(|worker| format!("\n    {worker},"))
        .collect();
    let config = format!(
        r#"{{
  "compatibilityDate": "2026-10-01",{persist}
  "d1": {{ "binding": "DB", "migrations": {migrations}, "seed": [{seed}] }},
  "kv": {{ "binding": "KV" }},
  "queueOverrides": {queue_overrides},
  "vars": {{ "verify_keys": {verify}, "dispatch_config": {dispatch} }},
  "workers": [{extra}
    {{ "name": "intake", "wrangler": {intake}, "routes": ["POST /v1/orders", "POST /v1/orders/*/cancel"]{intake_faults} }},
    {{ "name": "matching", "wrangler": {matching}{matching_faults} }},
    {{ "name": "signing", "wrangler": {signing}, "secrets": {{ "signing_key": {key} }}{signing_faults} }},
    {{ "name": "status", "wrangler": {status}, "routes": ["*"]{status_faults} }}
  ]
}}
"#,
        migrations = json_string(&migrations),
        seed = json_string(&format!("{dir}/seed.sql")),
        verify = file("verify-keys.pem"),
        dispatch = json_string(dispatch.trim()),
        intake = json_string(&format!("{cf}/intake.toml")),
        matching = json_string(&format!("{cf}/matching.toml")),
        signing = json_string(&format!("{cf}/signing.toml")),
        status = json_string(&format!("{cf}/status.toml")),
        key = file("signing-key.pem"),
        intake_faults = faults_of("intake")?,
        matching_faults = faults_of("matching")?,
        signing_faults = faults_of("signing")?,
        status_faults = faults_of("status")?,
    );
    let path = run.dir.join("harness.json");
    std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `gasline demo`: demo data, dev key and dev.env in `dir`.
fn demo(gasline: &Path, dir: &Path, url: &str) -> Result<()> {
    Cmd::new(gasline)
        .args(["demo", "--riders", DEMO_RIDERS, "--url", url, "--dir"])
        .arg(dir)
        .no_stdin()
        .run()
}

/// `gasline demo --bootstrap`: the first ops token and the dev key in
/// `dir`, for `cargo xtask up`, which provisions the rest through the API
/// ([`demo_provision`]).
pub fn demo_bootstrap(gasline: &Path, dir: &Path, url: &str) -> Result<()> {
    Cmd::new(gasline)
        .args(["demo", "--bootstrap", "--url", url, "--dir"])
        .arg(dir)
        .no_stdin()
        .run()
}

/// `gasline demo --provision`: the demo world created through the ops API
/// of the runtime at `url`, as an operator would.
pub fn demo_provision(gasline: &Path, dir: &Path, url: &str) -> Result<()> {
    Cmd::new(gasline)
        .args(["demo", "--provision", "--riders", DEMO_RIDERS, "--url", url, "--dir"])
        .arg(dir)
        .no_stdin()
        .run()
}

/// The end-to-end step of `cargo xtask test`: builds the Workers, then runs
/// the scenario list (`tests/tests/e2e.rs`) against them on workerd — once
/// on a healthy runtime, once on one started with the test-only faults.
pub fn e2e() -> Result<()> {
    // The harness's cron schedules first: a second, no build needed.
    let node = Path::new(ensure::CLOUDFLARE_DIR)
        .join("node_modules")
        .join(".bin")
        .join("node");
    Cmd::new(node).args(["--test", CRON_TEST]).no_stdin().run()?;
    build_all()?;
    faults::check_production_build(&FUNCTIONS.map(|name| wasm_of(name, "build")))?;
    build_with_faults()?;
    Cmd::cargo().args(["build", "--locked", "-p", "gasline-cli"]).run()?;
    Cmd::cargo()
        .args(["test", "--locked", "-p", "gasline-tests", "--test", "e2e", "--no-run"])
        .run()?;
    let gasline = up::target_dir().join("debug").join("gasline");
    let runs = [
        ("healthy", None),
        ("faulty", Some(faults::Run::Faulty)),
        ("hostile", Some(faults::Run::Hostile)),
    ];
    for (name, faults) in runs {
        let dir = up::target_dir().join("e2e-workers").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        demo(&gasline, &dir, "http://127.0.0.1")?;
        let gis = (faults == Some(faults::Run::Hostile))
            .then(faults::SlowGis::start)
            .transpose()?;
        let config = write_config(&LocalRun {
            faults,
            gis_url: gis.as_ref().map(|g| g.url.as_str()),
            ..LocalRun::new(&dir, Path::new(crate::spin::dispatch_config(faults)), None)
        })?;
        let port = up::free_port()?;
        let watch = watch_readiness(port, &dir)?;
        let harness = Harness::start_on(config.to_str().context("UTF-8 path")?, port, &[])?;
        watch
            .join()
            .map_err(|_| anyhow::anyhow!("the readiness watch panicked"))??;
        let cron = format!("{}/__harness/scheduled?worker=status", harness.url);
        // Absolute: cargo runs test binaries in the package's folder. The
        // scenarios of a run whose orders get signed audit D1 (through the
        // harness) when they end; the faulty run's signing refuses all.
        let mut env = vec![("GASLINE_E2E_CRON_URL", cron.as_str())];
        if faults != Some(faults::Run::Faulty) {
            env.push(("GASLINE_E2E_AUDIT_D1", "1"));
        }
        let mut result = run_scenarios(name, &harness.url, &absolute(&dir)?, &env);
        if result.is_ok() && faults.is_none() {
            result = schemathesis(&harness.url, &dir);
        }
        // The ops console in a browser, on the two runs that can show it.
        let console = match faults {
            None => Some(crate::console::Part::Healthy),
            Some(faults::Run::Faulty) => Some(crate::console::Part::Faulty),
            Some(faults::Run::Hostile) => None,
        };
        if let (Ok(()), Some(part)) = (&result, console) {
            result = crate::console::run(part, &harness.url, &dir, &cron);
        }
        harness.stop()?;
        result?;
        if let Some(gis) = &gis {
            anyhow::ensure!(
                gis.calls() > 0,
                "the hostile run never called its slow GIS: it tested nothing there"
            );
            eprintln!("hostile run: the slow GIS was called {} times", gis.calls());
        }
    }
    crash_and_restart(&gasline)?;
    two_cells(&gasline)
}

/// How many cases schemathesis generates per operation in CI (the whole
/// run takes a few minutes); `GASLINE_SCHEMATHESIS_EXAMPLES` sets more.
const SCHEMATHESIS_EXAMPLES: &str = "8";

/// Schemathesis against the healthy runtime, with the ops token (which
/// every ops route takes, and which the other routes refuse with a
/// documented 403): cases generated from `GET /openapi.json`, each answer
/// checked to be no 5xx, of a documented status and content type, and of
/// the documented schema. Its report (JUnit XML) is kept in `dir`.
fn schemathesis(base: &str, dir: &Path) -> Result<()> {
    let ops = gasline_testkit::DevEnv::load(&dir.join("dev.env"))?
        .require("GASLINE_OPS_TOKEN")?
        .to_owned();
    let examples = std::env::var("GASLINE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| SCHEMATHESIS_EXAMPLES.to_owned());
    Cmd::new(ensure::python_tool(&ensure::SCHEMATHESIS_PACKAGE))
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {ops}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples, "--seed", "1", "--workers", "2"])
        .args(["--request-timeout", "10", "--suppress-health-check", "all"])
        .args(["--report", "junit", "--report-dir"])
        .arg(dir.join("schemathesis"))
        .no_stdin()
        .run()
        .context("schemathesis found answers that do not match docs/openapi.json (its report is above)")
}

/// Orders in the burst that kills the runtime, and how many of them are
/// placed before the kill.
const CRASH_BURST: (usize, usize) = (60, 25);

/// Issue 11's crash, as CI: the four Workers on workerd with state on disk,
/// a burst of orders at 20 a second, SIGKILL to the harness's whole process
/// group (node and workerd) a little way in, the runtime started again on
/// the same state and port. Then the scenario (`tests/src/crash.rs`) waits
/// for every order answered `202` before the kill to settle, with nothing
/// but the runtime's own cron to recover what the kill lost, and audits D1.
fn crash_and_restart(gasline: &Path) -> Result<()> {
    let dir = up::target_dir().join("e2e-workers").join("crash");
    let _ = std::fs::remove_dir_all(&dir);
    demo(gasline, &dir, "http://127.0.0.1")?;
    // Riders never accept: a long acceptance timeout keeps signed orders
    // signed while the test waits for the cron.
    let dispatch = dir.join("dispatch-config.json");
    std::fs::write(
        &dispatch,
        r#"{"accept_timeout_ms": 600000, "rider_location_max_age_ms": 31536000000, "outbox_redeliver_ms": 1000}"#,
    )?;
    let state = dir.join("state");
    let config = write_config(&LocalRun::new(&dir, &dispatch, Some(&state)))?;
    let config = config.to_str().context("UTF-8 path")?.to_owned();
    let port = up::free_port()?;
    let harness = Harness::start_on(&config, port, &[])?;
    let app = gasline_testkit::DevEnv::load(&dir.join("dev.env"))?
        .require("GASLINE_APP_TOKEN")?
        .to_owned();
    let client = gasline_testkit::Client::new(gasline_testkit::Loopback::new(&harness.url, Duration::from_secs(5)));
    let (total, before_kill) = CRASH_BURST;
    let mut accepted = Vec::new();
    let mut harness = Some(harness);
    for i in 0..total {
        let body = gasline_testkit::OrderBody::nth(i).to_string();
        if let Ok(id) = client.place(&app, &format!("crash-{i}"), &body) {
            accepted.push(id);
        }
        if i + 1 == before_kill {
            // The crash: SIGKILL to node and workerd, mid-burst, the moment
            // the last order's 202 is in: its publish, sent after the reply,
            // is most likely lost with the process, so only the outbox and
            // the cron can move that order on.
            drop(harness.take());
            eprintln!("crash: SIGKILL to the runtime right after the 202 of order {i}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "crash: {} of {total} orders accepted; restarting on the same state",
        accepted.len()
    );
    let harness = Harness::start_on(&config, port, &[])?;
    let result = run_scenarios(
        "crashed",
        &harness.url,
        &absolute(&dir)?,
        &[("GASLINE_E2E_ORDERS", &accepted.join(","))],
    );
    harness.stop()?;
    result
}

/// The harness's unit test of its cron schedules.
const CRON_TEST: &str = "infra/cloudflare/harness/test/cron.test.mjs";

/// Watches a harness starting on `port` from the outside, as a script that
/// waits for `/readyz` and then places an order would (issue 11): polls
/// `/readyz` until it answers 200 and then reads `/v1/stats` with the ops
/// token of `dir/dev.env` at once, which must work (migrations and seeds
/// applied). Before that, every answer must be a 503 (or no answer at all).
fn watch_readiness(port: u16, dir: &Path) -> Result<std::thread::JoinHandle<Result<()>>> {
    let ops = gasline_testkit::DevEnv::load(&dir.join("dev.env"))?
        .require("GASLINE_OPS_TOKEN")?
        .to_owned();
    let base = format!("http://127.0.0.1:{port}");
    Ok(std::thread::spawn(move || {
        let client = gasline_testkit::Client::new(gasline_testkit::Loopback::new(&base, Duration::from_secs(5)));
        let deadline = Instant::now() + up::HARNESS_START_TIMEOUT;
        let mut closed = 0;
        while Instant::now() < deadline {
            match client.send(&gasline_testkit::Call::get("/readyz")) {
                Err(_) => {}
                Ok(reply) if reply.status == 503 => closed += 1,
                Ok(reply) if reply.status == 200 => {
                    let stats = client.get("/v1/stats", &ops)?;
                    if stats.status != 200 {
                        bail!(
                            "/readyz answered 200, then GET /v1/stats answered {}: {}",
                            stats.status,
                            stats.text()
                        );
                    }
                    eprintln!("readiness: /readyz answered 503 {closed} time(s), then 200 with the data in place");
                    return Ok(());
                }
                Ok(reply) => bail!("/readyz answered {} while starting: {}", reply.status, reply.text()),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!("/readyz never answered 200")
    }))
}

/// Two cells in one local workerd and the router in front (the harness's
/// `cells` and `front`, `docs/DEVELOPING.md`): each cell's four Workers
/// with their own D1 database, KV namespace and queues, and `"cell"` in
/// their dispatch configuration; the router Worker on the harness's own
/// address, forwarding to `…/__cells/<cell>`. The scenario
/// (`tests/src/cells.rs`) talks to the router only.
fn two_cells(gasline: &Path) -> Result<()> {
    build_one("router")?;
    let router_dir = Path::new("functions").join("router");
    let root = up::target_dir().join("e2e-workers").join("cells");
    let _ = std::fs::remove_dir_all(&root);
    let dirs = crate::spin::demo_cells(gasline, &root, false)?;
    let cf = absolute(Path::new(ensure::CLOUDFLARE_DIR))?;
    let healthy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate::spin::dispatch_config(None))?)?;
    let home = absolute(&dirs[0])?;
    let file = |name: &str| serde_json::json!({ "file": format!("{home}/{name}") });
    let mut cells = Vec::new();
    let mut routes = Vec::new();
    let mut under_test = Vec::new();
    for ((name, prefix), dir) in crate::spin::CELLS.iter().zip(&dirs) {
        let mut dispatch = healthy.clone();
        dispatch["cell"] = (*name).into();
        let dir = absolute(dir)?;
        cells.push(serde_json::json!({
            "name": name,
            "vars": { "dispatch_config": dispatch.to_string() },
            "seed": [format!("{dir}/seed.sql")],
        }));
        routes.push(
            serde_json::json!({ "name": name, "geohash": [prefix], "url": format!("{{{{harness}}}}/__cells/{name}") }),
        );
        under_test.push(serde_json::json!({ "name": name, "dir": dir }));
    }
    let config = serde_json::json!({
        "compatibilityDate": "2026-10-01",
        "d1": { "binding": "DB", "migrations": absolute(Path::new("infra/migrations"))? },
        "kv": { "binding": "KV" },
        "queueOverrides": { "maxBatchTimeout": 0 },
        "vars": { "verify_keys": file("verify-keys.pem") },
        "cells": cells,
        "front": [{
            "name": "router",
            "build": absolute(&router_dir.join("build"))?,
            "routes": ["*"],
            "vars": { "cells": serde_json::Value::from(routes).to_string() },
        }],
        "workers": [
            { "name": "intake", "wrangler": format!("{cf}/intake.toml"), "routes": ["POST /v1/orders", "POST /v1/orders/*/cancel"] },
            { "name": "matching", "wrangler": format!("{cf}/matching.toml") },
            { "name": "signing", "wrangler": format!("{cf}/signing.toml"), "secrets": { "signing_key": file("signing-key.pem") } },
            { "name": "status", "wrangler": format!("{cf}/status.toml"), "routes": ["*"] },
        ],
    });
    let path = root.join("harness.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config)?)?;
    let harness = Harness::start(path.to_str().context("UTF-8 path")?, &[])?;
    let result = run_scenarios(
        "cells",
        &harness.url,
        &home,
        &[
            ("GASLINE_E2E_SELF_SWEEPING", "1"),
            ("GASLINE_E2E_CELLS", &serde_json::Value::from(under_test).to_string()),
        ],
    );
    harness.stop()?;
    result
}

/// Runs the scenario list (`tests/tests/e2e.rs`, test `{name}_runtime`)
/// against a runtime at `url`, whose demo data `gasline demo` wrote to `dir`
/// (absolute), with any runtime-specific `extra` environment.
pub fn run_scenarios(name: &str, url: &str, dir: &str, extra: &[(&str, &str)]) -> Result<()> {
    extra
        .iter()
        .fold(
            Cmd::cargo()
                .args([
                    "test",
                    "--locked",
                    "-p",
                    "gasline-tests",
                    "--test",
                    "e2e",
                    "--",
                    "--ignored",
                    "--exact",
                ])
                .arg(format!("{name}_runtime"))
                .arg("--nocapture")
                .env("GASLINE_E2E_URL", url)
                .env("GASLINE_E2E_DIR", dir),
            |cmd, (key, value)| cmd.env(key, value),
        )
        .no_stdin()
        .run()
}

/// `cargo xtask up`: the four Workers on the local Workers runtime with demo
/// data, state kept under `.gasline/`, until Ctrl-C.
pub fn up() -> Result<()> {
    let port = up::port_from_env(8787)?;
    let url = format!("http://127.0.0.1:{port}");
    let dir = PathBuf::from(".gasline");
    let gasline = up::target_dir().join("release").join("gasline");
    let mut tools = ensure::EVERYTHING.to_vec();
    tools.extend_from_slice(ensure::WORKERS_TOOLS);
    steps::run_all(
        "xtask up",
        vec![
            Step::new("tools", move || ensure::all(&tools)),
            Step::new("build workers", build_all),
            Step::new("build gasline", || {
                Cmd::cargo()
                    .args(["build", "--release", "--locked", "-p", "gasline-cli"])
                    .run()
            }),
            Step::new("first ops token", || demo_bootstrap(&gasline, &dir, &url)),
        ],
    )?;
    let state = dir.join("workers-state");
    let config = write_config(&LocalRun::new(
        &dir,
        Path::new("infra/cloudflare/dev-dispatch-config.json"),
        Some(&state),
    ))?;
    let harness = Harness::start_on(config.to_str().context("UTF-8 path")?, port, &[])?;
    let (status, _) = up::http_get(&harness.url, "/readyz")?;
    if status != 200 {
        bail!("GET /readyz answered {status}");
    }
    demo_provision(&gasline, &dir, &harness.url)?;
    print_welcome(
        &gasline,
        &format!(
            "Gasline is running on the local Workers runtime: {}\n\
             (intake, matching, signing and status on workerd; D1, KV and queues under .gasline/workers-state)",
            harness.url
        ),
        &harness.url,
    );
    harness.wait()
}

/// Where to look and what to try, for `cargo xtask up` on either runtime.
pub fn print_welcome(gasline: &Path, headline: &str, url: &str) {
    let gasline = gasline.display();
    // The dev ops token, for signing in to the console (a local demo's).
    let ops = gasline_testkit::DevEnv::load(Path::new(".gasline/dev.env"))
        .ok()
        .and_then(|env| env.require("GASLINE_OPS_TOKEN").ok().map(str::to_owned))
        .unwrap_or_else(|| "GASLINE_OPS_TOKEN in .gasline/dev.env".to_owned());
    eprintln!(
        r#"
{headline}
Credentials and the URL, in shell form: .gasline/dev.env

The ops console (live orders, service levels, attention, dead letters,
stations, riders on a map): {url}/console
  sign in with the ops token {ops}

Try it (in another shell, from this folder):

  source .gasline/dev.env
  ID=$(curl -s -X POST "$GASLINE_URL/v1/orders" \
        -H "authorization: Bearer $GASLINE_APP_TOKEN" -H 'content-type: application/json' \
        -H "idempotency-key: demo-$(date +%s%N)" \
        -d '{{"customer":{{"name":"王芳","phone":"13800138000","address":"上海市黄浦区人民大道200号","location":{{"lat":31.2304,"lon":121.4737}}}},"items":[{{"spec":"YSP35.5","quantity":2}}]}}' \
      | sed 's/.*"id":"\([^"]*\)".*/\1/')
  curl -s "$GASLINE_URL/v1/orders/$ID" -H "authorization: Bearer $GASLINE_OPS_TOKEN"        # state, timeline, SLA
  curl -s "$GASLINE_URL/v1/orders/$ID/waybill" -H "authorization: Bearer $GASLINE_OPS_TOKEN" > signed.json
  {gasline} waybill verify --public .gasline/verify-keys.pem signed.json
  curl -s "$GASLINE_URL/v1/stats" -H "authorization: Bearer $GASLINE_OPS_TOKEN"

Ctrl-C stops everything.
"#
    );
}
