//! The container's life: create, start, run, kill, delete, pause, resume, ps, update, events.
//! libcontainer does the work; what is here is runc's contract around it: its error messages
//! (containerd and Docker match on "does not exist" and "not running"), which states allow what,
//! and `kill` for every signal runc takes.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager, FreezerState};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use crate::{EventsArgs, Globals, KillArgs};

/// `path` against the working directory, as runc resolves every path it is given.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// An id libcontainer takes (and that cannot lead out of the root).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
}

fn not_found(id: &str) -> anyhow::Error {
    anyhow!("container \"{id}\" does not exist")
}

/// Whether the root holds a container of that id.
pub fn exists(globals: &Globals, id: &str) -> bool {
    valid_id(id) && globals.root.join(id).join("state.json").exists()
}

/// The container of that id, its status read from the kernel.
pub fn load(globals: &Globals, id: &str) -> Result<Container> {
    if !exists(globals, id) {
        return Err(not_found(id));
    }
    Container::load(globals.root.join(id)).map_err(|err| {
        if globals.root.join(id).join("state.json").exists() {
            anyhow!("reading the state of container \"{id}\": {err}")
        } else {
            not_found(id)
        }
    })
}

/// The root folder, made (0700) if needed.
fn prepare_root(globals: &Globals) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&globals.root)
        .with_context(|| format!("creating the root {}", globals.root.display()))
}

/// What `create` and `run` share.
struct Launch<'a> {
    id: &'a str,
    bundle: &'a Path,
    pid_file: Option<&'a PathBuf>,
    console_socket: Option<&'a PathBuf>,
    preserve_fds: i32,
    no_pivot: bool,
    detach: bool,
}

/// Checks what runc checks before anything is made: the id, the bundle's config.json, an id
/// in use.
fn check_new(globals: &Globals, id: &str, bundle: &Path) -> Result<()> {
    if !valid_id(id) {
        bail!("invalid container id format: {id}");
    }
    let config = bundle.join("config.json");
    if !config.is_file() {
        bail!(
            "the bundle has no spec: open {}: no such file or directory",
            config.display()
        );
    }
    if globals.root.join(id).exists() {
        bail!("container with id exists: {id}");
    }
    Ok(())
}

fn build(globals: &Globals, launch: &Launch) -> Result<Container> {
    let bundle = absolute(launch.bundle);
    check_new(globals, launch.id, &bundle)?;
    prepare_root(globals)?;
    let builder = ContainerBuilder::new(launch.id.to_string(), SyscallType::Linux)
        .with_executor(mini_runtime::exec::Init)
        .with_root_path(&globals.root)
        .map_err(|err| anyhow!("{err}"))?
        .with_pid_file(launch.pid_file.map(|p| absolute(p)))
        .map_err(|err| anyhow!("{err}"))?
        .with_console_socket(launch.console_socket.map(|p| absolute(p)))
        .with_preserved_fds(launch.preserve_fds)
        .validate_id()
        .map_err(|err| anyhow!("{err}"))?;
    let built = builder
        .as_init(&bundle)
        .with_systemd(false)
        .with_detach(launch.detach)
        .with_no_pivot(launch.no_pivot)
        .build();
    match built.map_err(|err| anyhow!("{err}")).and_then(|container| {
        disable_oom_killer(&bundle, &container)?;
        Ok(container)
    }) {
        Ok(container) => Ok(container),
        Err(err) => {
            // libcontainer removes most of what it made; the state folder may stay.
            remove_leftovers(globals, launch.id);
            Err(err)
        }
    }
}

/// `linux.resources.memory.disableOOMKiller`: libcontainer 0.7 applies the memory limits but
/// never this (it passes `false` to the cgroup manager), so it is applied here, before the
/// container starts (cgroup v1's memory.oom_control; v2 has no such switch).
fn disable_oom_killer(bundle: &Path, container: &Container) -> Result<()> {
    let spec = oci_spec::runtime::Spec::load(bundle.join("config.json"))
        .map_err(|err| anyhow!("reading the bundle's spec: {err}"))?;
    let Some(resources) = spec.linux().as_ref().and_then(|l| l.resources().clone()) else {
        return Ok(());
    };
    let wanted = resources
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        == Some(true);
    if !wanted {
        return Ok(());
    }
    cgroup(container)?
        .apply(&libcgroups::common::ControllerOpt {
            resources: &resources,
            disable_oom_killer: true,
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|err| anyhow!("disabling the OOM killer: {err}"))
}

/// What a failed create left: its processes, cgroup and state folder.
fn remove_leftovers(globals: &Globals, id: &str) {
    let dir = globals.root.join(id);
    if !dir.exists() {
        return;
    }
    if let Ok(mut container) = Container::load(dir.clone()) {
        let _ = container.delete(true);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

pub fn create(globals: &Globals, args: liboci_cli::Create) -> Result<()> {
    build(
        globals,
        &Launch {
            id: &args.container_id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_ref(),
            console_socket: args.console_socket.as_ref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            detach: true,
        },
    )?;
    Ok(())
}

pub fn start(globals: &Globals, id: &str) -> Result<()> {
    let mut container = load(globals, id)?;
    match container.status() {
        ContainerStatus::Created => container.start().map_err(|err| anyhow!("{err}")),
        ContainerStatus::Stopped => bail!("cannot start a container that has stopped"),
        ContainerStatus::Running => bail!("cannot start an already running container"),
        other => bail!(
            "cannot start a container in the {} state",
            status_name(other)
        ),
    }
}

/// runc's name of a status.
pub fn status_name(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

/// `run`: create and start; attached, wait for the init process (forwarding signals to it),
/// remove the container unless `--keep`, and exit with its code (128+N for signal N).
pub fn run(globals: &Globals, args: liboci_cli::Run) -> Result<i32> {
    if !args.detach {
        // The container's init is a grandchild: as a subreaper it becomes ours to wait for.
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer and changes only this
        // process's attribute.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let mut container = build(
        globals,
        &Launch {
            id: &args.container_id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_ref(),
            console_socket: args.console_socket.as_ref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            detach: args.detach,
        },
    )?;
    // Signals wait for the loop below (blocked before the container runs, so none is lost).
    let all = SigSet::all();
    if !args.detach {
        all.thread_block().context("blocking signals")?;
    }
    if let Err(err) = container.start() {
        let _ = container.delete(true);
        bail!("{err}");
    }
    if args.detach {
        return Ok(0);
    }
    let pid = container
        .pid()
        .ok_or_else(|| anyhow!("libcontainer did not report the container's pid"))?;
    let code = foreground(pid, &all);
    if !args.keep {
        let mut container = load(globals, &args.container_id)?;
        container.delete(true).map_err(|err| anyhow!("{err}"))?;
    }
    code
}

/// Waits for `init`, forwarding the signals this process receives to it.
fn foreground(init: Pid, signals: &SigSet) -> Result<i32> {
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        match signal {
            Signal::SIGCHLD => loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(code),
                    Ok(WaitStatus::Signaled(pid, signal, _)) if pid == init => {
                        return Ok(128 + signal as i32)
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            },
            // The terminal's size is the container's own business when it has no pty of ours.
            Signal::SIGWINCH | Signal::SIGURG => {}
            other => {
                let _ = nix::sys::signal::kill(init, other);
            }
        }
    }
}

/// The cgroup manager of a container.
pub fn cgroup(container: &Container) -> Result<AnyCgroupManager> {
    let config = container.spec().map_err(|err| anyhow!("{err}"))?;
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: container.id().to_string(),
    })
    .map_err(|err| anyhow!("the container's cgroup: {err}"))
}

/// Every process in the container's cgroup.
pub fn pids(container: &Container) -> Result<Vec<Pid>> {
    cgroup(container)?
        .get_all_pids()
        .map_err(|err| anyhow!("listing the container's processes: {err}"))
}

/// `kill`: the signal to the init process, or with `--all` to every process of the container
/// (frozen meanwhile, so that none forks past it). A stopped container takes no signal ("container
/// not running"), but `--all` on it succeeds, signalling what is left in its cgroup.
pub fn kill(globals: &Globals, args: &KillArgs) -> Result<()> {
    let signal = crate::signals::parse(&args.signal)?;
    let container = load(globals, &args.container_id)?;
    let stopped = container.status() == ContainerStatus::Stopped;
    if stopped && !args.all {
        bail!("container not running");
    }
    let send = |pid: Pid| -> Result<()> {
        // SAFETY: kill takes a pid and a signal number; it touches no memory of ours.
        if unsafe { libc::kill(pid.as_raw(), signal) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        Err(anyhow!("signalling process {pid}: {err}"))
    };
    if !args.all {
        let pid = container
            .pid()
            .ok_or_else(|| anyhow!("container not running"))?;
        send(pid)?;
        if signal == libc::SIGKILL && container.status() == ContainerStatus::Paused {
            // A frozen process takes SIGKILL only once thawed (cgroup v1).
            let _ = cgroup(&container)?.freeze(FreezerState::Thawed);
        }
        return Ok(());
    }
    let manager = match cgroup(&container) {
        Ok(manager) => manager,
        Err(_) if stopped => return Ok(()),
        Err(err) => return Err(err),
    };
    let paused = container.status() == ContainerStatus::Paused;
    let _ = manager.freeze(FreezerState::Frozen);
    let listed = manager.get_all_pids();
    let result = match listed {
        Ok(pids) => pids.into_iter().try_for_each(send),
        Err(_) if stopped => Ok(()),
        Err(err) => Err(anyhow!("listing the container's processes: {err}")),
    };
    if !paused || signal == libc::SIGKILL {
        let _ = manager.freeze(FreezerState::Thawed);
    }
    result
}

/// `delete`: a stopped or created container goes (a created one is killed first); a running or
/// paused one only with `--force`. `--force` on a missing one succeeds.
pub fn delete(globals: &Globals, id: &str, force: bool) -> Result<()> {
    if !exists(globals, id) {
        if force {
            return Ok(());
        }
        return Err(not_found(id));
    }
    let mut container = load(globals, id)?;
    let status = container.status();
    if !force && matches!(status, ContainerStatus::Running | ContainerStatus::Paused) {
        bail!(
            "cannot delete container {id} that is not stopped: {}",
            status_name(status)
        );
    }
    let deleted = container.delete(true);
    // The state folder goes even where libcontainer stopped half way.
    let _ = std::fs::remove_dir_all(globals.root.join(id));
    match deleted {
        Ok(()) => Ok(()),
        // A failing poststop hook is warned about, and the delete goes on (runtime-spec).
        Err(libcontainer::error::LibcontainerError::Hook(err)) => {
            eprintln!("mini-runc: warning: a poststop hook of container {id} failed: {err}");
            Ok(())
        }
        Err(err) => Err(anyhow!("deleting container {id}: {err}")),
    }
}

pub fn pause(globals: &Globals, id: &str) -> Result<()> {
    let mut container = load(globals, id)?;
    match container.status() {
        ContainerStatus::Running => container.pause().map_err(|err| anyhow!("{err}")),
        _ => bail!("container not running"),
    }
}

pub fn resume(globals: &Globals, id: &str) -> Result<()> {
    let mut container = load(globals, id)?;
    match container.status() {
        ContainerStatus::Paused => container.resume().map_err(|err| anyhow!("{err}")),
        _ => bail!("container not paused"),
    }
}

/// `ps`: the container's processes, as a JSON list of pids or as `ps` prints them.
pub fn ps(globals: &Globals, args: &liboci_cli::Ps) -> Result<()> {
    let container = load(globals, &args.container_id)?;
    let pids: Vec<i32> = if container.status() == ContainerStatus::Stopped {
        Vec::new()
    } else {
        pids(&container)?.iter().map(|p| p.as_raw()).collect()
    };
    match args.format.as_str() {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(())
        }
        "table" => {
            let options = if args.ps_options.is_empty() {
                vec!["-ef".to_string()]
            } else {
                args.ps_options.clone()
            };
            let out = std::process::Command::new("ps")
                .args(&options)
                .output()
                .context("running ps")?;
            if !out.status.success() {
                bail!("ps: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let column = header
                .split_whitespace()
                .position(|title| title == "PID")
                .ok_or_else(|| anyhow!("ps's output has no PID column"))?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(column)
                    .and_then(|p| p.parse().ok());
                if pid.is_some_and(|pid: i32| pids.contains(&pid)) {
                    println!("{line}");
                }
            }
            Ok(())
        }
        other => bail!("invalid format option: {other}"),
    }
}

/// `update`: new resource limits, from `--resources FILE|-` (an OCI `linux.resources`) or from
/// the flags, applied to the container's cgroup.
pub fn update(globals: &Globals, args: &liboci_cli::Update) -> Result<()> {
    let container = load(globals, &args.container_id)?;
    if container.status() == ContainerStatus::Stopped {
        bail!("container not running");
    }
    let resources: LinuxResources = match &args.resources {
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?
            };
            serde_json::from_str(&text).context("the resources are not valid JSON")?
        }
        None => resources_from_flags(args)?,
    };
    cgroup(&container)?
        .apply(&libcgroups::common::ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|err| anyhow!("updating the container's cgroup: {err}"))
}

fn resources_from_flags(args: &liboci_cli::Update) -> Result<LinuxResources> {
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
        LinuxResourcesBuilder,
    };
    let invalid = |err: oci_spec::OciSpecError| anyhow!("{err}");
    let mut resources = LinuxResourcesBuilder::default();
    let mut cpu = LinuxCpuBuilder::default();
    let mut cpu_set = false;
    if let Some(v) = args.cpu_period {
        cpu = cpu.period(v);
        cpu_set = true;
    }
    if let Some(v) = args.cpu_quota {
        cpu = cpu.quota(v as i64);
        cpu_set = true;
    }
    if let Some(v) = args.cpu_share {
        cpu = cpu.shares(v);
        cpu_set = true;
    }
    if let Some(v) = args.cpu_rt_period {
        cpu = cpu.realtime_period(v);
        cpu_set = true;
    }
    if let Some(v) = args.cpu_rt_runtime {
        cpu = cpu.realtime_runtime(v as i64);
        cpu_set = true;
    }
    if let Some(v) = &args.cpuset_cpus {
        cpu = cpu.cpus(v.clone());
        cpu_set = true;
    }
    if let Some(v) = &args.cpuset_mems {
        cpu = cpu.mems(v.clone());
        cpu_set = true;
    }
    if cpu_set {
        resources = resources.cpu(cpu.build().map_err(invalid)?);
    }
    let mut memory = LinuxMemoryBuilder::default();
    let mut memory_set = false;
    if let Some(v) = args.memory {
        memory = memory.limit(v as i64);
        memory_set = true;
    }
    if let Some(v) = args.memory_reservation {
        memory = memory.reservation(v as i64);
        memory_set = true;
    }
    if let Some(v) = args.memory_swap {
        memory = memory.swap(v);
        memory_set = true;
    }
    if memory_set {
        resources = resources.memory(memory.build().map_err(invalid)?);
    }
    if let Some(v) = args.pids_limit {
        resources = resources.pids(
            LinuxPidsBuilder::default()
                .limit(v)
                .build()
                .map_err(invalid)?,
        );
    }
    if let Some(v) = args.blkio_weight {
        let weight = u16::try_from(v).map_err(|_| anyhow!("invalid blkio weight: {v}"))?;
        resources = resources.block_io(
            LinuxBlockIoBuilder::default()
                .weight(weight)
                .build()
                .map_err(invalid)?,
        );
    }
    resources.build().map_err(invalid)
}

/// `events --stats` (once) or `events` (every interval): runc's stats events, from the cgroup.
pub fn events(globals: &Globals, args: &EventsArgs) -> Result<()> {
    let interval = parse_duration(&args.interval)?;
    let container = load(globals, &args.container_id)?;
    if container.status() == ContainerStatus::Stopped {
        bail!("container with id {} is not running", args.container_id);
    }
    let manager = cgroup(&container)?;
    loop {
        let stats = manager
            .stats()
            .map_err(|err| anyhow!("reading the container's stats: {err}"))?;
        let event = serde_json::json!({
            "type": "stats",
            "id": args.container_id,
            "data": crate::state::stats_json(&stats),
        });
        println!("{event}");
        if args.stats {
            return Ok(());
        }
        std::thread::sleep(interval);
        if load(globals, &args.container_id)?.status() == ContainerStatus::Stopped {
            return Ok(());
        }
    }
}

/// A Go duration as runc takes it: `5s`, `500ms`, `1m`, `1h`.
fn parse_duration(text: &str) -> Result<std::time::Duration> {
    let invalid = || anyhow!("invalid interval: {text}");
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "ns" => number / 1e9,
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(invalid()),
    };
    if seconds <= 0.0 {
        return Err(invalid());
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_leave_the_root_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x\n"] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        for good in ["a", "0a0dd95a51e8", "k8s_pod-1.2+x"] {
            assert!(valid_id(good), "{good:?}");
        }
    }

    #[test]
    fn intervals_are_go_durations() {
        assert_eq!(parse_duration("5s").unwrap().as_millis(), 5000);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("1m").unwrap().as_secs(), 60);
        assert_eq!(parse_duration("1.5s").unwrap().as_millis(), 1500);
        for bad in ["5", "s", "0s", "-1s", "5x", ""] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
