//! `mini rmi [-f] IMAGE...`: untag, and remove images and the layers no other image uses.

use clap::Args;
use mini_storage::ImageRef;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove the image even if it has several tags
    #[arg(short, long)]
    force: bool,
    /// Images, by name or id
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn run(context: &Context, args: RmiArgs) -> CliResult {
    let images = context.image_store()?;
    let layers = context.layer_store()?;
    // Like Docker: every argument is tried; the exit code says whether any failed.
    let mut failed = None;
    let containers = context.engine()?.list().map_err(CliError::one)?;
    for name in &args.images {
        // An image under a container stays: only one of several tags may go.
        if let Ok((record, tag)) = images.resolve(name) {
            let just_a_tag = tag.is_some() && images.tags_of(&record.id)?.len() > 1;
            if let Some(user) = containers.iter().find(|c| c.image_id == record.id) {
                if !just_a_tag {
                    let image = mini_storage::digest::short(&record.id);
                    let container = user.short_id();
                    let message = if tag.is_some() && !args.force {
                        format!("conflict: unable to remove repository reference \"{name}\" (must force) - container {container} is using its referenced image {image}")
                    } else {
                        format!("conflict: unable to delete {image} (cannot be forced) - image is being used by container {container}")
                    };
                    eprintln!("Error response from daemon: {message}");
                    failed = Some(CliError::reported(1));
                    continue;
                }
            }
        }
        match images.remove(name, args.force) {
            Ok(removal) => {
                for untagged in &removal.untagged {
                    println!("Untagged: {}", ImageRef::familiar(untagged));
                }
                for deleted in &removal.deleted {
                    println!("Deleted: {deleted}");
                }
                for chain in &removal.layers {
                    layers.remove(chain)?;
                    println!("Deleted: {chain}");
                }
            }
            Err(err) => {
                eprintln!("Error: {err}");
                failed = Some(CliError::from(err));
            }
        }
    }
    match failed {
        // The message is out already; only the code is left to give.
        Some(err) => Err(CliError::reported(err.code)),
        None => Ok(()),
    }
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// `mini image prune [-a] [-f]`: images no container uses; without `-a` only the untagged.
pub fn prune(context: &Context, args: PruneArgs) -> CliResult {
    let warning = if args.all {
        "This will remove all images without at least one container associated to them."
    } else {
        "This will remove all dangling images."
    };
    if !args.force && !super::confirm(warning) {
        return Ok(());
    }
    let images = context.image_store()?;
    let layers = context.layer_store()?;
    let containers = context.engine()?.list().map_err(CliError::one)?;
    let mut lines = Vec::new();
    let mut reclaimed = 0u64;
    for listed in images.list()? {
        let id = &listed.record.id;
        if (!args.all && !listed.tags.is_empty()) || containers.iter().any(|c| &c.image_id == id) {
            continue;
        }
        let removal = match images.remove(id, true) {
            Ok(removal) => removal,
            Err(err) => {
                eprintln!("Error: {err}");
                continue;
            }
        };
        lines.extend(
            removal
                .untagged
                .iter()
                .map(|t| format!("untagged: {}", ImageRef::familiar(t))),
        );
        lines.extend(removal.deleted.iter().map(|d| format!("deleted: {d}")));
        for chain in &removal.layers {
            reclaimed += layers.size(chain);
            layers.remove(chain)?;
            lines.push(format!("deleted: {chain}"));
        }
    }
    if !lines.is_empty() {
        println!("Deleted Images:");
        for line in lines {
            println!("{line}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", crate::human::size(reclaimed));
    Ok(())
}
