//! `mini stop`, `kill`, `restart`, `rm`, `wait`, `rename` and `container prune`: each takes
//! names, ids or id prefixes, prints each container as Docker does, and goes on after an error
//! (exit 1 at the end).

use clap::Args;
use mini_runtime::options;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_negative_numbers = true
    )]
    time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn stop(context: &Context, args: StopArgs) -> CliResult {
    let engine = context.engine()?;
    if let Some(signal) = &args.signal {
        options::parse_signal(signal).map_err(|e| CliError::new(125, e))?;
    }
    super::each(&args.containers, |name| -> mini_runtime::Result<_> {
        if let Some(signal) = &args.signal {
            let record = engine.find(name)?;
            let _ = engine.store.update(&record.id, |r| {
                r.config.stop_signal = Some(signal.clone());
            });
        }
        engine.stop(name, args.time)?;
        Ok(Some(name.to_string()))
    })
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn pause(context: &Context, args: PauseArgs) -> CliResult {
    let engine = context.engine()?;
    super::each(&args.containers, |name| -> mini_runtime::Result<_> {
        engine.pause(name)?;
        Ok(Some(name.to_string()))
    })
}

pub fn unpause(context: &Context, args: PauseArgs) -> CliResult {
    let engine = context.engine()?;
    super::each(&args.containers, |name| -> mini_runtime::Result<_> {
        engine.unpause(name)?;
        Ok(Some(name.to_string()))
    })
}

pub fn restart(context: &Context, args: StopArgs) -> CliResult {
    let engine = context.engine()?;
    super::each(&args.containers, |name| -> mini_runtime::Result<_> {
        let record = engine.stop(name, args.time)?;
        engine.start(&record.id, false)?;
        Ok(Some(name.to_string()))
    })
}

pub fn kill(context: &Context, args: KillArgs) -> CliResult {
    let signal = options::parse_signal(&args.signal).map_err(|e| CliError::new(125, e))?;
    let engine = context.engine()?;
    super::each(&args.containers, |name| -> mini_runtime::Result<_> {
        engine.kill(name, signal)?;
        Ok(Some(name.to_string()))
    })
}

pub fn rm(context: &Context, args: RmArgs) -> CliResult {
    let engine = context.engine()?;
    super::each(&args.containers, |name| -> mini_runtime::Result<_> {
        engine.remove(name, args.force, args.volumes)?;
        Ok(Some(name.to_string()))
    })
}

pub fn wait(context: &Context, args: WaitArgs) -> CliResult {
    let engine = context.engine()?;
    super::each(&args.containers, |name| -> mini_runtime::Result<_> {
        Ok(Some(engine.wait(name)?.to_string()))
    })
}

pub fn rename(context: &Context, args: RenameArgs) -> CliResult {
    let engine = context.engine()?;
    engine
        .rename(&args.container, &args.new_name)
        .map_err(CliError::one)
}

pub fn prune(context: &Context, args: PruneArgs) -> CliResult {
    if !args.force && !super::confirm("This will remove all stopped containers.") {
        return Ok(());
    }
    let engine = context.engine()?;
    let records = engine.list().map_err(CliError::one)?;
    println!("Deleted Containers:");
    for record in records.iter().filter(|r| !r.is_running()) {
        match engine.remove(&record.id, false, false) {
            Ok(_) => println!("{}", record.id),
            Err(err) => eprintln!("Error: {err}"),
        }
    }
    println!("\nTotal reclaimed space: 0B");
    Ok(())
}
