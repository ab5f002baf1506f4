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

use crate::error::{Error, Result};

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
    let io_err = |what: &str, err: std::io::Error| bad(format!("{what}: {err}"));

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
