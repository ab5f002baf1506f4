//! What mini-runc reports: `state` and `list` (runc's JSON and table), `features` (runc's
//! features document), `spec` (a default config.json), and stats events.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcontainer::container::{Container, ContainerStatus};
use serde::Serialize;

use crate::commands::{load, status_name};
use crate::Globals;

/// runc's state document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
    pub owner: String,
}

impl State {
    pub fn of(container: &Container) -> State {
        let status = container.status();
        let pid = match status {
            ContainerStatus::Stopped => 0,
            _ => container.pid().map_or(0, |p| p.as_raw()),
        };
        State {
            oci_version: container.state.oci_version.clone(),
            id: container.id().to_string(),
            pid,
            status: status_name(status).to_string(),
            bundle: container.bundle().display().to_string(),
            rootfs: rootfs(container.bundle()),
            created: container
                .created()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_default(),
            annotations: container
                .state
                .annotations
                .clone()
                .filter(|a| !a.is_empty()),
            owner: String::new(),
        }
    }
}

/// The absolute path of the bundle's root filesystem, as its config.json names it.
fn rootfs(bundle: &Path) -> String {
    let spec = oci_spec::runtime::Spec::load(bundle.join("config.json")).ok();
    let root = spec
        .as_ref()
        .and_then(|s| s.root().as_ref())
        .map(|r| r.path().clone());
    match root {
        Some(path) if path.is_absolute() => path.display().to_string(),
        Some(path) => bundle.join(path).display().to_string(),
        None => String::new(),
    }
}

pub fn print(globals: &Globals, id: &str) -> Result<()> {
    let container = load(globals, id)?;
    println!("{}", serde_json::to_string_pretty(&State::of(&container))?);
    Ok(())
}

/// `list`: every container under the root, as a table (`-q`: ids only) or JSON.
pub fn list(globals: &Globals, args: &liboci_cli::List) -> Result<()> {
    let mut states = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&globals.root) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !crate::commands::exists(globals, &id) {
                continue;
            }
            if let Ok(container) = load(globals, &id) {
                states.push(State::of(&container));
            }
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));
    if args.quiet {
        for state in &states {
            println!("{}", state.id);
        }
        return Ok(());
    }
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&states)?),
        "table" => {
            let mut rows = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for s in &states {
                rows.push([
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.clone(),
                    s.bundle.clone(),
                    s.created.clone(),
                    "root".into(),
                ]);
            }
            print!("{}", table(&rows));
        }
        other => bail!("invalid format option: {other}"),
    }
    Ok(())
}

/// Columns as Go's tabwriter sets them for runc (minimum width 12, padding 1).
fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count() + 1).max(12);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

/// `features`: what this runtime supports, as runc's features document (runtime-spec's
/// features.md) says it.
pub fn features() -> Result<()> {
    let document = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": libcontainer::syscall::linux::MountOption::known_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": mini_runtime::spec::ALL_CAPABILITIES,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
                          "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
                          "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
                          "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32",
                          "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                               "SECCOMP_FILTER_FLAG_LOG"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                   "SECCOMP_FILTER_FLAG_LOG"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "org.opencontainers.runc.version": env!("CARGO_PKG_VERSION"),
        }
    });
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}

/// `spec`: a default config.json (runc's: `sh` on a terminal, Docker's base capabilities) in
/// the bundle folder; an existing one is not replaced.
pub fn spec(args: &liboci_cli::Spec) -> Result<()> {
    if args.rootless {
        bail!("rootless specs are not supported: mini-runc runs as root");
    }
    let dir = args
        .bundle
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = oci_spec::runtime::Spec::default();
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// libcgroups' stats as runc's `events` writes them (runc's types.Stats).
pub fn stats_json(stats: &libcgroups::stats::Stats) -> serde_json::Value {
    let cpu = &stats.cpu;
    let memory = &stats.memory;
    let data = |d: &libcgroups::stats::MemoryData| serde_json::json!({"limit": d.limit, "usage": d.usage, "max": d.max_usage, "failcnt": d.fail_count});
    let blkio = |entries: &[libcgroups::stats::BlkioDeviceStat]| -> Vec<serde_json::Value> {
        entries
            .iter()
            .map(|e| {
                serde_json::json!({"major": e.major, "minor": e.minor,
                    "op": e.op_type.clone().unwrap_or_default(), "value": e.value})
            })
            .collect()
    };
    let hugetlb: serde_json::Map<String, serde_json::Value> = stats
        .hugetlb
        .iter()
        .map(|(size, h)| {
            (
                size.clone(),
                serde_json::json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count}),
            )
        })
        .collect();
    serde_json::json!({
        "cpu": {
            "usage": {
                "total": cpu.usage.usage_total,
                "percpu": cpu.usage.per_core_usage_total,
                "kernel": cpu.usage.usage_kernel,
                "user": cpu.usage.usage_user,
            },
            "throttling": {
                "periods": cpu.throttling.periods,
                "throttledPeriods": cpu.throttling.throttled_periods,
                "throttledTime": cpu.throttling.throttled_time,
            },
        },
        "memory": {
            "cache": memory.cache,
            "usage": data(&memory.memory),
            "swap": data(&memory.memswap),
            "kernel": data(&memory.kernel),
            "kernelTCP": data(&memory.kernel_tcp),
            "raw": memory.stats,
        },
        "pids": {"current": stats.pids.current, "limit": stats.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": blkio(&stats.blkio.service_bytes),
            "ioServicedRecursive": blkio(&stats.blkio.serviced),
            "ioQueueRecursive": blkio(&stats.blkio.queued),
            "ioServiceTimeRecursive": blkio(&stats.blkio.service_time),
            "ioWaitTimeRecursive": blkio(&stats.blkio.wait_time),
            "ioMergedRecursive": blkio(&stats.blkio.merged),
            "ioTimeRecursive": blkio(&stats.blkio.time),
            "sectorsRecursive": blkio(&stats.blkio.sectors),
        },
        "hugetlb": hugetlb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_as_runcs() {
        let rows = [
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from),
            ["a-long-container-id", "42", "running", "/b", "t", "root"].map(String::from),
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find("PID"), lines[1].find("42"));
        assert_eq!(lines[0].find("PID"), Some("a-long-container-id".len() + 1));
        assert_eq!(lines[0].find("STATUS"), Some(20 + 12));
        assert!(lines[1].ends_with("root"));
    }
}
