//! What `mini info`, `mini version` and `mini system df` report, as the JSON of Docker's
//! `/info`, `/version` and `/system/df` (the CLI renders the text; the Engine API will serve the
//! same values). The figures are read from the host when asked: the kernel, cgroupfs, the
//! backing file system, /proc; the counts from mini's records and stores.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};

use crate::engine::Engine;
use crate::error::Result;

/// mini's version, as `version` and `info` give it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One row of `system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// `system df`: images, containers, local volumes, build cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub images: Usage,
    pub containers: Usage,
    pub volumes: Usage,
    pub build_cache: Usage,
}

impl Engine {
    /// Docker's `/info`, for this instance and host.
    pub fn info(&self, registry: &mini_storage::RegistryConfig) -> Result<Value> {
        let containers = self.list()?;
        let running = containers
            .iter()
            .filter(|c| c.is_running() && !c.is_paused())
            .count();
        let paused = containers.iter().filter(|c| c.is_paused()).count();
        let images = self.images.list()?.len();
        let uname = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uname
                .as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let os_field = |key: &str| {
            os_release
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        let cgroup_v2 = is_cgroup2("/sys/fs/cgroup");
        let v1 = |controller: &str, file: &str| {
            Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(file)
                .exists()
        };
        let v2_has = |controller: &str| {
            std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
                .is_ok_and(|c| c.split_whitespace().any(|w| w == controller))
        };
        let (memory, swap, quota, shares, pids) = if cgroup_v2 {
            let memory = v2_has("memory");
            (memory, memory, v2_has("cpu"), v2_has("cpu"), v2_has("pids"))
        } else {
            (
                v1("memory", "memory.limit_in_bytes"),
                v1("memory", "memory.memsw.limit_in_bytes"),
                v1("cpu", "cpu.cfs_quota_us"),
                v1("cpu", "cpu.shares"),
                v1("pids", "pids.max") || Path::new("/sys/fs/cgroup/pids").exists(),
            )
        };
        let mirrors: Vec<String> = registry
            .registry_mirrors
            .iter()
            .map(|m| {
                let url = if m.contains("://") {
                    m.clone()
                } else {
                    format!("https://{m}")
                };
                if url.ends_with('/') {
                    url
                } else {
                    format!("{url}/")
                }
            })
            .collect();
        let mut insecure: Vec<String> = vec!["127.0.0.0/8".into()];
        insecure.extend(registry.insecure_registries.iter().cloned());
        let root = self.store.root.clone();
        let (backing, d_type) = backing_filesystem(&root);
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(json!({
            "ID": instance_id(&root),
            "Containers": containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": containers.len() - running - paused,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [
                ["Backing Filesystem", backing],
                ["Supports d_type", d_type.to_string()],
                ["Native Overlay Diff", native_overlay_diff().to_string()],
                ["userxattr", "false"],
            ],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "none"],
                "Authorization": null,
                "Log": ["json-file"],
            },
            "MemoryLimit": memory,
            "SwapLimit": swap,
            "KernelMemory": false,
            "KernelMemoryTCP": false,
            "CpuCfsPeriod": quota,
            "CpuCfsQuota": quota,
            "CPUShares": shares,
            "CPUSet": true,
            "PidsLimit": pids,
            "IPv4Forwarding": sysctl_on("/proc/sys/net/ipv4/ip_forward"),
            "BridgeNfIptables": sysctl_on("/proc/sys/net/bridge/bridge-nf-call-iptables"),
            "BridgeNfIp6tables": sysctl_on("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
            "Debug": false,
            "OomKillDisable": !cgroup_v2 && memory,
            "NGoroutines": 0,
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": if cgroup_v2 { "2" } else { "1" },
            "KernelVersion": field(|u| u.release()),
            "OperatingSystem": os_field("PRETTY_NAME"),
            "OSVersion": os_field("VERSION_ID"),
            "OSType": "linux",
            "Architecture": field(|u| u.machine()),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "InsecureRegistryCIDRs": insecure,
                "IndexConfigs": {
                    "docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true},
                },
                "Mirrors": mirrors,
            },
            "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "MemTotal": mem_total(),
            "DockerRootDir": root,
            "Name": hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": VERSION,
            "Runtimes": {"libcontainer": {"path": self.exe}},
            "DefaultRuntime": "libcontainer",
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": warnings(memory, swap),
        }))
    }

    /// Docker's `/version` for the engine.
    pub fn version(&self) -> Value {
        let uname = nix::sys::utsname::uname().ok();
        let kernel = uname
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        json!({
            "Platform": {"Name": "mini"},
            "Components": [
                {"Name": "Engine", "Version": VERSION, "Details": {
                    "Os": "linux", "Arch": arch(), "KernelVersion": kernel, "Experimental": "false",
                }},
            ],
            "Version": VERSION,
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel,
            "Experimental": false,
        })
    }

    /// `system df`.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let containers = self.list()?;
        let images = self.images.list()?;
        let used_images: BTreeSet<&str> = containers.iter().map(|c| c.image_id.as_str()).collect();
        // Layers are shared: each counts once; what only unused images hold can be reclaimed.
        let mut layer_users: BTreeMap<&str, (u64, bool)> = BTreeMap::new();
        for image in &images {
            let active = used_images.contains(image.record.id.as_str());
            for layer in &image.record.layers {
                let entry = layer_users
                    .entry(layer.chain_id.as_str())
                    .or_insert_with(|| (self.layers.size(&layer.chain_id), false));
                entry.1 |= active;
            }
        }
        let mut usage = DiskUsage {
            images: Usage {
                total: images.len(),
                active: images
                    .iter()
                    .filter(|i| used_images.contains(i.record.id.as_str()))
                    .count(),
                size: layer_users.values().map(|(size, _)| size).sum(),
                reclaimable: layer_users
                    .values()
                    .filter(|(_, active)| !active)
                    .map(|(size, _)| size)
                    .sum(),
            },
            ..DiskUsage::default()
        };
        for container in &containers {
            let size = self
                .graph_data(&container.id)
                .iter()
                .find(|(key, _)| *key == "UpperDir")
                .map_or(0, |(_, upper)| crate::volumes::disk_usage(Path::new(upper)));
            usage.containers.total += 1;
            usage.containers.size += size;
            if container.is_running() {
                usage.containers.active += 1;
            } else {
                usage.containers.reclaimable += size;
            }
        }
        for volume in self.volumes.list()? {
            let size = crate::volumes::disk_usage(&self.volumes.mountpoint(&volume.name));
            let used = !crate::volumes::users(&self.store, &volume.name)?.is_empty();
            usage.volumes.total += 1;
            usage.volumes.size += size;
            if used {
                usage.volumes.active += 1;
            } else {
                usage.volumes.reclaimable += size;
            }
        }
        // The build cache's entries point at images (counted above); the entries themselves are
        // what is listed here.
        if let Ok(entries) = std::fs::read_dir(self.store.root.join("buildcache")) {
            for entry in entries.flatten() {
                usage.build_cache.total += 1;
                let size = entry.metadata().map_or(0, |m| m.len());
                usage.build_cache.size += size;
                usage.build_cache.reclaimable += size;
            }
        }
        Ok(usage)
    }
}

fn sysctl_on(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1")
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Docker's warnings for what the kernel lacks.
fn warnings(memory: bool, swap: bool) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !memory {
        out.push("WARNING: No memory limit support");
    }
    if !swap {
        out.push("WARNING: No swap limit support");
    }
    out
}

fn is_cgroup2(path: &str) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The file system under the root, by Docker's names, and whether its directory entries carry
/// their type (overlayfs needs d_type), seen in the root's own entries.
fn backing_filesystem(root: &Path) -> (String, bool) {
    let name = match nix::sys::statfs::statfs(root).map(|fs| fs.filesystem_type().0 as u64) {
        Ok(0xEF53) => "extfs",
        Ok(0x5846_5342) => "xfs",
        Ok(0x9123_683E) => "btrfs",
        Ok(0x0102_1994) => "tmpfs",
        Ok(0x794C_7630) => "overlayfs",
        Ok(0x2FC1_2FC1) => "zfs",
        Ok(0xF2F5_2010) => "f2fs",
        Ok(_) => "unknown",
        Err(_) => "unknown",
    };
    (name.to_string(), has_d_type(root))
}

fn has_d_type(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: opendir takes a NUL-terminated path; the stream is read and closed here only.
    let stream = unsafe { libc::opendir(path.as_ptr()) };
    if stream.is_null() {
        return false;
    }
    let mut typed = false;
    loop {
        // SAFETY: readdir on the open stream returns an entry valid until the next call, or null.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: the entry is valid until the next readdir on this stream.
        if unsafe { (*entry).d_type } != libc::DT_UNKNOWN {
            typed = true;
            break;
        }
    }
    // SAFETY: the stream came from opendir and is closed once.
    unsafe { libc::closedir(stream) };
    typed
}

/// Whether overlayfs diffs are the upper dirs as they are: not with redirect_dir or metacopy.
fn native_overlay_diff() -> bool {
    let on = |parameter: &str| {
        std::fs::read_to_string(format!("/sys/module/overlay/parameters/{parameter}"))
            .is_ok_and(|v| v.trim() == "Y")
    };
    !on("redirect_dir") && !on("metacopy")
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// A stable id of this instance, in Docker's shape (12 groups of 4), from the machine and the
/// root: the same instance always says the same.
fn instance_id(root: &Path) -> String {
    let machine = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let seed = format!("{}\n{}", machine.trim(), root.display());
    let hex = mini_storage::digest::sha256(seed.as_bytes());
    let hex = hex.trim_start_matches("sha256:").to_uppercase();
    hex.as_bytes()
        .chunks(4)
        .take(12)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_id_is_stable_and_shaped_as_dockers() {
        let a = instance_id(Path::new("/var/lib/mini"));
        assert_eq!(a, instance_id(Path::new("/var/lib/mini")));
        assert_ne!(a, instance_id(Path::new("/tmp/other")));
        let groups: Vec<&str> = a.split(':').collect();
        assert_eq!(groups.len(), 12);
        assert!(groups.iter().all(|g| g.len() == 4));
    }
}
