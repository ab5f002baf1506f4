//! Images as tar archives: `save` writes them, `load` reads them.
//!
//! `save` writes what Docker 25 writes: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`) that also carries Docker's `manifest.json` and `repositories`, so that
//! Docker (old and new), containerd, skopeo and mini all read it. The blobs go in as they are
//! stored (layers compressed as the registry sent them, or as mini made them): a save costs a
//! copy of the bytes, nothing more, and the image keeps its id and manifest digest.
//!
//! `load` reads Docker's old format (`<id>/layer.tar`, `<id>.json`), Docker 25's, and OCI
//! archives (`index.json` only), plain or gzip/zstd-compressed, from a file or a pipe. A tar
//! stream can only be read in order and names its manifest last, so every file is spooled to
//! a private folder beside the blob store (hashed on the way) before anything is stored. Each
//! layer's content must hash to its config's diff id. Only when every image checks out are the
//! blobs moved into place, the layers unpacked and the images recorded; when anything fails,
//! what this load added is removed again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Value};

use crate::digest::{self, Hasher};
use crate::error::{Error, Result};
use crate::images::{ImageRecord, ImageStore, LayerRecord};
use crate::layers::LayerStore;
use crate::make::{self, NewLayer};
use crate::reference::ImageRef;

/// One image to save and the names it is saved under (`docker.io/library/nginx:latest`).
#[derive(Debug, Clone)]
pub struct SaveItem {
    pub image: ImageRecord,
    pub tags: Vec<ImageRef>,
}

/// Writes `items` as one archive to `out`. Blobs shared by several images go in once.
pub fn save(images: &ImageStore, items: &[SaveItem], out: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(256 * 1024, out));
    let io = |err: std::io::Error| Error::Io {
        path: PathBuf::from("the archive"),
        source: err,
    };
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut header = entry_header(0);
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        tar.append_data(&mut header, dir, std::io::empty())
            .map_err(io)?;
    }
    let mut written: HashSet<String> = HashSet::new();
    let mut index = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in items {
        let image = &item.image;
        let manifest_bytes = images.read_blob(&image.manifest_digest)?;
        let mut blobs = vec![image.manifest_digest.clone(), image.id.clone()];
        blobs.extend(image.layers.iter().map(|l| l.digest.clone()));
        for blob in blobs {
            if !written.insert(blob.clone()) {
                continue;
            }
            let path = images.blob_path(&blob)?;
            let file = std::fs::File::open(&path).map_err(Error::io(&path))?;
            let size = file.metadata().map_err(Error::io(&path))?.len();
            let mut header = entry_header(size);
            tar.append_data(
                &mut header,
                format!("blobs/sha256/{}", digest::hex_of(&blob)?),
                file.take(size),
            )
            .map_err(io)?;
        }
        let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap_or(Value::Null);
        let media_type = manifest["mediaType"]
            .as_str()
            .unwrap_or(make::OCI_MANIFEST)
            .to_string();
        let descriptor = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": media_type,
                "digest": image.manifest_digest,
                "size": manifest_bytes.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        let familiar: Vec<String> = item
            .tags
            .iter()
            .map(|t| format!("{}:{}", t.familiar_name(), t.tag().unwrap_or("latest")))
            .collect();
        if item.tags.is_empty() {
            index.push(descriptor(None));
        }
        for tag in &item.tags {
            let full = tag.full_tagged().unwrap_or_else(|| tag.full_name());
            index.push(descriptor(Some(json!({
                "io.containerd.image.name": full,
                "org.opencontainers.image.ref.name": tag.tag().unwrap_or("latest"),
            }))));
            if let Some(top) = image.layers.last() {
                repositories.entry(tag.familiar_name()).or_default().insert(
                    tag.tag().unwrap_or("latest").to_string(),
                    digest::hex_of(&top.digest)?.to_string(),
                );
            }
        }
        let layer_paths: Result<Vec<String>> = image
            .layers
            .iter()
            .map(|l| Ok(format!("blobs/sha256/{}", digest::hex_of(&l.digest)?)))
            .collect();
        docker_manifest.push(json!({
            "Config": format!("blobs/sha256/{}", digest::hex_of(&image.id)?),
            "RepoTags": if familiar.is_empty() { Value::Null } else { json!(familiar) },
            "Layers": layer_paths?,
        }));
    }
    let files = [
        (
            "index.json",
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": index,
            }),
        ),
        ("manifest.json", Value::Array(docker_manifest)),
        ("oci-layout", json!({"imageLayoutVersion": "1.0.0"})),
        ("repositories", json!(repositories)),
    ];
    for (name, value) in files {
        let bytes = serde_json::to_vec(&value).expect("json serializes");
        let mut header = entry_header(bytes.len() as u64);
        tar.append_data(&mut header, name, &bytes[..]).map_err(io)?;
    }
    let mut out = tar.into_inner().map_err(io)?;
    out.flush().map_err(io)
}

fn entry_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    header
}

/// One image `load` stored, and the names it was given.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub image: ImageRecord,
    pub tags: Vec<ImageRef>,
}

/// A file of the archive, spooled.
#[derive(Debug, Clone)]
struct Spooled {
    path: PathBuf,
    digest: String,
    size: u64,
}

/// The spool folder, removed with what is left in it whatever happens.
struct Spool {
    dir: PathBuf,
    files: HashMap<String, Spooled>,
    /// Symlinks in the archive (Docker's old format links shared layers): name -> target name.
    links: HashMap<String, String>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Spool {
    fn get(&self, name: &str) -> Option<&Spooled> {
        let mut name = normalize(name)?;
        for _ in 0..16 {
            if let Some(found) = self.files.get(&name) {
                return Some(found);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }

    fn json(&self, name: &str) -> Result<Value> {
        let file = self.get(name).ok_or_else(|| missing(name))?;
        let bytes = std::fs::read(&file.path).map_err(Error::io(&file.path))?;
        serde_json::from_slice(&bytes).map_err(|err| Error::BadContent {
            what: format!("{name} in the archive"),
            reason: err.to_string(),
        })
    }
}

fn missing(name: &str) -> Error {
    Error::BadContent {
        what: "the archive".into(),
        reason: format!("{name} is missing: the archive is incomplete or not an image archive"),
    }
}

/// `a/./b/` -> `a/b`; None if it climbs out.
fn normalize(name: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    Some(parts.join("/"))
}

/// Reads an image archive from `input` into the stores.
pub fn load(images: &ImageStore, layers: &LayerStore, input: impl Read) -> Result<Vec<Loaded>> {
    let spool = spool(images, input)?;
    let found = if spool.get("manifest.json").is_some() {
        docker_images(&spool)?
    } else if spool.get("index.json").is_some() {
        oci_images(&spool)?
    } else {
        return Err(missing("manifest.json (or index.json)"));
    };
    if found.is_empty() {
        return Err(Error::BadContent {
            what: "the archive".into(),
            reason: "it holds no image".into(),
        });
    }
    // Check everything before storing anything.
    let mut planned = Vec::new();
    for candidate in &found {
        planned.push(check_image(&spool, layers, candidate)?);
    }
    let mut added_blobs: Vec<PathBuf> = Vec::new();
    let mut added_layers: Vec<String> = Vec::new();
    let stored = store_all(
        images,
        layers,
        &planned,
        &mut added_blobs,
        &mut added_layers,
    );
    if stored.is_err() {
        for chain in added_layers.iter().rev() {
            let _ = layers.remove(chain);
        }
        for blob in &added_blobs {
            let _ = std::fs::remove_file(blob);
        }
    }
    stored
}

/// Copies every regular file of the archive to the spool, hashing it on the way.
fn spool(images: &ImageStore, input: impl Read) -> Result<Spool> {
    let dir = images
        .blob_path(&digest::sha256(b"load"))?
        .with_file_name(format!(".tmp-load{}-{}", unique(), std::process::id()));
    std::fs::create_dir(&dir).map_err(Error::io(&dir))?;
    let mut spool = Spool {
        dir,
        files: HashMap::new(),
        links: HashMap::new(),
    };
    let bad = |reason: String| Error::BadContent {
        what: "the archive".into(),
        reason,
    };
    let mut input = std::io::BufReader::with_capacity(256 * 1024, input);
    let head = input
        .fill_buf()
        .map_err(|e| bad(format!("reading it: {e}")))?
        .get(..4)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let reader: Box<dyn Read> = match head.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(input)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| bad(format!("zstd: {e}")))?,
        ),
        [] => return Err(bad("it is empty".into())),
        _ => Box::new(input),
    };
    let mut archive = tar::Archive::new(reader);
    let mut n = 0usize;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("reading it: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading it: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| bad(format!("an entry's name: {e}")))?
            .display()
            .to_string();
        let name =
            normalize(&raw).ok_or_else(|| bad(format!("entry {raw:?} points outside it")))?;
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                n += 1;
                let path = spool.dir.join(format!("f{n}"));
                let mut file = std::fs::File::create(&path).map_err(Error::io(&path))?;
                let mut hasher = Hasher::default();
                let mut size = 0u64;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let read = entry
                        .read(&mut buf)
                        .map_err(|e| bad(format!("reading {name}: {e}")))?;
                    if read == 0 {
                        break;
                    }
                    hasher.update(&buf[..read]);
                    file.write_all(&buf[..read]).map_err(Error::io(&path))?;
                    size += read as u64;
                }
                if size != entry.header().size().unwrap_or(size) {
                    return Err(bad(format!("{name} is truncated")));
                }
                spool.files.insert(
                    name,
                    Spooled {
                        path,
                        digest: hasher.finish(),
                        size,
                    },
                );
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                let resolved = if entry.header().entry_type() == tar::EntryType::Symlink {
                    let parent = Path::new(&name).parent().unwrap_or(Path::new(""));
                    normalize(&parent.join(&target).display().to_string())
                } else {
                    normalize(&target)
                };
                if let Some(resolved) = resolved {
                    spool.links.insert(name, resolved);
                }
            }
            _ => {}
        }
    }
    Ok(spool)
}

fn unique() -> u64 {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// An image the archive says it holds: its config's file, its layers' files, its names.
#[derive(Debug, Clone)]
struct Candidate {
    config: String,
    layers: Vec<String>,
    tags: Vec<ImageRef>,
}

/// `manifest.json`: Docker's formats, old and new.
fn docker_images(spool: &Spool) -> Result<Vec<Candidate>> {
    let manifest = spool.json("manifest.json")?;
    let entries = manifest.as_array().ok_or_else(|| Error::BadContent {
        what: "manifest.json in the archive".into(),
        reason: "not a list".into(),
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let config = text(&entry["Config"]).ok_or_else(|| missing("an image's Config"))?;
        let layers = entry["Layers"]
            .as_array()
            .map(|l| l.iter().filter_map(text).collect())
            .unwrap_or_default();
        let tags = entry["RepoTags"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t.as_str()))
            .into_iter()
            .flatten()
            .map(ImageRef::parse)
            .collect::<Result<Vec<_>>>()?;
        out.push(Candidate {
            config,
            layers,
            tags,
        });
    }
    Ok(out)
}

/// `index.json` alone: an OCI archive (skopeo's, containerd's, or Docker 25's without
/// manifest.json). Nested indexes are followed; the host's platform is taken from each.
fn oci_images(spool: &Spool) -> Result<Vec<Candidate>> {
    let index = spool.json("index.json")?;
    let blob_name = |digest: &str| -> Result<String> {
        Ok(format!("blobs/sha256/{}", digest::hex_of(digest)?))
    };
    let mut out = Vec::new();
    let mut pending: Vec<(Value, Vec<ImageRef>)> = Vec::new();
    for descriptor in index["manifests"].as_array().cloned().unwrap_or_default() {
        let annotations = &descriptor["annotations"];
        let name = annotations["io.containerd.image.name"]
            .as_str()
            .or_else(|| annotations["org.opencontainers.image.ref.name"].as_str())
            .filter(|n| n.contains(':') || n.contains('/'))
            .and_then(|n| ImageRef::parse(n).ok());
        pending.push((descriptor, name.into_iter().collect()));
    }
    let host = crate::pull::host_platform();
    let mut depth = 0;
    while let Some((descriptor, tags)) = pending.pop() {
        depth += 1;
        if depth > 1000 {
            break;
        }
        let digest = descriptor["digest"].as_str().unwrap_or("");
        let manifest = spool.json(&blob_name(digest)?)?;
        if let Some(children) = manifest["manifests"].as_array() {
            let chosen = children.iter().find(|c| {
                let p = &c["platform"];
                format!(
                    "{}/{}",
                    p["os"].as_str().unwrap_or(""),
                    p["architecture"].as_str().unwrap_or("")
                ) == host
            });
            if let Some(child) = chosen.or(children.first()) {
                pending.push((child.clone(), tags));
            }
            continue;
        }
        let config = blob_name(manifest["config"]["digest"].as_str().unwrap_or(""))?;
        let layers = manifest["layers"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|d| blob_name(d["digest"].as_str().unwrap_or("")))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        out.push(Candidate {
            config,
            layers,
            tags,
        });
    }
    out.reverse();
    Ok(out)
}

/// A checked image: its config bytes, its layers (each with its spooled blob), its names.
struct Planned {
    config: Value,
    config_bytes: Vec<u8>,
    layers: Vec<(NewLayer, Spooled)>,
    tags: Vec<ImageRef>,
}

/// Checks one image against its config: as many layers as diff ids, each layer's content
/// hashing to its diff id (unpacking checks that for new layers; a layer already stored has
/// its blob checked here), before anything of it is stored.
fn check_image(spool: &Spool, layers: &LayerStore, candidate: &Candidate) -> Result<Planned> {
    let file = spool
        .get(&candidate.config)
        .ok_or_else(|| missing(&candidate.config))?;
    let config_bytes = std::fs::read(&file.path).map_err(Error::io(&file.path))?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|err| Error::BadContent {
        what: format!("image config {} in the archive", candidate.config),
        reason: err.to_string(),
    })?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != candidate.layers.len() {
        return Err(Error::BadContent {
            what: format!("image {} in the archive", digest::short(&file.digest)),
            reason: format!(
                "{} layers for {} diff ids in its config",
                candidate.layers.len(),
                diff_ids.len()
            ),
        });
    }
    let chains = digest::chain_ids(&diff_ids);
    let mut planned = Vec::new();
    for (i, name) in candidate.layers.iter().enumerate() {
        let blob = spool.get(name).ok_or_else(|| missing(name))?.clone();
        let media_type = media_type_of(&blob.path)?;
        if layers.exists(&chains[i]) || media_type == make::OCI_LAYER_TAR {
            let actual = uncompressed_digest(&blob, media_type)?;
            if actual != diff_ids[i] {
                return Err(Error::DigestMismatch {
                    what: format!("layer {name} in the archive"),
                    expected: diff_ids[i].clone(),
                    actual,
                });
            }
        }
        planned.push((
            NewLayer {
                record: LayerRecord {
                    digest: blob.digest.clone(),
                    diff_id: diff_ids[i].clone(),
                    chain_id: chains[i].clone(),
                    size: blob.size,
                },
                media_type: media_type.to_string(),
            },
            blob,
        ));
    }
    Ok(Planned {
        config,
        config_bytes,
        layers: planned,
        tags: candidate.tags.clone(),
    })
}

/// The layer media type a file's first bytes show.
fn media_type_of(path: &Path) -> Result<&'static str> {
    let mut head = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(Error::io(path))?;
    let n = file.read(&mut head).map_err(Error::io(path))?;
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => make::OCI_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => make::OCI_LAYER_ZSTD,
        _ => make::OCI_LAYER_TAR,
    })
}

fn uncompressed_digest(blob: &Spooled, media_type: &str) -> Result<String> {
    if media_type == make::OCI_LAYER_TAR {
        return Ok(blob.digest.clone());
    }
    let file = std::fs::File::open(&blob.path).map_err(Error::io(&blob.path))?;
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let mut decoder: Box<dyn Read> = if media_type == make::OCI_LAYER_ZSTD {
        Box::new(zstd::stream::read::Decoder::new(reader).map_err(Error::io(&blob.path))?)
    } else {
        Box::new(flate2::read::GzDecoder::new(reader))
    };
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = decoder.read(&mut buf).map_err(|err| Error::BadLayer {
            layer: blob.digest.clone(),
            reason: format!("decompressing: {err}"),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

fn store_all(
    images: &ImageStore,
    layers: &LayerStore,
    planned: &[Planned],
    added_blobs: &mut Vec<PathBuf>,
    added_layers: &mut Vec<String>,
) -> Result<Vec<Loaded>> {
    // Blobs and layers first, for every image; then the images.
    for image in planned {
        let mut parent: Option<&str> = None;
        for (layer, spooled) in &image.layers {
            let path = images.blob_path(&layer.record.digest)?;
            if !path.exists() {
                std::fs::rename(&spooled.path, &path)
                    .or_else(|_| std::fs::copy(&spooled.path, &path).map(|_| ()))
                    .map_err(Error::io(&path))?;
                added_blobs.push(path.clone());
            }
            if !layers.exists(&layer.record.chain_id) {
                make::register_layer(layers, &path, &layer.record, &layer.media_type, parent)?;
                added_layers.push(layer.record.chain_id.clone());
            }
            parent = Some(&layer.record.chain_id);
        }
    }
    let mut loaded = Vec::new();
    for image in planned {
        let new_layers: Vec<NewLayer> = image.layers.iter().map(|(l, _)| l.clone()).collect();
        let size = new_layers
            .iter()
            .map(|l| layers.size(&l.record.chain_id))
            .sum();
        let record = images.create_image_from(
            &image.config,
            &image.config_bytes,
            &new_layers,
            size,
            &image.tags,
        )?;
        loaded.push(Loaded {
            image: record,
            tags: image.tags.clone(),
        });
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_and_may_not_climb_out() {
        assert_eq!(normalize("./a/b/").as_deref(), Some("a/b"));
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(
            normalize("/manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(normalize("../x"), None);
    }
}
