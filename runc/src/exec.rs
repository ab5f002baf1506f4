//! `exec`: a process that joins a running container, described by `--process FILE` (what
//! containerd and Docker pass) or by the arguments and flags, and filtered by the container's
//! seccomp profile as its init is (runtime's exec.rs: libcontainer alone would leave it
//! unfiltered). Attached, mini-runc exits with the process's code (128+N for signal N); with
//! `--detach` it returns once the process runs, and a binary that is not there fails either way.

use std::collections::HashSet;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::ContainerStatus;
use libcontainer::syscall::syscall::SyscallType;
use mini_runtime::exec::Joiner;
use nix::sys::wait::{waitpid, WaitStatus};
use oci_spec::runtime::{Capability, Process, Spec};

use crate::commands::{absolute, load, status_name};
use crate::Globals;

pub fn exec(globals: &Globals, args: liboci_cli::Exec) -> Result<i32> {
    let id = &args.container_id;
    let container = load(globals, id)?;
    match container.status() {
        ContainerStatus::Running => {}
        ContainerStatus::Paused if args.ignore_paused => {}
        ContainerStatus::Paused => {
            bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        ContainerStatus::Stopped => bail!("cannot exec in a stopped container"),
        other => bail!(
            "cannot exec in a container that is not running: {}",
            status_name(other)
        ),
    }
    let config = container.bundle().join("config.json");
    let spec = Spec::load(&config)
        .map_err(|err| anyhow!("reading the container's spec {}: {err}", config.display()))?;
    let mut process = match &args.process {
        Some(path) => {
            let text = std::fs::read_to_string(absolute(path))
                .with_context(|| format!("reading the process {}", path.display()))?;
            serde_json::from_str::<Process>(&text)
                .with_context(|| format!("the process {} is not valid", path.display()))?
        }
        None => from_flags(&spec, &args)?,
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("exec args cannot be empty");
    }
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let executor = Joiner::new(seccomp, &mut process, None);

    // The process goes to libcontainer as a file of the container's own state folder.
    let token = format!("{}-{}", std::process::id(), nanos());
    let process_path = globals.root.join(id).join(format!("exec-{token}.json"));
    let bytes = serde_json::to_vec(&process)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&process_path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &bytes))
        .with_context(|| format!("writing {}", process_path.display()))?;
    let _remove = Removal(process_path.clone());

    let console_socket = args.console_socket.as_ref().map(|p| absolute(p));
    let built = ContainerBuilder::new(id.clone(), SyscallType::Linux)
        .with_executor(executor)
        .with_root_path(&globals.root)
        .map_err(|err| anyhow!("{err}"))?
        .with_console_socket(console_socket.as_ref())
        .with_pid_file(args.pid_file.as_ref().map(|p| absolute(p)))
        .map_err(|err| anyhow!("{err}"))?
        .with_preserved_fds(args.preserve_fds)
        .as_tenant()
        .with_process(Some(&process_path))
        // libcontainer wants "detached" whenever a console socket is given; the process stays
        // this one's child either way, and is waited for unless --detach.
        .with_detach(args.detach || console_socket.is_some())
        .with_ignore_paused(args.ignore_paused)
        .build();
    let pid = built.map_err(|err| anyhow!("{err}"))?;
    if args.detach {
        return Ok(0);
    }
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => bail!("waiting for the process: {err}"),
        }
    }
}

/// The process runc makes from `exec`'s arguments: the container's own process with the
/// command, environment, working directory, user, terminal and capabilities given.
fn from_flags(spec: &Spec, args: &liboci_cli::Exec) -> Result<Process> {
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(args.command.clone()));
    let mut env = process.env().clone().unwrap_or_default();
    for (key, value) in &args.env {
        env.retain(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) != key);
        env.push(format!("{key}={value}"));
    }
    process.set_env(Some(env));
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    process.set_terminal(Some(args.tty));
    if let Some((uid, gid)) = args.user {
        let mut user = process.user().clone();
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
        process.set_user(user);
    }
    if !args.additional_gids.is_empty() {
        let mut user = process.user().clone();
        user.set_additional_gids(Some(args.additional_gids.clone()));
        process.set_user(user);
    }
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if !args.cap.is_empty() {
        let mut caps = process.capabilities().clone().unwrap_or_default();
        let added: Vec<Capability> = args
            .cap
            .iter()
            .map(|name| {
                serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase()))
                    .map_err(|_| anyhow!("unknown capability {name:?}"))
            })
            .collect::<Result<_>>()?;
        let with = |set: &Option<HashSet<Capability>>| {
            let mut set = set.clone().unwrap_or_default();
            set.extend(added.iter().copied());
            Some(set)
        };
        caps.set_bounding(with(caps.bounding()));
        caps.set_effective(with(caps.effective()));
        caps.set_permitted(with(caps.permitted()));
        // Ambient capabilities need inheritable ones; runc adds them only where the spec has
        // those.
        if caps.inheritable().is_some() {
            caps.set_ambient(with(caps.ambient()));
        }
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// A file removed when it goes out of scope.
struct Removal(PathBuf);

impl Drop for Removal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
