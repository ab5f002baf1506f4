//! `mini-runc`: runc's command line over mini's runtime path (libcontainer, with the container's
//! seccomp filter on `exec` too and a binary that cannot be written from inside, against
//! CVE-2019-5736), so that containerd, Docker and a Kubernetes node can run their containers
//! with it. A thin front end: the containers are libcontainer's, their state lives under
//! `--root` as libcontainer writes it, and nothing here outlives a command.
//!
//! Errors go to stderr and, with `--log`, to that file as runc writes them (`--log-format json`:
//! `{"level":"error","msg":...,"time":...}`, the line containerd shows to its user).

mod commands;
mod exec;
mod log;
mod signals;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Where containers' state goes unless `--root` says otherwise (runc's is /run/runc).
pub const DEFAULT_ROOT: &str = "/run/mini-runc";

#[derive(Parser, Debug)]
#[command(
    name = "mini-runc",
    about = "An OCI runtime with runc's command line, on mini's runtime path",
    disable_version_flag = true
)]
struct Cli {
    /// Root directory for storage of container state (this should be on tmpfs)
    #[arg(long, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Set the log file to write errors to (default: stderr only)
    #[arg(long)]
    log: Option<PathBuf>,
    /// Set the log format ('text' or 'json')
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Enable debug logging
    #[arg(long)]
    debug: bool,
    /// Enable systemd cgroup support (cgroupsPath as slice:prefix:name)
    #[arg(long)]
    systemd_cgroup: bool,
    /// Ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, value_name = "VALUE")]
    rootless: Option<String>,
    /// Path to the criu binary used for checkpoint and restore (not supported here)
    #[arg(long, hide = true)]
    criu: Option<PathBuf>,
    /// Print the version
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container
    Create(liboci_cli::Create),
    /// Execute the user defined process in a created container
    Start(liboci_cli::Start),
    /// Create and run a container
    Run(liboci_cli::Run),
    /// Output the state of a container
    State(liboci_cli::State),
    /// Kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(KillArgs),
    /// Delete any resources held by the container
    Delete(liboci_cli::Delete),
    /// Execute new process inside the container
    Exec(liboci_cli::Exec),
    /// Display the processes running inside a container
    Ps(liboci_cli::Ps),
    /// Pause suspends all processes inside the container
    Pause(liboci_cli::Pause),
    /// Resume resumes all processes that have been previously paused
    Resume(liboci_cli::Resume),
    /// Update container resource constraints
    Update(liboci_cli::Update),
    /// Display container events such as OOM notifications, cpu, memory and IO usage statistics
    Events(EventsArgs),
    /// List containers started by mini-runc with the given root
    List(liboci_cli::List),
    /// Show the enabled features
    Features(liboci_cli::Features),
    /// Create a new specification file
    Spec(liboci_cli::Spec),
}

/// runc's `kill`: the signal is optional (SIGTERM), and may be a real-time one.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Send the specified signal to all processes inside the container
    #[arg(short, long)]
    pub all: bool,
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
    /// Signal: a name (KILL, SIGKILL, RTMIN+3) or a number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// runc's `events`: the interval is a duration (`5s`, `500ms`).
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Set the stats collection interval
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
}

/// What every command gets from the global flags.
#[derive(Debug)]
pub struct Globals {
    pub root: PathBuf,
}

fn version() -> String {
    format!(
        "mini-runc version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("MINI_RUNC_COMMIT"),
        oci_spec::runtime::VERSION
    )
}

fn main() -> ExitCode {
    // Usage errors end with 1, as runc's do (clap's own code is 2).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // SIGPIPE: the commands that run hooks (create, start, run, delete) write the state to a
    // hook's stdin, which a hook may close unread: they keep Rust's ignoring of it (the
    // container's processes get the default back: runtime's exec.rs). The others end on a
    // closed stdout as any command does.
    if !matches!(
        cli.command,
        Some(Command::Create(_) | Command::Start(_) | Command::Run(_) | Command::Delete(_))
    ) {
        mini_runtime::exec::default_sigpipe();
    }
    let log = log::Log::new(cli.log.clone(), cli.log_format == "json");
    if cli.version {
        print!("{}", version());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        log.error("a command is needed (see mini-runc --help)");
        return ExitCode::FAILURE;
    };
    if !nix::unistd::geteuid().is_root() {
        log.error("mini-runc needs root (rootless containers are not supported)");
        return ExitCode::FAILURE;
    }
    if cli.systemd_cgroup {
        log.error("systemd cgroup flag passed, but systemd support for managing cgroups is not built into mini-runc: use cgroupfs paths");
        return ExitCode::FAILURE;
    }
    let globals = Globals {
        root: commands::absolute(&cli.root),
    };
    // The commands whose processes start or enter a container run from a view of the binary
    // that cannot be written.
    if matches!(
        command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) {
        if let Err(err) = mini_runtime::sealed::reexec() {
            log.error(&format!(
                "running from a read-only view of mini-runc (CVE-2019-5736): {err}"
            ));
            return ExitCode::FAILURE;
        }
    }
    let result = match command {
        Command::Create(args) => commands::create(&globals, args).map(|()| 0),
        Command::Start(args) => commands::start(&globals, &args.container_id).map(|()| 0),
        Command::Run(args) => commands::run(&globals, args),
        Command::State(args) => state::print(&globals, &args.container_id).map(|()| 0),
        Command::Kill(args) => commands::kill(&globals, &args).map(|()| 0),
        Command::Delete(args) => {
            commands::delete(&globals, &args.container_id, args.force).map(|()| 0)
        }
        Command::Exec(args) => exec::exec(&globals, args),
        Command::Ps(args) => commands::ps(&globals, &args).map(|()| 0),
        Command::Pause(args) => commands::pause(&globals, &args.container_id).map(|()| 0),
        Command::Resume(args) => commands::resume(&globals, &args.container_id).map(|()| 0),
        Command::Update(args) => commands::update(&globals, &args).map(|()| 0),
        Command::Events(args) => commands::events(&globals, &args).map(|()| 0),
        Command::List(args) => state::list(&globals, &args).map(|()| 0),
        Command::Features(_) => state::features().map(|()| 0),
        Command::Spec(args) => state::spec(&args).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(err) => {
            log.error(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}
