//! `mini pull`: Docker's output, line by line (no progress bars yet: plain lines suit logs and
//! pipes, which is where lab transcripts end up).

use std::io::Write;
use std::sync::{Arc, Mutex};

use clap::Args;
use mini_storage::{ImageRef, PullEvent, PullOptions, PullOutcome, Puller};

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// The image: NAME[:TAG|@DIGEST]
    image: String,
}

pub fn run(context: &Context, args: PullArgs) -> CliResult {
    let reference = ImageRef::parse(&args.image)?;
    if let Some(platform) = &args.platform {
        let parts: Vec<&str> = platform.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(CliError::new(
                125,
                anyhow::anyhow!("invalid platform {platform:?}: expected os/arch[/variant]"),
            ));
        }
    }
    let puller = Puller {
        images: context.image_store()?,
        auth: mini_storage::AuthStore::open(&context.root),
        layers: context.layer_store()?,
        config: context.registry_config()?,
        config_path: context.config.clone(),
    };
    let quiet = args.quiet;
    if !quiet {
        if ImageRef::is_default_tag(&args.image) {
            println!("Using default tag: latest");
        }
        let what = reference.tag().or(reference.digest()).unwrap_or("latest");
        println!("{what}: Pulling from {}", reference.repository());
    }
    // Lines are printed as events arrive; a lock keeps lines from two layers whole.
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let progress = Arc::new(move |event: PullEvent| {
        if quiet {
            return;
        }
        let line = match event {
            PullEvent::LayerExists(layer) => format!("{layer}: Already exists"),
            PullEvent::LayerWaiting(layer) => format!("{layer}: Pulling fs layer"),
            PullEvent::LayerDone(layer) => format!("{layer}: Pull complete"),
            PullEvent::LayerDownloading { .. } => return,
        };
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{line}");
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| CliError::new(125, err))?;
    let options = PullOptions {
        platform: args.platform.clone(),
    };
    let result = runtime.block_on(puller.pull(&reference, &options, progress));
    runtime.shutdown_background();
    let (record, outcome) = result?;
    if !quiet {
        let digest = record
            .repo_digests
            .iter()
            .find(|d| d.starts_with(&format!("{}@", reference.full_name())))
            .and_then(|d| d.split_once('@'))
            .map(|(_, d)| d.to_string())
            .unwrap_or(record.manifest_digest.clone());
        println!("Digest: {digest}");
        match outcome {
            PullOutcome::Downloaded => println!("Status: Downloaded newer image for {reference}"),
            PullOutcome::UpToDate => println!("Status: Image is up to date for {reference}"),
        }
    }
    let full = match (reference.tag(), reference.digest()) {
        (_, Some(digest)) => format!("{}@{digest}", reference.full_name()),
        (Some(tag), None) => format!("{}:{tag}", reference.full_name()),
        (None, None) => reference.full_name(),
    };
    println!("{full}");
    Ok(())
}
