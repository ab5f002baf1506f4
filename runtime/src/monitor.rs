//! The per-container monitor: mini re-executed as `mini __monitor ID` (like conmon). It is the
//! one process that launches the container through libcontainer, single-threaded, and stays the
//! parent of the container's init to learn its exit code. It copies the container's output into
//! the json-file log (and to the attached terminal for `run` without `-d`), holds the pty master
//! for `-t`, applies the restart policy, and tears down (cgroup, libcontainer state, rootfs
//! mount) when the container ends for good.
//!
//! It tells the `mini` that started it how the launch went through a pipe (`--report-fd`): one
//! JSON line, `{"pid":N}` or `{"error":"...","code":127}`.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use mini_storage::LayerStore;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{launch_error, Error, Result};
use crate::logs;
use crate::process;
use crate::record::ContainerRecord;
use crate::store::ContainerStore;

/// What the monitor tells the `mini` that started it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub code: u8,
}

/// Runs the monitor for container `id` until the container ends for good; returns its exit
/// code. `attach`: copy output to our own stdout/stderr and our stdin to the container.
pub fn run(store: &ContainerStore, id: &str, attach: bool, report: Option<OwnedFd>) -> i32 {
    let mut report = report.map(std::fs::File::from);
    // A terminal that goes away must not take the container with it.
    // SAFETY: setting a signal's disposition to ignore has no preconditions.
    unsafe {
        let _ = nix::sys::signal::signal(Signal::SIGHUP, nix::sys::signal::SigHandler::SigIgn);
    }
    let layers = match LayerStore::open(&store.root.join("overlay")) {
        Ok(layers) => layers,
        Err(err) => {
            send(&mut report, failure(&Error::from(err)));
            return 125;
        }
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let record = match store.load(id) {
            Ok(record) => record,
            Err(err) => {
                send(&mut report, failure(&err));
                return 125;
            }
        };
        let launched = launch(store, &record, attach);
        let mut running = match launched {
            Ok(running) => running,
            Err(err) => {
                let code = err.exit_code();
                let message = err.to_string();
                cleanup_libcontainer(store, id);
                if report.is_some() {
                    // The first launch: `mini start` shows the error and the record keeps it.
                    let _ = store.update(id, |r| {
                        r.state.status = if r.state.started_at == crate::record::ZERO_TIME {
                            "created".into()
                        } else {
                            "exited".into()
                        };
                        r.state.error = message.clone();
                        r.state.exit_code = code as i32;
                        r.state.pid = 0;
                        r.state.monitor_pid = 0;
                    });
                    // Undone before the report: `mini start` returns to a clean host.
                    let _ = crate::networking::disconnect(store, id);
                    release_rootfs(store, &layers, id);
                    send(&mut report, failure(&err));
                    return code as i32;
                }
                return finish(store, &layers, id, code as i32, false, Some(message));
            }
        };
        let pid = running.pid;
        let me = std::process::id() as i32;
        let updated = store.update(id, |r| {
            r.state.status = "running".into();
            r.state.pid = pid.as_raw();
            r.state.started_at = logs::now();
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.monitor_pid = me;
            r.state.monitor_start = process::start_time(me).unwrap_or(0);
            r.state.boot_id = process::boot_id();
        });
        if let Err(err) = updated {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            send(&mut report, failure(&err));
            cleanup_libcontainer(store, id);
            release_rootfs(store, &layers, id);
            return 125;
        }
        send(
            &mut report,
            Report {
                pid: Some(pid.as_raw()),
                error: None,
                code: 0,
            },
        );
        report = None;

        let started = Instant::now();
        let log = logs::Writer::open(&store.log_path(id)).ok();
        let forward_stdin = attach && record.config.open_stdin;
        let code = running.relay(log, attach, forward_stdin);
        let Ok(record) = store.load(id) else {
            cleanup_libcontainer(store, id);
            return code;
        };
        // Read before the cgroup goes with libcontainer's state.
        let oom = oom_killed(&record.cgroup_path());
        cleanup_libcontainer(store, id);
        if !should_restart(&record, code) {
            return finish(store, &layers, id, code, oom, None);
        }
        // A container that ran for a while starts its backoff over, as Docker's does.
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        let _ = store.update(id, |r| {
            r.state.status = "restarting".into();
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = oom;
            r.state.finished_at = logs::now();
            r.state.restart_count += 1;
        });
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(60));
        // `mini stop` during the backoff wins.
        if store.load(id).map_or(true, |r| r.state.stopped_by_user) {
            return finish(store, &layers, id, code, oom, None);
        }
    }
}

/// Docker's restart policies. `stopped_by_user` (stop, kill) ends every policy but `always`'s
/// and `unless-stopped`'s next daemon start, which mini has no daemon for.
fn should_restart(record: &ContainerRecord, code: i32) -> bool {
    if record.state.stopped_by_user || record.host_config.auto_remove {
        return false;
    }
    let policy = &record.host_config.restart_policy;
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            code != 0
                && (policy.maximum_retry_count == 0
                    || record.state.restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// The container has ended for good: unmount, record, and remove it if `--rm` said so. Returns
/// its exit code.
fn finish(
    store: &ContainerStore,
    layers: &LayerStore,
    id: &str,
    code: i32,
    oom: bool,
    error: Option<String>,
) -> i32 {
    let _ = crate::networking::disconnect(store, id);
    release_rootfs(store, layers, id);
    let record = store.update(id, |r| {
        r.state.status = "exited".into();
        r.state.pid = 0;
        r.state.exit_code = code;
        r.state.oom_killed = oom;
        r.state.finished_at = logs::now();
        r.state.monitor_pid = 0;
        if let Some(error) = &error {
            r.state.error = error.clone();
        }
    });
    if let Some(record) = record.ok().filter(|r| r.host_config.auto_remove) {
        let record = &record;
        let _ = crate::networking::release(&store.root, record);
        let _ = layers.remove_container_layer(id);
        let _ = store.delete(id);
        let _ = crate::volumes::remove_anonymous(store, record);
    }
    code
}

/// Unmounts the container's root and removes its OCI bundle: what a container holds while it
/// runs, apart from its network and libcontainer's state.
pub(crate) fn release_rootfs(store: &ContainerStore, layers: &LayerStore, id: &str) {
    let _ = layers.unmount_container_layer(id);
    let _ = std::fs::remove_dir_all(store.bundle_dir(id));
}

/// Removes libcontainer's state and the container's cgroup, killing what is left in it.
pub fn cleanup_libcontainer(store: &ContainerStore, id: &str) {
    let dir = store.libcontainer_root().join(id);
    if !dir.exists() {
        return;
    }
    match Container::load(dir.clone()) {
        Ok(mut container) => {
            let _ = container.delete(true);
        }
        Err(_) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the kernel's OOM killer killed a process in `cgroup` (cgroup v1 or v2).
fn oom_killed(cgroup: &str) -> bool {
    let files = [
        format!("/sys/fs/cgroup/memory{cgroup}/memory.oom_control"),
        format!("/sys/fs/cgroup{cgroup}/memory.events"),
    ];
    files.iter().any(|file| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

fn failure(err: &Error) -> Report {
    Report {
        pid: None,
        error: Some(err.to_string()),
        code: err.exit_code(),
    }
}

fn send(report: &mut Option<std::fs::File>, message: Report) {
    if let Some(file) = report.as_mut() {
        let mut line = serde_json::to_string(&message).expect("reports serialize");
        line.push('\n');
        let _ = file.write_all(line.as_bytes());
    }
}

/// Where the container's output comes from.
#[derive(Debug)]
enum Output {
    /// stdout and stderr pipes; `stdin` is the write end kept open for `-i` without a terminal
    /// when nobody is attached, so that the container's stdin stays open as Docker keeps it.
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        _stdin: Option<OwnedFd>,
    },
    /// The pty master of a `-t` container.
    Terminal { master: OwnedFd },
}

/// A launched container, or a process `mini exec -t` started in one.
#[derive(Debug)]
pub(crate) struct Running {
    pid: Pid,
    output: Output,
}

/// Creates and starts the container with libcontainer.
fn launch(store: &ContainerStore, record: &ContainerRecord, attach: bool) -> Result<Running> {
    let id = &record.id;
    let lc_root = store.libcontainer_root();
    std::fs::create_dir_all(&lc_root).map_err(Error::io(&lc_root))?;
    cleanup_libcontainer(store, id);

    let system = |what: &str| {
        let what = what.to_string();
        move |err: nix::Error| Error::System(format!("{what}: {err}"))
    };
    let mut builder = ContainerBuilder::new(id.clone(), SyscallType::Linux)
        .with_root_path(&lc_root)
        .map_err(|err| Error::System(format!("libcontainer: {err}")))?;
    let mut console: Option<(UnixListener, PathBuf)> = None;
    let mut keep = None;
    let pipes = if record.config.tty {
        let path = console_socket_path(&store.runroot, record.short_id());
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(Error::io(&path))?;
        builder = builder.with_console_socket(Some(&path));
        console = Some((listener, path));
        None
    } else {
        let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(system("creating the stdout pipe"))?;
        let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(system("creating the stderr pipe"))?;
        let stdin: OwnedFd = if record.config.open_stdin && attach {
            std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(Error::io("stdin"))?
        } else if record.config.open_stdin {
            let (in_r, in_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(system("creating the stdin pipe"))?;
            keep = Some(in_w);
            in_r
        } else {
            std::fs::File::open("/dev/null")
                .map_err(Error::io("/dev/null"))?
                .into()
        };
        builder = builder
            .with_stdin(stdin)
            .with_stdout(out_w)
            .with_stderr(err_w);
        Some((out_r, err_r))
    };

    let bundle = store.bundle_dir(id);
    let built = with_default_signals(|| {
        builder
            .as_init(&bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
    });
    let mut container = built.map_err(|err| launch_error(&record.path, &err.to_string(), false))?;
    let pid = container
        .pid()
        .ok_or_else(|| Error::System("libcontainer did not report the container's pid".into()))?;
    let output = match (pipes, console) {
        (Some((stdout, stderr)), _) => Output::Pipes {
            stdout,
            stderr,
            _stdin: keep,
        },
        (None, Some((listener, path))) => {
            let master = receive_master(&listener);
            let _ = std::fs::remove_file(&path);
            Output::Terminal { master: master? }
        }
        (None, None) => unreachable!("a container has pipes or a terminal"),
    };
    // libcontainer leaves a new network namespace's loopback down; Docker's containers have it
    // up. (Host-network containers share the host's.)
    let mode = record.host_config.network_mode.as_str();
    if mode != "host"
        && !mode.starts_with("container:")
        && record.network_settings.endpoints.is_empty()
    {
        if let Err(err) = mini_network::netns::loopback_up(pid.as_raw()) {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Err(Error::System(format!(
                "bringing up loopback in the container: {err}"
            )));
        }
    }
    if let Err(err) = container.start() {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(launch_error(&record.path, &err.to_string(), false));
    }
    Ok(Running { pid, output })
}

/// Runs `f` with SIGPIPE at its default and no signal blocked, so that the container's process,
/// which libcontainer forks from this one, starts as a process started from a shell would (Rust
/// ignores SIGPIPE, and that would be inherited through exec).
fn with_default_signals<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::signal::{sigprocmask, SigHandler, SigmaskHow};
    let mut old_mask = SigSet::empty();
    let _ = sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        Some(&mut old_mask),
    );
    // SAFETY: restoring a signal's default disposition has no preconditions.
    let old_pipe = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    let result = f();
    if let Ok(old_pipe) = old_pipe {
        // SAFETY: as above; this puts back what was there.
        unsafe {
            let _ = nix::sys::signal::signal(Signal::SIGPIPE, old_pipe);
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    result
}

/// Accepts libcontainer's connection on the console socket and takes the pty master from it.
pub(crate) fn receive_master(listener: &UnixListener) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    listener
        .set_nonblocking(true)
        .map_err(Error::io("console socket"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(Error::System("the container sent no terminal".into()));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(err) => return Err(Error::io("console socket")(err)),
        }
    };
    stream
        .set_nonblocking(false)
        .map_err(Error::io("console socket"))?;
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|err| Error::System(format!("receiving the terminal: {err}")))?;
    for cmsg in message
        .cmsgs()
        .map_err(|err| Error::System(format!("receiving the terminal: {err}")))?
    {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel installed this descriptor in our table for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(Error::System("the container sent no terminal".into()))
}

impl Running {
    /// A process of ours (`pid`, a child) on the terminal whose master is `master`.
    pub(crate) fn terminal(pid: Pid, master: OwnedFd) -> Running {
        Running {
            pid,
            output: Output::Terminal { master },
        }
    }

    /// Copies output (into `log` when given, and to our stdout/stderr when `attach`) until the
    /// process exits; returns Docker's exit code for it (the code, or 128 + the signal that
    /// killed it). `forward_stdin`: our stdin goes to its terminal, ours set raw meanwhile.
    pub(crate) fn relay(
        &mut self,
        mut log: Option<logs::Writer>,
        attach: bool,
        forward_stdin: bool,
    ) -> i32 {
        let pidfd = process::pidfd(self.pid.as_raw());
        let stdin = std::io::stdin();
        let attached_terminal = attach && matches!(self.output, Output::Terminal { .. });
        let mut saved_termios = None;
        if attached_terminal {
            if let Output::Terminal { master } = &self.output {
                copy_window_size(stdin.as_fd(), master.as_fd());
            }
            if forward_stdin {
                saved_termios = make_raw(stdin.as_fd());
            }
        }
        let signals = if attach { attach_signals() } else { None };
        let mut stdin_open = attached_terminal && forward_stdin;
        // A terminal has one stream: stdout and stderr both come through the pty master.
        let mut outputs_open = [true, !matches!(self.output, Output::Terminal { .. })];
        let mut attached_out = attach;
        let mut status = None;
        let mut drain_deadline: Option<Instant> = None;

        loop {
            if let Some(deadline) = drain_deadline {
                if Instant::now() >= deadline || outputs_open == [false, false] {
                    break;
                }
            }
            let (sources, pollers): (Vec<Source>, Vec<BorrowedFd>) = {
                let mut list: Vec<(Source, BorrowedFd)> = Vec::new();
                match &self.output {
                    Output::Pipes { stdout, stderr, .. } => {
                        if outputs_open[0] {
                            list.push((Source::Out(0), stdout.as_fd()));
                        }
                        if outputs_open[1] {
                            list.push((Source::Out(1), stderr.as_fd()));
                        }
                    }
                    Output::Terminal { master } => {
                        if outputs_open[0] {
                            list.push((Source::Out(0), master.as_fd()));
                        }
                    }
                }
                if stdin_open && drain_deadline.is_none() {
                    list.push((Source::Stdin, stdin.as_fd()));
                }
                if let (Some(fd), None) = (&pidfd, status) {
                    list.push((Source::Exit, fd.as_fd()));
                }
                if let Some(signals) = &signals {
                    // SAFETY: the signalfd lives as long as `signals`, beyond this iteration.
                    list.push((Source::Signal, unsafe {
                        BorrowedFd::borrow_raw(signals.as_raw_fd())
                    }));
                }
                list.into_iter().unzip()
            };
            let mut fds: Vec<PollFd> = pollers
                .iter()
                .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            let timeout = match (drain_deadline, pidfd.is_none()) {
                (Some(_), _) => PollTimeout::from(50u16),
                (None, true) => PollTimeout::from(100u16),
                (None, false) => PollTimeout::NONE,
            };
            match poll(&mut fds, timeout) {
                Ok(0) => {
                    if pidfd.is_none() && status.is_none() {
                        status = try_wait(self.pid);
                        if status.is_some() {
                            drain_deadline = Some(Instant::now() + Duration::from_millis(500));
                        }
                    } else if drain_deadline.is_some() {
                        break;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let ready: Vec<(Source, PollFlags)> = fds
                .iter()
                .zip(&sources)
                .filter_map(|(fd, source)| {
                    let events = fd.revents().unwrap_or(PollFlags::empty());
                    (!events.is_empty()).then_some((*source, events))
                })
                .collect();
            for (source, _) in ready {
                match source {
                    Source::Out(stream) => {
                        let fd = match &self.output {
                            Output::Pipes { stdout, stderr, .. } => {
                                if stream == 0 {
                                    stdout.as_raw_fd()
                                } else {
                                    stderr.as_raw_fd()
                                }
                            }
                            Output::Terminal { master } => master.as_raw_fd(),
                        };
                        let mut buf = [0u8; 32 * 1024];
                        match nix::unistd::read(fd, &mut buf) {
                            Ok(0) | Err(_) => outputs_open[stream] = false,
                            Ok(n) => {
                                if let Some(log) = log.as_mut() {
                                    let _ = log.write(stream, &buf[..n]);
                                }
                                if attached_out {
                                    let target = if stream == 0 { 1 } else { 2 };
                                    // SAFETY: fds 1 and 2 are ours for the monitor's life.
                                    let out = unsafe { BorrowedFd::borrow_raw(target) };
                                    if write_all(out, &buf[..n]).is_err() {
                                        attached_out = false;
                                    }
                                }
                            }
                        }
                    }
                    Source::Stdin => {
                        let mut buf = [0u8; 4096];
                        match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                            Ok(0) | Err(_) => stdin_open = false,
                            Ok(n) => {
                                if let Output::Terminal { master } = &self.output {
                                    let _ = write_all(master.as_fd(), &buf[..n]);
                                }
                            }
                        }
                    }
                    Source::Exit => {
                        status = try_wait(self.pid).or(Some(255));
                        drain_deadline = Some(Instant::now() + Duration::from_millis(500));
                    }
                    Source::Signal => {
                        if let Some(Ok(Some(info))) = signals.as_ref().map(|s| s.read_signal()) {
                            let signal = Signal::try_from(info.ssi_signo as i32).ok();
                            match signal {
                                Some(Signal::SIGWINCH) => {
                                    if let Output::Terminal { master } = &self.output {
                                        copy_window_size(stdin.as_fd(), master.as_fd());
                                    }
                                }
                                Some(signal) => {
                                    let _ = nix::sys::signal::kill(self.pid, signal);
                                }
                                None => {}
                            }
                        }
                    }
                }
            }
        }
        if let Some(log) = log.as_mut() {
            let _ = log.flush();
        }
        if let Some(termios) = saved_termios {
            let _ = nix::sys::termios::tcsetattr(
                stdin.as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                &termios,
            );
        }
        status
            .or_else(|| {
                let _ = waitpid(self.pid, None);
                Some(255)
            })
            .unwrap_or(255)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Out(usize),
    Stdin,
    Exit,
    Signal,
}

/// Reaps the container's init if it has exited: its code, or 128 + signal.
fn try_wait(pid: Pid) -> Option<i32> {
    match waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, signal, _)) => Some(128 + signal as i32),
        Ok(_) => None,
        Err(_) => Some(255),
    }
}

/// The signals an attached monitor handles itself: forwarded to the container (SIGINT,
/// SIGTERM), or used to resize its terminal (SIGWINCH).
fn attach_signals() -> Option<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGWINCH);
    mask.thread_block().ok()?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok()
}

fn write_all(fd: BorrowedFd, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Puts a terminal in raw mode; returns its old settings (None if it is not a terminal).
fn make_raw(fd: BorrowedFd) -> Option<nix::sys::termios::Termios> {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let old = tcgetattr(fd).ok()?;
    let mut raw = old.clone();
    cfmakeraw(&mut raw);
    tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
    Some(old)
}

/// Gives the container's terminal the size of ours.
fn copy_window_size(from: BorrowedFd, to: BorrowedFd) {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass; TIOCSWINSZ reads one.
    unsafe {
        if libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// The console socket libcontainer sends a `-t` container's pty master on; the name is kept
/// short for the 108-byte limit of socket paths.
pub(crate) fn console_socket_path(runroot: &Path, short_id: &str) -> PathBuf {
    runroot.join(format!("console-{short_id}.sock"))
}
