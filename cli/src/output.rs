//! Writing a command's output to a file (`save -o`, `export -o`) so that a failure leaves
//! nothing half-written: a temporary file beside it, renamed into place only when complete.

use std::fs::File;
use std::path::Path;

use crate::context::{CliError, CliResult};

/// Runs `write` on a new file that becomes `path` only if it succeeds.
pub fn to_file<E: Into<anyhow::Error>>(
    path: &Path,
    write: impl FnOnce(&mut File) -> Result<(), E>,
) -> CliResult {
    let name = path
        .file_name()
        .ok_or_else(|| CliError::one(anyhow::anyhow!("{}: not a file name", path.display())))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let mut file = File::create(&temp)
        .map_err(|err| CliError::one(anyhow::anyhow!("{}: {err}", temp.display())))?;
    let written = write(&mut file)
        .map_err(|err| CliError::one(err.into()))
        .and_then(|()| {
            file.sync_all()
                .map_err(|err| CliError::one(anyhow::anyhow!("{}: {err}", temp.display())))
        })
        .and_then(|()| {
            std::fs::rename(&temp, path)
                .map_err(|err| CliError::one(anyhow::anyhow!("{}: {err}", path.display())))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}
