//! Published ports: Docker's `-p` grammar, the bindings it stores, and how `ps` shows them.
//!
//! `-p [ip:][hostPort:]containerPort[/proto]`, where either port may be a range
//! (`8000-8010:80-90`); no host port, or an empty one (`127.0.0.1::80`), means a free port the
//! host picks; a host range with one container port means any free port of the range.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The transport a port is on. SCTP is Docker's third, which mini does not publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    fn parse(text: &str) -> Option<Proto> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// A container port and its transport: Docker's `80/tcp`, the key of `PortBindings`,
/// `ExposedPorts` and `NetworkSettings.Ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

impl std::str::FromStr for PortKey {
    type Err = Error;

    /// `80`, `80/tcp`, `53/udp` (an image's `ExposedPorts` keys, `--expose`).
    fn from_str(text: &str) -> Result<PortKey> {
        let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
        let proto =
            Proto::parse(proto).ok_or_else(|| Error::Invalid(format!("invalid proto: {proto}")))?;
        let port =
            parse_port(port).ok_or_else(|| Error::Invalid(format!("invalid port: {text}")))?;
        Ok(PortKey { port, proto })
    }
}

/// One host side of a published port, as Docker stores it in `HostConfig.PortBindings` and
/// shows it in `NetworkSettings.Ports`: `HostIp` empty for every address, `HostPort` a port,
/// a range (a request for any port in it) or empty (any free port).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// `HostConfig.PortBindings`: container port -> the host bindings asked for.
pub type PortBindings = BTreeMap<String, Vec<HostBinding>>;

/// One published port once its host port is known: what the firewall makes a DNAT of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Published {
    /// `None`: every address of the host.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl fmt::Display for Published {
    /// `0.0.0.0:8080->80/tcp`, as `docker ps` shows one port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        write!(
            f,
            "{ip}:{}->{}/{}",
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|p| *p > 0)
}

/// `80` or `8000-8010`, inclusive.
fn parse_range(text: &str) -> Option<(u16, u16)> {
    match text.split_once('-') {
        None => parse_port(text).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (parse_port(a)?, parse_port(b)?);
            (a <= b).then_some((a, b))
        }
    }
}

/// Parses one `-p` value into the bindings it asks for, keyed by container port.
pub fn parse_publish(spec: &str) -> Result<Vec<(PortKey, HostBinding)>> {
    let invalid = |why: &str| Error::Invalid(format!("invalid port specification {spec:?}: {why}"));
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((rest, proto)) => (
            rest,
            Proto::parse(proto)
                .ok_or_else(|| invalid(&format!("unknown protocol {proto:?} (use tcp or udp)")))?,
        ),
        None => (spec, Proto::Tcp),
    };
    if rest.starts_with('[') || rest.matches(':').count() > 2 {
        return Err(invalid("IPv6 addresses are not supported"));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [container] => ("", "", *container),
        [host, container] => ("", *host, *container),
        [ip, host, container] => (*ip, *host, *container),
        _ => unreachable!("at most two colons"),
    };
    if !ip.is_empty() {
        ip.parse::<Ipv4Addr>()
            .map_err(|_| invalid(&format!("{ip:?} is not an IPv4 address")))?;
    }
    let ip = if ip == "0.0.0.0" { "" } else { ip };
    let (c_start, c_end) = parse_range(container).ok_or_else(|| {
        invalid(&format!(
            "invalid container port {container:?} (a port from 1 to 65535, or a range such as 80-90)"
        ))
    })?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host).ok_or_else(|| {
            invalid(&format!(
                "invalid host port {host:?} (a port from 1 to 65535, or a range such as 8000-8010)"
            ))
        })?)
    };
    let count = c_end - c_start;
    let mut out = Vec::new();
    match host_range {
        None => {
            for port in c_start..=c_end {
                out.push((port, String::new()));
            }
        }
        Some((h_start, h_end)) if h_end - h_start == count => {
            for (i, port) in (c_start..=c_end).enumerate() {
                out.push((port, (h_start + i as u16).to_string()));
            }
        }
        Some((h_start, h_end)) if count == 0 => {
            out.push((c_start, format!("{h_start}-{h_end}")));
        }
        Some(_) => {
            return Err(invalid(
                "the host and container port ranges must be of the same size",
            ))
        }
    }
    Ok(out
        .into_iter()
        .map(|(port, host_port)| {
            (
                PortKey { port, proto },
                HostBinding {
                    host_ip: ip.to_string(),
                    host_port,
                },
            )
        })
        .collect())
}

/// What `docker ps` shows in PORTS: published ports as `0.0.0.0:8080->80/tcp`, runs of
/// consecutive ports folded into ranges (`0.0.0.0:8000-8002->80-82/tcp`), and ports exposed
/// but not published as `443/tcp`.
pub fn display(published: &[Published], exposed: &[PortKey]) -> String {
    let mut items: Vec<Published> = published.to_vec();
    items.sort_by_key(|p| (p.proto, p.host_ip, p.container_port, p.host_port));
    let mut groups: Vec<(Published, u16)> = Vec::new(); // first, count - 1
    for p in items {
        if let Some((first, extra)) = groups.last_mut() {
            let next = *extra + 1;
            if first.proto == p.proto
                && first.host_ip == p.host_ip
                && u32::from(first.container_port) + u32::from(next) == u32::from(p.container_port)
                && u32::from(first.host_port) + u32::from(next) == u32::from(p.host_port)
            {
                *extra = next;
                continue;
            }
        }
        groups.push((p, 0));
    }
    let mut out: Vec<String> = groups
        .iter()
        .map(|(p, extra)| {
            if *extra == 0 {
                p.to_string()
            } else {
                format!(
                    "{}:{}-{}->{}-{}/{}",
                    p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    p.host_port,
                    p.host_port + extra,
                    p.container_port,
                    p.container_port + extra,
                    p.proto.as_str()
                )
            }
        })
        .collect();
    let mut bare: Vec<PortKey> = exposed
        .iter()
        .filter(|k| {
            !published
                .iter()
                .any(|p| p.container_port == k.port && p.proto == k.proto)
        })
        .copied()
        .collect();
    bare.sort();
    bare.dedup();
    out.extend(bare.iter().map(|k| k.to_string()));
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> Vec<(String, String, String)> {
        parse_publish(spec)
            .unwrap()
            .into_iter()
            .map(|(k, b)| (k.to_string(), b.host_ip, b.host_port))
            .collect()
    }

    fn s(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.into(), b.into(), c.into())
    }

    #[test]
    fn docker_publish_forms() {
        assert_eq!(one("8080:80"), [s("80/tcp", "", "8080")]);
        assert_eq!(one("80"), [s("80/tcp", "", "")]);
        assert_eq!(one("53/udp"), [s("53/udp", "", "")]);
        assert_eq!(one("127.0.0.1:8080:80"), [s("80/tcp", "127.0.0.1", "8080")]);
        assert_eq!(one("127.0.0.1::80/udp"), [s("80/udp", "127.0.0.1", "")]);
        assert_eq!(one("0.0.0.0:8080:80"), [s("80/tcp", "", "8080")]);
        assert_eq!(
            one("8000-8002:80-82"),
            [
                s("80/tcp", "", "8000"),
                s("81/tcp", "", "8001"),
                s("82/tcp", "", "8002")
            ]
        );
        assert_eq!(one("8000-8010:80"), [s("80/tcp", "", "8000-8010")]);
        assert_eq!(one("80-81"), [s("80/tcp", "", ""), s("81/tcp", "", "")]);
    }

    #[test]
    fn bad_publish_specs_name_the_problem() {
        for (spec, words) in [
            ("", "container port"),
            ("8080:", "container port"),
            ("abc", "container port"),
            ("8080:0", "container port"),
            ("70000:80", "host port"),
            ("8080:80/sctp", "protocol"),
            ("8080:80/icmp", "protocol"),
            ("8000-8001:80-82", "same size"),
            ("90-80:80", "host port"),
            ("1.2.3:80:80", "IPv4"),
            ("[::1]:80:80", "IPv6"),
            ("a:b:c:d", "IPv6"),
        ] {
            let err = parse_publish(spec).unwrap_err().to_string();
            assert!(err.contains(words), "{spec:?}: {err}");
            assert!(err.contains(&format!("{spec:?}")), "{spec:?}: {err}");
        }
    }

    #[test]
    fn ps_folds_ranges_and_lists_exposed_ports() {
        let p = |ip: Option<Ipv4Addr>, h, c, proto| Published {
            host_ip: ip,
            host_port: h,
            container_port: c,
            proto,
        };
        let published = [
            p(None, 8080, 80, Proto::Tcp),
            p(None, 8001, 91, Proto::Tcp),
            p(None, 8000, 90, Proto::Tcp),
            p(Some(Ipv4Addr::LOCALHOST), 5353, 53, Proto::Udp),
        ];
        let exposed = ["80/tcp", "443/tcp", "90/tcp"].map(|k| k.parse().unwrap());
        assert_eq!(
            display(&published, &exposed),
            "0.0.0.0:8080->80/tcp, 0.0.0.0:8000-8001->90-91/tcp, 127.0.0.1:5353->53/udp, 443/tcp"
        );
        assert_eq!(display(&[], &[]), "");
    }

    #[test]
    fn port_keys() {
        assert_eq!("80".parse::<PortKey>().unwrap().to_string(), "80/tcp");
        assert_eq!("53/UDP".parse::<PortKey>().unwrap().to_string(), "53/udp");
        assert!("x/tcp".parse::<PortKey>().is_err());
    }
}
