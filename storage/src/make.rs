//! Images that mini makes (`commit`, `import`, `load`, later `build`), all the same way:
//!
//! 1. A layer's tar stream (a container's upper folder packed by `pack`, an imported archive)
//!    is gzip-compressed and hashed in one pass, the uncompressed bytes giving the diff id and
//!    the compressed ones the blob's digest, straight into `blobs/sha256/`.
//! 2. The blob is unpacked into the layer store as a pulled layer is (`LayerStore::unpack`,
//!    which checks the diff id again), so the image runs at once and shares its base's layers.
//! 3. The config and an OCI manifest that names the config and every layer's blob are written
//!    as blobs, and only then is the image recorded. So every image mini holds, pulled or made,
//!    has a manifest and all its blobs: `push` and `save` need nothing else.

use std::io::Write;

use serde_json::{json, Value};

use crate::digest::{self, Hasher};
use crate::error::{Error, Result};
use crate::images::{ImageRecord, ImageStore, LayerRecord};
use crate::layers::LayerStore;
use crate::reference::ImageRef;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// The digest of the empty layer (two zero blocks), which Docker never stores.
pub const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// A layer in the stores, and its blob's media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLayer {
    pub record: LayerRecord,
    pub media_type: String,
}

/// Hashes and counts what passes through to `inner`.
struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Stores a layer whose tar stream `write_tar` writes: compressed into a blob, then unpacked on
/// top of `parent` (a chain id). Nothing of it stays when anything fails.
pub fn store_layer(
    images: &ImageStore,
    layers: &LayerStore,
    parent: Option<&str>,
    write_tar: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<NewLayer> {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = images.blob_temp(&digest::sha256(format!("new layer {n}").as_bytes()))?;
    let written = (|| {
        let file = std::fs::File::create(&temp).map_err(Error::io(&temp))?;
        let compressed = HashingWriter {
            inner: std::io::BufWriter::with_capacity(256 * 1024, file),
            hasher: Hasher::default(),
            count: 0,
        };
        let mut tar = HashingWriter {
            inner: flate2::write::GzEncoder::new(compressed, flate2::Compression::fast()),
            hasher: Hasher::default(),
            count: 0,
        };
        write_tar(&mut tar)?;
        let diff_id = tar.hasher.finish();
        let compressed = tar.inner.finish().map_err(Error::io(&temp))?;
        let digest = compressed.hasher.finish();
        let size = compressed.count;
        let file = compressed
            .inner
            .into_inner()
            .map_err(|err| Error::io(&temp)(err.into_error()))?;
        file.sync_all().map_err(Error::io(&temp))?;
        Ok::<_, Error>((digest, diff_id, size))
    })();
    let (blob_digest, diff_id, size) = match written {
        Ok(done) => done,
        Err(err) => {
            let _ = std::fs::remove_file(&temp);
            return Err(err);
        }
    };
    let path = images.blob_path(&blob_digest)?;
    std::fs::rename(&temp, &path).map_err(Error::io(&path))?;
    let chain_id = match parent {
        None => diff_id.clone(),
        Some(parent) => digest::sha256(format!("{parent} {diff_id}").as_bytes()),
    };
    let record = LayerRecord {
        digest: blob_digest,
        diff_id,
        chain_id,
        size,
    };
    register_layer(layers, &path, &record, OCI_LAYER_GZIP, parent)?;
    Ok(NewLayer {
        record,
        media_type: OCI_LAYER_GZIP.into(),
    })
}

/// Unpacks a stored blob as layer `record.chain_id`, unless it is there already.
pub fn register_layer(
    layers: &LayerStore,
    blob: &std::path::Path,
    record: &LayerRecord,
    media_type: &str,
    parent: Option<&str>,
) -> Result<()> {
    if layers.exists(&record.chain_id) {
        return Ok(());
    }
    let file = std::fs::File::open(blob).map_err(Error::io(blob))?;
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    match media_type {
        OCI_LAYER_TAR => layers.unpack(&record.chain_id, parent, &record.diff_id, reader),
        OCI_LAYER_ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(reader).map_err(Error::io(blob))?;
            layers.unpack(&record.chain_id, parent, &record.diff_id, decoder)
        }
        _ => layers.unpack(
            &record.chain_id,
            parent,
            &record.diff_id,
            flate2::read::GzDecoder::new(reader),
        ),
    }
    .map(|_| ())
}

/// The OCI name of a layer media type: Docker's schema 2 names map onto OCI's (the bytes are
/// the same), so that a manifest mini writes never mixes the two.
pub fn oci_layer_type(media_type: &str) -> &'static str {
    if media_type.ends_with("+zstd") {
        OCI_LAYER_ZSTD
    } else if media_type.ends_with(".tar") || media_type.ends_with("rootfs.diff.tar") {
        OCI_LAYER_TAR
    } else {
        OCI_LAYER_GZIP
    }
}

impl ImageStore {
    /// The parsed config of an image.
    pub fn config_of(&self, image: &ImageRecord) -> Result<Value> {
        let bytes = self.read_blob(&image.id)?;
        serde_json::from_slice(&bytes).map_err(|err| Error::BadContent {
            what: format!("config of image {}", digest::short(&image.id)),
            reason: err.to_string(),
        })
    }

    /// The parsed manifest of an image.
    pub fn manifest_of(&self, image: &ImageRecord) -> Result<Value> {
        let bytes = self.read_blob(&image.manifest_digest)?;
        serde_json::from_slice(&bytes).map_err(|err| Error::BadContent {
            what: format!("manifest of image {}", digest::short(&image.id)),
            reason: err.to_string(),
        })
    }

    /// An image's layers with their blobs' media types (from its manifest).
    pub fn layers_of(&self, image: &ImageRecord) -> Result<Vec<NewLayer>> {
        let manifest = self.manifest_of(image)?;
        let types: Vec<&str> = manifest["layers"]
            .as_array()
            .map(|layers| {
                layers
                    .iter()
                    .map(|l| l["mediaType"].as_str().unwrap_or(OCI_LAYER_GZIP))
                    .collect()
            })
            .unwrap_or_default();
        Ok(image
            .layers
            .iter()
            .enumerate()
            .map(|(i, record)| NewLayer {
                record: record.clone(),
                media_type: oci_layer_type(types.get(i).copied().unwrap_or(OCI_LAYER_GZIP))
                    .to_string(),
            })
            .collect())
    }

    /// Records a new image: `config` (whose `rootfs.diff_ids` must match `layers`, every one
    /// already in the stores) and a manifest for it become blobs, then `tags` point at it.
    pub fn create_image(
        &self,
        config: &Value,
        layers: &[NewLayer],
        layer_sizes: u64,
        tags: &[ImageRef],
    ) -> Result<ImageRecord> {
        let config_bytes = serde_json::to_vec(config).expect("a config serializes");
        self.create_image_from(config, &config_bytes, layers, layer_sizes, tags)
    }

    /// As [`ImageStore::create_image`], with the config's bytes as they must be kept (a loaded
    /// image keeps its id, the digest of those bytes).
    pub fn create_image_from(
        &self,
        config: &Value,
        config_bytes: &[u8],
        layers: &[NewLayer],
        layer_sizes: u64,
        tags: &[ImageRef],
    ) -> Result<ImageRecord> {
        let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let ours: Vec<&str> = layers.iter().map(|l| l.record.diff_id.as_str()).collect();
        if diff_ids != ours {
            return Err(Error::BadContent {
                what: "new image".into(),
                reason: "its config's rootfs.diff_ids do not match its layers".into(),
            });
        }
        let config_digest = digest::sha256(config_bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": config_digest,
                "size": config_bytes.len(),
            },
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.media_type,
                "digest": l.record.digest,
                "size": l.record.size,
            })).collect::<Vec<_>>(),
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
        let manifest_digest = digest::sha256(&manifest_bytes);
        self.put_blob(&config_digest, config_bytes)?;
        self.put_blob(&manifest_digest, &manifest_bytes)?;
        let platform = match (
            config["os"].as_str(),
            config["architecture"].as_str(),
            config["variant"].as_str(),
        ) {
            (Some(os), Some(arch), Some(variant)) => format!("{os}/{arch}/{variant}"),
            (Some(os), Some(arch), None) => format!("{os}/{arch}"),
            _ => crate::pull::host_platform(),
        };
        let record = ImageRecord {
            id: config_digest,
            manifest_digest,
            repo_digests: Vec::new(),
            layers: layers.iter().map(|l| l.record.clone()).collect(),
            platform,
            created: config["created"].as_str().map(str::to_string),
            size: layer_sizes,
        };
        self.record(&record, tags)?;
        Ok(record)
    }
}

/// Docker's time format for `created`: RFC 3339 in UTC with nanoseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_layer_types_map_onto_oci_ones() {
        assert_eq!(
            oci_layer_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            OCI_LAYER_GZIP
        );
        assert_eq!(oci_layer_type(OCI_LAYER_ZSTD), OCI_LAYER_ZSTD);
        assert_eq!(oci_layer_type(OCI_LAYER_TAR), OCI_LAYER_TAR);
    }

    #[test]
    fn the_empty_layer_digest_is_two_zero_blocks() {
        assert_eq!(digest::sha256(&[0u8; 1024]), EMPTY_LAYER_DIFF_ID);
    }
}
