//! `cargo xtask`: the one entry point a contributor (and CI) needs.
//!
//! - `cargo xtask up` installs what is missing and runs the system locally.
//! - `cargo xtask test` runs everything CI checks, in CI's order.
//!
//! Kept to `std` + `anyhow` on purpose: CI compiles this crate on every run,
//! so argument parsing is hand-written rather than pulling in `clap`.

mod bench;
mod cmd;
mod ensure;
mod spin;
mod steps;
mod test;
mod up;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::cmd::CommandFailed;

const USAGE: &str = "\
Usage: cargo xtask <command> [options]

Commands:
  up                  Install what is missing, run the four Workers on the
                      local Workers runtime with demo data (port
                      $GASLINE_PORT, default 8787), and say where to look.
  test                Everything CI checks, in CI's order; stops at the first
                      failure.
  workers-smoke       Install the Cloudflare Workers toolchain, build the
                      hello-world worker and serve it on workerd through the
                      local harness, then run the harness self-test.
  build-worker NAME   Build one function as a Worker (worker-build --release).
  bench-workers       Measure the four Workers on the local Workers runtime
                      (release builds): wasm sizes, POST /v1/orders latency
                      beside a hello-world worker, saga latency per step.
                      Prints Markdown, also written to
                      target/bench-workers/report.md.
  bench-spin          Measure the four Spin components on the wasmtime test
                      host (release components, optimised host): component
                      sizes, POST /v1/orders latency beside a hello-world
                      component, saga latency per step. Prints Markdown,
                      also written to target/bench-spin/report.md.
  help                Print this message.

Options for `bench-workers` and `bench-spin`:
  --requests-c1 N     Measured requests of each kind at concurrency 1 (500).
  --requests-c32 N    Measured requests of each kind at concurrency 32 (3000).
  --orders N          Orders in each saga run (1000).
  --rate R            Orders placed per second in the saga runs (10).
  --only PARTS        Only these measurements (comma-separated; the sizes
                      are always reported): latency, saga, and for
                      Workers saga-batched.

Options for `test`:
  --skip-wasm         Leave out the wasm builds (and the wasm targets).
  --only <step>       Run only this step (repeatable, or comma-separated).
                      Steps: tools, fmt, clippy, test, doc,
                      wasm32-unknown-unknown, wasm32-wasip2, e2e-workers,
                      e2e-spin (`wasm` selects the wasm builds and e2e runs).
";

/// A mistake in the command line: reported with the usage text, exit status 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if error.downcast_ref::<UsageError>().is_some() {
                eprintln!("error: {error}\n\n{USAGE}");
                return ExitCode::from(2);
            }
            eprintln!("error: {error:#}");
            exit_code_for(&error)
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((command, options)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(());
    };
    // Every command runs from the workspace root, wherever xtask was started.
    let root = workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter the workspace root {}", root.display()))?;
    match command.as_str() {
        "test" => {
            if wants_help(options) {
                print!("{USAGE}");
                return Ok(());
            }
            test::run(&test::Options::parse(options)?)
        }
        "up" => {
            if wants_help(options) {
                print!("{USAGE}");
                return Ok(());
            }
            if let Some(unexpected) = options.first() {
                return Err(usage(format!("`up` takes no options (got `{unexpected}`)")));
            }
            workers::up()
        }
        "build-worker" => match options {
            [name] => workers::build_one(name),
            _ => Err(usage(
                "`build-worker` takes one function name (intake, matching, signing, status)".to_owned(),
            )),
        },
        "workers-smoke" => {
            if wants_help(options) {
                print!("{USAGE}");
                return Ok(());
            }
            if let Some(unexpected) = options.first() {
                return Err(usage(format!("`workers-smoke` takes no options (got `{unexpected}`)")));
            }
            up::workers_smoke()
        }
        "bench-workers" => {
            if wants_help(options) {
                print!("{USAGE}");
                return Ok(());
            }
            bench::run(&bench::Options::parse(bench::Runtime::Workers, options)?)
        }
        "bench-spin" => {
            if wants_help(options) {
                print!("{USAGE}");
                return Ok(());
            }
            bench::run(&bench::Options::parse(bench::Runtime::Spin, options)?)
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(usage(format!("unknown command `{other}`"))),
    }
}

fn wants_help(options: &[String]) -> bool {
    options.iter().any(|o| o == "-h" || o == "--help")
}

/// Builds the error for a bad command line.
fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// The workspace root: this crate lives at `infra/xtask/`. `cargo run` sets
/// `CARGO_MANIFEST_DIR` at run time too, which stays right if the checkout
/// was moved after the build; the compile-time value is the fallback.
fn workspace_root() -> PathBuf {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .ancestors()
        .nth(2)
        .expect("infra/xtask sits two levels below the workspace root")
        .to_path_buf()
}

/// Forwards the exit status of the command that failed (so `up` exits as the
/// simulator did, and `test` as cargo did); 1 for any other error.
fn exit_code_for(error: &anyhow::Error) -> ExitCode {
    let code = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<CommandFailed>())
        .and_then(CommandFailed::exit_code)
        .unwrap_or(1);
    ExitCode::from(code)
}
