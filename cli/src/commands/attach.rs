//! `mini attach`, and the attached half of `run` (without `-d`) and `start -a`: this process's
//! stdio relayed to the container's through its monitor (mini_runtime::attach).

use std::io::IsTerminal;

use clap::Args;
use mini_runtime::attach::{self, Ended};
use mini_runtime::{ContainerRecord, Engine};

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "")]
    detach_keys: String,
    /// The container, by name or id
    container: String,
}

/// What a detach does to the command that was attached: `attach` reports it as an error (exit
/// 1, "read escape sequence"), `run` and `start` end quietly, as Docker's do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDetach {
    Error,
    Quiet,
}

/// Docker refuses to give a terminal's raw input to a container from something that is not one.
pub fn check_tty(stdin: bool, tty: bool) -> CliResult {
    if stdin && tty && !std::io::stdin().is_terminal() {
        return Err(CliError::one(anyhow::anyhow!(
            "the input device is not a TTY"
        )));
    }
    Ok(())
}

/// Relays until the container ends (its exit code is ours), the user detaches, or the monitor
/// is lost.
pub fn relay(
    engine: &Engine,
    record: &ContainerRecord,
    stream: std::os::unix::net::UnixStream,
    options: &attach::Options,
    on_detach: OnDetach,
) -> CliResult {
    match attach::client(stream, options) {
        Ended::Exited(0) => Ok(()),
        Ended::Exited(code) => Err(CliError::reported(code.clamp(0, 255) as u8)),
        Ended::Detached if on_detach == OnDetach::Quiet => Ok(()),
        Ended::Detached => {
            // Docker's client prints this bare, after what the terminal showed.
            eprintln!("read escape sequence");
            Err(CliError::reported(1))
        }
        Ended::Lost => match engine.get(&record.id) {
            Ok(now) if !now.is_running() => match now.state.exit_code {
                0 => Ok(()),
                code => Err(CliError::reported(code.clamp(0, 255) as u8)),
            },
            _ => Err(CliError::one(anyhow::anyhow!(
                "lost the connection to the monitor of container {}",
                record.short_id()
            ))),
        },
    }
}

pub fn run(context: &Context, args: AttachArgs) -> CliResult {
    let detach_keys = attach::parse_detach_keys(&args.detach_keys).map_err(CliError::one)?;
    let engine = context.engine()?;
    let record = engine.find(&args.container).map_err(CliError::one)?;
    if !record.is_running() {
        return Err(CliError::one(anyhow::anyhow!(
            "You cannot attach to a stopped container, start it first"
        )));
    }
    let stdin = record.config.open_stdin && !args.no_stdin;
    check_tty(stdin, record.config.tty)?;
    let stream =
        attach::connect(&engine.store.runroot, record.short_id()).map_err(CliError::one)?;
    let options = attach::Options {
        stdin,
        tty: record.config.tty,
        detach_keys,
        sig_proxy: args.sig_proxy && !record.config.tty,
    };
    relay(&engine, &record, stream, &options, OnDetach::Error)
}
