//! Another machine on the network, played by a network namespace.
//!
//! The lab curls the host's published ports "from outside". Here the outside is a network
//! namespace joined to the host by a veth pair: the host end keeps an address on the host, the
//! other end is `eth0` inside the namespace with its own address and a default route through the
//! host. Traffic from it arrives on the host as from any other machine on a LAN.

use std::fs::File;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::host;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth pair to the host. Deleted when dropped.
#[derive(Debug)]
pub struct ExternalHost {
    /// The namespace's name (`ip netns exec NAME ...`).
    pub netns: String,
    /// The host end of the veth pair.
    pub host_link: String,
    /// The namespace the host end is in, when the "host" is a namespace too.
    pub host_netns: Option<String>,
    /// The host's address on the link, the one the other machine talks to.
    pub host_addr: Ipv4Addr,
    /// The other machine's address.
    pub addr: Ipv4Addr,
    /// Prefix length of the link's subnet.
    pub prefix: u8,
}

impl ExternalHost {
    /// An external host on a /24 of its own taken from 198.18.0.0/15, the range set aside for
    /// benchmarking network devices (RFC 2544), so it collides with no real network: the host
    /// gets .1 and the external host .2.
    pub fn new(tag: &str) -> ExternalHost {
        // Two tests must not pick the same subnet: choose under a lock shared by all of them.
        let lock = File::create(std::env::temp_dir().join("mini-e2e-subnets.lock"))
            .expect("create the subnet lock file");
        lock.lock().expect("lock the subnet lock file");
        let routes = host::run("ip", &["-4", "route", "show", "table", "all"]);
        let third = (0..512u32)
            .map(|n| (n + u32::from_str_radix(&host::random_hex(3), 16).unwrap_or(0)) % 512)
            .find(|n| !routes.contains(&format!("198.{}.{}.", 18 + n / 256, n % 256)))
            .expect("a free /24 in 198.18.0.0/15");
        let base = [198, 18 + (third / 256) as u8, (third % 256) as u8];
        let host_addr = Ipv4Addr::new(base[0], base[1], base[2], 1);
        let addr = Ipv4Addr::new(base[0], base[1], base[2], 2);
        // The route appears as soon as the address is set, inside the lock.
        ExternalHost::with_addresses(tag, host_addr, addr, 24)
    }

    /// An external host with given addresses, e.g. the seed lab's host at 192.168.137.101/24.
    pub fn with_addresses(
        tag: &str,
        host_addr: Ipv4Addr,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> ExternalHost {
        ExternalHost::make(tag, None, host_addr, addr, prefix)
    }

    /// An external host of a host that is itself a network namespace (`host_netns`, where a
    /// test's `mini` runs: [`crate::TestEnv::netns`]), on 198.19.255.0/24: the namespace gets
    /// .1, the external host .2.
    pub fn of_netns(tag: &str, host_netns: &str) -> ExternalHost {
        ExternalHost::make(
            tag,
            Some(host_netns),
            Ipv4Addr::new(198, 19, 255, 1),
            Ipv4Addr::new(198, 19, 255, 2),
            24,
        )
    }

    fn make(
        tag: &str,
        host_netns: Option<&str>,
        host_addr: Ipv4Addr,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> ExternalHost {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ext = ExternalHost {
            netns: format!("mini-ext-{tag}-{n}"),
            host_link: format!("vx{tag}{n}"),
            host_netns: host_netns.map(str::to_string),
            host_addr,
            addr,
            prefix,
        };
        // `ip` on the host's side: in `host_netns` when there is one.
        let on_host = |args: &[&str]| {
            let mut full: Vec<&str> = Vec::new();
            if let Some(ns) = host_netns {
                full.extend(["-n", ns]);
            }
            full.extend_from_slice(args);
            host::run("ip", &full);
        };
        let peer = format!("vy{tag}{n}");
        host::run("ip", &["netns", "add", &ext.netns]);
        // From here on, Drop removes whatever was made.
        on_host(&[
            "link",
            "add",
            &ext.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        on_host(&["link", "set", &peer, "netns", &ext.netns]);
        on_host(&[
            "addr",
            "add",
            &format!("{host_addr}/{prefix}"),
            "dev",
            &ext.host_link,
        ]);
        on_host(&["link", "set", &ext.host_link, "up"]);
        let inside = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &ext.netns, "ip"];
            full.extend_from_slice(args);
            host::run("ip", &full);
        };
        inside(&["link", "set", &peer, "name", "eth0"]);
        inside(&["addr", "add", &format!("{addr}/{prefix}"), "dev", "eth0"]);
        inside(&["link", "set", "eth0", "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &host_addr.to_string()]);
        ext
    }

    /// A command that runs inside the external host (`ip netns exec NAME PROGRAM`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program]);
        cmd
    }
}

impl ExternalHost {
    /// A TCP server on the external host: accepts one connection on `port` within 20 s, says
    /// `hello from outside`, and returns the address the connection came from (what the
    /// external host sees of the container: the host's address, when mini masquerades).
    pub fn serve_once(&self, port: u16) -> std::thread::JoinHandle<Option<std::net::SocketAddr>> {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let ns = File::open(format!("/run/netns/{}", self.netns)).expect("open the netns file");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            // SAFETY: setns on this thread only; the descriptor is open.
            let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(entered, 0, "setns into the external host");
            let listener = std::net::TcpListener::bind(("0.0.0.0", port)).expect("listen");
            listener.set_nonblocking(true).expect("nonblocking");
            let _ = ready_tx.send(());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut stream, peer)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.write_all(
                            b"HTTP/1.0 200 OK\r\nContent-Length: 19\r\n\r\nhello from outside\n",
                        );
                        return Some(peer);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
            None
        });
        let _ = ready_rx.recv_timeout(std::time::Duration::from_secs(5));
        handle
    }
}

impl Drop for ExternalHost {
    fn drop(&mut self) {
        // Deleting the namespace destroys eth0 inside it, and with it the host end of the pair.
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .output();
        if self.host_netns.is_none()
            && std::path::Path::new("/sys/class/net")
                .join(&self.host_link)
                .exists()
        {
            let _ = Command::new("ip")
                .args(["link", "delete", &self.host_link])
                .output();
        }
    }
}
