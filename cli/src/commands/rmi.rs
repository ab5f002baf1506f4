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
    let engine = context.engine()?;
    // Like Docker: every argument is tried; the exit code says whether any failed.
    let mut failed = None;
    for name in &args.images {
        match engine.image_remove(name, args.force) {
            Ok(removal) => {
                for untagged in &removal.untagged {
                    println!("Untagged: {}", ImageRef::familiar(untagged));
                }
                for deleted in removal.deleted.iter().chain(&removal.layers) {
                    println!("Deleted: {deleted}");
                }
            }
            Err(err @ mini_runtime::Error::Conflict(_)) => {
                eprintln!("Error response from daemon: {err}");
                failed = Some(CliError::reported(1));
            }
            Err(mini_runtime::Error::Storage(err)) => {
                eprintln!("Error: {err}");
                failed = Some(CliError::from(err));
            }
            Err(err) => {
                eprintln!("Error: {err}");
                failed = Some(CliError::reported(1));
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
    let removal = context
        .engine()?
        .image_prune(args.all)
        .map_err(CliError::one)?;
    let reclaimed = removal.reclaimed;
    let mut lines: Vec<String> = removal
        .untagged
        .iter()
        .map(|t| format!("untagged: {}", ImageRef::familiar(t)))
        .collect();
    lines.extend(
        removal
            .deleted
            .iter()
            .chain(&removal.layers)
            .map(|d| format!("deleted: {d}")),
    );
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
