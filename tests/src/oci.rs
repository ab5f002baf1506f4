//! Hand-made images for tests that need what the Debian-built ones do not have: whiteouts and
//! opaque folders in known places, hostile entries, several platforms, Docker media types,
//! uncompressed layers. The builder writes an OCI image layout; `Registry::push_layout` sends it
//! to a test registry with skopeo, digests unchanged.
//!
//! It is written here, against the specs, not with mini's own code: a fixture that shared the
//! code under test would share its mistakes.

use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// `sha256:<hex>`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Builds one uncompressed layer tar, entry by entry. Names are written as given, byte for byte
/// (hostile names included), which `tar::Builder`'s own path checks would refuse.
#[derive(Default)]
pub struct LayerTar {
    builder: Option<tar::Builder<Vec<u8>>>,
}

impl std::fmt::Debug for LayerTar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LayerTar")
    }
}

impl LayerTar {
    pub fn new() -> LayerTar {
        LayerTar {
            builder: Some(tar::Builder::new(Vec::new())),
        }
    }

    fn append(
        mut self,
        name: &str,
        kind: tar::EntryType,
        mode: u32,
        link: Option<&str>,
        data: &[u8],
    ) -> Self {
        let mut header = tar::Header::new_gnu();
        {
            let bytes = header.as_mut_bytes();
            assert!(name.len() < 100, "fixture names stay short");
            bytes[..100].fill(0);
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(link) = link {
                assert!(link.len() < 100);
                bytes[157..257].fill(0);
                bytes[157..157 + link.len()].copy_from_slice(link.as_bytes());
            }
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_686_355_200);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.builder
            .as_mut()
            .expect("builder")
            .append(&header, data)
            .expect("append to an in-memory tar");
        self
    }

    pub fn dir(self, name: &str) -> Self {
        self.append(name, tar::EntryType::Directory, 0o755, None, b"")
    }
    pub fn file(self, name: &str, content: &str) -> Self {
        self.append(
            name,
            tar::EntryType::Regular,
            0o644,
            None,
            content.as_bytes(),
        )
    }
    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.append(name, tar::EntryType::Symlink, 0o777, Some(target), b"")
    }
    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.append(name, tar::EntryType::Link, 0o644, Some(target), b"")
    }
    /// An OCI whiteout: hides `name` of the layers below.
    pub fn whiteout(self, folder: &str, name: &str) -> Self {
        self.file(&format!("{folder}.wh.{name}"), "")
    }
    /// An OCI opaque marker: hides everything below in `folder` (which ends with `/`).
    pub fn opaque(self, folder: &str) -> Self {
        self.file(&format!("{folder}.wh..wh..opq"), "")
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.builder
            .take()
            .expect("builder")
            .into_inner()
            .expect("finish tar")
    }
}

/// How layers are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// Media types of one flavour of manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Oci,
    Docker,
}

/// Blobs of one image, ready to be written into a layout.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
    pub platform: (String, String),
}

impl Image {
    /// An image of these uncompressed layers, gzip-compressed (or not), for `os/arch`.
    pub fn new(layers: &[Vec<u8>], flavour: Flavour, gzip: bool, arch: &str) -> Image {
        let compression = if gzip {
            Compression::Gzip
        } else {
            Compression::None
        };
        Image::compressed(layers, flavour, compression, arch)
    }

    /// An image of these uncompressed layers, compressed as asked (OCI media types for zstd).
    pub fn compressed(
        layers: &[Vec<u8>],
        flavour: Flavour,
        compression: Compression,
        arch: &str,
    ) -> Image {
        let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
        let blobs: Vec<Vec<u8>> = layers
            .iter()
            .map(|l| match compression {
                Compression::Gzip => {
                    use std::io::Write;
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    enc.write_all(l).unwrap();
                    enc.finish().unwrap()
                }
                Compression::Zstd => zstd::stream::encode_all(&l[..], 3).unwrap(),
                Compression::None => l.clone(),
            })
            .collect();
        let config = serde_json::to_vec(&json!({
            "created": "2023-06-10T00:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": layers.iter().map(|_| json!({"created_by": "fixture"})).collect::<Vec<_>>(),
        }))
        .unwrap();
        let (manifest_type, config_type, layer_type) = match (flavour, compression) {
            (Flavour::Oci, Compression::Zstd) => (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            (Flavour::Oci, Compression::Gzip) => (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
            (Flavour::Oci, Compression::None) => (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar",
            ),
            (Flavour::Docker, _) => (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            ),
        };
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": sha256(&config), "size": config.len()},
            "layers": blobs.iter().map(|b| json!({
                "mediaType": layer_type, "digest": sha256(b), "size": b.len()
            })).collect::<Vec<_>>(),
        }))
        .unwrap();
        Image {
            manifest,
            config,
            layers: blobs,
            platform: ("linux".into(), arch.into()),
        }
    }

    /// The same image with `fields` set in its config's `config` (Volumes, Cmd, ...); the
    /// manifest follows the config's new digest.
    pub fn with_config(mut self, fields: Value) -> Image {
        let mut config: Value = serde_json::from_slice(&self.config).unwrap();
        for (key, value) in fields.as_object().expect("an object of config fields") {
            config["config"][key] = value.clone();
        }
        self.config = serde_json::to_vec(&config).unwrap();
        let mut manifest: Value = serde_json::from_slice(&self.manifest).unwrap();
        manifest["config"]["digest"] = json!(sha256(&self.config));
        manifest["config"]["size"] = json!(self.config.len());
        self.manifest = serde_json::to_vec(&manifest).unwrap();
        self
    }

    pub fn manifest_digest(&self) -> String {
        sha256(&self.manifest)
    }
}

fn write_blob(layout: &Path, bytes: &[u8]) {
    let digest = sha256(bytes);
    let path = layout.join("blobs/sha256").join(&digest[7..]);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes an OCI layout holding one image, or an index of several (one per platform).
pub fn write_layout(layout: &Path, images: &[Image], as_index: bool) -> Value {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    for image in images {
        write_blob(layout, &image.manifest);
        write_blob(layout, &image.config);
        for layer in &image.layers {
            write_blob(layout, layer);
        }
    }
    let descriptor = |image: &Image| {
        let media_type: Value =
            serde_json::from_slice::<Value>(&image.manifest).unwrap()["mediaType"].clone();
        json!({
            "mediaType": media_type,
            "digest": image.manifest_digest(),
            "size": image.manifest.len(),
            "platform": {"os": image.platform.0, "architecture": image.platform.1},
        })
    };
    let top = if as_index {
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": images.iter().map(descriptor).collect::<Vec<_>>(),
        }))
        .unwrap();
        write_blob(layout, &index);
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256(&index), "size": index.len()})
    } else {
        assert_eq!(images.len(), 1, "more than one image needs an index");
        descriptor(&images[0])
    };
    let mut top = top;
    top["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
    let index_json = json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index_json).unwrap(),
    )
    .unwrap();
    index_json
}
