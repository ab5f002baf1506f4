//! The network crate's errors. Every one of them is the engine's own (Docker's exit code 125);
//! the variants say what kind of trouble it is so that callers can word and sort them.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a port spec, a subnet, a network name.
    #[error("{0}")]
    Invalid(String),
    /// `network NAME not found`, as Docker words it.
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// The request collides with what exists: a name, a subnet, a port, a network in use.
    #[error("{0}")]
    Conflict(String),
    /// No address left in a subnet.
    #[error("{0}")]
    Exhausted(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A record on disk that does not parse.
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The kernel refused a link, address or route change.
    #[error("{0}")]
    Netlink(String),
    /// nft refused a change to mini's table.
    #[error("{0}")]
    Firewall(String),
}

impl Error {
    /// Builds an `Io` error for `path`: `.map_err(Error::io(path))`.
    pub fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().to_path_buf();
        move |source| Error::Io { path, source }
    }
}
