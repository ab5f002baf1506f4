//! Docker's JSON views of mini's objects: `container inspect`, `image inspect`, and the STATUS
//! text of `ps`. The CLI prints them; the Engine API serves them: one definition for both.

use mini_storage::ImageRef;
use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::ContainerRecord;

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
fn mount_json(mount: &crate::mounts::MountPoint) -> Value {
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
fn network_settings(engine: &Engine, record: &ContainerRecord) -> Value {
    let host = &record.host_config;
    let endpoint = record
        .network_settings
        .endpoint()
        .filter(|_| record.is_running());
    let mut ports = serde_json::Map::new();
    if record.is_running() && crate::networking::is_bridge_mode(&host.network_mode) {
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
fn network_entries(engine: &Engine, record: &ContainerRecord) -> Vec<(String, Value)> {
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
                    json!(crate::networking::dns_names(record, a))
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

/// Docker's STATUS column: `Up 5 seconds`, `Exited (0) 3 minutes ago`, `Created`.
pub fn status(record: &ContainerRecord) -> String {
    let since = |time: &str| {
        chrono::DateTime::parse_from_rfc3339(time)
            .map(|t| (chrono::Utc::now() - t.to_utc()).num_seconds())
            .unwrap_or(0)
    };
    match record.state.status.as_str() {
        "running" => format!("Up {}", duration(since(&record.state.started_at))),
        "paused" => format!("Up {} (Paused)", duration(since(&record.state.started_at))),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            record.state.exit_code,
            duration(since(&record.state.finished_at))
        ),
        "exited" if record.state.finished_at != crate::record::ZERO_TIME => format!(
            "Exited ({}) {} ago",
            record.state.exit_code,
            duration(since(&record.state.finished_at))
        ),
        "created" => "Created".into(),
        other => title(other),
    }
}

/// Docker's `image inspect` object for one image.
pub fn image_json(engine: &Engine, name: &str) -> Result<Value> {
    let images = &engine.images;
    let layers = &engine.layers;
    let (record, _) = images.resolve(name)?;
    let config: Value = serde_json::from_slice(&images.read_blob(&record.id)?)
        .map_err(|err| Error::System(format!("config of {name}: {err}")))?;
    let repo_tags: Vec<String> = images
        .tags_of(&record.id)?
        .iter()
        .map(|t| ImageRef::familiar(t))
        .collect();
    let repo_digests: Vec<String> = record
        .repo_digests
        .iter()
        .map(|d| ImageRef::familiar(d))
        .collect();
    let chain_ids: Vec<String> = record.layers.iter().map(|l| l.chain_id.clone()).collect();
    let graph: Map<String, Value> = layers
        .graph_data(&chain_ids)?
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    let mut image = json!({
        "Id": record.id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": config.get("comment").cloned().unwrap_or(json!("")),
        "Created": config.get("created").cloned().unwrap_or(Value::Null),
        "DockerVersion": "",
        "Author": config.get("author").cloned().unwrap_or(json!("")),
        "Config": config.get("config").cloned().unwrap_or(json!({})),
        "Architecture": config.get("architecture").cloned().unwrap_or(Value::Null),
        "Variant": config.get("variant").cloned(),
        "Os": config.get("os").cloned().unwrap_or(Value::Null),
        "Size": record.size,
        "GraphDriver": {"Data": graph, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": record.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    });
    if image["Variant"].is_null() {
        // shift_remove keeps the other keys in Docker's order (remove would swap the last one in).
        image.as_object_mut().map(|o| o.shift_remove("Variant"));
    }
    Ok(image)
}

/// Docker's `HumanDuration`: "Less than a second", "About a minute", "3 hours", "2 years".
pub fn duration(seconds: i64) -> String {
    let hours = ((seconds as f64) / 3600.0 + 0.5) as i64;
    let minutes = seconds / 60;
    match seconds {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// "running" -> "Running": Go's `title`, and how Docker shows a status it has no text for.
pub fn title(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// Whether a container passes a set of filters as Docker applies them: values of one key are
/// alternatives (`status=exited` or `status=created`), except `label`, whose values must all
/// hold; different keys must all hold.
pub fn container_filters_match(record: &ContainerRecord, filters: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|key| {
        let mut values = filters.iter().filter(|(k, _)| k == key);
        if *key == "label" {
            values.all(|(k, v)| container_matches(record, k, v))
        } else {
            values.any(|(k, v)| container_matches(record, k, v))
        }
    })
}

/// Whether a container passes one of `ps`'s filters (`name`, `id`, `status`, `ancestor`,
/// `exited`, `label`), as the CLI and the API take them.
pub fn container_matches(record: &ContainerRecord, key: &str, value: &str) -> bool {
    match key {
        "name" => record.name.contains(value.trim_start_matches('/')),
        "id" => record.id.starts_with(value),
        "status" => record.state.status == value,
        "ancestor" => {
            record.config.image == value
                || record.image_id == value
                || record
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(value)
        }
        "exited" => record.state.status == "exited" && record.state.exit_code.to_string() == value,
        "label" => match value.split_once('=') {
            Some((k, v)) => record.config.labels.get(k).is_some_and(|l| l == v),
            None => record.config.labels.contains_key(value),
        },
        _ => false,
    }
}

/// `top`'s table from the host's `ps` output: its titles, and the rows whose PID is one of
/// `pids`, each cut into as many fields as there are titles (the last keeps its spaces: the
/// command line), as Docker's daemon does.
pub fn ps_rows(
    ps: &str,
    pids: &[i32],
) -> std::result::Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut lines = ps.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let column = titles
        .iter()
        .position(|c| c == "PID")
        .ok_or_else(|| "Couldn't find PID field in ps output".to_string())?;
    let mut rows = Vec::new();
    for line in lines {
        let mut fields: Vec<String> = Vec::new();
        let mut rest = line.trim_start();
        while fields.len() + 1 < titles.len() && !rest.is_empty() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
        fields.push(rest.to_string());
        if fields
            .get(column)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|p| pids.contains(&p))
        {
            rows.push(fields);
        }
    }
    Ok((titles, rows))
}

#[cfg(test)]
mod ps_tests {
    use super::ps_rows;

    #[test]
    fn rows_keep_the_command_whole_and_only_the_containers_pids() {
        let ps = "UID PID PPID C STIME TTY TIME CMD\n\
                  root 4242 1 0 10:00 ? 00:00:00 sleep 1000 --flag\n\
                  root 77 1 0 10:00 ? 00:00:00 other\n";
        let (titles, rows) = ps_rows(ps, &[4242]).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], "4242");
        assert_eq!(rows[0][7], "sleep 1000 --flag");
        assert!(ps_rows("USER COMMAND\n", &[1]).is_err());
    }
}
