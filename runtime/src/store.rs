//! The container store: one folder per container under `<root>/containers`, and the runtime
//! state of running ones under `<runroot>`.
//!
//! ```text
//! <root>/containers/<id>/config.json       the record (record.rs)
//! <root>/containers/<id>/lock              flock held while the record changes
//! <root>/containers/<id>/{hostname,hosts,resolv.conf}  bind-mounted into the container
//! <root>/containers/<id>/<id>-json.log     the log (logs.rs)
//! <root>/containers/names.lock             flock held while a name is taken or changed
//! <runroot>/libcontainer/<id>/             libcontainer's state of the running container
//! <runroot>/bundles/<id>/config.json       the OCI spec libcontainer runs, made at each start
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::record::{ContainerRecord, Lock};

/// Where containers live on disk.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub runroot: PathBuf,
}

impl ContainerStore {
    pub fn open(root: &Path, runroot: &Path) -> Result<ContainerStore> {
        let dir = root.join("containers");
        crate::access::private_dir(&dir)?;
        Ok(ContainerStore {
            root: root.to_path_buf(),
            dir,
            runroot: runroot.to_path_buf(),
        })
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn record_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("config.json")
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// The OCI bundle of a started container: runtime state, as Docker keeps it under
    /// containerd's run folder.
    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.runroot.join("bundles").join(id)
    }

    /// libcontainer's state root (one folder per running container below it).
    pub fn libcontainer_root(&self) -> PathBuf {
        self.runroot.join("libcontainer")
    }

    /// Takes container `id`'s lock.
    pub fn lock(&self, id: &str) -> Result<Lock> {
        Lock::acquire(&self.container_dir(id).join("lock"))
    }

    /// Takes the lock that guards names.
    pub fn lock_names(&self) -> Result<Lock> {
        Lock::acquire(&self.dir.join("names.lock"))
    }

    pub fn load(&self, id: &str) -> Result<ContainerRecord> {
        ContainerRecord::load(&self.record_path(id))
    }

    pub fn save(&self, record: &ContainerRecord) -> Result<()> {
        record.save(&self.record_path(&record.id))
    }

    /// Loads, changes and saves a record under its lock; returns the changed record.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord> {
        let _lock = self.lock(id)?;
        let mut record = self.load(id)?;
        change(&mut record);
        self.save(&record)?;
        Ok(record)
    }

    /// The ids of every container with a record, but those still being made (they appear
    /// when their `create` is done, as in Docker).
    pub fn ids(&self) -> Result<Vec<String>> {
        Ok(self
            .ids_with_records()?
            .into_iter()
            .filter(|id| !self.creating(id))
            .collect())
    }

    /// The ids of every container with a record, being made or not.
    fn ids_with_records(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(Error::io(&self.dir))? {
            let entry = entry.map_err(Error::io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_id(&name) && entry.path().join("config.json").exists() {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    /// Every record, newest first (as `ps` lists them). Unreadable records are skipped.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let mut records: Vec<ContainerRecord> = self
            .ids()?
            .iter()
            .filter_map(|id| self.load(id).ok())
            .collect();
        records.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(records)
    }

    /// The id a user's argument names, as Docker resolves it: a full id, then a name, then a
    /// unique id prefix.
    pub fn resolve(&self, text: &str) -> Result<String> {
        let records = self.list()?;
        resolve_in(&records, text)
    }

    /// Writes a new record, taking its name (fails if the name is taken, by a container being
    /// made too). Returns the create lock: the container stays out of sight until it is given
    /// back through [`ContainerStore::created`], and is removed as abandoned if its maker dies.
    /// A `generated` name that is taken is made unique instead, as Docker's generator does
    /// (`happy_turing1`, `happy_turing2`, ...).
    pub fn create(&self, record: &mut ContainerRecord, generated: bool) -> Result<Lock> {
        let _names = self.lock_names()?;
        let names: Vec<(String, String)> = self
            .ids_with_records()?
            .iter()
            .filter_map(|id| self.load(id).ok())
            .map(|r| (r.name, r.id))
            .collect();
        let in_use = |name: &str| names.iter().any(|(n, _)| n == name);
        if generated && in_use(&record.name) {
            let base = record.name.clone();
            if let Some(free) = (1..).map(|n| format!("{base}{n}")).find(|n| !in_use(n)) {
                record.name = free;
            }
        }
        let taken = names.iter().find(|(n, _)| *n == record.name);
        if let Some((_, other)) = taken {
            return Err(Error::NameInUse {
                name: record.name.clone(),
                id: other.clone(),
            });
        }
        let dir = self.container_dir(&record.id);
        crate::access::private_dir(&dir)?;
        let creating = Lock::acquire(&self.create_lock_path(&record.id))?;
        self.save(record)?;
        Ok(creating)
    }

    fn create_lock_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("create.lock")
    }

    /// The end of a create: the container is whole, and visible from now on. The lock file
    /// goes while it is still held, so nobody takes a finished container for an abandoned one.
    pub fn created(&self, id: &str, creating: Lock) {
        let _ = std::fs::remove_file(self.create_lock_path(id));
        drop(creating);
    }

    /// Whether the container is still being made (or its maker died half way).
    fn creating(&self, id: &str) -> bool {
        self.create_lock_path(id).exists()
    }

    /// Containers whose `create` died half way (the client killed, say): a record with the
    /// create lock's file still there and nobody holding it. Their maker is gone for good.
    pub fn abandoned(&self) -> Vec<String> {
        use std::os::unix::fs::MetadataExt;
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut ids = Vec::new();
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            // The record is written after the create lock is taken: a record means the lock
            // was held once, so a free lock now cannot be a create that has not locked yet.
            if !is_id(&id) || !entry.path().join("config.json").exists() {
                continue;
            }
            let path = self.create_lock_path(&id);
            // Opened, never made: a file made here would look like an abandoned create.
            let Ok(file) = std::fs::File::open(&path) else {
                continue;
            };
            if file.try_lock().is_err() {
                continue; // being made right now
            }
            // Still the same file: its maker did not finish (a finished one removed it first).
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(held), Ok(now)) => held.ino() == now.ino() && held.dev() == now.dev(),
                _ => false,
            };
            if same {
                ids.push(id);
            }
        }
        ids
    }

    /// Deletes a container's folder.
    pub fn delete(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(Error::io(dir)(err)),
        }
    }
}

/// Whether `text` is a container id: 64 lowercase hex digits.
pub fn is_id(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (a leading `/` is allowed and dropped).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Resolution over a list of records (see `ContainerStore::resolve`).
pub fn resolve_in(records: &[ContainerRecord], text: &str) -> Result<String> {
    let name = text.strip_prefix('/').unwrap_or(text);
    if name.is_empty() {
        return Err(Error::NoSuchContainer(text.to_string()));
    }
    if let Some(record) = records.iter().find(|r| r.id == name) {
        return Ok(record.id.clone());
    }
    if let Some(record) = records.iter().find(|r| r.name == name) {
        return Ok(record.id.clone());
    }
    let matches: Vec<&ContainerRecord> =
        records.iter().filter(|r| r.id.starts_with(name)).collect();
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(Error::NoSuchContainer(text.to_string())),
        _ => Err(Error::Ambiguous(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            ..ContainerRecord::default()
        }
    }

    #[test]
    fn ids_names_and_prefixes_resolve_as_in_docker() {
        let a = format!("ab{}", "0".repeat(62));
        let b = format!("ac{}", "0".repeat(62));
        let records = vec![record(&a, "w1"), record(&b, "ab")];
        assert_eq!(resolve_in(&records, &a).unwrap(), a);
        // A name wins over an id prefix.
        assert_eq!(resolve_in(&records, "ab").unwrap(), b);
        assert_eq!(resolve_in(&records, "/w1").unwrap(), a);
        assert_eq!(resolve_in(&records, "ab0").unwrap(), a);
        assert!(matches!(
            resolve_in(&records, "a"),
            Err(Error::Ambiguous(_))
        ));
        assert_eq!(
            resolve_in(&records, "nope").unwrap_err().to_string(),
            "No such container: nope"
        );
    }

    #[test]
    fn a_generated_name_that_is_taken_gets_a_number_and_a_given_one_fails() {
        let dir = std::env::temp_dir().join(format!("mini-store-test-{}", std::process::id()));
        let store = ContainerStore::open(&dir.join("root"), &dir.join("run")).unwrap();
        let ids: Vec<String> = (0..4).map(|n| format!("{n:064}")).collect();
        let mut first = record(&ids[0], "happy_turing");
        drop(store.create(&mut first, true).unwrap());
        let mut second = record(&ids[1], "happy_turing");
        drop(store.create(&mut second, true).unwrap());
        assert_eq!(second.name, "happy_turing1");
        let mut third = record(&ids[2], "happy_turing");
        drop(store.create(&mut third, true).unwrap());
        assert_eq!(third.name, "happy_turing2");
        let mut given = record(&ids[3], "happy_turing");
        assert!(matches!(
            store.create(&mut given, false),
            Err(Error::NameInUse { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("w1"));
        assert!(valid_name("my_web.1-a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
    }
}
