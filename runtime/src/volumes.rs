//! Volumes: data that outlives containers, in `volumes/<name>/_data` under the root, as Docker's
//! `local` driver keeps it. Each volume's record is `volumes/<name>/volume.json` (created time,
//! labels, whether it was made anonymously for one container).
//!
//! The store knows nothing of containers: whether a volume is in use is the engine's question
//! (`Engine::volume_users`), asked under the store's lock (`volumes/.lock`) so that a `run` that
//! mounts a volume and a `volume rm` that removes it cannot cross.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::{write_atomic, Lock};

/// The label Docker puts on the volumes it makes for `-v /path` and an image's VOLUME.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume, as `volume inspect` shows it (minus the mountpoint, which is the store's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
}

impl Volume {
    /// Made for one container (`-v /path`, an image's VOLUME): `rm -v` and `volume prune`
    /// remove it.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// `volumes/` under mini's root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    dir: PathBuf,
}

/// Docker's rule for local volume names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn check_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

impl VolumeStore {
    pub fn open(root: &Path) -> Result<VolumeStore> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        Ok(VolumeStore { dir })
    }

    /// Held while volumes are created, removed, or counted as in use.
    pub fn lock(&self) -> Result<Lock> {
        Lock::acquire(&self.dir.join(".lock"))
    }

    /// Where the volume's data is: what a container mounts, and `Mountpoint` in inspect.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    /// The volume called `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) {
            return Err(Error::NoSuchVolume(name.to_string()));
        }
        let path = self.record_path(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoSuchVolume(name.to_string()))
            }
            Err(err) => return Err(Error::io(&path)(err)),
        };
        serde_json::from_slice(&bytes).map_err(|err| Error::Corrupt {
            path,
            reason: err.to_string(),
        })
    }

    /// Creates the volume `name` (a random one when None), or returns it if it exists, as
    /// `docker volume create` does. Call under `lock`.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        let name = match name {
            Some(name) => {
                check_name(name)?;
                if let Ok(existing) = self.get(name) {
                    return Ok((existing, false));
                }
                name.to_string()
            }
            None => crate::record::random_id()?,
        };
        let dir = self.dir.join(&name);
        let volume = Volume {
            name: name.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
        };
        let made = (|| {
            let data = dir.join("_data");
            std::fs::create_dir_all(&data).map_err(Error::io(&data))?;
            let bytes = serde_json::to_vec_pretty(&volume).expect("volumes serialize");
            // The record last: a volume without one is not a volume, and `remove` clears it.
            write_atomic(&self.record_path(&name), &bytes)
        })();
        if let Err(err) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(err);
        }
        Ok((volume, true))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut volumes = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(Error::io(&self.dir))?;
        for entry in entries {
            let entry = entry.map_err(Error::io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) {
                continue;
            }
            match self.get(&name) {
                Ok(volume) => volumes.push(volume),
                Err(Error::NoSuchVolume(_)) => {}
                Err(err) => return Err(err),
            }
        }
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(volumes)
    }

    /// Deletes the volume and its data; returns the bytes it held. Call under `lock`, after
    /// checking that no container uses it.
    pub fn remove(&self, name: &str) -> Result<u64> {
        self.get(name)?;
        let dir = self.dir.join(name);
        let size = disk_usage(&dir.join("_data"));
        // The record goes first, so that a removal cut short leaves no half volume behind
        // that looks whole.
        let record = self.record_path(name);
        std::fs::remove_file(&record).map_err(Error::io(&record))?;
        std::fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
        Ok(size)
    }
}

/// The ids of the containers that mount volume `name`. Ask under the volume store's lock.
pub fn users(containers: &crate::store::ContainerStore, name: &str) -> Result<Vec<String>> {
    Ok(containers
        .list()?
        .into_iter()
        .filter(|r| r.mounts.iter().any(|m| m.is_volume() && m.name == name))
        .map(|r| r.id)
        .collect())
}

/// Removes the anonymous volumes of a container that is gone (`rm -v`, `--rm`), except those
/// another container mounts too (through `--volumes-from`). Named volumes stay, as in Docker.
pub fn remove_anonymous(
    containers: &crate::store::ContainerStore,
    record: &crate::record::ContainerRecord,
) -> Result<()> {
    let store = VolumeStore::open(&containers.root)?;
    let _lock = store.lock()?;
    let mut first_error = None;
    for mount in record.mounts.iter().filter(|m| m.is_volume()) {
        let anonymous = store.get(&mount.name).is_ok_and(|v| v.is_anonymous());
        if !anonymous {
            continue;
        }
        let used = users(containers, &mount.name)?;
        if used.iter().any(|id| *id != record.id) {
            continue;
        }
        if let Err(err) = store.remove(&mount.name) {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Bytes in the regular files below `path` (symlinks not followed).
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| disk_usage(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (VolumeStore, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "mini-volumes-{}-{}",
            std::process::id(),
            crate::record::random_id().unwrap()
        ));
        (VolumeStore::open(&dir).unwrap(), dir)
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("data"));
        assert!(valid_name("my_vol.1-a"));
        assert!(!valid_name("a"));
        assert!(!valid_name("_x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn create_get_list_remove() {
        let (store, dir) = store();
        let (made, new) = store.create(Some("data"), BTreeMap::new()).unwrap();
        assert!(new);
        assert!(store.mountpoint("data").is_dir());
        let (again, new) = store.create(Some("data"), BTreeMap::new()).unwrap();
        assert!(!new);
        assert_eq!(again, made);
        let mut labels = BTreeMap::new();
        labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
        let (anon, _) = store.create(None, labels).unwrap();
        assert_eq!(anon.name.len(), 64);
        assert!(anon.is_anonymous() && !made.is_anonymous());
        std::fs::write(store.mountpoint("data").join("f"), b"12345").unwrap();
        let names: Vec<String> = store.list().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"data".to_string()));
        assert_eq!(store.remove("data").unwrap(), 5);
        assert!(matches!(store.get("data"), Err(Error::NoSuchVolume(_))));
        assert!(matches!(store.remove("data"), Err(Error::NoSuchVolume(_))));
        let err = store.create(Some("a/b"), BTreeMap::new()).unwrap_err();
        assert!(
            err.to_string().contains("includes invalid characters"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
