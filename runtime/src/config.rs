//! The runtime's part of mini's config file (`/etc/mini/config.toml`); other parts belong to the
//! storage and network crates, and each ignores the others' keys.
//!
//! ```toml
//! cgroup-parent = "/mini"   # containers' cgroups go below it, as Docker's under /docker
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RuntimeConfig {
    #[serde(default = "default_cgroup_parent")]
    pub cgroup_parent: String,
}

fn default_cgroup_parent() -> String {
    "/mini".into()
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            cgroup_parent: default_cgroup_parent(),
        }
    }
}

impl RuntimeConfig {
    /// Reads the file; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<RuntimeConfig> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RuntimeConfig::default())
            }
            Err(err) => return Err(Error::io(path)(err)),
        };
        RuntimeConfig::parse(&text)
            .map_err(|reason| Error::Invalid(format!("{}: {reason}", path.display())))
    }

    pub fn parse(text: &str) -> std::result::Result<RuntimeConfig, String> {
        let config: RuntimeConfig =
            toml::from_str(text).map_err(|err| err.message().to_string())?;
        let parent = &config.cgroup_parent;
        if !parent.starts_with('/')
            || parent.split('/').any(|part| part == "..")
            || parent.contains(char::is_whitespace)
        {
            return Err(format!(
                "cgroup-parent must be an absolute cgroup path such as /mini, not {parent:?}"
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup_parent_defaults_to_mini_and_must_be_absolute() {
        assert_eq!(RuntimeConfig::parse("").unwrap().cgroup_parent, "/mini");
        let config = RuntimeConfig::parse("registry-mirrors = []\ncgroup-parent = \"/lab\"\n");
        assert_eq!(config.unwrap().cgroup_parent, "/lab");
        assert!(RuntimeConfig::parse("cgroup-parent = \"lab\"").is_err());
        assert!(RuntimeConfig::parse("cgroup-parent = \"/a/../b\"").is_err());
    }
}
