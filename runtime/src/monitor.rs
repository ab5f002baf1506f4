//! The per-container monitor: mini re-executed as `mini __monitor ID` (like conmon). It is the
//! one process that launches the container through libcontainer, single-threaded, and stays the
//! parent of the container's init to learn its exit code. It copies the container's output into
//! the json-file log (and to the attached terminal for `run` without `-d`), holds the pty master
//! for `-t`, applies the restart policy, and tears down (cgroup, libcontainer state, rootfs
//! mount) when the container ends for good.
//!
//! It tells the `mini` that started it how the launch went through a pipe (`--report-fd`): one
//! JSON line, `{"pid":N}` or `{"error":"...","code":127}`. Attached clients (`mini run` without
//! `-d`, `start -a`, `attach`) talk to it through a socket (attach.rs); the first may come
//! connected already (`--attach-fd`), so that it sees the container's first byte.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use mini_storage::LayerStore;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::attach::{self, Frames};
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
/// code. `client`: an attached client, connected before the container starts.
pub fn run(
    store: &ContainerStore,
    id: &str,
    client: Option<UnixStream>,
    report: Option<OwnedFd>,
    start_lock: Option<OwnedFd>,
) -> i32 {
    let mut report = report.map(std::fs::File::from);
    // Held until the first launch has been reported (engine.rs, spawn_monitor).
    let mut start_lock = start_lock;
    // Whatever the mini that started us had blocked, the monitor's signals are its own.
    let _ = SigSet::empty().thread_set_mask();
    let mut hub = Hub::open(&store.runroot, id, client);
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
        let launched = launch(store, &record, &mut hub);
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
                let code = finish(store, &layers, id, code as i32, false, Some(message));
                hub.end(code);
                return code;
            }
        };
        let pid = running.pid;
        let me = std::process::id() as i32;
        let updated = store.update(id, |r| {
            r.state.status = "running".into();
            r.state.pid = pid.as_raw();
            r.state.started_at = logs::now();
            // A running container has no exit code yet (Docker shows 0 until it ends).
            r.state.exit_code = 0;
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
        start_lock.take();

        let started = Instant::now();
        let log = logs::Writer::open(&store.log_path(id)).ok();
        let code = running.serve(log, &mut hub, record.config.stdin_once);
        let Ok(record) = store.load(id) else {
            cleanup_libcontainer(store, id);
            hub.end(code);
            return code;
        };
        // Read before the cgroup goes with libcontainer's state.
        let oom = oom_killed(&record.cgroup_path());
        cleanup_libcontainer(store, id);
        if !should_restart(&record, code) {
            let code = finish(store, &layers, id, code, oom, None);
            // Told last: a `run --rm` returns once the container is gone.
            hub.end(code);
            return code;
        }
        // An attachment ends with each run of the container, as Docker's does.
        hub.end(code);
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
        // Clients that attached during the backoff wait for the next run.
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

/// Unmounts the container's root and removes its OCI bundle (and its monitor's attach socket,
/// if a dead monitor left it): what a container holds while it runs, apart from its network
/// and libcontainer's state.
pub(crate) fn release_rootfs(store: &ContainerStore, layers: &LayerStore, id: &str) {
    let _ = layers.unmount_container_layer(id);
    let _ = std::fs::remove_dir_all(store.bundle_dir(id));
    let _ = std::fs::remove_file(attach::socket_path(&store.runroot, short(id)));
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
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
    /// stdout and stderr pipes; `stdin` is the write end of the container's stdin for `-i`
    /// (non-blocking): it stays open with nobody attached, as Docker keeps it.
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        stdin: Option<OwnedFd>,
    },
    /// The pty master of a `-t` container.
    Terminal { master: OwnedFd },
}

/// A launched container.
#[derive(Debug)]
struct Running {
    pid: Pid,
    output: Output,
}

/// Creates and starts the container with libcontainer.
fn launch(store: &ContainerStore, record: &ContainerRecord, hub: &mut Hub) -> Result<Running> {
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
        crate::access::private_socket(&path)?;
        builder = builder.with_console_socket(Some(&path));
        console = Some((listener, path));
        None
    } else {
        let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(system("creating the stdout pipe"))?;
        let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(system("creating the stderr pipe"))?;
        let stdin: OwnedFd = if record.config.open_stdin {
            let (in_r, in_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(system("creating the stdin pipe"))?;
            set_nonblocking(in_w.as_fd());
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
            stdin: keep,
        },
        (None, Some((listener, path))) => {
            let master = receive_master(&listener);
            let _ = std::fs::remove_file(&path);
            let master = master?;
            // Read only when poll says so; written (stdin) without ever blocking the monitor.
            set_nonblocking(master.as_fd());
            // The first process sees the attached client's size from its first instruction.
            hub.early_resize(master.as_fd());
            Output::Terminal { master }
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

/// Runs `f` with every signal at its default disposition and none blocked, so that a process
/// libcontainer forks from this one starts as Docker's do. An ignored signal stays ignored
/// through exec, and a shell cannot even trap it: Rust ignores SIGPIPE, the monitor SIGHUP, and a
/// shell starts background jobs (and what they start) with SIGINT and SIGQUIT ignored.
pub(crate) fn with_default_signals<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::signal::{signal, sigprocmask, SigHandler, SigmaskHow};
    let mut old_mask = SigSet::empty();
    let _ = sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        Some(&mut old_mask),
    );
    let ignored: Vec<Signal> = Signal::iterator()
        .filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP))
        .filter(|s| {
            // SAFETY: sigaction is plain data; all zeroes is a valid value of it.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a null new action only reads the current one into `old`.
            let read = unsafe { libc::sigaction(*s as i32, std::ptr::null(), &mut old) };
            read == 0 && old.sa_sigaction == libc::SIG_IGN
        })
        .collect();
    for &s in &ignored {
        // SAFETY: setting a signal's default disposition has no preconditions.
        let _ = unsafe { signal(s, SigHandler::SigDfl) };
    }
    let result = f();
    for &s in &ignored {
        // SAFETY: as above; this puts back what was there.
        let _ = unsafe { signal(s, SigHandler::SigIgn) };
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
    /// The container's stdin as the monitor writes it: the pipe for `-i`, or the terminal.
    fn stdin(&self) -> Option<BorrowedFd<'_>> {
        match &self.output {
            Output::Pipes { stdin, .. } => stdin.as_ref().map(|fd| fd.as_fd()),
            Output::Terminal { master } => Some(master.as_fd()),
        }
    }

    fn output_fd(&self, stream: usize) -> BorrowedFd<'_> {
        match &self.output {
            Output::Pipes { stdout, stderr, .. } => {
                if stream == 0 {
                    stdout.as_fd()
                } else {
                    stderr.as_fd()
                }
            }
            Output::Terminal { master } => master.as_fd(),
        }
    }

    /// The monitor's loop while the container runs: copies its output into `log` and to every
    /// attached client, clients' input to its stdin (closed at the end of a client's stdin
    /// when `stdin_once`), their window size to its terminal and their signals to it. Returns
    /// Docker's exit code for it (the code, or 128 + the signal that killed it).
    fn serve(&mut self, mut log: Option<logs::Writer>, hub: &mut Hub, stdin_once: bool) -> i32 {
        let pidfd = process::pidfd(self.pid.as_raw());
        let terminal = matches!(self.output, Output::Terminal { .. });
        // A terminal has one stream: stdout and stderr both come through the pty master.
        let mut outputs_open = [true, !terminal];
        let mut ending = Ending::default();
        // Input the container has not read yet; it holds back more from the clients.
        let mut pending: Vec<u8> = Vec::new();
        let mut close_stdin = false;

        loop {
            if let Some(deadline) = ending.drain_deadline {
                if Instant::now() >= deadline || outputs_open == [false, false] {
                    break;
                }
            }
            let mut sources: Vec<Source> = Vec::new();
            let mut fds: Vec<PollFd> = Vec::new();
            for (stream, open) in outputs_open.iter().enumerate() {
                if *open {
                    sources.push(Source::Out(stream));
                    fds.push(PollFd::new(self.output_fd(stream), PollFlags::POLLIN));
                }
            }
            if !pending.is_empty() {
                if let Some(stdin) = self.stdin() {
                    sources.push(Source::Stdin);
                    fds.push(PollFd::new(stdin, PollFlags::POLLOUT));
                }
            }
            if let (Some(fd), None) = (&pidfd, ending.status) {
                sources.push(Source::Exit);
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            if ending.drain_deadline.is_none() {
                if let Some(listener) = &hub.listener {
                    sources.push(Source::Accept);
                    fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
                }
                if pending.len() < 64 * 1024 {
                    for (i, peer) in hub.peers.iter().enumerate() {
                        sources.push(Source::Peer(i));
                        fds.push(PollFd::new(peer.stream.as_fd(), PollFlags::POLLIN));
                    }
                }
            }
            let Some(ready) = ending.wait(self.pid, pidfd.is_some(), &mut fds, &sources) else {
                break;
            };
            drop(fds);
            let mut gone = Vec::new();
            for source in ready {
                match source {
                    Source::Out(stream) => {
                        let mut buf = [0u8; 32 * 1024];
                        match nix::unistd::read(self.output_fd(stream).as_raw_fd(), &mut buf) {
                            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                            Ok(0) | Err(_) => outputs_open[stream] = false,
                            Ok(n) => {
                                if let Some(log) = log.as_mut() {
                                    let _ = log.write(stream, &buf[..n]);
                                }
                                let kind = if stream == 0 {
                                    attach::STDOUT
                                } else {
                                    attach::STDERR
                                };
                                hub.broadcast(kind, &buf[..n]);
                            }
                        }
                    }
                    Source::Stdin => {
                        if let Some(stdin) = self.stdin() {
                            match nix::unistd::write(stdin, &pending) {
                                Ok(n) => {
                                    pending.drain(..n);
                                }
                                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                                // Nobody reads the container's stdin any more.
                                Err(_) => pending.clear(),
                            }
                        }
                    }
                    Source::Exit => {
                        ending.exited(try_wait(self.pid).unwrap_or(255));
                    }
                    Source::Accept => hub.accept(),
                    Source::Signal => {}
                    Source::Peer(i) => {
                        let Some(frames) = hub.receive(i) else {
                            gone.push(i);
                            continue;
                        };
                        for (kind, payload) in frames {
                            match kind {
                                attach::STDIN if self.stdin().is_some() && !close_stdin => {
                                    pending.extend_from_slice(&payload)
                                }
                                attach::STDIN_CLOSED if stdin_once && !terminal => {
                                    close_stdin = true
                                }
                                attach::RESIZE => {
                                    if let Output::Terminal { master } = &self.output {
                                        attach::set_window_size(master.as_fd(), &payload);
                                    }
                                }
                                attach::SIGNAL => {
                                    let number = payload
                                        .get(..4)
                                        .map(|b| i32::from_le_bytes(b.try_into().expect("four")));
                                    if let Some(Ok(signal)) = number.map(Signal::try_from) {
                                        let _ = nix::sys::signal::kill(self.pid, signal);
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            // The container's stdin closes once what came before the end of it has gone in.
            if close_stdin && pending.is_empty() {
                if let Output::Pipes { stdin, .. } = &mut self.output {
                    *stdin = None;
                }
            }
            hub.forget(&gone);
        }
        if let Some(log) = log.as_mut() {
            let _ = log.flush();
        }
        ending.status.unwrap_or_else(|| {
            let _ = waitpid(self.pid, None);
            255
        })
    }
}

/// For `mini exec -t`: relays between our own terminal and that of `pid` (a child of ours)
/// until it exits; returns Docker's exit code for it. `forward_stdin`: our stdin goes to its
/// terminal, ours set raw meanwhile.
pub(crate) fn relay_terminal(pid: Pid, master: &OwnedFd, forward_stdin: bool) -> i32 {
    let master = master.as_fd();
    let pidfd = process::pidfd(pid.as_raw());
    let stdin = std::io::stdin();
    attach::copy_window_size(stdin.as_fd(), master);
    let local = attach::LocalTerminal::take(forward_stdin, true);
    let signals = &local.signals;
    let mut stdin_open = forward_stdin;
    let mut output_open = true;
    let mut ending = Ending::default();

    loop {
        if let Some(deadline) = ending.drain_deadline {
            if Instant::now() >= deadline || !output_open {
                break;
            }
        }
        let mut sources = Vec::new();
        let mut fds = Vec::new();
        if output_open {
            sources.push(Source::Out(0));
            fds.push(PollFd::new(master, PollFlags::POLLIN));
        }
        if stdin_open && ending.drain_deadline.is_none() {
            sources.push(Source::Stdin);
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if let (Some(fd), None) = (&pidfd, ending.status) {
            sources.push(Source::Exit);
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        if let Some(signals) = &signals {
            sources.push(Source::Signal);
            // SAFETY: the signalfd outlives this iteration.
            fds.push(PollFd::new(
                unsafe { BorrowedFd::borrow_raw(signals.as_raw_fd()) },
                PollFlags::POLLIN,
            ));
        }
        let Some(ready) = ending.wait(pid, pidfd.is_some(), &mut fds, &sources) else {
            break;
        };
        for source in ready {
            match source {
                Source::Out(_) => {
                    let mut buf = [0u8; 32 * 1024];
                    match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                        Ok(0) | Err(_) => output_open = false,
                        Ok(n) => {
                            // SAFETY: fd 1 is ours for the life of the process.
                            let out = unsafe { BorrowedFd::borrow_raw(1) };
                            let _ = attach::write_all(out, &buf[..n]);
                        }
                    }
                }
                Source::Stdin => {
                    let mut buf = [0u8; 4096];
                    match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                        Ok(0) | Err(_) => stdin_open = false,
                        Ok(n) => {
                            let _ = attach::write_all(master, &buf[..n]);
                        }
                    }
                }
                Source::Exit => {
                    ending.exited(try_wait(pid).unwrap_or(255));
                }
                Source::Signal => {
                    if let Some(Ok(Some(info))) = signals.as_ref().map(|s| s.read_signal()) {
                        match Signal::try_from(info.ssi_signo as i32) {
                            Ok(Signal::SIGWINCH) => attach::copy_window_size(stdin.as_fd(), master),
                            Ok(signal) => {
                                let _ = nix::sys::signal::kill(pid, signal);
                            }
                            Err(_) => {}
                        }
                    }
                }
                Source::Accept | Source::Peer(_) => {}
            }
        }
    }
    drop(local);
    ending.status.unwrap_or_else(|| {
        let _ = waitpid(pid, None);
        255
    })
}

/// How far a relay loop has got with its process's end: its status once known, and until when
/// output is still drained after it (processes it left behind may still write for a moment).
#[derive(Debug, Default)]
struct Ending {
    status: Option<i32>,
    drain_deadline: Option<Instant>,
}

impl Ending {
    fn exited(&mut self, status: i32) {
        self.status = Some(status);
        self.drain_deadline = Some(Instant::now() + Duration::from_millis(500));
    }

    /// One wait of a relay loop on `fds` (for `sources`): the sources that are ready (none
    /// yet, perhaps), or None when the loop is over. Without a pidfd, `pid` is polled.
    fn wait(
        &mut self,
        pid: Pid,
        has_pidfd: bool,
        fds: &mut [PollFd],
        sources: &[Source],
    ) -> Option<Vec<Source>> {
        let timeout = match (self.drain_deadline, has_pidfd) {
            (Some(_), _) => PollTimeout::from(50u16),
            (None, false) => PollTimeout::from(100u16),
            (None, true) => PollTimeout::NONE,
        };
        match poll(fds, timeout) {
            Ok(0) => {
                if !has_pidfd && self.status.is_none() {
                    if let Some(status) = try_wait(pid) {
                        self.exited(status);
                    }
                } else if self.drain_deadline.is_some() {
                    return None;
                }
                Some(Vec::new())
            }
            Ok(_) => Some(
                fds.iter()
                    .zip(sources)
                    .filter(|(fd, _)| fd.revents().is_some_and(|events| !events.is_empty()))
                    .map(|(_, source)| *source)
                    .collect(),
            ),
            Err(nix::errno::Errno::EINTR) => Some(Vec::new()),
            Err(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Out(usize),
    Stdin,
    Exit,
    Signal,
    Accept,
    Peer(usize),
}

/// The monitor's side of attaching: its socket and the clients attached now.
#[derive(Debug)]
struct Hub {
    listener: Option<UnixListener>,
    path: PathBuf,
    peers: Vec<Peer>,
}

#[derive(Debug)]
struct Peer {
    stream: UnixStream,
    frames: Frames,
    /// Frames read before the container started, for the loop to act on.
    held: Vec<(u8, Vec<u8>)>,
}

impl Hub {
    /// Listens at the container's attach socket; `first` is a client connected already.
    fn open(runroot: &Path, id: &str, first: Option<UnixStream>) -> Hub {
        let path = attach::socket_path(runroot, short(id));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).ok();
        if let Some(listener) = &listener {
            let _ = crate::access::private_socket(&path);
            let _ = listener.set_nonblocking(true);
        }
        let mut hub = Hub {
            listener,
            path,
            peers: Vec::new(),
        };
        if let Some(stream) = first {
            hub.add(stream);
        }
        hub
    }

    fn add(&mut self, stream: UnixStream) {
        // Output is written to clients blocking (a client that stops reading holds the
        // container's output back, as Docker's attach does); input is read when poll says so.
        let _ = stream.set_nonblocking(false);
        self.peers.push(Peer {
            stream,
            frames: Frames::default(),
            held: Vec::new(),
        });
    }

    fn accept(&mut self) {
        if let Some(Ok((stream, _))) = self.listener.as_ref().map(UnixListener::accept) {
            self.add(stream);
        }
    }

    /// The whole frames client `i` has sent; None when it has gone.
    fn receive(&mut self, i: usize) -> Option<Vec<(u8, Vec<u8>)>> {
        use nix::sys::socket::{recv, MsgFlags};
        let peer = &mut self.peers[i];
        let mut buf = [0u8; 32 * 1024];
        match recv(peer.stream.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => return None,
            Ok(n) => peer.frames.push(&buf[..n]),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(_) => return None,
        }
        let mut frames = std::mem::take(&mut peer.held);
        loop {
            match peer.frames.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => return Some(frames),
                Err(attach::Garbled) => return None,
            }
        }
    }

    /// Before the container starts: the window size its first client sent (the `mini run -t`
    /// that started it writes it before anything else) is given to its terminal.
    fn early_resize(&mut self, master: BorrowedFd) {
        if self.peers.is_empty() {
            return;
        }
        for (kind, payload) in self.receive(0).unwrap_or_default() {
            if kind == attach::RESIZE {
                attach::set_window_size(master, &payload);
            } else {
                self.peers[0].held.push((kind, payload));
            }
        }
    }

    /// Sends output to every client; a client that cannot take it is dropped.
    fn broadcast(&mut self, kind: u8, bytes: &[u8]) {
        if self.peers.is_empty() {
            return;
        }
        let frame = attach::frame(kind, bytes);
        self.peers
            .retain(|peer| attach::write_all(peer.stream.as_fd(), &frame).is_ok());
    }

    /// Drops the clients at these indexes.
    fn forget(&mut self, gone: &[usize]) {
        let mut gone = gone.to_vec();
        gone.sort_unstable();
        gone.dedup();
        for i in gone.into_iter().rev() {
            self.peers.remove(i);
        }
    }

    /// The container has ended: every client gets its exit code and is let go.
    fn end(&mut self, code: i32) {
        self.broadcast(attach::EXIT, &code.to_le_bytes());
        self.peers.clear();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if self.listener.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
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

fn set_nonblocking(fd: BorrowedFd) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if let Ok(flags) = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags));
    }
}

/// The console socket libcontainer sends a `-t` container's pty master on; the name is kept
/// short for the 108-byte limit of socket paths.
pub(crate) fn console_socket_path(runroot: &Path, short_id: &str) -> PathBuf {
    runroot.join(format!("console-{short_id}.sock"))
}
