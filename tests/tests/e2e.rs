//! The end-to-end scenarios against a real runtime. The runtime is started
//! by `cargo xtask test` (step `e2e-workers`: the four Workers on workerd),
//! which passes:
//!
//! - `GASLINE_E2E_URL`: the base URL;
//! - `GASLINE_E2E_DIR`: the folder `gasline demo` wrote (dev.env, riders.txt,
//!   stations.txt);
//! - `GASLINE_E2E_CRON_URL`: a URL that fires the runtime's cron trigger
//!   when POSTed to.
//!
//! The tests are ignored in a plain `cargo test` (nothing is running then).

use std::path::PathBuf;

use gasline_tests::remote::{self, Context, DevEnv, Remote, Runtime, Scenario};

struct CronUrl(String);

impl Runtime for CronUrl {
    fn fire_cron(&self) -> Result<(), String> {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let response = agent
            .post(&self.0)
            .send_empty()
            .map_err(|e| format!("firing the cron: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("firing the cron answered {}", response.status()))
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run this through `cargo xtask test --only e2e-workers`"))
}

fn run(scenarios: &[Scenario]) {
    let dir = PathBuf::from(env("GASLINE_E2E_DIR"));
    let remote = Remote::new(
        &env("GASLINE_E2E_URL"),
        DevEnv::load(&dir.join("dev.env")).expect("dev.env"),
    );
    let runtime = CronUrl(env("GASLINE_E2E_CRON_URL"));
    let cx = Context {
        remote: &remote,
        runtime: &runtime,
        riders: remote::tokens(&dir, "riders.txt").expect("riders.txt"),
        stations: remote::tokens(&dir, "stations.txt").expect("stations.txt"),
    };
    let failures = remote::run_all(&cx, scenarios);
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
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
