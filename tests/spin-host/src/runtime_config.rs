//! `spin up --runtime-config-file FILE`, as far as Gasline uses it: SQLite
//! databases of `type = "spin"` and key-value stores of `type = "redis"`.
//! Relative paths resolve as Spin 4.0.x resolves them
//! (`crates/runtime-config/src/lib.rs` there): a SQLite `path` against the
//! working directory of `spin up`, a key-value `path` against the runtime
//! config file's folder — which is why the host takes the working directory
//! as an argument instead of resolving against the file. Anything else
//! (libSQL, a file-backed key-value store, other sections) is refused by
//! name rather than ignored, so a run never silently differs from Spin.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    sqlite_database: HashMap<String, Store>,
    #[serde(default)]
    key_value_store: HashMap<String, Store>,
}

#[derive(Debug, Deserialize)]
struct Store {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
}

/// What a runtime config gives the host.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// SQLite label → file (absolute when `cwd` is).
    pub sqlite: HashMap<String, PathBuf>,
    /// Key-value label → Redis URL.
    pub key_value: HashMap<String, String>,
}

/// Reads `text`, the runtime config at `file`, for a `spin up` run from
/// `cwd`.
pub fn parse(text: &str, file: &Path, cwd: &Path) -> anyhow::Result<RuntimeConfig> {
    let parsed: File = toml::from_str(text).with_context(|| format!("{}", file.display()))?;
    let mut config = RuntimeConfig::default();
    for (label, store) in parsed.sqlite_database {
        match (store.kind.as_str(), store.path) {
            // Spin's default for a database without a path is the state
            // dir; the host's `--state-dir` covers that case.
            ("spin", Some(path)) => {
                config.sqlite.insert(label, cwd.join(path));
            }
            ("spin", None) => bail!("[sqlite_database.{label}]: the test host needs a `path`"),
            (kind, _) => bail!("[sqlite_database.{label}]: type {kind:?} is not run by the test host (only \"spin\")"),
        }
    }
    for (label, store) in parsed.key_value_store {
        match (store.kind.as_str(), store.url) {
            ("redis", Some(url)) => {
                config.key_value.insert(label, url);
            }
            ("redis", None) => bail!("[key_value_store.{label}]: type \"redis\" needs a `url`"),
            (kind, _) => bail!("[key_value_store.{label}]: type {kind:?} is not run by the test host (only \"redis\")"),
        }
    }
    Ok(config)
}

/// [`parse`] of the file at `file`.
pub fn load(file: &Path, cwd: &Path) -> anyhow::Result<RuntimeConfig> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    parse(&text, file, cwd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_path_resolves_against_the_working_directory_not_the_file() {
        let text = "[sqlite_database.default]\ntype = \"spin\"\npath = \"data/gasline.db\"\n\n\
                    [key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n";
        let config = parse(text, Path::new("/repo/infra/spin/rc.toml"), Path::new("/repo")).unwrap();
        assert_eq!(config.sqlite["default"], Path::new("/repo/data/gasline.db"));
        assert_eq!(config.key_value["default"], "redis://127.0.0.1:6379");
        let absolute = "[sqlite_database.default]\ntype = \"spin\"\npath = \"/var/db/g.db\"\n";
        let config = parse(absolute, Path::new("/repo/rc.toml"), Path::new("/elsewhere")).unwrap();
        assert_eq!(config.sqlite["default"], Path::new("/var/db/g.db"));
    }

    #[test]
    fn the_repositorys_runtime_config_puts_the_database_where_gasline_demo_writes_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let file = root.join("infra/spin/runtime-config.toml");
        let config = load(&file, &root).unwrap();
        assert_eq!(config.sqlite["default"], root.join(".gasline/spin/gasline.db"));
        assert!(config.key_value["default"].starts_with("redis://"));
    }

    #[test]
    fn what_the_host_does_not_run_is_refused_by_name() {
        for (text, named) in [
            (
                "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x\"\n",
                "libsql",
            ),
            ("[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n", "spin"),
            ("[sqlite_database.default]\ntype = \"spin\"\n", "path"),
            ("[llm_compute]\ntype = \"remote_http\"\n", "llm_compute"),
        ] {
            let error = format!("{:#}", parse(text, Path::new("rc.toml"), Path::new("/")).unwrap_err());
            assert!(error.contains(named), "{text}: {error}");
        }
    }
}
