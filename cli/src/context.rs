//! What every command needs: where the state is, and how errors map to exit codes.

use std::path::PathBuf;

use mini_storage::{ImageStore, LayerStore, RegistryConfig};

/// The global options, resolved.
#[derive(Debug)]
pub struct Context {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub config: PathBuf,
}

/// An error and the exit code it ends the command with.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    /// None when the command already said what went wrong.
    pub error: Option<anyhow::Error>,
}

/// Docker's codes: 125 for mini's own errors (usage, bad config); commands choose others.
pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            code,
            error: Some(error.into()),
        }
    }

    /// Exits with `code`; the command has printed its errors itself.
    pub fn reported(code: u8) -> CliError {
        CliError { code, error: None }
    }
}

impl From<mini_storage::Error> for CliError {
    fn from(err: mini_storage::Error) -> CliError {
        use mini_storage::Error as E;
        let code = match err {
            E::InvalidReference { .. } | E::Config { .. } => 125,
            _ => 1,
        };
        CliError::new(code, err)
    }
}

impl From<mini_runtime::Error> for CliError {
    /// Errors of `run`, `create` and `exec` end with Docker's codes: 125, or 126 and 127 when
    /// the command cannot be invoked or is not found. Other commands say `CliError::new(1, ..)`.
    fn from(err: mini_runtime::Error) -> CliError {
        let code = err.exit_code();
        CliError::new(code, err)
    }
}

impl CliError {
    /// For commands that Docker ends with 1 whatever went wrong (stop, rm, logs, ...).
    pub fn one(err: impl Into<anyhow::Error>) -> CliError {
        CliError::new(1, err)
    }
}

impl Context {
    pub fn engine(&self) -> CliResult<mini_runtime::Engine> {
        mini_runtime::Engine::open(&self.root, &self.runroot, &self.config).map_err(CliError::from)
    }

    pub fn registry_config(&self) -> CliResult<RegistryConfig> {
        Ok(RegistryConfig::load(&self.config)?)
    }

    pub fn image_store(&self) -> CliResult<ImageStore> {
        Ok(ImageStore::open(&self.root)?)
    }

    pub fn layer_store(&self) -> CliResult<LayerStore> {
        Ok(LayerStore::open(&self.root.join("overlay"))?)
    }
}
