//! One module per command, each with its clap arguments and a `run`.

pub mod attach;
pub mod build;
pub mod commit;
pub mod cp;
pub mod diff;
pub mod exec;
pub mod export;
pub mod history;
pub mod image_inspect;
pub mod images;
pub mod info;
pub mod inspect;
pub mod lifecycle;
pub mod login;
pub mod logs;
pub mod network;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rmi;
pub mod run;
pub mod save;
pub mod system;
pub mod tag;
pub mod top;
pub mod volume;

use serde_json::Value;

use crate::context::{CliError, CliResult};
use crate::template::Template;

/// Asks Docker's prune question on stderr; true when the answer is yes.
pub fn confirm(warning: &str) -> bool {
    eprint!("WARNING! {warning}\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

/// `X inspect NAME...` for volumes and networks: each object as JSON (or through `--format`),
/// Docker's error for each name that is not found, and exit code 1 if any was not.
pub fn inspect_objects(
    names: &[String],
    format: Option<&str>,
    mut lookup: impl FnMut(&str) -> Result<Value, String>,
) -> CliResult {
    let template = Template::from_flag(format)?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in names {
        match lookup(name) {
            Ok(value) => found.push(value),
            Err(err) => {
                eprintln!("Error response from daemon: {err}");
                failed = true;
            }
        }
    }
    match template {
        Some(template) => found
            .iter()
            .for_each(|v| println!("{}", template.render(v))),
        None => println!("{}", inspect::pretty(&Value::Array(found))),
    }
    if failed {
        return Err(CliError::reported(1));
    }
    Ok(())
}

/// Runs `action` on each name (`rm`, `stop`, `volume rm`, ...): prints what it returns, or
/// Docker's error; exit code 1 if any failed, after all were tried.
pub fn each<E: std::fmt::Display>(
    names: &[String],
    mut action: impl FnMut(&str) -> Result<Option<String>, E>,
) -> CliResult {
    let mut failed = false;
    for name in names {
        match action(name) {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(err) => {
                eprintln!("Error response from daemon: {err}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(CliError::reported(1));
    }
    Ok(())
}
