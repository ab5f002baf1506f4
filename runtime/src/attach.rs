//! Attaching to a container's main process, as `docker attach` does.
//!
//! The monitor owns the container's stdio (pipes, or the pty master for `-t`). It listens on
//! `<runroot>/attach-<short id>.sock`, and the `mini run` that started it without `-d` gets a
//! connected socket before the container starts, so no output is missed. `mini start -a` and
//! `mini attach` are clients too. Any number may be attached at once; each gets all output.
//!
//! One protocol both ways, in frames: a kind byte, a little-endian u32 length, the payload.
//! The monitor sends output (stdout, stderr) and, when the container has ended, its exit code,
//! then closes. A client sends stdin, the end of its stdin, its window size, and the signals it
//! proxies. Detaching (Docker's ctrl-p ctrl-q, or `--detach-keys`) is the client closing its
//! end: the container goes on.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::error::{Error, Result};

/// Monitor to client: the container's stdout (and its terminal's output).
pub const STDOUT: u8 = 1;
/// Monitor to client: the container's stderr.
pub const STDERR: u8 = 2;
/// Monitor to client: the container has ended; an i32 exit code follows.
pub const EXIT: u8 = 3;
/// Client to monitor: bytes for the container's stdin.
pub const STDIN: u8 = 10;
/// Client to monitor: our stdin has ended.
pub const STDIN_CLOSED: u8 = 11;
/// Client to monitor: our window size, rows then columns (u16 each).
pub const RESIZE: u8 = 12;
/// Client to monitor: a signal for the container's process (i32).
pub const SIGNAL: u8 = 13;

/// No frame is larger; a longer one means the peer does not speak this protocol.
const MAX_FRAME: usize = 1 << 20;

/// Docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Where the monitor of the container with this short id listens.
pub fn socket_path(runroot: &Path, short_id: &str) -> PathBuf {
    runroot.join(format!("attach-{short_id}.sock"))
}

/// One frame, ready to write.
pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(5 + payload.len());
    bytes.push(kind);
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A peer sent something that is not a frame of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Garbled;

/// Collects bytes from a stream and splits whole frames off them.
#[derive(Debug, Default)]
pub struct Frames {
    buffer: Vec<u8>,
}

impl Frames {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame, if there is one; Err when the peer sent something that is not.
    pub fn next_frame(&mut self) -> std::result::Result<Option<(u8, Vec<u8>)>, Garbled> {
        if self.buffer.len() < 5 {
            return Ok(None);
        }
        let length = u32::from_le_bytes(self.buffer[1..5].try_into().expect("four bytes")) as usize;
        if length > MAX_FRAME {
            return Err(Garbled);
        }
        if self.buffer.len() < 5 + length {
            return Ok(None);
        }
        let kind = self.buffer[0];
        let payload = self.buffer[5..5 + length].to_vec();
        self.buffer.drain(..5 + length);
        Ok(Some((kind, payload)))
    }
}

/// Docker's `--detach-keys` syntax: comma-separated keys, each one character or `ctrl-X` with
/// X one of `@`, `a`-`z`, `[`, `\`, `]`, `^`, `_`. Empty means Docker's default.
pub fn parse_detach_keys(text: &str) -> Result<Vec<u8>> {
    let text = if text.is_empty() {
        DEFAULT_DETACH_KEYS
    } else {
        text
    };
    let mut codes = Vec::new();
    for key in text.split(',') {
        let code = match key.as_bytes() {
            [one] => Some(*one),
            _ => key
                .strip_prefix("ctrl-")
                .and_then(|rest| match rest.as_bytes() {
                    [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
                    [b'@'] => Some(0),
                    [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => Some(c - b'[' + 27),
                    _ => None,
                }),
        };
        match code {
            Some(code) => codes.push(code),
            None => {
                return Err(Error::Invalid(format!(
                    "invalid detach keys ({text}): unknown key '{key}'"
                )))
            }
        }
    }
    Ok(codes)
}

/// Watches typed input for the detach sequence. Bytes that might begin it are held back until
/// the sequence is complete (detach) or broken (they are passed on after all).
#[derive(Debug)]
pub struct Escape {
    keys: Vec<u8>,
    matched: usize,
}

impl Escape {
    pub fn new(keys: Vec<u8>) -> Escape {
        Escape { keys, matched: 0 }
    }

    /// What of `input` goes to the container, and whether the sequence was typed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut pass = Vec::with_capacity(input.len());
        for &byte in input {
            if self.keys.is_empty() {
                pass.push(byte);
                continue;
            }
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (pass, true);
                }
                continue;
            }
            pass.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            // The keys are at least two long here: a single key never holds bytes back.
            if byte == self.keys[0] {
                self.matched = 1;
            } else {
                pass.push(byte);
            }
        }
        (pass, false)
    }
}

/// What an attached client asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Our stdin goes to the container's.
    pub stdin: bool,
    /// The container has a terminal: ours is set raw (when stdin goes to it) and its size follows
    /// ours.
    pub tty: bool,
    /// The detach sequence (empty: none).
    pub detach_keys: Vec<u8>,
    /// SIGINT and SIGTERM sent to us go to the container's process.
    pub sig_proxy: bool,
}

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The container ended with this code.
    Exited(i32),
    /// The user typed the detach sequence; the container runs on.
    Detached,
    /// The monitor closed the connection without an exit code.
    Lost,
}

/// Connects to a running container's monitor.
pub fn connect(runroot: &Path, short_id: &str) -> Result<UnixStream> {
    let path = socket_path(runroot, short_id);
    UnixStream::connect(&path).map_err(|err| {
        Error::System(format!(
            "attaching to the container through {}: {err}",
            path.display()
        ))
    })
}

/// Reads an attached container's output until it ends, handing each piece to `each` (1 for
/// stdout, 2 for stderr); sends nothing to it. For the builder's RUN steps.
pub fn collect(mut stream: UnixStream, each: &mut dyn FnMut(u8, &[u8])) -> Ended {
    use std::io::Write as _;
    let _ = stream.write_all(&frame(STDIN_CLOSED, &[]));
    let mut frames = Frames::default();
    let mut code = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return code.map_or(Ended::Lost, Ended::Exited),
            Ok(n) => {
                frames.push(&buf[..n]);
                loop {
                    match frames.next_frame() {
                        Ok(Some((STDOUT, bytes))) => each(STDOUT, &bytes),
                        Ok(Some((STDERR, bytes))) => each(STDERR, &bytes),
                        Ok(Some((EXIT, bytes))) => {
                            code = bytes
                                .get(..4)
                                .map(|b| i32::from_le_bytes(b.try_into().expect("four")));
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(Garbled) => return Ended::Lost,
                    }
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return code.map_or(Ended::Lost, Ended::Exited),
        }
    }
}

/// Relays between this process's stdio and an attached container until the container ends,
/// the user detaches, or the connection is lost.
pub fn client(stream: UnixStream, options: &Options) -> Ended {
    let stdin = std::io::stdin();
    let mut outgoing: Vec<u8> = Vec::new();
    if options.tty {
        if let Some(size) = window_size(stdin.as_fd()).or_else(|| window_size(stdout())) {
            outgoing.extend(frame(RESIZE, &size));
        }
    }
    let local = LocalTerminal::take(options.tty && options.stdin, options.sig_proxy);
    let signals = &local.signals;
    let _ = stream.set_nonblocking(true);
    let mut stdin_open = options.stdin;
    let mut escape = Escape::new(options.detach_keys.clone());
    let mut frames = Frames::default();
    let mut code = None;
    let mut ended = None;

    while ended.is_none() {
        let mut fds = vec![PollFd::new(
            stream.as_fd(),
            if outgoing.is_empty() {
                PollFlags::POLLIN
            } else {
                PollFlags::POLLIN | PollFlags::POLLOUT
            },
        )];
        // Input waits while the monitor has not taken what came before it.
        let read_stdin = stdin_open && outgoing.len() < 64 * 1024;
        if read_stdin {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if let Some(signals) = &signals {
            // SAFETY: the signalfd outlives this iteration.
            let fd = unsafe { BorrowedFd::borrow_raw(signals.as_raw_fd()) };
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => {
                ended = Some(Ended::Lost);
                continue;
            }
        }
        let revents: Vec<PollFlags> = fds
            .iter()
            .map(|fd| fd.revents().unwrap_or(PollFlags::empty()))
            .collect();
        let mut next = 1;
        let stdin_events = if read_stdin {
            next += 1;
            revents[1]
        } else {
            PollFlags::empty()
        };
        let signal_events = if signals.is_some() {
            revents[next]
        } else {
            PollFlags::empty()
        };

        if revents[0].contains(PollFlags::POLLOUT) && !outgoing.is_empty() {
            match nix::unistd::write(&stream, &outgoing) {
                Ok(n) => {
                    outgoing.drain(..n);
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                // The monitor went away; what it sent before is still read below.
                Err(_) => {
                    outgoing.clear();
                    stdin_open = false;
                }
            }
        }
        if revents[0].intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            let mut buf = [0u8; 32 * 1024];
            match (&stream).read(&mut buf) {
                Ok(0) => {
                    ended = Some(code.map_or(Ended::Lost, Ended::Exited));
                }
                Ok(n) => {
                    frames.push(&buf[..n]);
                    loop {
                        match frames.next_frame() {
                            Ok(Some((STDOUT, bytes))) => {
                                let _ = write_all(stdout(), &bytes);
                            }
                            Ok(Some((STDERR, bytes))) => {
                                let _ = write_all(stderr(), &bytes);
                            }
                            Ok(Some((EXIT, bytes))) => {
                                code = bytes
                                    .get(..4)
                                    .map(|b| i32::from_le_bytes(b.try_into().expect("four")));
                            }
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(Garbled) => {
                                ended = Some(Ended::Lost);
                                break;
                            }
                        }
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => ended = Some(code.map_or(Ended::Lost, Ended::Exited)),
            }
        }
        if !stdin_events.is_empty() {
            let mut buf = [0u8; 4096];
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    outgoing.extend(frame(STDIN_CLOSED, &[]));
                }
                Ok(n) => {
                    let (pass, detached) = escape.feed(&buf[..n]);
                    if !pass.is_empty() {
                        outgoing.extend(frame(STDIN, &pass));
                    }
                    if detached {
                        ended = Some(Ended::Detached);
                    }
                }
            }
        }
        if !signal_events.is_empty() {
            if let Some(Ok(Some(info))) = signals.as_ref().map(|s| s.read_signal()) {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGWINCH) if options.tty => {
                        if let Some(size) =
                            window_size(stdin.as_fd()).or_else(|| window_size(stdout()))
                        {
                            outgoing.extend(frame(RESIZE, &size));
                        }
                    }
                    Ok(signal @ (Signal::SIGINT | Signal::SIGTERM)) if options.sig_proxy => {
                        outgoing.extend(frame(SIGNAL, &(signal as i32).to_le_bytes()));
                    }
                    _ => {}
                }
            }
        }
    }
    // What is still queued (a last signal, the end of stdin) goes if it can, without waiting.
    if !outgoing.is_empty() {
        let _ = nix::unistd::write(&stream, &outgoing);
    }
    ended.unwrap_or(Ended::Lost)
}

/// This process's terminal and signals while it relays to a container: stdin's terminal raw
/// when asked, and the signals a relay handles read from a signalfd (terminal_signals). Both
/// are put back as they were when it is dropped.
#[derive(Debug)]
pub(crate) struct LocalTerminal {
    saved: Option<nix::sys::termios::Termios>,
    pub(crate) signals: Option<SignalFd>,
    old_mask: SigSet,
}

impl LocalTerminal {
    pub(crate) fn take(raw: bool, proxy: bool) -> LocalTerminal {
        let saved = if raw {
            make_raw(std::io::stdin().as_fd())
        } else {
            None
        };
        let (signals, old_mask) = terminal_signals(proxy);
        LocalTerminal {
            saved,
            signals,
            old_mask,
        }
    }
}

impl Drop for LocalTerminal {
    fn drop(&mut self) {
        if let Some(termios) = self.saved.take() {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin().as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                &termios,
            );
        }
        self.signals = None;
        let _ = self.old_mask.thread_set_mask();
    }
}

fn stdout() -> BorrowedFd<'static> {
    // SAFETY: fd 1 stays open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(1) }
}

fn stderr() -> BorrowedFd<'static> {
    // SAFETY: fd 2 stays open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(2) }
}

/// SIGWINCH, and SIGINT and SIGTERM when they are to be proxied, blocked and read from a
/// signalfd; the old mask, to put back. Not proxied, SIGINT and SIGTERM end this process as
/// they would any other (Docker's client too).
fn terminal_signals(proxy: bool) -> (Option<SignalFd>, SigSet) {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGWINCH);
    let mut ending = SigSet::empty();
    ending.add(Signal::SIGINT);
    ending.add(Signal::SIGTERM);
    if proxy {
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
    } else {
        let _ = ending.thread_unblock();
    }
    let old = SigSet::thread_get_mask().unwrap_or_else(|_| SigSet::empty());
    if mask.thread_block().is_err() {
        return (None, old);
    }
    if proxy {
        // A shell starts background jobs with SIGINT ignored, and an ignored signal never
        // reaches a signalfd. Proxied, it is the container's to ignore or not (Go's
        // signal.Notify, which Docker's client uses, does the same). Blocked, it cannot end us.
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: setting a signal's default disposition has no preconditions.
            unsafe {
                let _ = nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl);
            }
        }
    }
    let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();
    (fd, old)
}

pub(crate) fn write_all(fd: BorrowedFd, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
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

/// A terminal's size as a RESIZE payload (rows, columns), if `fd` is a terminal.
pub(crate) fn window_size(fd: BorrowedFd) -> Option<[u8; 4]> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } != 0 {
        return None;
    }
    let mut payload = [0u8; 4];
    payload[..2].copy_from_slice(&size.ws_row.to_le_bytes());
    payload[2..].copy_from_slice(&size.ws_col.to_le_bytes());
    Some(payload)
}

/// Gives the terminal `fd` the size in a RESIZE payload.
pub fn set_window_size(fd: BorrowedFd, payload: &[u8]) {
    if payload.len() < 4 {
        return;
    }
    let size = libc::winsize {
        ws_row: u16::from_le_bytes([payload[0], payload[1]]),
        ws_col: u16::from_le_bytes([payload[2], payload[3]]),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the struct we pass.
    unsafe {
        libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size);
    }
}

/// Gives the terminal `to` the size of the terminal `from`.
pub(crate) fn copy_window_size(from: BorrowedFd, to: BorrowedFd) {
    if let Some(size) = window_size(from) {
        set_window_size(to, &size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads_come_out_whole() {
        let mut bytes = frame(STDOUT, b"hello");
        bytes.extend(frame(EXIT, &7i32.to_le_bytes()));
        let mut frames = Frames::default();
        frames.push(&bytes[..3]);
        assert_eq!(frames.next_frame(), Ok(None));
        frames.push(&bytes[3..12]);
        assert_eq!(frames.next_frame(), Ok(Some((STDOUT, b"hello".to_vec()))));
        assert_eq!(frames.next_frame(), Ok(None));
        frames.push(&bytes[12..]);
        assert_eq!(
            frames.next_frame(),
            Ok(Some((EXIT, 7i32.to_le_bytes().to_vec())))
        );
        assert_eq!(frames.next_frame(), Ok(None));
    }

    #[test]
    fn a_frame_longer_than_any_mini_sends_is_refused() {
        let mut frames = Frames::default();
        frames.push(&[STDIN, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(frames.next_frame(), Err(Garbled));
    }

    #[test]
    fn detach_keys_follow_dockers_syntax() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(
            parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_").unwrap(),
            vec![0, 27, 28, 29, 30, 31]
        );
        let err = parse_detach_keys("ctrl-1").unwrap_err().to_string();
        assert!(err.contains("ctrl-1"), "{err}");
        assert!(parse_detach_keys("ab").is_err());
        assert!(parse_detach_keys("ctrl-p,").is_err());
    }

    #[test]
    fn the_detach_sequence_is_held_back_and_a_broken_one_passed_on() {
        let mut escape = Escape::new(vec![16, 17]);
        assert_eq!(escape.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        // Split across reads: the first key is held until the second decides.
        assert_eq!(escape.feed(&[b'a', 16]), (b"a".to_vec(), false));
        assert_eq!(escape.feed(b"b"), (vec![16, b'b'], false));
        assert_eq!(escape.feed(&[16, 16]), (vec![16], false));
        assert_eq!(escape.feed(&[17, b'z']), (vec![], true));
        let mut none = Escape::new(Vec::new());
        assert_eq!(none.feed(&[16, 17]), (vec![16, 17], false));
        let mut single = Escape::new(vec![b'x']);
        assert_eq!(single.feed(b"ax"), (b"a".to_vec(), true));
    }
}
