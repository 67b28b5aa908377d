//! The test-only faults of the faulty end-to-end runs, in one table, and
//! what it takes to run them without them reaching production.
//!
//! The hooks that read these variables are compiled only with each
//! function's `test-faults` feature. The faulty runs build their own copies
//! of the functions that carry a fault, with the feature, beside the
//! production builds: `functions/<name>/build-test-faults/` for Workers,
//! the `wasm-dev` profile for Spin. On Spin the variables must also be
//! declared, which the production `spin.toml` does not do: the faulty run
//! gets a manifest generated from it ([`spin_manifest`]). Both e2e steps
//! check that the production builds contain none of the variable names
//! ([`check_production_build`]), and that the test builds do.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail, ensure};

/// The feature every function crate forwards to its platform crate.
pub const FEATURE: &str = "test-faults";

/// Where `worker-build` puts a Worker built with [`FEATURE`], under its crate.
pub const WORKER_BUILD_DIR: &str = "build-test-faults";

/// One injected fault: `function` is started with `variable = value`.
pub struct Fault {
    pub function: &'static str,
    pub variable: &'static str,
    pub value: &'static str,
}

/// What the faulty scenarios of `tests/tests/e2e.rs` expect: intake's
/// `order.created` publishes are lost (only the sweeper recovers them), and
/// signing asks for a retry of everything (orders dead-letter and are
/// compensated).
pub const FAULTY: [Fault; 2] = [
    Fault {
        function: "intake",
        variable: "test_drop_publish",
        value: "order.created",
    },
    Fault {
        function: "signing",
        variable: "test_fail_consumer",
        value: "signing",
    },
];

/// The SQL outage of the hostile run: writes refused 3 s of every 15 s.
const OUTAGE: &str = "3000/15000";
/// The share of every publish the hostile run loses.
const LOST: &str = "0.2";

/// What the hostile scenario expects (issue 11, faults on the real
/// runtimes): in every function, SQL writes fail for a few seconds at a
/// time and a fifth of all publishes are lost; the GIS it is given
/// answers too slowly ([`SlowGis`]).
pub const HOSTILE: [Fault; 8] = [
    Fault {
        function: "intake",
        variable: "test_sql_outage",
        value: OUTAGE,
    },
    Fault {
        function: "intake",
        variable: "test_drop_share",
        value: LOST,
    },
    Fault {
        function: "matching",
        variable: "test_sql_outage",
        value: OUTAGE,
    },
    Fault {
        function: "matching",
        variable: "test_drop_share",
        value: LOST,
    },
    Fault {
        function: "signing",
        variable: "test_sql_outage",
        value: OUTAGE,
    },
    Fault {
        function: "signing",
        variable: "test_drop_share",
        value: LOST,
    },
    Fault {
        function: "status",
        variable: "test_sql_outage",
        value: OUTAGE,
    },
    Fault {
        function: "status",
        variable: "test_drop_share",
        value: LOST,
    },
];

/// An end-to-end run with test-only faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Faulty,
    Hostile,
}

impl Run {
    pub fn faults(self) -> &'static [Fault] {
        match self {
            Run::Faulty => &FAULTY,
            Run::Hostile => &HOSTILE,
        }
    }

    /// The functions that carry a fault in this run, once each.
    pub fn functions(self) -> Vec<&'static str> {
        let mut functions: Vec<&'static str> = self.faults().iter().map(|f| f.function).collect();
        functions.dedup();
        functions
    }

    /// The faults of `function` in this run.
    pub fn of(self, function: &str) -> impl Iterator<Item = &'static Fault> {
        self.faults().iter().filter(move |f| f.function == function)
    }
}

/// Every fault of every run: what the build checks look for.
fn every_fault() -> impl Iterator<Item = &'static Fault> {
    FAULTY.iter().chain(HOSTILE.iter())
}

/// A GIS traffic service that answers, correctly, after a second: far past
/// matching's timeout (`gis_timeout_ms`, 150 ms), so every call times out
/// and the breaker opens. On a loopback port, for the hostile run.
pub struct SlowGis {
    pub url: String,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SlowGis {
    pub fn start() -> Result<Self> {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/traffic", listener.local_addr()?);
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                        head.push(byte[0]);
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    let body = r#"{"factors": {}}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Ok(Self { url, calls })
    }

    /// Calls it has had so far.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Whether `wasm` names any fault variable, i.e. was built with [`FEATURE`].
fn has_hooks(wasm: &Path) -> Result<bool> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    Ok(every_fault().any(|f| bytes.windows(f.variable.len()).any(|w| w == f.variable.as_bytes())))
}

/// Fails unless none of `wasm` carries the fault hooks.
pub fn check_production_build(wasm: &[PathBuf]) -> Result<()> {
    for path in wasm {
        if has_hooks(path)? {
            bail!(
                "{} contains test-only fault hooks: a production build must not enable `{FEATURE}`",
                path.display()
            );
        }
    }
    Ok(())
}

/// Fails unless every one of `wasm` carries the fault hooks (else the faulty
/// run would test nothing, and [`check_production_build`] could not tell).
pub fn check_test_build(wasm: &[PathBuf]) -> Result<()> {
    for path in wasm {
        ensure!(
            has_hooks(path)?,
            "{} was built for the faulty run but has no fault hooks",
            path.display()
        );
    }
    Ok(())
}

/// The manifest of a faulty Spin run: `manifest` (the production
/// `spin.toml`, in `root`) with the fault variables declared and passed to
/// their components, the faulty components' `source` replaced by
/// `sources` (component → wasm), every other source made absolute, and no
/// build sections (this manifest is run, not built).
pub fn spin_manifest(manifest: &str, root: &Path, sources: &[(&str, PathBuf)], run: Run) -> Result<String> {
    let mut doc: toml::Table = toml::from_str(manifest).context("parsing spin.toml")?;
    let variables = table_at(&mut doc, "variables")?;
    for fault in run.faults() {
        let mut decl = toml::Table::new();
        decl.insert("default".into(), "".into());
        variables.insert(fault.variable.into(), decl.into());
    }
    let components = table_at(&mut doc, "component")?;
    for (id, component) in components.iter_mut() {
        let component = component
            .as_table_mut()
            .with_context(|| format!("[component.{id}] is not a table"))?;
        component.remove("build");
        let source = match sources.iter().find(|(name, _)| name == id) {
            Some((_, wasm)) => wasm.clone(),
            None => root.join(
                component
                    .get("source")
                    .and_then(toml::Value::as_str)
                    .with_context(|| format!("[component.{id}] has no source path"))?,
            ),
        };
        let source = source.to_str().context("paths must be UTF-8")?;
        component.insert("source".into(), source.into());
    }
    for fault in run.faults() {
        let component = components
            .get_mut(fault.function)
            .and_then(toml::Value::as_table_mut)
            .with_context(|| format!("spin.toml has no component {}", fault.function))?;
        let variables = component
            .entry("variables")
            .or_insert_with(|| toml::Table::new().into())
            .as_table_mut()
            .context("component variables are not a table")?;
        variables.insert(fault.variable.into(), format!("{{{{ {} }}}}", fault.variable).into());
    }
    toml::to_string(&doc).context("writing the test manifest")
}

fn table_at<'a>(doc: &'a mut toml::Table, key: &str) -> Result<&'a mut toml::Table> {
    doc.get_mut(key)
        .and_then(toml::Value::as_table_mut)
        .with_context(|| format!("spin.toml has no [{key}] table"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPIN_TOML: &str = include_str!("../../../spin.toml");

    fn variables_of<'a>(doc: &'a toml::Table, path: &[&str]) -> Vec<&'a str> {
        let mut table = doc;
        for key in path {
            match table.get(*key).and_then(toml::Value::as_table) {
                Some(t) => table = t,
                None => return Vec::new(),
            }
        }
        table.keys().map(String::as_str).collect()
    }

    #[test]
    fn the_production_manifest_declares_no_fault() {
        let doc: toml::Table = toml::from_str(SPIN_TOML).unwrap();
        let mut declared = variables_of(&doc, &["variables"]);
        for id in variables_of(&doc, &["component"]) {
            declared.extend(variables_of(&doc, &["component", id, "variables"]));
        }
        for fault in every_fault() {
            assert!(
                !declared.contains(&fault.variable),
                "spin.toml declares {}",
                fault.variable
            );
        }
    }

    #[test]
    fn the_test_manifest_passes_each_fault_to_its_component_only() {
        let wasm = PathBuf::from("/tmp/faulty/gasline_signing.wasm");
        let text = spin_manifest(SPIN_TOML, Path::new("/repo"), &[("signing", wasm.clone())], Run::Faulty).unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        for fault in Run::Faulty.faults() {
            assert!(variables_of(&doc, &["variables"]).contains(&fault.variable));
            for id in variables_of(&doc, &["component"]) {
                let passed = variables_of(&doc, &["component", id, "variables"]).contains(&fault.variable);
                assert_eq!(passed, id == fault.function, "{} in component {id}", fault.variable);
            }
        }
        let source = |id: &str| doc["component"][id]["source"].as_str().unwrap().to_owned();
        assert_eq!(source("signing"), wasm.to_str().unwrap());
        assert_eq!(
            source("status"),
            "/repo/target/wasm32-wasip2/release/gasline_status.wasm"
        );
        assert!(doc["component"]["intake"].get("build").is_none());
        // Everything else is the production manifest's.
        let production: toml::Table = toml::from_str(SPIN_TOML).unwrap();
        assert_eq!(doc["trigger"], production["trigger"]);
        assert_eq!(doc["application"], production["application"]);
    }

    #[test]
    fn the_build_check_tells_hooks_apart() {
        let dir = std::env::temp_dir().join(format!("gasline-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let clean = dir.join("clean.wasm");
        let hooked = dir.join("hooked.wasm");
        std::fs::write(&clean, b"\0asm gasline: signing").unwrap();
        std::fs::write(&hooked, b"\0asm ..test_fail_consumer..").unwrap();
        assert!(check_production_build(std::slice::from_ref(&clean)).is_ok());
        assert!(check_production_build(std::slice::from_ref(&hooked)).is_err());
        assert!(check_test_build(std::slice::from_ref(&hooked)).is_ok());
        assert!(check_test_build(&[clean]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
