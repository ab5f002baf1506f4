//! `pause` and `unpause`: the container's processes frozen and thawed through its cgroup's
//! freezer (libcontainer's, v1 and v2). A paused container is running to everything else
//! (`Running` and `Paused` are both true in inspect, `ps` says `Up 5 minutes (Paused)`); `exec`
//! refuses it, and `stop`, `kill` and `rm -f` thaw it after their signal so that it arrives,
//! as Docker's daemon does.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::ContainerRecord;

impl Engine {
    /// `mini pause`.
    pub fn pause(&self, text: &str) -> Result<ContainerRecord> {
        let record = self.find(text)?;
        if record.is_paused() {
            return Err(Error::Conflict(format!(
                "Container {} is already paused",
                record.id
            )));
        }
        if !record.is_running() || record.state.pid <= 0 {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                record.id
            )));
        }
        let _lock = self.store.lock(&record.id)?;
        let mut container = self.libcontainer(&record.id)?;
        container
            .pause()
            .map_err(|err| Error::System(format!("pausing container {}: {err}", record.id)))?;
        let mut record = self.store.load(&record.id)?;
        record.state.status = "paused".into();
        self.store.save(&record)?;
        Ok(record)
    }

    /// `mini unpause`.
    pub fn unpause(&self, text: &str) -> Result<ContainerRecord> {
        let record = self.find(text)?;
        if !record.is_paused() {
            return Err(Error::Conflict(format!(
                "Container {} is not paused",
                record.id
            )));
        }
        let _lock = self.store.lock(&record.id)?;
        self.thaw_locked(&record.id)
    }

    /// Thaws a paused container after a signal meant to end it, so that the signal arrives.
    pub(crate) fn thaw_if_paused(&self, record: &ContainerRecord) {
        if record.is_paused() {
            if let Ok(_lock) = self.store.lock(&record.id) {
                let _ = self.thaw_locked(&record.id);
            }
        }
    }

    fn thaw_locked(&self, id: &str) -> Result<ContainerRecord> {
        let mut container = self.libcontainer(id)?;
        container
            .resume()
            .map_err(|err| Error::System(format!("unpausing container {id}: {err}")))?;
        let mut record = self.store.load(id)?;
        if record.is_paused() {
            record.state.status = "running".into();
            self.store.save(&record)?;
        }
        Ok(record)
    }

    /// libcontainer's view of a running container.
    fn libcontainer(&self, id: &str) -> Result<libcontainer::container::Container> {
        let dir = self.store.libcontainer_root().join(id);
        libcontainer::container::Container::load(dir)
            .map_err(|err| Error::System(format!("the runtime state of container {id}: {err}")))
    }
}
