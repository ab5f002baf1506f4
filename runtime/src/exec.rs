//! `mini exec`: a process that joins a running container, through libcontainer's tenant
//! builder, under the container's own security settings.
//!
//! The process is described in full here (an OCI `process.json` handed to the tenant builder):
//! the container's environment with the `-e` values over it, its capabilities, its
//! no_new_privs, the user, the working directory and, for `-t`, a terminal.
//!
//! libcontainer 0.7 builds a tenant's spec without the container's `linux.seccomp`, so an exec'd
//! process would run unfiltered. Docker (runc) filters it as it filters the container. mini
//! loads the filter itself, from the last step before `execve` (an [`Executor`]): by then
//! libcontainer has dropped the capabilities, and without no_new_privs the kernel only lets a
//! process holding CAP_SYS_ADMIN install a filter. So the process is given CAP_SYS_ADMIN and
//! CAP_SETPCAP on top of the container's set, loads the filter, and then drops to exactly the
//! container's set (bounding first, which needs CAP_SETPCAP) before it executes the command.
//! Nothing runs in between but these calls, in a process nobody else in the container can
//! trace (it holds capabilities they lack).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::wait::WaitStatus;
use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxSeccomp, Process, ProcessBuilder, Spec, UserBuilder,
};

use crate::error::{launch_error, Error, Result};
use crate::monitor::{console_socket_path, receive_master, relay_terminal};
use crate::record::ContainerRecord;
use crate::store::ContainerStore;
use crate::user;

/// What `mini exec` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    /// `KEY=VALUE`, or `KEY` to remove it (the CLI has filled in values from its environment).
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

/// Runs the process; returns its exit code (None when detached).
pub(crate) fn exec(
    store: &ContainerStore,
    record: &ContainerRecord,
    options: &ExecOptions,
) -> Result<Option<i32>> {
    let mut spec_path = store.bundle_dir(&record.id).join("config.json");
    let before = store.container_dir(&record.id).join("bundle/config.json");
    if !spec_path.exists() && before.exists() {
        // Started by a mini that kept the bundle in the container's folder.
        spec_path = before;
    }
    let spec = Spec::load(&spec_path)
        .map_err(|err| Error::System(format!("reading {}: {err}", spec_path.display())))?;
    let base = spec.process().clone().unwrap_or_default();
    // `exec -d -t` would need someone to hold the terminal after mini returns: Docker's daemon
    // does; mini has none, so a detached process gets no terminal.
    let tty = options.tty && !options.detach;
    let root = PathBuf::from(format!("/proc/{}/root", record.state.pid));
    let user_text = options.user.clone().unwrap_or(record.config.user.clone());
    let user = user::resolve(&root, &user_text)?;

    let mut env: Vec<String> = Vec::new();
    if tty {
        env.push("TERM=xterm".into());
    }
    crate::options::merge_env(&mut env, base.env().as_deref().unwrap_or_default());
    crate::options::merge_env(&mut env, &options.env);
    let cwd = options
        .workdir
        .clone()
        .or_else(|| Some(record.config.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    let invalid = |err: oci_spec::OciSpecError| Error::System(format!("exec process: {err}"));
    let mut process = ProcessBuilder::default()
        .terminal(tty)
        .args(options.command.clone())
        .env(env)
        .cwd(cwd)
        .user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids.clone())
                .build()
                .map_err(invalid)?,
        )
        .build()
        .map_err(invalid)?;
    process.set_capabilities(base.capabilities().clone());
    process.set_no_new_privileges(base.no_new_privileges());
    process.set_rlimits(base.rlimits().clone());
    process.set_oom_score_adj(base.oom_score_adj());

    let mut size = None;
    if tty {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
        if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
            size = Some(ws);
        }
    }
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let executor = Joiner::new(seccomp, &mut process, size);
    run(store, record, options, &process, executor, tty)
}

/// Hands the process to libcontainer and, unless detached, waits for it (relaying its terminal
/// for `-t`).
fn run(
    store: &ContainerStore,
    record: &ContainerRecord,
    options: &ExecOptions,
    process: &Process,
    executor: Joiner,
    tty: bool,
) -> Result<Option<i32>> {
    let token = crate::record::random_id()?;
    let token = &token[..12];
    let process_path = store.runroot.join(format!("exec-{token}.json"));
    let bytes =
        serde_json::to_vec(process).map_err(|err| Error::System(format!("exec process: {err}")))?;
    crate::access::write_private(&process_path, &bytes, crate::access::FILE_MODE)?;
    let _remove = Removal(vec![process_path.clone()]);

    let mut builder = ContainerBuilder::new(record.id.clone(), SyscallType::Linux)
        .with_root_path(store.libcontainer_root())
        .map_err(|err| Error::System(format!("libcontainer: {err}")))?;
    let null = || -> Result<OwnedFd> {
        Ok(std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(Error::io("/dev/null"))?
            .into())
    };
    let mut console = None;
    if tty {
        let path = console_socket_path(&store.runroot, &format!("exec-{token}"));
        let listener = UnixListener::bind(&path).map_err(Error::io(&path))?;
        crate::access::private_socket(&path)?;
        builder = builder.with_console_socket(Some(&path));
        console = Some((listener, Removal(vec![path])));
    } else {
        if !options.interactive || options.detach {
            builder = builder.with_stdin(null()?);
        }
        if options.detach {
            // A detached process must not hold our stdout and stderr open: whoever reads them
            // (a shell's `$(...)`, a test) would wait for it to end.
            builder = builder.with_stdout(null()?).with_stderr(null()?);
        }
    }
    let built = crate::monitor::with_default_signals(|| {
        builder
            .with_executor(executor)
            .as_tenant()
            .with_process(Some(&process_path))
            // libcontainer wants "detached" whenever a console socket is given; it changes
            // nothing else, and the process stays our child either way.
            .with_detach(options.detach || tty)
            .build()
    });
    let command = options.command.first().map_or("", String::as_str);
    let pid = built.map_err(|err| launch_error(command, &err.to_string(), true))?;
    if options.detach {
        return Ok(None);
    }
    if let Some((listener, _remove)) = console {
        let master = match receive_master(&listener) {
            Ok(master) => master,
            Err(err) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(pid, None);
                return Err(err);
            }
        };
        drop(listener);
        return Ok(Some(relay_terminal(pid, &master, options.interactive)));
    }
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(Some(128 + signal as i32)),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(Error::System(format!("waiting for the exec: {err}"))),
        }
    }
}

/// Files removed when it goes out of scope.
struct Removal(Vec<PathBuf>);

impl Drop for Removal {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The last step of a process that joins a container (`mini exec`, `mini-runc exec`) before
/// `execve`, in the container: the terminal's size, the container's seccomp filter, and the drop
/// to the process's own capabilities.
#[derive(Clone)]
pub struct Joiner {
    seccomp: Option<LinuxSeccomp>,
    /// The process's own capabilities, when it holds more to load the filter.
    caps: Option<LinuxCapabilities>,
    size: Option<libc::winsize>,
}

impl std::fmt::Debug for Joiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joiner")
            .field("seccomp", &self.seccomp.is_some())
            .field("caps", &self.caps)
            .finish()
    }
}

impl Joiner {
    /// The executor for `process`, which joins a container whose filter is `seccomp`: where the
    /// process could not load the filter itself (no no_new_privs, and it lacks CAP_SYS_ADMIN or
    /// CAP_SETPCAP), those two are added to its sets here, and the executor drops them again
    /// once the filter is in. `size` is a terminal size to set on its stdin first.
    pub fn new(
        seccomp: Option<LinuxSeccomp>,
        process: &mut Process,
        size: Option<libc::winsize>,
    ) -> Joiner {
        let own_caps = process.capabilities().clone();
        // (A process without capabilities keeps all of its caller's: it can load the filter.)
        let mut caps = own_caps.clone();
        let mut widened = false;
        if let Some(caps) = caps.as_mut().filter(|_| seccomp.is_some()) {
            let extra: Vec<Capability> = [Capability::SysAdmin, Capability::Setpcap]
                .into_iter()
                .filter(|cap| {
                    !caps
                        .effective()
                        .as_ref()
                        .is_some_and(|set| set.contains(cap))
                })
                .collect();
            if process.no_new_privileges() != Some(true) && !extra.is_empty() {
                let widen = |set: &Option<std::collections::HashSet<Capability>>| {
                    let mut set = set.clone().unwrap_or_default();
                    set.extend(extra.iter().copied());
                    Some(set)
                };
                caps.set_bounding(widen(caps.bounding()));
                caps.set_effective(widen(caps.effective()));
                caps.set_permitted(widen(caps.permitted()));
                widened = true;
            }
        }
        process.set_capabilities(caps);
        Joiner {
            seccomp,
            caps: own_caps.filter(|_| widened),
            size,
        }
    }
}

/// Rust ignores SIGPIPE, and an ignored signal stays ignored across `execve`: a container's
/// process gets the default back here, its last step before `execve` (libcontainer resets no
/// signal). Runtimes that must ignore SIGPIPE themselves (mini-runc, whose hooks may close
/// their stdin early) rely on this.
pub fn default_sigpipe() {
    // SAFETY: signal() with SIG_DFL changes only this process's disposition of SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// The init's last step: SIGPIPE back to its default, then libcontainer's own executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Init;

impl Executor for Init {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        default_sigpipe();
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)
    }

    fn setup_envs(
        &self,
        envs: HashMap<String, String>,
    ) -> std::result::Result<(), libcontainer::workload::ExecutorSetEnvsError> {
        libcontainer::workload::default::get_executor().setup_envs(envs)
    }
}

impl Executor for Joiner {
    /// The joiner's own steps, then the init's (SIGPIPE's default, libcontainer's executor).
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        if let Some(size) = &self.size {
            let stdin = std::io::stdin();
            // SAFETY: TIOCSWINSZ reads a winsize from the struct we pass.
            unsafe { libc::ioctl(stdin.as_fd().as_raw_fd(), libc::TIOCSWINSZ, size) };
        }
        if let Some(seccomp) = &self.seccomp {
            libcontainer::seccomp::initialize_seccomp(seccomp)
                .map_err(|err| ExecutorError::Other(format!("loading seccomp filter: {err}")))?;
        }
        if let Some(caps) = &self.caps {
            libcontainer::capabilities::drop_privileges(
                caps,
                &libcontainer::syscall::linux::LinuxSyscall,
            )
            .map_err(|err| ExecutorError::Other(format!("dropping capabilities: {err}")))?;
        }
        Init.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        Init.validate(spec)
    }

    fn setup_envs(
        &self,
        envs: HashMap<String, String>,
    ) -> std::result::Result<(), libcontainer::workload::ExecutorSetEnvsError> {
        Init.setup_envs(envs)
    }
}
