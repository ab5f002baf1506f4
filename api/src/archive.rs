//! `/containers/{id}/archive`: `HEAD` (what is at a path, in the `X-Docker-Container-Path-Stat`
//! header), `GET` (the path as a tar stream, streamed as the engine writes it) and `PUT` (a tar
//! stream extracted into a directory). The copying is the engine's, as `mini cp` does it:
//! every path resolved inside the container's root.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use mini_runtime::{CopyOptions, Engine, Error};
use serde_json::json;

use crate::routes::{failure, flag, value, Reply};
use crate::{Body, Instance};

/// Go's `os.FileMode` for a `st_mode`, as Docker's clients read it.
fn go_mode(mode: u32) -> u32 {
    let mut go = mode & 0o777;
    match mode & libc::S_IFMT {
        libc::S_IFDIR => go |= 1 << 31,
        libc::S_IFLNK => go |= 1 << 27,
        libc::S_IFBLK => go |= 1 << 26,
        libc::S_IFCHR => go |= (1 << 26) | (1 << 21),
        libc::S_IFIFO => go |= 1 << 25,
        libc::S_IFSOCK => go |= 1 << 24,
        _ => {}
    }
    if mode & libc::S_ISUID != 0 {
        go |= 1 << 23;
    }
    if mode & libc::S_ISGID != 0 {
        go |= 1 << 22;
    }
    if mode & libc::S_ISVTX != 0 {
        go |= 1 << 20;
    }
    go
}

fn open(instance: &Instance) -> mini_runtime::Result<Engine> {
    Engine::open(&instance.root, &instance.runroot, &instance.config)
}

/// The stat header's value: base64 of `{"name","size","mode","mtime","linkTarget"}`.
fn stat_header(engine: &Engine, id: &str, path: &str) -> mini_runtime::Result<String> {
    let stat = engine.path_stat(id, path)?;
    let mtime = chrono::DateTime::from_timestamp(stat.mtime.0, stat.mtime.1 as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let value = json!({
        "name": stat.name,
        "size": stat.size,
        "mode": go_mode(stat.mode),
        "mtime": mtime,
        "linkTarget": stat.link_target,
    });
    Ok(base64::engine::general_purpose::STANDARD.encode(value.to_string()))
}

pub async fn request(
    instance: &Instance,
    request: Request<Incoming>,
    id: &str,
    query: &[(String, String)],
) -> Response<Body> {
    let Some(path) = value(query, "path").map(String::from) else {
        return Reply::error(400, "path is required").into_response();
    };
    let method = request.method().clone();
    let instance = instance.clone();
    let id = id.to_string();
    match method {
        Method::HEAD => {
            let stat = tokio::task::spawn_blocking(move || {
                open(&instance).and_then(|engine| stat_header(&engine, &id, &path))
            })
            .await;
            match stat {
                Ok(Ok(header)) => with_stat(Reply::Empty(200).into_response(), &header),
                Ok(Err(err)) => failure(err).into_response(),
                Err(err) => Reply::error(500, err.to_string()).into_response(),
            }
        }
        Method::GET => get(instance, id, path).await,
        Method::PUT => {
            let options = CopyOptions {
                archive: flag(query, "copyUIDGID"),
                follow_link: false,
            };
            // The whole archive first: the engine reads it from one synchronous reader.
            let body = match request.into_body().collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) => {
                    return Reply::error(400, format!("reading the archive: {err}")).into_response()
                }
            };
            let done = tokio::task::spawn_blocking(move || {
                open(&instance).and_then(|engine| {
                    engine.copy_in(&id, &path, options, std::io::Cursor::new(body))
                })
            })
            .await;
            match done {
                Ok(Ok(())) => Reply::Empty(200).into_response(),
                Ok(Err(err @ Error::Copy(_))) => Reply::error(400, err.to_string()).into_response(),
                Ok(Err(err)) => failure(err).into_response(),
                Err(err) => Reply::error(500, err.to_string()).into_response(),
            }
        }
        _ => Reply::error(404, "page not found").into_response(),
    }
}

fn with_stat(mut response: Response<Body>, header: &str) -> Response<Body> {
    if let Ok(value) = hyper::header::HeaderValue::from_str(header) {
        response
            .headers_mut()
            .insert("X-Docker-Container-Path-Stat", value);
    }
    response
}

/// `GET`: the stat header, then the archive as the engine writes it.
async fn get(instance: Instance, id: String, path: String) -> Response<Body> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    let (ready, headers) = tokio::sync::oneshot::channel::<Result<String, Reply>>();
    tokio::task::spawn_blocking(move || {
        let engine = match open(&instance) {
            Ok(engine) => engine,
            Err(err) => return drop(ready.send(Err(failure(err)))),
        };
        match stat_header(&engine, &id, &path) {
            Ok(header) => {
                if ready.send(Ok(header)).is_err() {
                    return;
                }
            }
            Err(err) => return drop(ready.send(Err(failure(err)))),
        }
        let writer = crate::ChannelWriter::buffered(sender);
        // An error after the headers can only cut the stream short; the client sees a
        // truncated archive.
        let _ = engine.copy_out(&id, &path, CopyOptions::default(), writer);
    });
    let header = match headers.await {
        Ok(Ok(header)) => header,
        Ok(Err(reply)) => return reply.into_response(),
        Err(_) => return Reply::error(500, "reading the path failed").into_response(),
    };
    let response = crate::streamed(receiver, "application/x-tar");
    with_stat(response, &header)
}
