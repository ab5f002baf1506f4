//! Pushing an image to a registry, the way `docker push` does: each layer blob the registry
//! lacks is streamed from the blob store in one request (a blob it has is not sent again),
//! then the config, then the manifest exactly as stored, so the registry's digest for it is
//! the one mini knows. The pushed name's repo digest is recorded, as Docker records it.

use std::io::Read;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::digest;
use crate::error::{Error, Result};
use crate::images::ImageRecord;
use crate::pull::{client_with, Failure, Puller};
use crate::reference::ImageRef;

/// How many blobs upload at once (Docker's `max-concurrent-uploads` default).
const CONCURRENT_UPLOADS: usize = 5;

/// What a push reports as it goes. Layers are named by the first 12 hex digits of their diff
/// id, as Docker names them when pushing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    Preparing(String),
    /// The registry has it.
    LayerExists(String),
    Pushing {
        layer: String,
        done: u64,
        total: u64,
    },
    Pushed(String),
}

/// What the registry now holds under the pushed tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub tag: String,
    pub digest: String,
    pub size: usize,
}

type Progress = Arc<dyn Fn(PushEvent) + Send + Sync>;

impl Puller {
    /// Pushes the local image `reference` names to the registry it names.
    pub async fn push(&self, reference: &ImageRef, progress: Progress) -> Result<Pushed> {
        if reference.full_tagged().is_none() {
            return Err(Error::InvalidReference {
                reason: format!("{reference}: push a tag, not a digest"),
            });
        }
        let image = self.images.lookup(reference)?.ok_or_else(|| {
            Error::Registry(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_name()
            ))
        })?;
        let registry = reference.registry().to_string();
        let host = if registry == "docker.io" {
            "index.docker.io".to_string()
        } else {
            registry.clone()
        };
        let client = client_with(&host, self.config.is_insecure(&registry), true);
        let auth = match self.auth.get(&registry)? {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        };
        let oci = reference.oci().clone();
        let refused = |err| push_error(reference, &registry, err);
        // oci-client keeps a token per operation, and asks whether a blob exists as a pull.
        for operation in [RegistryOperation::Push, RegistryOperation::Pull] {
            client.auth(&oci, &auth, operation).await.map_err(refused)?;
        }

        for layer in &image.layers {
            progress(PushEvent::Preparing(digest::short(&layer.diff_id).into()));
        }
        let uploads = image.layers.iter().map(|layer| {
            let progress = progress.clone();
            let client = &client;
            let oci = &oci;
            async move {
                let name = digest::short(&layer.diff_id).to_string();
                let sent = self
                    .push_blob(client, oci, &layer.digest, Some((&name, progress.clone())))
                    .await
                    .map_err(refused)?;
                progress(if sent {
                    PushEvent::Pushed(name)
                } else {
                    PushEvent::LayerExists(name)
                });
                Ok::<(), Error>(())
            }
        });
        futures_util::stream::iter(uploads)
            .buffer_unordered(CONCURRENT_UPLOADS)
            .try_collect::<Vec<()>>()
            .await?;
        self.push_blob(&client, &oci, &image.id, None)
            .await
            .map_err(refused)?;

        let manifest = self.images.read_blob(&image.manifest_digest)?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
            .ok()
            .and_then(|m| m["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| crate::make::OCI_MANIFEST.to_string());
        let content_type =
            http::HeaderValue::from_str(&media_type).map_err(|_| Error::BadContent {
                what: format!("manifest of {reference}"),
                reason: format!("media type {media_type:?}"),
            })?;
        let size = manifest.len();
        client
            .push_manifest_raw(&oci, manifest, content_type)
            .await
            .map_err(refused)?;
        self.record_repo_digest(&image, reference)?;
        Ok(Pushed {
            tag: reference.tag().unwrap_or("latest").to_string(),
            digest: image.manifest_digest.clone(),
            size,
        })
    }

    /// Sends one blob unless the registry has it; true when it was sent.
    async fn push_blob(
        &self,
        client: &Client,
        oci: &Reference,
        blob: &str,
        progress: Option<(&str, Progress)>,
    ) -> oci_client::errors::Result<bool> {
        if client.blob_exists(oci, blob).await? {
            return Ok(false);
        }
        let path = self.images.blob_path(blob).map_err(|e| {
            oci_client::errors::OciDistributionError::GenericError(Some(e.to_string()))
        })?;
        let file = std::fs::File::open(&path).map_err(|e| {
            oci_client::errors::OciDistributionError::GenericError(Some(format!(
                "{}: {e}",
                path.display()
            )))
        })?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (tx, rx) = tokio::sync::mpsc::channel::<oci_client::errors::Result<bytes::Bytes>>(4);
        // The file is read on a thread of its own, a megabyte at a time.
        std::thread::spawn(move || {
            let mut file = file;
            loop {
                let mut buf = vec![0u8; 1 << 20];
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(bytes::Bytes::from(buf))).is_err() {
                            break;
                        }
                    }
                    Err(err) => {
                        let _ = tx.blocking_send(Err(
                            oci_client::errors::OciDistributionError::GenericError(Some(
                                err.to_string(),
                            )),
                        ));
                        break;
                    }
                }
            }
        });
        let progress = progress.map(|(name, p)| (name.to_string(), p));
        let mut done = 0u64;
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .inspect(move |item| {
            if let (Ok(bytes), Some((name, progress))) = (item, &progress) {
                done += bytes.len() as u64;
                progress(PushEvent::Pushing {
                    layer: name.clone(),
                    done,
                    total,
                });
            }
        });
        client
            .push_blob_stream(oci, stream, blob, Some(total))
            .await?;
        Ok(true)
    }

    fn record_repo_digest(&self, image: &ImageRecord, reference: &ImageRef) -> Result<()> {
        let mut record = image.clone();
        record.repo_digests = vec![format!(
            "{}@{}",
            reference.full_name(),
            image.manifest_digest
        )];
        self.images.record(&record, &[])
    }
}

/// A registry's refusal in Docker's words, naming the registry.
fn push_error(
    reference: &ImageRef,
    registry: &str,
    err: oci_client::errors::OciDistributionError,
) -> Error {
    Error::Registry(match Failure::of(err) {
        Failure::NotFound => format!(
            "pushing {reference} to {registry}: the registry has no repository {}",
            reference.repository()
        ),
        Failure::Unauthorized(detail) => format!(
            "denied: requested access to the resource is denied (registry {registry}; 'mini login {registry}' first?): {detail}"
        ),
        Failure::Unreachable(cause) => {
            format!("pushing {reference}: cannot reach registry {registry}: {cause}")
        }
        Failure::Other(detail) => format!("pushing {reference} to {registry}: {detail}"),
    })
}
