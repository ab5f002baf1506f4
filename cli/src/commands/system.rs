//! `mini system ...`: commands about the whole instance. `reset` (Podman's name) removes
//! everything the instance made; the work is the engine's (runtime's reset.rs).

use std::io::IsTerminal;

use clap::{Args, Subcommand};

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(super::info::InfoArgs),
    /// Show mini disk usage
    Df(super::info::DfArgs),
    /// Remove every container, image, network and volume of this instance, and its state
    Reset(ResetArgs),
    /// Serve the Docker Engine API on a socket, for the docker CLI, compose and the SDKs
    Service(ServiceArgs),
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Seconds without a request before the service exits (0: it runs until stopped)
    #[arg(short, long, default_value_t = 5)]
    time: u64,
    /// Where to listen
    #[arg(default_value = "unix:///run/mini/docker.sock")]
    uri: String,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(context: &Context, command: SystemCommand) -> CliResult {
    match command {
        SystemCommand::Info(args) => super::info::info(context, args),
        SystemCommand::Df(args) => super::info::df(context, args),
        SystemCommand::Reset(args) => reset(context, args),
        SystemCommand::Service(args) => service(context, args),
    }
}

fn reset(context: &Context, args: ResetArgs) -> CliResult {
    if !args.force {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(
                125,
                anyhow::anyhow!(
                    "system reset removes everything of this instance and needs a yes: run it on a terminal, or with -f (--force)"
                ),
            ));
        }
        let warning = format!(
            "This will remove:\n        - all containers\n        - all images\n        - all networks, the default bridge's included, and their firewall rules\n        - all volumes\n        - all state under {} and {}",
            context.root.display(),
            context.runroot.display()
        );
        if !super::confirm(&warning) {
            return Ok(());
        }
    }
    let engine =
        mini_runtime::Engine::open_as_found(&context.root, &context.runroot, &context.config)?;
    let failures = mini_runtime::reset::reset(&engine);
    if failures.is_empty() {
        return Ok(());
    }
    for failure in &failures {
        eprintln!("Error: {failure}");
    }
    Err(CliError::reported(125))
}

/// `system service` (Podman's command): the Engine API, as one more front end over the engine.
fn service(context: &Context, args: ServiceArgs) -> CliResult {
    // The instance's state must open before anything listens.
    context.engine()?;
    let instance = mini_api::Instance {
        root: context.root.clone(),
        runroot: context.runroot.clone(),
        config: context.config.clone(),
    };
    let idle = (args.time > 0).then(|| std::time::Duration::from_secs(args.time));
    mini_api::serve(instance, &args.uri, idle).map_err(|e| CliError::new(125, anyhow::anyhow!(e)))
}
