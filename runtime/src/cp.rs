//! `mini cp`: files in and out of a container, with Docker's rules for what lands where, every
//! container path resolved inside the container's root (openat2 `RESOLVE_IN_ROOT`), and the
//! copy itself done by descriptor (tree.rs), so that a container's symlinks, planted or swapped in
//! during the copy, never lead to the host's files (CVE-2018-15664).
//!
//! The container's root is the one its processes see, volumes and bind mounts included:
//! - running: `/proc/<pid>/root`, a door into its mount namespace;
//! - stopped: a thread of ours in a private mount namespace mounts its overlay and binds its
//!   mounts as its start would, and does the copy there. The namespace, and every mount in it,
//!   goes away with the thread: nothing is left mounted on the host whatever happens.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::{ContainerRecord, Lock};
use crate::tree::{self, FsSink, Meta, Sink, TarSink, TreeError};

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyEnd {
    /// A path on the host.
    Host(PathBuf),
    /// `CTR:PATH`.
    Container { container: String, path: String },
    /// `-`: a tar stream on stdin or stdout.
    Stream,
}

impl CopyEnd {
    /// Docker's reading of a cp argument: `-`, `CTR:PATH` when a `:` comes before any `/`, else
    /// a host path (write `./a:b` for a host file with a colon).
    pub fn parse(text: &str) -> CopyEnd {
        if text == "-" {
            return CopyEnd::Stream;
        }
        if !text.starts_with('/') && !text.starts_with('.') {
            if let Some((container, path)) = text.split_once(':') {
                if !container.contains('/') && !container.is_empty() {
                    return CopyEnd::Container {
                        container: container.to_string(),
                        path: path.to_string(),
                    };
                }
            }
        }
        CopyEnd::Host(PathBuf::from(text))
    }
}

/// What `path_stat` found.
#[derive(Debug, Clone)]
pub struct PathStat {
    pub name: String,
    pub size: u64,
    /// `st_mode`.
    pub mode: u32,
    pub mtime: (i64, i64),
    pub link_target: String,
}

/// `-a` and `-L`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Keep uid and gid (otherwise what is copied in belongs to root).
    pub archive: bool,
    /// Follow a symlink named as the source.
    pub follow_link: bool,
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned to us by the kernel and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Where paths are looked up: the host's own tree, or a container's root.
#[derive(Debug)]
enum Side<'a> {
    Host,
    Container { root: &'a OwnedFd, name: &'a str },
}

impl Side<'_> {
    /// An `O_PATH` descriptor of `path`; `follow`: of what a final symlink points to.
    fn open(&self, path: &str, follow: bool) -> std::result::Result<OwnedFd, Errno> {
        let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
        if !follow {
            flags |= OFlag::O_NOFOLLOW;
        }
        match self {
            Side::Host => nix::fcntl::open(path, flags, Mode::empty()).map(owned),
            Side::Container { root, .. } => {
                let lookup = || {
                    nix::fcntl::openat2(
                        root.as_raw_fd(),
                        if path.is_empty() { "/" } else { path },
                        OpenHow::new().flags(flags).resolve(
                            ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS,
                        ),
                    )
                };
                // The kernel answers EAGAIN when a rename in the container raced the lookup
                // (it cannot vouch for `..`): look again, a few times.
                let mut result = lookup();
                for _ in 0..16 {
                    if result != Err(Errno::EAGAIN) {
                        break;
                    }
                    result = lookup();
                }
                result.map(owned)
            }
        }
    }

    /// The error for a path that is not there, in Docker's words.
    fn not_found(&self, path: &str) -> Error {
        match self {
            Side::Host => Error::NotFound(format!("lstat {path}: no such file or directory")),
            Side::Container { name, .. } => Error::NotFound(format!(
                "Could not find the file {path} in container {name}"
            )),
        }
    }

    fn error(&self, path: &str, errno: Errno) -> Error {
        match errno {
            Errno::ENOENT => self.not_found(path),
            Errno::ENOTDIR => Error::Copy(format!("{path}: not a directory")),
            other => Error::Copy(format!("{path}: {}", other.desc())),
        }
    }
}

fn stat(fd: &OwnedFd) -> Result<Meta> {
    nix::sys::stat::fstat(fd.as_raw_fd())
        .map(|st| Meta::from_stat(&st))
        .map_err(|errno| Error::Copy(errno.desc().to_string()))
}

/// The last component of a path as the user wrote it (`/a/b/` -> `b`); None for `/`.
fn base_name(path: &str) -> Option<OsString> {
    Path::new(path)
        .components()
        .rfind(|c| matches!(c, std::path::Component::Normal(_)))
        .map(|c| c.as_os_str().to_owned())
}

/// Everything but the last component (`a/b` -> `a`, `b` -> `.`, `/b` -> `/`).
fn parent_of(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => trimmed[..i].into(),
        None => ".".into(),
    }
}

fn copy_error(side: &Side, dest: &str, err: TreeError) -> Error {
    let at = Path::new(dest).join(&err.path);
    match (err.errno, side) {
        (Some(Errno::EROFS), Side::Container { .. }) => Error::Copy(format!(
            "{}: the destination is on a read-only file system (a read-only volume, bind or root)",
            at.display()
        )),
        _ => Error::Copy(format!("{}: {}", at.display(), err.message)),
    }
}

/// What a copy does once the container's root is open.
type CopyWork<'a> = Box<dyn FnOnce(&Side) -> Result<()> + Send + 'a>;

impl Engine {
    /// `mini cp SRC DEST`.
    pub fn copy(&self, source: &CopyEnd, dest: &CopyEnd, options: CopyOptions) -> Result<()> {
        // Which end is the container's, and what is done once its root is open.
        let (container, copy): (&str, CopyWork) = match (source, dest) {
            (CopyEnd::Container { container, path }, CopyEnd::Host(host)) => {
                let host = host.to_string_lossy().into_owned();
                (
                    container,
                    Box::new(move |side| copy_between(side, path, &Side::Host, &host, options)),
                )
            }
            (CopyEnd::Host(host), CopyEnd::Container { container, path }) => {
                let host = host.to_string_lossy().into_owned();
                (
                    container,
                    Box::new(move |side| copy_between(&Side::Host, &host, side, path, options)),
                )
            }
            (CopyEnd::Container { container, path }, CopyEnd::Stream) => {
                return self.copy_out(container, path, options, std::io::stdout())
            }
            (CopyEnd::Stream, CopyEnd::Container { container, path }) => {
                return self.copy_in(container, path, options, std::io::stdin())
            }
            (CopyEnd::Container { .. }, CopyEnd::Container { .. }) => {
                return Err(Error::Invalid(
                    "copying between containers is not supported".into(),
                ))
            }
            _ => {
                return Err(Error::Invalid(
                    "must specify at least one container source".into(),
                ))
            }
        };
        self.in_container(container, |side| copy(side))
    }

    /// Runs `work` with the container's root as a side of a copy (paths resolved inside it).
    fn in_container<T: Send>(
        &self,
        container: &str,
        work: impl FnOnce(&Side) -> Result<T> + Send,
    ) -> Result<T> {
        let record = self.find(container)?;
        self.with_container_root(&record, |root| {
            work(&Side::Container {
                root: &root,
                name: container,
            })
        })
    }

    /// `mini cp CTR:PATH -` and the Engine API's `GET /containers/{id}/archive`: the path
    /// (a file or a tree) as a tar stream.
    pub fn copy_out(
        &self,
        container: &str,
        path: &str,
        options: CopyOptions,
        out: impl Write + Send,
    ) -> Result<()> {
        self.in_container(container, |side| copy_to_tar(side, path, options, out))
    }

    /// `mini cp - CTR:DIR` and `PUT /containers/{id}/archive`: a tar stream extracted into a
    /// directory that exists.
    pub fn copy_in(
        &self,
        container: &str,
        dir: &str,
        options: CopyOptions,
        input: impl Read + Send,
    ) -> Result<()> {
        self.in_container(container, |side| copy_from_tar(input, side, dir, options))
    }

    /// What is at a path in the container (the final symlink not followed), for
    /// `HEAD /containers/{id}/archive`: its name, size, mode, mtime and link target.
    pub fn path_stat(&self, container: &str, path: &str) -> Result<PathStat> {
        self.in_container(container, |side| {
            let fd = side
                .open(path, false)
                .map_err(|errno| side.error(path, errno))?;
            let meta = stat(&fd)?;
            let link_target = if meta.mode & libc::S_IFMT == libc::S_IFLNK {
                nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "")
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            Ok(PathStat {
                name: base_name(path)
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "/".into()),
                size: meta.size,
                mode: meta.mode,
                mtime: meta.mtime,
                link_target,
            })
        })
    }

    /// Runs `work` with a descriptor of the container's root as its processes see it.
    pub(crate) fn with_container_root<T: Send>(
        &self,
        record: &ContainerRecord,
        work: impl FnOnce(OwnedFd) -> Result<T> + Send,
    ) -> Result<T> {
        if record.is_running() {
            return work(running_root(record)?);
        }
        // No start while we have its rootfs mounted (overlay refuses a second mount of an
        // upper directory in use).
        let _start = Lock::acquire(&self.store.container_dir(&record.id).join("start.lock"))?;
        let record = self.get(&record.id)?;
        if record.is_running() {
            // It started before we had the lock: its own root, then.
            return work(running_root(&record)?);
        }
        self.in_private_mounts(&record, true, work)
    }

    /// Runs `work` on a thread of its own in a private mount namespace where the stopped
    /// container's rootfs is mounted (and, with `binds`, its mounts bound as its start binds
    /// them), with a descriptor of that root.
    pub(crate) fn in_private_mounts<T: Send>(
        &self,
        record: &ContainerRecord,
        binds: bool,
        work: impl FnOnce(OwnedFd) -> Result<T> + Send,
    ) -> Result<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let system = |what: &str, errno: Errno| {
                        Error::System(format!("{what}: {}", errno.desc()))
                    };
                    nix::sched::unshare(
                        nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_FS,
                    )
                    .map_err(|e| system("unsharing the mount namespace", e))?;
                    nix::mount::mount(
                        None::<&str>,
                        "/",
                        None::<&str>,
                        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                        None::<&str>,
                    )
                    .map_err(|e| system("making mounts private", e))?;
                    let merged = self
                        .layers
                        .mount_container_layer(&record.id, record.host_config.auto_remove)?;
                    if binds && record.host_config.readonly_rootfs {
                        nix::mount::mount(
                            None::<&str>,
                            &merged,
                            None::<&str>,
                            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                            None::<&str>,
                        )
                        .map_err(|e| system("making the rootfs read-only", e))?;
                    }
                    let root = nix::fcntl::open(
                        &merged,
                        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .map(owned)
                    .map_err(|e| system("opening the rootfs", e))?;
                    let result = if binds {
                        self.bind_mounts(record, &root).and_then(|()| work(root))
                    } else {
                        work(root)
                    };
                    // Unmounted here, not when the namespace dies with the thread (which may
                    // be after join returns): the overlay is released before start.lock is.
                    let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
                    result
                })
                .join()
                .unwrap_or_else(|_| Err(Error::System("the copy's thread panicked".into())))
        })
    }

    /// Binds the container's mounts into the root (in a private mount namespace), as its start
    /// would: volumes, binds, tmpfs, and its hostname, hosts and resolv.conf files.
    fn bind_mounts(&self, record: &ContainerRecord, root: &OwnedFd) -> Result<()> {
        let side = Side::Container {
            root,
            name: &record.name,
        };
        let dir = self.store.container_dir(&record.id);
        let mut mounts = crate::spec::mount_order(&record.mounts);
        for file in ["resolv.conf", "hostname", "hosts"] {
            mounts.push(crate::mounts::MountPoint {
                kind: "bind".into(),
                source: dir.join(file).to_string_lossy().into_owned(),
                destination: format!("/etc/{file}"),
                rw: true,
                ..Default::default()
            });
        }
        for mount in mounts {
            let target = match mount.kind.as_str() {
                "bind" if !Path::new(&mount.source).is_dir() => {
                    match side.open(&mount.destination, true) {
                        Ok(fd) => fd,
                        // Made by the container's first start; nothing to copy through yet.
                        Err(_) => continue,
                    }
                }
                _ => make_dirs(root, &mount.destination)?,
            };
            let made = if mount.kind == "tmpfs" {
                let at = format!("/proc/thread-self/fd/{}", target.as_raw_fd());
                let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                if !mount.rw {
                    flags |= MsFlags::MS_RDONLY;
                }
                nix::mount::mount(
                    Some("tmpfs"),
                    at.as_str(),
                    Some("tmpfs"),
                    flags,
                    Some(mount.tmpfs_options.join(",").as_str()),
                )
            } else {
                attach_bind(&mount.source, &target, !mount.rw)
            };
            made.map_err(|errno| {
                Error::System(format!(
                    "mounting {} at {}: {}",
                    mount.source,
                    mount.destination,
                    errno.desc()
                ))
            })?;
        }
        Ok(())
    }

    /// Fills new volumes from the image: for each (container path, volume folder), what the
    /// image has at that path is copied in with its owners, modes and times, and the volume's
    /// folder takes the owner and mode of the image's directory, as Docker does.
    pub(crate) fn fill_volumes(
        &self,
        record: &ContainerRecord,
        volumes: &[(String, PathBuf)],
    ) -> Result<()> {
        if volumes.is_empty() {
            return Ok(());
        }
        self.in_private_mounts(record, false, |root| {
            let side = Side::Container {
                root: &root,
                name: &record.name,
            };
            for (destination, data) in volumes {
                let Ok(source) = side.open(destination, true) else {
                    continue;
                };
                let meta = stat(&source)?;
                if !meta.is_dir() {
                    continue;
                }
                let base = nix::fcntl::open(
                    data,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map(owned)
                .map_err(|errno| Error::io(data)(std::io::Error::from(errno)))?;
                nix::unistd::fchown(
                    base.as_raw_fd(),
                    Some(nix::unistd::Uid::from_raw(meta.uid)),
                    Some(nix::unistd::Gid::from_raw(meta.gid)),
                )
                .and_then(|()| {
                    nix::sys::stat::fchmod(
                        base.as_raw_fd(),
                        Mode::from_bits_truncate(meta.mode & 0o7777),
                    )
                })
                .map_err(|errno| Error::io(data)(std::io::Error::from(errno)))?;
                let mut sink = FsSink::new(base, true);
                tree::send(source, &mut Vec::new(), &mut sink).map_err(|err| {
                    Error::Copy(format!(
                        "filling the volume at {destination} from the image: {err}"
                    ))
                })?;
            }
            Ok(())
        })
    }
}

/// The root a running container's processes see, through `/proc/<pid>`. The pid is checked to
/// be the container's (its cgroup names the container) through the same `/proc/<pid>`
/// descriptor the root is opened from: if the container ended and the pid went to another
/// process, the descriptor no longer answers, and the host's `/` is never taken for its root.
fn running_root(record: &ContainerRecord) -> Result<OwnedFd> {
    let busy = || {
        Error::Conflict(format!(
            "container {} is starting or restarting: try again",
            record.name
        ))
    };
    if record.state.pid <= 0 {
        return Err(busy());
    }
    let proc_dir = format!("/proc/{}", record.state.pid);
    let dir = nix::fcntl::open(
        proc_dir.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(owned)
    .map_err(|_| busy())?;
    let cgroup = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        "cgroup",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(|fd| File::from(owned(fd)))
    .and_then(|mut file| {
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map(|_| text)
            .map_err(|_| Errno::EIO)
    })
    .map_err(|_| busy())?;
    if !cgroup.contains(&record.id) {
        return Err(busy());
    }
    nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        "root",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(owned)
    .map_err(|_| busy())
}

/// Binds the host path `source` (recursively) onto what `target` refers to, read-only when
/// asked. The mount is made detached (open_tree), made read-only there (mount_setattr) and only
/// then attached (move_mount) to the descriptor: no lookup comes between, so nothing the
/// container renames in the meantime can receive a writable mount.
fn attach_bind(source: &str, target: &OwnedFd, read_only: bool) -> std::result::Result<(), Errno> {
    let source = std::ffi::CString::new(source).map_err(|_| Errno::EINVAL)?;
    // SAFETY: open_tree reads a NUL-terminated path and returns a new descriptor or -1.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            source.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(Errno::last());
    }
    let tree = owned(tree as RawFd);
    if read_only {
        crate::sealed::set_mount_attributes(&tree, libc::MOUNT_ATTR_RDONLY, true)?;
    }
    // SAFETY: move_mount takes two descriptors and two empty NUL-terminated paths.
    let moved = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if moved < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Makes the directories of `path` inside the root that are missing (each component looked up
/// in the root, so a symlink in the path stays inside it); returns the last one.
fn make_dirs(root: &OwnedFd, path: &str) -> Result<OwnedFd> {
    let side = Side::Container { root, name: "" };
    let mut current = side.open("/", true).map_err(|e| side.error("/", e))?;
    let mut so_far = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        so_far.push('/');
        so_far.push_str(part);
        current = match side.open(&so_far, true) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                match nix::sys::stat::mkdirat(
                    Some(current.as_raw_fd()),
                    part,
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(errno) => return Err(side.error(&so_far, errno)),
                }
                side.open(&so_far, true)
                    .map_err(|errno| side.error(&so_far, errno))?
            }
            Err(errno) => return Err(side.error(&so_far, errno)),
        };
    }
    Ok(current)
}

/// Opens the source; checks Docker's `/` and `/.` rules. Returns its descriptor, metadata and
/// the path its entries take in the destination (empty: the directory's content).
fn open_source(
    side: &Side,
    path: &str,
    options: CopyOptions,
    name: Option<OsString>,
) -> Result<(OwnedFd, Meta, Vec<OsString>)> {
    let contents = path.ends_with("/.") || path == ".";
    let wants_dir = contents || path.ends_with('/');
    let fd = side
        .open(path, wants_dir || options.follow_link)
        .map_err(|errno| side.error(path, errno))?;
    if tree::is_kernel_fs(fd.as_fd()) {
        return Err(Error::Copy(format!(
            "{path}: on a kernel file system (proc, sys, devpts, cgroup): not copied"
        )));
    }
    let meta = stat(&fd)?;
    if wants_dir && !meta.is_dir() {
        return Err(Error::Copy(format!("{path}: not a directory")));
    }
    let top = if contents && meta.is_dir() {
        Vec::new()
    } else {
        vec![name
            .or_else(|| base_name(path))
            .unwrap_or_else(|| ".".into())]
    };
    Ok((fd, meta, top))
}

/// Refuses a destination on a read-only mount before anything is written.
fn check_writable(side: &Side, dir: &OwnedFd, dest: &str) -> Result<()> {
    if tree::is_kernel_fs(dir.as_fd()) {
        return Err(Error::Copy(format!(
            "cannot copy to {dest}: it is on a kernel file system (proc, sys, devpts, cgroup)"
        )));
    }
    let Ok(stat) = nix::sys::statvfs::fstatvfs(dir) else {
        return Ok(());
    };
    if !stat.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Ok(());
    }
    Err(match side {
        Side::Container { name, .. } => Error::Copy(format!(
            "cannot copy to {dest} in container {name}: it is on a read-only mount (--read-only, or a volume or bind mounted :ro)"
        )),
        Side::Host => Error::Copy(format!("cannot copy to {dest}: read-only file system")),
    })
}

fn open_dir(fd: &OwnedFd) -> Result<OwnedFd> {
    let path = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    nix::fcntl::open(
        path.as_str(),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(owned)
    .map_err(|errno| Error::Copy(errno.desc().to_string()))
}

/// Copies `src` on one side to `dest` on the other, with Docker's rules:
/// a file onto a file overwrites it, into a directory keeps its name, to a path that does not
/// exist takes that name (its parent must exist; a trailing `/` says it must be a directory);
/// a directory goes into an existing directory (its content only with `SRC/.`), or becomes
/// `dest` when that does not exist; a directory onto a file is an error.
fn copy_between(
    src_side: &Side,
    src: &str,
    dest_side: &Side,
    dest: &str,
    options: CopyOptions,
) -> Result<()> {
    let (source, meta, top) = open_source(src_side, src, options, None)?;
    let dest_must_be_dir = dest.ends_with('/') || dest.ends_with("/.");
    let (base, top, shown) = match dest_side.open(dest, true) {
        Ok(found) => {
            let found_meta = stat(&found)?;
            if found_meta.is_dir() {
                (found, top, dest.to_string())
            } else if dest_must_be_dir {
                return Err(Error::Copy(format!("{dest}: not a directory")));
            } else if meta.is_dir() {
                return Err(Error::Copy(format!(
                    "cannot overwrite non-directory \"{dest}\" with directory \"{src}\""
                )));
            } else {
                check_writable(dest_side, &found, dest)?;
                return overwrite_file(source, &meta, found, dest, options);
            }
        }
        Err(Errno::ENOENT) => {
            if dest_must_be_dir {
                return Err(Error::NotFound(format!(
                    "{dest}: no such directory (the destination directory must exist)"
                )));
            }
            let parent = parent_of(dest);
            let found = dest_side
                .open(&parent, true)
                .map_err(|errno| dest_side.error(&parent, errno))?;
            if !stat(&found)?.is_dir() {
                return Err(Error::Copy(format!("{parent}: not a directory")));
            }
            let name = base_name(dest).ok_or_else(|| Error::Copy(format!("{dest}: no name")))?;
            (found, vec![name], parent)
        }
        Err(errno) => return Err(dest_side.error(dest, errno)),
    };
    check_writable(dest_side, &base, dest)?;
    let from_container = matches!((src_side, dest_side), (Side::Container { .. }, Side::Host));
    let mut sink = FsSink::new(open_dir(&base)?, options.archive).from_container(from_container);
    let mut top = top;
    tree::send(source, &mut top, &mut sink).map_err(|err| copy_error(dest_side, &shown, err))
}

/// A file onto an existing file (perhaps reached through a symlink): written in place.
fn overwrite_file(
    source: OwnedFd,
    meta: &Meta,
    target: OwnedFd,
    dest: &str,
    options: CopyOptions,
) -> Result<()> {
    let io = |err: std::io::Error| Error::Copy(format!("{dest}: {err}"));
    let open = |fd: &OwnedFd, flags: OFlag| {
        nix::fcntl::open(
            format!("/proc/thread-self/fd/{}", fd.as_raw_fd()).as_str(),
            flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
        .map(|fd| File::from(owned(fd)))
        .map_err(|errno| Error::Copy(format!("{dest}: {}", errno.desc())))
    };
    let target_meta = stat(&target)?;
    if target_meta.kind() != nix::sys::stat::SFlag::S_IFREG
        || meta.kind() != nix::sys::stat::SFlag::S_IFREG
    {
        return Err(Error::Copy(format!(
            "{dest}: only a regular file can be overwritten with a file"
        )));
    }
    let mut input = open(&source, OFlag::O_RDONLY)?;
    let mut output = open(&target, OFlag::O_WRONLY | OFlag::O_TRUNC)?;
    std::io::copy(&mut input, &mut output).map_err(io)?;
    let fd = output.as_raw_fd();
    let errno = |errno: Errno| Error::Copy(format!("{dest}: {}", errno.desc()));
    if options.archive {
        nix::unistd::fchown(
            fd,
            Some(nix::unistd::Uid::from_raw(meta.uid)),
            Some(nix::unistd::Gid::from_raw(meta.gid)),
        )
        .map_err(errno)?;
    }
    nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(meta.mode & 0o7777)).map_err(errno)?;
    nix::sys::stat::futimens(
        fd,
        &nix::sys::time::TimeSpec::new(meta.atime.0, meta.atime.1),
        &nix::sys::time::TimeSpec::new(meta.mtime.0, meta.mtime.1),
    )
    .map_err(errno)
}

/// `mini cp CTR:PATH -`: a tar stream of the path (named by its last component).
fn copy_to_tar(side: &Side, src: &str, options: CopyOptions, out: impl Write) -> Result<()> {
    let (source, _, mut top) = open_source(side, src, options, None)?;
    let mut sink = TarSink::new(out);
    tree::send(source, &mut top, &mut sink).map_err(|err| copy_error(side, "-", err))?;
    sink.finish()
        .and_then(|mut out| out.flush())
        .map_err(|err| Error::Copy(format!("writing the archive: {err}")))
}

/// `mini cp - CTR:DIR`: a tar stream extracted into a directory that exists.
fn copy_from_tar(input: impl Read, side: &Side, dest: &str, options: CopyOptions) -> Result<()> {
    let found = side
        .open(dest, true)
        .map_err(|errno| side.error(dest, errno))?;
    if !stat(&found)?.is_dir() {
        return Err(Error::Copy(format!(
            "destination \"{dest}\" must be a directory"
        )));
    }
    check_writable(side, &found, dest)?;
    let mut sink = FsSink::new(open_dir(&found)?, options.archive);
    tree::receive_tar(input, &mut sink as &mut dyn Sink).map_err(|err| copy_error(side, dest, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_read_as_docker_reads_them() {
        assert_eq!(CopyEnd::parse("-"), CopyEnd::Stream);
        assert_eq!(
            CopyEnd::parse("w1:/usr/share/nginx/html/index.html"),
            CopyEnd::Container {
                container: "w1".into(),
                path: "/usr/share/nginx/html/index.html".into()
            }
        );
        assert_eq!(
            CopyEnd::parse("index.html"),
            CopyEnd::Host("index.html".into())
        );
        assert_eq!(CopyEnd::parse("./a:b"), CopyEnd::Host("./a:b".into()));
        assert_eq!(CopyEnd::parse("/tmp/a:b"), CopyEnd::Host("/tmp/a:b".into()));
        assert_eq!(
            CopyEnd::parse("c1:"),
            CopyEnd::Container {
                container: "c1".into(),
                path: "".into()
            }
        );
    }

    #[test]
    fn names_and_parents() {
        assert_eq!(base_name("/a/b/"), Some("b".into()));
        assert_eq!(base_name("/a/b/."), Some("b".into()));
        assert_eq!(base_name("/"), None);
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/b"), "/");
        assert_eq!(parent_of("b"), ".");
        assert_eq!(parent_of("a/b/"), "a");
    }
}
