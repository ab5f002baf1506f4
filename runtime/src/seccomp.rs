//! The seccomp filter a container runs under, unless it is `--privileged` or asked for
//! `--security-opt seccomp=unconfined`.
//!
//! mini's own profile, written as a deny list: every system call is allowed but those that
//! Docker's documentation lists as blocked by its default profile (they reach kernel state
//! that namespaces do not isolate: modules, the clock, keyrings, reboot, new namespaces, other
//! processes' memory). Each is allowed again when the container holds the capability that
//! governs it (`--cap-add SYS_ADMIN` gives back `mount`, `unshare` and `setns`, as in Docker).
//! Refused calls fail with EPERM, as in Docker; `clone3` fails with ENOSYS so that C libraries
//! fall back to `clone`, whose namespace flags the filter can inspect (clone3 passes its
//! flags in memory, out of seccomp's reach).
//!
//! Docker's own profile is an allow list of some 350 calls; a deny list of the dangerous ones
//! keeps to what Docker documents and stays short enough to read. Names the kernel's
//! architecture lacks are skipped by libcontainer (with a warning in its log).

use serde_json::{json, Value};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// System calls refused unless the container holds the capability (None: always refused).
const DENIED: &[(&str, Option<&str>)] = &[
    // Namespaces and mounts.
    ("mount", Some("CAP_SYS_ADMIN")),
    ("umount2", Some("CAP_SYS_ADMIN")),
    ("pivot_root", Some("CAP_SYS_ADMIN")),
    ("setns", Some("CAP_SYS_ADMIN")),
    ("unshare", Some("CAP_SYS_ADMIN")),
    ("fsopen", Some("CAP_SYS_ADMIN")),
    ("fsconfig", Some("CAP_SYS_ADMIN")),
    ("fsmount", Some("CAP_SYS_ADMIN")),
    ("fspick", Some("CAP_SYS_ADMIN")),
    ("move_mount", Some("CAP_SYS_ADMIN")),
    ("open_tree", Some("CAP_SYS_ADMIN")),
    ("mount_setattr", Some("CAP_SYS_ADMIN")),
    ("swapon", Some("CAP_SYS_ADMIN")),
    ("swapoff", Some("CAP_SYS_ADMIN")),
    ("quotactl", Some("CAP_SYS_ADMIN")),
    ("quotactl_fd", Some("CAP_SYS_ADMIN")),
    ("lookup_dcookie", Some("CAP_SYS_ADMIN")),
    ("fanotify_init", Some("CAP_SYS_ADMIN")),
    ("perf_event_open", Some("CAP_SYS_ADMIN")),
    ("bpf", Some("CAP_SYS_ADMIN")),
    ("open_by_handle_at", Some("CAP_DAC_READ_SEARCH")),
    // Kernel modules.
    ("init_module", Some("CAP_SYS_MODULE")),
    ("finit_module", Some("CAP_SYS_MODULE")),
    ("delete_module", Some("CAP_SYS_MODULE")),
    ("create_module", Some("CAP_SYS_MODULE")),
    ("query_module", Some("CAP_SYS_MODULE")),
    ("get_kernel_syms", Some("CAP_SYS_MODULE")),
    // Rebooting and replacing the kernel.
    ("reboot", Some("CAP_SYS_BOOT")),
    ("kexec_load", Some("CAP_SYS_BOOT")),
    ("kexec_file_load", Some("CAP_SYS_BOOT")),
    // The clock, which no namespace isolates.
    ("settimeofday", Some("CAP_SYS_TIME")),
    ("clock_settime", Some("CAP_SYS_TIME")),
    ("clock_adjtime", Some("CAP_SYS_TIME")),
    // Process accounting, raw I/O ports, the kernel log.
    ("acct", Some("CAP_SYS_PACCT")),
    ("iopl", Some("CAP_SYS_RAWIO")),
    ("ioperm", Some("CAP_SYS_RAWIO")),
    ("syslog", Some("CAP_SYSLOG")),
    // Other processes' memory.
    ("process_vm_readv", Some("CAP_SYS_PTRACE")),
    ("process_vm_writev", Some("CAP_SYS_PTRACE")),
    ("kcmp", Some("CAP_SYS_PTRACE")),
    ("userfaultfd", Some("CAP_SYS_PTRACE")),
    // NUMA placement of memory.
    ("get_mempolicy", Some("CAP_SYS_NICE")),
    ("set_mempolicy", Some("CAP_SYS_NICE")),
    ("mbind", Some("CAP_SYS_NICE")),
    ("move_pages", Some("CAP_SYS_NICE")),
    // The kernel's keyrings are not namespaced; obsolete calls.
    ("add_key", None),
    ("keyctl", None),
    ("request_key", None),
    ("uselib", None),
    ("ustat", None),
    ("sysfs", None),
    ("_sysctl", None),
    ("nfsservctl", None),
];

/// The host's architecture and the ones it runs binaries of: a call through a 32-bit entry
/// point is filtered as well (an architecture left out would have its calls killed).
#[cfg(target_arch = "x86_64")]
const ARCHITECTURES: &[&str] = &["SCMP_ARCH_X86_64"];
#[cfg(target_arch = "aarch64")]
const ARCHITECTURES: &[&str] = &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCHITECTURES: &[&str] = &[];

/// `clone` flags that make new namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
/// NEWPID, NEWNET), refused without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000,
    0x0200_0000,
    0x0400_0000,
    0x0800_0000,
    0x1000_0000,
    0x2000_0000,
    0x4000_0000,
];

/// The spec's `linux.seccomp` for a container holding `caps` (names like `CAP_SYS_ADMIN`).
pub fn default_profile(caps: &[String]) -> Value {
    let has = |cap: &str| caps.iter().any(|c| c == cap);
    let names: Vec<&str> = DENIED
        .iter()
        .filter(|(_, cap)| !cap.is_some_and(has))
        .map(|(name, _)| *name)
        .collect();
    let mut syscalls = vec![json!({
        "names": names,
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": EPERM,
    })];
    if !has("CAP_SYS_ADMIN") {
        syscalls.push(json!({
            "names": ["clone3"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": ENOSYS,
        }));
        // One rule per flag: rules of one call are alternatives, a rule's arguments all hold.
        for flag in CLONE_NAMESPACE_FLAGS {
            syscalls.push(json!({
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM,
                "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
            }));
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ARCHITECTURES,
        "syscalls": syscalls,
    })
}

/// What `--security-opt` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityOptions {
    pub no_new_privileges: bool,
    /// `seccomp=unconfined`.
    pub unconfined: bool,
}

/// Reads `--security-opt` values as Docker takes them (`no-new-privileges[:true|false]` or
/// `=`, `seccomp=unconfined`, `apparmor=...` and `label=...`, which mean nothing on a host
/// without AppArmor or SELinux in mini's use, and are kept as given).
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOptions, String> {
    let mut out = SecurityOptions::default();
    for opt in opts {
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => out.unconfined = true,
            ("seccomp", Some(path)) => {
                return Err(format!(
                    "seccomp profile {path:?}: mini runs its own profile or none \
                     (seccomp=unconfined); profiles from files are not supported"
                ))
            }
            ("apparmor" | "label", Some(_)) => {}
            _ => return Err(format!("invalid --security-opt: {opt:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(profile: &Value) -> Vec<String> {
        profile["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn capabilities_give_back_the_calls_they_govern() {
        let plain = default_profile(&["CAP_CHOWN".into()]);
        assert!(denied(&plain).contains(&"mount".to_string()));
        assert!(denied(&plain).contains(&"keyctl".to_string()));
        // clone3 and the seven namespace flags of clone.
        assert_eq!(plain["syscalls"].as_array().unwrap().len(), 1 + 1 + 7);
        let admin = default_profile(&["CAP_SYS_ADMIN".into()]);
        assert!(!denied(&admin).contains(&"mount".to_string()));
        assert!(denied(&admin).contains(&"reboot".to_string()));
        assert!(denied(&admin).contains(&"keyctl".to_string()));
        assert_eq!(admin["syscalls"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn security_opts_parse_as_docker_takes_them() {
        let opts =
            |v: &[&str]| parse_security_opts(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            opts(&["no-new-privileges"]).unwrap(),
            SecurityOptions {
                no_new_privileges: true,
                unconfined: false
            }
        );
        assert!(opts(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(
            !opts(&["no-new-privileges=false"])
                .unwrap()
                .no_new_privileges
        );
        assert!(opts(&["seccomp=unconfined"]).unwrap().unconfined);
        assert!(opts(&["apparmor=unconfined"]).is_ok());
        assert!(opts(&["seccomp=/tmp/p.json"]).is_err());
        assert!(opts(&["bogus"]).unwrap_err().contains("bogus"));
    }
}
