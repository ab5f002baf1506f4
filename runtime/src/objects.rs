//! Networks and volumes as Docker's commands and endpoints see them: create, remove, prune,
//! and their inspect objects. `mini network|volume` and the Engine API both call these.

use std::collections::BTreeMap;

use mini_network::NetworkRecord;
use serde_json::{json, Value};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::ContainerRecord;
use crate::volumes::{self, Volume};

impl Engine {
    /// `network create`: a bridge network (mini has no other driver).
    pub fn network_create(
        &self,
        name: &str,
        driver: &str,
        subnet: Option<&str>,
        gateway: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<NetworkRecord> {
        if driver != "bridge" {
            return Err(Error::NotFound(format!(
                "plugin \"{driver}\" not found: mini has the bridge driver only"
            )));
        }
        Ok(self.networks.create(name, subnet, gateway, labels)?)
    }

    /// The containers (in any state) attached to a network.
    pub fn network_members(&self, record: &NetworkRecord) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| c.network_settings.attachment(&record.name).is_some())
            .collect())
    }

    /// `network rm`: a user network nobody uses, with its rules, its bridge and its files.
    pub fn network_remove(&self, record: &NetworkRecord) -> Result<()> {
        if record.is_builtin() {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                record.name
            )));
        }
        let users = self.network_members(record)?;
        if !users.is_empty() {
            let names: Vec<&str> = users.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                record.name,
                record.id,
                names.join(", ")
            )));
        }
        if let (Some(bridge), Some(subnet)) = (&record.bridge, &record.subnet) {
            mini_network::endpoint::remove_network(
                &self.network_config.nft_table,
                &record.name,
                bridge,
                subnet,
            )?;
        }
        Ok(self.networks.remove(record)?)
    }

    /// `network prune`: removes the user networks no container uses; returns their names.
    pub fn network_prune(&self) -> Result<Vec<String>> {
        let containers = self.list()?;
        let mut deleted = Vec::new();
        for record in self.networks.list()? {
            if record.is_builtin()
                || containers
                    .iter()
                    .any(|c| c.network_settings.attachment(&record.name).is_some())
            {
                continue;
            }
            self.network_remove(&record)?;
            deleted.push(record.name);
        }
        Ok(deleted)
    }

    /// Docker's `network inspect` object.
    pub fn network_json(&self, record: &NetworkRecord) -> Result<Value> {
        let mut containers = serde_json::Map::new();
        for c in self.network_members(record)? {
            if let Some(e) = c
                .network_settings
                .endpoint_on(&record.name)
                .filter(|_| c.is_running())
            {
                containers.insert(
                    c.id.clone(),
                    json!({
                        "Name": c.name,
                        "EndpointID": format!("{}{}", &c.id[..32], &record.id[..32]),
                        "MacAddress": e.mac,
                        "IPv4Address": format!("{}/{}", e.ip, e.prefix_len),
                        "IPv6Address": "",
                    }),
                );
            }
        }
        let config = match (&record.subnet, &record.gateway) {
            (Some(subnet), Some(gateway)) => json!([{"Subnet": subnet, "Gateway": gateway}]),
            _ => json!([]),
        };
        let mut options = serde_json::Map::new();
        if let Some(bridge) = &record.bridge {
            options.insert("com.docker.network.bridge.name".into(), json!(bridge));
            options.insert(
                "com.docker.network.bridge.enable_ip_masquerade".into(),
                json!("true"),
            );
        }
        Ok(json!({
            "Name": record.name,
            "Id": record.id,
            "Created": record.created,
            "Scope": "local",
            "Driver": record.driver,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": false,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": options,
            "Labels": record.labels,
        }))
    }

    /// `volume create`: a local volume (a folder under mini's root), named or anonymous;
    /// the bool is whether it was made now (an existing name is returned as it is).
    pub fn volume_create(
        &self,
        name: Option<&str>,
        driver: &str,
        options: &[String],
        labels: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        if driver != "local" {
            return Err(Error::NotFound(format!(
                "create {}: plugin \"{driver}\" not found: mini has the local driver only",
                name.unwrap_or("")
            )));
        }
        if let Some(opt) = options.first() {
            return Err(Error::Invalid(format!(
                "create: driver option {opt:?} is not supported: mini's volumes are folders under its root"
            )));
        }
        let _lock = self.volumes.lock()?;
        self.volumes.create(name, labels)
    }

    /// `volume rm`: a volume no container uses (in any state); returns the bytes it held.
    pub fn volume_remove(&self, name: &str) -> Result<u64> {
        let _lock = self.volumes.lock()?;
        self.volumes.get(name)?;
        let users = volumes::users(&self.store, name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.volumes.remove(name)
    }

    /// `volume prune`: the anonymous volumes (all, with `all`) no container uses; returns
    /// their names and the bytes reclaimed.
    pub fn volume_prune(&self, all: bool) -> Result<(Vec<String>, u64)> {
        // Repairs first, so that a container whose monitor died still counts as a user.
        self.list()?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for volume in self.volumes.list()? {
            if !all && !volume.is_anonymous() {
                continue;
            }
            // `volume_remove` checks for users under the lock; a volume in use is skipped.
            if let Ok(bytes) = self.volume_remove(&volume.name) {
                deleted.push(volume.name);
                reclaimed += bytes;
            }
        }
        Ok((deleted, reclaimed))
    }

    /// The volumes, each with whether a container (in any state) uses it.
    pub fn volumes_in_use(&self) -> Result<Vec<(Volume, bool)>> {
        let containers = self.list()?;
        Ok(self
            .volumes
            .list()?
            .into_iter()
            .map(|v| {
                let used = containers
                    .iter()
                    .any(|c| c.mounts.iter().any(|m| m.is_volume() && m.name == v.name));
                (v, used)
            })
            .collect())
    }

    /// Docker's `volume inspect` object.
    pub fn volume_json(&self, volume: &Volume) -> Value {
        json!({
            "CreatedAt": volume.created_at,
            "Driver": "local",
            "Labels": if volume.labels.is_empty() { Value::Null } else { json!(volume.labels) },
            "Mountpoint": self.volumes.mountpoint(&volume.name),
            "Name": volume.name,
            "Options": null,
            "Scope": "local",
        })
    }
}

/// What removing an image did, in Docker's order: the names untagged, the image ids deleted,
/// then the layers (chain ids) deleted, with the bytes they held.
#[derive(Debug, Default)]
pub struct ImageRemoval {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
    pub layers: Vec<String>,
    pub reclaimed: u64,
}

impl Engine {
    /// `rmi` and `DELETE /images/{name}`: untags, and removes the image and the layers no other
    /// image uses. An image under a container stays (409): only one of several tags may go.
    pub fn image_remove(&self, name: &str, force: bool) -> Result<ImageRemoval> {
        if let Ok((record, tag)) = self.images.resolve(name) {
            let just_a_tag = tag.is_some() && self.images.tags_of(&record.id)?.len() > 1;
            let containers = self.list()?;
            if let Some(user) = containers.iter().find(|c| c.image_id == record.id) {
                if !just_a_tag {
                    let image = mini_storage::digest::short(&record.id);
                    let container = user.short_id();
                    return Err(Error::Conflict(if tag.is_some() && !force {
                        format!("conflict: unable to remove repository reference \"{name}\" (must force) - container {container} is using its referenced image {image}")
                    } else {
                        format!("conflict: unable to delete {image} (cannot be forced) - image is being used by container {container}")
                    }));
                }
            }
        }
        let removal = self.images.remove(name, force)?;
        let mut done = ImageRemoval {
            untagged: removal.untagged,
            deleted: removal.deleted,
            ..ImageRemoval::default()
        };
        for chain in removal.layers {
            done.reclaimed += self.layers.size(&chain);
            self.layers.remove(&chain)?;
            done.layers.push(chain);
        }
        Ok(done)
    }

    /// `image prune`: images no container uses; without `all` only the untagged ones.
    pub fn image_prune(&self, all: bool) -> Result<ImageRemoval> {
        let containers = self.list()?;
        let mut done = ImageRemoval::default();
        for listed in self.images.list()? {
            let id = &listed.record.id;
            if (!all && !listed.tags.is_empty()) || containers.iter().any(|c| &c.image_id == id) {
                continue;
            }
            let Ok(removal) = self.images.remove(id, true) else {
                continue;
            };
            done.untagged.extend(removal.untagged);
            done.deleted.extend(removal.deleted);
            for chain in removal.layers {
                done.reclaimed += self.layers.size(&chain);
                self.layers.remove(&chain)?;
                done.layers.push(chain);
            }
        }
        Ok(done)
    }
}

/// Whether a volume passes every filter (`dangling`, `name`, `label`, `driver`).
pub fn volume_matches(volume: &Volume, used: bool, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(key, value)| match key.as_str() {
        "dangling" => (value == "true" || value == "1") != used,
        "name" => volume.name.contains(value.as_str()),
        "label" => label_matches(&volume.labels, value),
        "driver" => value == "local",
        _ => true,
    })
}

/// `label=KEY` or `label=KEY=VALUE` against a set of labels.
pub fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
        None => labels.contains_key(filter),
    }
}

/// Whether a network passes every filter (`name`, `id`, `label`, `driver`, `type`, `scope`).
pub fn network_matches(record: &NetworkRecord, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(key, value)| match key.as_str() {
        "name" => record.name.contains(value.as_str()),
        "id" => record.id.starts_with(value.as_str()),
        "label" => label_matches(&record.labels, value),
        "driver" => &record.driver == value,
        "type" => (value == "builtin") == record.is_builtin(),
        "scope" => value == "local",
        _ => true,
    })
}
