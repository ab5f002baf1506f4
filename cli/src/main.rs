//! `mini`: the command line. It turns arguments into calls on the engine crates and their results
//! into text; it holds no engine logic of its own.

mod commands;
mod context;
mod human;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::{CliError, Context};

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

    /// mini's config file (registry mirrors, insecure registries).
    #[arg(
        long,
        global = true,
        env = "MINI_CONFIG",
        default_value = "/etc/mini/config.toml"
    )]
    config: PathBuf,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Download an image from a registry
    Pull(commands::pull::PullArgs),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::tag::TagArgs),
    /// Remove one or more images
    Rmi(commands::rmi::RmiArgs),
    /// Return low-level information on images
    Inspect(commands::image_inspect::ImageInspectArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Log in to a registry
    Login(commands::login::LoginArgs),
    /// Log out from a registry
    Logout(commands::login::LogoutArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(commands::images::ImagesArgs),
    /// Download an image from a registry
    Pull(commands::pull::PullArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::tag::TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(commands::rmi::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(commands::image_inspect::ImageInspectArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    };
    let context = Context {
        root: cli.root,
        runroot: cli.runroot,
        config: cli.config,
    };
    let result = match command {
        Command::Pull(args) | Command::Image(ImageCommand::Pull(args)) => {
            commands::pull::run(&context, args)
        }
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => {
            commands::images::run(&context, args)
        }
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => {
            commands::tag::run(&context, args)
        }
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => {
            commands::rmi::run(&context, args)
        }
        Command::Inspect(args) | Command::Image(ImageCommand::Inspect(args)) => {
            commands::image_inspect::run(&context, args)
        }
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            commands::history::run(&context, args)
        }
        Command::Login(args) => commands::login::login(&context, args),
        Command::Logout(args) => commands::login::logout(&context, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError { code, error }) => {
            if let Some(error) = error {
                eprintln!("Error: {error:#}");
            }
            ExitCode::from(code)
        }
    }
}
