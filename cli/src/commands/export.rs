//! `mini export CONTAINER` (its root filesystem as a tar) and `mini import FILE|-` (a tar as
//! an image).

use std::io::IsTerminal;

use clap::Args;
use mini_runtime::ImportOptions;
use mini_storage::ImageRef;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    /// The container: name, id or id prefix
    container: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable (only the host's)
    #[arg(long)]
    platform: Option<String>,
    /// The archive: a file, or - for STDIN
    file: String,
    /// REPOSITORY[:TAG] for the new image
    reference: Option<String>,
}

pub fn export(context: &Context, args: ExportArgs) -> CliResult {
    let engine = context.engine()?;
    match &args.output {
        Some(path) => crate::output::to_file(path, |out| engine.export(&args.container, out)),
        None => {
            if std::io::stdout().is_terminal() {
                return Err(CliError::one(anyhow::anyhow!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                )));
            }
            engine
                .export(&args.container, std::io::stdout())
                .map_err(CliError::one)
        }
    }
}

pub fn import(context: &Context, args: ImportArgs) -> CliResult {
    let reference = args.reference.as_deref().map(ImageRef::parse).transpose()?;
    if let Some(platform) = &args.platform {
        if *platform != mini_storage::pull::host_platform() {
            return Err(CliError::new(
                125,
                anyhow::anyhow!(
                    "platform {platform} is not this host's ({}): mini imports for the host only",
                    mini_storage::pull::host_platform()
                ),
            ));
        }
    }
    let options = ImportOptions {
        changes: args.change,
        message: args.message,
        reference,
        source: args.file.clone(),
    };
    let engine = context.engine()?;
    let image = if args.file == "-" {
        engine.import(std::io::stdin().lock(), &options)
    } else if mini_storage::fetch::is_url(&args.file) {
        engine.import_url(&args.file, &options)
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|err| CliError::one(anyhow::anyhow!("open {}: {err}", args.file)))?;
        engine.import(file, &options)
    }
    .map_err(CliError::one)?;
    println!("{}", image.id);
    Ok(())
}
