//! The registry part of mini's config file (`/etc/mini/config.toml`, or `MINI_CONFIG`), with
//! Docker's meanings:
//!
//! ```toml
//! registry-mirrors = ["http://127.0.0.1:5000"]   # tried first for docker.io images
//! insecure-registries = ["10.0.0.5:5000"]        # spoken to over plain http
//! ```
//!
//! Loopback registries (127.0.0.0/8, localhost, ::1) are insecure by default, as in Docker.
//! Other crates read their own keys from the same file; unknown keys are theirs, not errors.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Mirrors and insecure registries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryConfig {
    /// Mirrors of Docker Hub, as URLs (`http://host:port` or `https://host`).
    #[serde(default)]
    pub registry_mirrors: Vec<String>,
    /// Registries (`host[:port]`) spoken to over plain http.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
}

/// A mirror, split into what the registry client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port]`.
    pub host: String,
    /// True for `http://` mirrors.
    pub insecure: bool,
}

impl RegistryConfig {
    /// Parses the config file's text. `path` is only for messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<RegistryConfig> {
        let config: RegistryConfig = toml::from_str(text).map_err(|err| Error::Config {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        config.mirrors(path)?;
        Ok(config)
    }

    /// Reads the config file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<RegistryConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => RegistryConfig::from_toml(&text, path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(RegistryConfig::default()),
            Err(err) => Err(Error::io(path)(err)),
        }
    }

    /// The mirrors, parsed.
    pub fn mirrors(&self, path: &Path) -> Result<Vec<Mirror>> {
        self.registry_mirrors
            .iter()
            .map(|url| {
                let (insecure, rest) = if let Some(rest) = url.strip_prefix("http://") {
                    (true, rest)
                } else if let Some(rest) = url.strip_prefix("https://") {
                    (false, rest)
                } else {
                    return Err(Error::Config {
                        path: path.to_path_buf(),
                        reason: format!(
                            "registry mirror {url:?} must start with http:// or https://"
                        ),
                    });
                };
                let host = rest.trim_end_matches('/');
                if host.is_empty() || host.contains('/') {
                    return Err(Error::Config {
                        path: path.to_path_buf(),
                        reason: format!("registry mirror {url:?} must be a bare URL, with no path"),
                    });
                }
                Ok(Mirror {
                    host: host.to_string(),
                    insecure,
                })
            })
            .collect()
    }

    /// Whether `registry` (`host[:port]`) is spoken to over plain http.
    pub fn is_insecure(&self, registry: &str) -> bool {
        if self.insecure_registries.iter().any(|r| r == registry) {
            return true;
        }
        let host = match registry.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => registry,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_keys_and_ignores_other_crates_keys() {
        let text = r#"
            registry-mirrors = ["http://127.0.0.1:5000/"]
            insecure-registries = ["10.0.0.5:5000"]
            bridge-name = "mini0"
        "#;
        let config = RegistryConfig::from_toml(text, Path::new("c.toml")).unwrap();
        assert_eq!(
            config.mirrors(Path::new("c.toml")).unwrap(),
            vec![Mirror {
                host: "127.0.0.1:5000".into(),
                insecure: true
            }]
        );
        assert!(config.is_insecure("10.0.0.5:5000"));
        assert!(!config.is_insecure("10.0.0.5:5001"));
    }

    #[test]
    fn loopback_is_insecure_by_default() {
        let config = RegistryConfig::default();
        for registry in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
        ] {
            assert!(config.is_insecure(registry), "{registry}");
        }
        for registry in ["docker.io", "10.0.0.1:5000", "registry.example:443"] {
            assert!(!config.is_insecure(registry), "{registry}");
        }
    }

    #[test]
    fn bad_mirrors_and_bad_toml_name_the_file() {
        let err = RegistryConfig::from_toml(
            r#"registry-mirrors = ["127.0.0.1:5000"]"#,
            Path::new("/etc/mini/config.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("/etc/mini/config.toml: registry mirror"),
            "{err}"
        );
        let err = RegistryConfig::from_toml("registry-mirrors = 5", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:"), "{err}");
    }
}
