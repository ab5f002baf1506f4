//! `mini cp`: files and folders between a container and the host, or a tar stream (`-`).

use clap::Args;
use mini_runtime::{CopyEnd, CopyOptions};

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy (there is none)
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH, a host path, or - for a tar stream on stdin
    source: String,
    /// CONTAINER:DEST_PATH, a host path, or - for a tar stream on stdout
    destination: String,
}

pub fn run(context: &Context, args: CpArgs) -> CliResult {
    let source = CopyEnd::parse(&args.source);
    let destination = CopyEnd::parse(&args.destination);
    let engine = context.engine()?;
    let options = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    engine
        .copy(&source, &destination, options)
        .map_err(|err| match err {
            mini_runtime::Error::Invalid(_) => CliError::new(125, err),
            other => CliError::one(other),
        })
}
