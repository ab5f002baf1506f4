//! `mini diff CONTAINER`: what the container's writable layer changed, a line per path.

use clap::Args;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The container: name, id or id prefix
    container: String,
}

pub fn run(context: &Context, args: DiffArgs) -> CliResult {
    let engine = context.engine()?;
    let changes = engine.diff(&args.container).map_err(CliError::one)?;
    let mut out = String::new();
    for change in changes {
        out.push(change.kind.letter());
        out.push(' ');
        out.push_str(&change.path);
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}
