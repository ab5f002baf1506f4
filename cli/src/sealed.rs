//! CVE-2019-5736: a process of the container could open `/proc/<pid>/exe` of a mini process
//! that entered its namespaces (the monitor, whose fork becomes the container's init, and
//! `mini exec`) and, once mini exits, write through it into mini's binary on the host. As runc
//! does, those two commands first re-execute themselves from a sealed memfd copy of the binary:
//! what the container can reach is then a copy that cannot be written, shrunk or grown.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

/// The environment variable that names the binary on disk to a sealed copy, so that the
/// processes it starts (the DNS responder) run the real file.
pub const EXE_ENV: &str = "MINI_EXE";

/// Re-executes this process from a sealed copy of its binary, unless it runs from one
/// already. Returns only if that could not be done.
pub fn reexec() -> std::io::Result<()> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    if exe.as_os_str().as_bytes().starts_with(b"/memfd:") {
        return Ok(());
    }
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
    nix::unistd::fexecve(copy.as_raw_fd(), &args, &env)?;
    unreachable!("fexecve returns only on failure")
}
