//! Network namespaces. A container on a bridge network gets a namespace file made here
//! ([`create`], as `ip netns add` does) and set up before its process joins it; one on
//! `--network none` gets a fresh namespace from libcontainer, whose loopback mini brings up
//! ([`loopback_up`]). Work inside a namespace runs on a helper thread that entered it (setns
//! changes only the calling thread).

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// Runs `f` inside the network namespace of process `pid`, on a thread of its own.
pub fn within<T: Send + 'static>(
    pid: i32,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&path)?;
    std::thread::spawn(move || {
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
        f()
    })
    .join()
    .map_err(|_| std::io::Error::other("the network namespace helper thread panicked"))?
}

/// Brings the loopback interface up in the namespace of process `pid`.
pub fn loopback_up(pid: i32) -> std::io::Result<()> {
    within(pid, || set_up("lo"))
}

/// Sets IFF_UP on interface `name` of the calling thread's namespace.
fn set_up(name: &str) -> std::io::Result<()> {
    let sock: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(std::io::Error::from)?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the ifreq we own.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Why [`within_path`] failed: entering the namespace, or `f` itself.
#[derive(Debug)]
pub enum WithinError<E> {
    Io(std::io::Error),
    Inner(E),
}

/// Runs `f` inside the network namespace file `path`, on a thread of its own.
pub fn within_path<T: Send, E: Send>(
    path: &std::path::Path,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> Result<Result<T, E>, WithinError<E>> {
    let ns = std::fs::File::open(path).map_err(WithinError::Io)?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| WithinError::Io(e.into()))?;
                Ok(f())
            })
            .join()
            .map_err(|_| {
                WithinError::Io(std::io::Error::other(
                    "the network namespace helper thread panicked",
                ))
            })?
    })
}

/// Makes a new network namespace and pins it at `path` (a bind mount of its nsfs file), as
/// `ip netns add` does, so that it outlives the thread that made it.
pub fn create(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::File::create(path)?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> std::io::Result<()> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .map_err(|_| std::io::Error::other("the network namespace helper thread panicked"))?;
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Unpins and deletes a namespace file made by [`create`]; one that is gone is fine. The
/// namespace itself ends when nothing else holds it (its veth ends go with it).
pub fn remove(path: &std::path::Path) -> std::io::Result<()> {
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(err) => return Err(err.into()),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}
