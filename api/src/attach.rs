//! `POST /containers/{id}/attach` over a connection upgrade (`101 UPGRADED`), and what `docker
//! run` needs around it: the container's monitor speaks attach.rs's frames; the client gets
//! Docker's 8-byte frames (raw bytes for a tty) and its input goes to the container's stdin.
//!
//! `docker run` attaches before it starts the container, when no monitor is there yet: the
//! attach waits in `Hub::pending`, and the start that follows starts the container with a
//! socket connected before it runs (as `mini run` does), so no output is missed. The exit code
//! an attach sees is kept for `wait`, which needs it once an `--rm` container is gone.

use std::collections::HashMap;
use std::sync::Mutex;

use mini_runtime::attach::{self as frames, Frames};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What attaches and waits share in one service.
#[derive(Debug, Default)]
pub struct Hub {
    /// Attaches waiting for their container to start, by container id.
    pending:
        Mutex<HashMap<String, Vec<tokio::sync::oneshot::Sender<std::os::unix::net::UnixStream>>>>,
    /// Exit codes attaches have seen, by container id.
    exits: Mutex<HashMap<String, i32>>,
}

impl Hub {
    /// Registers an attach that waits for the container's start.
    pub fn wait_for_start(
        &self,
        id: &str,
    ) -> tokio::sync::oneshot::Receiver<std::os::unix::net::UnixStream> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_default()
            .push(sender);
        receiver
    }

    /// Takes the attaches waiting for this container (the start hands them their sockets).
    pub fn take_pending(
        &self,
        id: &str,
    ) -> Vec<tokio::sync::oneshot::Sender<std::os::unix::net::UnixStream>> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !s.is_closed())
            .collect()
    }

    pub fn exit_seen(&self, id: &str) -> Option<i32> {
        self.exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
    }

    pub(crate) fn record_exit(&self, id: &str, code: i32) {
        self.exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), code);
    }
}

/// What the client asked to attach.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Relays between the upgraded client connection and the container's monitor until the
/// container ends (or either side goes).
pub async fn relay<C>(
    hub: &Hub,
    id: &str,
    client: C,
    monitor: std::os::unix::net::UnixStream,
    streams: Streams,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if monitor.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(monitor) = tokio::net::UnixStream::from_std(monitor) else {
        return;
    };
    let (mut from_monitor, mut to_monitor) = monitor.into_split();
    let (mut from_client, mut to_client) = tokio::io::split(client);
    if !streams.stdin {
        let _ = to_monitor
            .write_all(&frames::frame(frames::STDIN_CLOSED, &[]))
            .await;
    }
    let input = async {
        if !streams.stdin {
            return std::future::pending::<()>().await;
        }
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = to_monitor
                        .write_all(&frames::frame(frames::STDIN_CLOSED, &[]))
                        .await;
                    // Output still flows after the client half-closes.
                    return std::future::pending::<()>().await;
                }
                Ok(n) => {
                    if to_monitor
                        .write_all(&frames::frame(frames::STDIN, &buf[..n]))
                        .await
                        .is_err()
                    {
                        return std::future::pending::<()>().await;
                    }
                }
            }
        }
    };
    let output = async {
        let mut parser = Frames::default();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match from_monitor.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            parser.push(&buf[..n]);
            loop {
                let (kind, payload) = match parser.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => return,
                };
                let wanted = match kind {
                    frames::STDOUT => streams.stdout,
                    frames::STDERR => streams.stderr,
                    frames::EXIT => {
                        if let Some(code) = payload.get(..4) {
                            hub.record_exit(id, i32::from_le_bytes(code.try_into().expect("four")));
                        }
                        return;
                    }
                    _ => false,
                };
                if !wanted {
                    continue;
                }
                let mut out = Vec::with_capacity(payload.len() + 8);
                if !streams.tty {
                    out.extend_from_slice(&[kind, 0, 0, 0]);
                    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                }
                out.extend_from_slice(&payload);
                if to_client.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
    };
    tokio::select! {
        _ = input => {}
        _ = output => {}
    }
    let _ = to_client.flush().await;
    let _ = to_client.shutdown().await;
}
