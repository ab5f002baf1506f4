//! `mini`: the command line. It turns arguments into calls on the engine crates and their results
//! into text; it holds no engine logic of its own.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Exit code for mini's own errors (bad flags, unknown objects), as Docker uses it.
const EXIT_ENGINE_ERROR: u8 = 125;

/// A small, fast, daemonless container engine with Docker's command line.
#[derive(Debug, Parser)]
#[command(name = "mini", version, about, long_about = None, disable_help_subcommand = true)]
struct Cli {
    /// Where mini keeps persistent state: images, layers, containers, networks, volumes.
    #[arg(
        long,
        global = true,
        env = "MINI_ROOT",
        default_value = "/var/lib/mini"
    )]
    root: PathBuf,

    /// Where mini keeps runtime state that a reboot clears: netns files, locks, monitor sockets.
    #[arg(long, global = true, env = "MINI_RUNROOT", default_value = "/run/mini")]
    runroot: PathBuf,
}

fn main() -> ExitCode {
    let _cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` are not errors; everything else clap rejects is a usage
            // error, which Docker reports with 125.
            let code = if err.use_stderr() {
                EXIT_ENGINE_ERROR
            } else {
                0
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::SUCCESS
}
