//! `mini save IMAGE...` (images as one tar archive) and `mini load` (images from one).

use std::io::IsTerminal;

use clap::Args;
use mini_storage::archive::{self, SaveItem};
use mini_storage::ImageRef;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    /// The images: names (with their tags) or ids
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<std::path::PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

pub fn save(context: &Context, args: SaveArgs) -> CliResult {
    let store = context.image_store()?;
    // As Docker: a name saves the image under that name; an id under every tag it has.
    let mut items: Vec<SaveItem> = Vec::new();
    for text in &args.images {
        let (image, tag) = store.resolve(text).map_err(CliError::one)?;
        let tags: Vec<ImageRef> = match tag {
            Some(tag) => vec![ImageRef::parse(&tag)?],
            None => store
                .tags_of(&image.id)?
                .iter()
                .filter_map(|t| ImageRef::parse(t).ok())
                .collect(),
        };
        match items.iter_mut().find(|i| i.image.id == image.id) {
            Some(item) => {
                for tag in tags {
                    if !item
                        .tags
                        .iter()
                        .any(|t| t.full_tagged() == tag.full_tagged())
                    {
                        item.tags.push(tag);
                    }
                }
            }
            None => items.push(SaveItem { image, tags }),
        }
    }
    match &args.output {
        Some(path) => crate::output::to_file(path, |out| archive::save(&store, &items, out)),
        None => {
            if std::io::stdout().is_terminal() {
                return Err(CliError::one(anyhow::anyhow!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                )));
            }
            archive::save(&store, &items, std::io::stdout().lock()).map_err(CliError::one)
        }
    }
}

pub fn load(context: &Context, args: LoadArgs) -> CliResult {
    let images = context.image_store()?;
    let layers = context.layer_store()?;
    let loaded = match &args.input {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|err| CliError::one(anyhow::anyhow!("open {}: {err}", path.display())))?;
            archive::load(&images, &layers, file)
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::one(anyhow::anyhow!(
                    "requested load from stdin, but stdin is empty"
                )));
            }
            archive::load(&images, &layers, std::io::stdin().lock())
        }
    }
    .map_err(CliError::one)?;
    let _ = args.quiet; // there is no progress to suppress: only the result lines print
    for image in loaded {
        if image.tags.is_empty() {
            println!("Loaded image ID: {}", image.image.id);
        }
        for tag in &image.tags {
            println!(
                "Loaded image: {}:{}",
                tag.familiar_name(),
                tag.tag().unwrap_or("latest")
            );
        }
    }
    Ok(())
}
