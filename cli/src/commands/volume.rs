//! `mini volume create|ls|inspect|rm|prune`: named and anonymous volumes as Docker shows them.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};

use mini_runtime::volumes::Volume;
use mini_runtime::Engine;

use crate::context::{CliError, CliResult, Context};
use crate::human;
use crate::template::Template;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused anonymous volumes (all unused ones with --all)
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Volume driver name (local is the only one)
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long = "label")]
    label: Vec<String>,
    /// Driver options (the local driver's mount options are not supported)
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// The volume's name (a random one when left out)
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Filter output: dangling=true|false, name=TEXT, label=KEY[=VALUE]
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes (no error when one does not exist)
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(context: &Context, command: VolumeCommand) -> CliResult {
    let engine = context.engine()?;
    match command {
        VolumeCommand::Create(args) => create(&engine, args),
        VolumeCommand::Ls(args) => ls(&engine, args),
        VolumeCommand::Inspect(args) => inspect(&engine, args),
        VolumeCommand::Rm(args) => rm(&engine, args),
        VolumeCommand::Prune(args) => prune(&engine, args),
    }
}

fn create(engine: &Engine, args: CreateArgs) -> CliResult {
    let labels: BTreeMap<String, String> = args
        .label
        .iter()
        .map(|l| mini_runtime::options::parse_label(l))
        .collect();
    let (volume, _) = engine
        .volume_create(args.name.as_deref(), &args.driver, &args.opt, labels)
        .map_err(CliError::one)?;
    println!("{}", volume.name);
    Ok(())
}

fn ls(engine: &Engine, args: LsArgs) -> CliResult {
    let mut filters = Vec::new();
    for filter in &args.filter {
        match filter.split_once('=') {
            Some((key @ ("dangling" | "name" | "label" | "driver"), value)) => {
                filters.push((key.to_string(), value.to_string()))
            }
            _ => {
                return Err(CliError::new(
                    125,
                    anyhow::anyhow!("invalid filter '{filter}'"),
                ))
            }
        }
    }
    let volumes: Vec<Volume> = engine
        .volumes_in_use()?
        .into_iter()
        .filter(|(v, used)| mini_runtime::objects::volume_matches(v, *used, &filters))
        .map(|(v, _)| v)
        .collect();
    if args.quiet {
        volumes.iter().for_each(|v| println!("{}", v.name));
        return Ok(());
    }
    if let Some(template) = Template::from_flag(args.format.as_deref())? {
        for v in &volumes {
            println!("{}", template.render(&engine.volume_json(v)));
        }
        return Ok(());
    }
    let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".into()]];
    for v in &volumes {
        rows.push(vec!["local".into(), v.name.clone()]);
    }
    print!("{}", human::table(&rows));
    Ok(())
}

fn inspect(engine: &Engine, args: InspectArgs) -> CliResult {
    super::inspect_objects(&args.volumes, args.format.as_deref(), |name| {
        let volume = engine.volumes.get(name).map_err(|e| e.to_string())?;
        Ok(engine.volume_json(&volume))
    })
}

fn rm(engine: &Engine, args: RmArgs) -> CliResult {
    super::each(&args.volumes, |name| match engine.volume_remove(name) {
        Ok(_) => Ok(Some(name.to_string())),
        // -f: a volume that does not exist is not an error.
        Err(_) if args.force && engine.volumes.get(name).is_err() => Ok(None),
        Err(err) => Err(err.to_string()),
    })
}

fn prune(engine: &Engine, args: PruneArgs) -> CliResult {
    let what = if args.all { "all" } else { "all anonymous" };
    if !args.force
        && !super::confirm(&format!(
            "This will remove {what} local volumes not used by at least one container."
        ))
    {
        return Ok(());
    }
    let (deleted, reclaimed) = engine.volume_prune(args.all).map_err(CliError::one)?;
    if !deleted.is_empty() {
        println!("Deleted Volumes:\n{}\n", deleted.join("\n"));
    }
    println!("Total reclaimed space: {}", human::size(reclaimed));
    Ok(())
}
