//! Building components for the host's tests: `cargo build --release
//! --target wasm32-wasip2` on a manifest, once per test process.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// Builds every package of a Cargo workspace (`manifest`) for
/// `wasm32-wasip2` in release mode into `<manifest dir>/target`, unless
/// `GASLINE_SPIN_PREBUILT=1` says the components are already built (CI may
/// build them in an earlier step). Returns the folder with the `.wasm` files.
pub fn build_wasm_workspace(manifest: &Path) -> anyhow::Result<PathBuf> {
    let dir = manifest.parent().context("manifest has no folder")?;
    let target_dir = dir.join("target");
    let out = target_dir.join("wasm32-wasip2").join("release");
    if std::env::var("GASLINE_SPIN_PREBUILT").is_ok_and(|v| v == "1") {
        return Ok(out);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--workspace",
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        // The outer `cargo test` may pass flags meant for the host target.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .context("running cargo to build the wasm components")?;
    if !status.success() {
        bail!(
            "building {} for wasm32-wasip2 failed ({status}); is the target installed? \
             (`rustup target add wasm32-wasip2`)",
            manifest.display()
        );
    }
    Ok(out)
}
