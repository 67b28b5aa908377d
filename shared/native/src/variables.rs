//! Configuration and secret variables natively: a name → value map standing
//! in for Spin variables and Workers vars/secrets behind
//! [`Ports::variable`](gasline_ports::Ports::variable).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Variables by name. Interior mutability lets a test change one (rotate a
/// key, flip a setting) while the ports hold a shared reference.
#[derive(Debug, Default)]
pub struct NativeVariables {
    values: Mutex<HashMap<String, String>>,
}

impl NativeVariables {
    /// No variables set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Variables from `(name, value)` pairs.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let values = pairs
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        Self {
            values: Mutex::new(values),
        }
    }

    /// The process environment variables whose names start with `prefix`,
    /// named without the prefix and in lower case, as Spin's environment
    /// provider maps `SPIN_VARIABLE_SIGNING_KEY` to `signing_key`.
    /// Variables that are not valid Unicode are skipped.
    pub fn from_env(prefix: &str) -> Self {
        Self::from_pairs(std::env::vars().filter_map(|(name, value)| {
            let name = name.strip_prefix(prefix)?;
            (!name.is_empty()).then(|| (name.to_lowercase(), value))
        }))
    }

    /// Sets (or replaces) a variable, returning the previous value.
    pub fn set(&self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.lock().insert(name.into(), value.into())
    }

    /// Unsets a variable, returning its value.
    pub fn remove(&self, name: &str) -> Option<String> {
        self.lock().remove(name)
    }

    /// A variable's value, `None` when unset.
    pub fn get(&self, name: &str) -> Option<String> {
        self.lock().get(name).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove() {
        let variables = NativeVariables::from_pairs([("night_start", "22:00")]);
        assert_eq!(variables.get("night_start").as_deref(), Some("22:00"));
        assert_eq!(variables.set("night_start", "23:00").as_deref(), Some("22:00"));
        assert_eq!(variables.get("night_start").as_deref(), Some("23:00"));
        assert_eq!(variables.remove("night_start").as_deref(), Some("23:00"));
        assert_eq!(variables.get("night_start"), None);
        assert_eq!(NativeVariables::new().get("anything"), None);
    }

    #[test]
    fn from_env_strips_the_prefix_and_lowercases() {
        // PATH is set in any test environment; match on a prefix of it.
        let variables = NativeVariables::from_env("PAT");
        assert!(variables.get("h").is_some());
        assert_eq!(variables.get("PATH"), None);
    }
}
