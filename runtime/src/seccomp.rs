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
//!
//! `--security-opt seccomp=FILE` takes a profile in Docker's format (Docker's own
//! `default.json` among them): its rules are kept or dropped by their `includes` and
//! `excludes` (capabilities, architectures, minimum kernel) for the container at hand, and
//! `archMap` gives the architectures, as Docker's daemon does before it hands the filter to
//! runc. As Docker's client does, mini reads the file once, at `run`/`create`, and keeps its
//! JSON in the container's `HostConfig.SecurityOpt`.

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
    // io_uring reaches much of the kernel past seccomp's view; Docker 25 took it out.
    ("io_uring_setup", None),
    ("io_uring_enter", None),
    ("io_uring_register", None),
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityOptions {
    pub no_new_privileges: bool,
    /// `seccomp=unconfined`.
    pub unconfined: bool,
    /// `seccomp=PROFILE`: a profile in Docker's format (the file's JSON, read at create).
    pub profile: Option<Value>,
}

/// The seccomp filter for a container holding `caps`: its profile's, else mini's own.
pub fn profile_for(security: &SecurityOptions, caps: &[String]) -> Result<Value, String> {
    match &security.profile {
        Some(profile) => from_docker_profile(profile, caps, &kernel_release()),
        None => Ok(default_profile(caps)),
    }
}

/// Docker's client reads a `seccomp=FILE` profile and sends its JSON in place of the path; so
/// does this, before anything is created. `unconfined` and `builtin` stay as they are.
pub fn read_profile_files(opts: &[String]) -> Result<Vec<String>, String> {
    opts.iter()
        .map(|opt| {
            let Some(path) = opt
                .strip_prefix("seccomp=")
                .or_else(|| opt.strip_prefix("seccomp:"))
            else {
                return Ok(opt.clone());
            };
            if matches!(path, "unconfined" | "builtin") || path.starts_with('{') {
                return Ok(opt.clone());
            }
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("opening seccomp profile ({path}) failed: {err}"))?;
            let value: Value = serde_json::from_str(&text)
                .map_err(|err| format!("decoding seccomp profile ({path}) failed: {err}"))?;
            Ok(format!("seccomp={value}"))
        })
        .collect()
}

/// Go's name of this machine's architecture, which Docker's profiles filter rules by.
#[cfg(target_arch = "x86_64")]
const GO_ARCH: &str = "amd64";
#[cfg(target_arch = "aarch64")]
const GO_ARCH: &str = "arm64";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const GO_ARCH: &str = std::env::consts::ARCH;

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default()
}

/// `major.minor` of a kernel release (`6.1.0-18-amd64` is (6, 1)).
fn kernel_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
];

/// A profile in Docker's format, for a container holding `caps` on a kernel of `release`: the
/// OCI `linux.seccomp` it makes (Docker's daemon does the same before it hands it to runc).
pub fn from_docker_profile(
    profile: &Value,
    caps: &[String],
    release: &str,
) -> Result<Value, String> {
    let bad = |what: String| format!("seccomp profile: {what}");
    let object = profile
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let action = |value: &Value, what: &str| -> Result<String, String> {
        let action = value
            .as_str()
            .ok_or_else(|| bad(format!("{what} is missing")))?;
        if !ACTIONS.contains(&action) {
            return Err(bad(format!("{what} {action:?} is not supported")));
        }
        Ok(action.to_string())
    };
    let mut out = serde_json::Map::new();
    out.insert(
        "defaultAction".into(),
        json!(action(&profile["defaultAction"], "defaultAction")?),
    );
    if let Some(errno) = profile.get("defaultErrnoRet").filter(|v| !v.is_null()) {
        out.insert("defaultErrnoRet".into(), errno.clone());
    }
    let listed = |key: &str| profile[key].as_array().filter(|a| !a.is_empty());
    let architectures = match (listed("architectures"), listed("archMap")) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "both 'architectures' and 'archMap' are specified, use either one".into(),
            ))
        }
        (Some(list), None) => list.clone(),
        (None, Some(map)) => map
            .iter()
            .find(|entry| {
                entry["architecture"]
                    .as_str()
                    .is_some_and(|a| ARCHITECTURES.first() == Some(&a))
            })
            .map(|entry| {
                let mut list = vec![entry["architecture"].clone()];
                if let Some(subs) = entry["subArchitectures"].as_array() {
                    list.extend(subs.iter().cloned());
                }
                list
            })
            .unwrap_or_default(),
        (None, None) => Vec::new(),
    };
    out.insert("architectures".into(), Value::Array(architectures));
    if let Some(flags) = object.get("flags").filter(|v| !v.is_null()) {
        out.insert("flags".into(), flags.clone());
    }
    let kernel = kernel_version(release);
    // A filter's list (`caps`, `arches`); empty when it has none.
    let strings = |filter: &Value, key: &str| -> Vec<String> {
        filter[key]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let has_cap = |cap: &String| caps.contains(cap);
    let at_least = |filter: &Value| -> Option<bool> {
        let min = filter["minKernel"].as_str()?;
        let min = kernel_version(min)?;
        Some(kernel.is_some_and(|k| k >= min))
    };
    let mut syscalls = Vec::new();
    for (i, rule) in profile["syscalls"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        // Included: every capability listed, this architecture if any are listed, the kernel
        // at least so new. Excluded: any capability or architecture listed, a new enough kernel.
        let (includes, excludes) = (&rule["includes"], &rule["excludes"]);
        let arches = strings(includes, "arches");
        if !strings(includes, "caps").iter().all(has_cap)
            || !(arches.is_empty() || arches.iter().any(|a| a == GO_ARCH))
            || at_least(includes) == Some(false)
            || strings(excludes, "caps").iter().any(has_cap)
            || strings(excludes, "arches").iter().any(|a| a == GO_ARCH)
            || at_least(excludes) == Some(true)
        {
            continue;
        }
        let names = match (rule["name"].as_str(), rule["names"].as_array()) {
            (Some(_), Some(names)) if !names.is_empty() => {
                return Err(bad(format!(
                    "rule {i} has both 'name' and 'names', use either one"
                )))
            }
            (Some(name), _) => vec![json!(name)],
            (None, Some(names)) => names.clone(),
            (None, None) => return Err(bad(format!("rule {i} names no system call"))),
        };
        let mut call = serde_json::Map::new();
        call.insert("names".into(), Value::Array(names));
        call.insert(
            "action".into(),
            json!(action(&rule["action"], &format!("rule {i}'s action"))?),
        );
        for key in ["errnoRet", "args"] {
            if let Some(value) = rule.get(key).filter(|v| !v.is_null()) {
                call.insert(key.into(), value.clone());
            }
        }
        syscalls.push(Value::Object(call));
    }
    out.insert("syscalls".into(), Value::Array(syscalls));
    Ok(Value::Object(out))
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
            ("seccomp", Some("builtin")) => out.profile = None,
            ("seccomp", Some(text)) if text.starts_with('{') => {
                let profile: Value =
                    serde_json::from_str(text).map_err(|err| format!("seccomp profile: {err}"))?;
                // Checked now, so that a bad profile is refused before anything is created.
                from_docker_profile(&profile, &[], "")?;
                out.profile = Some(profile);
            }
            ("seccomp", Some(path)) => {
                return Err(format!(
                    "seccomp profile {path:?}: give the file at run or create, which read it"
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

    fn kept(profile: &Value) -> Vec<String> {
        profile["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| rule["names"][0].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_docker_profile_keeps_the_rules_that_apply_to_the_container() {
        let native = ARCHITECTURES[0];
        let profile = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]},
                {"architecture": native, "subArchitectures": ["SCMP_ARCH_SUB"]},
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ALLOW",
                 "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
                {"names": ["native"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"arches": [GO_ARCH]}},
                {"names": ["foreign"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"arches": ["s390x"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"minKernel": "4.8"}},
                {"name": "personality", "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            ],
        });
        let out = from_docker_profile(&profile, &["CAP_CHOWN".into()], "6.1.0-18-amd64").unwrap();
        assert_eq!(out["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(out["defaultErrnoRet"], 1);
        assert_eq!(out["architectures"], json!([native, "SCMP_ARCH_SUB"]));
        assert_eq!(
            kept(&out),
            [
                "read",
                "chroot",
                "native",
                "ptrace",
                "personality",
                "clone3"
            ]
        );
        assert_eq!(out["syscalls"][4]["args"][0]["value"], 8);
        assert_eq!(out["syscalls"][5]["errnoRet"], 38);
        let admin = ["CAP_SYS_ADMIN".to_string(), "CAP_SYS_CHROOT".to_string()];
        let out = from_docker_profile(&profile, &admin, "4.4.0").unwrap();
        assert_eq!(
            kept(&out),
            ["read", "mount", "native", "personality", "clone3"]
        );
    }

    #[test]
    fn a_docker_profile_that_cannot_be_read_is_refused_with_its_reason() {
        let refused = |profile: Value| from_docker_profile(&profile, &[], "6.1").unwrap_err();
        let both = refused(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}));
        assert!(both.contains("'architectures' and 'archMap'"), "{both}");
        let missing = refused(json!({"syscalls": []}));
        assert!(missing.contains("defaultAction is missing"), "{missing}");
        let notify = refused(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert!(notify.contains("SCMP_ACT_NOTIFY"), "{notify}");
        let named = refused(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}));
        assert!(named.contains("'name' and 'names'"), "{named}");
        let opts = parse_security_opts(&["seccomp={\"syscalls\": []}".into()]).unwrap_err();
        assert!(opts.contains("defaultAction"), "{opts}");
    }

    #[test]
    fn security_opts_parse_as_docker_takes_them() {
        let opts =
            |v: &[&str]| parse_security_opts(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            opts(&["no-new-privileges"]).unwrap(),
            SecurityOptions {
                no_new_privileges: true,
                unconfined: false,
                profile: None,
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
