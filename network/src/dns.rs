//! Name resolution on user networks, as Docker's embedded DNS gives it: containers on a user
//! network find each other by name, by `--network-alias` and by short id, including those that
//! join later; the default `bridge` has none of it (as in Docker).
//!
//! mini has no daemon, so each user network that has running containers gets a small DNS
//! responder of its own (`mini __dns NETWORK`, `serve` here), listening on the network's gateway
//! address, port 53, like podman's aardvark-dns. Containers on the network get that address as
//! their nameserver. The names come from `networks/<name>.dns`, one line per running container
//! (`<id> <ip> <name>...`), which `add` and `remove` change under the network's lock; the
//! responder re-reads it when it changes, answers A queries for those names itself and passes
//! every other query to the host's resolvers. The last container to leave stops it.
//!
//! A real DNS server (not /etc/hosts entries) because that is what users and tools expect to keep
//! working: `nslookup`/`dig` ask the server, not the hosts file, and a container that joins
//! later is found at once without rewriting every peer's files.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// How long an answer may be cached, as Docker's embedded DNS says.
const TTL: u32 = 600;

/// One running container's names on a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub ip: Ipv4Addr,
    pub names: Vec<String>,
}

/// `networks/<name>.dns` under the store's folder.
pub fn records_path(networks_dir: &Path, network: &str) -> PathBuf {
    networks_dir.join(format!("{network}.dns"))
}

pub fn read(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let id = words.next()?.to_string();
            let ip = words.next()?.parse().ok()?;
            Some(Entry {
                id,
                ip,
                names: words.map(str::to_string).collect(),
            })
        })
        .collect()
}

fn write(path: &Path, entries: &[Entry]) -> Result<()> {
    let text: String = entries
        .iter()
        .map(|e| format!("{} {} {}\n", e.id, e.ip, e.names.join(" ")))
        .collect();
    let temp = path.with_extension("dns.tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(Error::io(path))
}

/// Adds (or replaces) a container's entry. Call under the network's lock.
pub fn add(path: &Path, entry: Entry) -> Result<()> {
    let mut entries = read(path);
    entries.retain(|e| e.id != entry.id);
    entries.push(entry);
    write(path, &entries)
}

/// Removes a container's entry; returns how many are left. Call under the network's lock.
pub fn remove(path: &Path, id: &str) -> Result<usize> {
    let mut entries = read(path);
    let before = entries.len();
    entries.retain(|e| e.id != id);
    if entries.len() != before {
        write(path, &entries)?;
    }
    Ok(entries.len())
}

/// What to do with a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// A reply made here (a local name, or a malformed query).
    Reply(Vec<u8>),
    /// Not a local name: ask the host's resolvers.
    Forward,
}

/// The question of a query: its name (lowercase, without the final dot), type, and where the
/// question ends.
fn question(query: &[u8]) -> Option<(String, u16, usize)> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        let label = query.get(pos..pos + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    query.get(pos + 2..pos + 4)?;
    Some((labels.join("."), qtype, pos + 4))
}

/// The reply to `query`: local names (`lookup` of the name, or of it without `.<network>`)
/// get their addresses (A) or an empty answer (other types); anything else is forwarded.
pub fn answer(
    query: &[u8],
    network: &str,
    lookup: impl Fn(&str) -> Option<Vec<Ipv4Addr>>,
) -> Answer {
    let Some((name, qtype, end)) = question(query) else {
        if query.len() < 12 {
            return Answer::Reply(Vec::new());
        }
        // FORMERR for what cannot be read.
        return Answer::Reply(header(query, 1, 0, 0));
    };
    let suffix = format!(".{}", network.to_ascii_lowercase());
    let local = lookup(&name).or_else(|| name.strip_suffix(&suffix).and_then(&lookup));
    let Some(addresses) = local else {
        if !name.contains('.') {
            // A single label that is not a container here: no resolver out there knows it
            // (and a removed container's name is answered at once, not after a timeout).
            let mut reply = header(query, 3, 1, 0);
            reply.extend_from_slice(&query[12..end]);
            return Answer::Reply(reply);
        }
        return Answer::Forward;
    };
    let addresses = if qtype == 1 { addresses } else { Vec::new() };
    let mut reply = header(query, 0, 1, addresses.len() as u16);
    reply.extend_from_slice(&query[12..end]);
    for ip in addresses {
        // The name is the question's (a pointer to offset 12), class IN, type A.
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        reply.extend_from_slice(&TTL.to_be_bytes());
        reply.extend_from_slice(&[0, 4]);
        reply.extend_from_slice(&ip.octets());
    }
    Answer::Reply(reply)
}

/// A reply header for `query`: its id, QR, its RD, RA, `rcode`, and the counts.
fn header(query: &[u8], rcode: u8, questions: u16, answers: u16) -> Vec<u8> {
    let rd = query.get(2).map_or(0, |b| b & 0x01);
    let mut out = vec![query[0], query[1], 0x80 | rd, 0x80 | rcode];
    out.extend_from_slice(&questions.to_be_bytes());
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// The host's resolvers, from its resolv.conf (loopback ones too: the responder runs on the
/// host, where systemd-resolved's 127.0.0.53 answers).
pub fn upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            let ip: std::net::IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// Asks the upstreams in turn; the first reply.
fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for upstream in upstreams {
        let bind: SocketAddr = if upstream.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(socket) = UdpSocket::bind(bind) else {
            continue;
        };
        let _ = socket.set_read_timeout(Some(Duration::from_secs(2)));
        if socket.send_to(query, upstream).is_err() {
            continue;
        }
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

/// The responder's socket: `listen:53`, UDP.
pub fn bind(listen: Ipv4Addr) -> Result<UdpSocket> {
    let socket = UdpSocket::bind((listen, 53)).map_err(|err| Error::Io {
        path: PathBuf::from(format!("{listen}:53")),
        source: err,
    })?;
    socket
        .set_read_timeout(Some(Duration::from_millis(250)))
        .map_err(Error::io(format!("{listen}:53")))?;
    Ok(socket)
}

/// Serves the network's names on `socket` until its records are empty (the last container
/// left), re-reading them when they change. Blocks.
pub fn serve(socket: UdpSocket, records: &Path, network: &str, upstreams: Vec<SocketAddr>) {
    use std::os::unix::fs::MetadataExt;
    // The file is replaced (renamed over) on every change: its inode says whether it changed.
    let version = || {
        std::fs::metadata(records)
            .ok()
            .map(|m| (m.ino(), m.modified().ok()))
    };
    let mut loaded: (Option<(u64, Option<SystemTime>)>, Vec<Entry>) = (None, Vec::new());
    let mut buf = [0u8; 1500];
    loop {
        let current = version();
        if current.is_none() {
            return;
        }
        if current != loaded.0 {
            loaded = (current, read(records));
        }
        if loaded.1.is_empty() {
            return;
        }
        let (n, client) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => continue,
        };
        let query = buf[..n].to_vec();
        // A container may have joined while this waited for the question.
        let current = version();
        if current.is_some() && current != loaded.0 {
            loaded = (current, read(records));
        }
        let entries = &loaded.1;
        let lookup = |name: &str| {
            let found: Vec<Ipv4Addr> = entries
                .iter()
                .filter(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
                .map(|e| e.ip)
                .collect();
            (!found.is_empty()).then_some(found)
        };
        match answer(&query, network, lookup) {
            Answer::Reply(reply) if !reply.is_empty() => {
                let _ = socket.send_to(&reply, client);
            }
            Answer::Reply(_) => {}
            Answer::Forward => {
                // Off the loop: a slow upstream must not hold up the local names.
                let (Ok(reply_socket), upstreams) = (socket.try_clone(), upstreams.clone()) else {
                    continue;
                };
                std::thread::spawn(move || {
                    let reply =
                        forward(&query, &upstreams).unwrap_or_else(|| header(&query, 2, 0, 0));
                    let _ = reply_socket.send_to(&reply, client);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name`, type `qtype`, with RD set.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    fn lookup(name: &str) -> Option<Vec<Ipv4Addr>> {
        (name == "web").then(|| vec![Ipv4Addr::new(10, 1, 0, 2)])
    }

    #[test]
    fn local_names_are_answered_and_others_forwarded() {
        let q = query("Web", 1);
        let Answer::Reply(reply) = answer(&q, "lab", lookup) else {
            panic!("web is local");
        };
        assert_eq!(&reply[..2], &[0x12, 0x34], "the query's id");
        assert_eq!(reply[2] & 0x80, 0x80, "a response");
        assert_eq!(reply[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1, "one answer");
        assert_eq!(&reply[reply.len() - 4..], &[10, 1, 0, 2]);
        assert_eq!(&reply[12..q.len()], &q[12..], "the question repeated");
        // With the network's name as a domain too.
        assert!(matches!(
            answer(&query("web.lab", 1), "lab", lookup),
            Answer::Reply(_)
        ));
        // AAAA of a local name: no error, no answer (so resolvers do not go elsewhere).
        let Answer::Reply(aaaa) = answer(&query("web", 28), "lab", lookup) else {
            panic!("web is local");
        };
        assert_eq!(u16::from_be_bytes([aaaa[6], aaaa[7]]), 0);
        assert_eq!(aaaa[3] & 0x0f, 0);
        assert_eq!(
            answer(&query("example.org", 1), "lab", lookup),
            Answer::Forward
        );
        // An unknown single label: NXDOMAIN here.
        let Answer::Reply(gone) = answer(&query("db", 1), "lab", lookup) else {
            panic!("a reply");
        };
        assert_eq!(gone[3] & 0x0f, 3);
        // Garbage gets FORMERR, not a crash.
        let Answer::Reply(bad) = answer(
            &[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63],
            "lab",
            lookup,
        ) else {
            panic!("a reply");
        };
        assert_eq!(bad[3] & 0x0f, 1);
    }

    #[test]
    fn records_are_added_replaced_and_removed() {
        let dir = std::env::temp_dir().join(format!("mini-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = records_path(&dir, "lab");
        let entry = |id: &str, ip: [u8; 4], names: &[&str]| Entry {
            id: id.into(),
            ip: Ipv4Addr::from(ip),
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        add(&path, entry("a", [10, 0, 0, 2], &["web", "www"])).unwrap();
        add(&path, entry("b", [10, 0, 0, 3], &["db"])).unwrap();
        add(&path, entry("a", [10, 0, 0, 4], &["web"])).unwrap();
        assert_eq!(
            read(&path),
            vec![
                entry("b", [10, 0, 0, 3], &["db"]),
                entry("a", [10, 0, 0, 4], &["web"])
            ]
        );
        assert_eq!(remove(&path, "b").unwrap(), 1);
        assert_eq!(remove(&path, "a").unwrap(), 0);
        assert_eq!(
            upstreams("search x\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n"),
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "10.0.0.1:53".parse().unwrap()
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
