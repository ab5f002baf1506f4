//! `networks` and `volumes`: create, list (with filters), inspect, remove, prune, and a
//! network's connect and disconnect, through the engine's operations (runtime's objects.rs),
//! the same ones `mini network` and `mini volume` call.

use std::collections::BTreeMap;

use mini_runtime::objects::{network_matches, volume_matches};
use mini_runtime::record::Attachment;
use mini_runtime::{Engine, Error, Result};
use serde_json::{json, Value};

use crate::create::{boolean, strings, text};
use crate::routes::{filters, flag, Reply};

/// The request's JSON body (none: null).
fn body_json(body: &[u8]) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| Error::Invalid(format!("invalid JSON: {e}")))
}

/// A JSON object of strings (labels), null for none.
fn labels(value: &Value, field: &str) -> Result<BTreeMap<String, String>> {
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(Error::Invalid(format!(
                    "{field}: {k}: a string is expected"
                ))),
            })
            .collect(),
        _ => Err(Error::Invalid(format!("{field}: an object is expected"))),
    }
}

/// `GET /networks`.
pub fn networks(engine: &Engine, query: &[(String, String)]) -> Result<Reply> {
    let filters = filters(query)?;
    let mut list = Vec::new();
    for record in engine.networks.list()? {
        if network_matches(&record, &filters) {
            list.push(engine.network_json(&record)?);
        }
    }
    Ok(Reply::Json(200, Value::Array(list)))
}

/// `GET /networks/{id}`.
pub fn network(engine: &Engine, id: &str) -> Result<Reply> {
    let record = engine.networks.get(id)?;
    Ok(Reply::Json(200, engine.network_json(&record)?))
}

/// `POST /networks/create`: 201 with the id.
pub fn network_create(engine: &Engine, body: &[u8]) -> Result<Reply> {
    let value = body_json(body)?;
    let name = text(&value["Name"], "Name")?
        .ok_or_else(|| Error::Invalid("Name: a network needs a name".into()))?;
    let driver = text(&value["Driver"], "Driver")?.unwrap_or_else(|| "bridge".into());
    for field in ["Internal", "EnableIPv6", "Ingress", "ConfigOnly"] {
        if boolean(&value[field], field)? {
            return Err(Error::Invalid(format!(
                "{field}: mini's networks are IPv4 bridges with NAT; {field} is not supported"
            )));
        }
    }
    let mut subnet = None;
    let mut gateway = None;
    if let Some(configs) = value["IPAM"]["Config"].as_array() {
        if configs.len() > 1 {
            return Err(Error::Invalid(
                "IPAM.Config: mini's networks have one IPv4 subnet".into(),
            ));
        }
        if let Some(config) = configs.first() {
            subnet = text(&config["Subnet"], "IPAM.Config.Subnet")?;
            gateway = text(&config["Gateway"], "IPAM.Config.Gateway")?;
        }
    }
    if engine.networks.get(&name).is_ok_and(|n| n.name == name) {
        return Err(Error::Conflict(format!(
            "network with name {name} already exists"
        )));
    }
    let record = engine.network_create(
        &name,
        &driver,
        subnet.as_deref(),
        gateway.as_deref(),
        labels(&value["Labels"], "Labels")?,
    )?;
    Ok(Reply::Json(201, json!({"Id": record.id, "Warning": ""})))
}

/// `DELETE /networks/{id}`.
pub fn network_remove(engine: &Engine, id: &str) -> Result<Reply> {
    let record = engine.networks.get(id)?;
    engine.network_remove(&record)?;
    Ok(Reply::Empty(204))
}

/// `POST /networks/{id}/connect`.
pub fn network_connect(engine: &Engine, id: &str, body: &[u8]) -> Result<Reply> {
    let value = body_json(body)?;
    let container = text(&value["Container"], "Container")?
        .ok_or_else(|| Error::Invalid("Container: which container to connect".into()))?;
    let record = engine.networks.get(id)?;
    let endpoint = &value["EndpointConfig"];
    let ip = text(
        &endpoint["IPAMConfig"]["IPv4Address"],
        "EndpointConfig.IPAMConfig.IPv4Address",
    )?;
    engine.network_connect(
        &container,
        Attachment {
            network: record.name,
            aliases: strings(&endpoint["Aliases"], "EndpointConfig.Aliases")?,
            ip_address: ip.unwrap_or_default(),
        },
    )?;
    Ok(Reply::Empty(200))
}

/// `POST /networks/{id}/disconnect`.
pub fn network_disconnect(engine: &Engine, id: &str, body: &[u8]) -> Result<Reply> {
    let value = body_json(body)?;
    let container = text(&value["Container"], "Container")?
        .ok_or_else(|| Error::Invalid("Container: which container to disconnect".into()))?;
    let name = match engine.networks.get(id) {
        Ok(record) => record.name,
        // Force also takes a container off a network that is gone.
        Err(_) if boolean(&value["Force"], "Force")? => id.to_string(),
        Err(err) => return Err(err.into()),
    };
    engine.network_disconnect(&name, &container)?;
    Ok(Reply::Empty(200))
}

/// `POST /networks/prune`.
pub fn network_prune(engine: &Engine) -> Result<Reply> {
    let deleted = engine.network_prune()?;
    Ok(Reply::Json(200, json!({"NetworksDeleted": deleted})))
}

/// `GET /volumes`.
pub fn volumes(engine: &Engine, query: &[(String, String)]) -> Result<Reply> {
    let filters = filters(query)?;
    let list: Vec<Value> = engine
        .volumes_in_use()?
        .into_iter()
        .filter(|(v, used)| volume_matches(v, *used, &filters))
        .map(|(v, _)| engine.volume_json(&v))
        .collect();
    Ok(Reply::Json(200, json!({"Volumes": list, "Warnings": null})))
}

/// `GET /volumes/{name}`.
pub fn volume(engine: &Engine, name: &str) -> Result<Reply> {
    let volume = engine.volumes.get(name)?;
    Ok(Reply::Json(200, engine.volume_json(&volume)))
}

/// `POST /volumes/create`: 201 with the volume (an existing name: that volume).
pub fn volume_create(engine: &Engine, body: &[u8]) -> Result<Reply> {
    let value = body_json(body)?;
    let name = text(&value["Name"], "Name")?;
    let driver = text(&value["Driver"], "Driver")?.unwrap_or_else(|| "local".into());
    let options: Vec<String> = labels(&value["DriverOpts"], "DriverOpts")?
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut labels = labels(&value["Labels"], "Labels")?;
    if name.is_none() {
        // A volume made without a name is anonymous, as in Docker (API 1.42): prune takes it.
        labels.insert(mini_runtime::volumes::ANONYMOUS_LABEL.into(), String::new());
    }
    let (volume, _) = engine.volume_create(name.as_deref(), &driver, &options, labels)?;
    Ok(Reply::Json(201, engine.volume_json(&volume)))
}

/// `DELETE /volumes/{name}`: 409 while a container uses it; `force` ignores a missing one.
pub fn volume_remove(engine: &Engine, name: &str, query: &[(String, String)]) -> Result<Reply> {
    match engine.volume_remove(name) {
        Ok(_) => Ok(Reply::Empty(204)),
        Err(Error::NoSuchVolume(_)) if flag(query, "force") => Ok(Reply::Empty(204)),
        Err(err) => Err(err),
    }
}

/// `POST /volumes/prune`: anonymous volumes, or all unused ones with the filter `all=true`.
pub fn volume_prune(engine: &Engine, query: &[(String, String)]) -> Result<Reply> {
    let all = filters(query)?
        .iter()
        .any(|(k, v)| k == "all" && crate::query::truthy(v));
    let (deleted, reclaimed) = engine.volume_prune(all)?;
    Ok(Reply::Json(
        200,
        json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}
