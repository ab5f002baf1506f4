//! CVE-2019-5736: a process of the container could open `/proc/<pid>/exe` of a mini process
//! that entered its namespaces (the monitor, whose fork becomes the container's init, and
//! `mini exec`) and, once mini exits, write through it into mini's binary on the host. Those
//! processes run from a view of the binary that cannot be written:
//!
//! - a detached, read-only bind mount of the binary (`open_tree` + `mount_setattr`, never
//!   attached anywhere, so no mount table ever shows it and it goes with the last process
//!   that runs from it): `/proc/<pid>/exe` then leads to a read-only mount, and opening it for
//!   writing fails with EROFS. No copy is made: the binary's pages stay shared with the file's.
//!   runc 1.2 gets the same from a detached read-only overlayfs;
//! - where the kernel lacks those calls (before 5.12), a sealed memfd copy of the binary, as
//!   runc did before: it cannot be written, shrunk or grown, but copying mini costs ~10 ms.
//!
//! The monitor is started from such a view directly (engine.rs); `mini exec` and the
//! `mini-runc` commands that start or join a container re-execute themselves from one
//! ([`reexec`]).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

/// The environment variable that names the binary on disk to a process that runs from a view
/// of it, so that the processes it starts (the DNS responder) run the real file.
pub const EXE_ENV: &str = "MINI_EXE";

/// Whether this process already runs from a binary that cannot be written through
/// `/proc/self/exe`: on a read-only mount (a view, or a read-only system) or a memfd.
pub fn runs_from_a_view() -> bool {
    let on_read_only = nix::sys::statvfs::statvfs("/proc/self/exe")
        .is_ok_and(|fs| fs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    let memfd = std::fs::read_link("/proc/self/exe")
        .is_ok_and(|exe| exe.as_os_str().as_encoded_bytes().starts_with(b"/memfd:"));
    on_read_only || memfd
}

/// A view of this process's binary that cannot be written: an O_PATH descriptor of a detached
/// read-only bind mount of it, or else a sealed memfd copy. Executable through `fexecve` or
/// `/proc/self/fd/N`.
pub fn view() -> std::io::Result<OwnedFd> {
    read_only_view().or_else(|_| sealed_copy())
}

/// A detached, read-only bind mount of this process's binary: an O_PATH descriptor of it.
fn read_only_view() -> std::io::Result<OwnedFd> {
    // SAFETY: open_tree reads a NUL-terminated path and returns a new descriptor or -1.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/proc/self/exe".as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    if tree < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as RawFd) };
    set_mount_attributes(
        &tree,
        libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        false,
    )
    .map_err(std::io::Error::from)?;
    Ok(tree)
}

/// Sets `attributes` (`MOUNT_ATTR_*`) on the mount `tree` refers to (and the mounts below it
/// when `recursive`), as `mount_setattr` does.
pub(crate) fn set_mount_attributes(
    tree: &OwnedFd,
    attributes: u64,
    recursive: bool,
) -> Result<(), nix::errno::Errno> {
    let attr = libc::mount_attr {
        attr_set: attributes,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive {
        libc::AT_EMPTY_PATH | libc::AT_RECURSIVE
    } else {
        libc::AT_EMPTY_PATH
    };
    // SAFETY: mount_setattr reads `attr` (of the size given) and an empty path.
    let set = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if set < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// A sealed memfd copy of this process's binary.
fn sealed_copy() -> std::io::Result<OwnedFd> {
    let memfd = memfd_create(
        c"mini",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut copy = std::fs::File::from(memfd);
    std::io::copy(&mut std::fs::File::open("/proc/self/exe")?, &mut copy)?;
    fcntl(
        copy.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SEAL
                | SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_WRITE,
        ),
    )?;
    Ok(copy.into())
}

/// Re-executes this process from a view of its binary that cannot be written, unless it runs
/// from one already. Returns only if that could not be done.
pub fn reexec() -> std::io::Result<()> {
    if runs_from_a_view() {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe")?;
    let view = view()?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).map_err(std::io::Error::other))
        .collect::<Result<_, _>>()?;
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != EXE_ENV)
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(std::io::Error::other)
        })
        .collect::<Result<_, _>>()?;
    let mut own = format!("{EXE_ENV}=").into_bytes();
    own.extend_from_slice(exe.as_os_str().as_bytes());
    env.push(CString::new(own).map_err(std::io::Error::other)?);
    nix::unistd::fexecve(view.as_raw_fd(), &args, &env)?;
    unreachable!("fexecve returns only on failure")
}
