//! `mini top CONTAINER [ps OPTIONS]`: the container's processes as the host's `ps` shows them
//! (`-ef` unless told otherwise), as Docker does: `ps` runs on the host and its rows are kept
//! when their PID is in the container's cgroup.

use clap::Args;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct TopArgs {
    container: String,
    /// Options for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn run(context: &Context, args: TopArgs) -> CliResult {
    let engine = context.engine()?;
    let pids = engine.processes(&args.container).map_err(CliError::one)?;
    let ps_args = if args.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        args.ps_args
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .map_err(|err| CliError::one(anyhow::anyhow!("running ps: {err}")))?;
    if !out.status.success() {
        return Err(CliError::one(anyhow::anyhow!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!(
        "{}",
        filter(&text, &pids).map_err(|e| CliError::one(anyhow::anyhow!(e)))?
    );
    Ok(())
}

/// The header and the rows whose PID column names one of `pids`.
fn filter(ps: &str, pids: &[i32]) -> Result<String, String> {
    let mut lines = ps.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| "Couldn't find PID field in ps output".to_string())?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p: i32| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_kept_by_the_pid_column() {
        let ps = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                  root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                  root        4242    4200  0 10:01 ?        00:00:00 nginx: master process\n";
        assert_eq!(
            filter(ps, &[4242]).unwrap(),
            "UID          PID    PPID  C STIME TTY          TIME CMD\n\
             root        4242    4200  0 10:01 ?        00:00:00 nginx: master process\n"
        );
        assert!(filter("USER COMMAND\n", &[1]).is_err());
    }
}
