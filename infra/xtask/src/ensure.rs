//! Making sure the tools a step needs are there, and installing what is
//! missing (a fresh CI machine has only Rust, rustup and Debian).
//!
//! Steps declare what they need as [`Tool`] values; [`all`] checks each kind
//! once and installs only what is missing. Each kind of tool has one small
//! function ([`rust_targets`], [`rust_components`], [`debian_packages`]); a new
//! kind (a `cargo install`ed binary such as `wasm-bindgen-cli`, npm packages)
//! is a new [`Tool`] variant plus one such function.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};

use crate::cmd::{Cmd, find_program};

/// The target Cloudflare Workers builds use.
pub const WORKERS_TARGET: &str = "wasm32-unknown-unknown";
/// The target Spin components use.
pub const SPIN_TARGET: &str = "wasm32-wasip2";

/// Something a step needs installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// A rustup target of the active toolchain, e.g. `wasm32-wasip2`.
    RustTarget(&'static str),
    /// A rustup component of the active toolchain, e.g. `clippy`.
    RustComponent(&'static str),
    /// A program on `PATH` that comes from a Debian package.
    DebianPackage {
        program: &'static str,
        package: &'static str,
    },
}

pub const RUSTFMT: Tool = Tool::RustComponent("rustfmt");
pub const CLIPPY: Tool = Tool::RustComponent("clippy");
pub const WORKERS_RUST_TARGET: Tool = Tool::RustTarget(WORKERS_TARGET);
pub const SPIN_RUST_TARGET: Tool = Tool::RustTarget(SPIN_TARGET);
pub const OPENSSL: Tool = Tool::DebianPackage {
    program: "openssl",
    package: "openssl",
};

/// Everything the project needs today: what `cargo xtask up` makes sure of.
pub const EVERYTHING: &[Tool] = &[WORKERS_RUST_TARGET, SPIN_RUST_TARGET, RUSTFMT, CLIPPY, OPENSSL];

/// Makes sure every tool listed is installed, installing what is missing.
pub fn all(tools: &[Tool]) -> Result<()> {
    let mut targets = Vec::new();
    let mut components = Vec::new();
    let mut packages = Vec::new();
    for &tool in tools {
        match tool {
            Tool::RustTarget(target) => push_unique(&mut targets, target),
            Tool::RustComponent(component) => push_unique(&mut components, component),
            Tool::DebianPackage { program, package } => push_unique(&mut packages, (program, package)),
        }
    }
    rust_targets(&targets)?;
    rust_components(&components)?;
    debian_packages(&packages)
}

/// Makes sure the active toolchain has these targets (`rustup target add`
/// for the missing ones only).
pub fn rust_targets(targets: &[&str]) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    if !rustup_found("targets", targets) {
        return Ok(());
    }
    let installed = Cmd::new("rustup").args(["target", "list", "--installed"]).read()?;
    let missing = report("rust target", targets, |target| {
        installed.lines().any(|line| line.trim() == target)
    });
    if missing.is_empty() {
        return Ok(());
    }
    Cmd::new("rustup").args(["target", "add"]).args(&missing).run()
}

/// Makes sure the active toolchain has these components (`rustup component
/// add` for the missing ones only).
pub fn rust_components(components: &[&str]) -> Result<()> {
    if components.is_empty() {
        return Ok(());
    }
    if !rustup_found("components", components) {
        return Ok(());
    }
    let installed = Cmd::new("rustup").args(["component", "list", "--installed"]).read()?;
    // Lines read `clippy-x86_64-unknown-linux-gnu` (host-specific) or
    // `rust-src` (not).
    let missing = report("rust component", components, |component| {
        installed
            .lines()
            .map(str::trim)
            .any(|line| line == component || line.strip_prefix(component).is_some_and(|rest| rest.starts_with('-')))
    });
    if missing.is_empty() {
        return Ok(());
    }
    Cmd::new("rustup").args(["component", "add"]).args(&missing).run()
}

/// Makes sure each `(program, package)` program is on `PATH`, installing the
/// Debian packages of the missing ones with apt-get (only as root; otherwise
/// says what to install).
pub fn debian_packages(wanted: &[(&str, &str)]) -> Result<()> {
    let mut missing = Vec::new();
    for &(program, package) in wanted {
        match find_program(program) {
            Some(path) => eprintln!("  present  {program} ({})", path.display()),
            None => {
                eprintln!("  missing  {program} (Debian package {package})");
                push_unique(&mut missing, package);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let packages = missing.join(" ");
    if !is_root() {
        bail!("missing Debian packages: {packages}; install them (`sudo apt-get install -y {packages}`) and run again");
    }
    if find_program("apt-get").is_none() {
        bail!(
            "missing packages: {packages}, and there is no apt-get here to install them with; install them and run again"
        );
    }
    apt_get_update_once()?;
    Cmd::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .no_stdin()
        .run()?;
    for (program, package) in wanted {
        if find_program(program).is_none() {
            bail!("installed the Debian package `{package}` but `{program}` is still not on PATH");
        }
    }
    Ok(())
}

/// `apt-get update`, at most once per run: installs in later steps reuse the
/// fresh package lists.
fn apt_get_update_once() -> Result<()> {
    static UPDATED: AtomicBool = AtomicBool::new(false);
    if UPDATED.load(Ordering::Relaxed) {
        return Ok(());
    }
    Cmd::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .arg("update")
        .no_stdin()
        .run()?;
    UPDATED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Prints one line per wanted item and returns the missing ones.
fn report<'a>(kind: &str, wanted: &[&'a str], is_installed: impl Fn(&str) -> bool) -> Vec<&'a str> {
    let mut missing = Vec::new();
    for &name in wanted {
        if is_installed(name) {
            eprintln!("  present  {kind} {name}");
        } else {
            eprintln!("  missing  {kind} {name}");
            missing.push(name);
        }
    }
    missing
}

/// Without rustup (a distribution's Rust), targets and components cannot be
/// checked here; the build that needs them fails with rustc's own message.
fn rustup_found(what: &str, wanted: &[&str]) -> bool {
    if find_program("rustup").is_some() {
        return true;
    }
    eprintln!(
        "  warning  rustup is not on PATH: cannot check the rust {what} {}; assuming they are installed",
        wanted.join(", ")
    );
    false
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.status.success() && output.stdout.trim_ascii() == b"0")
}

fn push_unique<T: PartialEq>(items: &mut Vec<T>, item: T) {
    if !items.contains(&item) {
        items.push(item);
    }
}
