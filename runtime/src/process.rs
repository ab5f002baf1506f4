//! Small facts about host processes: is a monitor still the process we started, which boot are we
//! in, and waiting for a process to end without being its parent.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// `/proc/sys/kernel/random/boot_id`: changes at every boot, whether /run is a tmpfs or not.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start` in boot `boot`.
pub fn is_alive(pid: i32, start: u64, boot: &str) -> bool {
    if pid <= 0 || boot != boot_id() {
        return false;
    }
    match start_time(pid) {
        Some(now) => now == start && !is_zombie(pid),
        None => false,
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = stat[stat.rfind(')')? + 1..].to_string();
            after.split_whitespace().next().map(|s| s == "Z")
        })
        .unwrap_or(true)
}

/// A pidfd for `pid`, which becomes readable when the process ends (Linux 5.3+).
pub fn pidfd(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until `pid` ends or `timeout` passes (None: forever). True when it ended.
pub fn wait_for_exit(pid: i32, timeout: Option<Duration>) -> bool {
    let Some(fd) = pidfd(pid) else {
        return true;
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let wait = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(n) if n > 0 => return true,
            Ok(_) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return false;
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_boot_is_not() {
        let me = std::process::id() as i32;
        let start = start_time(me).unwrap();
        assert!(is_alive(me, start, &boot_id()));
        assert!(!is_alive(me, start + 1, &boot_id()));
        assert!(!is_alive(me, start, "another-boot"));
    }

    #[test]
    fn waiting_sees_a_child_end() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(!wait_for_exit(pid, Some(Duration::from_millis(10))));
        let _ = child.wait();
        assert!(wait_for_exit(pid, Some(Duration::from_secs(5))));
    }
}
