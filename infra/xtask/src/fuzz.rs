//! The fuzz targets of `tests/fuzz` (one per parser of untrusted bytes; see
//! `docs/SECURITY.md`, "Fuzzing"): `cargo xtask fuzz` runs them for as long
//! as asked, and the `fuzz` check of `cargo xtask test` runs each briefly.
//!
//! cargo-fuzz on the stable toolchain: its coverage instrumentation is all
//! stable `-C` flags (`-Cpasses=sancov-module` and the `-Cllvm-args` of
//! sanitizer coverage); only its sanitizers are `-Z` flags. So every build is
//! `--sanitizer none` unless `--address-sanitizer` is asked for, which
//! unlocks `-Zsanitizer` on stable with `RUSTC_BOOTSTRAP=1` (the stable
//! toolchain ships the ASan runtime). The project's code forbids `unsafe`,
//! so CI does without it.
//!
//! A target reads its committed seeds (`tests/fuzz/seeds/<target>/`, never
//! written) and grows a corpus beside them in `tests/fuzz/corpus/<target>/`
//! (git ignores it; local runs keep building on it). A crashing input is
//! written to `tests/fuzz/artifacts/<target>/`, and cargo-fuzz prints it
//! with the command that replays it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::cmd::Cmd;
use crate::ensure::{self, CARGO_FUZZ};
use crate::steps::{self, Step};

/// The fuzz crate: its own workspace, lock file and target directory.
pub const FUZZ_DIR: &str = "tests/fuzz";

/// Every target, as `[[bin]]` in `tests/fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &[
    "admit",
    "order_body",
    "cancel_body",
    "location_body",
    "pickup_body",
    "telemetry_body",
    "envelope",
    "waybill_canonical",
    "waybill_verify",
    "public_keys",
    "private_key",
    "ops_bodies",
];

/// CI's slice: seconds per target. With the build of the fuzz crate
/// (about 1.5 minutes from nothing on two cores) the check stays under
/// 5 minutes.
pub const CI_SECONDS: u64 = 10;

/// A single input that runs longer than this is a hang, reported as a
/// crash (`timeout-…` in the artifacts).
const UNIT_TIMEOUT_SECONDS: u64 = 10;

/// `cargo xtask fuzz` runs each target this long unless told otherwise.
const DEFAULT_SECONDS: u64 = 300;

/// The command line of `cargo xtask fuzz`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Options {
    /// How long each target runs, in seconds.
    #[arg(long, default_value_t = DEFAULT_SECONDS, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Run only this target (repeatable, or comma-separated); every target
    /// by default.
    #[arg(long, value_name = "NAME", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    target: Vec<String>,
    /// Build with AddressSanitizer (on stable through RUSTC_BOOTSTRAP=1):
    /// slower, and the project's own code has no `unsafe`, but its
    /// dependencies do.
    #[arg(long)]
    address_sanitizer: bool,
}

impl Options {
    /// The chosen targets, in [`TARGETS`] order.
    fn targets(&self) -> Vec<&'static str> {
        TARGETS
            .iter()
            .copied()
            .filter(|target| self.target.is_empty() || self.target.iter().any(|name| name == target))
            .collect()
    }
}

/// How the targets are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sanitizer {
    None,
    Address,
}

/// How much libFuzzer says while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// A line per new input and a pulse now and then, for a run watched.
    Progress,
    /// The final statistics only (and any crash), for CI's log.
    Summary,
}

/// `cargo xtask fuzz`: installs cargo-fuzz if missing, builds every target
/// once, then runs the chosen ones one after the other.
pub fn run(options: &Options) -> Result<()> {
    let sanitizer = if options.address_sanitizer {
        Sanitizer::Address
    } else {
        Sanitizer::None
    };
    let seconds = options.seconds;
    let mut steps = vec![
        Step::new("tools", || ensure::all(&[CARGO_FUZZ])),
        Step::new("build", move || build(sanitizer)),
    ];
    steps.extend(options.targets().into_iter().map(|target| {
        Step::new(target, move || fuzz_one(target, seconds, sanitizer, Output::Progress))
            .on_failure(reproduce_hint(target, sanitizer))
    }));
    steps::run_all("xtask fuzz", steps)
}

/// The `fuzz` check of `cargo xtask test`: every target for [`CI_SECONDS`],
/// without a sanitizer; cargo-fuzz is installed by the `tools` step.
pub fn ci() -> Result<()> {
    build(Sanitizer::None)?;
    for target in TARGETS {
        fuzz_one(target, CI_SECONDS, Sanitizer::None, Output::Summary)
            .with_context(|| reproduce_hint(target, Sanitizer::None))?;
    }
    eprintln!(
        "fuzz: {} targets ran {CI_SECONDS} s each from their seeds without a crash",
        TARGETS.len()
    );
    Ok(())
}

/// Builds every target in one cargo invocation (the dependencies build once).
fn build(sanitizer: Sanitizer) -> Result<()> {
    cargo_fuzz("build", sanitizer).run()
}

/// Runs one target for `seconds` from its seeds and its grown corpus.
fn fuzz_one(target: &str, seconds: u64, sanitizer: Sanitizer, output: Output) -> Result<()> {
    let corpus = corpus_dir(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
    let mut cmd = cargo_fuzz("run", sanitizer)
        .arg(target)
        // libFuzzer adds new inputs to the first directory only.
        .arg(&corpus)
        .arg(seeds_dir(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={UNIT_TIMEOUT_SECONDS}"))
        .arg(format!("-dict={FUZZ_DIR}/gasline.dict"))
        .arg("-print_final_stats=1");
    if output == Output::Summary {
        cmd = cmd.arg("-verbosity=0");
    }
    cmd.no_stdin().run()
}

fn cargo_fuzz(subcommand: &str, sanitizer: Sanitizer) -> Cmd {
    let cmd = Cmd::cargo().args(["fuzz", subcommand, "--fuzz-dir", FUZZ_DIR]);
    match sanitizer {
        Sanitizer::None => cmd.args(["--sanitizer", "none"]),
        Sanitizer::Address => cmd.env("RUSTC_BOOTSTRAP", "1").args(["--sanitizer", "address"]),
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(FUZZ_DIR).join("corpus").join(target)
}

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(FUZZ_DIR).join("seeds").join(target)
}

fn reproduce_hint(target: &str, sanitizer: Sanitizer) -> String {
    let prefix = match sanitizer {
        Sanitizer::None => "",
        Sanitizer::Address => "RUSTC_BOOTSTRAP=1 ",
    };
    let name = match sanitizer {
        Sanitizer::None => "none",
        Sanitizer::Address => "address",
    };
    format!(
        "fuzz target `{target}` failed: replay its input with `{prefix}cargo fuzz run --fuzz-dir {FUZZ_DIR} \
         --sanitizer {name} {target} {FUZZ_DIR}/artifacts/{target}/<file>`; keep a real crash as a seed \
         and a unit test (docs/SECURITY.md, \"Fuzzing\")"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        match <crate::Cli as clap::Parser>::try_parse_from(["xtask", "fuzz"].iter().chain(args))?.command {
            crate::Command::Fuzz(options) => Ok(options),
            other => panic!("`fuzz` parsed as {other:?}"),
        }
    }

    #[test]
    fn every_target_runs_by_default_for_the_default_time() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.targets(), TARGETS);
        assert_eq!(options.seconds, DEFAULT_SECONDS);
        assert!(!options.address_sanitizer);
    }

    #[test]
    fn targets_are_chosen_by_name_in_table_order() {
        let options = parse(&[
            "--seconds",
            "30",
            "--target",
            "waybill_verify,admit",
            "--target=envelope",
        ])
        .unwrap();
        assert_eq!(options.targets(), ["admit", "envelope", "waybill_verify"]);
        assert_eq!(options.seconds, 30);
    }

    #[test]
    fn unknown_targets_and_zero_seconds_are_usage_errors() {
        for args in [&["--target", "orders"][..], &["--seconds", "0"], &["--seconds", "-5"]] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
    }

    /// The table here, the binaries of the fuzz crate and its seed folders
    /// name the same targets, and every target has a seed.
    #[test]
    fn the_table_matches_the_fuzz_crate() {
        let fuzz_dir = crate::workspace_root().join(FUZZ_DIR);
        let manifest = std::fs::read_to_string(fuzz_dir.join("Cargo.toml")).unwrap();
        let manifest: toml::Table = toml::from_str(&manifest).unwrap();
        let bins: Vec<&str> = manifest["bin"]
            .as_array()
            .unwrap()
            .iter()
            .map(|bin| bin["name"].as_str().unwrap())
            .collect();
        assert_eq!(bins, TARGETS);
        for target in TARGETS {
            let seeds = fuzz_dir.join("seeds").join(target);
            let count = std::fs::read_dir(&seeds)
                .unwrap_or_else(|e| panic!("{}: {e}", seeds.display()))
                .count();
            assert!(count > 0, "{} has no seed", seeds.display());
            assert!(fuzz_dir.join("fuzz_targets").join(format!("{target}.rs")).is_file());
        }
    }
}
