//! `cargo xtask up`: install what is missing, run the whole system locally
//! with demo data, and say where to look.
//!
//! For now the system runs in one process on the native adapters (the
//! `gasline simulate` saga simulator). When the Workers runtime lands, the
//! steps after `tools` become "build the workers" and "start wrangler"; the
//! shape (tools, build, run, where to look) stays.

use std::path::PathBuf;

use anyhow::Result;

use crate::cmd::Cmd;
use crate::ensure;
use crate::steps::{self, Step};

/// How many demo orders the simulator pushes through the saga.
const DEMO_ORDERS: &str = "50";

pub fn run() -> Result<()> {
    let gasline = target_dir().join("release").join("gasline");
    steps::run_all(
        "xtask up",
        vec![
            Step::new("tools", || ensure::all(ensure::EVERYTHING)),
            Step::new("build", build_cli),
            Step::new("simulate", || run_simulator(&gasline)),
        ],
    )?;
    eprintln!(
        "\nWhere to look: the simulator's report is printed above.\n\
         Run it again, with other settings: {} simulate --help",
        gasline.display()
    );
    Ok(())
}

/// The `gasline` CLI, release profile (the one benchmarks and demos use).
fn build_cli() -> Result<()> {
    Cmd::cargo()
        .args(["build", "--release", "-p", "gasline-cli", "--locked"])
        .run()
}

/// Runs the native simulator; its exit status becomes `cargo xtask up`'s.
fn run_simulator(gasline: &std::path::Path) -> Result<()> {
    Cmd::new(gasline).args(["simulate", "--orders", DEMO_ORDERS]).run()
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR` if set (relative to the
/// workspace root, like cargo reads it), else `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
}
