//! Registry credentials that `mini login` keeps, in Docker's `config.json` shape:
//! `<root>/auth.json` = `{"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}`,
//! readable by root only (0600), rewritten atomically. Docker Hub's key is Docker's own,
//! `https://index.docker.io/v1/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The key Docker keeps Docker Hub's credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AuthEntry {
    auth: String,
}

/// The credentials file of one mini root.
#[derive(Debug, Clone)]
pub struct AuthStore {
    path: PathBuf,
}

/// The key a registry's credentials are kept under.
pub fn key_for(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | DOCKER_HUB_KEY => {
            DOCKER_HUB_KEY.to_string()
        }
        other => other
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
    }
}

impl AuthStore {
    /// The store at `<root>/auth.json`.
    pub fn open(root: &Path) -> AuthStore {
        AuthStore {
            path: root.join("auth.json"),
        }
    }

    fn read(&self) -> Result<AuthFile> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| Error::BadContent {
                what: self.path.display().to_string(),
                reason: err.to_string(),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(AuthFile::default()),
            Err(err) => Err(Error::io(&self.path)(err)),
        }
    }

    fn write(&self, file: &AuthFile) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let temp = dir.join(format!(".auth.json.{}", std::process::id()));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(Error::io(&temp))?;
        out.write_all(&serde_json::to_vec_pretty(file).expect("auth.json serializes"))
            .and_then(|()| out.sync_all())
            .map_err(Error::io(&temp))?;
        std::fs::rename(&temp, &self.path).map_err(Error::io(&self.path))
    }

    /// The user and password kept for `registry`, if any.
    pub fn get(&self, registry: &str) -> Result<Option<(String, String)>> {
        let file = self.read()?;
        let Some(entry) = file.auths.get(&key_for(registry)) else {
            return Ok(None);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(entry.auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                text.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            });
        match decoded {
            Some(pair) => Ok(Some(pair)),
            None => Err(Error::BadContent {
                what: self.path.display().to_string(),
                reason: format!("the credentials for {registry} are not base64 of user:password"),
            }),
        }
    }

    /// Keeps credentials for `registry`.
    pub fn set(&self, registry: &str, user: &str, password: &str) -> Result<()> {
        let mut file = self.read()?;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        file.auths.insert(key_for(registry), AuthEntry { auth });
        self.write(&file)
    }

    /// Forgets `registry`'s credentials; false if there were none.
    pub fn remove(&self, registry: &str) -> Result<bool> {
        let mut file = self.read()?;
        let removed = file.auths.remove(&key_for(registry)).is_some();
        if removed {
            self.write(&file)?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn credentials_round_trip_in_a_private_file() {
        let dir = std::env::temp_dir().join(format!("mini-auth-test-{}", std::process::id()));
        let store = AuthStore::open(&dir);
        assert_eq!(store.get("127.0.0.1:5000").unwrap(), None);
        store.set("127.0.0.1:5000", "lab", "pa:ss word").unwrap();
        store.set("docker.io", "hub", "x").unwrap();
        assert_eq!(
            store.get("127.0.0.1:5000").unwrap(),
            Some(("lab".into(), "pa:ss word".into()))
        );
        assert_eq!(
            store.get("index.docker.io").unwrap(),
            Some(("hub".into(), "x".into()))
        );
        let mode = std::fs::metadata(dir.join("auth.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(dir.join("auth.json")).unwrap();
        assert!(
            text.contains(DOCKER_HUB_KEY) && text.contains("bGFiOnBhOnNzIHdvcmQ="),
            "{text}"
        );
        assert!(store.remove("127.0.0.1:5000").unwrap());
        assert!(!store.remove("127.0.0.1:5000").unwrap());
        assert_eq!(store.get("127.0.0.1:5000").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
