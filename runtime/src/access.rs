//! Who may reach mini's state: root alone.
//!
//! Containers' records hold their environment (passwords, tokens), their logs hold whatever
//! they print, and their writable layers hold their files, so no other local user may read any
//! of it. Docker keeps `/var/lib/docker` at 0710 and its socket at 0660 root:docker; mini keeps
//! its root and runroot at 0700, and every folder, record, log and socket it makes below them is
//! private on its own as well (0700 folders, 0600 records and sockets, 0640 logs), so that one
//! loose mode never uncovers the rest:
//!
//! ```text
//! <root>/                  0700 root:root   containers/ overlay/ volumes/ networks/ blobs/: 0700
//! <root>/containers/<id>/config.json        0600 (the environment is in it)
//! <root>/containers/<id>/<id>-json.log      0640 root:root, as Docker's
//! <runroot>/               0700 root:root   bundles/ libcontainer/ netns/ dns/: 0700
//! <runroot>/attach-*.sock, exec and console sockets   0600
//! ```
//!
//! Before any command reads or writes state, [`prepare`] checks both folders: one that is a
//! symbolic link, is owned by another user or is writable by others is refused (whoever could
//! write it could swap in what mini then trusts), and one left looser by an older mini is
//! tightened, with the folders and files below it, the first time a command runs.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// What a user other than root is told by every command (`--help` and `--version` aside).
pub const NEEDS_ROOT: &str =
    "mini needs root: run it with sudo, or use the API socket if you are in its group";

/// Mode of every folder mini makes for its state.
pub const DIR_MODE: u32 = 0o700;
/// Mode of records, bundles and sockets.
pub const FILE_MODE: u32 = 0o600;
/// Mode of container logs (as Docker's json-file logs: root's group may read them).
pub const LOG_MODE: u32 = 0o640;

/// The folders right below the root that hold state, made private with it.
const ROOT_FOLDERS: &[&str] = &["containers", "overlay", "volumes", "networks", "blobs"];
/// The folders right below the runroot.
const RUNROOT_FOLDERS: &[&str] = &["bundles", "libcontainer", "netns", "dns"];

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Makes the root and the runroot ready for a command: each is made (0700) when missing,
/// refused when it is a symbolic link, belongs to another user or is writable by others, and
/// tightened (with what is below it) when an older mini left it readable by others. Costs one
/// `lstat` of each when all is in order.
pub fn prepare(root: &Path, runroot: &Path) -> Result<()> {
    // Both are checked before either is touched: a refusal writes nothing.
    for dir in [root, runroot] {
        if let Ok(meta) = std::fs::symlink_metadata(dir) {
            check(dir, &meta)?;
        }
    }
    prepare_one(root, ROOT_FOLDERS, tighten_root)?;
    prepare_one(runroot, RUNROOT_FOLDERS, |_| Ok(()))
}

fn prepare_one(dir: &Path, folders: &[&str], tighten_files: fn(&Path) -> Result<()>) -> Result<()> {
    let made = match std::fs::symlink_metadata(dir) {
        Ok(meta) => {
            check(dir, &meta)?;
            if meta.mode() & 0o777 == DIR_MODE {
                return Ok(());
            }
            set_mode(dir, DIR_MODE)?;
            false
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
            }
            match DirBuilder::new().mode(DIR_MODE).create(dir) {
                Ok(()) => {}
                // Another mini made it first: it must pass the same checks.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    let meta = std::fs::symlink_metadata(dir).map_err(Error::io(dir))?;
                    check(dir, &meta)?;
                }
                Err(err) => return Err(Error::io(dir)(err)),
            }
            // mkdir's mode passes through the umask; 0700 is what is wanted whatever it is.
            set_mode(dir, DIR_MODE)?;
            true
        }
        Err(err) => return Err(Error::io(dir)(err)),
    };
    for name in folders {
        let path = dir.join(name);
        private_dir(&path)?;
        if !made {
            set_mode(&path, DIR_MODE)?;
        }
    }
    if !made {
        tighten_files(dir)?;
    }
    Ok(())
}

/// Refuses a state folder that others could swap or write into.
fn check(dir: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let refuse = |why: String| {
        Err(Error::Invalid(format!(
            "refusing to use {} for mini's state: {why}",
            dir.display()
        )))
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link (name the folder it points to instead)".into());
    }
    if !meta.is_dir() {
        return refuse("it is not a folder".into());
    }
    if meta.uid() != 0 {
        return refuse(format!(
            "it is owned by uid {}, not by root (chown root:root it, or choose another folder)",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!(
            "it is writable by {} (mode {:o}; chmod 700 it, or choose another folder)",
            if meta.mode() & 0o002 != 0 {
                "every user"
            } else {
                "its group"
            },
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// An older root: every container's record and bundle readable by root only, its log by root's
/// group at most.
fn tighten_root(root: &Path) -> Result<()> {
    let containers = root.join("containers");
    let Ok(entries) = std::fs::read_dir(&containers) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        set_mode(&dir, DIR_MODE)?;
        let id = entry.file_name().to_string_lossy().into_owned();
        for (name, mode) in [
            ("config.json".to_string(), FILE_MODE),
            (format!("{id}-json.log"), LOG_MODE),
        ] {
            let path = dir.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => set_mode(&path, mode)?,
                _ => {}
            }
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(Error::io(path))
}

/// Makes a folder (and its missing parents) readable by root only.
pub fn private_dir(path: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
        .map_err(Error::io(path))
}

/// Writes a file that only root may read (or `mode`), never through a symbolic link planted at
/// `path`: made anew with `O_NOFOLLOW`, truncated if it is there.
pub fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(Error::io(path))?;
    // A file that was there keeps its mode through open: set it.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(Error::io(path))?;
    file.write_all(bytes).map_err(Error::io(path))
}

/// Makes a socket file that was just bound readable and writable by root only.
pub fn private_socket(path: &Path) -> Result<()> {
    set_mode(path, FILE_MODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mini-access-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        private_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_folder_is_made_private_with_its_folders() {
        if !is_root() {
            return;
        }
        let base = scratch("new");
        let root = base.join("a/root");
        let run = base.join("a/run");
        prepare(&root, &run).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("containers")), 0o700);
        assert_eq!(mode(&run.join("bundles")), 0o700);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn an_older_looser_root_is_tightened_with_its_records_and_logs() {
        if !is_root() {
            return;
        }
        let base = scratch("old");
        let root = base.join("root");
        let id = "ab".repeat(32);
        let ctr = root.join("containers").join(&id);
        std::fs::create_dir_all(&ctr).unwrap();
        for (path, mode) in [
            (&root, 0o755),
            (&root.join("containers"), 0o755),
            (&ctr, 0o755),
        ] {
            set_mode(path, mode).unwrap();
        }
        std::fs::write(ctr.join("config.json"), "{}").unwrap();
        std::fs::write(ctr.join(format!("{id}-json.log")), "").unwrap();
        set_mode(&ctr.join("config.json"), 0o644).unwrap();
        set_mode(&ctr.join(format!("{id}-json.log")), 0o644).unwrap();
        prepare(&root, &base.join("run")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("containers")), 0o700);
        assert_eq!(mode(&ctr), 0o700);
        assert_eq!(mode(&ctr.join("config.json")), 0o600);
        assert_eq!(mode(&ctr.join(format!("{id}-json.log"))), 0o640);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn links_foreign_owners_and_writable_folders_are_refused() {
        if !is_root() {
            return;
        }
        let base = scratch("bad");
        let real = base.join("real");
        private_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, base.join("link")).unwrap();
        let err = prepare(&base.join("link"), &base.join("run")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(err
            .to_string()
            .contains(&base.join("link").display().to_string()));

        let open = base.join("open");
        private_dir(&open).unwrap();
        set_mode(&open, 0o777).unwrap();
        let err = prepare(&open, &base.join("run")).unwrap_err();
        assert!(err.to_string().contains("writable by every user"), "{err}");

        let theirs = base.join("theirs");
        private_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let err = prepare(&theirs, &base.join("run")).unwrap_err();
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        // Nothing was made for a refused root: not even the runroot.
        assert!(!base.join("run").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn private_writes_do_not_follow_a_planted_link() {
        let base = scratch("write");
        let target = base.join("target");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, base.join("record")).unwrap();
        assert!(write_private(&base.join("record"), b"secret", FILE_MODE).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        write_private(&base.join("plain"), b"secret", FILE_MODE).unwrap();
        let meta = std::fs::metadata(base.join("plain")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o600);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
