//! The OCI runtime spec (`bundle/config.json`) of a container, from its record, with Docker's
//! defaults: its capability set, its masked and read-only /proc paths, /dev, /dev/pts, /dev/shm,
//! /dev/mqueue, a read-only /sys, /etc/hostname, /etc/hosts and /etc/resolv.conf bind-mounted from
//! the container's folder, the device deny-all rule first, and cgroup limits.
//!
//! The spec is written as JSON in the shape of the OCI runtime spec and then parsed by `oci-spec`,
//! which checks it: the result reads like the config.json that runc or youki would be given.

use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::mounts::MountPoint;
use crate::record::ContainerRecord;
use crate::user::ResolvedUser;

/// Docker's default capabilities (moby's `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows, for `--privileged` and `--cap-add ALL` (and mini-runc's
/// `features`), in the kernel's order (a capability's number is its index).
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Normalizes a capability name as Docker accepts it: `net_admin`, `NET_ADMIN` or
/// `CAP_NET_ADMIN`; `ALL` stays `ALL`.
pub fn normalize_capability(name: &str) -> Result<String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::Invalid(format!("unknown capability: \"{name}\"")))
    }
}

/// The capability set Docker gives a container with these `--cap-add` and `--cap-drop` values.
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let add: Vec<String> = add
        .iter()
        .map(|c| normalize_capability(c))
        .collect::<Result<_>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| normalize_capability(c))
        .collect::<Result<_>>()?;
    if privileged || add.iter().any(|c| c == "ALL") {
        // Every capability mini itself may pass on, as Docker does: asking the kernel for one
        // outside the caller's bounding set fails the start (a host may have dropped some).
        let bounding = bounding_set();
        return Ok(ALL_CAPABILITIES
            .iter()
            .enumerate()
            .filter(|(n, _)| bounding.is_none_or(|set| set & (1u64 << n) != 0))
            .map(|(_, c)| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect());
    }
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    for cap in add {
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    Ok(caps)
}

/// Where `--init` puts its init in the container, as Docker does.
const INIT_PATH: &str = "/sbin/docker-init";

/// The init `--init` runs: a static build of tini (Debian's `tini` package has one), found on
/// PATH as `docker-init` (Docker's name for it) or `tini-static`. It must be static: it runs in
/// images that have no C library.
pub fn init_binary() -> Result<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    for name in ["docker-init", "tini-static"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Error::Invalid(
        "--init: no init found (docker-init or tini-static on PATH; Debian's tini package has it)"
            .into(),
    ))
}

/// This process's capability bounding set (`CapBnd` of /proc/self/status).
fn bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapBnd:"))?;
    u64::from_str_radix(line.trim_start_matches("CapBnd:").trim(), 16).ok()
}

/// Where a container's files are, for the spec.
#[derive(Debug)]
pub struct SpecPaths<'a> {
    /// The mounted overlay (`merged`).
    pub rootfs: &'a Path,
    /// `containers/<id>`, holding hostname, hosts and resolv.conf.
    pub container_dir: &'a Path,
    /// Where `hosts` and `resolv.conf` come from: `container_dir`, or for `--network
    /// container:OTHER` OTHER's folder (the two share them, as in Docker).
    pub network_files: &'a Path,
    /// The network namespace file to join, if the container has its own network.
    pub netns: Option<&'a Path>,
    /// The cgroup path relative to each hierarchy's root (`/mini/<id>`).
    pub cgroup: &'a str,
}

/// Docker's read-only /proc paths, and the container's cgroup mount: on a cgroup v1 host
/// libcontainer binds each hierarchy there writable whatever the mount's options say, so each
/// one (then the tmpfs holding them) is made read-only as runc makes them.
fn readonly_paths() -> Vec<String> {
    let mut paths: Vec<String> = READONLY_PATHS.iter().map(|p| p.to_string()).collect();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let hierarchies: Vec<String> = mountinfo
        .lines()
        .filter(|line| {
            line.split(" - ")
                .nth(1)
                .is_some_and(|fs| fs.starts_with("cgroup "))
        })
        .filter_map(|line| line.split(' ').nth(4))
        .filter_map(|point| point.strip_prefix("/sys/fs/cgroup/"))
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .map(|name| format!("/sys/fs/cgroup/{name}"))
        .collect();
    if !hierarchies.is_empty() {
        paths.extend(hierarchies);
        paths.push("/sys/fs/cgroup".into());
    }
    paths
}

/// The OCI spec for `record`.
pub fn build(record: &ContainerRecord, user: &ResolvedUser, paths: &SpecPaths) -> Result<Spec> {
    let host = &record.host_config;
    let config = &record.config;
    let caps = capabilities(host.privileged, &host.cap_add, &host.cap_drop)?;
    let mut args: Vec<String> = std::iter::once(record.path.clone())
        .chain(record.args.iter().cloned())
        .collect();
    if host.init {
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let cwd = if config.working_dir.is_empty() {
        "/".to_string()
    } else {
        config.working_dir.clone()
    };

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}),
    ];
    // sysfs can only be mounted by the owner of the network namespace: a container on the
    // host's network gets the host's /sys bound read-only instead, as Docker does.
    if paths.netns.is_some() || host.network_mode == "none" {
        mounts.push(
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                           "options": ["nosuid", "noexec", "nodev", "ro"]}),
        );
    } else {
        mounts.push(
            json!({"destination": "/sys", "type": "bind", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
        );
    }
    // The container's own cgroups (its limits, its usage), read-only unless privileged, as
    // Docker mounts them.
    let mut cgroup_options = vec!["nosuid", "noexec", "nodev"];
    if !host.privileged {
        cgroup_options.insert(0, "ro");
    }
    mounts.push(
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": cgroup_options}),
    );
    for file in ["resolv.conf", "hostname", "hosts"] {
        // A mount of the user's on the same path wins, as in Docker.
        if record
            .mounts
            .iter()
            .any(|m| m.destination == format!("/etc/{file}"))
        {
            continue;
        }
        mounts.push(json!({
            "destination": format!("/etc/{file}"),
            "type": "bind",
            "source": if file == "hostname" { paths.container_dir } else { paths.network_files }.join(file),
            "options": ["rbind", "rprivate"],
        }));
    }

    for mount in mount_order(&record.mounts) {
        mounts.push(container_mount(&mount));
    }
    if host.init {
        mounts.push(json!({
            "destination": INIT_PATH,
            "type": "bind",
            "source": init_binary()?,
            "options": ["rbind", "ro", "rprivate"],
        }));
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    // On a cgroup v2 host a container has a cgroup namespace of its own, as Docker's default
    // there is: /sys/fs/cgroup then shows its own cgroup as the root. (On v1 and hybrid hosts
    // libcontainer binds the container's cgroup of each hierarchy there instead.)
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        namespaces.push(json!({"type": "cgroup"}));
    }
    match (host.network_mode.as_str(), paths.netns) {
        ("host", _) => {}
        (_, Some(netns)) => namespaces.push(json!({"type": "network", "path": netns})),
        (_, None) => namespaces.push(json!({"type": "network"})),
    }

    let mut resources = json!({
        "devices": [{"allow": false, "access": "rwm"}],
    });
    if host.memory > 0 {
        resources["memory"] = json!({"limit": host.memory});
    }
    if host.nano_cpus > 0 {
        let period: i64 = 100_000;
        resources["cpu"] =
            json!({"period": period, "quota": host.nano_cpus * period / 1_000_000_000});
    }
    if let Some(pids) = host.pids_limit {
        resources["pids"] = json!({"limit": pids});
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": paths.cgroup,
        "maskedPaths": if host.privileged { json!([]) } else { json!(MASKED_PATHS) },
        "readonlyPaths": if host.privileged { json!([]) } else { json!(readonly_paths()) },
    });
    let security =
        crate::seccomp::parse_security_opts(&host.security_opt).map_err(Error::Invalid)?;
    if !host.privileged && !security.unconfined {
        linux["seccomp"] = crate::seccomp::profile_for(&security, &caps).map_err(Error::Invalid)?;
    }
    if host.privileged {
        linux["devices"] = json!([]);
        linux["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    }

    // Docker's: its PATH, HOSTNAME, TERM for a terminal, then the container's over them.
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("HOSTNAME={}", config.hostname),
    ];
    if config.tty {
        env.push("TERM=xterm".into());
    }
    crate::options::merge_env(&mut env, &config.env);

    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": config.tty,
            "user": {
                "uid": user.uid,
                "gid": user.gid,
                "additionalGids": user.additional_gids,
            },
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "rlimits": [],
            "noNewPrivileges": security.no_new_privileges,
        },
        "root": {"path": paths.rootfs, "readonly": host.readonly_rootfs},
        "hostname": config.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    serde_json::from_value::<Spec>(clean(spec))
        .map_err(|err| Error::System(format!("the container's OCI spec is invalid: {err}")))
}

/// The container's mounts, parents before what is mounted below them.
pub fn mount_order(mounts: &[MountPoint]) -> Vec<MountPoint> {
    let mut sorted = mounts.to_vec();
    sorted.sort_by_key(|m| m.destination.split('/').filter(|p| !p.is_empty()).count());
    sorted
}

/// One volume, bind or tmpfs in the spec's shape.
fn container_mount(mount: &MountPoint) -> Value {
    let mut options: Vec<String> = Vec::new();
    let value = if mount.kind == "tmpfs" {
        options.extend(["nosuid", "nodev", "noexec"].map(String::from));
        options.extend(mount.tmpfs_options.iter().cloned());
        json!({"destination": mount.destination, "type": "tmpfs", "source": "tmpfs"})
    } else {
        options.push("rbind".into());
        options.push(if mount.propagation.is_empty() {
            "rprivate".into()
        } else {
            mount.propagation.clone()
        });
        json!({"destination": mount.destination, "type": "bind", "source": mount.source})
    };
    if !mount.rw {
        options.push("ro".into());
    }
    let mut value = value;
    value["options"] = json!(options);
    value
}

/// Drops the empty `rlimits` list, which oci-spec would keep but runc's schema leaves out.
fn clean(mut spec: Value) -> Value {
    if let Some(process) = spec.get_mut("process").and_then(Value::as_object_mut) {
        process.remove("rlimits");
        // libcontainer 0.7 reads a present `noNewPrivileges`, even `false`, as "set": it then
        // loads the seccomp filter after dropping capabilities, where the kernel refuses it.
        if process.get("noNewPrivileges") == Some(&Value::Bool(false)) {
            process.remove("noNewPrivileges");
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ContainerConfig, HostConfig, State};

    fn record() -> ContainerRecord {
        ContainerRecord {
            id: "c".repeat(64),
            name: "t".into(),
            created: String::new(),
            path: "/bin/sh".into(),
            args: vec!["-c".into(), "true".into()],
            image_id: String::new(),
            config: ContainerConfig {
                hostname: "cccccccccccc".into(),
                env: vec!["A=1".into()],
                ..ContainerConfig::default()
            },
            host_config: HostConfig {
                network_mode: "none".into(),
                memory: 64 << 20,
                nano_cpus: 500_000_000,
                pids_limit: Some(20),
                ..HostConfig::default()
            },
            state: State::default(),
            network_settings: Default::default(),
            mounts: Vec::new(),
        }
    }

    fn paths() -> SpecPaths<'static> {
        SpecPaths {
            rootfs: Path::new("/r/merged"),
            container_dir: Path::new("/r/c"),
            network_files: Path::new("/r/c"),
            netns: None,
            cgroup: "/mini/c",
        }
    }

    #[test]
    fn the_spec_has_dockers_defaults_and_the_limits() {
        let user = ResolvedUser::default();
        let spec = build(&record(), &user, &paths()).unwrap();
        let value = serde_json::to_value(&spec).unwrap();
        assert_eq!(value["process"]["args"], json!(["/bin/sh", "-c", "true"]));
        assert_eq!(
            value["process"]["env"][0],
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        );
        assert_eq!(value["process"]["env"][1], "HOSTNAME=cccccccccccc");
        let caps = value["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert_eq!(caps.len(), DEFAULT_CAPABILITIES.len());
        assert!(!caps.contains(&json!("CAP_SYS_ADMIN")));
        let resources = &value["linux"]["resources"];
        assert_eq!(resources["devices"][0]["allow"], false);
        assert_eq!(resources["memory"]["limit"], 64 << 20);
        assert_eq!(resources["cpu"]["quota"], 50_000);
        assert_eq!(resources["pids"]["limit"], 20);
        assert_eq!(value["linux"]["cgroupsPath"], "/mini/c");
        assert!(value["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        let destinations: Vec<&str> = value["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        for wanted in ["/proc", "/dev/pts", "/dev/shm", "/sys", "/etc/hosts"] {
            assert!(destinations.contains(&wanted), "{destinations:?}");
        }
        let namespaces = value["linux"]["namespaces"].as_array().unwrap();
        assert!(namespaces.contains(&json!({"type": "network"})));
    }

    #[test]
    fn mounts_are_bound_parents_first_and_read_only_when_asked() {
        let mut record = record();
        record.mounts = vec![
            crate::mounts::parse_volume_flag("/h/sub:/data/sub:ro").unwrap(),
            MountPoint {
                source: "/v/_data".into(),
                ..crate::mounts::parse_volume_flag("v1:/data").unwrap()
            },
            crate::mounts::parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1m").unwrap(),
        ];
        let spec = build(&record, &ResolvedUser::default(), &paths()).unwrap();
        let value = serde_json::to_value(&spec).unwrap();
        let mounts = value["mounts"].as_array().unwrap();
        let at = |d: &str| mounts.iter().position(|m| m["destination"] == d).unwrap();
        assert!(at("/data") < at("/data/sub"));
        assert_eq!(mounts[at("/data")]["source"], "/v/_data");
        assert_eq!(
            mounts[at("/data/sub")]["options"],
            json!(["rbind", "rprivate", "ro"])
        );
        assert_eq!(mounts[at("/t")]["type"], "tmpfs");
        assert!(mounts[at("/t")]["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=1m")));
    }

    #[test]
    fn host_network_shares_the_hosts_namespace_and_binds_sys() {
        let mut record = record();
        record.host_config.network_mode = "host".into();
        let spec = build(&record, &ResolvedUser::default(), &paths()).unwrap();
        let value = serde_json::to_value(&spec).unwrap();
        let namespaces = value["linux"]["namespaces"].as_array().unwrap();
        assert!(!namespaces.iter().any(|n| n["type"] == "network"));
        let sys = value["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap();
        assert_eq!(sys["type"], "bind");
    }

    #[test]
    fn capabilities_follow_cap_add_and_cap_drop() {
        let caps = capabilities(false, &["net_admin".into()], &["CHOWN".into()]).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        let none = capabilities(false, &[], &["ALL".into()]).unwrap();
        assert!(none.is_empty());
        let all = capabilities(true, &[], &[]).unwrap();
        assert!(all.contains(&"CAP_SYS_ADMIN".to_string()));
        let err = capabilities(false, &["FLY".into()], &[]).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability: \"FLY\"");
    }
}
