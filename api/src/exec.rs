//! Execs: `POST /containers/{id}/exec` (create), `POST /exec/{id}/start` (over a connection
//! upgrade, or detached), `POST /exec/{id}/resize` and `GET /exec/{id}/json`.
//!
//! An exec runs as `mini exec` does, in a process of its own (the same command, re-executed
//! from mini's sealed view): libcontainer's tenant builder forks and joins the container's
//! namespaces, which must not happen in this multi-threaded service. The service relays the
//! process's stdio to the client in Docker's frames; for a tty, the process's stdio is a
//! pseudo-terminal of the service's, so `resize` sets its size and `mini exec` passes it on.
//! Execs live in the service's memory, as Docker keeps them in its daemon's.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use mini_runtime::{Engine, Error, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::create::{boolean, strings, text};
use crate::routes::Reply;
use crate::Instance;

/// What `POST /containers/{id}/exec` asked for.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    pub container: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub privileged: bool,
}

#[derive(Debug, Default)]
struct ExecState {
    running: bool,
    started: bool,
    pid: i32,
    exit_code: Option<i32>,
    /// The terminal's master side, while a tty exec runs (for resize).
    master: Option<Arc<OwnedFd>>,
    /// A size asked for before the terminal was there (clients resize right after the start).
    size: Option<[u8; 4]>,
}

#[derive(Debug)]
pub struct Exec {
    pub id: String,
    pub config: ExecConfig,
    state: Mutex<ExecState>,
}

/// The service's execs, by id.
#[derive(Debug, Default)]
pub struct Execs {
    map: Mutex<HashMap<String, Arc<Exec>>>,
}

impl Execs {
    pub fn get(&self, id: &str) -> Result<Arc<Exec>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such exec instance: {id}")))
    }
}

/// `POST /containers/{id}/exec`: 201 with the new exec's id.
pub fn create(engine: &Engine, execs: &Execs, id: &str, body: &[u8]) -> Result<Reply> {
    let value: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| Error::Invalid(format!("invalid JSON: {e}")))?
    };
    let record = engine.find(id)?;
    if record.is_paused() {
        return Err(Error::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            record.id
        )));
    }
    if !record.is_running() {
        return Err(Error::Conflict(format!(
            "Container {} is not running",
            record.id
        )));
    }
    let config = ExecConfig {
        container: record.id.clone(),
        cmd: strings(&value["Cmd"], "Cmd")?,
        env: strings(&value["Env"], "Env")?,
        user: text(&value["User"], "User")?,
        workdir: text(&value["WorkingDir"], "WorkingDir")?,
        tty: boolean(&value["Tty"], "Tty")?,
        stdin: boolean(&value["AttachStdin"], "AttachStdin")?,
        stdout: boolean(&value["AttachStdout"], "AttachStdout")?,
        stderr: boolean(&value["AttachStderr"], "AttachStderr")?,
        privileged: boolean(&value["Privileged"], "Privileged")?,
    };
    if config.cmd.is_empty() {
        return Err(Error::Invalid("No exec command specified".into()));
    }
    if config.privileged {
        return Err(Error::Invalid(
            "Privileged: mini runs an exec with its container's own privileges".into(),
        ));
    }
    let exec_id = mini_runtime::record::random_id()?;
    let exec = Arc::new(Exec {
        id: exec_id.clone(),
        config,
        state: Mutex::new(ExecState::default()),
    });
    execs
        .map
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(exec_id.clone(), exec);
    Ok(Reply::Json(201, json!({"Id": exec_id})))
}

/// `GET /exec/{id}/json`.
pub fn inspect(execs: &Execs, id: &str) -> Result<Reply> {
    let exec = execs.get(id)?;
    let state = exec.state.lock().unwrap_or_else(|e| e.into_inner());
    let config = &exec.config;
    Ok(Reply::Json(
        200,
        json!({
            "ID": exec.id,
            "Running": state.running,
            "ExitCode": state.exit_code,
            "ProcessConfig": {
                "tty": config.tty,
                "entrypoint": config.cmd[0],
                "arguments": &config.cmd[1..],
                "privileged": config.privileged,
                "user": config.user.clone().unwrap_or_default(),
            },
            "OpenStdin": config.stdin,
            "OpenStderr": config.stderr,
            "OpenStdout": config.stdout,
            "CanRemove": false,
            "ContainerID": config.container,
            "DetachKeys": "",
            "Pid": state.pid,
        }),
    ))
}

/// `POST /exec/{id}/resize?h=&w=`: the terminal's new size (the process sees SIGWINCH).
pub fn resize(execs: &Execs, id: &str, rows: u16, columns: u16) -> Result<Reply> {
    let exec = execs.get(id)?;
    let mut state = exec.state.lock().unwrap_or_else(|e| e.into_inner());
    let payload = size_payload(rows, columns);
    match &state.master {
        Some(master) => mini_runtime::attach::set_window_size(master.as_fd(), &payload),
        None if state.running || !state.started => state.size = Some(payload),
        None => return Err(Error::Conflict(format!("Exec {} is not running", exec.id))),
    }
    Ok(Reply::Empty(200))
}

fn size_payload(rows: u16, columns: u16) -> [u8; 4] {
    let mut payload = [0u8; 4];
    payload[..2].copy_from_slice(&rows.to_le_bytes());
    payload[2..].copy_from_slice(&columns.to_le_bytes());
    payload
}

/// Marks the exec started; an exec starts once (409 after).
pub fn claim(exec: &Exec) -> Result<()> {
    let mut state = exec.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.started {
        return Err(Error::Conflict(format!(
            "Exec {} has already been started",
            exec.id
        )));
    }
    state.started = true;
    state.running = true;
    Ok(())
}

/// The `mini exec` command line for this exec.
fn command(
    instance: &Instance,
    config: &ExecConfig,
    detach: bool,
) -> Result<tokio::process::Command> {
    let exe = mini_runtime::engine::self_exe()?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("--root")
        .arg(&instance.root)
        .arg("--runroot")
        .arg(&instance.runroot)
        .arg("--config")
        .arg(&instance.config)
        .arg("exec");
    if detach {
        command.arg("-d");
    }
    if config.stdin && !detach {
        command.arg("-i");
    }
    if config.tty {
        command.arg("-t");
    }
    for env in &config.env {
        // KEY=VALUE as given; a bare KEY would take the service's own value, which Docker
        // does not do (it is the client's to fill in).
        if env.contains('=') {
            command.arg("-e").arg(env);
        }
    }
    if let Some(user) = &config.user {
        command.arg("-u").arg(user);
    }
    if let Some(workdir) = &config.workdir {
        command.arg("-w").arg(workdir);
    }
    command.arg("--").arg(&config.container).args(&config.cmd);
    command.kill_on_drop(false);
    Ok(command)
}

/// `POST /exec/{id}/start` with `Detach`: the process starts and runs on; 200 once it has.
pub async fn start_detached(instance: &Instance, exec: &Exec) -> Result<()> {
    let mut command = command(instance, &exec.config, true)?;
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = command
        .spawn()
        .map_err(|e| Error::System(format!("starting the exec: {e}")))?;
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| Error::System(format!("starting the exec: {e}")))?;
    let mut state = exec.state.lock().unwrap_or_else(|e| e.into_inner());
    state.running = false;
    if !out.status.success() {
        state.exit_code = out.status.code();
        return Err(Error::System(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

/// Runs the exec attached: its output to `client` (Docker's frames, raw for a tty), the
/// client's input to its stdin; the exit code is recorded before the connection closes, since
/// the client asks for it as soon as the stream ends.
/// `raw`: the start's `Tty`, which decides the framing as in Docker (unframed output, stdout
/// and stderr together), whatever the process's terminal.
pub async fn run_attached<C>(
    instance: &Instance,
    exec: &Exec,
    client: C,
    size: Option<(u16, u16)>,
    raw: bool,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    if relay(instance, exec, client, size, raw).await.is_err() {
        // 126, as Docker's, when the process could not be started at all.
        finish(exec, 126);
    }
}

/// The exec has ended with `code`.
fn finish(exec: &Exec, code: i32) {
    let mut state = exec.state.lock().unwrap_or_else(|e| e.into_inner());
    state.running = false;
    state.master = None;
    state.exit_code = Some(code);
}

async fn relay<C>(
    instance: &Instance,
    exec: &Exec,
    client: C,
    size: Option<(u16, u16)>,
    raw: bool,
) -> std::io::Result<i32>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let config = &exec.config;
    let mut command = command(instance, config, false).map_err(std::io::Error::other)?;
    let (mut from_client, mut to_client) = tokio::io::split(client);
    if config.tty {
        let pty = nix::pty::openpty(None, None).map_err(std::io::Error::other)?;
        // The size the start asked for, or one a resize asked for before the terminal was
        // there; set before the process starts, so that it sees it at once. Resizes from now
        // on go to the terminal itself.
        {
            let mut state = exec.state.lock().unwrap_or_else(|e| e.into_inner());
            let asked = state.size.take();
            let given = size.map(|(rows, columns)| size_payload(rows, columns));
            if let Some(payload) = asked.or(given) {
                mini_runtime::attach::set_window_size(pty.master.as_fd(), &payload);
            }
            state.master = Some(Arc::new(pty.master.try_clone()?));
        }
        // The service's side of the terminal passes bytes as they are: the container's own
        // terminal has done the newline translation already (no \r\r\n).
        if let Ok(mut modes) = nix::sys::termios::tcgetattr(&pty.slave) {
            nix::sys::termios::cfmakeraw(&mut modes);
            let _ = nix::sys::termios::tcsetattr(
                &pty.slave,
                nix::sys::termios::SetArg::TCSANOW,
                &modes,
            );
        }
        let slave = std::fs::File::from(pty.slave);
        command
            .stdin(slave.try_clone()?)
            .stdout(slave.try_clone()?)
            .stderr(slave);
        let mut child = command.spawn()?;
        drop(command);
        let master = Arc::new(pty.master);
        exec.state.lock().unwrap_or_else(|e| e.into_inner()).pid =
            child.id().map_or(0, |p| p as i32);
        let reader = std::fs::File::from(master.try_clone()?);
        let writer = std::fs::File::from(master.try_clone()?);
        let mut reader = tokio::net::unix::pipe::Receiver::from_file_unchecked(reader)?;
        let mut writer = tokio::net::unix::pipe::Sender::from_file_unchecked(writer)?;
        let input = async {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match from_client.read(&mut buf).await {
                    Ok(0) | Err(_) => return std::future::pending::<()>().await,
                    Ok(n) => {
                        if writer.write_all(&buf[..n]).await.is_err() {
                            return std::future::pending::<()>().await;
                        }
                    }
                }
            }
        };
        let output = async {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                // EIO once the last holder of the terminal's other side has gone.
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if to_client
                            .write_all(&framed(raw, 1, &buf[..n]))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        };
        tokio::select! {
            _ = input => {}
            _ = output => {}
        }
        let code = exit_code(child.wait().await?);
        // Recorded before the stream ends: the client asks for it at once.
        finish(exec, code);
        let _ = to_client.shutdown().await;
        return Ok(code);
    }
    command
        .stdin(if config.stdin {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn()?;
    drop(command);
    exec.state.lock().unwrap_or_else(|e| e.into_inner()).pid = child.id().map_or(0, |p| p as i32);
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let input = async {
        let Some(mut stdin) = stdin else {
            return std::future::pending::<()>().await;
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from_client.read(&mut buf).await {
                Ok(n) if n > 0 && stdin.write_all(&buf[..n]).await.is_ok() => {}
                _ => break,
            }
        }
        // The client's half-close is the process's end of input; its output still flows.
        drop(stdin);
        std::future::pending::<()>().await
    };
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(16);
    let pump = |mut pipe: Box<dyn AsyncRead + Unpin + Send>,
                kind: u8,
                tx: tokio::sync::mpsc::Sender<(u8, Vec<u8>)>| async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send((kind, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let out_pump = tokio::spawn(pump(Box::new(stdout), 1, out_tx.clone()));
    let err_pump = tokio::spawn(pump(Box::new(stderr), 2, out_tx));
    let (want_out, want_err) = (config.stdout, config.stderr);
    let output = async {
        while let Some((kind, bytes)) = out_rx.recv().await {
            if (kind == 1 && !want_out) || (kind == 2 && !want_err) {
                continue;
            }
            let framed = framed(raw, kind, &bytes);
            if to_client.write_all(&framed).await.is_err() {
                return false;
            }
        }
        true
    };
    let delivered = tokio::select! {
        _ = input => false,
        delivered = output => delivered,
    };
    if !delivered {
        // The client went: the process gets what a closed terminal gives, its pipes closed.
        out_pump.abort();
        err_pump.abort();
    }
    let code = exit_code(child.wait().await?);
    finish(exec, code);
    let _ = to_client.shutdown().await;
    Ok(code)
}

/// The code a client sees: the process's own, or 128 + the signal that ended it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Output as the client reads it: as it is (`raw`), or in Docker's 8-byte frames.
fn framed(raw: bool, kind: u8, bytes: &[u8]) -> Vec<u8> {
    if raw {
        return bytes.to_vec();
    }
    let mut framed = Vec::with_capacity(bytes.len() + 8);
    framed.extend_from_slice(&[kind, 0, 0, 0]);
    framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    framed.extend_from_slice(bytes);
    framed
}
