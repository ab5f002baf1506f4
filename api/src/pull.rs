//! `POST /images/create?fromImage=NAME&tag=TAG`: a pull, answered with Docker's stream of JSON
//! progress messages (`{"status": ...}` lines, `{"error": ...}` when it fails). The messages are
//! sent when the pull ends, not as it goes, in this version.

use std::sync::{Arc, Mutex};

use mini_storage::{ImageRef, PullEvent, PullOptions, PullOutcome, Puller};
use serde_json::json;

use crate::routes::Reply;
use crate::Instance;

pub async fn pull(instance: &Instance, query: &[(String, String)]) -> Reply {
    let value = |key: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let Some(image) = value("fromImage").filter(|i| !i.is_empty()) else {
        return Reply::error(
            400,
            "fromImage is required (importing with fromSrc is not served yet)",
        );
    };
    let name = match value("tag").filter(|t| !t.is_empty()) {
        Some(tag) if tag.starts_with("sha256:") => format!("{image}@{tag}"),
        Some(tag) => format!("{image}:{tag}"),
        None => image.clone(),
    };
    let reference = match ImageRef::parse(&name) {
        Ok(reference) => reference,
        Err(err) => return Reply::error(400, err.to_string()),
    };
    // The engine's own stores: the layers go where every command looks for them.
    let opened = (|| -> mini_runtime::Result<Puller> {
        let engine =
            mini_runtime::Engine::open(&instance.root, &instance.runroot, &instance.config)?;
        Ok(Puller {
            images: engine.images.clone(),
            auth: mini_storage::AuthStore::open(&instance.root),
            layers: engine.layers.clone(),
            config: mini_storage::RegistryConfig::load(&instance.config)?,
            config_path: instance.config.clone(),
        })
    })();
    let puller = match opened {
        Ok(puller) => puller,
        Err(err) => return Reply::error(500, err.to_string()),
    };
    let what = reference
        .tag()
        .or(reference.digest())
        .unwrap_or("latest")
        .to_string();
    let lines = Arc::new(Mutex::new(vec![json!({
        "status": format!("Pulling from {}", reference.repository()),
        "id": what,
    })]));
    let progress_lines = lines.clone();
    let progress = Arc::new(move |event: PullEvent| {
        let line = match event {
            PullEvent::LayerExists(layer) => {
                json!({"status": "Already exists", "id": short(&layer)})
            }
            PullEvent::LayerWaiting(layer) => {
                json!({"status": "Pulling fs layer", "id": short(&layer)})
            }
            PullEvent::LayerDone(layer) => json!({"status": "Pull complete", "id": short(&layer)}),
            PullEvent::LayerDownloading { .. } => return,
        };
        progress_lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    });
    let options = PullOptions {
        platform: value("platform").filter(|p| !p.is_empty()),
    };
    let result = puller.pull(&reference, &options, progress).await;
    let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match result {
        Ok((record, outcome)) => {
            lines.push(json!({"status": format!("Digest: {}", record.manifest_digest)}));
            lines.push(json!({"status": match outcome {
                PullOutcome::Downloaded => format!("Status: Downloaded newer image for {reference}"),
                PullOutcome::UpToDate => format!("Status: Image is up to date for {reference}"),
            }}));
        }
        // Docker answers 200 and reports a failed pull in the stream, unless the image is
        // unknown before anything started (404).
        Err(mini_storage::Error::NoSuchImage(what)) if lines.len() == 1 => {
            return Reply::error(404, format!("pull access denied for {what}, repository does not exist or may require 'docker login'"));
        }
        Err(err) => {
            lines.push(
                json!({"errorDetail": {"message": err.to_string()}, "error": err.to_string()}),
            );
        }
    }
    let mut body = Vec::new();
    for line in lines {
        body.extend_from_slice(line.to_string().as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    Reply::Bytes(200, "application/json", body)
}

/// A layer's short id, as Docker's progress shows it.
fn short(layer: &str) -> String {
    layer
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}
