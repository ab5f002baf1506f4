//! `mini run`, `mini create` and `mini start`: Docker's flags turned into `CreateOptions`, a
//! missing image pulled first (as Docker does), and the engine's results turned into Docker's
//! output and exit codes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{ArgAction, Args};
use mini_runtime::{attach, options, CreateOptions, Engine, Started};
use mini_storage::ImageRecord;

use crate::commands::attach::{check_tty, relay, OnDetach};
use crate::context::{CliError, CliResult, Context};

/// The flags `run` and `create` share.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    read_only: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    restart: String,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_negative_numbers = true)]
    stop_timeout: Option<i64>,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Connect a container to a network
    #[arg(long, visible_alias = "net", default_value = "bridge")]
    network: String,
    /// IPv4 address (e.g., 172.30.100.104), on a user-defined network
    #[arg(long)]
    ip: Option<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long)]
    expose: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Bind mount a volume: NAME:/path, /host/path:/path or /path, with :ro, :rw, :nocopy
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Attach a filesystem mount: type=volume|bind|tmpfs,source=..,target=..,readonly
    #[arg(long = "mount")]
    mount: Vec<String>,
    /// Mount volumes from the specified container(s): CONTAINER[:ro|:rw]
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// Add network-scoped alias for the container (user networks)
    #[arg(long = "network-alias", visible_alias = "net-alias")]
    network_alias: Vec<String>,
    /// Security Options (no-new-privileges, seccomp=unconfined|builtin|PROFILE.json)
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// The image: NAME[:TAG|@DIGEST]
    image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "")]
    detach_keys: String,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    sig_proxy: bool,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "")]
    detach_keys: String,
    /// Containers, by name or id
    #[arg(required = true)]
    containers: Vec<String>,
}

/// The flags, checked and parsed: every bad value fails here, before anything is created.
fn create_options(args: &CreateArgs) -> CliResult<CreateOptions> {
    let invalid = |err: mini_runtime::Error| CliError::new(125, err);
    let mut publish = Vec::new();
    for spec in &args.publish {
        publish.extend(
            mini_network::ports::parse_publish(spec).map_err(|err| CliError::new(125, err))?,
        );
    }
    let mut expose = Vec::new();
    for spec in &args.expose {
        // `--expose 80`, `--expose 80/udp`, `--expose 8000-8010`.
        let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
        let parsed = mini_network::ports::parse_publish(&format!("{ports}/{proto}"))
            .map_err(|err| CliError::new(125, err))?;
        expose.extend(parsed.into_iter().map(|(key, _)| key));
    }
    let ip = args
        .ip
        .as_deref()
        .map(|ip| {
            ip.parse::<std::net::Ipv4Addr>().map_err(|_| {
                CliError::new(
                    125,
                    anyhow::anyhow!(
                        "invalid argument \"{ip}\" for \"--ip\" flag: not an IPv4 address"
                    ),
                )
            })
        })
        .transpose()?;
    if args.network == "host" && (!publish.is_empty() || args.publish_all) {
        eprintln!("WARNING: Published ports are discarded when using host network mode");
    }
    let mut env = Vec::new();
    for file in &args.env_file {
        let text = std::fs::read_to_string(file)
            .map_err(|err| CliError::new(125, anyhow::anyhow!("open {}: {err}", file.display())))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            env.push(expand_env(line));
        }
    }
    env.extend(args.env.iter().map(|e| expand_env(e)));
    if let Some(bad) = env.iter().find(|e| e.starts_with('=')) {
        return Err(CliError::new(
            125,
            anyhow::anyhow!("invalid environment variable: {bad}"),
        ));
    }
    let host_cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let labels: BTreeMap<String, String> =
        args.label.iter().map(|l| options::parse_label(l)).collect();
    if let Some(signal) = &args.stop_signal {
        options::parse_signal(signal).map_err(invalid)?;
    }
    if let Some(user) = &args.user {
        if user.is_empty() || user.starts_with(':') {
            return Err(CliError::new(
                125,
                anyhow::anyhow!("invalid user: {user:?}"),
            ));
        }
    }
    let restart = options::parse_restart(&args.restart).map_err(invalid)?;
    if args.rm && restart.name != "no" {
        return Err(CliError::new(
            125,
            anyhow::anyhow!("Conflicting options: --restart and --rm"),
        ));
    }
    Ok(CreateOptions {
        name: args.name.clone(),
        image: args.image.clone(),
        command: args.command.clone(),
        entrypoint: args.entrypoint.clone().map(|e| vec![e]),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        tty: args.tty,
        interactive: args.interactive,
        // Set by `run` without `-d`.
        stdin_once: false,
        auto_remove: args.rm,
        network: args.network.clone(),
        publish,
        publish_all: args.publish_all,
        expose,
        ip,
        dns: args.dns.clone(),
        add_hosts: args.add_host.clone(),
        restart,
        memory: args
            .memory
            .as_deref()
            .map(options::parse_memory)
            .transpose()
            .map_err(invalid)?
            .unwrap_or(0),
        nano_cpus: args
            .cpus
            .as_deref()
            .map(|c| options::parse_cpus(c, host_cpus))
            .transpose()
            .map_err(invalid)?
            .unwrap_or(0),
        pids_limit: args.pids_limit.filter(|&n| n > 0),
        read_only: args.read_only,
        init: args.init,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        privileged: args.privileged,
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        labels,
        volumes: args.volume.clone(),
        mounts: args.mount.clone(),
        volumes_from: args.volumes_from.clone(),
        network_aliases: args.network_alias.clone(),
        security_opt: mini_runtime::seccomp::read_profile_files(&args.security_opt)
            .map_err(|err| CliError::new(125, anyhow::anyhow!(err)))?,
    })
}

/// `-e NAME` takes NAME's value from mini's own environment, as Docker's client does.
pub(crate) fn expand_env(entry: &str) -> String {
    if entry.contains('=') {
        entry.to_string()
    } else {
        match std::env::var(entry) {
            Ok(value) => format!("{entry}={value}"),
            Err(_) => entry.to_string(),
        }
    }
}

/// The local image, or the image pulled now when there is none (progress on stderr).
fn image_for(context: &Context, engine: &Engine, name: &str) -> CliResult<ImageRecord> {
    match engine.images.resolve(name) {
        Ok((record, _)) => Ok(record),
        Err(mini_storage::Error::NoSuchImage(_)) => {
            let reference = mini_storage::ImageRef::parse(name)?;
            let shown = match (reference.tag(), reference.digest()) {
                (_, Some(_)) => name.to_string(),
                (Some(tag), None) => format!("{}:{tag}", reference.familiar_name()),
                (None, None) => format!("{}:latest", reference.familiar_name()),
            };
            eprintln!("Unable to find image '{shown}' locally");
            let args = super::pull::PullArgs {
                platform: None,
                quiet: false,
                image: name.to_string(),
            };
            super::pull::pull(context, &args, true).map_err(|err| CliError {
                code: 125,
                error: err.error,
            })?;
            let (record, _) = engine.images.resolve(name)?;
            Ok(record)
        }
        Err(err) => Err(CliError::new(125, err)),
    }
}

fn create_container(
    context: &Context,
    args: &CreateArgs,
    attached: bool,
) -> CliResult<(Engine, String)> {
    let mut options = create_options(args)?;
    options.stdin_once = attached;
    let engine = context.engine()?;
    let image = image_for(context, &engine, &args.image)?;
    let record = engine.create(&image, &options)?;
    Ok((engine, record.id))
}

pub fn create(context: &Context, args: CreateArgs) -> CliResult {
    let (_, id) = create_container(context, &args, false)?;
    println!("{id}");
    Ok(())
}

pub fn run(context: &Context, args: RunArgs) -> CliResult {
    if args.detach {
        let (engine, id) = create_container(context, &args.create, false)?;
        engine.start(&id, false)?;
        println!("{id}");
        return Ok(());
    }
    let detach_keys =
        attach::parse_detach_keys(&args.detach_keys).map_err(|err| CliError::new(125, err))?;
    check_tty(args.create.interactive, args.create.tty)?;
    let (engine, id) = create_container(context, &args.create, true)?;
    let options = attach::Options {
        stdin: args.create.interactive,
        tty: args.create.tty,
        detach_keys,
        sig_proxy: args.sig_proxy && !args.create.tty,
    };
    // Read before the start: a quick `--rm` container may be gone by the time it returns.
    let record = engine.store.load(&id).map_err(CliError::one)?;
    let started = engine.start(&id, true)?;
    attached(&engine, &record, started, &options)
}

/// What follows an attached start: relaying until the container ends or the user detaches.
/// A container that ran already is attached to as `attach` would (Docker's `start -a`).
fn attached(
    engine: &Engine,
    record: &mini_runtime::ContainerRecord,
    started: Started,
    options: &attach::Options,
) -> CliResult {
    let stream = match started {
        Started::Attached(stream) => stream,
        Started::Running(_) | Started::AlreadyRunning => {
            attach::connect(&engine.store.runroot, record.short_id()).map_err(CliError::one)?
        }
    };
    relay(engine, record, stream, options, OnDetach::Quiet)
}

pub fn start(context: &Context, args: StartArgs) -> CliResult {
    let engine = context.engine()?;
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            return Err(CliError::one(anyhow::anyhow!(
                "you cannot start and attach multiple containers at once"
            )));
        }
        let detach_keys = attach::parse_detach_keys(&args.detach_keys).map_err(CliError::one)?;
        let record = engine.find(&args.containers[0]).map_err(CliError::one)?;
        let stdin = args.interactive && record.config.open_stdin;
        check_tty(stdin, record.config.tty)?;
        let options = attach::Options {
            stdin,
            tty: record.config.tty,
            detach_keys,
            sig_proxy: !record.config.tty,
        };
        let started = engine.start(&record.id, true).map_err(CliError::one)?;
        return attached(&engine, &record, started, &options);
    }
    let mut failed = false;
    for name in &args.containers {
        let result = engine
            .store
            .resolve(name)
            .and_then(|id| engine.start(&id, false));
        match result {
            Ok(_) => println!("{name}"),
            Err(err) => {
                eprintln!("Error response from daemon: {err}");
                failed = true;
            }
        }
    }
    if failed {
        eprintln!(
            "Error: failed to start containers: {}",
            args.containers.join(", ")
        );
        return Err(CliError::reported(1));
    }
    Ok(())
}
