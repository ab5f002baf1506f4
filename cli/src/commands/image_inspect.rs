//! `mini image inspect IMAGE...`: Docker's JSON for images.

use clap::Args;
use serde_json::Value;

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
    let engine = context.engine()?;
    Ok(mini_runtime::views::image_json(&engine, name)?)
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
