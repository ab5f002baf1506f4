//! `mini exec`: a process in a running container. The exit code is the process's own; 126 and
//! 127 when it cannot be invoked or is not found, as Docker's.

use clap::Args;
use mini_runtime::ExecOptions;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// The container, by name or id
    container: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(context: &Context, args: ExecArgs) -> CliResult {
    let engine = context.engine()?;
    let options = ExecOptions {
        command: args.command,
        interactive: args.interactive,
        tty: args.tty,
        detach: args.detach,
        env: args.env.iter().map(|e| super::run::expand_env(e)).collect(),
        user: args.user,
        workdir: args.workdir,
    };
    let code = engine
        .exec(&args.container, &options)
        .map_err(|err| match err {
            mini_runtime::Error::Start { .. } => CliError::from(err),
            other => CliError::one(other),
        })?;
    match code {
        None | Some(0) => Ok(()),
        Some(code) => Err(CliError::reported(code.clamp(0, 255) as u8)),
    }
}
