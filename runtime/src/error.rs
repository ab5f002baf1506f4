//! The runtime crate's errors. Each says what failed, on what, and what the user can do; each
//! maps to the exit code Docker uses for it.

use std::path::PathBuf;

/// Something the runtime could not do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container has this name, id or id prefix.
    #[error("No such container: {0}")]
    NoSuchContainer(String),

    /// No volume has this name.
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),

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

    /// The object may not be changed this way at all (a pre-defined network, one in use).
    #[error("{0}")]
    Forbidden(String),

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

    /// A build's RUN step failed: Docker's words, and the command's code as the build's.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    BuildStep { command: String, code: i32 },

    /// A path `cp` was asked to copy is not there.
    #[error("{0}")]
    NotFound(String),

    /// `cp` could not copy (the path, and why).
    #[error("{0}")]
    Copy(String),

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
            Error::BuildStep { code, .. } => (*code).clamp(1, 255) as u8,
            _ => 125,
        }
    }
}

/// libcontainer's refusal to start a process, in Docker's words and with Docker's exit code:
/// 127 when the command is not found, 126 when it cannot be invoked; otherwise 125 for a
/// container and 126 for an exec, as Docker's "OCI runtime exec failed".
pub fn launch_error(command: &str, text: &str, exec: bool) -> Error {
    let (reason, code) = if text.contains("not found in $PATH") {
        (
            format!("exec: \"{command}\": executable file not found in $PATH"),
            127,
        )
    } else if text.contains("does not have correct permissions") || text.contains("EACCES") {
        (format!("exec: \"{command}\": permission denied"), 126)
    } else {
        (text.to_string(), if exec { 126 } else { 125 })
    };
    let message = match (exec, code) {
        (true, _) => format!(
            "OCI runtime exec failed: exec failed: unable to start container process: {reason}: unknown"
        ),
        (false, 125) => format!("failed to start the container: {reason}"),
        (false, _) => reason,
    };
    Error::Start { message, code }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_errors_get_dockers_words_and_codes() {
        let code = |e: Error| e.exit_code();
        let missing = launch_error("nosuch", "executable 'nosuch' not found in $PATH", false);
        assert_eq!(
            missing.to_string(),
            "exec: \"nosuch\": executable file not found in $PATH"
        );
        assert_eq!(code(missing), 127);
        let denied = launch_error("/etc/passwd", "... does not have correct permissions", true);
        assert_eq!(
            denied.to_string(),
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"/etc/passwd\": permission denied: unknown"
        );
        assert_eq!(code(denied), 126);
        let other = launch_error("sh", "cgroup: no space", false);
        assert_eq!(
            other.to_string(),
            "failed to start the container: cgroup: no space"
        );
        assert_eq!(code(other), 125);
        assert_eq!(code(launch_error("sh", "cgroup: no space", true)), 126);
    }
}
