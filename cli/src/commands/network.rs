//! `mini network create|ls|inspect|rm|prune|connect|disconnect|reload`: bridge networks as
//! Docker shows them.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use mini_network::NetworkRecord;
use mini_runtime::Engine;

use crate::context::{CliError, CliResult, Context};
use crate::human;
use crate::template::Template;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Make mini's firewall rules anew from its records (after the ruleset was flushed)
    Reload,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long = "alias")]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<std::net::Ipv4Addr>,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network (bridge is the only one)
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    gateway: Option<String>,
    /// Set metadata on a network
    #[arg(long = "label")]
    label: Vec<String>,
    name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
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
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(context: &Context, command: NetworkCommand) -> CliResult {
    let engine = context.engine()?;
    match command {
        NetworkCommand::Create(args) => create(&engine, args),
        NetworkCommand::Ls(args) => ls(&engine, args),
        NetworkCommand::Inspect(args) => inspect(&engine, args),
        NetworkCommand::Rm(args) => rm(&engine, args),
        NetworkCommand::Prune(args) => prune(&engine, args),
        NetworkCommand::Connect(args) => engine
            .network_connect(
                &args.container,
                mini_runtime::record::Attachment {
                    network: args.network,
                    aliases: args.alias,
                    ip_address: args.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                },
            )
            .map_err(CliError::one),
        NetworkCommand::Disconnect(args) => {
            // Docker's -f also takes the container off a network that is gone: so does this,
            // always.
            let _ = args.force;
            engine
                .network_disconnect(&args.network, &args.container)
                .map_err(CliError::one)
        }
        NetworkCommand::Reload => engine.network_reload().map_err(CliError::one),
    }
}

fn network_error(err: mini_network::Error) -> CliError {
    CliError::one(err)
}

fn create(engine: &Engine, args: CreateArgs) -> CliResult {
    let labels: BTreeMap<String, String> = args
        .label
        .iter()
        .map(|l| mini_runtime::options::parse_label(l))
        .collect();
    let record = engine
        .network_create(
            &args.name,
            &args.driver,
            args.subnet.as_deref(),
            args.gateway.as_deref(),
            labels,
        )
        .map_err(CliError::one)?;
    println!("{}", record.id);
    Ok(())
}

fn row(record: &NetworkRecord, no_trunc: bool) -> Value {
    json!({
        "ID": if no_trunc { record.id.clone() } else { record.id[..12].to_string() },
        "Name": record.name,
        "Driver": record.driver,
        "Scope": "local",
        "CreatedAt": record.created,
        "Labels": record.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    })
}

fn ls(engine: &Engine, args: LsArgs) -> CliResult {
    let networks = engine.networks.list().map_err(network_error)?;
    if args.quiet {
        for n in &networks {
            println!("{}", row(n, args.no_trunc)["ID"].as_str().unwrap_or(""));
        }
        return Ok(());
    }
    if let Some(template) = Template::from_flag(args.format.as_deref())? {
        for n in &networks {
            println!("{}", template.render(&row(n, args.no_trunc)));
        }
        return Ok(());
    }
    let mut rows = vec![vec![
        "NETWORK ID".to_string(),
        "NAME".into(),
        "DRIVER".into(),
        "SCOPE".into(),
    ]];
    for n in &networks {
        let r = row(n, args.no_trunc);
        rows.push(
            ["ID", "Name", "Driver", "Scope"]
                .iter()
                .map(|k| r[*k].as_str().unwrap_or("").to_string())
                .collect(),
        );
    }
    print!("{}", human::table(&rows));
    Ok(())
}

fn inspect(engine: &Engine, args: InspectArgs) -> CliResult {
    super::inspect_objects(&args.networks, args.format.as_deref(), |name| {
        let record = engine.networks.get(name).map_err(|e| e.to_string())?;
        engine.network_json(&record).map_err(|e| e.to_string())
    })
}

fn rm(engine: &Engine, args: RmArgs) -> CliResult {
    super::each(&args.networks, |name| {
        engine
            .networks
            .get(name)
            .map_err(mini_runtime::Error::from)
            .and_then(|record| engine.network_remove(&record))
            .map(|()| Some(name.to_string()))
            .map_err(|err| err.to_string())
    })
}

fn prune(engine: &Engine, args: PruneArgs) -> CliResult {
    if !args.force
        && !super::confirm(
            "This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(());
    }
    let deleted = engine.network_prune().map_err(CliError::one)?;
    if !deleted.is_empty() {
        println!("Deleted Networks:\n{}", deleted.join("\n"));
    }
    Ok(())
}
