//! A container's record: `containers/<id>/config.json`, mini's own source of truth about one
//! container. Its shape follows what `docker inspect` shows (Config, HostConfig, State), so that
//! inspect is a projection of it, not a translation.
//!
//! Records are written atomically (temp file, fsync, rename) and changed only under the
//! container's lock (`containers/<id>/lock`), so that concurrent `mini` commands and the monitor
//! never lose each other's writes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a container runs and how: Docker's `Config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    pub hostname: String,
    pub user: String,
    pub tty: bool,
    pub open_stdin: bool,
    /// Docker's `StdinOnce`: the container's stdin closes when an attached client's ends
    /// (`run -i` without `-d`).
    #[serde(default)]
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// The image as the user named it (`nginx`).
    pub image: String,
    pub working_dir: String,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// The image's VOLUME entries and `-v /path` anonymous volumes, as Docker's `Config.Volumes`.
    #[serde(default)]
    pub volumes: BTreeMap<String, serde_json::Value>,
}

/// Docker's `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `no`, `on-failure`, `always` or `unless-stopped`.
    pub name: String,
    pub maximum_retry_count: u32,
}

/// How the host runs the container: Docker's `HostConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// `bridge`, `none`, `host`, or a user network's name.
    pub network_mode: String,
    pub auto_remove: bool,
    pub restart_policy: RestartPolicy,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Bytes; 0 means no limit.
    pub memory: i64,
    /// CPUs in units of 1e-9; 0 means no limit.
    pub nano_cpus: i64,
    /// None means no limit.
    pub pids_limit: Option<i64>,
    pub init: bool,
    /// The cgroup the container's own cgroup goes below (`/mini`): its cgroup is
    /// `<CgroupParent>/<id>`.
    #[serde(default)]
    pub cgroup_parent: String,
    /// `-p`: container port (`80/tcp`) -> the host bindings asked for.
    #[serde(default)]
    pub port_bindings: mini_network::ports::PortBindings,
    /// `-P`: every exposed port on a free host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// `--dns`: nameservers that replace the host's.
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--add-host NAME:IP`, as `NAME:IP`.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// `--ip` on a user network.
    #[serde(default, rename = "IPAddress")]
    pub ip_address: String,
    /// `-v` values as given.
    #[serde(default)]
    pub binds: Vec<String>,
    /// `--mount` values, in Docker's `HostConfig.Mounts` shape.
    #[serde(default)]
    pub mounts: Vec<serde_json::Value>,
    /// `--volumes-from` values as given.
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// `--network-alias`: more names the container answers to on its user network.
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// `--security-opt` values as given.
    #[serde(default)]
    pub security_opt: Vec<String>,
}

/// The container's networks (Docker's `NetworkSettings`, which inspect projects): the ones it
/// is on, and while it runs everything mini made on them, so that it can be undone from the
/// record alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// The bridge networks the container is on: its `--network` first, then the ones joined
    /// with `mini network connect`, less those left with `network disconnect`. Empty for
    /// `none`, `host` and `container:`.
    #[serde(default)]
    pub networks: Vec<Attachment>,
    /// What mini made on each network while the container runs (or was made before a crash).
    #[serde(default)]
    pub endpoints: Vec<mini_network::endpoint::Endpoint>,
}

impl NetworkSettings {
    /// The endpoint of the container's first network: its default route and published ports.
    pub fn endpoint(&self) -> Option<&mini_network::endpoint::Endpoint> {
        self.endpoints.first()
    }

    pub fn endpoint_on(&self, network: &str) -> Option<&mini_network::endpoint::Endpoint> {
        self.endpoints.iter().find(|e| e.network == network)
    }

    pub fn attachment(&self, network: &str) -> Option<&Attachment> {
        self.networks.iter().find(|a| a.network == network)
    }
}

/// A container's place on one network: what `--network`/`network connect` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// `--network-alias` / `network connect --alias`: more names on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip` / `network connect --ip`: the address asked for, empty for the next free one.
    #[serde(default, rename = "IPAddress")]
    pub ip_address: String,
}

/// Where a container is in its life: Docker's `State`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// `created`, `running`, `paused`, `restarting`, `exited` or `dead`.
    pub status: String,
    /// The container's init process as the host sees it; 0 when not running.
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    /// How many times the restart policy has restarted the container since `mini start`.
    pub restart_count: u32,
    /// The monitor that owns the running container, and when it started (in clock ticks since
    /// boot, from /proc/PID/stat) so that a recycled pid is not mistaken for it.
    pub monitor_pid: i32,
    pub monitor_start: u64,
    /// The boot the monitor ran in: after a reboot no monitor can be alive.
    pub boot_id: String,
    /// Set by `mini stop` and `mini kill`, so that the restart policy does not undo them.
    pub stopped_by_user: bool,
}

/// Docker's zero time, which it shows for times that have not happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Default for State {
    fn default() -> State {
        State {
            status: "created".into(),
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            restart_count: 0,
            monitor_pid: 0,
            monitor_start: 0,
            boot_id: String::new(),
            stopped_by_user: false,
        }
    }
}

/// Everything mini knows about one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    /// RFC 3339 with nanoseconds, as Docker writes it.
    pub created: String,
    /// The command: the first word of entrypoint + cmd, then the rest.
    pub path: String,
    pub args: Vec<String>,
    /// `sha256:<hex>` of the image's config.
    pub image_id: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: State,
    #[serde(default)]
    pub network_settings: NetworkSettings,
    /// Volumes, binds and tmpfs mounts: Docker's `Mounts`.
    #[serde(default)]
    pub mounts: Vec<crate::mounts::MountPoint>,
}

impl ContainerRecord {
    /// The first 12 hex digits, as `ps` shows them.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// `path args...` as one line.
    pub fn command_line(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The container's cgroup, relative to each hierarchy's root.
    pub fn cgroup_path(&self) -> String {
        let parent = self.host_config.cgroup_parent.trim_end_matches('/');
        let parent = if parent.is_empty() { "/mini" } else { parent };
        format!("{parent}/{}", self.id)
    }

    /// Running, restarting or paused: its processes exist.
    pub fn is_running(&self) -> bool {
        matches!(
            self.state.status.as_str(),
            "running" | "restarting" | "paused"
        )
    }

    /// Frozen by `mini pause`.
    pub fn is_paused(&self) -> bool {
        self.state.status == "paused"
    }

    /// Reads a record file.
    pub fn load(path: &Path) -> Result<ContainerRecord> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        serde_json::from_slice(&bytes).map_err(|err| Error::Corrupt {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })
    }

    /// Writes the record file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("records serialize");
        write_atomic(path, &bytes)
    }
}

/// Writes `bytes` to `path` through a synced temp file in the same folder and a rename, so that
/// readers see the old content or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        // Records hold containers' environments: root alone reads them. A temporary name left
        // by a write that died goes first; a new one is made, never opened through a link.
        let _ = std::fs::remove_file(&temp);
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(crate::access::FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(Error::io(path))
}

/// 64 random hex digits from the kernel: container and anonymous volume names.
pub fn random_id() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(Error::io("/dev/urandom"))?;
    Ok(hex::encode(bytes))
}

/// An exclusive flock on a file, released when dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

impl std::os::fd::AsFd for Lock {
    /// The locked file: a process that inherits it holds the lock too, until it closes it.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self._file.as_fd()
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io(path))
}

impl Lock {
    /// Takes the lock on `path` if it is free; None if someone holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<Lock>> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock {
                _file: file,
                path: path.to_path_buf(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(err)) => Err(Error::io(path)(err)),
        }
    }

    /// Waits for the lock on `path`, creating the file if needed.
    pub fn acquire(path: &Path) -> Result<Lock> {
        let file = open_lock_file(path)?;
        file.lock().map_err(Error::io(path))?;
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_with_dockers_field_names() {
        let record = ContainerRecord {
            id: "a".repeat(64),
            name: "w1".into(),
            created: "2026-11-28T10:00:00.000000001Z".into(),
            path: "/docker-entrypoint.sh".into(),
            args: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
            image_id: format!("sha256:{}", "b".repeat(64)),
            config: ContainerConfig::default(),
            host_config: HostConfig::default(),
            state: State::default(),
            network_settings: Default::default(),
            mounts: Vec::new(),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert!(text.contains("\"HostConfig\":{\"NetworkMode\""), "{text}");
        assert!(text.contains("\"OOMKilled\":false"), "{text}");
        let back: ContainerRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.short_id(), "aaaaaaaaaaaa");
        assert_eq!(
            back.command_line(),
            "/docker-entrypoint.sh nginx -g daemon off;"
        );
    }
}
