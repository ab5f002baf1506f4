//! `mini exec` and `mini __monitor` run from a view of mini's binary that cannot be written,
//! against CVE-2019-5736 (see the runtime's sealed.rs): this re-executes the process from one.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use mini_runtime::sealed::EXE_ENV;

/// Re-executes this process from a view of its binary that cannot be written, unless it runs
/// from one already. Returns only if that could not be done.
pub fn reexec() -> std::io::Result<()> {
    if mini_runtime::sealed::runs_from_a_view() {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe")?;
    let view = mini_runtime::sealed::view()?;
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
