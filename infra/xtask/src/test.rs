//! `cargo xtask test`: everything CI checks, in CI's order, stopping at the
//! first failure.
//!
//! The checks are a table ([`CHECKS`]): each names the tools it needs, so the
//! first step (`tools`) installs only what the selected checks use.

use anyhow::Result;

use crate::cmd::Cmd;
use crate::ensure::{
    self, CARGO_FUZZ, CLIPPY, OPENSSL, RUSTFMT, SPIN_RUST_TARGET, SPIN_TARGET, Tool, WORKERS_RUST_TARGET,
    WORKERS_TARGET,
};
use crate::steps::{self, Step};
use crate::usage;

/// The crates compiled to WebAssembly: one per function.
const FUNCTION_CRATES: &[&str] = &[
    "gasline-intake",
    "gasline-matching",
    "gasline-signing",
    "gasline-status",
    "gasline-router",
];

/// The name of the first step, which installs what the checks need.
const TOOLS_STEP: &str = "tools";

/// Selects both wasm builds in `--only`.
const WASM_GROUP: &str = "wasm";

/// One thing CI checks.
struct Check {
    name: &'static str,
    needs: &'static [Tool],
    run: fn() -> Result<()>,
    /// How to fix a failure, when there is more to say than the output does.
    fix: Option<&'static str>,
    /// A wasm build: left out by `--skip-wasm`, selected by `--only wasm`.
    is_wasm: bool,
}

/// Every check, in the order CI runs them.
const CHECKS: &[Check] = &[
    Check {
        name: "fmt",
        needs: &[RUSTFMT],
        run: check_formatting,
        fix: Some("fix: `cargo fmt --all` reformats the workspace (`rustfmt --edition 2024 FILE…` for single files)"),
        is_wasm: false,
    },
    Check {
        name: "clippy",
        needs: &[CLIPPY],
        run: run_clippy,
        fix: Some(
            "fix: the errors and lints above; `cargo clippy --fix --workspace --all-targets` applies the mechanical ones",
        ),
        is_wasm: false,
    },
    Check {
        name: "test",
        // The Spin test host's tests build wasip2 fixtures and run Redis.
        needs: &[OPENSSL, ensure::REDIS_SERVER, SPIN_RUST_TARGET],
        run: run_tests,
        fix: None,
        is_wasm: false,
    },
    Check {
        name: "doc",
        needs: &[],
        run: build_docs,
        fix: Some("fix: the errors and rustdoc warnings above (broken intra-doc links, bare URLs, unclosed HTML tags)"),
        is_wasm: false,
    },
    Check {
        name: "alerts",
        needs: &[ensure::PROMTOOL],
        run: check_alert_rules,
        fix: Some("fix: the rule or its unit test in infra/prometheus/ (`promtool test rules` prints what fired)"),
        is_wasm: false,
    },
    Check {
        name: "fuzz",
        needs: &[CARGO_FUZZ],
        run: crate::fuzz::ci,
        fix: Some(
            "fix: the panic above; cargo-fuzz printed the failing input (tests/fuzz/artifacts/) and the command that replays it; `cargo xtask fuzz --target NAME` fuzzes longer",
        ),
        is_wasm: false,
    },
    Check {
        name: WORKERS_TARGET,
        needs: &[WORKERS_RUST_TARGET],
        run: build_functions_for_workers,
        fix: None,
        is_wasm: true,
    },
    Check {
        name: SPIN_TARGET,
        needs: &[SPIN_RUST_TARGET],
        run: build_functions_for_spin,
        fix: None,
        is_wasm: true,
    },
    Check {
        name: "e2e-workers",
        needs: E2E_WORKERS_TOOLS,
        run: crate::workers::e2e,
        fix: Some("re-run with the harness log above; `cargo xtask up` serves the same Workers for poking by hand"),
        is_wasm: true,
    },
    Check {
        name: "e2e-spin",
        needs: &[SPIN_RUST_TARGET, ensure::REDIS_SERVER, OPENSSL],
        run: crate::spin::e2e,
        fix: Some("re-run with the host log above; docs/SPIN.md says how to run the components by hand"),
        is_wasm: true,
    },
];

/// The Workers toolchain plus `openssl` (a scenario verifies a waybill
/// with it), schemathesis (the API against its OpenAPI document) and
/// Chromium (the ops console in a browser).
const E2E_WORKERS_TOOLS: &[Tool] = &[
    WORKERS_RUST_TARGET,
    ensure::NPM,
    ensure::NODE_PACKAGES,
    ensure::WORKER_BUILD,
    ensure::WASM_BINDGEN_CLI,
    OPENSSL,
    ensure::SCHEMATHESIS,
    ensure::CHROMIUM,
    ensure::CJK_FONT,
];

/// The command line of `cargo xtask test`.
#[derive(Debug, Default, Clone, PartialEq, Eq, clap::Args)]
pub struct Options {
    /// Leave out the wasm builds and the end-to-end runs (and the wasm
    /// targets).
    #[arg(long)]
    skip_wasm: bool,
    /// Run only these steps (repeatable, or comma-separated); `wasm`
    /// selects the wasm builds and the end-to-end runs.
    #[arg(long, value_name = "STEP", value_delimiter = ',', value_parser = step_names())]
    only: Vec<String>,
}

/// Every name `--only` takes, in CI's order.
fn step_names() -> clap::builder::PossibleValuesParser {
    let checks = CHECKS.iter().map(|check| check.name);
    std::iter::once(TOOLS_STEP)
        .chain(checks)
        .chain(std::iter::once(WASM_GROUP))
        .collect::<Vec<_>>()
        .into()
}

impl Options {
    fn selects(&self, check: &Check) -> bool {
        if check.is_wasm && self.skip_wasm {
            return false;
        }
        self.only.is_empty()
            || self
                .only
                .iter()
                .any(|name| name == check.name || (check.is_wasm && name == WASM_GROUP))
    }

    /// `--only tools`: install everything the checks need, run none of them.
    fn tools_only(&self) -> bool {
        !self.only.is_empty() && self.only.iter().all(|name| name == TOOLS_STEP)
    }
}

/// Runs the selected checks after making sure their tools are installed.
pub fn run(options: &Options) -> Result<()> {
    let (checks, needs): (Vec<&Check>, Vec<Tool>) = if options.tools_only() {
        let needs = CHECKS
            .iter()
            .filter(|check| !(check.is_wasm && options.skip_wasm))
            .flat_map(|check| check.needs.iter().copied())
            .collect();
        (Vec::new(), needs)
    } else {
        let checks: Vec<&Check> = CHECKS.iter().filter(|check| options.selects(check)).collect();
        if checks.is_empty() {
            return Err(usage(
                "nothing to run: `--skip-wasm` leaves out every step chosen with `--only`".to_owned(),
            ));
        }
        let needs = checks.iter().flat_map(|check| check.needs.iter().copied()).collect();
        (checks, needs)
    };

    let mut steps = vec![Step::new(TOOLS_STEP, move || ensure::all(&needs)).on_failure(rerun_hint(TOOLS_STEP))];
    steps.extend(checks.into_iter().map(|check| {
        let hint = match check.fix {
            Some(fix) => format!("{fix}\n{}", rerun_hint(check.name)),
            None => rerun_hint(check.name),
        };
        Step::new(check.name, check.run).on_failure(hint)
    }));
    steps::run_all("xtask test", steps)
}

fn rerun_hint(step: &str) -> String {
    format!("re-run just this step: `cargo xtask test --only {step}`")
}

fn check_formatting() -> Result<()> {
    Cmd::cargo().args(["fmt", "--all", "--check"]).run()
}

fn run_clippy() -> Result<()> {
    Cmd::cargo()
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ])
        .run()
}

/// With cargo-nextest installed: `cargo test --doc` (nextest does not run
/// doctests), then nextest for everything else; otherwise plain `cargo test`.
/// Output streams through untouched, and the doctests go first so that the
/// main runner's own summary is what closes the step.
fn run_tests() -> Result<()> {
    if Cmd::cargo().args(["nextest", "--version"]).succeeds() {
        Cmd::cargo().args(["test", "--doc", "--workspace", "--locked"]).run()?;
        Cmd::cargo()
            // Like `cargo test`: a workspace with no tests yet is not a failure.
            .env("NEXTEST_NO_TESTS", "warn")
            .args(["nextest", "run", "--workspace", "--locked"])
            .run()
    } else {
        eprintln!("cargo-nextest is not installed: running the tests with `cargo test`");
        Cmd::cargo().args(["test", "--workspace", "--locked"]).run()
    }
}

/// The Prometheus alert rules parse, and their unit tests (series in,
/// alerts expected out) pass.
fn check_alert_rules() -> Result<()> {
    Cmd::new("promtool")
        .args(["check", "rules", "infra/prometheus/gasline-alerts.yml"])
        .no_stdin()
        .run()?;
    Cmd::new("promtool")
        .args(["test", "rules", "infra/prometheus/gasline-alerts.test.yml"])
        .no_stdin()
        .run()
}

/// Documentation must build without warnings; caller-set `RUSTDOCFLAGS` are kept.
fn build_docs() -> Result<()> {
    let flags = match std::env::var("RUSTDOCFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} -D warnings"),
        _ => "-D warnings".to_owned(),
    };
    Cmd::cargo()
        .env("RUSTDOCFLAGS", flags)
        .args(["doc", "--workspace", "--no-deps", "--locked"])
        .run()
}

fn build_functions_for_workers() -> Result<()> {
    build_functions(WORKERS_TARGET)
}

fn build_functions_for_spin() -> Result<()> {
    build_functions(SPIN_TARGET)
}

/// All function crates in one cargo invocation (shared dependencies build
/// once), with the `wasm-dev` profile (dev without debug info, see the root
/// Cargo.toml): the LTO release profile is for `up` and benchmarks, and
/// would make CI slow.
fn build_functions(target: &str) -> Result<()> {
    FUNCTION_CRATES
        .iter()
        .fold(
            Cmd::cargo().args(["build", "--locked", "--profile", "wasm-dev", "--target", target]),
            |cmd, krate| cmd.args(["-p", krate]),
        )
        .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `test ARGS` as clap reads it, through the real command line.
    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        match <crate::Cli as clap::Parser>::try_parse_from(["xtask", "test"].iter().chain(args))?.command {
            crate::Command::Test(options) => Ok(options),
            other => panic!("`test` parsed as {other:?}"),
        }
    }

    fn selected(options: &Options) -> Vec<&'static str> {
        CHECKS
            .iter()
            .filter(|check| options.selects(check))
            .map(|check| check.name)
            .collect()
    }

    #[test]
    fn no_options_selects_every_check_in_ci_order() {
        let options = parse(&[]).unwrap();
        assert_eq!(
            selected(&options),
            [
                "fmt",
                "clippy",
                "test",
                "doc",
                "alerts",
                "fuzz",
                "wasm32-unknown-unknown",
                "wasm32-wasip2",
                "e2e-workers",
                "e2e-spin"
            ]
        );
    }

    #[test]
    fn skip_wasm_leaves_out_both_wasm_builds() {
        let options = parse(&["--skip-wasm"]).unwrap();
        assert_eq!(selected(&options), ["fmt", "clippy", "test", "doc", "alerts", "fuzz"]);
    }

    #[test]
    fn only_accepts_repeats_commas_and_the_wasm_group() {
        let options = parse(&["--only", "doc,fmt", "--only=wasm"]).unwrap();
        assert_eq!(
            selected(&options),
            [
                "fmt",
                "doc",
                "wasm32-unknown-unknown",
                "wasm32-wasip2",
                "e2e-workers",
                "e2e-spin"
            ]
        );
    }

    #[test]
    fn only_tools_runs_no_check() {
        let options = parse(&["--only", "tools"]).unwrap();
        assert!(options.tools_only());
    }

    #[test]
    fn unknown_steps_and_flags_are_usage_errors() {
        for args in [&["--only", "lint"][..], &["--only"], &["--fast"]] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
    }
}
