//! mini-api: the Docker Engine API over mini's engine, so that the docker CLI, compose and the
//! SDKs drive mini. One more front end beside the CLI: each request opens the engine on the
//! instance's state and calls the same operations `mini` calls; no container belongs to the
//! service, and `mini` keeps working beside it on the same state.
//!
//! HTTP/1.1 (hyper) on a unix socket (mode 0660), with versioned (`/v1.24`..`/v1.44`) and
//! unversioned paths, Docker's `Api-Version` and `Ostype` headers, and errors as
//! `{"message": ...}` with Docker's status codes. The engine is synchronous (files, locks,
//! process waits), so handlers run on tokio's blocking pool.
//!
//! Served so far (routes.rs): `_ping`, `version`, `info`, `containers/json`,
//! `containers/{id}/json`, `start`, `stop`, `restart`, `kill`, `pause`, `unpause`, `wait`,
//! `logs` (not `follow`), `DELETE`, `containers/create`, `images/create` (pull), `images/json`,
//! `images/{name}/json`, `system/df`.

mod archive;
mod attach;
mod create;
mod exec;
mod objects;
mod pull;
mod query;
mod routes;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Every response's body: whole, or (for `wait`) sent once ready after the headers.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;
use hyper::body::Incoming;
use hyper::{Request, Response};

/// The API version mini speaks (the newest docker CLI refuses servers below it), and the
/// oldest it answers.
pub const API_VERSION: &str = "1.44";
pub const MIN_API_VERSION: &str = "1.24";

/// Where the instance's state is: what every request opens the engine on.
#[derive(Debug, Clone)]
pub struct Instance {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub config: PathBuf,
}

/// What the service keeps between requests: the instance, and how busy it is (for `--time`).
#[derive(Debug)]
struct Shared {
    instance: Instance,
    hub: attach::Hub,
    execs: exec::Execs,
    started: Instant,
    /// Milliseconds since `started` of the last request's end.
    last_active: AtomicU64,
    open: AtomicUsize,
}

/// Serves the API on `uri` (`unix:///path`) until stopped or, with `idle`, until no request
/// has come for that long.
pub fn serve(instance: Instance, uri: &str, idle: Option<Duration>) -> Result<(), String> {
    let path = match uri.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => PathBuf::from(path),
        _ => {
            return Err(format!(
                "{uri}: mini serves the API on a unix socket (unix:///path); tcp:// is not supported yet"
            ))
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the service: {e}"))?;
    let result = runtime.block_on(run(instance, path, idle));
    // Handlers still waiting (a `wait` on a container that runs on) must not hold the exit.
    runtime.shutdown_background();
    result
}

async fn run(instance: Instance, path: PathBuf, idle: Option<Duration>) -> Result<(), String> {
    let listener = bind(&path)?;
    let shared = Arc::new(Shared {
        instance,
        hub: attach::Hub::default(),
        execs: exec::Execs::default(),
        started: Instant::now(),
        last_active: AtomicU64::new(0),
        open: AtomicUsize::new(0),
    });
    let _remove = RemoveOnDrop(path.clone());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM: {e}"))?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("SIGINT: {e}"))?;
    loop {
        // SIGTERM and SIGINT end the service (its socket goes); containers run on.
        let next = tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            next = accept(&listener, &shared, idle) => next,
        };
        let Some(accepted) = next else {
            return Ok(());
        };
        let (stream, _) = accepted.map_err(|e| format!("accepting on {}: {e}", path.display()))?;
        let shared = shared.clone();
        shared.open.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service_shared = shared.clone();
            let service =
                hyper::service::service_fn(move |request| handle(service_shared.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .with_upgrades()
                .await;
            shared.open.fetch_sub(1, Ordering::SeqCst);
            touch(&shared);
        });
    }
}

/// The next connection; None once the service has been idle for `idle`.
async fn accept(
    listener: &tokio::net::UnixListener,
    shared: &Shared,
    idle: Option<Duration>,
) -> Option<std::io::Result<(tokio::net::UnixStream, tokio::net::unix::SocketAddr)>> {
    let Some(idle) = idle else {
        return Some(listener.accept().await);
    };
    loop {
        match tokio::time::timeout(Duration::from_millis(200), listener.accept()).await {
            Ok(accepted) => return Some(accepted),
            Err(_) => {
                if shared.open.load(Ordering::SeqCst) == 0 && idle_for(shared) >= idle {
                    return None;
                }
            }
        }
    }
}

fn idle_for(shared: &Shared) -> Duration {
    let last = Duration::from_millis(shared.last_active.load(Ordering::SeqCst));
    shared.started.elapsed().saturating_sub(last)
}

fn touch(shared: &Shared) {
    let now = shared.started.elapsed().as_millis() as u64;
    shared.last_active.store(now, Ordering::SeqCst);
}

/// The socket, 0660; one left by a service that is gone is replaced, one that answers is not.
fn bind(path: &Path) -> Result<tokio::net::UnixListener, String> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{}: another service answers on this socket",
                path.display()
            ));
        }
        std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| format!("listening on {}: {e}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(listener)
}

/// Removes the socket when the service ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    touch(&shared);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = query::parse(request.uri().query().unwrap_or_default());
    let unversioned = path.trim_start_matches('/');
    let unversioned = match unversioned.split_once('/') {
        Some((v, rest)) if v.starts_with('v') && v[1..].contains('.') => rest,
        _ => unversioned,
    }
    .to_string();
    let segments: Vec<&str> = unversioned.split('/').collect();
    if method == hyper::Method::POST {
        if let ["containers", id, "attach"] = segments.as_slice() {
            let reply = attach_request(shared.clone(), request, id, &query).await;
            touch(&shared);
            return Ok(reply);
        }
        if let ["exec", id, "start"] = segments.as_slice() {
            let reply = exec_start(shared.clone(), request, id).await;
            touch(&shared);
            return Ok(reply);
        }
        if let ["containers", id, "wait"] = segments.as_slice() {
            return Ok(wait_request(shared.clone(), id, &query).await);
        }
    }
    if method == hyper::Method::GET {
        if let ["containers", id, "logs"] = segments.as_slice() {
            return Ok(logs_request(shared.clone(), id, &query).await);
        }
        if let ["containers", id, "export"] = segments.as_slice() {
            return Ok(export_request(shared.clone(), id).await);
        }
    }
    if let ["containers", id, "archive"] = segments.as_slice() {
        let reply = archive::request(&shared.instance, request, id, &query).await;
        touch(&shared);
        return Ok(reply);
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let instance = shared.instance.clone();
    // A pull is async (the registry client); everything else calls the synchronous engine.
    if method == hyper::Method::POST && unversioned == "images/create" {
        let reply = pull::pull(&instance, &query).await;
        touch(&shared);
        return Ok(reply.into_response());
    }
    let routed = shared.clone();
    let reply = tokio::task::spawn_blocking(move || {
        routes::route(
            &routed.instance,
            &routed.hub,
            &routed.execs,
            &method,
            &path,
            &query,
            &body,
        )
    })
    .await
    .unwrap_or_else(|err| routes::Reply::error(500, format!("the handler failed: {err}")));
    touch(&shared);
    Ok(reply.into_response())
}

/// `POST /containers/{id}/attach`: answered with `101 UPGRADED`; the relay runs on the
/// upgraded connection (attach.rs), waiting for the container's start if it is not running.
async fn attach_request(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    id: &str,
    query: &[(String, String)],
) -> Response<Body> {
    let record = match find_container(&shared, id).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let flag = |key: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .is_some_and(|(_, v)| query::truthy(v))
    };
    let streams = attach::Streams {
        stdin: flag("stdin"),
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        tty: record.config.tty,
    };
    let upgrade = hyper::upgrade::on(request);
    let runroot = shared.instance.runroot.clone();
    let relayed = shared.clone();
    relayed.open.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let client = hyper_util::rt::TokioIo::new(upgraded);
            let monitor = if record.is_running() {
                mini_runtime::attach::connect(&runroot, record.short_id()).ok()
            } else {
                relayed.hub.wait_for_start(&record.id).await.ok()
            };
            if let Some(monitor) = monitor {
                attach::relay(&relayed.hub, &record.id, client, monitor, streams).await;
            }
        }
        relayed.open.fetch_sub(1, Ordering::SeqCst);
        touch(&relayed);
    });
    upgraded(streams.tty)
}

/// `101 UPGRADED`: the connection is the stream from here on (raw for a tty, else frames).
fn upgraded(tty: bool) -> Response<Body> {
    let kind = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Response::builder()
        .status(hyper::StatusCode::SWITCHING_PROTOCOLS)
        .header("Content-Type", kind)
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .header("Api-Version", API_VERSION)
        .body(Full::new(Bytes::new()).boxed())
        .expect("a response of valid parts")
}

/// `POST /exec/{id}/start`: detached, 200 once the process runs; attached, `101 UPGRADED`
/// and the process's streams on the connection until it ends (exec.rs).
async fn exec_start(shared: Arc<Shared>, request: Request<Incoming>, id: &str) -> Response<Body> {
    let exec = match shared.execs.get(id) {
        Ok(exec) => exec,
        Err(err) => return routes::failure(err).into_response(),
    };
    let wants_upgrade = request.headers().contains_key(hyper::header::UPGRADE);
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let options: serde_json::Value = if body.is_empty() {
        serde_json::Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(err) => {
                return routes::Reply::error(400, format!("invalid JSON: {err}")).into_response()
            }
        }
    };
    let detach = options["Detach"].as_bool().unwrap_or(false);
    let size = options["ConsoleSize"].as_array().and_then(|size| {
        let rows = u16::try_from(size.first()?.as_u64()?).ok()?;
        let columns = u16::try_from(size.get(1)?.as_u64()?).ok()?;
        Some((rows, columns)).filter(|&(r, c)| r > 0 && c > 0)
    });
    if let Err(err) = exec::claim(&exec) {
        return routes::failure(err).into_response();
    }
    if detach {
        return match exec::start_detached(&shared.instance, &exec).await {
            Ok(()) => routes::Reply::Empty(200).into_response(),
            Err(err) => routes::failure(err).into_response(),
        };
    }
    if !wants_upgrade {
        return routes::Reply::error(
            400,
            "an attached exec start needs a connection upgrade (Connection: Upgrade, Upgrade: tcp)",
        )
        .into_response();
    }
    let request = Request::from_parts(parts, Full::new(Bytes::new()));
    let upgrade = hyper::upgrade::on(request);
    let relayed = shared.clone();
    relayed.open.fetch_add(1, Ordering::SeqCst);
    // The start's Tty decides the framing (docker-py may ask otherwise than the create did).
    let tty = options["Tty"].as_bool().unwrap_or(exec.config.tty);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let client = hyper_util::rt::TokioIo::new(upgraded);
            exec::run_attached(&relayed.instance, &exec, client, size, tty).await;
        }
        relayed.open.fetch_sub(1, Ordering::SeqCst);
        touch(&relayed);
    });
    upgraded(tty)
}

/// `POST /containers/{id}/wait`: the headers go at once (the docker CLI waits for them before
/// it starts the container), the status when the condition is met.
async fn wait_request(shared: Arc<Shared>, id: &str, query: &[(String, String)]) -> Response<Body> {
    let condition = routes::condition(query);
    if !["not-running", "next-exit", "removed"].contains(&condition) {
        return routes::Reply::error(400, format!("invalid condition: {condition:?}"))
            .into_response();
    }
    if let Err(response) = find_container(&shared, id).await {
        return response;
    }
    let waiting = shared.clone();
    let id = id.to_string();
    let query = query.to_vec();
    // The client may go before the condition is met: the waiting thread then stops too.
    let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cancel = SetOnDrop(gone.clone());
    let task = tokio::task::spawn_blocking(move || {
        let engine = mini_runtime::Engine::open(
            &waiting.instance.root,
            &waiting.instance.runroot,
            &waiting.instance.config,
        );
        let reply = engine
            .and_then(|engine| routes::wait(&engine, &waiting.hub, &id, &query, &gone))
            .unwrap_or_else(routes::failure);
        match reply {
            routes::Reply::Json(_, value) => value,
            _ => serde_json::json!({"StatusCode": -1, "Error": {"Message": "waiting failed"}}),
        }
    });
    let body = futures_util::stream::once(async move {
        let _cancel = cancel;
        let value = task.await.unwrap_or_else(
            |err| serde_json::json!({"StatusCode": -1, "Error": {"Message": err.to_string()}}),
        );
        let mut bytes = serde_json::to_vec(&value).expect("JSON values serialize");
        bytes.push(b'\n');
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(bytes)))
    });
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .header("Api-Version", API_VERSION)
        .body(BodyExt::boxed(http_body_util::StreamBody::new(body)))
        .expect("a response of valid parts")
}

/// Sets its flag when dropped: a response body that goes unsent tells its worker to stop.
struct SetOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// `GET /containers/{id}/logs`: the log in frames (raw for a tty), streamed as it is read; with
/// `follow`, on until the container ends or the client goes.
async fn logs_request(shared: Arc<Shared>, id: &str, query: &[(String, String)]) -> Response<Body> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    let (ready, headers) = tokio::sync::oneshot::channel::<Result<bool, routes::Reply>>();
    let reading = shared.clone();
    let id = id.to_string();
    let query = query.to_vec();
    tokio::task::spawn_blocking(move || {
        let instance = &reading.instance;
        let engine =
            match mini_runtime::Engine::open(&instance.root, &instance.runroot, &instance.config) {
                Ok(engine) => engine,
                Err(err) => return drop(ready.send(Err(routes::failure(err)))),
            };
        let request = match routes::log_request(&engine, &id, &query) {
            Ok(request) => request,
            Err(err) => return drop(ready.send(Err(routes::failure(err)))),
        };
        if ready.send(Ok(request.record.config.tty)).is_err() {
            return;
        }
        let _ = engine.logs(&request.record, &request.options, |entries| {
            let bytes = routes::log_bytes(&request, entries);
            if bytes.is_empty() {
                return !sender.is_closed();
            }
            sender.blocking_send(Bytes::from(bytes)).is_ok()
        });
    });
    let tty = match headers.await {
        Ok(Ok(tty)) => tty,
        Ok(Err(reply)) => return reply.into_response(),
        Err(_) => return routes::Reply::error(500, "reading the log failed").into_response(),
    };
    let kind = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    streamed(receiver, kind)
}

/// A 200 whose body is what arrives on `receiver`, sent as it arrives.
pub(crate) fn streamed(receiver: tokio::sync::mpsc::Receiver<Bytes>, kind: &str) -> Response<Body> {
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let bytes = receiver.recv().await?;
        Some((
            Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(bytes)),
            receiver,
        ))
    });
    Response::builder()
        .status(200)
        .header("Content-Type", kind)
        .header("Api-Version", API_VERSION)
        .header("Ostype", "linux")
        .body(BodyExt::boxed(http_body_util::StreamBody::new(stream)))
        .expect("a response of valid parts")
}

/// Writes into a channel a response body reads from (a synchronous engine call's output, as
/// a stream); fails once the client has gone.
pub(crate) struct ChannelWriter(tokio::sync::mpsc::Sender<Bytes>);

impl ChannelWriter {
    pub(crate) fn buffered(
        sender: tokio::sync::mpsc::Sender<Bytes>,
    ) -> std::io::BufWriter<ChannelWriter> {
        std::io::BufWriter::with_capacity(64 * 1024, ChannelWriter(sender))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /containers/{id}/export`: the container's filesystem as a tar stream.
async fn export_request(shared: Arc<Shared>, id: &str) -> Response<Body> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    let (ready, headers) = tokio::sync::oneshot::channel::<Result<(), routes::Reply>>();
    let instance = shared.instance.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let found = mini_runtime::Engine::open(&instance.root, &instance.runroot, &instance.config)
            .and_then(|engine| engine.find(&id).map(|record| (engine, record)));
        let (engine, record) = match found {
            Ok(found) => found,
            Err(err) => return drop(ready.send(Err(routes::failure(err)))),
        };
        if ready.send(Ok(())).is_ok() {
            let _ = engine.export(&record.id, ChannelWriter::buffered(sender));
        }
    });
    match headers.await {
        Ok(Ok(())) => streamed(receiver, "application/x-tar"),
        Ok(Err(reply)) => reply.into_response(),
        Err(_) => routes::Reply::error(500, "exporting failed").into_response(),
    }
}

/// The container a request names, or the response that says why there is none (404, ...).
async fn find_container(
    shared: &Shared,
    id: &str,
) -> Result<mini_runtime::ContainerRecord, Response<Body>> {
    let instance = shared.instance.clone();
    let text = id.to_string();
    let found = tokio::task::spawn_blocking(move || {
        mini_runtime::Engine::open(&instance.root, &instance.runroot, &instance.config)
            .and_then(|engine| engine.find(&text))
    })
    .await;
    match found {
        Ok(Ok(record)) => Ok(record),
        Ok(Err(err)) => Err(routes::failure(err).into_response()),
        Err(err) => Err(routes::Reply::error(500, err.to_string()).into_response()),
    }
}
