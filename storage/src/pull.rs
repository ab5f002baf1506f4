//! Pulling an image from a registry into the stores, the way `docker pull` does.
//!
//! 1. Sources: for a Docker Hub image, each configured mirror first, then Docker Hub itself;
//!    otherwise the image's own registry. Plain http for insecure registries and loopback.
//! 2. The manifest (Docker v2 or OCI); an index or manifest list resolves to the host's platform
//!    or `--platform`. The config comes next: its `rootfs.diff_ids` give each layer's chain id.
//! 3. Layers not yet unpacked download concurrently (three at a time, as Docker) and stream in
//!    one pass through digest check (compressed and uncompressed), gzip or zstd decompression and
//!    unpacking; the compressed bytes are kept in `blobs/`. Nothing is buffered whole in memory.
//! 4. Only when every layer is in place is the image recorded in `images.json`.
//!
//! `oci-client` speaks the distribution protocol (token and basic auth, media types, digest
//! verification of blob streams); this module adds the mirrors, the platform choice, the
//! streaming unpack and the store.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{
    OciDescriptor, IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::Deserialize;

use crate::auth::AuthStore;
use crate::config::RegistryConfig;
use crate::digest::{self, Hasher};
use crate::error::{Error, Result};
use crate::images::{ImageRecord, ImageStore, LayerRecord};
use crate::layers::LayerStore;
use crate::reference::ImageRef;

/// How many layers download at once (Docker's `max-concurrent-downloads` default).
const CONCURRENT_DOWNLOADS: usize = 3;

const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// What a pull reports as it goes, for progress output. Layers are named by the first 12 hex
/// digits of their digest, as Docker prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The layer is already unpacked.
    LayerExists(String),
    /// The layer will be downloaded.
    LayerWaiting(String),
    /// Bytes of the layer received so far, and the total if known.
    LayerDownloading {
        layer: String,
        done: u64,
        total: Option<u64>,
    },
    /// The layer is downloaded, verified and unpacked.
    LayerDone(String),
}

/// What a pull did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullOutcome {
    /// Something was downloaded.
    Downloaded,
    /// The image was already present and current.
    UpToDate,
}

/// Options of one pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; None means the host's.
    pub platform: Option<String>,
}

/// Pulls images into an image store and a layer store.
#[derive(Debug, Clone)]
pub struct Puller {
    pub images: ImageStore,
    /// Credentials from `mini login`, by registry.
    pub auth: AuthStore,
    pub layers: LayerStore,
    pub config: RegistryConfig,
    pub config_path: PathBuf,
}

type Progress = Arc<dyn Fn(PullEvent) + Send + Sync>;

#[derive(Deserialize)]
struct ManifestShape {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<Vec<IndexEntry>>,
    config: Option<OciDescriptor>,
    layers: Option<Vec<OciDescriptor>>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
    platform: Option<PlatformShape>,
}

#[derive(Deserialize, Clone)]
struct PlatformShape {
    os: String,
    architecture: String,
    variant: Option<String>,
}

#[derive(Deserialize)]
struct ConfigShape {
    architecture: Option<String>,
    os: Option<String>,
    variant: Option<String>,
    created: Option<String>,
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// The host's platform in OCI's words.
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

impl Puller {
    /// Pulls `reference`, reporting progress. Returns the image and whether anything was fetched.
    pub async fn pull(
        &self,
        reference: &ImageRef,
        options: &PullOptions,
        progress: Progress,
    ) -> Result<(ImageRecord, PullOutcome)> {
        let platform = options.platform.clone().unwrap_or_else(host_platform);
        let mut errors: Vec<(String, Error)> = Vec::new();
        for (source, insecure) in self.sources(reference)? {
            let mut oci = reference.oci().clone();
            if source != reference.registry() {
                oci.set_mirror_registry(source.clone());
            }
            let client = client_for(&source, insecure);
            let auth = match self.auth.get(&source)? {
                Some((user, password)) => RegistryAuth::Basic(user, password),
                None => RegistryAuth::Anonymous,
            };
            match self
                .pull_from(&client, &auth, &oci, reference, &platform, progress.clone())
                .await
            {
                Ok(done) => return Ok(done),
                // Content errors are final; a mirror that fails to answer gives way to the next source.
                Err(
                    err @ (Error::DigestMismatch { .. }
                    | Error::BadLayer { .. }
                    | Error::NoMatchingPlatform { .. }),
                ) => return Err(err),
                Err(err) => errors.push((source, err)),
            }
        }
        // One source: its error as it is. Mirrors too: what each said, so none is hidden.
        if errors.len() == 1 {
            return Err(errors.remove(0).1);
        }
        let said: Vec<String> = errors
            .iter()
            .map(|(source, err)| format!("[{source}] {err}"))
            .collect();
        Err(Error::Registry(said.join("; ")))
    }

    /// Where to try, in order: (host, insecure).
    fn sources(&self, reference: &ImageRef) -> Result<Vec<(String, bool)>> {
        let mut sources = Vec::new();
        if reference.registry() == "docker.io" {
            for mirror in self.config.mirrors(&self.config_path)? {
                let insecure = mirror.insecure || self.config.is_insecure(&mirror.host);
                sources.push((mirror.host, insecure));
            }
        }
        let own = reference.registry().to_string();
        let insecure = self.config.is_insecure(&own);
        sources.push((own, insecure));
        Ok(sources)
    }

    async fn pull_from(
        &self,
        client: &Client,
        auth: &RegistryAuth,
        oci: &Reference,
        reference: &ImageRef,
        platform: &str,
        progress: Progress,
    ) -> Result<(ImageRecord, PullOutcome)> {
        client
            .auth(oci, auth, RegistryOperation::Pull)
            .await
            .map_err(|err| registry_error(reference, oci.resolve_registry(), err))?;

        // The manifest, through an index if there is one.
        let (mut bytes, _) = client
            .pull_manifest_raw(oci, auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(|err| registry_error(reference, oci.resolve_registry(), err))?;
        if let Some(pinned) = reference.digest() {
            check_digest(&format!("manifest of {reference}"), pinned, &bytes)?;
        }
        let mut shape: ManifestShape = parse_json(&format!("manifest of {reference}"), &bytes)?;
        let mut index_bytes = None;
        if let Some(entries) = &shape.manifests {
            let chosen = choose_platform(entries, platform)?;
            let by_digest = oci.clone_with_digest(chosen.clone());
            let (platform_bytes, _) = client
                .pull_manifest_raw(&by_digest, auth, ACCEPTED_MANIFESTS)
                .await
                .map_err(|err| registry_error(reference, oci.resolve_registry(), err))?;
            check_digest(
                &format!("manifest of {reference} for {platform}"),
                &chosen,
                &platform_bytes,
            )?;
            index_bytes = Some(std::mem::replace(&mut bytes, platform_bytes));
            shape = parse_json(&format!("manifest of {reference}"), &bytes)?;
        }
        let manifest_digest = digest::sha256(&bytes);
        let repo_digest_of =
            |bytes: &[u8]| format!("{}@{}", reference.full_name(), digest::sha256(bytes));
        let repo_digest = repo_digest_of(index_bytes.as_deref().unwrap_or(&bytes));
        let (Some(config_desc), Some(layer_descs)) = (shape.config, shape.layers) else {
            return Err(Error::BadContent {
                what: format!(
                    "manifest of {reference} ({})",
                    shape.media_type.unwrap_or_default()
                ),
                reason: "no config or no layers: not an image manifest".into(),
            });
        };

        // Present and current: nothing to do.
        if let Some(existing) = self.images.lookup(reference)? {
            if existing.manifest_digest == manifest_digest
                && existing
                    .layers
                    .iter()
                    .all(|l| self.layers.exists(&l.chain_id))
            {
                return Ok((existing, PullOutcome::UpToDate));
            }
        }

        let mut config_bytes = Vec::new();
        client
            .pull_blob(oci, &config_desc, &mut config_bytes)
            .await
            .map_err(|err| registry_error(reference, oci.resolve_registry(), err))?;
        check_digest(
            &format!("config of {reference}"),
            &config_desc.digest,
            &config_bytes,
        )?;
        let config: ConfigShape = parse_json(&format!("config of {reference}"), &config_bytes)?;
        if config.rootfs.diff_ids.len() != layer_descs.len() {
            return Err(Error::BadContent {
                what: format!("image {reference}"),
                reason: format!(
                    "the manifest lists {} layers but the config {}",
                    layer_descs.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        let chains = digest::chain_ids(&config.rootfs.diff_ids);

        let mut records = Vec::new();
        let mut to_fetch = Vec::new();
        for (i, desc) in layer_descs.iter().enumerate() {
            digest::hex_of(&desc.digest)?;
            let short = digest::short(&desc.digest).to_string();
            records.push(LayerRecord {
                digest: desc.digest.clone(),
                diff_id: config.rootfs.diff_ids[i].clone(),
                chain_id: chains[i].clone(),
                size: u64::try_from(desc.size).unwrap_or(0),
            });
            if self.layers.exists(&chains[i]) {
                progress(PullEvent::LayerExists(short));
            } else {
                progress(PullEvent::LayerWaiting(short));
                to_fetch.push(i);
            }
        }

        let fetches = to_fetch.into_iter().map(|i| {
            let desc = layer_descs[i].clone();
            let record = records[i].clone();
            let parent = i.checked_sub(1).map(|p| chains[p].clone());
            let progress = progress.clone();
            async move {
                self.fetch_layer(client, oci, reference, &desc, &record, parent, progress)
                    .await
            }
        });
        futures_util::stream::iter(fetches)
            .buffer_unordered(CONCURRENT_DOWNLOADS)
            .try_collect::<Vec<()>>()
            .await?;

        // Every layer is in place: now the image exists.
        self.images.put_blob(&digest::sha256(&bytes), &bytes)?;
        if let Some(index) = &index_bytes {
            self.images.put_blob(&digest::sha256(index), index)?;
        }
        self.images.put_blob(&config_desc.digest, &config_bytes)?;
        let size = records
            .iter()
            .map(|l| self.layers.size(&l.chain_id))
            .sum::<u64>();
        let record = ImageRecord {
            id: config_desc.digest.clone(),
            manifest_digest,
            repo_digests: vec![repo_digest],
            layers: records,
            platform: match (&config.os, &config.architecture, &config.variant) {
                (Some(os), Some(arch), Some(variant)) => format!("{os}/{arch}/{variant}"),
                (Some(os), Some(arch), None) => format!("{os}/{arch}"),
                _ => platform.to_string(),
            },
            created: config.created,
            size,
        };
        self.images.add(reference, record.clone())?;
        Ok((record, PullOutcome::Downloaded))
    }

    /// Streams one layer: registry -> (compressed digest, blob file) -> gunzip -> (diff id) -> tar.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_layer(
        &self,
        client: &Client,
        oci: &Reference,
        reference: &ImageRef,
        desc: &OciDescriptor,
        record: &LayerRecord,
        parent: Option<String>,
        progress: Progress,
    ) -> Result<()> {
        let short = digest::short(&desc.digest).to_string();
        let compression = Compression::of(&desc.media_type).ok_or_else(|| Error::BadLayer {
            layer: desc.digest.clone(),
            reason: format!("unsupported layer media type {:?}", desc.media_type),
        })?;
        let mut stream = client
            .pull_blob_stream(oci, desc)
            .await
            .map_err(|err| registry_error(reference, oci.resolve_registry(), err))?;
        let total = stream.content_length.or(u64::try_from(desc.size).ok());

        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(32);
        let layers = self.layers.clone();
        let blob_temp = self.images.blob_temp(&desc.digest)?;
        let blob_path = self.images.blob_path(&desc.digest)?;
        let record = record.clone();
        let unpacker = tokio::task::spawn_blocking(move || {
            unpack_stream(
                rx,
                compression,
                &layers,
                &record,
                parent.as_deref(),
                &blob_temp,
                &blob_path,
            )
        });

        let mut done = 0u64;
        let mut reported = 0u64;
        while let Some(chunk) = stream.next().await {
            let failed = chunk.is_err();
            if let Ok(bytes) = &chunk {
                done += bytes.len() as u64;
                if done - reported >= 512 * 1024 || Some(done) == total {
                    reported = done;
                    progress(PullEvent::LayerDownloading {
                        layer: short.clone(),
                        done,
                        total,
                    });
                }
            }
            if tx.send(chunk).await.is_err() || failed {
                break; // the unpacker stopped (its error says why), or the stream failed
            }
        }
        drop(tx);
        unpacker
            .await
            .map_err(|err| Error::Registry(format!("unpacking {short}: {err}")))??;
        progress(PullEvent::LayerDone(short));
        Ok(())
    }
}

/// A registry client for one host: plain http when `insecure`.
pub(crate) fn client_for(host: &str, insecure: bool) -> Client {
    client_with(host, insecure, false)
}

/// As [`client_for`]; `monolithic` pushes each blob in one request (its stream as the body).
pub(crate) fn client_with(host: &str, insecure: bool, monolithic: bool) -> Client {
    // TLS goes through rustls with ring; installing the provider twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(ClientConfig {
        protocol: if insecure {
            ClientProtocol::HttpsExcept(vec![host.to_string()])
        } else {
            ClientProtocol::Https
        },
        max_concurrent_download: CONCURRENT_DOWNLOADS,
        use_monolithic_push: monolithic,
        connect_timeout: Some(std::time::Duration::from_secs(15)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        ..Default::default()
    })
}

/// Checks credentials the way `docker login` does: the registry (or its token service) must
/// accept them. Probes a repository that need not exist: "not found" means the credentials
/// were good, "unauthorized" that they were not.
pub async fn check_login(
    config: &RegistryConfig,
    registry: &str,
    user: &str,
    password: &str,
) -> Result<()> {
    let host = if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    };
    let client = client_for(host, config.is_insecure(registry));
    let probe: Reference = format!("{registry}/mini-login-check/probe:latest")
        .parse()
        .map_err(|_| Error::InvalidReference {
            reason: format!("{registry:?} is not a registry host"),
        })?;
    let auth = RegistryAuth::Basic(user.to_string(), password.to_string());
    let result = match client.auth(&probe, &auth, RegistryOperation::Pull).await {
        Ok(_) => client
            .pull_manifest_raw(&probe, &auth, ACCEPTED_MANIFESTS)
            .await
            .map(|_| ()),
        Err(err) => Err(err),
    };
    let Err(err) = result else { return Ok(()) };
    let detail = match Failure::of(err) {
        // The credentials were accepted; the probe repository just does not exist.
        Failure::NotFound => return Ok(()),
        Failure::Unauthorized(_) => "unauthorized: incorrect username or password".to_string(),
        Failure::Unreachable(cause) => format!("cannot reach registry {registry}: {cause}"),
        Failure::Other(detail) => detail,
    };
    Err(Error::Registry(format!(
        "login to {registry} failed: {detail}"
    )))
}

#[derive(Debug, Clone, Copy)]
enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    fn of(media_type: &str) -> Option<Compression> {
        if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
            Some(Compression::Gzip)
        } else if media_type.ends_with("+zstd") {
            Some(Compression::Zstd)
        } else if media_type.ends_with(".tar") || media_type.ends_with("rootfs.diff.tar") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// The blocking half of a layer download.
fn unpack_stream(
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    compression: Compression,
    layers: &LayerStore,
    record: &LayerRecord,
    parent: Option<&str>,
    blob_temp: &std::path::Path,
    blob_path: &std::path::Path,
) -> Result<()> {
    let result = (|| {
        let file = std::fs::File::create(blob_temp).map_err(Error::io(blob_temp))?;
        let mut source = ChannelReader {
            rx,
            pending: bytes::Bytes::new(),
            file,
            hasher: Hasher::default(),
            count: 0,
        };
        let unpacked = match compression {
            Compression::Gzip => {
                let decoder = flate2::read::GzDecoder::new(&mut source);
                layers.unpack(&record.chain_id, parent, &record.diff_id, decoder)
            }
            Compression::Zstd => match zstd::stream::read::Decoder::new(&mut source) {
                Ok(decoder) => layers.unpack(&record.chain_id, parent, &record.diff_id, decoder),
                Err(err) => Err(Error::BadLayer {
                    layer: record.digest.clone(),
                    reason: format!("zstd: {err}"),
                }),
            },
            Compression::None => {
                layers.unpack(&record.chain_id, parent, &record.diff_id, &mut source)
            }
        };
        // Whatever follows the compressed stream still counts toward the blob's digest. When
        // unpacking failed, the digest tells whether the blob was corrupt (the cause to report)
        // or the layer itself is bad.
        let drained = std::io::copy(&mut source, &mut std::io::sink());
        let actual = source.hasher.clone().finish();
        // The registry client ends a stream whose digest is wrong with an error of its own; when
        // every byte arrived, the digest is the better explanation.
        let complete = drained.is_ok() || source.count == record.size;
        if complete && actual != record.digest {
            if unpacked.is_ok() {
                let _ = layers.remove(&record.chain_id);
            }
            return Err(Error::DigestMismatch {
                what: format!("layer {}", digest::short(&record.digest)),
                expected: record.digest.clone(),
                actual,
            });
        }
        unpacked?;
        drained.map_err(|e| {
            Error::Registry(format!(
                "downloading layer {}: {e}",
                digest::short(&record.digest)
            ))
        })?;
        source.file.sync_all().map_err(Error::io(blob_temp))?;
        std::fs::rename(blob_temp, blob_path).map_err(Error::io(blob_path))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(blob_temp);
    }
    result
}

/// Reads what the download sends, keeping a copy in the blob file and hashing it.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    pending: bytes::Bytes,
    file: std::fs::File,
    hasher: Hasher,
    count: u64,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::Write;
        while self.pending.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(bytes)) => {
                    self.file.write_all(&bytes)?;
                    self.hasher.update(&bytes);
                    self.count += bytes.len() as u64;
                    self.pending = bytes;
                }
                Some(Err(err)) => return Err(err),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending = self.pending.slice(n..);
        Ok(n)
    }
}

fn check_digest(what: &str, expected: &str, bytes: &[u8]) -> Result<()> {
    let actual = digest::sha256(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual,
        })
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|err| Error::BadContent {
        what: what.to_string(),
        reason: err.to_string(),
    })
}

/// Picks the index entry for `wanted` (`os/arch[/variant]`).
fn choose_platform(entries: &[IndexEntry], wanted: &str) -> Result<String> {
    let mut parts = wanted.splitn(3, '/');
    let (os, arch, variant) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next(),
    );
    let matching = |e: &&IndexEntry| {
        e.platform.as_ref().is_some_and(|p| {
            p.os == os
                && p.architecture == arch
                && (variant.is_none() || p.variant.as_deref() == variant)
        })
    };
    if let Some(entry) = entries.iter().find(matching) {
        return Ok(entry.digest.clone());
    }
    let available: Vec<String> = entries
        .iter()
        .filter_map(|e| e.platform.clone())
        .map(|p| match p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    Err(Error::NoMatchingPlatform {
        wanted: wanted.to_string(),
        available: available.join(", "),
    })
}

/// What a registry's refusal means, whatever form oci-client gave it.
pub(crate) enum Failure {
    /// No such repository, tag or manifest.
    NotFound,
    /// Credentials missing or refused; the detail says what the registry said.
    Unauthorized(String),
    /// No answer: connection refused, DNS, TLS, timeout.
    Unreachable(String),
    Other(String),
}

impl Failure {
    pub(crate) fn of(err: oci_client::errors::OciDistributionError) -> Failure {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode as Code};
        match err {
            E::ImageManifestNotFoundError(_) => Failure::NotFound,
            E::RegistryError { envelope, url } => {
                let any =
                    |wanted: &[Code]| envelope.errors.iter().any(|e| wanted.contains(&e.code));
                if any(&[Code::ManifestUnknown, Code::NameUnknown]) {
                    Failure::NotFound
                } else if any(&[Code::Unauthorized, Code::Denied]) {
                    Failure::Unauthorized(envelope.to_string())
                } else {
                    Failure::Other(format!("the registry answered {envelope} ({url})"))
                }
            }
            E::UnauthorizedError { url } => Failure::Unauthorized(url),
            E::AuthenticationFailure(detail) => Failure::Unauthorized(detail),
            // A status is an answer: the registry was reached and refused.
            E::RequestError(err) => match err.status().map(|s| s.as_u16()) {
                Some(401 | 403) => Failure::Unauthorized(format!("{}", err.status().unwrap())),
                Some(404) => Failure::NotFound,
                Some(status) => Failure::Other(format!("the registry answered {status}")),
                None => Failure::Unreachable(crate::error::with_causes(&err)),
            },
            other => Failure::Other(other.to_string()),
        }
    }
}

/// A registry error in Docker's words where it has them, naming the registry and what to do.
fn registry_error(
    reference: &ImageRef,
    registry: &str,
    err: oci_client::errors::OciDistributionError,
) -> Error {
    Error::Registry(match Failure::of(err) {
        Failure::NotFound => format!("manifest for {reference} not found: manifest unknown"),
        Failure::Unauthorized(detail) => format!(
            "pull access denied for {}, repository does not exist or may require 'mini login': {detail}",
            reference.familiar_name()
        ),
        Failure::Unreachable(cause) => {
            format!("pulling {reference}: cannot reach registry {registry}: {cause}")
        }
        Failure::Other(detail) => format!("pulling {reference} from {registry}: {detail}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str, os: &str, arch: &str, variant: Option<&str>) -> IndexEntry {
        IndexEntry {
            digest: digest.into(),
            platform: Some(PlatformShape {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(str::to_string),
            }),
        }
    }

    #[test]
    fn the_platform_is_chosen_from_an_index() {
        let entries = vec![
            entry("sha256:a", "linux", "arm", Some("v7")),
            entry("sha256:b", "linux", "amd64", None),
            entry("sha256:c", "linux", "arm64", Some("v8")),
        ];
        assert_eq!(
            choose_platform(&entries, "linux/amd64").unwrap(),
            "sha256:b"
        );
        assert_eq!(
            choose_platform(&entries, "linux/arm64").unwrap(),
            "sha256:c"
        );
        assert_eq!(
            choose_platform(&entries, "linux/arm/v7").unwrap(),
            "sha256:a"
        );
        let err = choose_platform(&entries, "linux/s390x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("linux/s390x")
                && err.contains("linux/arm/v7, linux/amd64, linux/arm64/v8"),
            "{err}"
        );
    }

    #[test]
    fn layer_media_types_map_to_compression() {
        assert!(matches!(
            Compression::of("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Compression::Gzip)
        ));
        assert!(matches!(
            Compression::of("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        ));
        assert!(matches!(
            Compression::of("application/vnd.oci.image.layer.v1.tar"),
            Some(Compression::None)
        ));
        assert!(matches!(
            Compression::of("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        ));
        assert!(Compression::of("application/vnd.oci.image.layer.v1.tar+lz4").is_none());
    }
}
