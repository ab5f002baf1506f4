//! `mini tag SOURCE TARGET`: another name for an image.

use clap::Args;
use mini_storage::ImageRef;

use crate::context::{CliResult, Context};

#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG] or image id
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

pub fn run(context: &Context, args: TagArgs) -> CliResult {
    let target = ImageRef::parse(&args.target)?;
    context.image_store()?.tag(&args.source, &target)?;
    Ok(())
}
