//! The blob store and the image store.
//!
//! `blobs/sha256/<hex>` keeps manifests, configs and compressed layers exactly as the registry
//! sent them (for push and save later). `images.json` maps tags (`docker.io/library/nginx:latest`)
//! to image ids (the config's digest, as Docker's image ids are) and image ids to what the image
//! is made of. It is rewritten atomically (temp file, fsync, rename) under an flock, so that
//! concurrent `mini` commands never lose each other's changes or see half a file, and an image
//! appears in it only once all its layers are in place.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest;
use crate::error::{Error, Result};
use crate::reference::ImageRef;

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the compressed blob, as in the manifest.
    pub digest: String,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// The OCI chain id: names the unpacked layer in `overlay/`.
    pub chain_id: String,
    /// Size of the compressed blob.
    pub size: u64,
}

/// What the store knows of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image id: the digest of its config.
    pub id: String,
    /// Digest of the platform-specific manifest.
    pub manifest_digest: String,
    /// `docker.io/library/nginx@sha256:...`: where it was pulled from, by digest.
    pub repo_digests: Vec<String>,
    /// Bottom layer first.
    pub layers: Vec<LayerRecord>,
    /// `linux/amd64`.
    pub platform: String,
    /// The config's `created`, if it has one.
    pub created: Option<String>,
    /// Unpacked size in bytes (the sum of the layers' tar sizes), as `docker images` shows.
    pub size: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImagesFile {
    /// `registry/repository:tag` -> image id.
    tags: BTreeMap<String, String>,
    /// image id -> record.
    images: BTreeMap<String, ImageRecord>,
}

/// What `rmi` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removal {
    /// Tags and repo digests removed.
    pub untagged: Vec<String>,
    /// Image ids removed.
    pub deleted: Vec<String>,
    /// Chain ids of layers no image uses any more, uppermost first.
    pub layers: Vec<String>,
    /// Blobs that were removed from the blob store.
    pub blobs: Vec<String>,
}

/// An image as listed: its record and the tags that point at it.
#[derive(Debug, Clone)]
pub struct ListedImage {
    pub tags: Vec<String>,
    pub record: ImageRecord,
}

/// The blob and image stores under one root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// Opens (creating if needed) the stores under `root`.
    pub fn open(root: &Path) -> Result<ImageStore> {
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(Error::io(&blobs))?;
        crate::layers::remove_stale_temps(&blobs);
        Ok(ImageStore {
            root: root.to_path_buf(),
        })
    }

    /// `blobs/sha256/<hex>`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(digest::hex_of(digest)?))
    }

    /// A fresh temporary path in the blob folder, for a blob being written.
    pub fn blob_temp(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(format!(
            ".tmp-{}-{}",
            &digest::hex_of(digest)?[..12],
            std::process::id()
        )))
    }

    /// Stores a small blob (manifest, config) after checking its digest.
    pub fn put_blob(&self, expected: &str, bytes: &[u8]) -> Result<()> {
        let actual = digest::sha256(bytes);
        if actual != expected {
            return Err(Error::DigestMismatch {
                what: "blob".into(),
                expected: expected.to_string(),
                actual,
            });
        }
        let path = self.blob_path(expected)?;
        if path.exists() {
            return Ok(());
        }
        let temp = self.blob_temp(expected)?;
        write_synced(&temp, bytes)?;
        std::fs::rename(&temp, &path).map_err(Error::io(&path))
    }

    /// Reads a blob.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        std::fs::read(&path).map_err(Error::io(path))
    }

    /// The image a reference names: by tag, or by a digest it was pulled with.
    pub fn lookup(&self, reference: &ImageRef) -> Result<Option<ImageRecord>> {
        let file = self.read()?;
        if let Some(pinned) = reference.digest() {
            let wanted = format!("{}@{pinned}", reference.full_name());
            return Ok(file
                .images
                .values()
                .find(|image| image.repo_digests.contains(&wanted))
                .cloned());
        }
        Ok(reference
            .full_tagged()
            .and_then(|tag| file.tags.get(&tag))
            .and_then(|id| file.images.get(id))
            .cloned())
    }

    /// Records an image and points the reference's tag (if it has one) at it.
    pub fn add(&self, reference: &ImageRef, record: ImageRecord) -> Result<()> {
        self.record(&record, std::slice::from_ref(reference))
    }

    /// Records an image (adding to the repo digests of one already known) and points each of
    /// `tags` that names a tag at it.
    pub fn record(&self, record: &ImageRecord, tags: &[ImageRef]) -> Result<()> {
        self.update(|file| {
            let entry = file
                .images
                .entry(record.id.clone())
                .or_insert_with(|| record.clone());
            for repo_digest in &record.repo_digests {
                if !entry.repo_digests.contains(repo_digest) {
                    entry.repo_digests.push(repo_digest.clone());
                }
            }
            for reference in tags {
                if let Some(tag) = reference.full_tagged() {
                    file.tags.insert(tag, record.id.clone());
                }
            }
        })
    }

    /// Every image, newest first by creation date, with its tags.
    pub fn list(&self) -> Result<Vec<ListedImage>> {
        let file = self.read()?;
        let mut listed: Vec<ListedImage> = file
            .images
            .values()
            .map(|record| ListedImage {
                tags: file
                    .tags
                    .iter()
                    .filter(|(_, id)| **id == record.id)
                    .map(|(tag, _)| tag.clone())
                    .collect(),
                record: record.clone(),
            })
            .collect();
        listed.sort_by(|a, b| b.record.created.cmp(&a.record.created));
        Ok(listed)
    }

    /// The image a user's argument names, as Docker resolves it: a reference (`nginx`,
    /// `nginx:1`, `repo@sha256:...`) first, then an image id (`sha256:<hex>`, or a unique prefix
    /// of its hex). Returns the record and, when the argument named a tag, that tag.
    pub fn resolve(&self, text: &str) -> Result<(ImageRecord, Option<String>)> {
        if let Ok(reference) = ImageRef::parse(text) {
            if let Some(record) = self.lookup(&reference)? {
                let tag = if reference.digest().is_none() {
                    reference.full_tagged()
                } else {
                    None
                };
                return Ok((record, tag));
            }
        }
        let file = self.read()?;
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let found: Vec<&ImageRecord> = file
                .images
                .values()
                .filter(|image| image.id["sha256:".len()..].starts_with(&hex.to_ascii_lowercase()))
                .collect();
            match found.as_slice() {
                [one] => return Ok(((*one).clone(), None)),
                [] => {}
                _ => {
                    return Err(Error::BadContent {
                        what: format!("image id prefix {text}"),
                        reason: "it matches more than one image; give more of it".into(),
                    })
                }
            }
        }
        Err(Error::NoSuchImage(text.to_string()))
    }

    /// The tags (`docker.io/library/nginx:latest`) that point at an image.
    pub fn tags_of(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .read()?
            .tags
            .iter()
            .filter(|(_, image)| *image == id)
            .map(|(tag, _)| tag.clone())
            .collect())
    }

    /// Points `target` (which must name a tag) at the image `source` resolves to.
    pub fn tag(&self, source: &str, target: &ImageRef) -> Result<()> {
        let (record, _) = self.resolve(source)?;
        let tag = target
            .full_tagged()
            .ok_or_else(|| Error::InvalidReference {
                reason: format!("{target} names a digest; a tag is needed"),
            })?;
        self.update(|file| {
            file.tags.insert(tag, record.id.clone());
        })
    }

    /// `rmi`: removes a tag, and the image with it when no tag is left (or when `force`).
    /// Returns what Docker prints: `Untagged: ...` and `Deleted: ...` lines' subjects, and the
    /// chain ids of layers no remaining image uses (for the caller to remove from the layer store).
    pub fn remove(&self, text: &str, force: bool) -> Result<Removal> {
        let (record, named_tag) = self.resolve(text)?;
        let mut removal = Removal::default();
        let mut outcome = Ok(());
        self.update(|file| {
            let tags: Vec<String> = file
                .tags
                .iter()
                .filter(|(_, id)| **id == record.id)
                .map(|(tag, _)| tag.clone())
                .collect();
            let untag: Vec<String> = match &named_tag {
                Some(tag) if tags.len() > 1 && !force => vec![tag.clone()],
                _ if tags.len() > 1 && !force => {
                    outcome = Err(Error::Conflict(format!(
                        "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        digest::short(&record.id)
                    )));
                    return;
                }
                _ => tags.clone(),
            };
            for tag in &untag {
                file.tags.remove(tag);
                removal.untagged.push(tag.clone());
            }
            if file.tags.values().any(|id| *id == record.id) {
                return;
            }
            file.images.remove(&record.id);
            for digest in &record.repo_digests {
                removal.untagged.push(digest.clone());
            }
            removal.deleted.push(record.id.clone());
            let still_used: std::collections::HashSet<&String> = file
                .images
                .values()
                .flat_map(|image| image.layers.iter().map(|l| &l.chain_id))
                .collect();
            for layer in record.layers.iter().rev() {
                if !still_used.contains(&layer.chain_id) {
                    removal.layers.push(layer.chain_id.clone());
                }
            }
            removal.blobs.push(record.manifest_digest.clone());
            removal.blobs.push(record.id.clone());
            let blobs_used: std::collections::HashSet<&String> = file
                .images
                .values()
                .flat_map(|image| image.layers.iter().map(|l| &l.digest))
                .collect();
            for layer in &record.layers {
                if !blobs_used.contains(&layer.digest) {
                    removal.blobs.push(layer.digest.clone());
                }
            }
        })?;
        outcome?;
        for blob in &removal.blobs {
            if let Ok(path) = self.blob_path(blob) {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(removal)
    }

    fn images_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn read(&self) -> Result<ImagesFile> {
        let path = self.images_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| Error::BadContent {
                what: path.display().to_string(),
                reason: err.to_string(),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ImagesFile::default()),
            Err(err) => Err(Error::io(path)(err)),
        }
    }

    /// Read, change and write images.json under the store's lock.
    fn update(&self, change: impl FnOnce(&mut ImagesFile)) -> Result<()> {
        let lock_path = self.root.join("images.lock");
        let lock = File::create(&lock_path).map_err(Error::io(&lock_path))?;
        lock.lock().map_err(Error::io(&lock_path))?;
        let mut file = self.read()?;
        change(&mut file);
        let bytes = serde_json::to_vec_pretty(&file).expect("images.json serializes");
        let path = self.images_path();
        let temp = self
            .root
            .join(format!(".images.json.{}", std::process::id()));
        write_synced(&temp, &bytes)?;
        std::fs::rename(&temp, &path).map_err(Error::io(&path))
    }
}

/// Writes a file and flushes it to disk, so that a rename after it never exposes an empty file.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(Error::io(path))?;
    file.write_all(bytes).map_err(Error::io(path))?;
    file.sync_all().map_err(Error::io(path))
}
