//! `mini push NAME[:TAG]`: Docker's output, a line per layer as it goes.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use clap::Args;
use mini_storage::{ImageRef, Puller, PushEvent};

use crate::commands::pull::Screen;
use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// The image: NAME[:TAG]
    image: String,
}

pub fn run(context: &Context, args: PushArgs) -> CliResult {
    let reference = ImageRef::parse(&args.image)?;
    let puller = Puller {
        images: context.image_store()?,
        auth: mini_storage::AuthStore::open(&context.root),
        layers: context.layer_store()?,
        config: context.registry_config()?,
        config_path: context.config.clone(),
    };
    let quiet = args.quiet;
    if !quiet {
        println!("The push refers to repository [{}]", reference.full_name());
    }
    let screen = Arc::new(Mutex::new(Screen::new(
        std::io::stdout().is_terminal(),
        false,
    )));
    let progress = Arc::new(move |event: PushEvent| {
        if quiet {
            return;
        }
        let mut screen = screen.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            PushEvent::Preparing(layer) => screen.set(&layer, "Preparing".into()),
            PushEvent::LayerExists(layer) => screen.set(&layer, "Layer already exists".into()),
            PushEvent::Pushed(layer) => screen.set(&layer, "Pushed".into()),
            PushEvent::Pushing { layer, done, total } if screen.terminal => screen.set(
                &layer,
                crate::commands::pull::bar("Pushing", done, Some(total)),
            ),
            PushEvent::Pushing { .. } => {}
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| CliError::new(125, err))?;
    let result = runtime.block_on(puller.push(&reference, progress));
    runtime.shutdown_background();
    let pushed = result.map_err(CliError::one)?;
    if quiet {
        println!("{}", reference);
    } else {
        println!(
            "{}: digest: {} size: {}",
            pushed.tag, pushed.digest, pushed.size
        );
    }
    Ok(())
}
