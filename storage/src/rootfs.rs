//! Containers' writable layers, laid out as Docker's overlay2 driver lays them out:
//!
//! ```text
//! overlay/<id>-init/diff   what every container starts with: mount points for /etc/hosts,
//!                          /etc/hostname, /etc/resolv.conf, /dev, /proc, /sys
//! overlay/<id>/diff        the container's own changes (inspect's UpperDir)
//! overlay/<id>/work        overlayfs's work folder (WorkDir)
//! overlay/<id>/merged      the mounted root filesystem (MergedDir)
//! overlay/<id>/lower       l/<init>:l/<image top>:...:l/<image bottom>  (LowerDir, short form)
//! ```
//!
//! The mount names its lower layers by the short links in `overlay/l/`, relative to `overlay/`,
//! so that an image with 100+ layers still fits the mount options in one page (kernels before
//! 6.8 allow no more). Relative paths need the mount to run in `overlay/`: a short-lived child
//! process changes into it and mounts, so the caller's working directory never moves (another
//! thread could be using it).

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{chdir, fork, ForkResult};

use crate::digest;
use crate::error::{Error, Result};
use crate::layers::LayerStore;

/// A container's writable layer on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLayer {
    /// `overlay/<id>`.
    pub dir: PathBuf,
    /// The folders below the container's own, uppermost first: its init layer, then the image's.
    pub lower_dirs: Vec<PathBuf>,
}

impl ContainerLayer {
    /// `overlay/<id>/diff`: where the container's writes land.
    pub fn upper_dir(&self) -> PathBuf {
        self.dir.join("diff")
    }
    /// `overlay/<id>/work`.
    pub fn work_dir(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// `overlay/<id>/merged`: the root filesystem once mounted.
    pub fn merged_dir(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// `GraphDriver.Data` as `docker inspect` shows it for a container.
    pub fn graph_data(&self) -> Vec<(&'static str, String)> {
        let lowers: Vec<String> = self
            .lower_dirs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        vec![
            ("LowerDir", lowers.join(":")),
            ("MergedDir", self.merged_dir().display().to_string()),
            ("UpperDir", self.upper_dir().display().to_string()),
            ("WorkDir", self.work_dir().display().to_string()),
        ]
    }
}

/// Container ids are 64 lowercase hex digits, as Docker's; they become folder names.
fn check_id(id: &str) -> Result<()> {
    if id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(Error::BadContent {
            what: format!("container id {id:?}"),
            reason: "not 64 lowercase hex digits".into(),
        })
    }
}

/// The short link name of a container's folder (`<id>` or `<id>-init`).
fn short_of(name: &str) -> Result<String> {
    LayerStore::short_id(&digest::sha256(name.as_bytes()))
}

impl LayerStore {
    /// Creates container `id`'s init and writable layers on top of an image's layers (chain
    /// ids, bottom first). Nothing is mounted yet. On error nothing stays.
    pub fn create_container_layer(
        &self,
        id: &str,
        image_layers: &[String],
    ) -> Result<ContainerLayer> {
        check_id(id)?;
        for chain in image_layers {
            if !self.exists(chain) {
                return Err(Error::BadContent {
                    what: format!("image layer {chain}"),
                    reason: "not in the layer store; pull the image again".into(),
                });
            }
        }
        let result = self.create_container_layer_inner(id, image_layers);
        if result.is_err() {
            let _ = self.remove_container_layer(id);
        }
        result
    }

    fn create_container_layer_inner(
        &self,
        id: &str,
        image_layers: &[String],
    ) -> Result<ContainerLayer> {
        let image_lowers: Vec<String> = image_layers
            .iter()
            .rev()
            .map(|chain| LayerStore::short_id(chain).map(|s| format!("l/{s}")))
            .collect::<Result<_>>()?;

        let init_name = format!("{id}-init");
        let init = self.dir().join(&init_name);
        let init_diff = init.join("diff");
        for folder in ["dev/pts", "dev/shm", "proc", "sys", "etc"] {
            std::fs::create_dir_all(init_diff.join(folder))
                .map_err(Error::io(init_diff.join(folder)))?;
        }
        for file in [
            "etc/hosts",
            "etc/hostname",
            "etc/resolv.conf",
            "dev/console",
        ] {
            std::fs::write(init_diff.join(file), b"").map_err(Error::io(init_diff.join(file)))?;
        }
        std::os::unix::fs::symlink("/proc/mounts", init_diff.join("etc/mtab"))
            .map_err(Error::io(init_diff.join("etc/mtab")))?;
        std::fs::create_dir_all(init.join("work")).map_err(Error::io(init.join("work")))?;
        self.write_link(&init, &init_name, &image_lowers)?;

        let dir = self.dir().join(id);
        for folder in ["diff", "work", "merged"] {
            std::fs::create_dir_all(dir.join(folder)).map_err(Error::io(dir.join(folder)))?;
        }
        let mut lowers = vec![format!("l/{}", short_of(&init_name)?)];
        lowers.extend(image_lowers);
        self.write_link(&dir, id, &lowers)?;
        self.container_layer(id)
    }

    /// Writes `link`, `lower` and the `l/<short>` symlink of a container's folder.
    fn write_link(&self, folder: &Path, name: &str, lowers: &[String]) -> Result<()> {
        let short = short_of(name)?;
        std::fs::write(folder.join("lower"), lowers.join(":"))
            .map_err(Error::io(folder.join("lower")))?;
        std::fs::write(folder.join("link"), &short).map_err(Error::io(folder.join("link")))?;
        let link = self.dir().join("l").join(&short);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(Path::new("..").join(name).join("diff"), &link)
            .map_err(Error::io(&link))
    }

    /// Container `id`'s layer as it is on disk.
    pub fn container_layer(&self, id: &str) -> Result<ContainerLayer> {
        check_id(id)?;
        let dir = self.dir().join(id);
        let lower_path = dir.join("lower");
        let lower = std::fs::read_to_string(&lower_path).map_err(Error::io(&lower_path))?;
        let l = self.dir().join("l");
        let lower_dirs = lower
            .trim()
            .split(':')
            .map(|short| {
                let link = self.dir().join(short);
                let target = std::fs::read_link(&link).map_err(Error::io(&link))?;
                Ok(normalize(&l.join(target)))
            })
            .collect::<Result<Vec<PathBuf>>>()?;
        Ok(ContainerLayer { dir, lower_dirs })
    }

    /// Mounts container `id`'s root filesystem at its `merged` folder and returns that path.
    ///
    /// `volatile` (for a container removed when it exits, as Podman does for `--rm`): overlayfs
    /// then skips syncing the upper file system, at unmount among others, which on a busy disk
    /// is most of the time a short-lived container costs. What was written may be lost in a
    /// crash, and nothing keeps it anyway. overlayfs leaves `work/work/incompat/volatile` behind
    /// and refuses the next volatile mount while it is there: it is removed before each mount.
    pub fn mount_container_layer(&self, id: &str, volatile: bool) -> Result<PathBuf> {
        let layer = self.container_layer(id)?;
        let merged = layer.merged_dir();
        let lower = std::fs::read_to_string(layer.dir.join("lower"))
            .map_err(Error::io(layer.dir.join("lower")))?;
        let mut options = format!(
            "lowerdir={},upperdir={id}/diff,workdir={id}/work",
            lower.trim()
        );
        if volatile {
            let marker = layer.dir.join("work/work/incompat/volatile");
            match std::fs::remove_dir_all(&marker) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(marker)(err)),
            }
            options.push_str(",volatile");
        }
        let target = Path::new(id).join("merged");
        mount_in(self.dir(), &target, &options).map_err(|errno| Error::Io {
            path: merged.clone(),
            source: std::io::Error::other(format!("mounting overlay ({options}): {errno}")),
        })?;
        Ok(merged)
    }

    /// Whether container `id`'s root filesystem is mounted on the host now: its `merged`
    /// folder is on another file system than the folder that holds it. Two `stat`s.
    pub fn container_layer_mounted(&self, id: &str) -> bool {
        use std::os::unix::fs::MetadataExt;
        if check_id(id).is_err() {
            return false;
        }
        let dir = self.dir().join(id);
        match (
            std::fs::metadata(dir.join("merged")),
            std::fs::metadata(&dir),
        ) {
            (Ok(merged), Ok(dir)) => merged.dev() != dir.dev(),
            _ => false,
        }
    }

    /// Unmounts container `id`'s root filesystem; not mounted is fine.
    pub fn unmount_container_layer(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let merged = self.dir().join(id).join("merged");
        match umount2(&merged, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(errno) => Err(Error::Io {
                path: merged,
                source: std::io::Error::from(errno),
            }),
        }
    }

    /// Unmounts and deletes container `id`'s layers and links. Keeps going after an error and
    /// reports the first, so that as much as possible is gone.
    pub fn remove_container_layer(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let mut first_error = self.unmount_container_layer(id).err();
        for name in [id.to_string(), format!("{id}-init")] {
            if let Ok(short) = short_of(&name) {
                let _ = std::fs::remove_file(self.dir().join("l").join(short));
            }
            let dir = self.dir().join(&name);
            if let Err(err) = std::fs::remove_dir_all(&dir) {
                if err.kind() != std::io::ErrorKind::NotFound && first_error.is_none() {
                    first_error = Some(Error::io(&dir)(err));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Drops `..` and `.` lexically: `overlay/l/../X/diff` -> `overlay/X/diff`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Mounts an overlay with paths relative to `dir`, from a child process that changes into it.
fn mount_in(
    dir: &Path,
    target: &Path,
    options: &str,
) -> std::result::Result<(), nix::errno::Errno> {
    // Everything the child needs is prepared before fork: after it, only syscalls.
    let dir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| nix::errno::Errno::EINVAL)?;
    let target = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| nix::errno::Errno::EINVAL)?;
    let options = std::ffi::CString::new(options).map_err(|_| nix::errno::Errno::EINVAL)?;
    // SAFETY: the child calls only chdir, mount and _exit, all async-signal-safe, on memory
    // allocated before the fork; it never returns into Rust code of the parent's threads.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let code = match chdir(dir.as_c_str()).and_then(|()| {
                mount(
                    Some(c"overlay"),
                    target.as_c_str(),
                    Some(c"overlay"),
                    MsFlags::empty(),
                    Some(options.as_c_str()),
                )
            }) {
                Ok(()) => 0,
                Err(errno) => errno as i32,
            };
            // SAFETY: _exit ends the child without running the parent's destructors or atexit hooks.
            unsafe { nix::libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            WaitStatus::Exited(_, code) => Err(nix::errno::Errno::from_raw(code)),
            _ => Err(nix::errno::Errno::EINTR),
        },
    }
}
