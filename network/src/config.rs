//! The network's part of mini's config file (`/etc/mini/config.toml`); the other crates read
//! their own keys from the same file and each ignores the others'.
//!
//! ```toml
//! bridge-name = "mini0"              # the default network's Linux bridge
//! default-subnet = "172.18.0.0/16"   # the default network's subnet (chosen when unset)
//! nft-table = "mini"                 # the nftables table (family ip) mini owns
//! ```
//!
//! An instance with its own root (a test, a second lab) sets all three, so that instances never
//! share a bridge, a subnet or a table.

use std::path::Path;

use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetworkConfig {
    #[serde(default = "default_bridge_name")]
    pub bridge_name: String,
    #[serde(default)]
    pub default_subnet: Option<String>,
    #[serde(default = "default_nft_table")]
    pub nft_table: String,
}

fn default_bridge_name() -> String {
    "mini0".into()
}

fn default_nft_table() -> String {
    "mini".into()
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            bridge_name: default_bridge_name(),
            default_subnet: None,
            nft_table: default_nft_table(),
        }
    }
}

impl NetworkConfig {
    /// Reads the file; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<NetworkConfig> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(NetworkConfig::default())
            }
            Err(err) => return Err(Error::io(path)(err)),
        };
        NetworkConfig::parse(&text)
            .map_err(|reason| Error::Invalid(format!("{}: {reason}", path.display())))
    }

    pub fn parse(text: &str) -> std::result::Result<NetworkConfig, String> {
        let config: NetworkConfig =
            toml::from_str(text).map_err(|err| err.message().to_string())?;
        check_link_name(&config.bridge_name).map_err(|e| format!("bridge-name: {e}"))?;
        if let Some(subnet) = &config.default_subnet {
            parse_subnet(subnet).map_err(|e| format!("default-subnet: {e}"))?;
        }
        let table = &config.nft_table;
        if table.is_empty()
            || table.len() > 64
            || !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "nft-table must be letters, digits, - and _ (at most 64), not {table:?}"
            ));
        }
        Ok(config)
    }

    /// The default network's subnet, when the config names one.
    pub fn default_subnet(&self) -> Option<Ipv4Net> {
        self.default_subnet
            .as_deref()
            .and_then(|s| parse_subnet(s).ok())
    }
}

/// A Linux interface name: 1 to 15 bytes, no `/`, whitespace or `:`.
pub fn check_link_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || !c.is_ascii())
    {
        return Err(format!(
            "{name:?} is not a valid interface name (1 to 15 characters, no /, : or spaces)"
        ));
    }
    Ok(())
}

/// An IPv4 subnet in CIDR form, with no host bits set (`172.18.0.0/16`), between /8 and /30.
pub fn parse_subnet(text: &str) -> std::result::Result<Ipv4Net, String> {
    let net: Ipv4Net = text.parse().map_err(|_| {
        format!("invalid subnet {text:?}: expected an IPv4 CIDR such as 172.18.0.0/16")
    })?;
    if net.network() != net.addr() {
        return Err(format!(
            "invalid subnet {text}: host bits are set (did you mean {}?)",
            net.trunc()
        ));
    }
    if !(8..=30).contains(&net.prefix_len()) {
        return Err(format!(
            "invalid subnet {text}: the prefix length must be between 8 and 30"
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let config = NetworkConfig::parse("cgroup-parent = \"/x\"\n").unwrap();
        assert_eq!(config, NetworkConfig::default());
        assert_eq!(config.bridge_name, "mini0");
        assert_eq!(config.nft_table, "mini");
        let config = NetworkConfig::parse(
            "bridge-name = \"lab0\"\ndefault-subnet = \"10.50.0.0/24\"\nnft-table = \"lab\"\n",
        )
        .unwrap();
        assert_eq!(config.default_subnet().unwrap().to_string(), "10.50.0.0/24");
        assert!(NetworkConfig::parse("bridge-name = \"a-very-long-bridge-name\"").is_err());
        assert!(NetworkConfig::parse("default-subnet = \"10.50.0.1/24\"")
            .unwrap_err()
            .contains("host bits"));
        assert!(NetworkConfig::parse("default-subnet = \"10.50.0.0/31\"").is_err());
        assert!(NetworkConfig::parse("nft-table = \"a b\"").is_err());
    }
}
