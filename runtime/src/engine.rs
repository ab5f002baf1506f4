//! The container lifecycle, top-down: create (record + writable layer + files), start (mount,
//! spec, monitor), stop, kill, remove, exec, and the repair of containers whose monitor is gone.
//!
//! The `mini` process that runs a command never becomes a container's parent: it starts a
//! monitor (`monitor.rs`) and waits for its report. Records are the shared truth; every change
//! goes through `ContainerStore::update`, under the container's lock.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use mini_storage::{ImageRecord, ImageStore, LayerStore};
use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::monitor::{self, Report};
use crate::options;
use crate::process;
use crate::record::{
    Attachment, ContainerConfig, ContainerRecord, HostConfig, Lock, RestartPolicy, State,
};
use crate::spec::{self, SpecPaths};
use crate::store::{self, ContainerStore};
use crate::user;

/// The hidden subcommand that runs a monitor: `mini __monitor ID`.
pub const MONITOR_COMMAND: &str = "__monitor";

/// The hidden subcommand that runs a user network's DNS responder: `mini __dns NETWORK`.
pub const DNS_COMMAND: &str = "__dns";

/// Everything `run` and `create` take, parsed.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    /// The image as the user named it.
    pub image: String,
    /// Arguments after the image: they replace the image's Cmd.
    pub command: Vec<String>,
    /// `--entrypoint` (one word) or the API's `Entrypoint` (a list): Some(empty) clears the
    /// image's entrypoint. Either resets the image's Cmd.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` entries, after the image's.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    /// `run -i` without `-d`: the container's stdin ends with the attached client's.
    pub stdin_once: bool,
    pub auto_remove: bool,
    /// `bridge` (the default), `none`, `host` or a user network's name or id.
    pub network: String,
    /// `-p`, parsed: container port and the host binding asked for.
    pub publish: Vec<(
        mini_network::ports::PortKey,
        mini_network::ports::HostBinding,
    )>,
    /// `-P`.
    pub publish_all: bool,
    /// `--expose`.
    pub expose: Vec<mini_network::ports::PortKey>,
    /// `--ip`.
    pub ip: Option<std::net::Ipv4Addr>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<String>,
    pub restart: RestartPolicy,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    /// `--init`: tini as the container's first process.
    pub init: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// `-v` values.
    pub volumes: Vec<String>,
    /// `--mount` values.
    pub mounts: Vec<String>,
    /// `--volumes-from` values.
    pub volumes_from: Vec<String>,
    /// `--network-alias` values.
    pub network_aliases: Vec<String>,
    /// `--security-opt` values.
    pub security_opt: Vec<String>,
}

/// mini's binary on disk: `MINI_EXE` when this process runs from a read-only view of it (the
/// CLI re-executes the monitor and `exec` so, against CVE-2019-5736), else this process's own.
pub fn self_exe() -> Result<PathBuf> {
    match std::env::var_os(crate::sealed::EXE_ENV) {
        Some(path) => Ok(PathBuf::from(path)),
        None => std::env::current_exe().map_err(Error::io("/proc/self/exe")),
    }
}

/// The engine: stores, and how to start a monitor.
#[derive(Debug)]
pub struct Engine {
    pub store: ContainerStore,
    pub layers: LayerStore,
    pub images: ImageStore,
    /// The `mini` binary, and the global arguments a monitor needs (`--root`, `--runroot`).
    pub exe: PathBuf,
    pub global_args: Vec<OsString>,
    pub config: crate::config::RuntimeConfig,
    pub networks: mini_network::NetworkStore,
    pub network_config: mini_network::NetworkConfig,
    pub volumes: crate::volumes::VolumeStore,
}

impl Engine {
    pub fn open(
        root: &std::path::Path,
        runroot: &std::path::Path,
        config: &std::path::Path,
    ) -> Result<Engine> {
        let engine = Engine::open_as_found(root, runroot, config)?;
        engine.after_boot()?;
        Ok(engine)
    }

    /// As [`Engine::open`], without the start-of-boot work (repairs, restart policies): for
    /// `system reset`, which would only undo it.
    pub fn open_as_found(
        root: &std::path::Path,
        runroot: &std::path::Path,
        config: &std::path::Path,
    ) -> Result<Engine> {
        let network_config = mini_network::NetworkConfig::load(config)?;
        let config = crate::config::RuntimeConfig::load(config)?;
        std::fs::create_dir_all(runroot).map_err(Error::io(runroot))?;
        let engine = Engine {
            store: ContainerStore::open(root, runroot)?,
            layers: LayerStore::open(&root.join("overlay"))?,
            images: ImageStore::open(root)?,
            exe: self_exe()?,
            global_args: vec![
                "--root".into(),
                root.as_os_str().to_owned(),
                "--runroot".into(),
                runroot.as_os_str().to_owned(),
            ],
            config,
            networks: mini_network::NetworkStore::open(root, network_config.clone())?,
            network_config,
            volumes: crate::volumes::VolumeStore::open(root)?,
        };
        Ok(engine)
    }

    /// What Docker's daemon does when it starts, done by the first command after a boot (or
    /// after the runtime folder was emptied): containers that ran are repaired (shown exited,
    /// their resources released), and those whose restart policy says so are started again.
    /// A marker in the runroot names the boot this was done for.
    fn after_boot(&self) -> Result<()> {
        let marker = self.store.runroot.join("boot_id");
        let boot = process::boot_id();
        let done = || std::fs::read_to_string(&marker).is_ok_and(|text| text.trim() == boot);
        if done() {
            return Ok(());
        }
        let _lock = Lock::acquire(&self.store.runroot.join("boot.lock"))?;
        if done() {
            return Ok(());
        }
        for record in self.list()? {
            if starts_at_boot(&record) {
                if let Err(err) = self.start(&record.id, false) {
                    eprintln!(
                        "mini: restarting container {} (restart policy {}): {err}",
                        record.name, record.host_config.restart_policy.name
                    );
                }
            }
        }
        crate::record::write_atomic(&marker, format!("{boot}\n").as_bytes())
    }

    /// Creates a container from a local image: its record, its writable layer and its files.
    /// Nothing is left behind when this fails.
    pub fn create(&self, image: &ImageRecord, options: &CreateOptions) -> Result<ContainerRecord> {
        let mut record = self.new_record(image, options)?;
        // Volumes are made and the record written under the volume store's lock, so that a
        // `volume rm` sees either no container or one that uses the volume.
        let volumes_lock = if record.mounts.iter().any(|m| m.is_volume()) {
            Some(self.volumes.lock()?)
        } else {
            None
        };
        let mut made = Vec::new();
        let mut to_fill = Vec::new();
        let ready = self
            .make_mount_sources(&mut record, &mut made, &mut to_fill)
            .and_then(|()| self.store.create(&mut record, options.name.is_none()));
        let creating = match ready {
            Ok(creating) => creating,
            Err(err) => {
                for name in &made {
                    let _ = self.volumes.remove(name);
                }
                return Err(err);
            }
        };
        drop(volumes_lock);
        if let Err(err) = self.prepare(&record, image, &to_fill) {
            let _ = self.layers.remove_container_layer(&record.id);
            let _ = self.store.delete(&record.id);
            let _lock = self.volumes.lock();
            for name in &made {
                let _ = self.volumes.remove(name);
            }
            return Err(err);
        }
        self.store.created(&record.id, creating);
        Ok(record)
    }

    /// Makes what the container's mounts need: its volumes (named ones if missing, anonymous
    /// ones always; `made` lists the new ones) and, for `-v`, a missing bind source folder.
    /// `to_fill`: the new or empty volumes to fill from the image.
    fn make_mount_sources(
        &self,
        record: &mut ContainerRecord,
        made: &mut Vec<String>,
        to_fill: &mut Vec<(String, PathBuf)>,
    ) -> Result<()> {
        for mount in &mut record.mounts {
            match mount.kind.as_str() {
                "volume" => {
                    let name = Some(mount.name.as_str()).filter(|n| !n.is_empty());
                    let mut labels = BTreeMap::new();
                    if name.is_none() {
                        labels.insert(crate::volumes::ANONYMOUS_LABEL.to_string(), String::new());
                    }
                    let (volume, new) = self.volumes.create(name, labels)?;
                    if new {
                        made.push(volume.name.clone());
                    }
                    let data = self.volumes.mountpoint(&volume.name);
                    let empty = std::fs::read_dir(&data)
                        .map(|mut d| d.next().is_none())
                        .unwrap_or(false);
                    if empty && !mount.no_copy {
                        to_fill.push((mount.destination.clone(), data.clone()));
                    }
                    mount.name = volume.name;
                    mount.source = data.to_string_lossy().into_owned();
                }
                "bind" if mount.create_source => {
                    let source = std::path::Path::new(&mount.source);
                    if !source.exists() {
                        std::fs::create_dir_all(source).map_err(Error::io(source))?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn prepare(
        &self,
        record: &ContainerRecord,
        image: &ImageRecord,
        to_fill: &[(String, PathBuf)],
    ) -> Result<()> {
        let chain: Vec<String> = image.layers.iter().map(|l| l.chain_id.clone()).collect();
        self.layers.create_container_layer(&record.id, &chain)?;
        self.fill_volumes(record, to_fill)?;
        let dir = self.store.container_dir(&record.id);
        let hostname = format!("{}\n", record.config.hostname);
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let resolv = if record.host_config.network_mode == "host" {
            // The host's files as they are, as Docker does for --network host.
            let path = dir.join("hosts");
            std::fs::write(&path, std::fs::read("/etc/hosts").unwrap_or_default())
                .map_err(Error::io(&path))?;
            host_resolv
        } else {
            // Its own address goes in when it is connected (networking::connect).
            crate::networking::write_hosts(&self.store, record, None)?;
            crate::networking::resolv_conf(&self.networks, record, &host_resolv)?
        };
        for (name, text) in [("hostname", hostname), ("resolv.conf", resolv)] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(Error::io(&path))?;
        }
        let log = self.store.log_path(&record.id);
        crate::access::write_private(&log, b"", crate::access::LOG_MODE)?;
        Ok(())
    }

    /// The record a new container gets: the image's config with the options laid over it, as
    /// Docker merges them.
    fn new_record(&self, image: &ImageRecord, options: &CreateOptions) -> Result<ContainerRecord> {
        let blob = self.images.read_blob(&image.id)?;
        let image_json: serde_json::Value =
            serde_json::from_slice(&blob).map_err(|err| mini_storage::Error::BadContent {
                what: format!("image config {}", image.id),
                reason: err.to_string(),
            })?;
        let image_config = &image_json["config"];
        let strings = |value: &serde_json::Value| -> Option<Vec<String>> {
            value.as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
        };
        let text = |value: &serde_json::Value| value.as_str().unwrap_or("").to_string();

        let entrypoint = match &options.entrypoint {
            Some(e) if e.iter().all(String::is_empty) => None,
            Some(e) => Some(e.clone()),
            None => strings(&image_config["Entrypoint"]).filter(|e| !e.is_empty()),
        };
        // An entrypoint given on the command line resets the image's Cmd, as in Docker.
        let cmd = if !options.command.is_empty() {
            Some(options.command.clone())
        } else if options.entrypoint.is_some() {
            None
        } else {
            strings(&image_config["Cmd"]).filter(|c| !c.is_empty())
        };
        let mut argv: Vec<String> = entrypoint.clone().unwrap_or_default();
        argv.extend(cmd.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(Error::Invalid("No command specified".into()));
        }

        let mut env = strings(&image_config["Env"]).unwrap_or_default();
        for entry in &options.env {
            let key = entry.split('=').next().unwrap_or(entry);
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(entry.clone());
        }

        let id = crate::record::random_id()?;
        let name = match &options.name {
            Some(name) => {
                let name = name.strip_prefix('/').unwrap_or(name);
                if !store::valid_name(name) {
                    return Err(Error::Invalid(format!(
                        "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                name.to_string()
            }
            None => crate::names::generate(&id),
        };
        let stop_signal = options
            .stop_signal
            .clone()
            .or_else(|| image_config["StopSignal"].as_str().map(str::to_string))
            .filter(|s| !s.is_empty());
        if let Some(signal) = &stop_signal {
            options::parse_signal(signal)?;
        }
        spec::capabilities(options.privileged, &options.cap_add, &options.cap_drop)?;
        crate::seccomp::parse_security_opts(&options.security_opt).map_err(Error::Invalid)?;
        if options.init {
            spec::init_binary()?;
        }
        let network_mode = self.network_mode(options)?;
        let bridged = crate::networking::is_bridge_mode(&network_mode);
        let hostname = match (&options.hostname, network_mode.as_str()) {
            (Some(h), _) => h.clone(),
            (None, "host") => nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| id[..12].to_string()),
            // Docker gives a container on another's network that one's hostname.
            (None, mode) => match mode.strip_prefix("container:") {
                Some(other) => self.store.load(other)?.config.hostname,
                None => id[..12].to_string(),
            },
        };
        if !options.network_aliases.is_empty() && (!bridged || network_mode == "bridge") {
            return Err(Error::Invalid(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        let mut port_bindings = mini_network::ports::PortBindings::new();
        if bridged {
            for (key, binding) in &options.publish {
                port_bindings
                    .entry(key.to_string())
                    .or_default()
                    .push(binding.clone());
            }
        }
        for entry in &options.add_hosts {
            match entry.split_once(':') {
                Some((name, ip)) if !name.is_empty() && ip.parse::<std::net::IpAddr>().is_ok() => {}
                _ => {
                    return Err(Error::Invalid(format!(
                        "invalid argument \"{entry}\" for \"--add-host\" flag: invalid IP address in add-host: expected NAME:IP"
                    )))
                }
            }
        }
        for server in &options.dns {
            if server.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::Invalid(format!(
                    "invalid argument \"{server}\" for \"--dns\" flag: {server} is not an ip address"
                )));
            }
        }
        let mut labels: BTreeMap<String, String> = image_config["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        labels.extend(options.labels.clone());
        let mounts = self.mounts_for(options, image_config)?;

        Ok(ContainerRecord {
            id,
            name,
            created: crate::logs::now(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            image_id: image.id.clone(),
            config: ContainerConfig {
                hostname,
                user: options
                    .user
                    .clone()
                    .unwrap_or_else(|| text(&image_config["User"])),
                tty: options.tty,
                open_stdin: options.interactive,
                stdin_once: options.interactive && options.stdin_once,
                env,
                cmd,
                entrypoint,
                image: options.image.clone(),
                working_dir: options
                    .workdir
                    .clone()
                    .unwrap_or_else(|| text(&image_config["WorkingDir"])),
                labels,
                stop_signal,
                stop_timeout: options.stop_timeout,
                exposed_ports: {
                    let mut ports: BTreeMap<String, serde_json::Value> = image_config
                        ["ExposedPorts"]
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default();
                    // Docker exposes what is published or --expose'd too.
                    let extra = options
                        .expose
                        .iter()
                        .chain(options.publish.iter().map(|(k, _)| k));
                    for key in extra {
                        ports
                            .entry(key.to_string())
                            .or_insert(serde_json::json!({}));
                    }
                    ports
                },
                volumes: {
                    let mut volumes: BTreeMap<String, serde_json::Value> = image_config["Volumes"]
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default();
                    for spec in &options.volumes {
                        if !spec.contains(':') {
                            volumes.insert(spec.clone(), serde_json::json!({}));
                        }
                    }
                    volumes
                },
            },
            host_config: HostConfig {
                network_mode: network_mode.clone(),
                auto_remove: options.auto_remove,
                restart_policy: options.restart.clone(),
                privileged: options.privileged,
                readonly_rootfs: options.read_only,
                cap_add: options.cap_add.clone(),
                cap_drop: options.cap_drop.clone(),
                memory: options.memory,
                nano_cpus: options.nano_cpus,
                pids_limit: options.pids_limit,
                init: options.init,
                cgroup_parent: self.config.cgroup_parent.clone(),
                port_bindings,
                publish_all_ports: options.publish_all && bridged,
                dns: options.dns.clone(),
                extra_hosts: options.add_hosts.clone(),
                ip_address: options.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                binds: options.volumes.clone(),
                mounts: mounts
                    .iter()
                    .filter(|(_, flag)| *flag)
                    .map(|(m, _)| {
                        serde_json::json!({
                            "Type": m.kind,
                            "Source": if m.kind == "volume" { &m.name } else { &m.source },
                            "Target": m.destination,
                            "ReadOnly": !m.rw,
                        })
                    })
                    .collect(),
                volumes_from: options.volumes_from.clone(),
                network_aliases: options.network_aliases.clone(),
                security_opt: options.security_opt.clone(),
            },
            state: State::default(),
            network_settings: crate::record::NetworkSettings {
                networks: crate::networking::initial_networks(
                    &network_mode,
                    &options.network_aliases,
                    &options.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                ),
                endpoints: Vec::new(),
            },
            mounts: mounts.into_iter().map(|(m, _)| m).collect(),
        })
    }

    /// The container's mounts from `-v`, `--mount`, `--volumes-from` and the image's VOLUME
    /// entries (flagged true when they come from `--mount`, for `HostConfig.Mounts`).
    fn mounts_for(
        &self,
        options: &CreateOptions,
        image_config: &serde_json::Value,
    ) -> Result<Vec<(crate::mounts::MountPoint, bool)>> {
        use crate::mounts;
        let mut explicit = Vec::new();
        for spec in &options.volumes {
            explicit.push(mounts::parse_volume_flag(spec)?);
        }
        let from_mount_flag = options
            .mounts
            .iter()
            .map(|spec| mounts::parse_mount_flag(spec))
            .collect::<Result<Vec<_>>>()?;
        explicit.extend(from_mount_flag.iter().cloned());
        let mut inherited = Vec::new();
        for spec in &options.volumes_from {
            let (name, mode) = mounts::parse_volumes_from(spec)?;
            let other = self.find(name)?;
            inherited.extend(mounts::from_container(&other.mounts, mode));
        }
        let image_volumes: Vec<String> = image_config["Volumes"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let all = mounts::assemble(inherited, explicit, &image_volumes)?;
        Ok(all
            .into_iter()
            .map(|m| {
                let flagged = from_mount_flag.contains(&m);
                (m, flagged)
            })
            .collect())
    }

    /// The network a new container joins, checked: `bridge`, `none`, `host`, or a user
    /// network by name or id (stored by name).
    fn network_mode(&self, options: &CreateOptions) -> Result<String> {
        let mode = if options.network.is_empty() {
            "bridge"
        } else {
            options.network.as_str()
        };
        if let Some(other) = mode.strip_prefix("container:") {
            let conflicts = [
                (
                    !options.publish.is_empty() || options.publish_all,
                    "port publishing and the container type network mode",
                ),
                (options.hostname.is_some(), "hostname and the network mode"),
                (!options.dns.is_empty(), "dns and the network mode"),
                (
                    !options.add_hosts.is_empty(),
                    "custom host-to-IP mapping and the network mode",
                ),
            ];
            if let Some((_, what)) = conflicts.iter().find(|(found, _)| *found) {
                return Err(Error::Invalid(format!("conflicting options: {what}")));
            }
            if options.ip.is_some() {
                return Err(Error::Invalid(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            let id = self.store.resolve(other)?;
            return Ok(format!("container:{id}"));
        }
        if matches!(mode, "none" | "host") {
            if options.ip.is_some() {
                return Err(Error::Invalid(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            return Ok(mode.to_string());
        }
        let network = self.networks.get(mode).map_err(|err| match err {
            mini_network::Error::NoSuchNetwork(name) => {
                Error::Invalid(format!("network {name} not found"))
            }
            other => other.into(),
        })?;
        match network.driver.as_str() {
            "host" | "null" => return Ok(network.name),
            _ => {}
        }
        if options.ip.is_some() && network.name == "bridge" {
            return Err(Error::Invalid(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        Ok(network.name)
    }

    /// `mini network connect NETWORK CONTAINER`.
    pub fn network_connect(&self, container: &str, attachment: Attachment) -> Result<()> {
        let id = self.store.resolve(container)?;
        let _start = Lock::acquire(&self.store.container_dir(&id).join("start.lock"))?;
        let record = self.get(&id)?;
        crate::networking::attach(
            &self.store,
            &self.networks,
            &self.network_config,
            &record,
            attachment,
        )
    }

    /// `mini network disconnect NETWORK CONTAINER`: the network by name or id, or as the
    /// container's record names it when the network itself is gone.
    pub fn network_disconnect(&self, network: &str, container: &str) -> Result<()> {
        let id = self.store.resolve(container)?;
        let _start = Lock::acquire(&self.store.container_dir(&id).join("start.lock"))?;
        let record = self.get(&id)?;
        let name = match self.networks.get(network) {
            Ok(n) => n.name,
            Err(mini_network::Error::NoSuchNetwork(_))
                if record.network_settings.attachment(network).is_some() =>
            {
                network.to_string()
            }
            Err(err) => return Err(err.into()),
        };
        crate::networking::detach(&self.store, &record, &name)
    }

    /// `mini network reload`.
    pub fn network_reload(&self) -> Result<()> {
        crate::networking::reload(&self.store, &self.networks, &self.network_config)
    }

    /// Loads a record, repairing it first if its monitor is gone (killed, or the host
    /// rebooted), or if a `mini start` died half way through connecting it.
    pub fn get(&self, id: &str) -> Result<ContainerRecord> {
        let record = self.store.load(id)?;
        if record.is_running() && !monitor_alive(&record) {
            return self.repair(id);
        }
        if self.half_started(&record) {
            return self.repair_half_start(id);
        }
        Ok(record)
    }

    /// A container that is not running but holds what only a running one may: an endpoint
    /// (address, veth, port rules), its mounted root file system, or a bundle. A start that was
    /// cut off (the client killed, say) leaves that; [`Engine::repair_half_start`] undoes it.
    fn half_started(&self, record: &ContainerRecord) -> bool {
        !record.is_running()
            && (!record.network_settings.endpoints.is_empty()
                || self.layers.container_layer_mounted(&record.id)
                || self.store.bundle_dir(&record.id).exists())
    }

    /// A record that is not running but holds what a running one holds
    /// ([`Engine::half_started`]): a start died between mounting or connecting and recording
    /// the container as running. Undone unless a start is under way right now (it holds
    /// start.lock).
    fn repair_half_start(&self, id: &str) -> Result<ContainerRecord> {
        let path = self.store.container_dir(id).join("start.lock");
        let Some(_start) = Lock::try_acquire(&path)? else {
            return self.store.load(id);
        };
        let record = self.store.load(id)?;
        if self.half_started(&record) {
            // The monitor may have got as far as creating the container before it died.
            monitor::cleanup_libcontainer(&self.store, id);
            crate::networking::disconnect(&self.store, id)?;
            monitor::release_rootfs(&self.store, &self.layers, id);
        }
        self.store.load(id)
    }

    /// `get` for a user's argument (name, id or prefix).
    pub fn find(&self, text: &str) -> Result<ContainerRecord> {
        let id = self.store.resolve(text)?;
        self.get(&id)
    }

    /// Every container, repaired where needed, newest first. Containers whose `create` died
    /// half way are removed first, as if they had never been asked for.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        for id in self.store.abandoned() {
            if let Ok(record) = self.store.load(&id) {
                let _ = self.layers.remove_container_layer(&id);
                let _ = crate::volumes::remove_anonymous(&self.store, &record);
            }
            let _ = self.store.delete(&id);
        }
        let mut records = Vec::new();
        for record in self.store.list()? {
            // A RUN step's container whose build was killed: nobody will remove it but us.
            if let Some(token) = record.config.labels.get(crate::build::BUILDER_LABEL) {
                if crate::build::builder_gone(token) {
                    let _ = self.remove(&record.id, true, true);
                    continue;
                }
            }
            let needs_repair =
                (record.is_running() && !monitor_alive(&record)) || self.half_started(&record);
            if needs_repair {
                if let Ok(record) = self.get(&record.id) {
                    records.push(record);
                }
            } else {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// A container whose monitor is gone: kill what is left of it, release its resources, and
    /// show it as exited, so that `mini start` works on it again.
    fn repair(&self, id: &str) -> Result<ContainerRecord> {
        let _lock = self.store.lock(id)?;
        let record = self.store.load(id)?;
        if !record.is_running() || monitor_alive(&record) {
            return Ok(record);
        }
        monitor::cleanup_libcontainer(&self.store, id);
        let mut record = record;
        // Under the container's lock already: `undo`, not `disconnect`, which would take it.
        let _ = crate::networking::undo(&self.store, &mut record);
        monitor::release_rootfs(&self.store, &self.layers, id);
        record.state.status = "exited".into();
        record.state.pid = 0;
        record.state.exit_code = 255;
        record.state.error = "the container's monitor exited unexpectedly".into();
        record.state.finished_at = crate::logs::now();
        record.state.monitor_pid = 0;
        if record.host_config.auto_remove {
            drop(_lock);
            let _ = crate::networking::release(&self.store.root, &record);
            let _ = self.layers.remove_container_layer(id);
            let _ = self.store.delete(id);
            let _ = crate::volumes::remove_anonymous(&self.store, &record);
            return Err(Error::NoSuchContainer(id.to_string()));
        }
        self.store.save(&record)?;
        Ok(record)
    }

    /// Starts a created or exited container; returns once it runs. `attach`: with a socket to
    /// its monitor that was connected before the container started, so that none of its output
    /// is missed.
    pub fn start(&self, id: &str, attach: bool) -> Result<Started> {
        let result = self.start_locked(id, attach);
        if result.is_err() {
            // A `--rm` container that could not start is removed, as Docker removes it.
            if let Ok(record) = self.store.load(id) {
                if record.host_config.auto_remove {
                    let _ = self.layers.remove_container_layer(id);
                    let _ = self.store.delete(id);
                    let _ = crate::volumes::remove_anonymous(&self.store, &record);
                }
            }
        }
        result
    }

    fn start_locked(&self, id: &str, attach: bool) -> Result<Started> {
        let _start = Lock::acquire(&self.store.container_dir(id).join("start.lock"))?;
        let record = self.get(id)?;
        if record.is_running() {
            return Ok(Started::AlreadyRunning);
        }
        let shared = self.shared_network(&record)?;
        let rootfs = self
            .layers
            .mount_container_layer(id, record.host_config.auto_remove)?;
        let prepared = match shared {
            Some((netns, files)) => self.write_spec(&record, &rootfs, Some(&netns), &files),
            None => {
                crate::networking::connect(&self.store, &self.networks, &self.network_config, id)
                    .and_then(|netns| {
                        let files = self.store.container_dir(id);
                        self.write_spec(&record, &rootfs, netns.as_deref(), &files)
                    })
            }
        };
        if let Err(err) = prepared {
            let _ = crate::networking::disconnect(&self.store, id);
            monitor::release_rootfs(&self.store, &self.layers, id);
            let _ = self.store.update(id, |r| r.state.error = err.to_string());
            return Err(err);
        }
        self.store.update(id, |r| {
            r.state.stopped_by_user = false;
            r.state.restart_count = 0;
        })?;
        let (mut child, report, client) =
            match self.spawn_monitor(id, attach, record.config.tty, &_start) {
                Ok(spawned) => spawned,
                Err(err) => {
                    let _ = crate::networking::disconnect(&self.store, id);
                    monitor::release_rootfs(&self.store, &self.layers, id);
                    return Err(err);
                }
            };
        let report = read_report(report);
        match report {
            Some(Report { pid: Some(pid), .. }) => {
                // Started: `network connect` and the like may go on while this waits.
                drop(_start);
                // The monitor lives on by itself; nothing waits for it here.
                drop(child);
                Ok(match client {
                    Some(client) => Started::Attached(client),
                    None => Started::Running(pid),
                })
            }
            Some(Report {
                error: Some(message),
                code,
                ..
            }) => {
                let _ = child.wait();
                Err(Error::Start {
                    message,
                    code: if code == 0 { 125 } else { code },
                })
            }
            _ => {
                let _ = child.wait();
                let _ = crate::networking::disconnect(&self.store, id);
                monitor::release_rootfs(&self.store, &self.layers, id);
                Err(Error::System(
                    "the container's monitor exited before it reported".into(),
                ))
            }
        }
    }

    /// For `--network container:OTHER`: the namespace to join (OTHER's, which must run) and
    /// the folder whose `hosts` and `resolv.conf` the container shares with OTHER.
    fn shared_network(&self, record: &ContainerRecord) -> Result<Option<(PathBuf, PathBuf)>> {
        let Some(other) = record.host_config.network_mode.strip_prefix("container:") else {
            return Ok(None);
        };
        let target = self.get(other).map_err(|err| match err {
            Error::NoSuchContainer(_) => Error::Invalid(format!(
                "joining network of container {other}: No such container: {other}"
            )),
            err => err,
        })?;
        if !target.is_running() {
            return Err(Error::Invalid(format!(
                "cannot join network of a non running container: {other}"
            )));
        }
        let own = crate::networking::netns_path(&self.store, &target.id);
        let netns = if own.exists() {
            own
        } else {
            // `none`, `host` or `container:` itself: whatever namespace its process is in.
            PathBuf::from(format!("/proc/{}/ns/net", target.state.pid))
        };
        Ok(Some((netns, self.store.container_dir(&target.id))))
    }

    fn write_spec(
        &self,
        record: &ContainerRecord,
        rootfs: &std::path::Path,
        netns: Option<&std::path::Path>,
        network_files: &std::path::Path,
    ) -> Result<()> {
        let user = user::resolve(rootfs, &record.config.user)?;
        let dir = self.store.container_dir(&record.id);
        let cgroup = record.cgroup_path();
        let spec = spec::build(
            record,
            &user,
            &SpecPaths {
                rootfs,
                container_dir: &dir,
                network_files,
                netns,
                cgroup: &cgroup,
            },
        )?;
        let bundle = self.store.bundle_dir(&record.id);
        crate::access::private_dir(&bundle)?;
        let bytes = serde_json::to_vec_pretty(&spec).expect("specs serialize");
        // Made again at every start and read only by the runs after it: no rename or fsync.
        // The spec holds the container's environment: root alone reads it.
        let path = bundle.join("config.json");
        crate::access::write_private(&path, &bytes, crate::access::FILE_MODE)
    }

    /// Starts `mini __monitor ID` in its own session, without our stdio. Its report comes back
    /// on a pipe, its fd 3. `attach`: with a socket to us as its fd 4, our end returned.
    /// With a terminal (`tty`), our window size is the first thing on that socket.
    /// The monitor inherits the start lock as its fd 5 and holds it until it has reported: a
    /// start whose client was killed is still under way while the monitor launches, and must
    /// not be undone as a half start by another command meanwhile.
    fn spawn_monitor(
        &self,
        id: &str,
        attach: bool,
        tty: bool,
        start_lock: &Lock,
    ) -> Result<(std::process::Child, OwnedFd, Option<UnixStream>)> {
        let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|err| Error::System(format!("creating the report pipe: {err}")))?;
        let (ours, theirs) = if attach {
            let (ours, theirs) = UnixStream::pair()
                .map_err(|err| Error::System(format!("creating the attach socket: {err}")))?;
            let size = crate::attach::window_size(std::io::stdin().as_fd())
                .or_else(|| crate::attach::window_size(std::io::stdout().as_fd()));
            if let (true, Some(size)) = (tty, size) {
                // An empty socket takes a few bytes without blocking.
                let _ = (&ours).write_all(&crate::attach::frame(crate::attach::RESIZE, &size));
            }
            (Some(ours), Some(theirs))
        } else {
            (None, None)
        };
        // Straight from a view of mini that cannot be written (sealed.rs), which the monitor
        // would otherwise re-execute itself from: one exec instead of two.
        let view = crate::sealed::view()
            .map_err(|err| Error::System(format!("a read-only view of mini: {err}")))?;
        let mut command = std::process::Command::new(format!("/proc/self/fd/{}", view.as_raw_fd()));
        command
            .arg0(&self.exe)
            .env(crate::sealed::EXE_ENV, &self.exe)
            .args(&self.global_args)
            .arg(MONITOR_COMMAND)
            .arg(id)
            .arg("--report-fd")
            .arg("3")
            .arg("--start-lock-fd")
            .arg("5");
        if attach {
            command.arg("--attach-fd").arg("4");
        }
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .current_dir("/");
        let report_fd = report_w.as_raw_fd();
        let attach_fd = theirs.as_ref().map_or(-1, |s| s.as_raw_fd());
        let lock_fd = start_lock.as_fd().as_raw_fd();
        // SAFETY: between fork and exec the closure only calls async-signal-safe functions
        // (setsid, dup2) and touches no memory shared with other threads.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 || libc::dup2(report_fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if attach_fd >= 0 && libc::dup2(attach_fd, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::dup2(lock_fd, 5) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|err| Error::System(format!("starting the monitor: {err}")))?;
        drop(report_w);
        drop(theirs);
        Ok((child, report_r, ours))
    }

    /// `mini stop`: the stop signal, then SIGKILL after `timeout` (default: the container's
    /// `--stop-timeout`, else 10 s). Stopping a stopped container is not an error.
    pub fn stop(&self, text: &str, timeout: Option<i64>) -> Result<ContainerRecord> {
        let record = self.find(text)?;
        if !record.is_running() {
            return Ok(record);
        }
        let record = self
            .store
            .update(&record.id, |r| r.state.stopped_by_user = true)?;
        let signal = record
            .config
            .stop_signal
            .as_deref()
            .map(options::parse_signal)
            .transpose()?
            .unwrap_or(Signal::SIGTERM);
        let timeout = timeout.or(record.config.stop_timeout).unwrap_or(10);
        let monitor = record.state.monitor_pid;
        if record.state.pid > 0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(record.state.pid), signal);
        }
        self.thaw_if_paused(&record);
        let wait = Duration::from_secs(timeout.max(0) as u64);
        if !process::wait_for_exit(monitor, Some(wait)) {
            let now = self.store.load(&record.id)?;
            if now.state.pid > 0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(now.state.pid),
                    Signal::SIGKILL,
                );
            }
            process::wait_for_exit(monitor, Some(Duration::from_secs(30)));
        }
        self.get(&record.id)
    }

    /// `mini kill`: a signal (default SIGKILL) to the container's init.
    pub fn kill(&self, text: &str, signal: Signal) -> Result<ContainerRecord> {
        let record = self.find(text)?;
        if !record.is_running() || record.state.pid <= 0 {
            return Err(Error::Conflict(format!(
                "cannot kill container: {text}: container {} is not running",
                record.id
            )));
        }
        let record = self
            .store
            .update(&record.id, |r| r.state.stopped_by_user = true)?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(record.state.pid), signal)
            .map_err(|err| Error::System(format!("sending {signal} to {text}: {err}")))?;
        self.thaw_if_paused(&record);
        if signal == Signal::SIGKILL {
            process::wait_for_exit(record.state.monitor_pid, Some(Duration::from_secs(10)));
        }
        Ok(record)
    }

    /// `mini rm`: removes a stopped container (`force`: kills a running one first;
    /// `volumes`: its anonymous volumes too, as `rm -v`).
    pub fn remove(&self, text: &str, force: bool, volumes: bool) -> Result<ContainerRecord> {
        let id = self.store.resolve(text)?;
        // A start under way (its monitor launching, even if its client was killed) finishes
        // first: undoing it half way would leave what the launch makes next (its cgroup).
        let _start = Lock::acquire(&self.store.container_dir(&id).join("start.lock"))?;
        let record = self.get(&id)?;
        if record.is_running() {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    record.name
                )));
            }
            self.store
                .update(&record.id, |r| r.state.stopped_by_user = true)?;
            if record.state.pid > 0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(record.state.pid),
                    Signal::SIGKILL,
                );
            }
            self.thaw_if_paused(&record);
            process::wait_for_exit(record.state.monitor_pid, Some(Duration::from_secs(30)));
            // A `--rm` container's monitor has removed it already.
            if !self.store.record_path(&record.id).exists() {
                return Ok(record);
            }
        }
        let id = record.id.clone();
        let _lock = self.store.lock(&id)?;
        monitor::cleanup_libcontainer(&self.store, &id);
        crate::reset::remove_container_cgroup(&record.cgroup_path())?;
        // Under the container's lock: `undo`, not `disconnect`, which would take it again.
        let mut current = self.store.load(&id)?;
        crate::networking::undo(&self.store, &mut current)?;
        crate::networking::release(&self.store.root, &record)?;
        self.layers.remove_container_layer(&id)?;
        drop(_lock);
        self.store.delete(&id)?;
        if volumes {
            crate::volumes::remove_anonymous(&self.store, &record)?;
        }
        Ok(record)
    }

    /// Waits until the container is no longer running; returns its exit code.
    pub fn wait(&self, text: &str) -> Result<i32> {
        let record = self.find(text)?;
        if record.is_running() {
            process::wait_for_exit(record.state.monitor_pid, None);
        }
        match self.get(&record.id) {
            Ok(record) => Ok(record.state.exit_code),
            // `--rm` containers are gone once they end: their code went with them.
            Err(Error::Corrupt { .. }) | Err(Error::Io { .. }) => Ok(record.state.exit_code),
            Err(err) => Err(err),
        }
    }

    /// `mini rename`.
    pub fn rename(&self, text: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if !store::valid_name(new_name) {
            return Err(Error::Invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let record = self.find(text)?;
        let _names = self.store.lock_names()?;
        if let Some(other) = self.store.list()?.iter().find(|r| r.name == new_name) {
            return Err(Error::NameInUse {
                name: new_name.to_string(),
                id: other.id.clone(),
            });
        }
        self.store
            .update(&record.id, |r| r.name = new_name.to_string())?;
        Ok(())
    }

    /// `mini top`: the host pids of a running container's processes, from its cgroup (the
    /// unified hierarchy, or on a v1 host the first controller hierarchy that has it).
    pub fn processes(&self, text: &str) -> Result<Vec<i32>> {
        let record = self.find(text)?;
        if !record.is_running() {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        let path = record.cgroup_path();
        let path = path.trim_start_matches('/');
        for hierarchy in [
            "",
            "pids",
            "memory",
            "cpu,cpuacct",
            "freezer",
            "unified",
            "systemd",
        ] {
            let procs = std::path::Path::new("/sys/fs/cgroup")
                .join(hierarchy)
                .join(path)
                .join("cgroup.procs");
            if let Ok(text) = std::fs::read_to_string(&procs) {
                return Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect());
            }
        }
        Err(Error::System(format!(
            "the cgroup of container {} was not found",
            record.id
        )))
    }

    /// `mini exec`: runs a process in a running container; returns its exit code (None when
    /// detached).
    pub fn exec(&self, text: &str, options: &crate::exec::ExecOptions) -> Result<Option<i32>> {
        let record = self.find(text)?;
        if record.is_paused() {
            return Err(Error::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                record.id
            )));
        }
        if !record.is_running() || record.state.pid <= 0 {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        crate::exec::exec(&self.store, &record, options)
    }

    /// The container's layer paths, as inspect shows them (GraphDriver.Data).
    pub fn graph_data(&self, id: &str) -> Vec<(&'static str, String)> {
        self.layers
            .container_layer(id)
            .map(|layer| layer.graph_data())
            .unwrap_or_default()
    }
}

/// How `start` ended.
#[derive(Debug)]
pub enum Started {
    /// Detached: the container runs with this pid.
    Running(i32),
    /// Attached: the container runs, and this socket to its monitor was connected before it
    /// started (attach.rs speaks on it).
    Attached(std::os::unix::net::UnixStream),
    AlreadyRunning,
}

fn read_report(fd: OwnedFd) -> Option<Report> {
    let mut line = String::new();
    BufReader::new(std::fs::File::from(fd))
        .read_line(&mut line)
        .ok()?;
    serde_json::from_str(line.trim()).ok()
}

/// Whether the container's monitor is alive (and is the process that was started as it).
/// Docker's daemon-start rule: `always` restarts a container even if it was stopped by hand,
/// `unless-stopped` unless it was, `on-failure` if it last failed and has retries left (a
/// container the boot ended shows 255). Containers that never ran stay as they are.
fn starts_at_boot(record: &ContainerRecord) -> bool {
    if record.is_running() || record.state.started_at == crate::record::ZERO_TIME {
        return false;
    }
    let policy = &record.host_config.restart_policy;
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !record.state.stopped_by_user,
        "on-failure" => {
            record.state.exit_code != 0
                && (policy.maximum_retry_count == 0
                    || record.state.restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

fn monitor_alive(record: &ContainerRecord) -> bool {
    process::is_alive(
        record.state.monitor_pid,
        record.state.monitor_start,
        &record.state.boot_id,
    )
}
