//! A folder as a layer: the reverse of `unpack`. A container's upper directory (or any tree
//! written in overlay's form) becomes an OCI layer tar, and its changes a list as `docker diff`
//! prints it.
//!
//! Overlay's whiteouts become OCI's: a character device 0:0 named NAME becomes an empty file
//! `.wh.NAME`, and a folder marked `trusted.overlay.opaque=y` is followed by `.wh..wh..opq`
//! inside it. Overlay's own bookkeeping (`trusted.overlay.*` xattrs) stays out; other xattrs
//! (file capabilities among them) go in as PAX records, as Docker writes them. Entries come in
//! name order, each folder before its content, hard links as links to the first name seen.
//! Nothing is followed: a symlink is archived as a symlink, whatever it points at.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const OVERLAY_XATTRS: &str = "trusted.overlay.";

/// What happened to one path, as `docker diff` letters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// `C`: it was in the image and is changed (or a folder whose content changed).
    Modify,
    /// `A`: new.
    Add,
    /// `D`: removed.
    Delete,
}

impl ChangeKind {
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modify => 'C',
            ChangeKind::Add => 'A',
            ChangeKind::Delete => 'D',
        }
    }

    /// Docker's API number for it (`GET /containers/{id}/changes`).
    pub fn number(self) -> u8 {
        match self {
            ChangeKind::Modify => 0,
            ChangeKind::Add => 1,
            ChangeKind::Delete => 2,
        }
    }
}

/// One line of `docker diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute inside the container: `/etc/hosts`.
    pub path: String,
}

/// Each entry below `dir` (relative path and metadata), in name order, a folder before its
/// content. `visit` says whether to go into a folder.
fn walk(
    dir: &Path,
    relative: &Path,
    visit: &mut dyn FnMut(&Path, &std::fs::Metadata) -> Result<()>,
) -> Result<()> {
    let here = dir.join(relative);
    let mut names: Vec<OsString> = std::fs::read_dir(&here)
        .map_err(Error::io(&here))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(Error::io(&here))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let path = relative.join(&name);
        let full = dir.join(&path);
        let meta = std::fs::symlink_metadata(&full).map_err(Error::io(&full))?;
        visit(&path, &meta)?;
        if meta.is_dir() {
            walk(dir, &path, visit)?;
        }
    }
    Ok(())
}

fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, OPAQUE_XATTR), Ok(Some(value)) if value == b"y")
}

/// True when `upper` holds nothing: the container changed no file.
pub fn is_empty(upper: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(upper)
        .map_err(Error::io(upper))?
        .next()
        .is_none())
}

/// What a container's upper folder changed against the layers below it (uppermost first), as
/// Docker's overlay2 driver reports it: a whiteout is `D`; a path that a lower layer has is `C`
/// (a folder only when its own metadata changed or something in it did); anything else is `A`.
/// The folder of an added or deleted path shows as changed.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>> {
    let in_lower = |relative: &Path| -> Option<std::fs::Metadata> {
        lowers
            .iter()
            .find_map(|lower| std::fs::symlink_metadata(lower.join(relative)).ok())
            .filter(|meta| !is_whiteout(meta))
    };
    let mut out = Vec::new();
    let mut changed_dirs: std::collections::HashSet<PathBuf> = Default::default();
    walk(upper, Path::new(""), &mut |relative, meta| {
        let absolute = Path::new("/").join(relative);
        let below = in_lower(relative);
        let kind = if is_whiteout(meta) || (meta.is_dir() && is_opaque(&upper.join(relative))) {
            if below.is_none() && !is_whiteout(meta) {
                // An opaque folder that hides nothing is simply new.
                ChangeKind::Add
            } else {
                ChangeKind::Delete
            }
        } else {
            match &below {
                None => ChangeKind::Add,
                Some(lower) => {
                    if lower.is_dir()
                        && meta.is_dir()
                        && lower.mode() == meta.mode()
                        && lower.mtime() == meta.mtime()
                        && lower.mtime_nsec() == meta.mtime_nsec()
                    {
                        // Only here because something inside changed: that entry shows it.
                        return Ok(());
                    }
                    ChangeKind::Modify
                }
            }
        };
        if meta.is_dir() {
            changed_dirs.insert(absolute.clone());
        }
        if matches!(kind, ChangeKind::Add | ChangeKind::Delete) {
            if let Some(parent) = absolute.parent() {
                if parent != Path::new("/") && changed_dirs.insert(parent.to_path_buf()) {
                    out.push(Change {
                        kind: ChangeKind::Modify,
                        path: parent.display().to_string(),
                    });
                }
            }
        }
        out.push(Change {
            kind,
            path: absolute.display().to_string(),
        });
        Ok(())
    })?;
    Ok(out)
}

/// Writes `dir` (a tree in overlay's form) as an OCI layer tar to `out`, and returns `out`.
pub fn pack_layer<W: Write>(dir: &Path, out: W) -> Result<W> {
    let archive_err = |path: &Path| {
        let path = dir.join(path);
        move |err: std::io::Error| Error::Io { path, source: err }
    };
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    // (device, inode) of files with several names -> the first name archived.
    let mut first_names: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(dir, Path::new(""), &mut |relative, meta| {
        let full = dir.join(relative);
        let kind = meta.file_type();
        let mut header = header_of(meta);
        if is_whiteout(meta) {
            let name = relative.file_name().unwrap_or_default();
            let mut wh = OsString::from(WHITEOUT_PREFIX);
            wh.push(name);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o600);
            header.set_size(0);
            let path = relative.with_file_name(wh);
            return builder
                .append_data(&mut header, &path, std::io::empty())
                .map_err(archive_err(relative));
        }
        if kind.is_socket() {
            return Ok(()); // as Docker: a socket cannot be archived
        }
        write_xattrs(&mut builder, &full).map_err(archive_err(relative))?;
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            let mut name = relative.as_os_str().to_owned();
            name.push("/");
            builder
                .append_data(&mut header, Path::new(&name), std::io::empty())
                .map_err(archive_err(relative))?;
            if is_opaque(&full) {
                let mut marker = header_of(meta);
                marker.set_entry_type(tar::EntryType::Regular);
                marker.set_mode(meta.mode() & 0o777);
                builder
                    .append_data(&mut marker, relative.join(OPAQUE_MARKER), std::io::empty())
                    .map_err(archive_err(relative))?;
            }
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&full).map_err(Error::io(&full))?;
            header.set_entry_type(tar::EntryType::Symlink);
            builder
                .append_link(&mut header, relative, target)
                .map_err(archive_err(relative))?;
        } else if kind.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = first_names.get(&key) {
                    header.set_entry_type(tar::EntryType::Link);
                    return builder
                        .append_link(&mut header, relative, first)
                        .map_err(archive_err(relative));
                }
                first_names.insert(key, relative.to_path_buf());
            }
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&full)
                .map_err(Error::io(&full))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            // A file that grows while it is read must not shift the entries after it.
            use std::io::Read;
            builder
                .append_data(&mut header, relative, file.take(meta.len()))
                .map_err(archive_err(relative))?;
        } else {
            let rdev = meta.rdev();
            header.set_entry_type(if kind.is_char_device() {
                tar::EntryType::Char
            } else if kind.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            if !kind.is_fifo() {
                header
                    .set_device_major(nix::sys::stat::major(rdev) as u32)
                    .and_then(|()| header.set_device_minor(nix::sys::stat::minor(rdev) as u32))
                    .map_err(archive_err(relative))?;
            }
            builder
                .append_data(&mut header, relative, std::io::empty())
                .map_err(archive_err(relative))?;
        }
        Ok(())
    })?;
    builder.into_inner().map_err(archive_err(Path::new("")))
}

/// A header with the entry's mode, owner and mtime; type and size are the caller's.
fn header_of(meta: &std::fs::Metadata) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(u64::from(meta.uid()));
    header.set_gid(u64::from(meta.gid()));
    header.set_mtime(meta.mtime().max(0) as u64);
    header.set_size(0);
    header
}

/// The entry's xattrs, but overlay's own, as a PAX header before it (`SCHILY.xattr.NAME`).
fn write_xattrs<W: Write>(builder: &mut tar::Builder<W>, path: &Path) -> std::io::Result<()> {
    let Ok(names) = xattr::list(path) else {
        return Ok(()); // a file system without xattrs has none to keep
    };
    let mut records = Vec::new();
    for name in names {
        let name_bytes = name.as_bytes();
        if name_bytes.starts_with(OVERLAY_XATTRS.as_bytes()) {
            continue;
        }
        let Some(value) = xattr::get(path, &name)? else {
            continue;
        };
        let mut body = b"SCHILY.xattr.".to_vec();
        body.extend_from_slice(name_bytes);
        body.push(b'=');
        body.extend_from_slice(&value);
        body.push(b'\n');
        records.extend_from_slice(&pax_record(&body));
    }
    if records.is_empty() {
        return Ok(());
    }
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_mode(0o644);
    header.set_size(records.len() as u64);
    header.set_path("PaxHeader")?;
    header.set_cksum();
    builder.append(&header, &records[..])
}

/// `LEN key=value\n`, where LEN counts itself.
fn pax_record(body: &[u8]) -> Vec<u8> {
    let mut len = body.len() + 2;
    loop {
        let total = body.len() + 1 + len.to_string().len();
        if total == len {
            break;
        }
        len = total;
    }
    let mut out = format!("{len} ").into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mini-pack-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn pax_records_count_their_own_length() {
        let record = pax_record(b"SCHILY.xattr.user.a=b\n");
        let text = String::from_utf8(record.clone()).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), record.len());
        // Where adding the length's digits adds a digit.
        assert_eq!(pax_record(&[b'x'; 96]).len(), 99);
        let record = pax_record(&[b'x'; 97]);
        assert_eq!(record.len(), 101);
        assert!(record.starts_with(b"101 "));
    }

    #[test]
    fn a_tree_packs_and_unpacks_to_the_same_files() {
        let dir = scratch("round");
        std::fs::create_dir_all(dir.join("src/etc/deep")).unwrap();
        std::fs::write(dir.join("src/etc/a"), "alpha").unwrap();
        std::fs::hard_link(dir.join("src/etc/a"), dir.join("src/etc/deep/b")).unwrap();
        std::os::unix::fs::symlink("../a", dir.join("src/etc/deep/link")).unwrap();
        let long = "n".repeat(150);
        std::fs::write(dir.join("src/etc").join(&long), "long").unwrap();
        let tar = pack_layer(&dir.join("src"), Vec::new()).unwrap();

        let mut names = Vec::new();
        let mut archive = tar::Archive::new(&tar[..]);
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            names.push((
                entry.path().unwrap().display().to_string(),
                entry.header().entry_type(),
            ));
        }
        let listed: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(listed[0], "etc/");
        assert_eq!(listed[1], "etc/a");
        assert_eq!(listed[2], "etc/deep/");
        assert!(names.contains(&("etc/deep/b".into(), tar::EntryType::Link)));
        assert!(names.contains(&("etc/deep/link".into(), tar::EntryType::Symlink)));
        assert!(listed.contains(&format!("etc/{long}").as_str()));

        std::fs::create_dir_all(dir.join("out")).unwrap();
        crate::unpack::unpack_layer(&tar[..], &dir.join("out"), "test").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("out/etc/deep/b")).unwrap(),
            "alpha"
        );
        assert_eq!(
            std::fs::read_link(dir.join("out/etc/deep/link")).unwrap(),
            Path::new("../a")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Whiteouts need root to make (mknod 0:0, trusted.* xattrs): the rest runs without.
    #[test]
    fn changes_read_like_docker_diff() {
        let dir = scratch("changes");
        let (lower, upper) = (dir.join("lower"), dir.join("upper"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/passwd"), "root").unwrap();
        std::fs::write(lower.join("etc/gone"), "x").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "root\nme").unwrap();
        std::fs::create_dir_all(upper.join("new/inner")).unwrap();
        let root = nix::unistd::geteuid().is_root();
        if root {
            nix::sys::stat::mknod(
                &upper.join("etc/gone"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            )
            .unwrap();
        }
        let found: Vec<String> = changes(&upper, std::slice::from_ref(&lower))
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        let mut wanted = vec!["C /etc"];
        if root {
            wanted.push("D /etc/gone");
        }
        wanted.extend(["C /etc/passwd", "A /new", "A /new/inner"]);
        assert_eq!(found, wanted);

        if root {
            let tar = pack_layer(&upper, Vec::new()).unwrap();
            let mut archive = tar::Archive::new(&tar[..]);
            let names: Vec<String> = archive
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            assert!(names.contains(&"etc/.wh.gone".to_string()), "{names:?}");
            assert!(!names.contains(&"etc/gone".to_string()), "{names:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
