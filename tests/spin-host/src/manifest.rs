//! `spin.toml` (`spin_manifest_version = 2`): the subset Spin 4 accepts that
//! the test host serves. Keys the host does not model are errors (Spin's
//! manifest rejects unknown keys too), so a typo fails here before it fails
//! on a user's `spin up`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub trigger: ApplicationTriggers,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationTriggers {
    #[serde(default)]
    pub http: Option<ApplicationHttp>,
    #[serde(default)]
    pub redis: Option<ApplicationRedis>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationHttp {
    #[serde(default)]
    pub base: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationRedis {
    /// Default address of `[[trigger.redis]]` entries; may be a template.
    pub address: Option<String>,
}

/// `[variables]` entry: a default, or `required = true` (optionally
/// `secret = true`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    #[serde(default)]
    pub redis: Vec<RedisTrigger>,
    /// Trigger types the host cannot run (e.g. a plugin's `cron`): an error
    /// at start, never silently skipped.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    /// A route pattern, or `{ private = true }` (reachable only by service
    /// chaining, which the host does not do: such triggers get no route).
    pub route: RouteDecl,
    pub component: ComponentRef,
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RouteDecl {
    Pattern(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ComponentRef {
    Id(String),
    Inline(toml::Value),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub channel: String,
    pub component: ComponentRef,
    /// Overrides `[application.trigger.redis] address`; may be a template.
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    #[serde(default)]
    pub description: Option<String>,
    pub source: SourceDecl,
    #[serde(default)]
    pub files: Vec<toml::Value>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Component variables: name → value or template over `[variables]`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<toml::Value>,
    #[serde(default)]
    pub tool: Option<toml::Value>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    pub dependencies: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SourceDecl {
    Path(String),
    Remote(toml::Value),
}

impl Manifest {
    /// Reads and checks a manifest: version 2, every trigger's component
    /// declared, only trigger types the host runs, local sources only.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        manifest
            .check()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(manifest)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version {} (the host reads version 2)",
                self.spin_manifest_version
            );
        }
        if let Some(kind) = self.trigger.other.keys().next() {
            bail!("[[trigger.{kind}]]: the test host runs only http and redis triggers");
        }
        for (name, decl) in &self.variables {
            check_variable_name(name)?;
            match (&decl.default, decl.required) {
                (Some(_), true) => bail!("variable {name}: both `default` and `required = true`"),
                (None, false) => bail!("variable {name}: needs a `default` or `required = true`"),
                _ => {}
            }
        }
        for (id, component) in &self.component {
            if let SourceDecl::Remote(_) = component.source {
                bail!("component {id}: only a local `source` path is supported");
            }
            if !component.allowed_http_hosts.is_empty() {
                bail!("component {id}: `allowed_http_hosts` is gone in manifest v2; use `allowed_outbound_hosts`");
            }
            for name in component.variables.keys() {
                check_variable_name(name).with_context(|| format!("component {id}"))?;
            }
        }
        for trigger in &self.trigger.http {
            self.component_id(&trigger.component)?;
            if let RouteDecl::Private { private: false } = trigger.route {
                bail!("route must be a pattern or `{{ private = true }}`");
            }
        }
        for trigger in &self.trigger.redis {
            self.component_id(&trigger.component)?;
            if trigger.address.is_none()
                && self
                    .application
                    .trigger
                    .redis
                    .as_ref()
                    .and_then(|r| r.address.as_ref())
                    .is_none()
            {
                bail!(
                    "redis trigger on {}: no `address` and no [application.trigger.redis] address",
                    trigger.channel
                );
            }
        }
        Ok(())
    }

    /// The id a trigger's `component` names (inline components are not
    /// supported).
    pub fn component_id<'a>(&self, reference: &'a ComponentRef) -> anyhow::Result<&'a str> {
        match reference {
            ComponentRef::Id(id) if self.component.contains_key(id) => Ok(id),
            ComponentRef::Id(id) => bail!("trigger names component {id}, which has no [component.{id}]"),
            ComponentRef::Inline(_) => bail!("inline trigger components are not supported; use [component.NAME]"),
        }
    }

    /// A component's `source`, resolved against the manifest's folder.
    pub fn source_path(&self, manifest_dir: &Path, id: &str) -> anyhow::Result<PathBuf> {
        match &self
            .component
            .get(id)
            .with_context(|| format!("no component {id}"))?
            .source
        {
            SourceDecl::Path(path) => Ok(manifest_dir.join(path)),
            SourceDecl::Remote(_) => bail!("component {id}: remote source"),
        }
    }
}

/// Spin's variable names: lower-case ASCII letters, digits and `_`, starting
/// with a letter.
pub fn check_variable_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!("invalid variable name {name:?} (lower-case letters, digits and `_`, starting with a letter)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_repository_spin_toml() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
        let manifest = Manifest::load(&path).unwrap();
        assert_eq!(manifest.spin_manifest_version, 2);
        assert!(!manifest.trigger.http.is_empty());
        assert!(!manifest.trigger.redis.is_empty());
        for trigger in &manifest.trigger.redis {
            manifest.component_id(&trigger.component).unwrap();
        }
    }

    #[test]
    fn rejects_unknown_keys_and_undeclared_components() {
        let bad_key = "spin_manifest_version = 2\n[application]\nname = \"a\"\nnmae = \"b\"\n";
        assert!(toml::from_str::<Manifest>(bad_key).is_err());
        let text = "spin_manifest_version = 2\n[application]\nname = \"a\"\n\
                    [[trigger.http]]\nroute = \"/...\"\ncomponent = \"missing\"\n";
        let manifest: Manifest = toml::from_str(text).unwrap();
        let err = manifest.check().unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        let text = "spin_manifest_version = 2\n[application]\nname = \"a\"\n[[trigger.cron]]\ncomponent = \"x\"\n";
        let manifest: Manifest = toml::from_str(text).unwrap();
        assert!(manifest.check().unwrap_err().to_string().contains("cron"));
    }
}
