//! Unpacking one layer's tar stream into a folder, as overlayfs wants it.
//!
//! OCI whiteouts become overlay's: `.wh.NAME` turns into a character device 0:0 named NAME (the
//! lower NAME is hidden), and `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its folder (the
//! lower folder's content is hidden). Modes, ownership, mtimes, xattrs, hard links and symlinks
//! are kept (the `tar` crate does this part).
//!
//! Nothing is ever written outside the folder, whatever the archive holds: `tar`'s `unpack_in`
//! refuses `..`, strips leading `/`, and refuses to write through a symlink whose target lies
//! outside; whiteouts get the same checks here. An entry that tries is an error that fails the
//! layer, rather than being skipped silently.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::error::{with_causes, Error, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Unpacks an uncompressed tar stream into `dest`, which must exist. `layer` names the layer in
/// errors.
pub fn unpack_layer(reader: impl Read, dest: &Path, layer: &str) -> Result<()> {
    let bad = |reason: String| Error::BadLayer {
        layer: layer.to_string(),
        reason,
    };
    // tar's errors nest the cause (permission denied, no space left) under a summary: keep both.
    let io_err = |what: &str, err: std::io::Error| bad(format!("{what}: {}", with_causes(&err)));

    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);

    // Folders get their mtimes back at the end: unpacking their content changes them.
    let mut folder_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| io_err("reading the archive", e))?
    {
        let mut entry = entry.map_err(|e| io_err("reading the archive", e))?;
        let path = entry
            .path()
            .map_err(|e| io_err("reading an entry's name", e))?
            .into_owned();
        let relative = clean_relative(&path).ok_or_else(|| {
            bad(format!(
                "entry {:?} points outside the layer",
                path.display().to_string()
            ))
        })?;
        let name = relative.file_name().and_then(OsStr::to_str).unwrap_or("");

        if name == OPAQUE_MARKER {
            let folder = safe_folder(dest, relative.parent().unwrap_or(Path::new("")))
                .map_err(|reason| bad(format!("opaque marker {}: {reason}", relative.display())))?;
            xattr::set(&folder, OPAQUE_XATTR, b"y")
                .map_err(|e| io_err(&format!("marking {} opaque", relative.display()), e))?;
        } else if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(bad(format!("malformed whiteout {}", relative.display())));
            }
            let folder = safe_folder(dest, relative.parent().unwrap_or(Path::new("")))
                .map_err(|reason| bad(format!("whiteout {}: {reason}", relative.display())))?;
            let target = folder.join(hidden);
            if target.symlink_metadata().is_ok() {
                let _ = std::fs::remove_dir_all(&target).or_else(|_| std::fs::remove_file(&target));
            }
            mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                .map_err(|errno| bad(format!("creating whiteout {}: {errno}", target.display())))?;
        } else {
            let is_dir = entry.header().entry_type().is_dir();
            let mtime = entry.header().mtime().unwrap_or(0);
            let unpacked = entry
                .unpack_in(dest)
                .map_err(|e| io_err(&format!("unpacking {}", relative.display()), e))?;
            if !unpacked {
                return Err(bad(format!(
                    "entry {} points outside the layer",
                    relative.display()
                )));
            }
            if is_dir {
                folder_times.push((dest.join(&relative), mtime));
            }
        }
    }
    for (folder, mtime) in folder_times.iter().rev() {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(*mtime);
        if let Ok(file) = std::fs::File::open(folder) {
            let _ = file.set_modified(time);
        }
    }
    Ok(())
}

/// The entry's path with `.` and a leading `/` dropped; None if it has a `..`.
fn clean_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `dest/relative` as a real folder inside `dest`: each component is created if missing and must
/// not be a symlink, so nothing can lead outside.
fn safe_folder(dest: &Path, relative: &Path) -> std::result::Result<PathBuf, String> {
    let mut current = dest.to_path_buf();
    for component in relative.components() {
        let Component::Normal(part) = component else {
            return Err("unexpected path component".into());
        };
        current.push(part);
        match current.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!("{} is a symlink", current.display()))
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("{} is not a folder", current.display())),
            Err(_) => {
                std::fs::create_dir(&current).map_err(|e| format!("{}: {e}", current.display()))?
            }
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    /// A layer tar built entry by entry, names written as given.
    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, data.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Whiteouts need root (mknod of a character device, a trusted.* xattr); without it the
    /// layer must fail with an error that says which whiteout, never half-succeed.
    #[test]
    fn oci_whiteouts_become_overlay_whiteouts() {
        let dest = std::env::temp_dir().join(format!("mini-unpack-test-{}", std::process::id()));
        std::fs::create_dir_all(&dest).unwrap();
        let layer = tar_of(&[
            ("etc/", tar::EntryType::Directory, ""),
            ("etc/.wh.gone", tar::EntryType::Regular, ""),
            ("data/", tar::EntryType::Directory, ""),
            ("data/.wh..wh..opq", tar::EntryType::Regular, ""),
            ("data/new", tar::EntryType::Regular, "new"),
        ]);
        let result = unpack_layer(&layer[..], &dest, "test-layer");
        if is_root() {
            result.unwrap();
            let gone = std::fs::symlink_metadata(dest.join("etc/gone")).unwrap();
            assert!(gone.file_type().is_char_device());
            assert_eq!(
                nix::sys::stat::major(std::os::unix::fs::MetadataExt::rdev(&gone)),
                0
            );
            assert!(!dest.join("etc/.wh.gone").exists());
            assert_eq!(
                xattr::get(dest.join("data"), OPAQUE_XATTR).unwrap(),
                Some(b"y".to_vec())
            );
            assert!(!dest.join("data/.wh..wh..opq").exists());
            assert_eq!(
                std::fs::read_to_string(dest.join("data/new")).unwrap(),
                "new"
            );
        } else {
            let err = result.unwrap_err().to_string();
            assert!(
                err.contains("whiteout etc/gone") || err.contains("etc/.wh.gone"),
                "{err}"
            );
        }
        std::fs::remove_dir_all(&dest).unwrap();
    }

    #[test]
    fn entries_that_climb_out_fail_the_layer() {
        let dest = std::env::temp_dir().join(format!("mini-unpack-climb-{}", std::process::id()));
        std::fs::create_dir_all(&dest).unwrap();
        let layer = tar_of(&[("../../outside", tar::EntryType::Regular, "x")]);
        let err = unpack_layer(&layer[..], &dest, "test-layer")
            .unwrap_err()
            .to_string();
        assert!(err.contains("points outside the layer"), "{err}");
        let layer = tar_of(&[("a/../../outside/.wh.x", tar::EntryType::Regular, "")]);
        assert!(unpack_layer(&layer[..], &dest, "test-layer").is_err());
        std::fs::remove_dir_all(&dest).unwrap();
    }

    #[test]
    fn relative_paths_are_cleaned_and_parent_components_refused() {
        assert_eq!(
            clean_relative(Path::new("./etc/passwd")),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(
            clean_relative(Path::new("/etc/passwd")),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(clean_relative(Path::new("a/../../etc")), None);
    }
}
