//! `-u user[:group]` resolved the way Docker does: names are looked up in the image's own
//! /etc/passwd and /etc/group (read inside the container's root, never following a link out of
//! it); numbers are taken as they are; the user's supplementary groups come from /etc/group.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};

/// The ids a container's process runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`) inside `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ResolvedUser> {
    let passwd = read_in_root(rootfs, "etc/passwd").unwrap_or_default();
    let group = read_in_root(rootfs, "etc/group").unwrap_or_default();
    resolve_in(&passwd, &group, spec)
}

/// The same, on the text of passwd and group files.
pub fn resolve_in(passwd: &str, group: &str, spec: &str) -> Result<ResolvedUser> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 {
            return None;
        }
        let matches = fields[0] == user_part || fields[2] == user_part;
        matches.then(|| {
            (
                fields[0].to_string(),
                fields[2].parse::<u32>().ok(),
                fields[3].parse::<u32>().ok(),
            )
        })
    });
    let (user_name, uid, mut gid) = match (entry, user_part.parse::<u32>()) {
        (Some((name, Some(uid), Some(gid))), _) => (Some(name), uid, gid),
        (_, Ok(uid)) => (None, uid, 0),
        _ => {
            return Err(Error::Invalid(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )))
        }
    };
    if let Some(group_part) = group_part {
        let found = group.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 3 && (fields[0] == group_part || fields[2] == group_part))
                .then(|| fields[2].parse::<u32>().ok())
                .flatten()
        });
        gid = match (found, group_part.parse::<u32>()) {
            (Some(gid), _) | (None, Ok(gid)) => gid,
            _ => {
                return Err(Error::Invalid(format!(
                    "unable to find group {group_part}: no matching entries in group file"
                )))
            }
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = &user_name {
        for line in group.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[3].split(',').any(|member| member == name) {
                if let Ok(id) = fields[2].parse::<u32>() {
                    if id != gid && !additional_gids.contains(&id) {
                        additional_gids.push(id);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// Reads `relative` as the container would see it: every component, symlinks included, is
/// resolved inside `root` (openat2 with RESOLVE_IN_ROOT), so a hostile image cannot make mini
/// read a host file.
pub fn read_in_root(root: &Path, relative: &str) -> std::io::Result<String> {
    let fd = open_in_root(root, relative, libc::O_RDONLY)?;
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text)?;
    Ok(text)
}

/// Opens `relative` under `root` with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
pub fn open_in_root(root: &Path, relative: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let root_dir = std::fs::File::open(root)?;
    let path = std::ffi::CString::new(relative.trim_start_matches('/'))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // The kernel's struct open_how (linux/openat2.h); libc's is non-exhaustive.
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 reads `path` (a valid C string) and `how` (a valid open_how of the size
    // passed) and returns a new descriptor or -1; nothing else is touched.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            std::os::fd::AsRawFd::as_raw_fd(&root_dir),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
                          nginx:x:101:101:nginx:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww-data:x:33:\nnginx:x:101:\nadm:x:4:nginx,www-data\n";

    #[test]
    fn names_and_numbers_resolve_as_docker_resolves_them() {
        let r = |spec| resolve_in(PASSWD, GROUP, spec);
        assert_eq!(r("").unwrap(), ResolvedUser::default());
        let nginx = r("nginx").unwrap();
        assert_eq!((nginx.uid, nginx.gid), (101, 101));
        assert_eq!(nginx.additional_gids, vec![4]);
        assert_eq!(r("33:adm").unwrap().gid, 4);
        let numeric = r("1234:5678").unwrap();
        assert_eq!((numeric.uid, numeric.gid), (1234, 5678));
        assert_eq!(
            r("ghost").unwrap_err().to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            r("nginx:ghosts").unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
    }
}
