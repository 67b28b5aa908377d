//! `cargo xtask`: the one entry point a contributor (and CI) needs.
//!
//! - `cargo xtask up` installs what is missing and runs the system locally.
//! - `cargo xtask test` runs everything CI checks, in CI's order.
//! - `cargo xtask fuzz` runs the fuzz targets for longer than CI does.
//!
//! The command line is read by `clap` (the doc comments below are its help
//! text); the benchmarks' client is `gasline-testkit`'s, over `ureq`.

mod bench;
mod cmd;
mod console;
mod ensure;
mod faults;
mod fuzz;
mod spin;
mod steps;
mod test;
mod up;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::cmd::CommandFailed;

/// Gasline's project automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what is missing, run the four Workers on the local Workers
    /// runtime with demo data (port $GASLINE_PORT, default 8787), and say
    /// where to look.
    Up {
        /// Run the four Spin components instead: real `spin up` when `spin`
        /// is on PATH, the Spin test host otherwise (port $GASLINE_PORT,
        /// default 3000), with a Redis started for the run.
        #[arg(long)]
        spin: bool,
    },
    /// Everything CI checks, in CI's order; stops at the first failure.
    Test(test::Options),
    /// Install the Cloudflare Workers toolchain, build the hello-world
    /// worker and serve it on workerd through the local harness, then run
    /// the harness self-test.
    WorkersSmoke,
    /// Build one function as a Worker (worker-build --release).
    BuildWorker {
        /// The function.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(workers::WORKERS))]
        name: String,
    },
    /// Measure the four Workers on the local Workers runtime (release
    /// builds): wasm sizes, POST /v1/orders latency beside a hello-world
    /// worker, saga latency per step. Prints Markdown, also written to
    /// target/bench-workers/report.md.
    BenchWorkers(bench::Args),
    /// Measure the four Spin components on the wasmtime test host (release
    /// components, optimised host): component sizes, POST /v1/orders
    /// latency beside a hello-world component, saga latency per step.
    /// Prints Markdown, also written to target/bench-spin/report.md.
    BenchSpin(bench::Args),
    /// Run the fuzz targets of tests/fuzz (docs/SECURITY.md, "Fuzzing")
    /// one after the other, each from its seeds and the corpus earlier runs
    /// grew; a crash stops the run and is kept in tests/fuzz/artifacts/.
    /// CI runs each briefly (`cargo xtask test --only fuzz`).
    Fuzz(fuzz::Options),
    /// The full deterministic fault simulation (`tests/tests/chaos.rs`, of
    /// which CI runs the first 48 seeds): every seed from --from, in a
    /// release build over every core; prints the faults injected and a
    /// one-line reproducer for each failing seed.
    Chaos {
        /// How many seeds.
        #[arg(long, default_value_t = 10_000)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

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
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if error.downcast_ref::<UsageError>().is_some() {
                eprintln!("error: {error}\n\nFor more information, try `cargo xtask help`.");
                return ExitCode::from(2);
            }
            eprintln!("error: {error:#}");
            exit_code_for(&error)
        }
    }
}

fn run(command: Command) -> Result<()> {
    // Every command runs from the workspace root, wherever xtask was started.
    let root = workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter the workspace root {}", root.display()))?;
    match command {
        Command::Up { spin: false } => workers::up(),
        Command::Up { spin: true } => spin::up(),
        Command::Test(options) => test::run(&options),
        Command::WorkersSmoke => up::workers_smoke(),
        Command::BuildWorker { name } => workers::build_one(&name),
        Command::BenchWorkers(args) => bench::run(&bench::Options::new(bench::Runtime::Workers, args)?),
        Command::BenchSpin(args) => bench::run(&bench::Options::new(bench::Runtime::Spin, args)?),
        Command::Fuzz(options) => fuzz::run(&options),
        Command::Chaos { seeds, from } => cmd::Cmd::cargo()
            .args([
                "test",
                "--locked",
                "--release",
                "-p",
                "gasline-tests",
                "--test",
                "chaos",
                "--",
                "--nocapture",
            ])
            .env("GASLINE_CHAOS_SEEDS", seeds.to_string())
            .env("GASLINE_CHAOS_FROM", from.to_string())
            .no_stdin()
            .run(),
    }
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
