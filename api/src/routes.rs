//! The endpoints: each one translates a request into an engine call and its result into
//! Docker's response. Paths may carry a version (`/v1.41/containers/json`).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Response, StatusCode};
use mini_runtime::{ContainerRecord, Engine, Error};
use serde_json::{json, Value};

use crate::query::truthy;
use crate::{Instance, API_VERSION, MIN_API_VERSION};

/// What a handler answers.
#[derive(Debug)]
pub enum Reply {
    Json(u16, Value),
    Empty(u16),
    Bytes(u16, &'static str, Vec<u8>),
}

impl Reply {
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::Json(status, json!({"message": message.into()}))
    }

    pub fn into_response(self) -> Response<crate::Body> {
        let (status, content_type, body) = match self {
            Reply::Json(status, value) => {
                let mut body = serde_json::to_vec(&value).expect("JSON values serialize");
                body.push(b'\n');
                (status, Some("application/json"), body)
            }
            Reply::Empty(status) => (status, None, Vec::new()),
            Reply::Bytes(status, kind, body) => (status, Some(kind), body),
        };
        let mut response = Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header("Api-Version", API_VERSION)
            .header("Docker-Experimental", "false")
            .header("Ostype", "linux")
            .header(
                "Server",
                format!("mini/{} (linux)", mini_runtime::info::VERSION),
            );
        if let Some(kind) = content_type {
            response = response.header("Content-Type", kind);
        }
        response
            .body(Full::new(Bytes::from(body)).boxed())
            .expect("a response of valid parts")
    }
}

/// Docker's status for an engine error.
pub(crate) fn failure(err: Error) -> Reply {
    let status = match &err {
        Error::NoSuchContainer(_) | Error::NoSuchVolume(_) | Error::NotFound(_) => 404,
        Error::Storage(mini_storage::Error::NoSuchImage(_)) => 404,
        Error::NameInUse { .. } | Error::Conflict(_) => 409,
        Error::Forbidden(_) => 403,
        Error::Invalid(_) | Error::Ambiguous(_) => 400,
        Error::Storage(mini_storage::Error::InvalidReference { .. }) => 400,
        _ => 500,
    };
    Reply::error(status, err.to_string())
}

pub(crate) fn value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn flag(query: &[(String, String)], key: &str) -> bool {
    value(query, key).is_some_and(truthy)
}

/// `/v1.41/x` -> `/x`; a version below the oldest answered is refused.
fn strip_version(path: &str) -> Result<&str, Reply> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let Some((version, rest)) = rest.split_once('/') else {
        return Ok(path);
    };
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    let Some(asked) = parse(version) else {
        return Ok(path);
    };
    let oldest = parse(MIN_API_VERSION).expect("a version");
    if asked < oldest {
        return Err(Reply::error(
            400,
            format!(
                "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            ),
        ));
    }
    Ok(&path[version.len() + 2..][..rest.len() + 1])
}

pub fn route(
    instance: &Instance,
    hub: &crate::attach::Hub,
    execs: &crate::exec::Execs,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Reply {
    let path = match strip_version(path) {
        Ok(path) => path,
        Err(reply) => return reply,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if matches!(segments.as_slice(), ["_ping"]) && (method == Method::GET || method == Method::HEAD)
    {
        return Reply::Bytes(200, "text/plain; charset=utf-8", b"OK".to_vec());
    }
    let engine = match Engine::open(&instance.root, &instance.runroot, &instance.config) {
        Ok(engine) => engine,
        Err(err) => return Reply::error(500, err.to_string()),
    };
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let result = match segments.as_slice() {
        ["version"] if get => Ok(version(&engine)),
        ["info"] if get => info(instance, &engine),
        ["system", "df"] if get => system_df(&engine),
        ["containers", "json"] if get => containers(&engine, query),
        ["containers", "create"] if post => {
            crate::create::create(&engine, body, value(query, "name"))
        }
        ["containers", id, "json"] if get => engine
            .find(id)
            .map(|r| Reply::Json(200, mini_runtime::views::container_json(&engine, &r))),
        ["containers", id, "start"] if post => start(&engine, hub, id),
        ["containers", id, "resize"] if post => resize(&engine, id, query),
        ["containers", id, "exec"] if post => crate::exec::create(&engine, execs, id, body),
        ["exec", id, "json"] if get => crate::exec::inspect(execs, id),
        ["exec", id, "resize"] if post => {
            let (rows, columns) = size(query);
            crate::exec::resize(execs, id, rows, columns)
        }
        ["containers", id, "stop"] if post => stop(&engine, id, query),
        ["containers", id, "restart"] if post => restart(&engine, id, query),
        ["containers", id, "kill"] if post => kill(&engine, id, query),
        ["containers", id, "pause"] if post => engine.pause(id).map(|_| Reply::Empty(204)),
        ["containers", id, "unpause"] if post => engine.unpause(id).map(|_| Reply::Empty(204)),
        ["containers", id] if method == Method::DELETE => engine
            .remove(id, flag(query, "force"), flag(query, "v"))
            .map(|_| Reply::Empty(204)),
        ["networks"] if get => crate::objects::networks(&engine, query),
        ["networks", "create"] if post => crate::objects::network_create(&engine, body),
        ["networks", "prune"] if post => crate::objects::network_prune(&engine),
        ["networks", id] if get => crate::objects::network(&engine, id),
        ["networks", id] if method == Method::DELETE => crate::objects::network_remove(&engine, id),
        ["networks", id, "connect"] if post => crate::objects::network_connect(&engine, id, body),
        ["networks", id, "disconnect"] if post => {
            crate::objects::network_disconnect(&engine, id, body)
        }
        ["volumes"] if get => crate::objects::volumes(&engine, query),
        ["volumes", "create"] if post => crate::objects::volume_create(&engine, body),
        ["volumes", "prune"] if post => crate::objects::volume_prune(&engine, query),
        ["volumes", name] if get => crate::objects::volume(&engine, name),
        ["volumes", name] if method == Method::DELETE => {
            crate::objects::volume_remove(&engine, name, query)
        }
        ["images", "prune"] if post => image_prune(&engine, query),
        ["images", name @ .., "tag"] if post && !name.is_empty() => {
            image_tag(&engine, &name.join("/"), query)
        }
        ["images", name @ ..] if method == Method::DELETE && !name.is_empty() => engine
            .image_remove(&name.join("/"), flag(query, "force"))
            .map(|removal| Reply::Json(200, removal_json(&removal))),
        ["containers", "prune"] if post => container_prune(&engine),
        ["containers", id, "top"] if get => top(&engine, id, query),
        ["containers", id, "rename"] if post => match value(query, "name") {
            Some(name) if !name.is_empty() => engine.rename(id, name).map(|_| Reply::Empty(204)),
            _ => Ok(Reply::error(400, "name is required")),
        },
        ["containers", id, "changes"] if get => engine.diff(id).map(|changes| {
            let list: Vec<Value> = changes
                .iter()
                .map(|c| {
                    let kind = match c.kind {
                        mini_storage::pack::ChangeKind::Modify => 0,
                        mini_storage::pack::ChangeKind::Add => 1,
                        mini_storage::pack::ChangeKind::Delete => 2,
                    };
                    json!({"Path": c.path, "Kind": kind})
                })
                .collect();
            Reply::Json(200, Value::Array(list))
        }),
        ["images", "json"] if get => images(&engine),
        ["images", name @ .., "json"] if get && !name.is_empty() => {
            mini_runtime::views::image_json(&engine, &name.join("/")).map(|v| Reply::Json(200, v))
        }
        ["swarm", "leave"] => Ok(Reply::error(503, "This node is not part of a swarm")),
        ["swarm", ..] | ["services", ..] | ["nodes", ..] | ["tasks", ..] | ["secrets", ..]
        | ["configs", ..] => Ok(Reply::error(
            503,
            "This node is not a swarm manager. mini runs containers on one host and has no swarm mode.",
        )),
        _ => Ok(Reply::error(404, "page not found")),
    };
    result.unwrap_or_else(failure)
}

fn version(engine: &Engine) -> Reply {
    let mut value = engine.version();
    // The docker CLI shows these from the Engine component's details.
    if let Some(details) = value["Components"][0]["Details"].as_object_mut() {
        details.insert("ApiVersion".into(), json!(API_VERSION));
        details.insert("MinAPIVersion".into(), json!(MIN_API_VERSION));
        details.insert("GitCommit".into(), json!(""));
        details.insert("GoVersion".into(), json!(""));
        details.insert("BuildTime".into(), json!(""));
    }
    let object = value.as_object_mut().expect("an object");
    object.insert("ApiVersion".into(), json!(API_VERSION));
    object.insert("MinAPIVersion".into(), json!(MIN_API_VERSION));
    object.insert("GitCommit".into(), json!(""));
    object.insert("GoVersion".into(), json!(""));
    object.insert("BuildTime".into(), json!(""));
    Reply::Json(200, value)
}

fn info(instance: &Instance, engine: &Engine) -> mini_runtime::Result<Reply> {
    let registry = mini_storage::RegistryConfig::load(&instance.config)?;
    let mut value = engine.info(&registry)?;
    value.as_object_mut().expect("an object").insert(
        "Swarm".into(),
        json!({"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null}),
    );
    Ok(Reply::Json(200, value))
}

fn system_df(engine: &Engine) -> mini_runtime::Result<Reply> {
    let usage = engine.disk_usage()?;
    Ok(Reply::Json(
        200,
        json!({
            "LayersSize": usage.images.size,
            "Images": [],
            "Containers": [],
            "Volumes": [],
            "BuildCache": [],
        }),
    ))
}

/// The `filters` parameter as pairs; both forms Docker's clients send, `{"k": ["v"]}` and
/// `{"k": {"v": true}}`.
pub(crate) fn filters(query: &[(String, String)]) -> mini_runtime::Result<Vec<(String, String)>> {
    Ok(match value(query, "filters") {
        Some(text) if !text.is_empty() => {
            let parsed: Value = serde_json::from_str(text)
                .map_err(|e| Error::Invalid(format!("invalid filter: {e}")))?;
            let mut pairs = Vec::new();
            for (key, values) in parsed.as_object().into_iter().flatten() {
                let list: Vec<String> = match values {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                    Value::Object(map) => map.keys().cloned().collect(),
                    _ => Vec::new(),
                };
                for v in list {
                    pairs.push((key.clone(), v));
                }
            }
            pairs
        }
        _ => Vec::new(),
    })
}

/// `GET /containers/json`: Docker's summaries, running ones unless `all`, with `filters`.
fn containers(engine: &Engine, query: &[(String, String)]) -> mini_runtime::Result<Reply> {
    let filters = filters(query)?;
    let mut records = engine.list()?;
    if !flag(query, "all") && !filters.iter().any(|(k, _)| k == "status") {
        records.retain(ContainerRecord::is_running);
    }
    records.retain(|r| mini_runtime::views::container_filters_match(r, &filters));
    if let Some(limit) = value(query, "limit").and_then(|l| l.parse::<usize>().ok()) {
        records.truncate(limit);
    }
    let list: Vec<Value> = records.iter().map(|r| summary(engine, r)).collect();
    Ok(Reply::Json(200, Value::Array(list)))
}

/// One entry of `GET /containers/json`.
fn summary(engine: &Engine, record: &ContainerRecord) -> Value {
    let inspect = mini_runtime::views::container_json(engine, record);
    let created = chrono::DateTime::parse_from_rfc3339(&record.created)
        .map(|t| t.timestamp())
        .unwrap_or(0);
    let mut ports = Vec::new();
    if let Some(endpoint) = record
        .network_settings
        .endpoint()
        .filter(|_| record.is_running())
    {
        for p in &endpoint.ports {
            ports.push(json!({
                "IP": p.host_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                "PrivatePort": p.container_port,
                "PublicPort": p.host_port,
                "Type": p.proto.as_str(),
            }));
        }
    }
    json!({
        "Id": record.id,
        "Names": [format!("/{}", record.name)],
        "Image": record.config.image,
        "ImageID": record.image_id,
        "Command": record.command_line(),
        "Created": created,
        "Ports": ports,
        "Labels": record.config.labels,
        "State": record.state.status,
        "Status": mini_runtime::views::status(record),
        "HostConfig": {"NetworkMode": record.host_config.network_mode},
        "NetworkSettings": {"Networks": inspect["NetworkSettings"]["Networks"]},
        "Mounts": inspect["Mounts"],
    })
}

/// Starts a container; attaches waiting for it get sockets connected before it runs.
fn start(engine: &Engine, hub: &crate::attach::Hub, id: &str) -> mini_runtime::Result<Reply> {
    let record = engine.find(id)?;
    if record.is_running() {
        return Ok(Reply::Empty(304));
    }
    let mut waiting = hub.take_pending(&record.id).into_iter();
    let Some(first) = waiting.next() else {
        engine.start(&record.id, false)?;
        return Ok(Reply::Empty(204));
    };
    if let mini_runtime::Started::Attached(socket) = engine.start(&record.id, true)? {
        let _ = first.send(socket);
    }
    for other in waiting {
        if let Ok(socket) = mini_runtime::attach::connect(&engine.store.runroot, record.short_id())
        {
            let _ = other.send(socket);
        }
    }
    Ok(Reply::Empty(204))
}

/// `POST /containers/{id}/wait`: until the container is not running (`not-running`, the
/// default), has run and ended after the request (`next-exit`), or is gone (`removed`).
pub(crate) fn wait(
    engine: &Engine,
    hub: &crate::attach::Hub,
    id: &str,
    query: &[(String, String)],
    gone: &std::sync::atomic::AtomicBool,
) -> mini_runtime::Result<Reply> {
    // Checked by the handler before the headers went (lib.rs's wait_request).
    let condition = condition(query);
    let first = engine.find(id)?;
    let full = first.id.clone();
    let mut last = first.clone();
    // The exit this wait saw from the container's monitor: the code, even once an --rm
    // container is gone, and the end of a run its restart policy starts again.
    let mut seen: Option<i32> = None;
    let mut watched = false;
    loop {
        let now = match engine.get(&full) {
            Ok(record) => Some(record),
            Err(Error::NoSuchContainer(_)) | Err(Error::Corrupt { .. }) | Err(Error::Io { .. }) => {
                None
            }
            Err(err) => return Err(err),
        };
        let done = match (&now, condition) {
            (None, _) => true,
            (Some(_), "removed") => false,
            (Some(_), _) if seen.is_some() => true,
            (Some(r), "next-exit") => {
                !r.is_running()
                    && (first.is_running() || r.state.started_at != first.state.started_at)
            }
            (Some(r), _) => !r.is_running(),
        };
        if let Some(record) = now {
            last = record;
        }
        if done {
            let code = match (seen, engine.get(&full)) {
                (Some(code), _) => code,
                (None, Ok(record)) if !record.is_running() => record.state.exit_code,
                _ => {
                    // Gone (--rm) before this wait saw it end: the attach that ran it has the
                    // code from the monitor's last frame, or will in a moment.
                    let mut code = hub.exit_seen(&full);
                    let unfinished = last.is_running() || last.state.status == "created";
                    for _ in 0..50 {
                        if code.is_some() || !unfinished {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        code = hub.exit_seen(&full);
                    }
                    code.unwrap_or(last.state.exit_code)
                }
            };
            return Ok(Reply::Json(200, json!({"StatusCode": code, "Error": null})));
        }
        if gone.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(Reply::Empty(204));
        }
        if last.is_running() && !watched && seen.is_none() {
            watched = true;
            match watch_exit(engine, &last, gone) {
                Some(code) => {
                    hub.record_exit(&full, code);
                    seen = Some(code);
                }
                None if gone.load(std::sync::atomic::Ordering::SeqCst) => {
                    return Ok(Reply::Empty(204))
                }
                None => {}
            }
            continue;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Listens on a running container's monitor (as an attach with no stdin) until it reports the
/// end of the container's process; None if the monitor goes first or the client does.
fn watch_exit(
    engine: &Engine,
    record: &ContainerRecord,
    gone: &std::sync::atomic::AtomicBool,
) -> Option<i32> {
    use std::io::Read;
    let mut stream =
        mini_runtime::attach::connect(&engine.store.runroot, record.short_id()).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .ok()?;
    let mut frames = mini_runtime::attach::Frames::default();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => frames.push(&buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                if gone.load(std::sync::atomic::Ordering::SeqCst) {
                    return None;
                }
                continue;
            }
            Err(_) => return None,
        }
        while let Ok(Some((kind, payload))) = frames.next_frame() {
            if kind == mini_runtime::attach::EXIT {
                let code = payload.get(..4)?;
                return Some(i32::from_le_bytes(code.try_into().ok()?));
            }
        }
    }
}

/// `wait`'s condition; an empty one (older CLIs send `condition=`) is the default.
pub(crate) fn condition(query: &[(String, String)]) -> &str {
    match value(query, "condition") {
        None | Some("") => "not-running",
        Some(condition) => condition,
    }
}

/// `h` and `w` of a resize.
fn size(query: &[(String, String)]) -> (u16, u16) {
    let number = |key| value(query, key).and_then(|v| v.parse().ok()).unwrap_or(0);
    (number("h"), number("w"))
}

/// `POST /containers/{id}/resize`: the container's terminal, through its monitor.
fn resize(engine: &Engine, id: &str, query: &[(String, String)]) -> mini_runtime::Result<Reply> {
    let record = engine.find(id)?;
    if !record.is_running() {
        return Err(Error::Conflict(format!(
            "Container {} is not running",
            record.id
        )));
    }
    let (rows, columns) = size(query);
    if record.config.tty {
        use std::io::Write;
        let mut payload = [0u8; 4];
        payload[..2].copy_from_slice(&rows.to_le_bytes());
        payload[2..].copy_from_slice(&columns.to_le_bytes());
        let mut monitor = mini_runtime::attach::connect(&engine.store.runroot, record.short_id())?;
        let _ = monitor.write_all(&mini_runtime::attach::frame(
            mini_runtime::attach::RESIZE,
            &payload,
        ));
    }
    Ok(Reply::Empty(200))
}

/// `DELETE /images/{name}` and `POST /images/prune`: Docker's list of what went.
fn removal_json(removal: &mini_runtime::objects::ImageRemoval) -> Value {
    let mut list: Vec<Value> = removal
        .untagged
        .iter()
        .map(|t| json!({"Untagged": mini_storage::ImageRef::familiar(t)}))
        .collect();
    list.extend(
        removal
            .deleted
            .iter()
            .chain(&removal.layers)
            .map(|d| json!({"Deleted": d})),
    );
    Value::Array(list)
}

fn image_prune(engine: &Engine, query: &[(String, String)]) -> mini_runtime::Result<Reply> {
    // `dangling=false` is `image prune -a`.
    let all = filters(query)?
        .iter()
        .any(|(k, v)| k == "dangling" && !crate::query::truthy(v));
    let removal = engine.image_prune(all)?;
    let deleted = removal_json(&removal);
    Ok(Reply::Json(
        200,
        json!({"ImagesDeleted": deleted, "SpaceReclaimed": removal.reclaimed}),
    ))
}

/// `POST /images/{name}/tag?repo=&tag=`.
fn image_tag(
    engine: &Engine,
    name: &str,
    query: &[(String, String)],
) -> mini_runtime::Result<Reply> {
    let repo = value(query, "repo").unwrap_or_default();
    if repo.is_empty() {
        return Ok(Reply::error(400, "repository name is required"));
    }
    let target = match value(query, "tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.to_string(),
    };
    let target = mini_storage::ImageRef::parse(&target)?;
    engine.images.tag(name, &target)?;
    Ok(Reply::Empty(201))
}

/// `POST /containers/prune`: the containers that are not running.
fn container_prune(engine: &Engine) -> mini_runtime::Result<Reply> {
    let mut deleted = Vec::new();
    for record in engine.list()?.iter().filter(|r| !r.is_running()) {
        if engine.remove(&record.id, false, false).is_ok() {
            deleted.push(record.id.clone());
        }
    }
    Ok(Reply::Json(
        200,
        json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
    ))
}

/// `GET /containers/{id}/top?ps_args=`: the host's `ps` rows of the container's processes.
fn top(engine: &Engine, id: &str, query: &[(String, String)]) -> mini_runtime::Result<Reply> {
    let record = engine.find(id)?;
    if !record.is_running() {
        return Err(Error::Conflict(format!(
            "Container {} is not running",
            record.id
        )));
    }
    let pids = engine.processes(&record.id)?;
    let args: Vec<&str> = match value(query, "ps_args").filter(|a| !a.is_empty()) {
        Some(args) => args.split_whitespace().collect(),
        None => vec!["-ef"],
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|err| Error::System(format!("running ps: {err}")))?;
    if !out.status.success() {
        return Err(Error::System(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let (titles, rows) = mini_runtime::views::ps_rows(&String::from_utf8_lossy(&out.stdout), &pids)
        .map_err(Error::System)?;
    Ok(Reply::Json(
        200,
        json!({"Titles": titles, "Processes": rows}),
    ))
}

fn timeout(query: &[(String, String)]) -> Option<i64> {
    value(query, "t")
        .or_else(|| value(query, "timeout"))
        .and_then(|t| t.parse().ok())
}

fn stop(engine: &Engine, id: &str, query: &[(String, String)]) -> mini_runtime::Result<Reply> {
    let record = engine.find(id)?;
    if !record.is_running() {
        return Ok(Reply::Empty(304));
    }
    engine.stop(&record.id, timeout(query))?;
    Ok(Reply::Empty(204))
}

fn restart(engine: &Engine, id: &str, query: &[(String, String)]) -> mini_runtime::Result<Reply> {
    let record = engine.stop(id, timeout(query))?;
    engine.start(&record.id, false)?;
    Ok(Reply::Empty(204))
}

fn kill(engine: &Engine, id: &str, query: &[(String, String)]) -> mini_runtime::Result<Reply> {
    let signal = mini_runtime::options::parse_signal(value(query, "signal").unwrap_or("KILL"))?;
    engine.kill(id, signal)?;
    Ok(Reply::Empty(204))
}

/// `GET /containers/{id}/logs`: what to send (validated before any header goes).
pub(crate) struct LogRequest {
    pub record: ContainerRecord,
    pub options: mini_runtime::logs::LogOptions,
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
}

pub(crate) fn log_request(
    engine: &Engine,
    id: &str,
    query: &[(String, String)],
) -> mini_runtime::Result<LogRequest> {
    let record = engine.find(id)?;
    let (stdout, stderr) = (flag(query, "stdout"), flag(query, "stderr"));
    if !stdout && !stderr {
        return Err(Error::Invalid(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let time = |key| -> mini_runtime::Result<_> {
        match value(query, key) {
            None | Some("") | Some("0") => Ok(None),
            Some(text) => mini_runtime::logs::parse_time(text).map(Some),
        }
    };
    let tail = match value(query, "tail") {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| Error::Invalid(format!("invalid value for tail: {n:?}")))?,
        ),
    };
    Ok(LogRequest {
        options: mini_runtime::logs::LogOptions {
            since: time("since")?,
            until: time("until")?,
            tail,
            follow: flag(query, "follow"),
        },
        timestamps: flag(query, "timestamps"),
        stdout,
        stderr,
        record,
    })
}

/// Log entries as the client reads them: Docker's 8-byte frames, or raw for a tty.
pub(crate) fn log_bytes(request: &LogRequest, entries: &[mini_runtime::logs::Entry]) -> Vec<u8> {
    let mut body = Vec::new();
    for entry in entries {
        let stream: u8 = if entry.stream == "stderr" { 2 } else { 1 };
        if (stream == 1 && !request.stdout) || (stream == 2 && !request.stderr) {
            continue;
        }
        let mut line = Vec::new();
        if request.timestamps {
            line.extend_from_slice(entry.time.as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(entry.log.as_bytes());
        if !request.record.config.tty {
            body.extend_from_slice(&[stream, 0, 0, 0]);
            body.extend_from_slice(&(line.len() as u32).to_be_bytes());
        }
        body.extend_from_slice(&line);
    }
    body
}

/// `GET /images/json`: Docker's summaries.
fn images(engine: &Engine) -> mini_runtime::Result<Reply> {
    let list: Vec<Value> = engine
        .images
        .list()?
        .iter()
        .map(|image| {
            let created = image
                .record
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map_or(0, |t| t.timestamp());
            let tags: Vec<String> = image
                .tags
                .iter()
                .map(|t| mini_storage::ImageRef::familiar(t))
                .collect();
            let digests: Vec<String> = image
                .record
                .repo_digests
                .iter()
                .map(|d| mini_storage::ImageRef::familiar(d))
                .collect();
            json!({
                "Id": image.record.id,
                "ParentId": "",
                "RepoTags": tags,
                "RepoDigests": digests,
                "Created": created,
                "Size": image.record.size,
                "SharedSize": -1,
                "VirtualSize": image.record.size,
                "Labels": null,
                "Containers": -1,
            })
        })
        .collect();
    Ok(Reply::Json(200, Value::Array(list)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_stripped_and_old_ones_refused() {
        assert_eq!(
            strip_version("/v1.41/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.44/_ping").unwrap(), "/_ping");
        assert_eq!(
            strip_version("/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/volumes").unwrap(), "/volumes");
        assert!(matches!(
            strip_version("/v1.12/info"),
            Err(Reply::Json(400, _))
        ));
    }
}
