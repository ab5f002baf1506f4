//! A real registry for tests: Debian's `docker-registry` (the CNCF distribution registry) on a
//! free 127.0.0.1 port, with its own storage, stopped when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::host;
use crate::images;
use crate::token::TokenServer;

/// Where Debian installs the registry.
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry. Keep it in a variable declared after the [`crate::TestEnv`] whose folder
/// holds it, so that it stops before the leak check runs.
#[derive(Debug)]
pub struct Registry {
    /// `127.0.0.1:PORT`, the registry's host name in image references.
    pub addr: String,
    /// User and password, when it was started with basic auth.
    pub credentials: Option<(String, String)>,
    dir: PathBuf,
    child: Child,
}

impl Registry {
    /// Starts an anonymous registry keeping its files in `dir` (created if missing).
    pub fn start(dir: &Path) -> Registry {
        Registry::start_inner(dir, None, None)
    }

    /// Starts a registry that demands HTTP basic auth (htpasswd, bcrypt) for `user`/`password`.
    pub fn start_with_basic_auth(dir: &Path, user: &str, password: &str) -> Registry {
        Registry::start_inner(dir, Some((user.to_string(), password.to_string())), None)
    }

    /// Starts a registry that demands bearer tokens from `tokens` (Docker Hub's flow); the
    /// token service knows `user`/`password`.
    pub fn start_with_token_auth(
        dir: &Path,
        tokens: &TokenServer,
        user: &str,
        password: &str,
    ) -> Registry {
        let auth = format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: mini-test-issuer\n    rootcertbundle: {}\n",
            tokens.realm,
            crate::token::SERVICE,
            tokens.cert.display()
        );
        Registry::start_inner(
            dir,
            Some((user.to_string(), password.to_string())),
            Some(auth),
        )
    }

    fn start_inner(
        dir: &Path,
        credentials: Option<(String, String)>,
        auth: Option<String>,
    ) -> Registry {
        std::fs::create_dir_all(dir.join("storage")).expect("create registry storage");
        let auth = match (&credentials, auth) {
            (_, Some(auth)) => auth,
            (None, None) => String::new(),
            (Some((user, password)), None) => {
                let hash = bcrypt::hash_with_result(password, 5)
                    .expect("bcrypt")
                    .format_for_version(bcrypt::Version::TwoY);
                let htpasswd = dir.join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: mini-test\n    path: {}\n",
                    htpasswd.display()
                )
            }
        };
        // A port can be taken between our probe and the registry's bind: try a few.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let config = dir.join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
                     http:\n  addr: {addr}\n\
                     {auth}",
                    storage = dir.join("storage").display(),
                ),
            )
            .expect("write registry config");
            let log_path = dir.join("registry.log");
            let log = std::fs::File::create(&log_path).expect("create registry log");
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|err| {
                    panic!("cannot start {REGISTRY_BIN} (install Debian's docker-registry): {err}")
                });
            let mut registry = Registry {
                addr,
                credentials: credentials.clone(),
                dir: dir.to_path_buf(),
                child,
            };
            if registry.wait_ready(Duration::from_secs(15)) {
                return registry;
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            // Dropping it stops the process before the next try.
        }
        panic!("docker-registry did not start; its last log:\n{last_log}");
    }

    /// True once `GET /v2/` answers 200 (or 401 behind auth); false if the process died or the
    /// time ran out.
    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Some(status) = self.get_status("/v2/") {
                return status == 200 || status == 401;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The HTTP status of a plain GET on the registry, or None if it does not answer.
    pub fn get_status(&self, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect(&self.addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).ok()?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).ok()?;
        let line = String::from_utf8_lossy(&head[..n]);
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Pushes fixture images (see [`images`]) as `ADDR/NAME:latest`, building them if they are
    /// not in the image cache yet.
    pub fn push(&self, names: &[&str]) {
        images::push(&self.addr, self.credentials.as_ref(), names);
    }

    /// Pushes fixture images as `ADDR/library/NAME:latest`, where a Docker Hub mirror keeps them,
    /// so that `mini pull NAME` finds them through `registry-mirrors`.
    pub fn push_library(&self, names: &[&str]) {
        images::push(
            &format!("{}/library", self.addr),
            self.credentials.as_ref(),
            names,
        );
    }

    /// Pushes an OCI layout (all its images, digests unchanged) as `ADDR/REPO:TAG`.
    /// `format` is skopeo's `--format` (`v2s2` for Docker media types), if any.
    pub fn push_layout(&self, layout: &Path, repo_tag: &str, format: Option<&str>) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--all", "--dest-tls-verify=false"]);
        match format {
            Some(format) => cmd.args(["--format", format]),
            None => cmd.arg("--preserve-digests"),
        };
        if let Some((user, password)) = &self.credentials {
            cmd.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        cmd.arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker://{}/{repo_tag}", self.addr));
        host::check(&mut cmd);
    }

    /// The path of a blob's data in the registry's storage (to corrupt it on purpose).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// What `skopeo inspect` (another client than mini) reads of `NAME:TAG` in this registry.
    pub fn inspect(&self, name_tag: &str) -> serde_json::Value {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--tls-verify=false"]);
        if let Some((user, password)) = &self.credentials {
            cmd.arg("--creds").arg(format!("{user}:{password}"));
        }
        let text = host::check(cmd.arg(format!("docker://{}/{name_tag}", self.addr)));
        serde_json::from_str(&text).expect("skopeo inspect prints JSON")
    }

    /// The registry's storage folder (for tests that corrupt a blob on purpose).
    pub fn storage(&self) -> PathBuf {
        self.dir.join("storage")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}
