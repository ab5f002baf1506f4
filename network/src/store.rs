//! Networks on disk: `networks/<name>.json` (what `mini network inspect` shows) and
//! `networks/<name>.ipam` (which address belongs to which container), each changed under a
//! lock and written atomically. The built-in networks (`bridge`, `host`, `none`) are written
//! the first time anything asks for networks; `bridge` takes its subnet from the config or, when
//! the config names none, the first subnet of the pool that no route of the host overlaps.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::config::{parse_subnet, NetworkConfig};
use crate::error::{Error, Result};

/// One network, as mini keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkRecord {
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    pub created: String,
    /// `bridge`, `host` or `null` (the `none` network), as Docker names its drivers.
    pub driver: String,
    /// Bridge networks only.
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    /// The Linux bridge (bridge networks only).
    pub bridge: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl NetworkRecord {
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// The subnet and gateway of a bridge network.
    pub fn addressing(&self) -> Option<(Ipv4Net, Ipv4Addr)> {
        let subnet = parse_subnet(self.subnet.as_deref()?).ok()?;
        let gateway = self.gateway.as_deref()?.parse().ok()?;
        Some((subnet, gateway))
    }

    /// Docker's built-in networks, which cannot be created or removed.
    pub fn is_builtin(&self) -> bool {
        is_builtin(&self.name)
    }
}

pub fn is_builtin(name: &str) -> bool {
    matches!(name, "bridge" | "host" | "none")
}

/// The subnets handed out when none is asked for: Docker's pool for user networks
/// (172.18/16 to 172.31/16, then 192.168.0.0/20 to 192.168.240.0/20). Docker's own default
/// bridge, 172.17.0.0/16, is not in it.
fn pool() -> impl Iterator<Item = Ipv4Net> {
    let sixteens = (18..=31u8).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).unwrap());
    let twenties = (0..16u8).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).unwrap());
    sixteens.chain(twenties)
}

/// Subnets the host routes already (`/proc/net/route`, main table, IPv4), but for the routes
/// through `except`: the default bridge's own route (left by an earlier run) does not take its
/// subnet away from it.
pub fn host_routes(except: Option<&str>) -> Vec<Ipv4Net> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_proc_route(&text)
        .into_iter()
        .filter(|(iface, _)| Some(iface.as_str()) != except)
        .map(|(_, net)| net)
        .collect()
}

/// Whether the host routes `net` through the interface `iface` (as it does once the interface
/// has an address in `net`).
pub fn routed_via(iface: &str, net: Ipv4Net) -> bool {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_proc_route(&text)
        .iter()
        .any(|(i, n)| i == iface && *n == net)
}

fn parse_proc_route(text: &str) -> Vec<(String, Ipv4Net)> {
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.swap_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dest = hex(fields.get(1)?)?;
            let mask = hex(fields.get(7)?)?;
            let len = u32::from(mask).leading_ones() as u8;
            // The default route overlaps everything and says nothing about what is taken.
            (len > 0)
                .then(|| Ipv4Net::new(dest, len).ok())
                .flatten()
                .map(|net| (fields[0].to_string(), net))
        })
        .collect()
}

/// The first subnet of the pool that overlaps none of `taken`.
pub fn choose_subnet(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    pool().find(|candidate| {
        !taken
            .iter()
            .any(|t| t.contains(&candidate.network()) || candidate.contains(&t.network()))
    })
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The lowest free address of `subnet` for a container: from .2 up, skipping the gateway,
/// the network and broadcast addresses and `taken`.
pub fn next_free(
    subnet: &Ipv4Net,
    gateway: Ipv4Addr,
    taken: &BTreeMap<Ipv4Addr, String>,
) -> Option<Ipv4Addr> {
    subnet
        .hosts()
        .filter(|a| *a != gateway && *a != subnet.network())
        .find(|a| !taken.contains_key(a))
}

#[derive(Debug)]
pub struct NetworkStore {
    dir: PathBuf,
    config: NetworkConfig,
}

/// A held flock; released when dropped.
#[derive(Debug)]
pub struct StoreLock(#[allow(dead_code)] File);

fn lock(path: &Path) -> Result<StoreLock> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io(path))?;
    file.lock().map_err(Error::io(path))?;
    Ok(StoreLock(file))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        // Made anew for root alone, never opened through a link.
        let _ = std::fs::remove_file(&tmp);
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(Error::io(path))
}

fn random_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    let mut file = File::open("/dev/urandom").map_err(Error::io("/dev/urandom"))?;
    std::io::Read::read_exact(&mut file, &mut bytes).map_err(Error::io("/dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Docker's network names: a letter or digit, then letters, digits, `_`, `.` and `-`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 128
}

impl NetworkStore {
    pub fn open(root: &Path, config: NetworkConfig) -> Result<NetworkStore> {
        let dir = root.join("networks");
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        Ok(NetworkStore { dir, config })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn ipam_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.ipam"))
    }

    /// The lock over creating and removing networks.
    fn store_lock(&self) -> Result<StoreLock> {
        lock(&self.dir.join("networks.lock"))
    }

    /// The names its running containers answer to (dns.rs); change under `lock`.
    pub fn dns_records(&self, name: &str) -> PathBuf {
        crate::dns::records_path(&self.dir, name)
    }

    /// The lock over one network's addresses.
    pub fn lock(&self, name: &str) -> Result<StoreLock> {
        lock(&self.dir.join(format!("{name}.lock")))
    }

    fn load(&self, name: &str) -> Result<Option<NetworkRecord>> {
        let path = self.record_path(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|err| Error::Corrupt {
                    path,
                    reason: err.to_string(),
                }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::io(&path)(err)),
        }
    }

    fn save(&self, record: &NetworkRecord) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(record).expect("records serialize");
        write_atomic(&self.record_path(&record.name), &bytes)
    }

    /// Writes the built-in networks that are not on disk yet.
    fn ensure_builtin(&self) -> Result<()> {
        if ["bridge", "host", "none"]
            .iter()
            .all(|n| self.record_path(n).exists())
        {
            return Ok(());
        }
        let _lock = self.store_lock()?;
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            if self.record_path(name).exists() {
                continue;
            }
            let mut record = NetworkRecord {
                name: name.into(),
                id: random_id()?,
                created: now(),
                driver: driver.into(),
                subnet: None,
                gateway: None,
                bridge: None,
                labels: BTreeMap::new(),
            };
            if name == "bridge" {
                let subnet = match self.config.default_subnet() {
                    Some(subnet) => subnet,
                    None => {
                        let mut taken = host_routes(Some(&self.config.bridge_name));
                        taken.extend(
                            self.list_on_disk()?
                                .iter()
                                .filter_map(|n| Some(n.addressing()?.0)),
                        );
                        choose_subnet(&taken).ok_or_else(|| {
                            Error::Exhausted(
                                "no free subnet for the default network: set default-subnet in the config".into(),
                            )
                        })?
                    }
                };
                record.gateway = Some(first_host(&subnet).to_string());
                record.subnet = Some(subnet.to_string());
                record.bridge = Some(self.config.bridge_name.clone());
            }
            self.save(&record)?;
        }
        Ok(())
    }

    fn list_on_disk(&self) -> Result<Vec<NetworkRecord>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(Error::io(&self.dir))?;
        for entry in entries {
            let entry = entry.map_err(Error::io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json") {
                if let Some(record) = self.load(stem)? {
                    out.push(record);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every network, the built-in ones first written if needed.
    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        self.ensure_builtin()?;
        self.list_on_disk()
    }

    /// A network by name, full id or unique id prefix, as Docker looks them up.
    pub fn get(&self, text: &str) -> Result<NetworkRecord> {
        if is_builtin(text) {
            self.ensure_builtin()?;
        }
        if valid_name(text) {
            if let Some(record) = self.load(text)? {
                return Ok(record);
            }
        }
        let all = self.list()?;
        if let Some(record) = all.iter().find(|n| n.id == text) {
            return Ok(record.clone());
        }
        let matches: Vec<&NetworkRecord> = all
            .iter()
            .filter(|n| !text.is_empty() && n.id.starts_with(text))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchNetwork(text.to_string())),
            _ => Err(Error::Conflict(format!(
                "network {text} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    /// `mini network create`: a bridge network with `subnet` (or the pool's next) and `gateway`
    /// (or the subnet's first address). The Linux bridge is made when a container first joins.
    pub fn create(
        &self,
        name: &str,
        subnet: Option<&str>,
        gateway: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<NetworkRecord> {
        if !valid_name(name) {
            return Err(Error::Invalid(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        self.ensure_builtin()?;
        let subnet = subnet
            .map(|s| parse_subnet(s).map_err(Error::Invalid))
            .transpose()?;
        let gateway = gateway
            .map(|g| {
                g.parse::<Ipv4Addr>().map_err(|_| {
                    Error::Invalid(format!("invalid gateway {g:?}: not an IPv4 address"))
                })
            })
            .transpose()?;
        if gateway.is_some() && subnet.is_none() {
            return Err(Error::Invalid(
                "--gateway needs --subnet: a gateway is an address of the subnet".into(),
            ));
        }
        let _lock = self.store_lock()?;
        let existing = self.list_on_disk()?;
        if existing.iter().any(|n| n.name == name) {
            return Err(Error::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let used: Vec<(String, Ipv4Net)> = existing
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.addressing()?.0)))
            .collect();
        let subnet = match subnet {
            Some(subnet) => {
                if let Some((other, _)) = used.iter().find(|(_, s)| overlaps(s, &subnet)) {
                    return Err(Error::Conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address space (network {other})"
                    )));
                }
                subnet
            }
            None => {
                let mut taken = host_routes(None);
                taken.extend(used.iter().map(|(_, s)| *s));
                choose_subnet(&taken).ok_or_else(|| {
                    Error::Exhausted(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                    )
                })?
            }
        };
        let gateway = match gateway {
            Some(g) if !subnet.contains(&g) || g == subnet.network() || g == subnet.broadcast() => {
                return Err(Error::Invalid(format!(
                    "invalid gateway {g}: not a host address of subnet {subnet}"
                )))
            }
            Some(g) => g,
            None => first_host(&subnet),
        };
        let id = random_id()?;
        let record = NetworkRecord {
            name: name.into(),
            bridge: Some(format!("br-{}", &id[..12])),
            id,
            created: now(),
            driver: "bridge".into(),
            subnet: Some(subnet.to_string()),
            gateway: Some(gateway.to_string()),
            labels,
        };
        self.save(&record)?;
        Ok(record)
    }

    /// Deletes a network's files. The caller has checked that no container uses it and has
    /// taken its bridge down.
    pub fn remove(&self, record: &NetworkRecord) -> Result<()> {
        let _lock = self.store_lock()?;
        for path in [
            self.record_path(&record.name),
            self.ipam_path(&record.name),
            self.dns_records(&record.name),
            self.dir.join(format!("{}.lock", record.name)),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(&path)(err)),
            }
        }
        Ok(())
    }

    /// Which address belongs to whom on a network.
    pub fn allocations(&self, name: &str) -> Result<BTreeMap<Ipv4Addr, String>> {
        let path = self.ipam_path(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| Error::Corrupt {
                path,
                reason: err.to_string(),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(err) => Err(Error::io(&path)(err)),
        }
    }

    /// Gives `owner` an address on `network`: the one it holds already, `wanted` (`--ip`), or
    /// the lowest free one.
    pub fn allocate(
        &self,
        network: &NetworkRecord,
        owner: &str,
        wanted: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        let (subnet, gateway) = network.addressing().ok_or_else(|| {
            Error::Invalid(format!("network {} has no addresses to give", network.name))
        })?;
        let _lock = self.lock(&network.name)?;
        let mut taken = self.allocations(&network.name)?;
        if let Some((addr, _)) = taken.iter().find(|(_, o)| o.as_str() == owner) {
            if wanted.is_none_or(|w| w == *addr) {
                return Ok(*addr);
            }
        }
        let addr = match wanted {
            Some(w) => {
                if !subnet.contains(&w)
                    || w == gateway
                    || w == subnet.network()
                    || w == subnet.broadcast()
                {
                    return Err(Error::Invalid(format!(
                        "invalid IP address {w}: not a free host address of network {} ({subnet})",
                        network.name
                    )));
                }
                if taken.get(&w).is_some_and(|o| o != owner) {
                    return Err(Error::Conflict(format!("Address already in use: {w}")));
                }
                w
            }
            None => next_free(&subnet, gateway, &taken).ok_or_else(|| {
                Error::Exhausted(format!(
                    "no available IPv4 addresses on network {} ({subnet})",
                    network.name
                ))
            })?,
        };
        taken.retain(|_, o| o != owner);
        taken.insert(addr, owner.to_string());
        let bytes = serde_json::to_vec_pretty(&taken).expect("maps serialize");
        write_atomic(&self.ipam_path(&network.name), &bytes)?;
        Ok(addr)
    }

    /// Releases every address `owner` holds on `network`.
    pub fn release(&self, network: &str, owner: &str) -> Result<()> {
        let _lock = self.lock(network)?;
        let mut taken = self.allocations(network)?;
        let before = taken.len();
        taken.retain(|_, o| o != owner);
        if taken.len() != before {
            let bytes = serde_json::to_vec_pretty(&taken).expect("maps serialize");
            write_atomic(&self.ipam_path(network), &bytes)?;
        }
        Ok(())
    }
}

fn first_host(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// RFC 3339 UTC with nanoseconds, as Docker writes times.
fn now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (PathBuf, NetworkStore) {
        let dir = std::env::temp_dir().join(format!(
            "mini-network-unit-{}-{}",
            std::process::id(),
            random_id().unwrap()
        ));
        let config = NetworkConfig {
            default_subnet: Some("10.99.0.0/29".into()),
            ..NetworkConfig::default()
        };
        let store = NetworkStore::open(&dir, config).unwrap();
        (dir, store)
    }

    #[test]
    fn addresses_go_in_order_are_reused_and_run_out() {
        let (dir, store) = store();
        let bridge = store.get("bridge").unwrap();
        assert_eq!(bridge.subnet.as_deref(), Some("10.99.0.0/29"));
        assert_eq!(bridge.gateway.as_deref(), Some("10.99.0.1"));
        assert_eq!(bridge.bridge.as_deref(), Some("mini0"));
        let a = store.allocate(&bridge, "a", None).unwrap();
        let b = store.allocate(&bridge, "b", None).unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("10.99.0.2".into(), "10.99.0.3".into())
        );
        assert_eq!(
            store.allocate(&bridge, "a", None).unwrap(),
            a,
            "an owner keeps its address"
        );
        store.release("bridge", "a").unwrap();
        let c = store.allocate(&bridge, "c", None).unwrap();
        assert_eq!(c, a, "a released address is the lowest free one again");
        for owner in ["d", "e", "f"] {
            store.allocate(&bridge, owner, None).unwrap();
        }
        // .0 network, .1 gateway, .2-.6 given, .7 broadcast.
        let err = store.allocate(&bridge, "g", None).unwrap_err();
        assert!(matches!(err, Error::Exhausted(_)), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn wanted_addresses_and_user_networks() {
        let (dir, store) = store();
        let net = store
            .create("lab", Some("10.98.0.0/24"), None, BTreeMap::new())
            .unwrap();
        assert_eq!(net.gateway.as_deref(), Some("10.98.0.1"));
        assert!(net.bridge.as_deref().unwrap().starts_with("br-"));
        assert_eq!(store.get(&net.id[..6]).unwrap().name, "lab");
        let ip = "10.98.0.50".parse().unwrap();
        assert_eq!(store.allocate(&net, "a", Some(ip)).unwrap(), ip);
        assert!(matches!(
            store.allocate(&net, "b", Some(ip)).unwrap_err(),
            Error::Conflict(_)
        ));
        assert!(store
            .allocate(&net, "b", Some("10.97.0.5".parse().unwrap()))
            .is_err());
        assert!(matches!(
            store
                .create("lab", None, None, BTreeMap::new())
                .unwrap_err(),
            Error::Conflict(_)
        ));
        assert!(matches!(
            store
                .create("bridge", None, None, BTreeMap::new())
                .unwrap_err(),
            Error::Conflict(_)
        ));
        let err = store
            .create("lab2", Some("10.98.0.128/25"), None, BTreeMap::new())
            .unwrap_err();
        assert!(err.to_string().contains("overlaps"), "{err}");
        assert!(store.create("-x", None, None, BTreeMap::new()).is_err());
        assert!(store
            .create(
                "x",
                Some("10.96.0.0/24"),
                Some("10.96.1.1"),
                BTreeMap::new()
            )
            .is_err());
        assert!(matches!(
            store.get("nope").unwrap_err(),
            Error::NoSuchNetwork(_)
        ));
        store.remove(&net).unwrap();
        assert!(store.get("lab").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_pool_skips_what_the_host_routes() {
        let routes = parse_proc_route(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
             eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
             eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
             docker0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n",
        );
        let text: Vec<String> = routes.iter().map(|(i, r)| format!("{i} {r}")).collect();
        assert_eq!(text, ["eth0 192.168.0.0/24", "docker0 172.18.0.0/16"]);
        let nets: Vec<Ipv4Net> = routes.iter().map(|(_, n)| *n).collect();
        assert_eq!(choose_subnet(&nets).unwrap().to_string(), "172.19.0.0/16");
    }
}
