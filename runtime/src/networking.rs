//! Ties a container to its network: the address it holds (from its first start until `rm`),
//! the ports it publishes, and the endpoint the network crate makes for it while it runs.
//!
//! Order matters for crash safety: the endpoint is written into the record before anything of
//! it is made, and cleared only after all of it is undone. A `mini` process that dies in
//! between leaves a record that names what may exist, and the next command undoes it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use mini_network::dns;
use mini_network::endpoint::{self, Endpoint, Owner};
use mini_network::firewall::{ContainerRules, Firewall, NetworkRules};
use mini_network::ports::{HostBinding, PortKey, Published};
use mini_network::{NetworkConfig, NetworkStore};

use crate::error::{Error, Result};
use crate::record::{Attachment, ContainerRecord, Lock};
use crate::store::ContainerStore;

impl From<mini_network::Error> for Error {
    fn from(err: mini_network::Error) -> Error {
        match err {
            mini_network::Error::Io { path, source } => Error::Io { path, source },
            mini_network::Error::Invalid(m) => Error::Invalid(m),
            mini_network::Error::Conflict(m) | mini_network::Error::Exhausted(m) => {
                Error::Conflict(m)
            }
            mini_network::Error::NoSuchNetwork(name) => {
                Error::NotFound(format!("network {name} not found"))
            }
            other => Error::System(other.to_string()),
        }
    }
}

/// Whether a network mode is a bridge network (the default `bridge` or a user network).
pub fn is_bridge_mode(mode: &str) -> bool {
    !matches!(mode, "none" | "host") && !mode.starts_with("container:")
}

/// The host side of every port the container publishes, with free ports picked for the
/// requests that named none (`-p 80`, `-P`, a host range).
pub fn resolve_ports(record: &ContainerRecord) -> Result<Vec<Published>> {
    let mut requests: Vec<(PortKey, HostBinding)> = Vec::new();
    for (key, bindings) in &record.host_config.port_bindings {
        let key: PortKey = key.parse()?;
        for binding in bindings {
            requests.push((key, binding.clone()));
        }
    }
    if record.host_config.publish_all_ports {
        for key in record.config.exposed_ports.keys() {
            let key: PortKey = key.parse()?;
            if !requests.iter().any(|(k, _)| *k == key) {
                requests.push((
                    key,
                    HostBinding {
                        host_ip: String::new(),
                        host_port: String::new(),
                    },
                ));
            }
        }
    }
    let mut out: Vec<Published> = Vec::new();
    for (key, binding) in requests {
        let host_ip =
            match binding.host_ip.as_str() {
                "" | "0.0.0.0" => None,
                ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                    Error::Invalid(format!("invalid host IP {ip:?} for port {key}"))
                })?),
            };
        let candidate = |host_port| Published {
            host_ip,
            host_port,
            container_port: key.port,
            proto: key.proto,
        };
        let taken = |p: &Published, out: &[Published]| {
            out.iter()
                .any(|o| o.host_port == p.host_port && o.proto == p.proto)
        };
        let host_port = match binding.host_port.split_once('-') {
            _ if binding.host_port.is_empty() => {
                let mut port = endpoint::pick_port(host_ip, key.proto)?;
                while taken(&candidate(port), &out) {
                    port = endpoint::pick_port(host_ip, key.proto)?;
                }
                port
            }
            None => binding.host_port.parse().map_err(|_| {
                Error::Invalid(format!("invalid host port {:?}", binding.host_port))
            })?,
            Some((a, b)) => {
                let (a, b): (u16, u16) = (
                    a.parse()
                        .map_err(|_| Error::Invalid(format!("invalid host port range {a}-{b}")))?,
                    b.parse()
                        .map_err(|_| Error::Invalid(format!("invalid host port range {a}-{b}")))?,
                );
                (a..=b)
                    .find(|port| {
                        let p = candidate(*port);
                        !taken(&p, &out) && endpoint::host_port_free(&p)
                    })
                    .ok_or_else(|| {
                        Error::Conflict(format!("no free host port in {a}-{b} for {key}"))
                    })?
            }
        };
        let p = candidate(host_port);
        if taken(&p, &out) {
            return Err(Error::Invalid(format!(
                "host port {}/{} is published twice",
                p.host_port,
                p.proto.as_str()
            )));
        }
        out.push(p);
    }
    Ok(out)
}

fn random_link_name() -> Result<String> {
    let mut bytes = [0u8; 4];
    let mut file = std::fs::File::open("/dev/urandom").map_err(Error::io("/dev/urandom"))?;
    std::io::Read::read_exact(&mut file, &mut bytes).map_err(Error::io("/dev/urandom"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("veth{}", &hex[..7]))
}

fn owner<'a>(store: &'a ContainerStore, record: &'a ContainerRecord) -> Owner<'a> {
    Owner {
        container_id: &record.id,
        container_name: &record.name,
        root: store.root.to_str().unwrap_or(""),
    }
}

/// The namespace file a container's networks share, made by its first endpoint.
pub fn netns_path(store: &ContainerStore, id: &str) -> PathBuf {
    store.runroot.join("netns").join(id)
}

/// Held while mini's nftables table changes for a container and while `network reload` makes
/// it anew, so that a reload never drops the rules of a container being connected.
fn firewall_lock(store: &ContainerStore) -> Result<Lock> {
    Lock::acquire(&store.runroot.join("firewall.lock"))
}

/// The networks a new container is on: its `--network`, when that is a bridge network.
pub fn initial_networks(mode: &str, aliases: &[String], ip: &str) -> Vec<Attachment> {
    if !is_bridge_mode(mode) {
        return Vec::new();
    }
    vec![Attachment {
        network: mode.to_string(),
        aliases: aliases.to_vec(),
        ip_address: ip.to_string(),
    }]
}

/// Connects a container that is about to start to each of its networks: returns the namespace
/// file its process must join, or None when it has none of its own to be given (`none`,
/// `host`, or every network left with `network disconnect`).
pub fn connect(
    store: &ContainerStore,
    networks: &NetworkStore,
    config: &NetworkConfig,
    id: &str,
) -> Result<Option<PathBuf>> {
    let record = store.load(id)?;
    if !is_bridge_mode(&record.host_config.network_mode) {
        return Ok(None);
    }
    // Anything a crashed start left behind goes first.
    disconnect(store, id)?;
    if record.network_settings.networks.is_empty() {
        return Ok(None);
    }
    let mut first_ip = None;
    for (n, attachment) in record.network_settings.networks.iter().enumerate() {
        let endpoint = make_endpoint(
            store,
            networks,
            config,
            &record,
            attachment,
            format!("eth{n}"),
            n == 0,
        )?;
        first_ip = first_ip.or(Some(endpoint.ip.clone()));
        join(store, networks, id, attachment, endpoint)?;
    }
    write_hosts(store, &record, first_ip.and_then(|ip| ip.parse().ok()))?;
    Ok(Some(netns_path(store, id)))
}

/// What a container's end of one network will be: its address (allocated, or the one it has
/// held since its first start), its veth names and, on its first network, its published ports.
fn make_endpoint(
    store: &ContainerStore,
    networks: &NetworkStore,
    config: &NetworkConfig,
    record: &ContainerRecord,
    attachment: &Attachment,
    interface: String,
    first: bool,
) -> Result<Endpoint> {
    let network = networks.get(&attachment.network)?;
    let wanted = match attachment.ip_address.as_str() {
        "" => None,
        ip => Some(
            ip.parse()
                .map_err(|_| Error::Invalid(format!("invalid IP address {ip:?}")))?,
        ),
    };
    let ip = networks.allocate(&network, &record.id, wanted)?;
    let (subnet, gateway) = network
        .addressing()
        .ok_or_else(|| Error::Invalid(format!("network {} has no subnet", network.name)))?;
    Ok(Endpoint {
        network: network.name.clone(),
        network_id: network.id.clone(),
        bridge: network.bridge.clone().unwrap_or_default(),
        subnet: subnet.to_string(),
        ip: ip.to_string(),
        prefix_len: subnet.prefix_len(),
        gateway: gateway.to_string(),
        mac: mini_network::link::format_mac(&mini_network::link::mac_for(ip)),
        host_link: random_link_name()?,
        interface,
        default_route: first,
        netns: netns_path(store, &record.id),
        table: config.nft_table.clone(),
        ports: if first {
            resolve_ports(record)?
        } else {
            Vec::new()
        },
    })
}

/// Makes one endpoint: recorded first (so that a crash leaves a record of what may exist),
/// then its link, address and rules, then its names in the network's DNS.
fn join(
    store: &ContainerStore,
    networks: &NetworkStore,
    id: &str,
    attachment: &Attachment,
    endpoint: Endpoint,
) -> Result<()> {
    let _firewall = firewall_lock(store)?;
    if let Some(p) = published_elsewhere(store, id, &endpoint.ports)? {
        return Err(Error::Conflict(format!(
            "Bind for {}:{} failed: port is already allocated",
            p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            p.host_port
        )));
    }
    let record = store.update(id, |r| r.network_settings.endpoints.push(endpoint.clone()))?;
    let connected = endpoint::connect(&endpoint, &owner(store, &record));
    drop(_firewall);
    if let Err(err) = connected {
        let _ = store.update(id, |r| {
            r.network_settings
                .endpoints
                .retain(|e| e.host_link != endpoint.host_link)
        });
        return Err(err.into());
    }
    if has_dns(&endpoint.network) {
        {
            let _lock = networks.lock(&endpoint.network)?;
            dns::add(
                &networks.dns_records(&endpoint.network),
                dns::Entry {
                    id: record.id.clone(),
                    ip: endpoint.ip.parse().map_err(|_| {
                        Error::Invalid(format!("invalid IP address {:?}", endpoint.ip))
                    })?,
                    names: dns_names(&record, attachment),
                },
            )?;
        }
        ensure_dns(store, &endpoint.network)?;
    }
    Ok(())
}

/// The first of `ports` that another container of this instance publishes on an overlapping
/// address: the same port on `0.0.0.0` and on `127.0.0.1` would both be taken by nft, one
/// hiding the other, where Docker refuses the second. (The same address and port twice is
/// refused by nft itself.) Asked under the firewall lock, so two starts cannot both pass.
fn published_elsewhere(
    store: &ContainerStore,
    id: &str,
    ports: &[Published],
) -> Result<Option<Published>> {
    if ports.is_empty() {
        return Ok(None);
    }
    let overlaps = |a: &Published, b: &Published| {
        a.host_port == b.host_port
            && a.proto == b.proto
            && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
    };
    for other in store.list()? {
        if other.id == id {
            continue;
        }
        for theirs in other
            .network_settings
            .endpoints
            .iter()
            .flat_map(|e| &e.ports)
        {
            if let Some(p) = ports.iter().find(|p| overlaps(p, theirs)) {
                return Ok(Some(*p));
            }
        }
    }
    Ok(None)
}

/// `mini network connect`: puts a container on one more network. A running container gets
/// its new interface at once; a stopped one when it starts.
pub fn attach(
    store: &ContainerStore,
    networks: &NetworkStore,
    config: &NetworkConfig,
    record: &ContainerRecord,
    attachment: Attachment,
) -> Result<()> {
    const HOST: &str =
        "container cannot be disconnected from host network or connected to host network";
    let mode = record.host_config.network_mode.as_str();
    if mode == "host" {
        return Err(Error::Invalid(HOST.into()));
    }
    if mode == "none" {
        return Err(Error::Invalid(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
        ));
    }
    if mode.starts_with("container:") {
        return Err(Error::Invalid(
            "container sharing network namespace with another container or host cannot be connected to any other network".into(),
        ));
    }
    let network = networks.get(&attachment.network)?;
    if !network.is_bridge() {
        return Err(Error::Invalid(HOST.into()));
    }
    if record.network_settings.attachment(&network.name).is_some() {
        return Err(Error::Conflict(format!(
            "endpoint with name {} already exists in network {}",
            record.name, network.name
        )));
    }
    if network.name == "bridge" {
        if !attachment.ip_address.is_empty() {
            return Err(Error::Invalid(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if !attachment.aliases.is_empty() {
            return Err(Error::Invalid(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
    }
    let attachment = Attachment {
        network: network.name.clone(),
        ..attachment
    };
    let id = record.id.as_str();
    store.update(id, |r| r.network_settings.networks.push(attachment.clone()))?;
    if !record.is_running() {
        return Ok(());
    }
    let made = (|| {
        let current = store.load(id)?;
        let used: Vec<&str> = current
            .network_settings
            .endpoints
            .iter()
            .map(|e| e.interface.as_str())
            .collect();
        let interface = (0..)
            .map(|n| format!("eth{n}"))
            .find(|name| !used.contains(&name.as_str()))
            .expect("a free interface name");
        let mut endpoint = make_endpoint(
            store,
            networks,
            config,
            &current,
            &attachment,
            interface,
            current.network_settings.endpoints.is_empty(),
        )?;
        if !endpoint.netns.exists() {
            // A container that left every network runs in a namespace libcontainer made.
            endpoint.netns = PathBuf::from(format!("/proc/{}/ns/net", current.state.pid));
        }
        join(store, networks, id, &attachment, endpoint)?;
        rewrite_resolv_conf(store, networks, id)
    })();
    if let Err(err) = made {
        let _ = store.update(id, |r| {
            r.network_settings
                .networks
                .retain(|a| a.network != attachment.network)
        });
        let _ = networks.release(&attachment.network, id);
        return Err(err);
    }
    Ok(())
}

/// `mini network disconnect`: takes a container off a network, at once if it runs.
pub fn detach(store: &ContainerStore, record: &ContainerRecord, network: &str) -> Result<()> {
    let id = record.id.as_str();
    if record.network_settings.attachment(network).is_none() {
        return Err(Error::Invalid(format!(
            "container {} is not connected to network {network}",
            record.name
        )));
    }
    {
        let _lock = store.lock(id)?;
        let mut current = store.load(id)?;
        if let Some(n) = current
            .network_settings
            .endpoints
            .iter()
            .position(|e| e.network == network)
        {
            let endpoint = current.network_settings.endpoints[n].clone();
            leave(store, &current, &endpoint)?;
            current.network_settings.endpoints.remove(n);
        }
        current
            .network_settings
            .networks
            .retain(|a| a.network != network);
        store.save(&current)?;
    }
    let networks = NetworkStore::open(&store.root, NetworkConfig::default())?;
    networks.release(network, id)?;
    if record.is_running() {
        rewrite_resolv_conf(store, &networks, id)?;
    }
    Ok(())
}

/// Undoes one endpoint: its names, its rules and link.
fn leave(store: &ContainerStore, record: &ContainerRecord, endpoint: &Endpoint) -> Result<()> {
    {
        let _firewall = firewall_lock(store)?;
        endpoint::disconnect(endpoint, &owner(store, record))?;
    }
    if has_dns(&endpoint.network) {
        let networks = NetworkStore::open(&store.root, NetworkConfig::default())?;
        let left = {
            let _lock = networks.lock(&endpoint.network)?;
            dns::remove(&networks.dns_records(&endpoint.network), &record.id)?
        };
        if left == 0 {
            stop_dns(store, &endpoint.network);
        }
    }
    Ok(())
}

/// `mini network reload`: mini's nftables table made anew from the records (after someone
/// flushed the ruleset), the accept rules beside a dropping `FORWARD` put back, and the DNS
/// responders of user networks with running containers started again.
pub fn reload(
    store: &ContainerStore,
    networks: &NetworkStore,
    config: &NetworkConfig,
) -> Result<()> {
    let _firewall = firewall_lock(store)?;
    let records = store.list()?;
    let mut nets = Vec::new();
    for network in networks.list()? {
        let (Some(bridge), Some((subnet, _))) = (network.bridge.clone(), network.addressing())
        else {
            continue;
        };
        if mini_network::link::exists(&bridge) {
            nets.push((network.name.clone(), bridge, subnet));
        }
    }
    let owned: Vec<(&ContainerRecord, &Endpoint, Ipv4Addr)> = records
        .iter()
        .flat_map(|r| r.network_settings.endpoints.iter().map(move |e| (r, e)))
        .filter(|(_, e)| e.table == config.nft_table && !e.ports.is_empty())
        .filter_map(|(r, e)| e.ip.parse().ok().map(|ip| (r, e, ip)))
        .collect();
    let fw = Firewall::new(&config.nft_table);
    let net_rules: Vec<NetworkRules> = nets
        .iter()
        .map(|(name, bridge, subnet)| NetworkRules {
            name,
            bridge,
            subnet: *subnet,
        })
        .collect();
    let ctr_rules: Vec<ContainerRules> = owned
        .iter()
        .map(|(r, e, ip)| ContainerRules {
            id: &r.id,
            name: &r.name,
            ip: *ip,
            ports: &e.ports,
        })
        .collect();
    mini_network::firewall::apply(&fw.reload(&net_rules, &ctr_rules))?;
    for (name, bridge, _) in &nets {
        mini_network::forward::ensure(&mini_network::forward::Access {
            network: name,
            bridge,
        })?;
    }
    mini_network::forward::remove_vanished()?;
    drop(_firewall);
    for (name, _, _) in &nets {
        let running = records
            .iter()
            .any(|r| r.is_running() && r.network_settings.endpoint_on(name).is_some());
        if has_dns(name) && running {
            ensure_dns(store, name)?;
        }
    }
    Ok(())
}

/// Whether containers on this (bridge-driver) network resolve each other by name: user
/// networks do, the default `bridge` does not, as in Docker.
fn has_dns(network: &str) -> bool {
    network != "bridge"
}

/// The names a container answers to on a user network: its name, its short id and its
/// aliases there (Docker's `DNSNames`).
pub fn dns_names(record: &ContainerRecord, attachment: &Attachment) -> Vec<String> {
    let mut names = vec![record.name.clone(), record.short_id().to_string()];
    names.extend(attachment.aliases.iter().cloned());
    names
}

fn dns_lock_path(store: &ContainerStore, network: &str) -> std::path::PathBuf {
    store.runroot.join("dns").join(format!("{network}.lock"))
}

/// Starts the network's DNS responder (`mini __dns NETWORK`) unless it runs: it holds
/// `<runroot>/dns/<network>.lock` while it serves, which is how it is found.
fn ensure_dns(store: &ContainerStore, network: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let lock = dns_lock_path(store, network);
    let dir = lock.parent().expect("a folder");
    crate::access::private_dir(dir)?;
    match Lock::try_acquire(&lock)? {
        None => return Ok(()),
        Some(free) => drop(free),
    }
    let exe = crate::engine::self_exe()?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("--root")
        .arg(&store.root)
        .arg("--runroot")
        .arg(&store.runroot)
        .arg(crate::engine::DNS_COMMAND)
        .arg(network)
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|err| Error::System(format!("starting the DNS responder of {network}: {err}")))?;
    // Ready once it holds the lock, which it takes after binding its socket.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if Lock::try_acquire(&lock)?.is_none() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Another responder may have won the race for the socket and the lock.
            if Lock::try_acquire(&lock)?.is_none() {
                return Ok(());
            }
            return Err(Error::System(format!(
                "the DNS responder of network {network} did not start ({status})"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err(Error::System(format!(
        "the DNS responder of network {network} did not start in time"
    )))
}

/// Stops the network's DNS responder (its last container left) and waits until it is gone.
fn stop_dns(store: &ContainerStore, network: &str) {
    let lock = dns_lock_path(store, network);
    let pid_path = lock.with_extension("pid");
    let pid: Option<i32> = std::fs::read_to_string(&pid_path)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    if let Some(pid) = pid {
        // Only the responder of this network: the pid may have been reused.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let wanted = format!("{}\0{network}\0", crate::engine::DNS_COMMAND);
        if cmdline
            .windows(wanted.len())
            .any(|w| w == wanted.as_bytes())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_free)) = Lock::try_acquire(&lock) {
            let _ = std::fs::remove_file(&pid_path);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `mini __dns NETWORK`: the network's DNS responder. Serves until its last container leaves.
pub fn serve_dns(store: &ContainerStore, network: &str) -> Result<()> {
    let networks = NetworkStore::open(&store.root, NetworkConfig::default())?;
    let record = networks.get(network)?;
    let (_, gateway) = record
        .addressing()
        .ok_or_else(|| Error::Invalid(format!("network {network} has no subnet")))?;
    let socket = dns::bind(gateway)?;
    let lock_path = dns_lock_path(store, network);
    let Some(_lock) = Lock::try_acquire(&lock_path)? else {
        return Ok(());
    };
    let pid_path = lock_path.with_extension("pid");
    crate::access::write_private(
        &pid_path,
        std::process::id().to_string().as_bytes(),
        crate::access::FILE_MODE,
    )?;
    let upstreams =
        dns::upstreams(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    dns::serve(socket, &networks.dns_records(network), network, upstreams);
    let _ = std::fs::remove_file(&pid_path);
    Ok(())
}

/// Undoes what [`connect`] made, from the record; the container keeps its addresses. Takes
/// the container's lock to clear the record's endpoints.
pub fn disconnect(store: &ContainerStore, id: &str) -> Result<()> {
    let mut record = store.load(id)?;
    if record.network_settings.endpoints.is_empty() && !netns_path(store, id).exists() {
        return Ok(());
    }
    undo(store, &mut record)?;
    store.update(id, |r| r.network_settings.endpoints.clear())?;
    Ok(())
}

/// [`disconnect`] for a caller that holds the container's lock and saves `record` itself.
pub fn undo(store: &ContainerStore, record: &mut ContainerRecord) -> Result<()> {
    let mut first: Option<Error> = None;
    while let Some(endpoint) = record.network_settings.endpoints.last().cloned() {
        if let Err(err) = leave(store, record, &endpoint) {
            first.get_or_insert(err);
        }
        record.network_settings.endpoints.pop();
    }
    let netns = netns_path(store, &record.id);
    if let Err(err) = mini_network::netns::remove(&netns) {
        first.get_or_insert(Error::io(&netns)(err));
    }
    match first {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Gives back the container's addresses (`mini rm`).
pub fn release(root: &Path, record: &ContainerRecord) -> Result<()> {
    let networks = NetworkStore::open(root, NetworkConfig::default())?;
    let mut names: Vec<&str> = record
        .network_settings
        .networks
        .iter()
        .map(|a| a.network.as_str())
        .collect();
    if is_bridge_mode(&record.host_config.network_mode) {
        names.push(&record.host_config.network_mode);
    }
    for name in names {
        match networks.release(name, &record.id) {
            Ok(()) | Err(mini_network::Error::NoSuchNetwork(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// The container's /etc/resolv.conf: `--dns` if given; else, on a user network (the first
/// it is on), that network's gateway, where its DNS responder answers the containers' names
/// and passes the rest on to the host's resolvers; else the host's resolvers.
pub fn resolv_conf(
    networks: &NetworkStore,
    record: &ContainerRecord,
    host_resolv: &str,
) -> Result<String> {
    let mut servers = record.host_config.dns.clone();
    if servers.is_empty() {
        if let Some(a) = record
            .network_settings
            .networks
            .iter()
            .find(|a| has_dns(&a.network))
        {
            if let Some((_, gateway)) = networks.get(&a.network)?.addressing() {
                servers.push(gateway.to_string());
            }
        }
    }
    Ok(mini_network::files::resolv_conf_with(host_resolv, &servers))
}

/// Writes the resolv.conf of a running container again after its networks changed (in place:
/// its bind mount holds the inode).
fn rewrite_resolv_conf(store: &ContainerStore, networks: &NetworkStore, id: &str) -> Result<()> {
    let record = store.load(id)?;
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let path = store.container_dir(id).join("resolv.conf");
    let text = resolv_conf(networks, &record, &host)?;
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&path, text).map_err(Error::io(&path))?;
    }
    Ok(())
}

/// The container's /etc/hosts: Docker's lines, `--add-host` entries, and its own address.
pub fn write_hosts(
    store: &ContainerStore,
    record: &ContainerRecord,
    ip: Option<Ipv4Addr>,
) -> Result<()> {
    let mut text = mini_network::files::hosts(
        &record.config.hostname,
        &ip.map(|ip| vec![ip.to_string()]).unwrap_or_default(),
    );
    for entry in &record.host_config.extra_hosts {
        if let Some((name, addr)) = entry.split_once(':') {
            text.push_str(&format!("{addr}\t{name}\n"));
        }
    }
    let path = store.container_dir(&record.id).join("hosts");
    // Written in place: a running container's bind mount holds this inode.
    std::fs::write(&path, text).map_err(Error::io(&path))
}
