//! `POST /containers/create`: Docker's container config (`Config` with `HostConfig` and
//! `NetworkingConfig`) translated into the engine's create options, the same ones `mini run`'s
//! flags become. A missing image is a 404, so that the client pulls it and asks again.

use std::collections::BTreeMap;

use mini_network::ports::{HostBinding, PortKey};
use mini_runtime::{CreateOptions, Engine, Error, Result};
use serde_json::{json, Value};

use crate::routes::Reply;

/// The strings of a JSON list (null or absent: none).
pub(crate) fn strings(value: &Value, field: &str) -> Result<Vec<String>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str().map(String::from).ok_or_else(|| {
                    Error::Invalid(format!("{field}: a list of strings is expected"))
                })
            })
            .collect(),
        Value::String(one) => Ok(vec![one.clone()]),
        _ => Err(Error::Invalid(format!(
            "{field}: a list of strings is expected"
        ))),
    }
}

pub(crate) fn text(value: &Value, field: &str) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(Error::Invalid(format!("{field}: a string is expected"))),
    }
}

fn number(value: &Value, field: &str) -> Result<i64> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| Error::Invalid(format!("{field}: an integer is expected"))),
        _ => Err(Error::Invalid(format!("{field}: a number is expected"))),
    }
}

pub(crate) fn boolean(value: &Value, field: &str) -> Result<bool> {
    match value {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(Error::Invalid(format!(
            "{field}: true or false is expected"
        ))),
    }
}

/// The options for one create request.
pub fn options(body: &[u8], name: Option<&str>) -> Result<CreateOptions> {
    let config: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Error::Invalid(format!("invalid JSON in the request: {e}")))?
    };
    if !config.is_object() {
        return Err(Error::Invalid("the request is not a JSON object".into()));
    }
    let host = &config["HostConfig"];
    let image = text(&config["Image"], "Image")?
        .ok_or_else(|| Error::Invalid("config: Image is required".into()))?;
    let mut options = CreateOptions {
        name: name.filter(|n| !n.is_empty()).map(String::from),
        image,
        command: strings(&config["Cmd"], "Cmd")?,
        entrypoint: match &config["Entrypoint"] {
            Value::Null => None,
            other => Some(strings(other, "Entrypoint")?),
        },
        env: strings(&config["Env"], "Env")?,
        workdir: text(&config["WorkingDir"], "WorkingDir")?,
        user: text(&config["User"], "User")?,
        hostname: text(&config["Hostname"], "Hostname")?,
        tty: boolean(&config["Tty"], "Tty")?,
        interactive: boolean(&config["OpenStdin"], "OpenStdin")?,
        stdin_once: boolean(&config["StdinOnce"], "StdinOnce")?,
        auto_remove: boolean(&host["AutoRemove"], "HostConfig.AutoRemove")?,
        network: text(&host["NetworkMode"], "HostConfig.NetworkMode")?
            .filter(|n| n != "default")
            .unwrap_or_else(|| "bridge".into()),
        publish_all: boolean(&host["PublishAllPorts"], "HostConfig.PublishAllPorts")?,
        memory: number(&host["Memory"], "HostConfig.Memory")?,
        nano_cpus: number(&host["NanoCpus"], "HostConfig.NanoCpus")?,
        pids_limit: match number(&host["PidsLimit"], "HostConfig.PidsLimit")? {
            n if n > 0 => Some(n),
            _ => None,
        },
        read_only: boolean(&host["ReadonlyRootfs"], "HostConfig.ReadonlyRootfs")?,
        init: boolean(&host["Init"], "HostConfig.Init")?,
        cap_add: strings(&host["CapAdd"], "HostConfig.CapAdd")?,
        cap_drop: strings(&host["CapDrop"], "HostConfig.CapDrop")?,
        privileged: boolean(&host["Privileged"], "HostConfig.Privileged")?,
        stop_signal: text(&config["StopSignal"], "StopSignal")?,
        stop_timeout: match &config["StopTimeout"] {
            Value::Null => None,
            other => Some(number(other, "StopTimeout")?),
        },
        dns: strings(&host["Dns"], "HostConfig.Dns")?,
        add_hosts: strings(&host["ExtraHosts"], "HostConfig.ExtraHosts")?,
        volumes: strings(&host["Binds"], "HostConfig.Binds")?,
        volumes_from: strings(&host["VolumesFrom"], "HostConfig.VolumesFrom")?,
        security_opt: strings(&host["SecurityOpt"], "HostConfig.SecurityOpt")?,
        ..CreateOptions::default()
    };
    // The image's own VOLUMEs come with the image; those the request names become anonymous
    // volumes, as `-v /path` does, unless a bind or mount already serves that path (compose
    // names each volume's path in both).
    let served: Vec<String> = options
        .volumes
        .iter()
        .filter_map(|bind| bind.split(':').nth(1).map(String::from))
        .chain(
            host["Mounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["Target"].as_str().map(String::from)),
        )
        .map(|path| path.trim_end_matches('/').to_string())
        .collect();
    if let Some(volumes) = config["Volumes"].as_object() {
        for path in volumes.keys() {
            if !served.contains(&path.trim_end_matches('/').to_string()) {
                options.volumes.push(path.clone());
            }
        }
    }
    if let Some(labels) = config["Labels"].as_object() {
        options.labels = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect::<BTreeMap<_, _>>();
    }
    if let Some(ports) = config["ExposedPorts"].as_object() {
        for key in ports.keys() {
            options.expose.push(
                key.parse::<PortKey>()
                    .map_err(|e| Error::Invalid(format!("ExposedPorts: {key}: {e}")))?,
            );
        }
    }
    if let Some(bindings) = host["PortBindings"].as_object() {
        for (key, list) in bindings {
            let port = key
                .parse::<PortKey>()
                .map_err(|e| Error::Invalid(format!("PortBindings: {key}: {e}")))?;
            for binding in list.as_array().into_iter().flatten() {
                options.publish.push((
                    port,
                    HostBinding {
                        host_ip: binding["HostIp"].as_str().unwrap_or_default().to_string(),
                        host_port: binding["HostPort"].as_str().unwrap_or_default().to_string(),
                    },
                ));
            }
        }
    }
    if let Some(policy) = host["RestartPolicy"].as_object() {
        let name = policy.get("Name").and_then(Value::as_str).unwrap_or("");
        if !name.is_empty() {
            let count = policy
                .get("MaximumRetryCount")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let spec = match (name, count) {
                ("on-failure", n) if n > 0 => format!("on-failure:{n}"),
                (name, _) => name.to_string(),
            };
            options.restart = mini_runtime::options::parse_restart(&spec)?;
        }
    }
    for mount in host["Mounts"].as_array().into_iter().flatten() {
        let mut parts = vec![
            format!("type={}", mount["Type"].as_str().unwrap_or("volume")),
            format!("target={}", mount["Target"].as_str().unwrap_or_default()),
        ];
        if let Some(source) = mount["Source"].as_str().filter(|s| !s.is_empty()) {
            parts.push(format!("source={source}"));
        }
        if mount["ReadOnly"].as_bool() == Some(true) {
            parts.push("readonly".into());
        }
        options.mounts.push(parts.join(","));
    }
    // A user network named in NetworkingConfig, with its aliases and address.
    if let Some(endpoints) = config["NetworkingConfig"]["EndpointsConfig"].as_object() {
        if let Some((network, endpoint)) = endpoints.iter().next() {
            // Newer clients name the default network "default", as in NetworkMode.
            if options.network == "bridge" && network != "default" {
                options.network = network.clone();
            }
            options.network_aliases = strings(&endpoint["Aliases"], "Aliases")?;
            if let Some(ip) = endpoint["IPAMConfig"]["IPv4Address"]
                .as_str()
                .filter(|s| !s.is_empty())
            {
                options.ip = Some(
                    ip.parse()
                        .map_err(|_| Error::Invalid(format!("invalid IPv4 address: {ip}")))?,
                );
            }
        }
    }
    Ok(options)
}

/// Creates the container; 404 names the image when it is not here (the client pulls it).
pub fn create(engine: &Engine, body: &[u8], name: Option<&str>) -> Result<Reply> {
    let options = options(body, name)?;
    let image = match engine.images.resolve(&options.image) {
        Ok((image, _)) => image,
        Err(_) => {
            return Ok(Reply::error(
                404,
                format!("No such image: {}", options.image),
            ))
        }
    };
    let record = engine.create(&image, &options)?;
    Ok(Reply::Json(201, json!({"Id": record.id, "Warnings": []})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_run_request_becomes_run_options() {
        let body = br#"{"Image":"nginx","Cmd":null,"Entrypoint":["/init","-v"],"Env":["A=1"],
            "Labels":{"app":"web"},"ExposedPorts":{"80/tcp":{}},"Tty":true,"OpenStdin":true,
            "HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
              "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":true,
              "NetworkMode":"default","Memory":67108864,"Binds":["data:/data"],
              "Mounts":[{"Type":"tmpfs","Target":"/run"}]},
            "Unknown":"newer clients send fields we do not know"}"#;
        let options = options(body, Some("web")).unwrap();
        assert_eq!(options.name.as_deref(), Some("web"));
        assert_eq!(options.image, "nginx");
        assert!(options.command.is_empty());
        assert_eq!(
            options.entrypoint,
            Some(vec!["/init".to_string(), "-v".to_string()])
        );
        assert_eq!(options.env, ["A=1"]);
        assert_eq!(options.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(options.expose.len(), 1);
        assert_eq!(options.publish.len(), 1);
        assert_eq!(options.publish[0].1.host_port, "8080");
        assert_eq!(options.restart.name, "on-failure");
        assert_eq!(options.restart.maximum_retry_count, 3);
        assert!(options.auto_remove && options.tty && options.interactive);
        assert_eq!(options.network, "bridge");
        assert_eq!(options.memory, 67108864);
        assert_eq!(options.volumes, ["data:/data"]);
        assert_eq!(options.mounts, ["type=tmpfs,target=/run"]);
    }

    #[test]
    fn wrong_types_name_their_field() {
        for (body, field) in [
            (r#"{"Image":"x","Cmd":"true","Env":[1]}"#, "Env"),
            (
                r#"{"Image":"x","HostConfig":{"Memory":"lots"}}"#,
                "HostConfig.Memory",
            ),
            (r#"{"Image":"x","Tty":"yes"}"#, "Tty"),
            (r#"{"Cmd":["true"]}"#, "Image"),
        ] {
            let err = options(body.as_bytes(), None).unwrap_err().to_string();
            assert!(err.contains(field), "{body}: {err}");
        }
        assert!(options(b"{not json", None)
            .unwrap_err()
            .to_string()
            .contains("invalid JSON"));
    }
}
