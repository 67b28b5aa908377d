//! `dev.env`, as `gasline demo` writes it: `export NAME='value'` lines.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result};

/// The variables of a `dev.env` file.
#[derive(Debug, Clone, Default)]
pub struct DevEnv(HashMap<String, String>);

impl DevEnv {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Self::parse(&text))
    }

    /// The `export NAME='value'` lines of `text`; other lines are ignored.
    pub fn parse(text: &str) -> Self {
        let vars = text
            .lines()
            .filter_map(|line| line.strip_prefix("export "))
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect();
        Self(vars)
    }

    /// The value of `name`, empty when the file does not set it.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// The value of `name`, or an error naming it.
    pub fn require(&self, name: &str) -> Result<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("no {name} in dev.env"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_export_lines_and_strips_quotes() {
        let env = DevEnv::parse("# dev credentials\nexport GASLINE_URL='http://127.0.0.1:8787'\nexport A=b\nnoise\n");
        assert_eq!(env.get("GASLINE_URL"), "http://127.0.0.1:8787");
        assert_eq!(env.get("A"), "b");
        assert_eq!(env.get("noise"), "");
        assert!(env.require("MISSING").is_err());
    }
}
