//! `mini inspect` (containers, then images, as Docker looks them up) and
//! `mini container inspect`: Docker's JSON, or a `--format` template applied to it.

use clap::Args;
use mini_runtime::{ContainerRecord, Engine};
use serde_json::{json, Map, Value};

use crate::context::{CliError, CliResult, Context};
use crate::template::Template;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Only inspect objects of this type (container or image)
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes (accepted; sizes are not computed yet)
    #[arg(short, long)]
    size: bool,
    /// Containers or images, by name or id
    #[arg(required = true)]
    names: Vec<String>,
}

/// Which objects a form of inspect looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Any,
    Container,
    Image,
}

pub fn run(context: &Context, args: InspectArgs, kind: Kind) -> CliResult {
    let kind = match args.kind.as_deref() {
        None => kind,
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        Some(other) => {
            return Err(CliError::new(
                125,
                anyhow::anyhow!("\"{other}\" is not a valid value for --type"),
            ))
        }
    };
    let template = Template::from_flag(args.format.as_deref())?;
    let engine = context.engine()?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        let container = if kind == Kind::Image {
            None
        } else {
            engine
                .find(name)
                .ok()
                .map(|record| container_json(&engine, &record))
        };
        let value = match (container, kind) {
            (Some(value), _) => Some(value),
            (None, Kind::Container) => None,
            (None, _) => super::image_inspect::image_json(context, name).ok(),
        };
        match value {
            Some(value) => found.push(value),
            None => {
                let what = match kind {
                    Kind::Container => "container",
                    Kind::Image => "image",
                    Kind::Any => "object",
                };
                eprintln!("Error: No such {what}: {name}");
                failed = true;
            }
        }
    }
    match template {
        Some(template) => {
            for value in &found {
                println!("{}", template.render(value));
            }
        }
        // Docker prints what it found even when some names were not.
        None => println!("{}", pretty(&Value::Array(found))),
    }
    if failed {
        return Err(CliError::reported(1));
    }
    Ok(())
}

/// JSON indented by four spaces, as Docker prints it.
pub fn pretty(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).expect("JSON values serialize");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Docker's `container inspect` object for one container.
pub fn container_json(engine: &Engine, record: &ContainerRecord) -> Value {
    let dir = engine.store.container_dir(&record.id);
    let state = &record.state;
    let graph: Map<String, Value> = engine
        .graph_data(&record.id)
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    let config = &record.config;
    let host = &record.host_config;
    let mut config_json = json!({
        "Hostname": config.hostname,
        "Domainname": "",
        "User": config.user,
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "ExposedPorts": config.exposed_ports,
        "Tty": config.tty,
        "OpenStdin": config.open_stdin,
        "StdinOnce": config.stdin_once,
        "Env": config.env,
        "Cmd": config.cmd,
        "Image": config.image,
        "Volumes": if config.volumes.is_empty() { Value::Null } else { json!(config.volumes) },
        "WorkingDir": config.working_dir,
        "Entrypoint": config.entrypoint,
        "OnBuild": null,
        "Labels": config.labels,
        "StopSignal": config.stop_signal,
        "StopTimeout": config.stop_timeout,
    });
    let object = config_json.as_object_mut().expect("an object");
    if config.exposed_ports.is_empty() {
        object.shift_remove("ExposedPorts");
    }
    if config.stop_signal.is_none() {
        object.shift_remove("StopSignal");
    }
    if config.stop_timeout.is_none() {
        object.shift_remove("StopTimeout");
    }
    let network = host.network_mode.clone();
    json!({
        "Id": record.id,
        "Created": record.created,
        "Path": record.path,
        "Args": record.args,
        "State": {
            "Status": state.status,
            "Running": record.is_running(),
            "Paused": state.status == "paused",
            "Restarting": state.status == "restarting",
            "OOMKilled": state.oom_killed,
            "Dead": state.status == "dead",
            "Pid": state.pid,
            "ExitCode": state.exit_code,
            "Error": state.error,
            "StartedAt": state.started_at,
            "FinishedAt": state.finished_at,
        },
        "Image": record.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": engine.store.log_path(&record.id),
        "Name": format!("/{}", record.name),
        "RestartCount": state.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": {
            "Binds": if host.binds.is_empty() { Value::Null } else { json!(host.binds) },
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": network,
            "PortBindings": host.port_bindings,
            "RestartPolicy": host.restart_policy,
            "AutoRemove": host.auto_remove,
            "CapAdd": host.cap_add,
            "CapDrop": host.cap_drop,
            "Privileged": host.privileged,
            "Init": if host.init { json!(true) } else { Value::Null },
            "SecurityOpt": if host.security_opt.is_empty() { Value::Null } else { json!(host.security_opt) },
            "ReadonlyRootfs": host.readonly_rootfs,
            "Memory": host.memory,
            "NanoCpus": host.nano_cpus,
            "PidsLimit": host.pids_limit,
            "CgroupParent": host.cgroup_parent,
            "VolumesFrom": if host.volumes_from.is_empty() { Value::Null } else { json!(host.volumes_from) },
            "Mounts": if host.mounts.is_empty() { Value::Null } else { json!(host.mounts) },
        },
        "GraphDriver": {"Data": graph, "Name": "overlay2"},
        "Mounts": record.mounts.iter().map(mount_json).collect::<Vec<_>>(),
        "Config": config_json,
        "NetworkSettings": network_settings(engine, record),
    })
}

/// One of Docker's `Mounts` entries: `Name` and `Driver` for volumes only.
fn mount_json(mount: &mini_runtime::mounts::MountPoint) -> Value {
    let mut value = json!({
        "Type": mount.kind,
        "Name": mount.name,
        "Source": mount.source,
        "Destination": mount.destination,
        "Driver": mount.driver,
        "Mode": mount.mode,
        "RW": mount.rw,
        "Propagation": mount.propagation,
    });
    if !mount.is_volume() {
        let object = value.as_object_mut().expect("an object");
        object.shift_remove("Name");
        object.shift_remove("Driver");
    }
    value
}

/// Docker's `NetworkSettings`: filled while the container runs, from the endpoint mini made;
/// the top-level address fields repeat the network's, as Docker's default bridge shows them
/// (old tutorials grep `IPAddress` there).
fn network_settings(engine: &mini_runtime::Engine, record: &ContainerRecord) -> Value {
    let host = &record.host_config;
    let endpoint = record
        .network_settings
        .endpoint()
        .filter(|_| record.is_running());
    let mut ports = serde_json::Map::new();
    if record.is_running() && mini_runtime::networking::is_bridge_mode(&host.network_mode) {
        for key in record.config.exposed_ports.keys() {
            ports.insert(key.clone(), Value::Null);
        }
        for p in endpoint.map(|e| e.ports.as_slice()).unwrap_or_default() {
            let key = format!("{}/{}", p.container_port, p.proto.as_str());
            let entry = ports.entry(key).or_insert(json!([]));
            if !entry.is_array() {
                *entry = json!([]);
            }
            entry.as_array_mut().expect("an array").push(json!({
                "HostIp": p.host_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                "HostPort": p.host_port.to_string(),
            }));
        }
    }
    let text =
        |f: fn(&mini_network::endpoint::Endpoint) -> String| endpoint.map(f).unwrap_or_default();
    let entries = network_entries(engine, record);
    let first = entries
        .first()
        .map(|(_, v)| v.clone())
        .unwrap_or(Value::Null);
    let field = |name: &str| first.get(name).cloned().unwrap_or(json!(""));
    json!({
        "Bridge": "",
        "SandboxID": if endpoint.is_some() { record.id.clone() } else { String::new() },
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports,
        "SandboxKey": text(|e| e.netns.display().to_string()),
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": field("EndpointID"),
        "Gateway": field("Gateway"),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": field("IPAddress"),
        "IPPrefixLen": first.get("IPPrefixLen").cloned().unwrap_or(json!(0)),
        "IPv6Gateway": "",
        "MacAddress": field("MacAddress"),
        "Networks": entries.into_iter().collect::<serde_json::Map<_, _>>(),
    })
}

/// `NetworkSettings.Networks`: one entry per network the container is on (its `--network`
/// first), with the address it has there while it runs; `none` and `host` show themselves,
/// `container:` shows none, as in Docker.
fn network_entries(
    engine: &mini_runtime::Engine,
    record: &ContainerRecord,
) -> Vec<(String, Value)> {
    let mode = record.host_config.network_mode.as_str();
    let names: Vec<(String, Vec<String>)> = if matches!(mode, "none" | "host") {
        vec![(mode.to_string(), Vec::new())]
    } else {
        record
            .network_settings
            .networks
            .iter()
            .map(|a| (a.network.clone(), a.aliases.clone()))
            .collect()
    };
    names
        .into_iter()
        .map(|(name, aliases)| {
            let endpoint = record
                .network_settings
                .endpoint_on(&name)
                .filter(|_| record.is_running());
            let text = |f: fn(&mini_network::endpoint::Endpoint) -> String| {
                endpoint.map(f).unwrap_or_default()
            };
            let network_id = match endpoint {
                Some(e) => e.network_id.clone(),
                None => engine.networks.get(&name).map(|n| n.id).unwrap_or_default(),
            };
            let endpoint_id = endpoint
                .map(|_| {
                    format!(
                        "{}{}",
                        &record.id[..32],
                        &network_id[..network_id.len().min(32)]
                    )
                })
                .unwrap_or_default();
            let dns_names = match record.network_settings.attachment(&name) {
                Some(a) if endpoint.is_some() && name != "bridge" => {
                    json!(mini_runtime::networking::dns_names(record, a))
                }
                _ => Value::Null,
            };
            let value = json!({
                "IPAMConfig": null,
                "Links": null,
                "Aliases": if aliases.is_empty() { Value::Null } else { json!(aliases) },
                "NetworkID": network_id,
                "EndpointID": endpoint_id,
                "Gateway": text(|e| e.gateway.clone()),
                "IPAddress": text(|e| e.ip.clone()),
                "IPPrefixLen": endpoint.map(|e| e.prefix_len).unwrap_or(0),
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": text(|e| e.mac.clone()),
                "DriverOpts": null,
                "DNSNames": dns_names,
            });
            (name, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_indented_by_four_spaces() {
        assert_eq!(
            pretty(&json!([{"a": 1}])),
            "[\n    {\n        \"a\": 1\n    }\n]"
        );
    }
}
