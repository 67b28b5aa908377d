//! The local Workers runtime: building a worker with worker-build, and the
//! harness (`infra/cloudflare/harness/run.mjs`) that runs workers on workerd.
//! `cargo xtask up` itself is in `workers.rs`.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use gasline_testkit::{Call, Client, Loopback};

use crate::cmd::Cmd;
use crate::ensure;
use crate::steps::{self, Step};

/// Where cargo puts build output: `$CARGO_TARGET_DIR` if set (relative to the
/// workspace root, like cargo reads it), else `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

/// The port `cargo xtask up` serves on: `$GASLINE_PORT`, else `default`.
pub fn port_from_env(default: u16) -> Result<u16> {
    match std::env::var("GASLINE_PORT") {
        Ok(p) => p.parse().with_context(|| format!("GASLINE_PORT={p} is not a port")),
        Err(_) => Ok(default),
    }
}

// --- Cloudflare Workers: building workers and running the local harness ----

/// The hello-world worker: the toolchain proof and the benchmarks' baseline.
pub const HELLO_WORKER: &str = "infra/cloudflare/hello";
/// The harness that runs workers on workerd (Miniflare), and its configs.
pub const HARNESS_SCRIPT: &str = "infra/cloudflare/harness/run.mjs";
const HELLO_HARNESS_CONFIG: &str = "infra/cloudflare/harness/hello.json";
const HARNESS_SELFTEST: &str = "infra/cloudflare/harness/test/harness.test.mjs";
/// How long the harness may take to print its ready line.
pub const HARNESS_START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the harness may take to stop after SIGTERM before it is killed.
const HARNESS_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds one worker crate with `worker-build --release` (the environment of
/// [`ensure::workers_env`]; the tools must be installed). The output lands
/// in `<crate_dir>/build/`: `index.js` (the entry module) and
/// `index_bg.wasm`. Returns the size of the wasm in bytes.
pub fn build_worker(crate_dir: &Path) -> Result<u64> {
    build_worker_variant(crate_dir, "build", &[])
}

/// Like [`build_worker`], into `<crate_dir>/<out_dir>/` and with the
/// crate's `features` enabled (the faulty end-to-end run's `test-faults`
/// copies, kept apart from the production build).
pub fn build_worker_variant(crate_dir: &Path, out_dir: &str, features: &[&str]) -> Result<u64> {
    let env = ensure::workers_env()?;
    let worker_build = ensure::cargo_home().join("bin").join("worker-build");
    let mut cmd = env
        .into_iter()
        .fold(Cmd::new(&worker_build), |cmd, (key, value)| cmd.env(key, value))
        .args([OsStr::new("--release"), OsStr::new("--out-dir"), OsStr::new(out_dir)])
        .arg(crate_dir);
    if !features.is_empty() {
        cmd = cmd.args(["--features", &features.join(",")]);
    }
    cmd.no_stdin().run()?;
    let wasm = crate_dir.join(out_dir).join("index_bg.wasm");
    let size = std::fs::metadata(&wasm)
        .with_context(|| format!("worker-build succeeded but {} is missing", wasm.display()))?
        .len();
    Ok(size)
}

/// `gzip -9` size of a file (what the Workers upload limit counts); `None`
/// when gzip is not installed.
pub fn gzip_size(path: &Path) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    let output = Command::new("gzip").arg("-9c").stdin(file).output().ok()?;
    output.status.success().then_some(output.stdout.len() as u64)
}

/// A running harness (`node infra/cloudflare/harness/run.mjs`): Node 22, in
/// its own process group, on a free port, stopping itself if its standard
/// input (a pipe held by this value) closes. [`Harness::stop`] sends SIGTERM
/// (Miniflare disposes workerd) and checks that no workerd is left; dropping
/// a harness that was not stopped kills its whole process group.
pub struct Harness {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The processes under the runtime once it was ready (workerd under the
    /// Workers harness; a redis-server the Spin host started), checked gone
    /// after a stop.
    children: Vec<u32>,
    stopped: bool,
}

impl Harness {
    /// Starts the harness with `--config config` and extra arguments, and
    /// waits for its ready line. Its output is echoed with a `harness| `
    /// prefix.
    pub fn start(config: &str, extra: &[&str]) -> Result<Self> {
        Self::start_on(config, 0, extra)
    }

    /// Like [`Harness::start`], on a given port (0 picks a free one).
    pub fn start_on(config: &str, port: u16, extra: &[&str]) -> Result<Self> {
        let port = port.to_string();
        let node = Path::new(ensure::CLOUDFLARE_DIR)
            .join("node_modules")
            .join(".bin")
            .join("node");
        let mut command = Command::new(&node);
        command
            .args([
                HARNESS_SCRIPT,
                "--config",
                config,
                "--port",
                &port,
                "--exit-on-stdin-close",
            ])
            .args(extra)
            .envs(ensure::workers_env()?);
        eprintln!(
            "$ {} {HARNESS_SCRIPT} --config {config} --port {port} --exit-on-stdin-close {}",
            node.display(),
            extra.join(" ")
        );
        Self::spawn(command)
    }

    /// Starts any local runtime that prints `gasline: ready on URL` and
    /// stops when its standard input closes (the Workers harness, the Spin
    /// test host), and waits for its ready line.
    pub fn spawn(mut command: Command) -> Result<Self> {
        // Held open by `child`: if xtask dies without stopping the runtime,
        // the pipe closes and it stops (and its children) by itself.
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            command.process_group(0);
        }
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .spawn()
            .with_context(|| format!("could not start {program} (is its toolchain installed?)"))?;
        let stdout = child.stdout.take().context("the harness has no stdout pipe")?;
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("harness| {line}");
                if let Some(url) = line.strip_prefix("gasline: ready on ")
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let mut harness = Self {
            child,
            url: String::new(),
            children: Vec::new(),
            stopped: false,
        };
        match ready_rx.recv_timeout(HARNESS_START_TIMEOUT) {
            Ok(url) => harness.url = url,
            Err(_) => {
                let status = harness.child.try_wait().ok().flatten();
                bail!(
                    "the harness did not print its ready line within {}s ({})",
                    HARNESS_START_TIMEOUT.as_secs(),
                    status.map_or_else(|| "still running; killed".to_owned(), |s| format!("exited: {s}"))
                );
            }
        }
        harness.children = child_pids(harness.child.id());
        Ok(harness)
    }

    /// Waits until the harness exits by itself (Ctrl-C reaches it through
    /// its closing standard input when this process dies).
    pub fn wait(mut self) -> Result<()> {
        self.stopped = true;
        // `Child::wait` closes the child's stdin first, which would stop the
        // harness at once: keep the pipe open for as long as we wait.
        let _stdin = self.child.stdin.take();
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the harness exited with {status}");
        }
        Ok(())
    }

    /// CPU time (user and system, seconds) the runtime's processes have
    /// used so far: the harness and the processes under it.
    pub fn cpu_seconds(&self) -> f64 {
        std::iter::once(self.child.id())
            .chain(self.children.iter().copied())
            .map(cpu_seconds)
            .sum()
    }

    /// The runtime's process id (a test that kills an instance needs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a runtime that something else stopped (a test killed it),
    /// and says how it ended. Its child processes are killed, as on drop.
    pub fn reap(mut self) -> Result<std::process::ExitStatus> {
        self.stopped = true;
        let status = self.child.wait()?;
        for pid in &self.children {
            signal("-KILL", &pid.to_string());
        }
        Ok(status)
    }

    /// SIGTERM, wait for a clean exit (status 0), then check that the
    /// processes it ran are gone.
    pub fn stop(mut self) -> Result<()> {
        self.stopped = true;
        let pid = self.child.id();
        signal("-TERM", &pid.to_string());
        let deadline = Instant::now() + HARNESS_STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                kill_group(pid);
                let _ = self.child.wait();
                bail!(
                    "the harness did not stop within {}s of SIGTERM; killed its process group",
                    HARNESS_STOP_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut left: Vec<u32> = self.children.clone();
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(|&pid| is_running(pid));
            std::thread::sleep(Duration::from_millis(50));
        }
        if !left.is_empty() {
            for pid in &left {
                signal("-KILL", &pid.to_string());
            }
            bail!("child processes {left:?} still ran after the runtime stopped; killed them");
        }
        if !status.success() {
            bail!("the harness exited with {status} after SIGTERM");
        }
        eprintln!(
            "runtime stopped cleanly; no child process left ({:?} gone)",
            self.children
        );
        Ok(())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if !self.stopped {
            kill_group(self.child.id());
            let _ = self.child.wait();
            for pid in &self.children {
                signal("-KILL", &pid.to_string());
            }
        }
    }
}

/// `kill SIGNAL PID` (std can only SIGKILL its own child).
fn signal(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", target])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn kill_group(pid: u32) {
    signal("-KILL", &format!("-{pid}"));
}

/// The direct children of a process (`ps --ppid`).
/// A loopback port free now (the OS's pick), for a runtime told its port
/// before it starts.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// CPU time one process has used (`/proc/PID/stat`, fields 14 and 15, in
/// clock ticks of 1/100 s on Linux); 0 when it cannot be read.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the name, field 3 is index 0: utime (14) is 11, stime (15) 12.
    (tick(11) + tick(12)) / 100.0
}

fn child_pids(pid: u32) -> Vec<u32> {
    Command::new("ps")
        .args(["-o", "pid=", "--ppid", &pid.to_string()])
        .output()
        .map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a process runs (a zombie does not count).
fn is_running(pid: u32) -> bool {
    Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output()
        .is_ok_and(|output| {
            let state = String::from_utf8_lossy(&output.stdout);
            let state = state.trim();
            output.status.success() && !state.is_empty() && !state.starts_with('Z')
        })
}

/// `GET base + path` without a token: status and body.
pub fn http_get(base: &str, path: &str) -> Result<(u16, String)> {
    let reply = Client::new(Loopback::new(base, Duration::from_secs(30))).send(&Call::get(path))?;
    Ok((reply.status, reply.text()))
}

/// `cargo xtask workers-smoke`: the proof that the Workers toolchain and the
/// local harness work. Installs what is missing, builds the hello-world
/// worker (reporting its wasm size), serves it through the harness, checks
/// `GET /` says `hello`, stops the harness (no workerd left), then runs the
/// harness self-test (D1 migrations, KV, queues with retries and a
/// dead-letter queue, crons, vars and secrets) with `node --test`.
pub fn workers_smoke() -> Result<()> {
    let hello = Path::new(HELLO_WORKER);
    steps::run_all(
        "xtask workers-smoke",
        vec![
            Step::new("tools", || ensure::all(ensure::WORKERS_TOOLS)),
            Step::new("build hello worker", || {
                let raw = build_worker(hello)?;
                let wasm = hello.join("build").join("index_bg.wasm");
                let gzip = gzip_size(&wasm).map_or_else(|| "gzip not installed".to_owned(), |n| format!("{n} bytes"));
                eprintln!(
                    "hello worker wasm: {raw} bytes raw, {gzip} gzip -9 ({})",
                    wasm.display()
                );
                Ok(())
            }),
            Step::new("serve hello", || {
                let harness = Harness::start(HELLO_HARNESS_CONFIG, &[])?;
                let started = Instant::now();
                let (status, body) = http_get(&harness.url, "/")?;
                eprintln!(
                    "GET {}/ → {status} {body:?} ({} ms, first request)",
                    harness.url,
                    started.elapsed().as_millis()
                );
                if status != 200 || body != "hello" {
                    bail!("GET / answered {status} {body:?}, want 200 \"hello\"");
                }
                harness.stop()
            }),
            Step::new("harness self-test", || {
                let node = Path::new(ensure::CLOUDFLARE_DIR)
                    .join("node_modules")
                    .join(".bin")
                    .join("node");
                ensure::workers_env()?
                    .into_iter()
                    .filter(|(key, _)| *key != "PATH")
                    .fold(Cmd::new(node), |cmd, (key, value)| cmd.env(key, value))
                    .args(["--test", HARNESS_SELFTEST])
                    .no_stdin()
                    .run()
            }),
        ],
    )
}
