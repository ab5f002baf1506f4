//! The runtime crate's errors. Each says what failed, on what, and what the user can do; each
//! maps to the exit code Docker uses for it.

use std::path::PathBuf;

/// Something the runtime could not do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container has this name, id or id prefix.
    #[error("No such container: {0}")]
    NoSuchContainer(String),

    /// An id prefix that more than one container starts with.
    #[error("multiple containers found with provided prefix: {0}")]
    Ambiguous(String),

    /// The name is taken.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },

    /// A flag's value, a name or a spec that mini cannot use.
    #[error("{0}")]
    Invalid(String),

    /// The container is not in a state that allows the operation.
    #[error("{0}")]
    Conflict(String),

    /// An image or layer problem.
    #[error(transparent)]
    Storage(#[from] mini_storage::Error),

    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A record that does not parse.
    #[error("{}: corrupt record: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    /// The container's process could not be started. `code` is Docker's: 127 when the command
    /// is not found, 126 when it cannot be invoked, 125 otherwise.
    #[error("{message}")]
    Start { message: String, code: u8 },

    /// A system call or the OCI runtime failed.
    #[error("{0}")]
    System(String),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// The exit code a command that fails with this error ends with, as Docker's would.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Start { code, .. } => *code,
            _ => 125,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
