//! One container on one bridge network: its namespace file, its veth pair, its address and
//! its published ports. [`Endpoint`] records everything [`connect`] makes, so that
//! [`disconnect`] can undo it from the record alone: after a crash, after a reboot, or after
//! the config changed. Both are idempotent; `disconnect` never fails on a piece already gone.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::firewall::{self, ContainerRules, Firewall, NetworkRules};
use crate::link;
use crate::ports::{Proto, Published};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    pub network: String,
    pub network_id: String,
    pub bridge: String,
    pub subnet: String,
    pub ip: String,
    pub prefix_len: u8,
    pub gateway: String,
    pub mac: String,
    /// The host end of the veth pair.
    pub host_link: String,
    /// The container's end of it (`eth0`, `eth1` for a second network, ...).
    pub interface: String,
    /// Whether the container's default route goes through this network's gateway.
    pub default_route: bool,
    /// The namespace file (Docker's `SandboxKey`).
    pub netns: PathBuf,
    /// The nftables table the ports went into.
    pub table: String,
    pub ports: Vec<Published>,
}

/// Who owns what, as `ip link` shows it in a link's alias.
#[derive(Debug, Clone)]
pub struct Owner<'a> {
    pub container_id: &'a str,
    pub container_name: &'a str,
    /// The mini instance's root directory, so that two instances' links can be told apart.
    pub root: &'a str,
}

fn ipv4(text: &str, what: &str) -> Result<Ipv4Addr> {
    text.parse()
        .map_err(|_| Error::Invalid(format!("{what} {text:?} is not an IPv4 address")))
}

/// Whether a process of the host holds `port` (Docker refuses to publish such a port).
pub fn host_port_free(p: &Published) -> bool {
    let addr = SocketAddrV4::new(p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), p.host_port);
    match p.proto {
        Proto::Tcp => TcpListener::bind(addr).is_ok(),
        Proto::Udp => UdpSocket::bind(addr).is_ok(),
    }
}

/// A free port for a request that named none: the kernel's pick among its ephemeral ports.
pub fn pick_port(host_ip: Option<Ipv4Addr>, proto: Proto) -> Result<u16> {
    let addr = SocketAddrV4::new(host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), 0);
    let port = match proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|s| s.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    };
    port.map(|a| a.port())
        .map_err(|err| Error::Conflict(format!("no free host port on {addr}: {err}")))
}

fn allocated(p: &Published) -> Error {
    Error::Conflict(format!(
        "Bind for {}:{} failed: port is already allocated",
        p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
        p.host_port
    ))
}

/// Makes the container's end of a network: namespace file (unless there), bridge (if new),
/// firewall rules, veth pair. On failure, what was made is undone (but the namespace file).
pub fn connect(ep: &Endpoint, owner: &Owner) -> Result<()> {
    let made = connect_steps(ep, owner);
    if made.is_err() {
        let _ = disconnect(ep, owner);
    }
    made
}

fn connect_steps(ep: &Endpoint, owner: &Owner) -> Result<()> {
    let ip = ipv4(&ep.ip, "address")?;
    let gateway = ipv4(&ep.gateway, "gateway")?;
    let subnet = crate::config::parse_subnet(&ep.subnet).map_err(Error::Invalid)?;
    for p in &ep.ports {
        if !host_port_free(p) {
            return Err(allocated(p));
        }
    }
    if !ep.netns.exists() {
        crate::netns::create(&ep.netns).map_err(Error::io(&ep.netns))?;
    }
    link::ensure_bridge(
        &ep.bridge,
        gateway,
        subnet.prefix_len(),
        &format!("mini {} network {}", owner.root, ep.network),
    )?;
    let fw = Firewall::new(&ep.table);
    let net = NetworkRules {
        name: &ep.network,
        bridge: &ep.bridge,
        subnet,
    };
    let ctr = ContainerRules {
        id: owner.container_id,
        name: owner.container_name,
        ip,
        ports: &ep.ports,
    };
    // Additions only, on the table as it is; when its sets are missing (the first container
    // since boot, or after `nft flush ruleset`) the whole table is written. A table whose
    // rules someone flushed by hand is left to `mini network reload`, as Docker leaves its
    // flushed rules to a restart.
    let mut quick = fw.network_part(&net);
    let mut full = fw.add_network(&net);
    if !ep.ports.is_empty() {
        quick.extend(fw.container_part(&ctr));
        full.extend(fw.container_part(&ctr));
    }
    let applied = match firewall::apply(&quick) {
        Err(err) if !err.to_string().contains("File exists") => firewall::apply(&full),
        other => other,
    };
    if let Err(err) = applied {
        if err.to_string().contains("File exists") {
            return Err(which_port_is_taken(&fw, &ctr).unwrap_or(err));
        }
        return Err(err);
    }
    crate::forward::ensure(&crate::forward::Access {
        network: &ep.network,
        bridge: &ep.bridge,
    })?;
    link::add_veth(&link::Veth {
        host_name: &ep.host_link,
        bridge: &ep.bridge,
        netns: &ep.netns,
        ip,
        prefix: subnet.prefix_len(),
        gateway,
        ifname: &ep.interface,
        default_route: ep.default_route,
        alias: &format!(
            "mini {} container {} {}",
            owner.root, owner.container_name, owner.container_id
        ),
    })
}

/// After a batch failed with `File exists`: the first port another container holds.
fn which_port_is_taken(fw: &Firewall, ctr: &ContainerRules) -> Option<Error> {
    for p in ctr.ports {
        let one = ContainerRules {
            ports: std::slice::from_ref(p),
            ..ctr.clone()
        };
        // Adding then removing this one element fails only if another container holds it.
        if let Err(err) = firewall::apply(&fw.remove_container(&one)) {
            if err.to_string().contains("File exists") {
                return Some(allocated(p));
            }
        }
    }
    None
}

/// Undoes [`connect`]: rules and veth pair; the namespace file, which the container's other
/// networks may share, is the caller's to remove. Pieces already gone are fine; the first real
/// failure is returned after every step was tried.
pub fn disconnect(ep: &Endpoint, owner: &Owner) -> Result<()> {
    let mut first: Option<Error> = None;
    let mut keep = |result: Result<()>| {
        if let Err(err) = result {
            first.get_or_insert(err);
        }
    };
    if !ep.ports.is_empty() {
        if let Ok(ip) = ipv4(&ep.ip, "address") {
            let fw = Firewall::new(&ep.table);
            keep(fw.apply_removal(&ContainerRules {
                id: owner.container_id,
                name: owner.container_name,
                ip,
                ports: &ep.ports,
            }));
        }
    }
    if !ep.host_link.is_empty() {
        keep(link::delete(&ep.host_link));
    }
    match first {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Takes a network's bridge down and its rules out (`mini network rm`).
pub fn remove_network(table: &str, name: &str, bridge: &str, subnet: &str) -> Result<()> {
    let subnet = crate::config::parse_subnet(subnet).map_err(Error::Invalid)?;
    Firewall::new(table).remove_network_rules(&NetworkRules {
        name,
        bridge,
        subnet,
    })?;
    crate::forward::remove(&crate::forward::Access {
        network: name,
        bridge,
    })?;
    link::delete(bridge)
}
