//! Copying file trees by file descriptor, so that a container's files can be read and written
//! without ever following one of its symlinks by path: what `mini cp` and the filling of a new
//! volume are made of.
//!
//! A copy is a walk (`send`) of a source tree that hands each entry to a `Sink`: `FsSink` writes
//! the entries below a directory it holds open, `TarSink` writes them as a tar stream (`cp ... -`);
//! `receive_tar` reads a tar stream into a sink (`cp - ...`).
//!
//! The rules that keep a hostile tree from reaching outside of it:
//! - Every entry is opened relative to its parent's descriptor, one name at a time, with
//!   `O_NOFOLLOW`; a name that is (or has just become) a symlink is handled as the symlink itself.
//! - A regular file is opened `O_PATH` first and checked with fstat, then re-opened through
//!   `/proc/thread-self/fd`: a device node or fifo planted in its place is never opened.
//! - The sink creates each entry under a parent it opened itself, name by name with
//!   `O_NOFOLLOW | O_DIRECTORY`, so a symlink that an earlier entry made (or that a container swaps
//!   in during the copy) ends the copy with an error instead of leading out of the destination.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;

/// An entry's metadata, from fstat.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub rdev: u64,
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
}

impl Meta {
    pub fn from_stat(st: &FileStat) -> Meta {
        Meta {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            rdev: st.st_rdev,
            atime: (st.st_atime, st.st_atime_nsec),
            mtime: (st.st_mtime, st.st_mtime_nsec),
        }
    }

    pub fn kind(&self) -> SFlag {
        SFlag::from_bits_truncate(self.mode & libc::S_IFMT)
    }

    pub fn is_dir(&self) -> bool {
        self.kind() == SFlag::S_IFDIR
    }
}

/// Why a copy stopped.
#[derive(Debug)]
pub struct TreeError {
    /// The entry, relative to the copy's destination (or source).
    pub path: PathBuf,
    pub errno: Option<Errno>,
    pub message: String,
}

impl std::fmt::Display for TreeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

pub type TreeResult<T = ()> = std::result::Result<T, TreeError>;

fn joined(path: &[OsString]) -> PathBuf {
    path.iter().collect()
}

fn fail(path: &[OsString], errno: Errno) -> TreeError {
    TreeError {
        path: joined(path),
        errno: Some(errno),
        message: errno.desc().to_string(),
    }
}

fn fail_io(path: &[OsString], err: std::io::Error) -> TreeError {
    TreeError {
        path: joined(path),
        errno: err.raw_os_error().map(Errno::from_raw),
        message: err.to_string(),
    }
}

/// The data of a regular file: an open file (copied in the kernel when the sink is a file too)
/// or a stream.
pub enum Data<'a> {
    File(&'a File),
    Stream(&'a mut dyn Read),
}

impl std::fmt::Debug for Data<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Data::File(_) => "Data::File",
            Data::Stream(_) => "Data::Stream",
        })
    }
}

/// Where entries go. Paths are relative to the sink's base, one component per element, in an
/// order where a directory comes before what it holds.
pub trait Sink {
    fn enter_dir(&mut self, path: &[OsString], meta: &Meta) -> TreeResult;
    /// After the directory's entries: when its times and mode can be set.
    fn leave_dir(&mut self, path: &[OsString], meta: &Meta) -> TreeResult;
    fn file(&mut self, path: &[OsString], meta: &Meta, data: Data) -> TreeResult;
    fn symlink(&mut self, path: &[OsString], meta: &Meta, target: &OsStr) -> TreeResult;
    /// A fifo or a device node.
    fn special(&mut self, path: &[OsString], meta: &Meta) -> TreeResult;
    /// A hard link to `target`, an entry the sink received before (from a tar stream).
    fn hardlink(&mut self, path: &[OsString], target: &[OsString]) -> TreeResult;
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned to us by the kernel and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Opens `name` under `dir` as an `O_PATH` descriptor of the entry itself (never following it).
pub fn open_entry(dir: RawFd, name: &OsStr, path: &[OsString]) -> TreeResult<OwnedFd> {
    nix::fcntl::openat(
        Some(dir),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(owned)
    .map_err(|errno| fail(path, errno))
}

/// Re-opens an `O_PATH` descriptor for reading; the inode is the one fstat saw.
fn reopen(fd: &OwnedFd, flags: OFlag, path: &[OsString]) -> TreeResult<OwnedFd> {
    let proc_path = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    nix::fcntl::open(
        proc_path.as_str(),
        flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map(owned)
    .map_err(|errno| fail(path, errno))
}

/// Whether `fd` is on one of the kernel's own file systems (proc, sysfs, devpts, cgroup,
/// mqueue, debugfs, tracefs, securityfs, bpf). A container's `/proc` and `/sys` are reachable
/// through its root; reading or writing them as the host's root is never what a copy means
/// (`/proc/kmsg` blocks, and writes would carry the host's privileges), and Docker's copies
/// never see them. Copies skip them and refuse them as destinations.
pub fn is_kernel_fs(fd: std::os::fd::BorrowedFd) -> bool {
    const KERNEL: &[i64] = &[
        0x9fa0,      // proc
        0x6265_6572, // sysfs
        0x1cd1,      // devpts
        0x0027_e0eb, // cgroup
        0x6367_7270, // cgroup2
        0x1980_0202, // mqueue
        0x6462_6720, // debugfs
        0x7472_6163, // tracefs
        0x7363_6673, // securityfs
        0xcafe_4a11, // bpf
    ];
    // f_type's width differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    nix::sys::statfs::fstatfs(fd)
        .map(|st| KERNEL.contains(&(st.filesystem_type().0 as i64)))
        .unwrap_or(false)
}

fn kernel_fs_error(path: &[OsString]) -> TreeError {
    TreeError {
        path: joined(path),
        errno: Some(Errno::EPERM),
        message: "on a kernel file system (proc, sys, devpts, cgroup): not written".into(),
    }
}

fn stat_fd(fd: &OwnedFd, path: &[OsString]) -> TreeResult<Meta> {
    nix::sys::stat::fstat(fd.as_raw_fd())
        .map(|st| Meta::from_stat(&st))
        .map_err(|errno| fail(path, errno))
}

/// Sends the entry `source` (an `O_PATH` descriptor) and everything below it to `sink`, as
/// `path` (empty: a directory's entries go straight into the sink's base).
pub fn send(source: OwnedFd, path: &mut Vec<OsString>, sink: &mut dyn Sink) -> TreeResult {
    use std::os::fd::AsFd;
    if is_kernel_fs(source.as_fd()) {
        return Ok(());
    }
    let meta = stat_fd(&source, path)?;
    match meta.kind() {
        SFlag::S_IFDIR => {
            let dir = reopen(&source, OFlag::O_RDONLY | OFlag::O_DIRECTORY, path)?;
            drop(source);
            if !path.is_empty() {
                sink.enter_dir(path, &meta)?;
            }
            let mut names: Vec<OsString> = {
                // Dir takes a duplicate; ours stays for the openat calls.
                let dup = dir.try_clone().map_err(|err| fail_io(path, err))?;
                let mut listing =
                    nix::dir::Dir::from_fd(dup.into_raw_fd()).map_err(|errno| fail(path, errno))?;
                let mut names = Vec::new();
                for entry in listing.iter() {
                    let entry = entry.map_err(|errno| fail(path, errno))?;
                    let name = OsStr::from_bytes(entry.file_name().to_bytes());
                    if name != "." && name != ".." {
                        names.push(name.to_owned());
                    }
                }
                names
            };
            names.sort();
            for name in names {
                path.push(name);
                let entry = open_entry(dir.as_raw_fd(), path.last().expect("pushed"), path);
                let sent = entry.and_then(|fd| send(fd, path, sink));
                path.pop();
                sent?;
            }
            if !path.is_empty() {
                sink.leave_dir(path, &meta)?;
            }
            Ok(())
        }
        SFlag::S_IFREG => {
            let file = File::from(reopen(&source, OFlag::O_RDONLY, path)?);
            sink.file(path, &meta, Data::File(&file))
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(Some(source.as_raw_fd()), "")
                .map_err(|errno| fail(path, errno))?;
            sink.symlink(path, &meta, &target)
        }
        SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => sink.special(path, &meta),
        // Sockets are not copied, as tar leaves them out.
        _ => Ok(()),
    }
}

/// Writes entries below a directory it holds open. `keep_owner`: entries get the source's
/// uid and gid (`cp -a`); otherwise they belong to whoever runs the copy.
#[derive(Debug)]
pub struct FsSink {
    base: OwnedFd,
    keep_owner: bool,
    /// The last parent opened, to spare a walk from the base for each file of a directory.
    cached: Option<(Vec<OsString>, OwnedFd)>,
    /// Directories this copy made: only their mode and times are set (an existing directory
    /// that receives entries keeps its own).
    made: Vec<Vec<OsString>>,
    /// The entries come from a container and go to the host: without `keep_owner` (`cp -a`),
    /// device nodes are left out and set-user-ID and set-group-ID bits dropped, so that a
    /// container cannot hand the host a raw disk or a root shell.
    untrusted: bool,
}

impl FsSink {
    pub fn new(base: OwnedFd, keep_owner: bool) -> FsSink {
        FsSink {
            base,
            keep_owner,
            cached: None,
            made: Vec::new(),
            untrusted: false,
        }
    }

    /// Entries come from a container and go to the host (see `untrusted`).
    pub fn from_container(mut self, untrusted: bool) -> FsSink {
        self.untrusted = untrusted;
        self
    }

    /// The permission bits an entry gets here.
    fn mode_for(&self, meta: &Meta) -> Mode {
        let mut bits = meta.mode & 0o7777;
        if self.untrusted && !self.keep_owner {
            bits &= !(libc::S_ISUID | libc::S_ISGID);
        }
        Mode::from_bits_truncate(bits)
    }

    /// The directory that holds `path`'s last component, opened name by name from the base.
    fn parent(&mut self, path: &[OsString]) -> TreeResult<RawFd> {
        let parent = &path[..path.len().saturating_sub(1)];
        if let Some((cached, fd)) = &self.cached {
            if cached.as_slice() == parent {
                return Ok(fd.as_raw_fd());
            }
        }
        let current = self.open_parent(path)?;
        let raw = current.as_raw_fd();
        self.cached = Some((parent.to_vec(), current));
        Ok(raw)
    }

    /// `parent` without the cache: a descriptor of its own.
    fn open_parent(&self, path: &[OsString]) -> TreeResult<OwnedFd> {
        let parent = &path[..path.len().saturating_sub(1)];
        let mut current = self.base.try_clone().map_err(|err| fail_io(path, err))?;
        for (i, name) in parent.iter().enumerate() {
            let open = |dir: &OwnedFd| {
                nix::fcntl::openat(
                    Some(dir.as_raw_fd()),
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
            };
            // A folder an archive names only by the files in it is made, as tar makes it.
            let opened = match open(&current) {
                Err(Errno::ENOENT) => nix::sys::stat::mkdirat(
                    Some(current.as_raw_fd()),
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                )
                .or_else(|errno| {
                    if errno == Errno::EEXIST {
                        Ok(())
                    } else {
                        Err(errno)
                    }
                })
                .and_then(|()| open(&current)),
                other => other,
            };
            current = opened.map(owned).map_err(|errno| {
                let at = &path[..=i];
                match errno {
                    Errno::ELOOP | Errno::ENOTDIR => TreeError {
                        path: joined(at),
                        errno: Some(errno),
                        message: "not a directory (a symlink is not followed)".into(),
                    },
                    other => fail(at, other),
                }
            })?;
            if is_kernel_fs(std::os::fd::AsFd::as_fd(&current)) {
                return Err(kernel_fs_error(&path[..=i]));
            }
        }
        Ok(current)
    }

    /// Clears `name` under `parent` for a new non-directory; a directory there is an error.
    fn clear(&self, parent: RawFd, name: &OsStr, path: &[OsString]) -> TreeResult {
        match nix::sys::stat::fstatat(Some(parent), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => Ok(()),
            Err(errno) => Err(fail(path, errno)),
            Ok(st) if Meta::from_stat(&st).is_dir() => Err(TreeError {
                path: joined(path),
                errno: Some(Errno::EISDIR),
                message: "cannot overwrite a directory with a non-directory".into(),
            }),
            Ok(_) => {
                nix::unistd::unlinkat(Some(parent), name, nix::unistd::UnlinkatFlags::NoRemoveDir)
                    .map_err(|errno| fail(path, errno))
            }
        }
    }

    /// `cp -a`: the entry `name` under `parent` (never followed) gets the source's owner.
    fn chown_entry(
        &self,
        parent: RawFd,
        name: &OsStr,
        meta: &Meta,
        path: &[OsString],
    ) -> TreeResult {
        if !self.keep_owner {
            return Ok(());
        }
        nix::unistd::fchownat(
            Some(parent),
            name,
            Some(nix::unistd::Uid::from_raw(meta.uid)),
            Some(nix::unistd::Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|errno| fail(path, errno))
    }

    fn set_owner_and_times(&self, fd: RawFd, meta: &Meta, path: &[OsString]) -> TreeResult {
        if self.keep_owner {
            nix::unistd::fchown(
                fd,
                Some(nix::unistd::Uid::from_raw(meta.uid)),
                Some(nix::unistd::Gid::from_raw(meta.gid)),
            )
            .map_err(|errno| fail(path, errno))?;
        }
        // After chown, which clears set-user-ID bits.
        nix::sys::stat::fchmod(fd, self.mode_for(meta)).map_err(|errno| fail(path, errno))?;
        nix::sys::stat::futimens(
            fd,
            &TimeSpec::new(meta.atime.0, meta.atime.1),
            &TimeSpec::new(meta.mtime.0, meta.mtime.1),
        )
        .map_err(|errno| fail(path, errno))
    }
}

impl Sink for FsSink {
    fn enter_dir(&mut self, path: &[OsString], _meta: &Meta) -> TreeResult {
        let parent = self.parent(path)?;
        let name = path.last().expect("a name");
        match nix::sys::stat::mkdirat(
            Some(parent),
            name.as_os_str(),
            Mode::from_bits_truncate(0o700),
        ) {
            Ok(()) => {
                self.made.push(path.to_vec());
                Ok(())
            }
            Err(Errno::EEXIST) => {
                match nix::sys::stat::fstatat(
                    Some(parent),
                    name.as_os_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) if Meta::from_stat(&st).is_dir() => Ok(()),
                    Ok(_) => {
                        self.clear(parent, name, path)?;
                        nix::sys::stat::mkdirat(
                            Some(parent),
                            name.as_os_str(),
                            Mode::from_bits_truncate(0o700),
                        )
                        .map_err(|errno| fail(path, errno))?;
                        self.made.push(path.to_vec());
                        Ok(())
                    }
                    Err(errno) => Err(fail(path, errno)),
                }
            }
            Err(errno) => Err(fail(path, errno)),
        }
    }

    fn leave_dir(&mut self, path: &[OsString], meta: &Meta) -> TreeResult {
        let Some(index) = self.made.iter().rposition(|made| made.as_slice() == path) else {
            return Ok(());
        };
        self.made.remove(index);
        let parent = self.parent(path)?;
        let dir = nix::fcntl::openat(
            Some(parent),
            path.last().expect("a name").as_os_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(owned)
        .map_err(|errno| fail(path, errno))?;
        self.set_owner_and_times(dir.as_raw_fd(), meta, path)
    }

    fn file(&mut self, path: &[OsString], meta: &Meta, data: Data) -> TreeResult {
        let parent = self.parent(path)?;
        let name = path.last().expect("a name").as_os_str();
        // A regular file there is written in place (a bind-mounted file cannot be replaced);
        // anything else is removed first.
        let open = |flags: OFlag| {
            nix::fcntl::openat(
                Some(parent),
                name,
                flags | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
                Mode::from_bits_truncate(0o600),
            )
        };
        // What is there is pinned by an O_PATH descriptor and checked through it: a device
        // node or fifo swapped in for the file is never opened for writing.
        let fd = match open_entry(parent, name, path) {
            Ok(entry) if stat_fd(&entry, path)?.kind() == SFlag::S_IFREG => reopen(
                &entry,
                OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_NONBLOCK,
                path,
            )?,
            Ok(_) => {
                self.clear(parent, name, path)?;
                open(OFlag::O_CREAT | OFlag::O_EXCL)
                    .map(owned)
                    .map_err(|errno| fail(path, errno))?
            }
            Err(_) => open(OFlag::O_CREAT | OFlag::O_EXCL)
                .map(owned)
                .map_err(|errno| fail(path, errno))?,
        };
        let mut out = File::from(fd);
        let copied = match data {
            Data::File(mut file) => std::io::copy(&mut file, &mut out),
            Data::Stream(stream) => std::io::copy(stream, &mut out),
        };
        copied.map_err(|err| fail_io(path, err))?;
        self.set_owner_and_times(out.as_raw_fd(), meta, path)
    }

    fn symlink(&mut self, path: &[OsString], meta: &Meta, target: &OsStr) -> TreeResult {
        let parent = self.parent(path)?;
        let name = path.last().expect("a name").as_os_str();
        self.clear(parent, name, path)?;
        nix::unistd::symlinkat(target, Some(parent), name).map_err(|errno| fail(path, errno))?;
        self.chown_entry(parent, name, meta, path)?;
        nix::sys::stat::utimensat(
            Some(parent),
            name,
            &TimeSpec::new(meta.atime.0, meta.atime.1),
            &TimeSpec::new(meta.mtime.0, meta.mtime.1),
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|errno| fail(path, errno))
    }

    fn special(&mut self, path: &[OsString], meta: &Meta) -> TreeResult {
        if self.untrusted && !self.keep_owner && meta.kind() != SFlag::S_IFIFO {
            return Ok(());
        }
        let parent = self.parent(path)?;
        let name = path.last().expect("a name").as_os_str();
        self.clear(parent, name, path)?;
        nix::sys::stat::mknodat(
            Some(parent),
            name,
            meta.kind(),
            self.mode_for(meta),
            meta.rdev,
        )
        .map_err(|errno| fail(path, errno))?;
        self.chown_entry(parent, name, meta, path)
    }

    fn hardlink(&mut self, path: &[OsString], target: &[OsString]) -> TreeResult {
        // Both ends are reached name by name from the base, and linkat does not follow a
        // symlink at the target: the link can only name a file already below the base.
        let target_parent = self.open_parent(target)?;
        let target_name = target.last().expect("a name").as_os_str();
        let parent = self.parent(path)?;
        let name = path.last().expect("a name").as_os_str();
        self.clear(parent, name, path)?;
        nix::unistd::linkat(
            Some(target_parent.as_raw_fd()),
            target_name,
            Some(parent),
            name,
            AtFlags::empty(),
        )
        .map_err(|errno| fail(path, errno))
    }
}

/// Writes entries as a tar stream (`mini cp CTR:PATH -`), with their modes, owners and times.
pub struct TarSink<W: std::io::Write> {
    builder: tar::Builder<W>,
}

impl<W: std::io::Write> std::fmt::Debug for TarSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TarSink")
    }
}

impl<W: std::io::Write> TarSink<W> {
    pub fn new(out: W) -> TarSink<W> {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        TarSink { builder }
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.builder.into_inner()
    }

    fn header(meta: &Meta, kind: tar::EntryType) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(meta.mode & 0o7777);
        header.set_uid(meta.uid.into());
        header.set_gid(meta.gid.into());
        header.set_mtime(meta.mtime.0.max(0) as u64);
        header.set_size(0);
        header
    }
}

impl<W: std::io::Write> Sink for TarSink<W> {
    fn enter_dir(&mut self, path: &[OsString], meta: &Meta) -> TreeResult {
        let mut header = Self::header(meta, tar::EntryType::Directory);
        self.builder
            .append_data(&mut header, joined(path), std::io::empty())
            .map_err(|err| fail_io(path, err))
    }

    fn leave_dir(&mut self, _path: &[OsString], _meta: &Meta) -> TreeResult {
        Ok(())
    }

    fn file(&mut self, path: &[OsString], meta: &Meta, data: Data) -> TreeResult {
        let mut header = Self::header(meta, tar::EntryType::Regular);
        header.set_size(meta.size);
        // A file that changes size during the copy must not break the archive: exactly
        // `size` bytes are written, padded with zeros if it shrank.
        let reader: Box<dyn Read> = match data {
            Data::File(file) => Box::new(file),
            Data::Stream(stream) => Box::new(stream),
        };
        let exact = reader.chain(std::io::repeat(0)).take(meta.size);
        self.builder
            .append_data(&mut header, joined(path), exact)
            .map_err(|err| fail_io(path, err))
    }

    fn symlink(&mut self, path: &[OsString], meta: &Meta, target: &OsStr) -> TreeResult {
        let mut header = Self::header(meta, tar::EntryType::Symlink);
        self.builder
            .append_link(&mut header, joined(path), Path::new(target))
            .map_err(|err| fail_io(path, err))
    }

    fn special(&mut self, path: &[OsString], meta: &Meta) -> TreeResult {
        let kind = match meta.kind() {
            SFlag::S_IFIFO => tar::EntryType::Fifo,
            SFlag::S_IFCHR => tar::EntryType::Char,
            _ => tar::EntryType::Block,
        };
        let mut header = Self::header(meta, kind);
        let major = libc::major(meta.rdev);
        let minor = libc::minor(meta.rdev);
        header
            .set_device_major(major)
            .and_then(|()| header.set_device_minor(minor))
            .map_err(|err| fail_io(path, err))?;
        self.builder
            .append_data(&mut header, joined(path), std::io::empty())
            .map_err(|err| fail_io(path, err))
    }

    fn hardlink(&mut self, path: &[OsString], target: &[OsString]) -> TreeResult {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Link);
        header.set_size(0);
        self.builder
            .append_link(&mut header, joined(path), joined(target))
            .map_err(|err| fail_io(path, err))
    }
}

/// An archive member's name as components: leading `/` and `./` dropped; `..` refused.
pub fn member_path(name: &Path) -> TreeResult<Vec<OsString>> {
    let mut parts = Vec::new();
    for component in name.components() {
        match component {
            std::path::Component::Normal(part) => parts.push(part.to_owned()),
            std::path::Component::CurDir | std::path::Component::RootDir => {}
            _ => {
                return Err(TreeError {
                    path: name.to_path_buf(),
                    errno: Some(Errno::EINVAL),
                    message: "an archive member may not name '..'".into(),
                })
            }
        }
    }
    Ok(parts)
}

/// Reads a tar stream into `sink` (`mini cp - CTR:DIR`). A hard link names a member before it;
/// it is made below the destination, never through a symlink.
pub fn receive_tar(input: impl Read, sink: &mut dyn Sink) -> TreeResult {
    let mut archive = tar::Archive::new(input);
    let entries = archive
        .entries()
        .map_err(|err| fail_io(&[OsString::from("-")], err))?;
    // Directories are finished (times, mode) once the stream ends, deepest first.
    let mut dirs: Vec<(Vec<OsString>, Meta)> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|err| fail_io(&[OsString::from("-")], err))?;
        let name = entry
            .path()
            .map_err(|err| fail_io(&[OsString::from("-")], err))?
            .into_owned();
        let path = member_path(&name)?;
        if path.is_empty() {
            continue;
        }
        let header = entry.header();
        let meta = Meta {
            mode: header.mode().unwrap_or(0o644),
            uid: header.uid().unwrap_or(0) as u32,
            gid: header.gid().unwrap_or(0) as u32,
            size: header.size().unwrap_or(0),
            rdev: libc::makedev(
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            ),
            atime: (header.mtime().unwrap_or(0) as i64, 0),
            mtime: (header.mtime().unwrap_or(0) as i64, 0),
        };
        let with_type = |bits: u32| Meta {
            mode: bits | (meta.mode & 0o7777),
            ..meta
        };
        match header.entry_type() {
            tar::EntryType::Directory => {
                let meta = with_type(libc::S_IFDIR);
                sink.enter_dir(&path, &meta)?;
                dirs.push((path, meta));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let meta = with_type(libc::S_IFREG);
                sink.file(&path, &meta, Data::Stream(&mut entry))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|err| fail_io(&path, err))?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                sink.symlink(&path, &with_type(libc::S_IFLNK), target.as_os_str())?;
            }
            tar::EntryType::Fifo => sink.special(&path, &with_type(libc::S_IFIFO))?,
            tar::EntryType::Char => sink.special(&path, &with_type(libc::S_IFCHR))?,
            tar::EntryType::Block => sink.special(&path, &with_type(libc::S_IFBLK))?,
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|err| fail_io(&path, err))?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target = member_path(&target)?;
                if target.is_empty() {
                    return Err(TreeError {
                        path: joined(&path),
                        errno: Some(Errno::EINVAL),
                        message: "a hard link to nothing".into(),
                    });
                }
                sink.hardlink(&path, &target)?;
            }
            // PAX and GNU headers are read by the tar crate itself; others are skipped.
            _ => {}
        }
    }
    for (path, meta) in dirs.iter().rev() {
        sink.leave_dir(path, meta)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mini-tree-{name}-{}-{}",
            std::process::id(),
            crate::record::random_id().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn dir_fd(path: &Path) -> OwnedFd {
        File::open(path).unwrap().into()
    }

    /// A tar member with any name (`..` and absolute ones too), written byte by byte.
    fn member(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    fn finish(mut out: Vec<u8>) -> Vec<u8> {
        out.extend_from_slice(&[0; 1024]);
        out
    }

    #[test]
    fn a_hostile_archive_stays_below_its_destination() {
        let root = temp_dir("hostile");
        let dest = root.join("dest");
        std::fs::create_dir(&dest).unwrap();
        let extract = |archive: Vec<u8>| {
            let mut sink = FsSink::new(dir_fd(&dest), false);
            receive_tar(&archive[..], &mut sink)
        };
        let mut dotdot = Vec::new();
        member(&mut dotdot, "../escaped", tar::EntryType::Regular, "", b"x");
        assert!(extract(finish(dotdot)).is_err());
        assert!(!root.join("escaped").exists());

        // A symlink out, then a file through it: the file is refused, the host untouched.
        let mut through = Vec::new();
        member(&mut through, "link", tar::EntryType::Symlink, "/", b"");
        member(
            &mut through,
            "link/tmp-pwned",
            tar::EntryType::Regular,
            "",
            b"x",
        );
        let err = extract(finish(through)).unwrap_err();
        assert!(err.message.contains("symlink is not followed"), "{err}");
        assert!(!Path::new("/tmp-pwned").exists());
        assert!(dest
            .join("link")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());

        // A hard link may only name what is below the destination.
        let mut hard = Vec::new();
        member(&mut hard, "h", tar::EntryType::Link, "../outside", b"");
        assert!(extract(finish(hard)).is_err());
        let mut hard = Vec::new();
        member(&mut hard, "/abs/a.txt", tar::EntryType::Regular, "", b"a");
        member(
            &mut hard,
            "abs/b.txt",
            tar::EntryType::Link,
            "abs/a.txt",
            b"",
        );
        // A hard link to the symlink is to the symlink itself, not to what it names.
        member(&mut hard, "l2", tar::EntryType::Link, "link", b"");
        extract(finish(hard)).unwrap();
        let a = std::fs::metadata(dest.join("abs/a.txt")).unwrap();
        let b = std::fs::metadata(dest.join("abs/b.txt")).unwrap();
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
        assert!(dest
            .join("l2")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_tree_copies_with_modes_times_and_symlinks_as_symlinks() {
        let root = temp_dir("copy");
        let src = root.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "data").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("sub/s")).unwrap();
        std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
        let dest = root.join("dest");
        std::fs::create_dir(&dest).unwrap();
        let source = open_entry(
            dir_fd(&root).as_raw_fd(),
            OsStr::new("src"),
            &[OsString::from("src")],
        )
        .unwrap();
        let mut sink = FsSink::new(dir_fd(&dest), false);
        send(source, &mut vec![OsString::from("copy")], &mut sink).unwrap();
        let copied = dest.join("copy/sub/f");
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "data");
        let (from, to) = (
            std::fs::metadata(src.join("sub/f")).unwrap(),
            std::fs::metadata(&copied).unwrap(),
        );
        assert_eq!(to.mode() & 0o7777, 0o640);
        assert_eq!(
            (to.mtime(), to.mtime_nsec()),
            (from.mtime(), from.mtime_nsec())
        );
        let sub = std::fs::metadata(dest.join("copy/sub")).unwrap();
        assert_eq!(sub.mode() & 0o7777, 0o750);
        assert_eq!(
            std::fs::read_link(dest.join("copy/sub/s")).unwrap(),
            Path::new("/etc/passwd")
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
