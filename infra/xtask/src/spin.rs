//! The four functions as Spin components, executed for real in CI: the
//! `e2e-spin` step builds them for `wasm32-wasip2` (release, as `spin build`
//! does), runs them through the wasmtime test host (`tests/spin-host`, which
//! reads `spin.toml` and starts its own redis-server), and runs the same
//! scenario list as the Workers step against it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};

use gasline_testkit::{Call, Client, Loopback, RedisServer};

use crate::cmd::Cmd;
use crate::ensure;
use crate::faults;
use crate::up::{self, Harness};
use crate::workers::{FUNCTIONS, run_scenarios};

/// Demo riders loaded for the scenarios.
const DEMO_RIDERS: &str = "40";

/// The dispatch configuration for the healthy or a faulty run's
/// scenarios: the faulty ones use a long acceptance timeout, so a dead
/// letter (not a rider timeout) is what ends the order whose signing keeps
/// failing, and three deliveries before giving up, as the Workers queues'
/// `max_retries = 2`; the hostile one a long acceptance timeout too (its
/// riders never accept) and eight deliveries, so that losing a fifth of
/// all publishes does not give up on an order by chance.
pub fn dispatch_config(run: Option<faults::Run>) -> &'static str {
    match run {
        None => "tests/e2e/dispatch-config.json",
        Some(faults::Run::Faulty) => "tests/e2e/dispatch-config-faulty.json",
        Some(faults::Run::Hostile) => "tests/e2e/dispatch-config-hostile.json",
    }
}

/// Builds the four components as `spin build` does (release, wasm32-wasip2),
/// and the router's (`infra/spin/router.toml`).
pub fn build_components() -> Result<()> {
    let components = FUNCTIONS.iter().fold(
        Cmd::cargo().args(["build", "--release", "--locked", "--target", ensure::SPIN_TARGET]),
        |cmd, name| cmd.arg("-p").arg(format!("gasline-{name}")),
    );
    components.args(["-p", "gasline-router"]).run()
}

/// Builds the components that carry a fault with the `test-faults` feature
/// (the `wasm-dev` profile CI already builds, so the release components stay
/// production builds), copies them into `dir`, and returns component →
/// wasm for [`faults::spin_manifest`].
fn build_components_with_faults(dir: &Path, run: faults::Run) -> Result<Vec<(&'static str, PathBuf)>> {
    let crates: Vec<String> = run.functions().iter().map(|f| format!("gasline-{f}")).collect();
    let features: Vec<String> = crates.iter().map(|c| format!("{c}/{}", faults::FEATURE)).collect();
    crates
        .iter()
        .fold(
            Cmd::cargo().args([
                "build",
                "--locked",
                "--profile",
                "wasm-dev",
                "--target",
                ensure::SPIN_TARGET,
            ]),
            |cmd, krate| cmd.arg("-p").arg(krate),
        )
        .arg("--features")
        .arg(features.join(","))
        .run()?;
    std::fs::create_dir_all(dir)?;
    let mut sources = Vec::new();
    for function in run.functions() {
        let file = format!("gasline_{function}.wasm");
        let built = up::target_dir().join(ensure::SPIN_TARGET).join("wasm-dev").join(&file);
        let copy = std::env::current_dir()?.join(dir).join(&file);
        std::fs::copy(&built, &copy).with_context(|| format!("copying {}", built.display()))?;
        sources.push((function, copy));
    }
    let wasm: Vec<PathBuf> = sources.iter().map(|(_, wasm)| wasm.clone()).collect();
    faults::check_test_build(&wasm)?;
    Ok(sources)
}

/// `target/e2e-spin/<name>`, absolute, emptied.
fn fresh_dir(name: &str) -> Result<PathBuf> {
    let dir = std::env::current_dir()?
        .join(up::target_dir())
        .join("e2e-spin")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(dir)
}

/// Components do not migrate: on a database without the schema they answer
/// a retryable 503 (and log what to run), and once `gasline migrate` has run
/// on the file they work, without a restart.
fn schema_behind_then_migrated(gasline: &Path, host_bin: &Path) -> Result<()> {
    let dir = fresh_dir("unmigrated")?;
    let keys = dir.join("keys");
    Cmd::new(gasline)
        .args(["demo", "--riders", "1", "--url", "http://127.0.0.1", "--dir"])
        .arg(&keys)
        .no_stdin()
        .run()?;
    let database = dir.join("gasline.db");
    let dispatch = std::fs::read_to_string(dispatch_config(None))?;
    let host = host_command(host_bin, Path::new("spin.toml"), &keys, &database, &dispatch, None)?;
    eprintln!("$ {} --manifest spin.toml … (no schema)", host_bin.display());
    let harness = Harness::spawn(host)?;
    // A token, so that the request needs the database (the tokens table).
    let order = Call::get("/v1/orders/01KNOSUCHORDER0000000000000").token("tok-not-seeded.0123456789abcdef");
    let client = Client::new(Loopback::new(&harness.url, Duration::from_secs(30)));
    let checked = (|| -> Result<()> {
        let reply = client.send(&order)?;
        ensure!(
            reply.status == 503,
            "without a schema GET {} answered {} {}, not 503",
            order.path(),
            reply.status,
            reply.text()
        );
        Cmd::new(gasline)
            .arg("migrate")
            .arg("--sqlite")
            .arg(&database)
            .no_stdin()
            .run()?;
        // Schema, no tokens: the same request now fails authentication.
        let reply = client.send(&order)?;
        ensure!(
            reply.status == 401,
            "after `gasline migrate` GET {} answered {} {}, not 401",
            order.path(),
            reply.status,
            reply.text()
        );
        Ok(())
    })();
    harness.stop()?;
    checked
}

/// The dispatch configuration of the replica check: orders wait for their
/// rider as long as the check runs (no timeout reassigns them), demo riders
/// never go stale, no night window, and a lease — the time a claimed event
/// stays with the replica that claimed it — of one second (the scenario's
/// `LEASE_MS` counts on it).
const REPLICAS_DISPATCH: &str = r#"{"accept_timeout_ms":3600000,"rider_location_max_age_ms":31536000000,"outbox_redeliver_ms":1000,"night_start_minute":0,"night_end_minute":0}"#;

/// Two replicas of the production components on one database and one Redis,
/// as SpinKube runs a deployment: the scenario (`tests/src/replicas.rs`)
/// kills one with SIGKILL mid-burst and checks that the other finishes
/// every order exactly once. Checked here: the victim did die of SIGKILL.
fn two_replicas_one_killed(gasline: &Path, host_bin: &Path) -> Result<()> {
    let dir = fresh_dir("replicas")?;
    let database = dir.join("gasline.db");
    Cmd::new(gasline)
        .args([
            "demo",
            "--riders",
            "120",
            "--stock",
            "100",
            "--url",
            "http://127.0.0.1",
            "--dir",
        ])
        .arg(&dir)
        .arg("--sqlite")
        .arg(&database)
        .no_stdin()
        .run()?;
    let redis = RedisServer::start()?;
    let url = redis.url();
    let start = |name: &str| -> Result<Harness> {
        let host = host_command(
            host_bin,
            Path::new("spin.toml"),
            &dir,
            &database,
            REPLICAS_DISPATCH,
            Some(&url),
        )?;
        eprintln!(
            "$ {} --manifest spin.toml --var=redis_address={url} … ({name})",
            host_bin.display()
        );
        Harness::spawn(host)
    };
    let survivor = start("survivor")?;
    let victim = start("victim")?;
    let pid = victim.pid().to_string();
    let dir_text = dir.to_str().context("UTF-8 path")?;
    let database_text = database.to_str().context("UTF-8 path")?;
    let result = run_scenarios(
        "replicas",
        &survivor.url,
        dir_text,
        &[
            ("GASLINE_E2E_SELF_SWEEPING", "1"),
            ("GASLINE_E2E_REPLICA_URL", &victim.url),
            ("GASLINE_E2E_REPLICA_PID", &pid),
            ("GASLINE_E2E_DB", database_text),
        ],
    );
    if result.is_err() {
        // The scenario may have left the victim paused (SIGSTOP): dropping
        // it kills its process group.
        drop(victim);
        survivor.stop()?;
        return result;
    }
    let ended = victim.reap()?;
    survivor.stop()?;
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        ensure!(
            ended.signal() == Some(9),
            "the victim replica ended with {ended}, not by SIGKILL: the scenario did not kill it"
        );
    }
    Ok(())
}

/// The cells of the two-cell runs (here and `crate::workers`): name and
/// the geohash prefix each claims (Shanghai's and Hangzhou's, where
/// `gasline demo --cell` puts them). The first is the home cell.
pub const CELLS: [(&str, &str); 2] = [("sh", "wtw"), ("hz", "wtm")];

/// `gasline demo --cell` for each of [`CELLS`] into `root/<cell>`, with one
/// signing key for the company, the same in every cell, so any cell
/// verifies any waybill (`gasline demo` keeps a key it finds); with
/// `sqlite`, each cell's database as `root/<cell>/gasline.db`. Returns the
/// folders, home first.
pub fn demo_cells(gasline: &Path, root: &Path, sqlite: bool) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (name, _) in CELLS {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)?;
        if let Some(home) = dirs.first() {
            std::fs::copy(home.join("signing-key.pem"), dir.join("signing-key.pem"))?;
        }
        let mut demo = Cmd::new(gasline)
            .args([
                "demo",
                "--cell",
                name,
                "--riders",
                "10",
                "--url",
                "http://127.0.0.1",
                "--dir",
            ])
            .arg(&dir);
        if sqlite {
            demo = demo.arg("--sqlite").arg(dir.join("gasline.db"));
        }
        demo.no_stdin().run()?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Two cells, each a whole application on the test host (spin.toml, its own
/// SQLite file, its own redis-server, `"cell"` in its dispatch
/// configuration), and the router in front (`infra/spin/router.toml`); the
/// scenario (`tests/src/cells.rs`) talks to the router only.
fn two_cells(gasline: &Path, host_bin: &Path) -> Result<()> {
    let root = fresh_dir("cells")?;
    let dirs = demo_cells(gasline, &root, true)?;
    let healthy: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dispatch_config(None))?)?;
    let mut hosts = Vec::new();
    let (mut routes, mut under_test) = (Vec::new(), Vec::new());
    for ((name, prefix), dir) in CELLS.iter().zip(&dirs) {
        let database = dir.join("gasline.db");
        let mut dispatch = healthy.clone();
        dispatch["cell"] = (*name).into();
        let host = host_command(
            host_bin,
            Path::new("spin.toml"),
            dir,
            &database,
            &dispatch.to_string(),
            None,
        )?;
        eprintln!(
            "$ {} --manifest spin.toml --start-redis … (cell {name})",
            host_bin.display()
        );
        let harness = Harness::spawn(host)?;
        routes.push(serde_json::json!({"name": name, "geohash": [prefix], "url": harness.url}));
        under_test.push(serde_json::json!({"name": name, "dir": dir, "db": database}));
        hosts.push(harness);
    }
    let cells = serde_json::Value::from(routes).to_string();
    let mut router = Command::new(host_bin);
    router
        .args([
            "--manifest",
            "infra/spin/router.toml",
            "--port",
            "0",
            "--exit-on-stdin-close",
            "--state-dir",
        ])
        .arg(root.join("router"))
        .arg(format!("--var=cells={cells}"));
    eprintln!(
        "$ {} --manifest infra/spin/router.toml --var=cells='{cells}'",
        host_bin.display()
    );
    let router = Harness::spawn(router)?;
    let result = run_scenarios(
        "cells",
        &router.url,
        dirs[0].to_str().context("UTF-8 path")?,
        &[
            ("GASLINE_E2E_SELF_SWEEPING", "1"),
            ("GASLINE_E2E_CELLS", &serde_json::Value::from(under_test).to_string()),
        ],
    );
    router.stop()?;
    for host in hosts {
        host.stop()?;
    }
    result
}

/// Where `spin build` (and [`build_components`]) puts component `crate_name`.
pub fn component_wasm(crate_name: &str) -> PathBuf {
    up::target_dir()
        .join(ensure::SPIN_TARGET)
        .join("release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")))
}

/// The test host (`host`, a built `gasline-spin-host`) running `manifest`
/// on a free port, on the demo data `gasline demo --dir dir --sqlite
/// database` wrote: its keys as the signing and verification variables,
/// `dispatch` (JSON) as the dispatch configuration. With `redis` (a
/// `redis://` URL) it uses that server for pub/sub and key-value, as the
/// replicas of one deployment share theirs; without, it starts its own.
/// It stops when its standard input closes (xtask holds the pipe).
pub fn host_command(
    host: &Path,
    manifest: &Path,
    dir: &Path,
    database: &Path,
    dispatch: &str,
    redis: Option<&str>,
) -> Result<Command> {
    host_command_on(host, manifest, dir, database, dispatch, redis, 0)
}

/// [`host_command`] on a given port (0: a free one).
fn host_command_on(
    host: &Path,
    manifest: &Path,
    dir: &Path,
    database: &Path,
    dispatch: &str,
    redis: Option<&str>,
    port: u16,
) -> Result<Command> {
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).with_context(|| format!("reading {file}"));
    let mut command = Command::new(host);
    command.arg("--manifest").arg(manifest);
    match redis {
        Some(url) => command
            .arg(format!("--var=redis_address={url}"))
            .arg(format!("--kv=default={url}")),
        None => command.arg("--start-redis"),
    };
    command
        .arg("--port")
        .arg(port.to_string())
        .arg("--exit-on-stdin-close")
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--sqlite")
        .arg(format!("default={}", database.display()))
        .arg(format!("--var=signing_key={}", read("signing-key.pem")?.trim()))
        .arg(format!("--var=verify_keys={}", read("verify-keys.pem")?.trim()))
        .arg(format!("--var=dispatch_config={}", dispatch.trim()));
    Ok(command)
}

/// The `e2e-spin` step of `cargo xtask test`.
pub fn e2e() -> Result<()> {
    build_components()?;
    faults::check_production_build(&FUNCTIONS.map(|name| component_wasm(&format!("gasline-{name}"))))?;
    Cmd::cargo()
        .args(["build", "--locked", "-p", "gasline-cli", "-p", "gasline-spin-host"])
        .run()?;
    Cmd::cargo()
        .args(["test", "--locked", "-p", "gasline-tests", "--test", "e2e", "--no-run"])
        .run()?;
    let bin = up::target_dir().join("debug");
    let host_bin = bin.join("gasline-spin-host");
    schema_behind_then_migrated(&bin.join("gasline"), &host_bin)?;
    two_replicas_one_killed(&bin.join("gasline"), &host_bin)?;
    two_cells(&bin.join("gasline"), &host_bin)?;
    let runs = [
        ("healthy", None),
        ("faulty", Some(faults::Run::Faulty)),
        ("hostile", Some(faults::Run::Hostile)),
    ];
    for (name, run) in runs {
        let dispatch = std::fs::read_to_string(dispatch_config(run))?;
        let dir = fresh_dir(name)?;
        let database = dir.join("gasline.db");
        Cmd::new(bin.join("gasline"))
            .args(["demo", "--riders", DEMO_RIDERS, "--url", "http://127.0.0.1", "--dir"])
            .arg(&dir)
            .arg("--sqlite")
            .arg(&database)
            .no_stdin()
            .run()?;
        // A faulty run: its own manifest, with the fault variables and the
        // `test-faults` builds (crate::faults); the healthy one: spin.toml.
        let manifest = match run {
            Some(run) => {
                let sources = build_components_with_faults(&dir.join("components"), run)?;
                let root = std::env::current_dir()?;
                let text = faults::spin_manifest(&std::fs::read_to_string("spin.toml")?, &root, &sources, run)?;
                let path = dir.join("spin.test-faults.toml");
                std::fs::write(&path, text)?;
                path
            }
            None => PathBuf::from("spin.toml"),
        };
        let mut host = host_command(&host_bin, &manifest, &dir, &database, &dispatch, None)?;
        if let Some(run) = run {
            host.args(run.faults().iter().map(|f| format!("--var={}={}", f.variable, f.value)));
        }
        let gis = (run == Some(faults::Run::Hostile))
            .then(faults::SlowGis::start)
            .transpose()?;
        if let Some(gis) = &gis {
            host.arg(format!("--var=gis_url={}", gis.url));
        }
        eprintln!(
            "$ {} --manifest {} --start-redis … ({name})",
            host_bin.display(),
            manifest.display()
        );
        let harness = Harness::spawn(host)?;
        // Spin: the sweeper runs on its own Redis-timed tick (pub/sub loses
        // and cannot delay); nothing outside calls the sweep route, so the
        // rider timeout, the lost publish and the dead letter are all
        // recovered by the tick.
        let dir_text = dir.to_str().context("UTF-8 path")?;
        let result = run_scenarios(name, &harness.url, dir_text, &[("GASLINE_E2E_SELF_SWEEPING", "1")]);
        harness.stop()?;
        result?;
        if let Some(gis) = &gis {
            ensure!(
                gis.calls() > 0,
                "the hostile run never called its slow GIS: it tested nothing there"
            );
            eprintln!("hostile run: the slow GIS was called {} times", gis.calls());
        }
        // What the scenarios (and, in a faulty run, the faults) left
        // behind: every order terminal or moving, books balanced, every
        // waybill verifying.
        Cmd::new(bin.join("gasline"))
            .args(["audit", "--sqlite"])
            .arg(&database)
            .arg("--verify-keys")
            .arg(dir.join("verify-keys.pem"))
            .no_stdin()
            .run()?;
    }
    Ok(())
}

/// `cargo xtask up --spin`: the four components on Spin with demo data,
/// state under `.gasline/`, until Ctrl-C — on real `spin up` when a `spin`
/// binary is on `PATH`, on the test host otherwise; Redis started here on a
/// free loopback port either way, and the database written with the schema
/// and the first ops token by `gasline demo --bootstrap --sqlite` (no
/// `sqlite3` step); the demo world is then created through the ops API.
pub fn up() -> Result<()> {
    let port = up::port_from_env(3000)?;
    let url = format!("http://127.0.0.1:{port}");
    let dir = PathBuf::from(".gasline");
    let database = dir.join("spin").join("gasline.db");
    let bin = up::target_dir().join("release");
    let spin = crate::cmd::find_program("spin");
    let mut tools = ensure::EVERYTHING.to_vec();
    tools.extend_from_slice(ensure::SPIN_TOOLS);
    crate::steps::run_all(
        "xtask up --spin",
        vec![
            crate::steps::Step::new("tools", move || ensure::all(&tools)),
            crate::steps::Step::new("build components", build_components),
            crate::steps::Step::new("build gasline and the host", || {
                Cmd::cargo()
                    .args(["build", "--release", "--locked", "-p", "gasline-cli"])
                    .run()?;
                Cmd::cargo()
                    .args(["build", "--locked", "-p", "gasline-spin-host"])
                    .run()
            }),
            crate::steps::Step::new("first ops token", || {
                Cmd::new(bin.join("gasline"))
                    .args(["demo", "--bootstrap", "--url", &url, "--dir"])
                    .arg(&dir)
                    .arg("--sqlite")
                    .arg(&database)
                    .no_stdin()
                    .run()
            }),
        ],
    )?;
    let redis = RedisServer::start()?;
    let dispatch = std::fs::read_to_string("infra/cloudflare/dev-dispatch-config.json")?;
    let (harness, runtime) = match &spin {
        Some(spin) => (
            Harness::spawn(real_spin_command(spin, &dir, &database, &dispatch, &redis.url(), port)?)?,
            "released Spin (`spin up`)",
        ),
        None => {
            let host = up::target_dir().join("debug").join("gasline-spin-host");
            let command = host_command_on(
                &host,
                Path::new("spin.toml"),
                &dir,
                &database,
                &dispatch,
                Some(&redis.url()),
                port,
            )?;
            (Harness::spawn(command)?, "the Spin test host (no `spin` on PATH)")
        }
    };
    let (status, _) = up::http_get(&harness.url, "/readyz")?;
    ensure!(status == 200, "GET /readyz answered {status}");
    crate::workers::demo_provision(&bin.join("gasline"), &dir, &harness.url)?;
    crate::workers::print_welcome(
        &bin.join("gasline"),
        &format!(
            "Gasline is running on {runtime}: {}\n(intake, matching, signing and status; SQLite in {}, Redis at {})",
            harness.url,
            database.display(),
            redis.url()
        ),
        &harness.url,
    );
    let waited = harness.wait();
    drop(redis);
    waited
}

/// `spin up` for [`up()`], wrapped so that it prints the ready line xtask
/// waits for (as the test host does) and stops when its standard input
/// closes. The runtime config is written beside the database, with absolute
/// paths, because Spin resolves the SQLite path against its working
/// directory (docs/SPIN.md).
fn real_spin_command(
    spin: &Path,
    dir: &Path,
    database: &Path,
    dispatch: &str,
    redis: &str,
    port: u16,
) -> Result<Command> {
    let root = std::env::current_dir()?;
    let config = root.join(dir).join("spin").join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "# Written by `cargo xtask up --spin`.\n[key_value_store.default]\ntype = \"redis\"\nurl = \"{redis}\"\n\n\
             [sqlite_database.default]\ntype = \"spin\"\npath = \"{}\"\n",
            root.join(database).display()
        ),
    )?;
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).with_context(|| format!("reading {file}"));
    let mut command = Command::new("sh");
    // `spin up` prints its own banner; the wrapper adds the line xtask
    // waits for once the port answers, and ends Spin when stdin closes.
    command
        .arg("-c")
        .arg(
            r#"spin="$1"; shift; "$spin" up "$@" </dev/null & pid=$!
               until curl -fs "http://127.0.0.1:$GASLINE_PORT_/readyz" >/dev/null 2>&1; do
                 kill -0 $pid 2>/dev/null || exit 1; sleep 0.2; done
               echo "gasline: ready on http://127.0.0.1:$GASLINE_PORT_"
               cat >/dev/null; kill $pid; wait $pid"#,
        )
        .arg("spin-up")
        .arg(spin)
        .args(["--from", "spin.toml", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--runtime-config-file")
        .arg(&config)
        .env("GASLINE_PORT_", port.to_string())
        .env("SPIN_VARIABLE_REDIS_ADDRESS", redis)
        .env("SPIN_VARIABLE_SIGNING_KEY", read("signing-key.pem")?.trim())
        .env("SPIN_VARIABLE_VERIFY_KEYS", read("verify-keys.pem")?.trim())
        .env("SPIN_VARIABLE_DISPATCH_CONFIG", dispatch.trim());
    Ok(command)
}
