//! `mini`: the command line. It turns arguments into calls on the engine crates and their results
//! into text; it holds no engine logic of its own.

mod commands;
mod context;
mod human;
mod output;
mod template;

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
    /// Return low-level information on containers and images
    Inspect(commands::inspect::InspectArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Upload an image to a registry
    Push(commands::push::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::save::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::export::ImportArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::diff::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::export::ExportArgs),
    /// Log in to a registry
    Login(commands::login::LoginArgs),
    /// Log out from a registry
    Logout(commands::login::LogoutArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Create a new container
    Create(commands::run::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::run::StartArgs),
    /// List containers
    Ps(commands::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(commands::logs::LogsArgs),
    /// Execute a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Stop one or more running containers
    Stop(commands::lifecycle::StopArgs),
    /// Restart one or more containers
    Restart(commands::lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(commands::lifecycle::KillArgs),
    /// Pause all processes within one or more containers
    Pause(commands::lifecycle::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(commands::lifecycle::PauseArgs),
    /// Remove one or more containers
    Rm(commands::lifecycle::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::lifecycle::WaitArgs),
    /// Rename a container
    Rename(commands::lifecycle::RenameArgs),
    /// Display the running processes of a container
    Top(commands::top::TopArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::attach::AttachArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::port::PortArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(commands::network::NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Manage mini
    #[command(subcommand)]
    System(commands::system::SystemCommand),
    /// Display system-wide information
    Info(commands::info::InfoArgs),
    /// Show the mini version information
    Version(commands::info::InfoArgs),
    /// The per-container monitor (started by mini itself)
    #[command(name = "__monitor", hide = true)]
    Monitor(MonitorArgs),
    /// A user network's DNS responder (started by mini itself)
    #[command(name = "__dns", hide = true)]
    Dns { network: String },
}

#[derive(Debug, Subcommand)]
enum ContainerCommand {
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Create a new container
    Create(commands::run::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::run::StartArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(commands::ps::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(commands::inspect::InspectArgs),
    /// Fetch the logs of a container
    Logs(commands::logs::LogsArgs),
    /// Execute a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Stop one or more running containers
    Stop(commands::lifecycle::StopArgs),
    /// Restart one or more containers
    Restart(commands::lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(commands::lifecycle::KillArgs),
    /// Pause all processes within one or more containers
    Pause(commands::lifecycle::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(commands::lifecycle::PauseArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(commands::lifecycle::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::lifecycle::WaitArgs),
    /// Rename a container
    Rename(commands::lifecycle::RenameArgs),
    /// Remove all stopped containers
    Prune(commands::lifecycle::PruneArgs),
    /// Display the running processes of a container
    Top(commands::top::TopArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::attach::AttachArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::port::PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::diff::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::export::ExportArgs),
}

#[derive(Debug, clap::Args)]
struct MonitorArgs {
    id: String,
    /// A client attached already: a connected socket at this descriptor
    #[arg(long)]
    attach_fd: Option<i32>,
    /// Where to report how the launch went
    #[arg(long)]
    report_fd: Option<i32>,
    /// The start lock, held until the launch has been reported
    #[arg(long)]
    start_lock_fd: Option<i32>,
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
    /// Upload an image to a registry
    Push(commands::push::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::save::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::export::ImportArgs),
    /// Remove unused images
    Prune(commands::rmi::PruneArgs),
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
}

/// `mini __monitor ID`: runs until the container ends for good; exits with its code.
fn monitor(context: &Context, args: MonitorArgs) -> ExitCode {
    use std::os::fd::FromRawFd;
    let report = args.report_fd.map(|fd| {
        // The container must not inherit the report pipe.
        // SAFETY: F_SETFD on a descriptor number has no memory effects.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: the mini that started us put the report pipe at this descriptor for us alone.
        unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
    });
    let store = match mini_runtime::ContainerStore::open(&context.root, &context.runroot) {
        Ok(store) => store,
        Err(_) => return ExitCode::from(125),
    };
    let client = args.attach_fd.map(|fd| {
        // SAFETY: as for the report pipe above.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: the mini that started us connected this socket for us alone.
        unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) }
    });
    let start_lock = args.start_lock_fd.map(|fd| {
        // SAFETY: as for the report pipe above.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: the mini that started us passed its start lock at this descriptor.
        unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
    });
    let code = mini_runtime::monitor::run(&store, &args.id, client, report, start_lock);
    ExitCode::from(code.clamp(0, 255) as u8)
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
    // Containers' records, logs and layers are root's alone (runtime's access.rs): no command
    // of another user reads any state, and none runs before both state folders pass the check.
    if !mini_runtime::access::is_root() {
        eprintln!("{}", mini_runtime::access::NEEDS_ROOT);
        return ExitCode::from(EXIT_ENGINE_ERROR);
    }
    if let Err(err) = mini_runtime::access::prepare(&cli.root, &cli.runroot) {
        eprintln!("Error: {err}");
        return ExitCode::from(EXIT_ENGINE_ERROR);
    }
    // The two commands whose processes enter containers run from a view of mini's binary that
    // cannot be written (sealed.rs).
    if matches!(
        command,
        Command::Exec(_) | Command::Container(ContainerCommand::Exec(_)) | Command::Monitor(_)
    ) {
        if let Err(err) = mini_runtime::sealed::reexec() {
            eprintln!("Error: running from a read-only view of mini (CVE-2019-5736): {err}");
            return ExitCode::from(EXIT_ENGINE_ERROR);
        }
    }
    // Commands that only print end quietly when their reader goes (`mini ps | head`), as
    // Docker's do, rather than panic on EPIPE: Rust ignores SIGPIPE, so it is given back its
    // default for them. Everything that relays, serves or monitors keeps it ignored.
    if matches!(
        command,
        Command::Ps(_)
            | Command::Container(ContainerCommand::Ls(_))
            | Command::Images(_)
            | Command::Image(ImageCommand::Ls(_))
            | Command::Logs(_)
            | Command::Container(ContainerCommand::Logs(_))
            | Command::Inspect(_)
    ) {
        // SAFETY: setting a signal's disposition to its default, before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
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
        Command::Inspect(args) => {
            commands::inspect::run(&context, args, commands::inspect::Kind::Any)
        }
        Command::Image(ImageCommand::Inspect(args)) => commands::image_inspect::run(&context, args),
        Command::Container(ContainerCommand::Inspect(args)) => {
            commands::inspect::run(&context, args, commands::inspect::Kind::Container)
        }
        Command::Run(args) | Command::Container(ContainerCommand::Run(args)) => {
            commands::run::run(&context, args)
        }
        Command::Create(args) | Command::Container(ContainerCommand::Create(args)) => {
            commands::run::create(&context, args)
        }
        Command::Start(args) | Command::Container(ContainerCommand::Start(args)) => {
            commands::run::start(&context, args)
        }
        Command::Port(args) | Command::Container(ContainerCommand::Port(args)) => {
            commands::port::run(&context, args)
        }
        Command::Network(command) => commands::network::run(&context, command),
        Command::Volume(command) => commands::volume::run(&context, command),
        Command::System(command) => commands::system::run(&context, command),
        Command::Info(args) => commands::info::info(&context, args),
        Command::Version(args) => commands::info::version(&context, args),
        Command::Cp(args) | Command::Container(ContainerCommand::Cp(args)) => {
            commands::cp::run(&context, args)
        }
        Command::Ps(args) | Command::Container(ContainerCommand::Ls(args)) => {
            commands::ps::run(&context, args)
        }
        Command::Logs(args) | Command::Container(ContainerCommand::Logs(args)) => {
            commands::logs::run(&context, args)
        }
        Command::Exec(args) | Command::Container(ContainerCommand::Exec(args)) => {
            commands::exec::run(&context, args)
        }
        Command::Stop(args) | Command::Container(ContainerCommand::Stop(args)) => {
            commands::lifecycle::stop(&context, args)
        }
        Command::Restart(args) | Command::Container(ContainerCommand::Restart(args)) => {
            commands::lifecycle::restart(&context, args)
        }
        Command::Kill(args) | Command::Container(ContainerCommand::Kill(args)) => {
            commands::lifecycle::kill(&context, args)
        }
        Command::Pause(args) | Command::Container(ContainerCommand::Pause(args)) => {
            commands::lifecycle::pause(&context, args)
        }
        Command::Unpause(args) | Command::Container(ContainerCommand::Unpause(args)) => {
            commands::lifecycle::unpause(&context, args)
        }
        Command::Rm(args) | Command::Container(ContainerCommand::Rm(args)) => {
            commands::lifecycle::rm(&context, args)
        }
        Command::Wait(args) | Command::Container(ContainerCommand::Wait(args)) => {
            commands::lifecycle::wait(&context, args)
        }
        Command::Rename(args) | Command::Container(ContainerCommand::Rename(args)) => {
            commands::lifecycle::rename(&context, args)
        }
        Command::Top(args) | Command::Container(ContainerCommand::Top(args)) => {
            commands::top::run(&context, args)
        }
        Command::Attach(args) | Command::Container(ContainerCommand::Attach(args)) => {
            commands::attach::run(&context, args)
        }
        Command::Container(ContainerCommand::Prune(args)) => {
            commands::lifecycle::prune(&context, args)
        }
        Command::Monitor(args) => return monitor(&context, args),
        Command::Dns { network } => {
            let store = mini_runtime::ContainerStore::open(&context.root, &context.runroot);
            return match store.and_then(|s| mini_runtime::networking::serve_dns(&s, &network)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("Error: {err}");
                    ExitCode::from(EXIT_ENGINE_ERROR)
                }
            };
        }
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            commands::history::run(&context, args)
        }
        Command::Push(args) | Command::Image(ImageCommand::Push(args)) => {
            commands::push::run(&context, args)
        }
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => {
            commands::save::save(&context, args)
        }
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => {
            commands::save::load(&context, args)
        }
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => {
            commands::export::import(&context, args)
        }
        Command::Build(args) | Command::Image(ImageCommand::Build(args)) => {
            commands::build::run(&context, args)
        }
        Command::Image(ImageCommand::Prune(args)) => commands::rmi::prune(&context, args),
        Command::Commit(args) | Command::Container(ContainerCommand::Commit(args)) => {
            commands::commit::run(&context, args)
        }
        Command::Diff(args) | Command::Container(ContainerCommand::Diff(args)) => {
            commands::diff::run(&context, args)
        }
        Command::Export(args) | Command::Container(ContainerCommand::Export(args)) => {
            commands::export::export(&context, args)
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
