//! `mini image inspect IMAGE...`: Docker's JSON for images.

use clap::Args;
use mini_storage::ImageRef;
use serde_json::{json, Map, Value};

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Images, by name or id
    #[arg(required = true)]
    images: Vec<String>,
}

/// Docker's `image inspect` object for one image.
pub fn image_json(context: &Context, name: &str) -> CliResult<Value> {
    let images = context.image_store()?;
    let layers = context.layer_store()?;
    let (record, _) = images.resolve(name)?;
    let config: Value = serde_json::from_slice(&images.read_blob(&record.id)?)
        .map_err(|err| CliError::new(1, anyhow::anyhow!("config of {name}: {err}")))?;
    let repo_tags: Vec<String> = images
        .tags_of(&record.id)?
        .iter()
        .map(|t| ImageRef::familiar(t))
        .collect();
    let repo_digests: Vec<String> = record
        .repo_digests
        .iter()
        .map(|d| ImageRef::familiar(d))
        .collect();
    let chain_ids: Vec<String> = record.layers.iter().map(|l| l.chain_id.clone()).collect();
    let graph: Map<String, Value> = layers
        .graph_data(&chain_ids)?
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    let mut image = json!({
        "Id": record.id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": config.get("comment").cloned().unwrap_or(json!("")),
        "Created": config.get("created").cloned().unwrap_or(Value::Null),
        "DockerVersion": "",
        "Author": config.get("author").cloned().unwrap_or(json!("")),
        "Config": config.get("config").cloned().unwrap_or(json!({})),
        "Architecture": config.get("architecture").cloned().unwrap_or(Value::Null),
        "Variant": config.get("variant").cloned(),
        "Os": config.get("os").cloned().unwrap_or(Value::Null),
        "Size": record.size,
        "GraphDriver": {"Data": graph, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": record.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    });
    if image["Variant"].is_null() {
        // shift_remove keeps the other keys in Docker's order (remove would swap the last one in).
        image.as_object_mut().map(|o| o.shift_remove("Variant"));
    }
    Ok(image)
}

pub fn run(context: &Context, args: ImageInspectArgs) -> CliResult {
    let template = crate::template::Template::from_flag(args.format.as_deref())?;
    let mut out = Vec::new();
    let mut failed = false;
    for name in &args.images {
        match image_json(context, name) {
            Ok(value) => out.push(value),
            Err(err) => {
                if let Some(error) = err.error {
                    eprintln!("Error: {error:#}");
                }
                failed = true;
            }
        }
    }
    // Docker prints what it found even when some names were not.
    match template {
        Some(template) => out.iter().for_each(|v| println!("{}", template.render(v))),
        None => println!("{}", super::inspect::pretty(&Value::Array(out))),
    }
    if failed {
        return Err(CliError::reported(1));
    }
    Ok(())
}
