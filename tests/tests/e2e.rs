//! The end-to-end scenarios against a real runtime. The runtime is started
//! by `cargo xtask test` (step `e2e-workers`: the four Workers on workerd),
//! which passes:
//!
//! - `GASLINE_E2E_URL`: the base URL;
//! - `GASLINE_E2E_DIR`: the folder `gasline demo` wrote (dev.env, riders.txt,
//!   stations.txt);
//! - `GASLINE_E2E_CRON_URL`: a URL that fires the runtime's cron trigger
//!   when POSTed to; unset, the cron is the sweep route
//!   (`POST /v1/ops/sweep` with the ops token), as on Spin;
//! - `GASLINE_E2E_SWEEP_EVERY_MS` (optional): also call the sweep route on
//!   this schedule while the scenarios run, as an outside scheduler would;
//! - `GASLINE_E2E_SELF_SWEEPING=1` (optional): the runtime runs its sweeper
//!   by itself (Spin's Redis-timed tick), so "firing the cron" is waiting
//!   for it: nothing here calls the sweep route.
//!
//! The tests are ignored in a plain `cargo test` (nothing is running then).

use std::path::PathBuf;
use std::time::Duration;

use gasline_testkit::{Call, Client, Loopback};
use gasline_tests::remote::{self, Context, DevEnv, Remote, Runtime, Scenario};
use gasline_tests::{cells, crash, replicas};

/// How the cron trigger is fired: the runtime's own hook, the sweep route,
/// or not at all because the runtime sweeps on its own clock.
enum Cron<'a> {
    Url(String),
    SweepRoute(&'a Remote),
    Itself,
}

impl Runtime for Cron<'_> {
    fn fire_cron(&self) -> Result<(), String> {
        let status = match self {
            Cron::Itself => return Ok(()),
            Cron::Url(url) => {
                // The whole URL is the base; the call adds no path.
                Client::new(Loopback::new(url, Duration::from_secs(30)))
                    .send(&Call::post("", ""))
                    .map_err(|e| format!("firing the cron: {e:#}"))?
                    .status
            }
            Cron::SweepRoute(remote) => remote.post("/v1/ops/sweep", remote.ops(), "")?.0,
        };
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("firing the cron answered {status}"))
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this through `cargo xtask test` (steps e2e-workers, e2e-spin)")
    })
}

fn run(scenarios: &[Scenario]) {
    let dir = PathBuf::from(env("GASLINE_E2E_DIR"));
    let remote = Remote::new(
        &env("GASLINE_E2E_URL"),
        DevEnv::load(&dir.join("dev.env")).expect("dev.env"),
    );
    let runtime = match std::env::var("GASLINE_E2E_CRON_URL") {
        Ok(url) => Cron::Url(url),
        Err(_) if std::env::var("GASLINE_E2E_SELF_SWEEPING").is_ok_and(|v| v == "1") => Cron::Itself,
        Err(_) => Cron::SweepRoute(&remote),
    };
    let every = std::env::var("GASLINE_E2E_SWEEP_EVERY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let done = std::sync::atomic::AtomicBool::new(false);
    let cx = Context {
        remote: &remote,
        runtime: &runtime,
        riders: remote::tokens(&dir, "riders.txt").expect("riders.txt"),
        stations: remote::tokens(&dir, "stations.txt").expect("stations.txt"),
    };
    let failures = std::thread::scope(|s| {
        if let Some(every) = every {
            let (remote, done) = (&remote, &done);
            s.spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = Cron::SweepRoute(remote).fire_cron();
                    std::thread::sleep(std::time::Duration::from_millis(every));
                }
            });
        }
        let failures = remote::run_all(&cx, scenarios);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        failures
    });
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
    // What every scenario left behind in D1, on Workers (the Spin runs
    // audit their SQLite file with `gasline audit`).
    if std::env::var("GASLINE_E2E_AUDIT_D1").is_ok_and(|v| v == "1") {
        let d1 = gasline_tests::crash::HarnessD1::new(&remote.base);
        if let Err(why) = gasline_tests::remote::audit_clean(&d1, "D1 after the scenarios") {
            panic!("{why}");
        }
        println!("audit of D1 after the scenarios: clean");
    }
}

#[test]
#[ignore = "needs a running runtime: cargo xtask test --only e2e-workers"]
fn healthy_runtime() {
    run(&remote::healthy());
}

#[test]
#[ignore = "needs a runtime started with the test-only faults: cargo xtask test --only e2e-workers"]
fn faulty_runtime() {
    run(&remote::faulty());
}

#[test]
#[ignore = "needs a runtime started with the hostile test-only faults: cargo xtask test --only e2e-workers"]
fn hostile_runtime() {
    run(&remote::hostile());
}

#[test]
#[ignore = "needs two Spin replicas, one to kill: cargo xtask test --only e2e-spin"]
fn replicas_runtime() {
    run(&replicas::scenarios());
}

#[test]
#[ignore = "needs two Spin cells and the router: cargo xtask test --only e2e-spin"]
fn cells_runtime() {
    run(&cells::scenarios());
}

#[test]
#[ignore = "needs a local Workers runtime restarted after a SIGKILL: cargo xtask test --only e2e-workers"]
fn crashed_runtime() {
    run(&crash::scenarios());
}
