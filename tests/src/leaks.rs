//! The leak check: what a test left on the host.
//!
//! Tests run in parallel, so a host-wide before/after diff cannot tell whose leak is whose.
//! Instead every test owns a directory and a short tag, and everything mini or the harness makes
//! for that test carries one of them: mounts live under the directory (or name it in their
//! options), links, network namespaces, nftables tables and cgroups have the tag in their names
//! (containers' cgroups sit below the test's tagged cgroup parent), and processes have the
//! directory in their command line, root or working directory, or run in a tagged cgroup. What still
//! carries them when the test ends is a leak. `scripts/host-state` adds a host-wide before/after
//! diff around the whole suite, for anything that escapes this naming.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::host;

/// One resource a test left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leak {
    Mount {
        target: String,
        fstype: String,
    },
    Process {
        pid: u32,
        cmdline: String,
    },
    Netns {
        name: String,
    },
    Link {
        name: String,
    },
    NftTable {
        family: String,
        name: String,
    },
    /// A rule of mini's beside a dropping FORWARD chain, as `iptables -S` prints it.
    IptablesRule {
        rule: String,
    },
    Cgroup {
        path: PathBuf,
    },
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leak::Mount { target, fstype } => write!(f, "mount {target} ({fstype})"),
            Leak::Process { pid, cmdline } => write!(f, "process {pid}: {cmdline}"),
            Leak::Netns { name } => write!(f, "network namespace {name}"),
            Leak::Link { name } => write!(f, "link {name}"),
            Leak::NftTable { family, name } => write!(f, "nftables table {family} {name}"),
            Leak::IptablesRule { rule } => write!(f, "iptables rule {rule}"),
            Leak::Cgroup { path } => write!(f, "cgroup {}", path.display()),
        }
    }
}

/// Everything on the host that belongs to the test owning `dir` and `tag`.
pub fn find(dir: &Path, tag: &str) -> Vec<Leak> {
    let dir = dir.to_string_lossy();
    let mut leaks = Vec::new();
    leaks.extend(processes(&dir, tag));
    leaks.extend(mounts(&dir));
    leaks.extend(netns(tag));
    leaks.extend(links(&dir, tag));
    leaks.extend(nft_tables(tag));
    leaks.extend(iptables_rules(tag));
    leaks.extend(cgroups(tag));
    leaks
}

/// Removes what [`find`] reported, in an order that lets each step succeed: processes first
/// (they hold mounts and namespaces), then mounts from the deepest up, then names.
/// Errors are collected rather than stopping the cleanup half way.
pub fn clean(leaks: &[Leak]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut try_run = |program: &str, args: &[&str]| {
        let out = host::output(Command::new(program).args(args));
        if !out.status.success() {
            errors.push(format!(
                "{program} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    };
    for leak in leaks {
        if let Leak::Process { pid, .. } = leak {
            // The process may be gone already; that is fine.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
    }
    let mut targets: Vec<&str> = leaks
        .iter()
        .filter_map(|leak| match leak {
            Leak::Mount { target, .. } => Some(target.as_str()),
            _ => None,
        })
        .collect();
    targets.sort_by_key(|target| std::cmp::Reverse(target.len()));
    for target in targets {
        try_run("umount", &["--lazy", target]);
    }
    for leak in leaks {
        match leak {
            Leak::Netns { name } => try_run("ip", &["netns", "delete", name]),
            // Deleting one end of a veth pair removes the other: skip names already gone.
            Leak::Link { name } if Path::new("/sys/class/net").join(name).exists() => {
                try_run("ip", &["link", "delete", name]);
            }
            Leak::NftTable { family, name } => try_run("nft", &["delete", "table", family, name]),
            Leak::IptablesRule { rule } => {
                let delete = format!("iptables -w -D {}", rule.trim_start_matches("-A "));
                try_run("sh", &["-c", &delete]);
            }
            _ => {}
        }
    }
    let mut groups: Vec<&PathBuf> = leaks
        .iter()
        .filter_map(|leak| match leak {
            Leak::Cgroup { path } => Some(path),
            _ => None,
        })
        .collect();
    groups.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    for path in groups {
        // Killed processes leave their cgroup a moment later: retry while it is busy.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            match std::fs::remove_dir(path) {
                Ok(()) => break,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => break,
                Err(err)
                    if err.raw_os_error() == Some(16) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(err) => {
                    errors.push(format!("rmdir {}: {err}", path.display()));
                    break;
                }
            }
        }
    }
    errors
}

/// Processes whose command line, root or working directory mention `dir`, or whose cgroup
/// carries `tag` (a container's processes: after pivot_root their root reads as `/`).
fn processes(dir: &str, tag: &str) -> Vec<Leak> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut leaks = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let proc_dir = entry.path();
        let cmdline = std::fs::read(proc_dir.join("cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .unwrap_or_default();
        let in_dir = |link: &str| {
            std::fs::read_link(proc_dir.join(link))
                .map(|target| target.to_string_lossy().starts_with(dir))
                .unwrap_or(false)
        };
        let in_tagged_cgroup = std::fs::read_to_string(proc_dir.join("cgroup"))
            .map(|text| text.contains(tag))
            .unwrap_or(false);
        if cmdline.contains(dir) || in_dir("root") || in_dir("cwd") || in_tagged_cgroup {
            leaks.push(Leak::Process {
                pid,
                cmdline: cmdline.trim().to_string(),
            });
        }
    }
    leaks
}

/// Mounts under `dir`, or whose source or options name it (overlay's lowerdir, say).
fn mounts(dir: &str) -> Vec<Leak> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse_mountinfo(&mountinfo)
        .into_iter()
        .filter(|m| m.target.starts_with(dir) || m.source.contains(dir) || m.options.contains(dir))
        .map(|m| Leak::Mount {
            target: m.target,
            fstype: m.fstype,
        })
        .collect()
}

/// One line of /proc/self/mountinfo, the parts the leak check reads.
#[derive(Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub target: String,
    pub fstype: String,
    pub source: String,
    pub options: String,
}

/// Parses /proc/self/mountinfo (proc(5)): `id parent dev root target opts [tags...] - type source superopts`.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let target = unescape_octal(left.split(' ').nth(4)?);
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let source = unescape_octal(right.next().unwrap_or(""));
            let options = unescape_octal(right.next().unwrap_or(""));
            Some(MountEntry {
                target,
                fstype,
                source,
                options,
            })
        })
        .collect()
}

/// The kernel writes space, tab, newline and backslash in mount paths as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn netns(tag: &str) -> Vec<Leak> {
    host::run("ip", &["netns", "list"])
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.contains(tag))
        .map(|name| Leak::Netns {
            name: name.to_string(),
        })
        .collect()
}

/// Links with the tag in their name (the test's bridge), or whose alias names the test's
/// folder (mini writes its root into the alias of every veth and bridge it makes).
fn links(dir: &str, tag: &str) -> Vec<Leak> {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let alias = std::fs::read_to_string(entry.path().join("ifalias")).unwrap_or_default();
            name.contains(tag) || alias.contains(dir)
        })
        .filter_map(|entry| entry.file_name().into_string().ok())
        .map(|name| Leak::Link { name })
        .collect()
}

fn nft_tables(tag: &str) -> Vec<Leak> {
    host::run("nft", &["list", "tables"])
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("table"), Some(family), Some(name)) if name.contains(tag) => {
                    Some(Leak::NftTable {
                        family: family.to_string(),
                        name: name.to_string(),
                    })
                }
                _ => None,
            }
        })
        .collect()
}

/// mini's rules in the filter table (beside Docker's) for one of the test's bridges.
fn iptables_rules(tag: &str) -> Vec<Leak> {
    let Ok(out) = Command::new("iptables").args(["-w", "-S"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("-A ") && l.contains("\"mini network") && l.contains(tag))
        .map(|l| Leak::IptablesRule {
            rule: l.to_string(),
        })
        .collect()
}

/// Cgroup directories with the tag in their name, on v2 and on every v1 hierarchy.
fn cgroups(tag: &str) -> Vec<Leak> {
    /// A tagged cgroup and everything below it (a test's containers' cgroups sit below its
    /// tagged cgroup parent, named by container id alone).
    fn all_below(dir: &Path, out: &mut Vec<Leak>) {
        out.push(Leak::Cgroup {
            path: dir.to_path_buf(),
        });
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                all_below(&entry.path(), out);
            }
        }
    }
    fn walk(dir: &Path, tag: &str, depth: usize, out: &mut Vec<Leak>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(tag) {
                all_below(&path, out);
            } else if depth > 0 {
                walk(&path, tag, depth - 1, out);
            }
        }
    }
    let mut leaks = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), tag, 4, &mut leaks);
    leaks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_parsed_and_unescaped() {
        let text = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    40 1 0:33 / /tmp/x/merged rw shared:2 - overlay overlay rw,lowerdir=/tmp/x/l/A,upperdir=/tmp/x/diff\n";
        let entries = parse_mountinfo(text);
        assert_eq!(
            entries,
            vec![
                MountEntry {
                    target: "/mnt/with space".into(),
                    fstype: "ext3".into(),
                    source: "/dev/root".into(),
                    options: "rw,errors=continue".into(),
                },
                MountEntry {
                    target: "/tmp/x/merged".into(),
                    fstype: "overlay".into(),
                    source: "overlay".into(),
                    options: "rw,lowerdir=/tmp/x/l/A,upperdir=/tmp/x/diff".into(),
                },
            ]
        );
    }

    #[test]
    fn a_lone_backslash_is_kept() {
        assert_eq!(unescape_octal("a\\b\\1"), "a\\b\\1");
        assert_eq!(unescape_octal("tab\\011end"), "tab\tend");
    }
}
