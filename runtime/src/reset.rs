//! `mini system reset`: everything an instance made, taken away, so that the host is as it was
//! before the instance's first command.
//!
//! In order, each step going on after another failed (half a cleanup is worse than a cleanup
//! with a list of what failed), and each safe to run again after a reset that was killed:
//!
//! 1. every container removed as `rm -f -v` would (its monitor ends it, unmounts its layer,
//!    takes its veth, address and port rules away);
//! 2. whatever still carries the instance's name: processes started from its root (monitors,
//!    DNS responders), links whose alias names its root, mounts under its root and runroot;
//! 3. every bridge network, the default one included: its bridge, its rules in mini's nft
//!    table and its accept rules in `DOCKER-USER` or `FORWARD`; then the nft table itself;
//! 4. the containers' cgroups and the instance's cgroup parent, where they are empty;
//! 5. the root and the runroot, once nothing is mounted below them.

use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// What a reset could not take away: one line each. Empty when the host is clean.
pub type Failures = Vec<String>;

/// Removes everything of the instance `engine` opened (see the module's text).
pub fn reset(engine: &Engine) -> Failures {
    let mut failures = Vec::new();
    let mut keep = |what: &str, result: Result<()>| {
        if let Err(err) = result {
            failures.push(format!("{what}: {err}"));
        }
    };
    let root = engine.store.root.clone();
    let runroot = engine.store.runroot.clone();

    let containers = engine.list().unwrap_or_default();
    for record in &containers {
        keep(
            &format!("removing container {}", record.name),
            engine.remove(&record.id, true, true).map(|_| ()),
        );
    }

    keep("ending the instance's processes", end_processes(&root));
    for link in instance_links(&root) {
        keep(
            &format!("deleting link {link}"),
            mini_network::link::delete(&link).map_err(Error::from),
        );
    }
    keep("unmounting", unmount_below(&[&root, &runroot]));

    let table = engine.network_config.nft_table.clone();
    let mut bridges = vec![(
        "bridge".to_string(),
        engine.network_config.bridge_name.clone(),
    )];
    for network in engine.networks.list().unwrap_or_default() {
        if let Some(bridge) = network.bridge.clone() {
            if !bridges.iter().any(|(_, b)| *b == bridge) {
                bridges.push((network.name.clone(), bridge));
            }
        }
    }
    for (network, bridge) in &bridges {
        let access = mini_network::forward::Access { network, bridge };
        keep(
            &format!("removing the accept rules of network {network}"),
            mini_network::forward::remove(&access).map_err(Error::from),
        );
        keep(
            &format!("deleting bridge {bridge}"),
            mini_network::link::delete(bridge).map_err(Error::from),
        );
    }
    keep(
        "removing the accept rules of vanished bridges",
        mini_network::forward::remove_vanished().map_err(Error::from),
    );
    keep(
        &format!("deleting nftables table ip {table}"),
        mini_network::firewall::Firewall::new(&table)
            .delete_table()
            .map_err(Error::from),
    );

    let mut ids: Vec<String> = containers.iter().map(|r| r.id.clone()).collect();
    ids.extend(ids_on_disk(&root, &runroot));
    ids.sort();
    ids.dedup();
    keep(
        "removing cgroups",
        remove_cgroups(&engine.config.cgroup_parent, &ids),
    );

    // Never delete through a mount that survived: it could be a host folder.
    let left = mounts_below(&[&root, &runroot]);
    if left.is_empty() {
        for dir in [&runroot, &root] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => failures.push(format!("removing {}: {err}", dir.display())),
            }
        }
    } else {
        failures.push(format!(
            "not removing {} and {}: still mounted there: {}",
            root.display(),
            runroot.display(),
            left.join(", ")
        ));
    }
    failures
}

/// Ends the processes started from this root (monitors, DNS responders), which name it on
/// their command line as `--root ROOT`, and waits until they are gone.
fn end_processes(root: &Path) -> Result<()> {
    let wanted = format!("--root\0{}\0", root.display());
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .map_err(Error::io("/proc"))?
        .flatten()
    {
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
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let ours = cmdline
            .windows(wanted.len())
            .any(|w| w == wanted.as_bytes());
        let helper = [crate::engine::MONITOR_COMMAND, crate::engine::DNS_COMMAND]
            .iter()
            .any(|c| {
                let c = format!("\0{c}\0");
                cmdline.windows(c.len()).any(|w| w == c.as_bytes())
            });
        if ours && helper {
            pids.push(pid as i32);
        }
    }
    for pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    for pid in pids {
        crate::process::wait_for_exit(pid, Some(std::time::Duration::from_secs(5)));
    }
    Ok(())
}

/// The links whose alias names this root: `mini ROOT network NAME` on bridges, `mini ROOT
/// container NAME ID` on veths.
fn instance_links(root: &Path) -> Vec<String> {
    let prefix = format!("mini {} ", root.display());
    std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("ifalias"))
                .is_ok_and(|alias| alias.starts_with(&prefix))
        })
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect()
}

/// Mount points at or below any of `dirs`, deepest first.
fn mounts_below(dirs: &[&Path]) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<String> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape)
        .filter(|target| {
            dirs.iter().any(|dir| {
                let dir = dir.to_string_lossy();
                target == &*dir || target.starts_with(&format!("{dir}/"))
            })
        })
        .collect();
    found.sort_by_key(|t| std::cmp::Reverse(t.len()));
    found.dedup();
    found
}

/// The kernel writes space, tab, newline and backslash in mount paths as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4);
        match octal {
            Some(d) if bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                out.push(
                    d.iter()
                        .fold(0u8, |acc, b| acc.wrapping_mul(8) + (b - b'0')),
                );
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts (detached) everything at or below `dirs`, deepest first.
fn unmount_below(dirs: &[&Path]) -> Result<()> {
    let mut first = None;
    for target in mounts_below(dirs) {
        if let Err(err) = nix::mount::umount2(target.as_str(), nix::mount::MntFlags::MNT_DETACH) {
            if err != nix::errno::Errno::EINVAL && err != nix::errno::Errno::ENOENT {
                first.get_or_insert(Error::System(format!("unmounting {target}: {err}")));
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// The ids of containers that left anything on disk: a reset that was killed after removing
/// a record still finds the container's cgroup by its layer, bundle or libcontainer state.
fn ids_on_disk(root: &Path, runroot: &Path) -> Vec<String> {
    let dirs = [
        root.join("containers"),
        root.join("overlay"),
        runroot.join("bundles"),
        runroot.join("libcontainer"),
    ];
    dirs.iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| crate::store::is_id(name))
        .collect()
}

/// Removes the containers' cgroups (`<parent>/<id>`), ending what still runs in them (a
/// container whose monitor was killed), and the parent itself from every hierarchy where it
/// is empty: a parent another instance still uses stays.
fn remove_cgroups(parent: &str, ids: &[String]) -> Result<()> {
    let parent = parent.trim_matches('/');
    if parent.is_empty() {
        return Ok(());
    }
    let mut first = None;
    for hierarchy in hierarchies() {
        let base = hierarchy.join(parent);
        if !base.is_dir() {
            continue;
        }
        for dir in ids.iter().map(|id| base.join(id)) {
            if let Err(err) = end_cgroup(&dir) {
                first.get_or_insert(err);
            }
        }
        match std::fs::remove_dir(&base) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            // Not empty: another instance's containers are below the shared parent.
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {}
            Err(err) => {
                first.get_or_insert(Error::io(&base)(err));
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// Removes a container's cgroup (`record.cgroup_path()`) from every hierarchy, ending what
/// still runs in it: `rm` calls it after libcontainer's own delete, which leaves the cgroup
/// when its state was already gone (a launch cut off half way).
pub fn remove_container_cgroup(path: &str) -> Result<()> {
    let relative = path.trim_matches('/');
    if relative.is_empty() {
        return Ok(());
    }
    let mut first = None;
    for hierarchy in hierarchies() {
        if let Err(err) = end_cgroup(&hierarchy.join(relative)) {
            first.get_or_insert(err);
        }
    }
    first.map_or(Ok(()), Err)
}

/// The cgroup file system and, on cgroup v1, each hierarchy mounted below it.
fn hierarchies() -> Vec<PathBuf> {
    let mut all = vec![PathBuf::from("/sys/fs/cgroup")];
    for entry in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            all.push(entry.path());
        }
    }
    all
}

/// Kills what runs in one container's cgroup and removes it (a killed process leaves its
/// cgroup a moment later: retried while busy, for a few seconds).
fn end_cgroup(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err)
                if err.raw_os_error() == Some(libc::EBUSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(err) => return Err(Error::io(dir)(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/x\\"), "/x\\");
    }
}
