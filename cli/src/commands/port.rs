//! `mini port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published ports.

use clap::Args;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct PortArgs {
    container: String,
    /// A container port, as 80 or 80/tcp
    private_port: Option<String>,
}

pub fn run(context: &Context, args: PortArgs) -> CliResult {
    let engine = context.engine()?;
    let record = engine.find(&args.container).map_err(CliError::one)?;
    let mut ports = record
        .network_settings
        .endpoint()
        .filter(|_| record.is_running())
        .map(|e| e.ports.clone())
        .unwrap_or_default();
    // By container port; a port's bindings in the order they were asked for.
    ports.sort_by_key(|p| (p.container_port, p.proto));
    let wanted = args
        .private_port
        .as_deref()
        .map(|p| p.parse::<mini_network::ports::PortKey>())
        .transpose()
        .map_err(|err| CliError::new(125, err))?;
    let mut shown = 0;
    for p in &ports {
        let ip = p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
        match wanted {
            Some(key) if key.port != p.container_port || key.proto != p.proto => {}
            Some(_) => println!("{ip}:{}", p.host_port),
            None => println!(
                "{}/{} -> {ip}:{}",
                p.container_port,
                p.proto.as_str(),
                p.host_port
            ),
        }
        shown += 1;
    }
    if let (Some(key), 0) = (wanted, shown) {
        return Err(CliError::one(anyhow::anyhow!(
            "No public port '{key}' published for {}",
            record.name
        )));
    }
    Ok(())
}
