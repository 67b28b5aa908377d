//! Application and component variables, resolved as `spin up` does with its
//! default providers: an explicit value (the host's config, standing in for
//! a runtime-config provider) wins, then `SPIN_VARIABLE_<NAME>` from the
//! environment, then the manifest `default`. A `required` variable without a
//! value stops the host at start.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, bail};

use crate::manifest::VariableDecl;

/// Application-level variable values, fixed at start.
#[derive(Debug, Clone)]
pub struct Variables {
    values: BTreeMap<String, String>,
}

impl Variables {
    /// Resolves every `[variables]` entry. `overrides` are explicit values;
    /// `env` is the process environment (only `SPIN_VARIABLE_*` is read).
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        overrides: &HashMap<String, String>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("SPIN_VARIABLE_"))
            .collect();
        if let Some(name) = overrides.keys().find(|name| !decls.contains_key(*name)) {
            bail!("a value was given for variable {name}, which [variables] does not declare");
        }
        let mut values = BTreeMap::new();
        for (name, decl) in decls {
            let from_env = env.get(&format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()));
            let value = overrides.get(name).or(from_env).or(decl.default.as_ref());
            match value {
                Some(value) => {
                    values.insert(name.clone(), value.clone());
                }
                None => bail!(
                    "required variable {name} has no value (set SPIN_VARIABLE_{} or give it to the host)",
                    name.to_ascii_uppercase()
                ),
            }
        }
        Ok(Self { values })
    }

    /// Expands `{{ name }}` references to application variables.
    pub fn expand(&self, template: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .with_context(|| format!("unclosed `{{{{` in {template:?}"))?;
            let name = after[..end].trim();
            let value = self.values.get(name).with_context(|| {
                format!("{template:?} refers to variable {name}, which [variables] does not declare")
            })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// One component's variables (`[component.X.variables]`), expanded at start
/// so a bad template fails the host, not the first request.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    values: BTreeMap<String, String>,
}

impl ComponentVariables {
    pub fn expand(app: &Variables, templates: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let values = templates
            .iter()
            .map(|(name, template)| {
                Ok((
                    name.clone(),
                    app.expand(template).with_context(|| format!("variable {name}"))?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { values })
    }

    /// What `spin:variables/variables.get` answers.
    pub fn get(&self, name: &str) -> Result<String, GetError> {
        if crate::manifest::check_variable_name(name).is_err() {
            return Err(GetError::InvalidName);
        }
        self.values.get(name).cloned().ok_or(GetError::Undefined)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum GetError {
    InvalidName,
    Undefined,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, VariableDecl> {
        let mut decls = BTreeMap::new();
        decls.insert(
            "addr".into(),
            VariableDecl {
                default: Some("redis://a:1".into()),
                ..Default::default()
            },
        );
        decls.insert(
            "key".into(),
            VariableDecl {
                required: true,
                secret: true,
                ..Default::default()
            },
        );
        decls
    }

    #[test]
    fn explicit_beats_env_beats_default() {
        let env = vec![("SPIN_VARIABLE_KEY".to_owned(), "from-env".to_owned())];
        let vars = Variables::resolve(&decls(), &HashMap::new(), env.clone()).unwrap();
        assert_eq!(vars.expand("{{ key }}/{{addr}}").unwrap(), "from-env/redis://a:1");
        let overrides = HashMap::from([("key".to_owned(), "explicit".to_owned())]);
        let vars = Variables::resolve(&decls(), &overrides, env).unwrap();
        assert_eq!(vars.expand("k={{ key }}").unwrap(), "k=explicit");
    }

    #[test]
    fn required_without_value_and_unknown_references_fail() {
        let err = Variables::resolve(&decls(), &HashMap::new(), vec![])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SPIN_VARIABLE_KEY"), "{err}");
        let vars = Variables::resolve(
            &decls(),
            &HashMap::new(),
            vec![("SPIN_VARIABLE_KEY".into(), "k".into())],
        )
        .unwrap();
        assert!(vars.expand("{{ nope }}").is_err());
        let component =
            ComponentVariables::expand(&vars, &BTreeMap::from([("redis".to_owned(), "{{ addr }}".to_owned())]))
                .unwrap();
        assert_eq!(component.get("redis").unwrap(), "redis://a:1");
        assert_eq!(component.get("key"), Err(GetError::Undefined));
        assert_eq!(component.get("Bad-Name"), Err(GetError::InvalidName));
    }
}
