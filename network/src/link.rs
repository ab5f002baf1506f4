//! Links, addresses and routes, through netlink (`rtnetlink`). Each call runs its requests on
//! a current-thread tokio runtime of its own that is gone when it returns, so that the caller
//! stays single-threaded (the monitor forks libcontainer's children afterwards). Requests
//! inside a container's namespace run on a helper thread that entered it (setns changes only
//! the calling thread), with a netlink socket opened there.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};

fn netlink<T>(what: &str, f: impl AsyncFnOnce(Handle) -> Result<T, rtnetlink::Error>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|err| Error::Netlink(format!("{what}: starting the netlink runtime: {err}")))?;
    runtime.block_on(async {
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|err| Error::Netlink(format!("{what}: opening a netlink socket: {err}")))?;
        let task = tokio::spawn(connection);
        let result = f(handle).await;
        task.abort();
        result.map_err(|err| Error::Netlink(format!("{what}: {}", describe(&err))))
    })
}

/// rtnetlink's errors carry the kernel's errno in a debug dump: say it the way `ip` does.
fn describe(err: &rtnetlink::Error) -> String {
    match err {
        rtnetlink::Error::NetlinkError(message) => match message.code {
            Some(code) => std::io::Error::from_raw_os_error(-code.get()).to_string(),
            None => err.to_string(),
        },
        other => other.to_string(),
    }
}

fn is_errno(err: &rtnetlink::Error, errno: i32) -> bool {
    matches!(err, rtnetlink::Error::NetlinkError(m) if m.code.map(|c| -c.get()) == Some(errno))
}

async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, rtnetlink::Error> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(Some(link.header.index)),
        Ok(None) => Ok(None),
        Err(err) if is_errno(&err, libc::ENODEV) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Whether an interface of this name exists in the calling thread's network namespace. Asked
/// of the kernel (an ioctl), not of /sys/class/net, which shows the namespace /sys was
/// mounted in: mini may run in another (`nsenter --net`).
pub fn exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

fn write_sysctl(path: &str, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(Error::io(path))
}

/// Makes sure the bridge `name` exists, is up, and has `gateway/prefix`; with IPv4 forwarding
/// on and `route_localnet` on the bridge (so that the host's 127.0.0.1 reaches published
/// ports). Safe to call concurrently.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8, alias: &str) -> Result<()> {
    let subnet = ipnet::Ipv4Net::new(gateway, prefix)
        .map_err(|err| Error::Invalid(format!("{gateway}/{prefix}: {err}")))?
        .trunc();
    // The cheap check first (no netlink when all is in place): the bridge is there and the
    // host routes the subnet through it, which it does once the gateway address is on it.
    if !exists(name) || !crate::store::routed_via(name, subnet) {
        netlink(&format!("creating bridge {name}"), async |handle| {
            let created = handle
                .link()
                .add(LinkBridge::new(name).alias(alias).build())
                .execute()
                .await;
            match created {
                Err(err) if !is_errno(&err, libc::EEXIST) => return Err(err),
                _ => {}
            }
            let Some(index) = index_of(&handle, name).await? else {
                return Ok(());
            };
            // A bridge left with another address (an earlier run with another subnet) loses it.
            let mut addresses = handle
                .address()
                .get()
                .set_link_index_filter(index)
                .execute();
            let mut stale = Vec::new();
            while let Some(message) = addresses.try_next().await? {
                let ours = message.attributes.iter().any(|a| {
                    matches!(a, rtnetlink::packet_route::address::AddressAttribute::Address(IpAddr::V4(ip)) if *ip == gateway)
                }) && message.header.prefix_len == prefix;
                if message.header.family == rtnetlink::packet_route::AddressFamily::Inet && !ours {
                    stale.push(message);
                }
            }
            for message in stale {
                match handle.address().del(message).execute().await {
                    Err(err) if !is_errno(&err, libc::EADDRNOTAVAIL) => return Err(err),
                    _ => {}
                }
            }
            let added = handle
                .address()
                .add(index, IpAddr::V4(gateway), prefix)
                .execute()
                .await;
            match added {
                Err(err) if !is_errno(&err, libc::EEXIST) => return Err(err),
                _ => {}
            }
            handle
                .link()
                .set(LinkUnspec::new_with_index(index).up().build())
                .execute()
                .await
        })?;
    }
    write_sysctl(
        &format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"),
        "1",
    )?;
    if std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .map(|v| v.trim() != "1")
        .unwrap_or(true)
    {
        write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    }
    Ok(())
}

/// Deletes a link of the host's namespace; one that is not there is fine.
pub fn delete(name: &str) -> Result<()> {
    if !exists(name) {
        return Ok(());
    }
    netlink(
        &format!("deleting {name}"),
        async |handle| match index_of(&handle, name).await? {
            Some(index) => match handle.link().del(index).execute().await {
                Err(err) if is_errno(&err, libc::ENODEV) => Ok(()),
                other => other,
            },
            None => Ok(()),
        },
    )
}

/// A container's MAC address from its IPv4 address, as Docker derives it: 02:42 then the four
/// bytes of the address.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What a container's end of the network looks like.
#[derive(Debug, Clone)]
pub struct Veth<'a> {
    /// The host end (`vethXXXXXXX`), plugged into `bridge`.
    pub host_name: &'a str,
    pub bridge: &'a str,
    /// The container's network namespace file.
    pub netns: &'a Path,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// The container's end (`eth0`).
    pub ifname: &'a str,
    /// Whether to route everything else through `gateway`.
    pub default_route: bool,
    /// Shown by `ip link` on the host end: who owns it.
    pub alias: &'a str,
}

/// Creates the veth pair with its container end made directly in the namespace (as `eth0`, or
/// `eth1` for a second network), plugs the host end into the bridge (hairpin on, so that a
/// container reaches its own published ports), then gives the container's end its address (and
/// a default route via the gateway when asked), and brings up `lo` and it.
pub fn add_veth(veth: &Veth) -> Result<()> {
    let ns = std::fs::File::open(veth.netns).map_err(Error::io(veth.netns))?;
    let mac = mac_for(veth.ip);
    netlink(&format!("creating {}", veth.host_name), async |handle| {
        let Some(bridge) = index_of(&handle, veth.bridge).await? else {
            return Err(rtnetlink::Error::RequestFailed);
        };
        let peer = LinkUnspec::new_with_name(veth.ifname)
            .setns_by_fd(ns.as_raw_fd())
            .address(mac.to_vec())
            .build();
        let message = LinkVeth::new(veth.host_name, veth.ifname)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .alias(veth.alias)
            .controller(bridge)
            .up()
            .build();
        handle.link().add(message).execute().await?;
        let Some(port) = index_of(&handle, veth.host_name).await? else {
            return Err(rtnetlink::Error::RequestFailed);
        };
        handle
            .link()
            .set_port(LinkBridgePort::new(port).hairpin(true).build())
            .execute()
            .await
    })?;
    let (ip, prefix, gateway) = (veth.ip, veth.prefix, veth.gateway);
    let (ifname, default_route) = (veth.ifname.to_string(), veth.default_route);
    crate::netns::within_path(veth.netns, move || {
        netlink(
            &format!("configuring {ifname} in the container"),
            async |handle| {
                for name in ["lo", ifname.as_str()] {
                    let Some(index) = index_of(&handle, name).await? else {
                        return Err(rtnetlink::Error::RequestFailed);
                    };
                    if name == ifname {
                        handle
                            .address()
                            .add(index, IpAddr::V4(ip), prefix)
                            .execute()
                            .await?;
                    }
                    handle
                        .link()
                        .set(LinkUnspec::new_with_index(index).up().build())
                        .execute()
                        .await?;
                }
                if !default_route {
                    return Ok(());
                }
                handle
                    .route()
                    .add(
                        RouteMessageBuilder::<Ipv4Addr>::new()
                            .gateway(gateway)
                            .build(),
                    )
                    .execute()
                    .await
            },
        )
    })
    .map_err(|err| match err {
        crate::netns::WithinError::Io(err) => Error::io(veth.netns)(err),
        crate::netns::WithinError::Inner(err) => err,
    })?
}
