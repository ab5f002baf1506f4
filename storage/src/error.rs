//! The storage crate's errors. Each says what failed, on what, and what the user can do.

use std::path::PathBuf;

/// Something the image store could not do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image reference does not follow Docker's grammar (`[host[:port]/]name[:tag][@digest]`).
    #[error("invalid reference format: {reason}")]
    InvalidReference { reason: String },

    /// The config file could not be read or parsed.
    #[error("{}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    /// A file or folder of the store could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The registry refused, failed, or could not be reached.
    #[error("{0}")]
    Registry(String),

    /// No image of this name in the local store.
    #[error("No such image: {0}")]
    NoSuchImage(String),

    /// The operation would break something else; Docker calls these conflicts.
    #[error("conflict: {0}")]
    Conflict(String),

    /// The image exists, but not for this platform.
    #[error(
        "no matching manifest for {wanted} in the manifest list entries (available: {available})"
    )]
    NoMatchingPlatform { wanted: String, available: String },

    /// Content did not hash to the digest it was announced with: it is corrupt or was tampered with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    /// A layer holds an entry that would land outside the layer, or is otherwise malformed.
    #[error("layer {layer}: {reason}")]
    BadLayer { layer: String, reason: String },

    /// A manifest or config the registry sent is not what the OCI or Docker specs describe.
    #[error("{what}: {reason}")]
    BadContent { what: String, reason: String },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error's message followed by its causes: "summary: cause: root cause".
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
