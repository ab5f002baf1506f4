//! `mini commit CONTAINER [REPOSITORY[:TAG]]`: the container's changes as a new image.

use clap::{ArgAction, Args};
use mini_runtime::CommitOptions;
use mini_storage::ImageRef;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    pause: bool,
    /// The container: name, id or id prefix
    container: String,
    /// REPOSITORY[:TAG] for the new image
    reference: Option<String>,
}

pub fn run(context: &Context, args: CommitArgs) -> CliResult {
    let reference = args.reference.as_deref().map(ImageRef::parse).transpose()?;
    if reference.as_ref().is_some_and(|r| r.digest().is_some()) {
        return Err(CliError::new(
            125,
            anyhow::anyhow!("invalid reference format: a commit is named by a tag, not a digest"),
        ));
    }
    let options = CommitOptions {
        author: args.author,
        message: args.message,
        changes: args.change,
        pause: args.pause,
        reference,
    };
    let engine = context.engine()?;
    let image = engine
        .commit(&args.container, &options)
        .map_err(CliError::one)?;
    println!("{}", image.id);
    Ok(())
}
