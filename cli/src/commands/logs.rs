//! `mini logs`: the container's json-file log, stdout to stdout and stderr to stderr, with
//! `-f`, `--tail`, `-t` and `--since` as Docker takes them.

use std::io::Write;

use clap::Args;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs ("all" for all)
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs since a timestamp (2026-11-28T10:00:00Z) or a relative time (42m)
    #[arg(long)]
    since: Option<String>,
    /// The container, by name or id
    container: String,
}

pub fn run(context: &Context, args: LogsArgs) -> CliResult {
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| CliError::one(anyhow::anyhow!("invalid value for --tail: {n:?}")))?,
        ),
    };
    let since = args
        .since
        .as_deref()
        .map(|text| {
            mini_runtime::logs::parse_time(text)
                .map_err(|_| anyhow::anyhow!("invalid value for --since: {text:?}"))
        })
        .transpose()
        .map_err(CliError::one)?;
    let engine = context.engine()?;
    let record = engine.find(&args.container).map_err(CliError::one)?;
    let options = mini_runtime::logs::LogOptions {
        since,
        until: None,
        tail,
        follow: args.follow,
    };
    engine
        .logs(&record, &options, |entries| {
            print_entries(entries, args.timestamps)
        })
        .map_err(CliError::one)
}

/// Prints entries to our stdout and stderr; false once stdout has gone (a closed pipe).
fn print_entries(entries: &[mini_runtime::logs::Entry], timestamps: bool) -> bool {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for entry in entries {
        let target: &mut dyn Write = if entry.stream == "stderr" {
            &mut err
        } else {
            &mut out
        };
        if timestamps {
            let _ = write!(target, "{} ", entry.time);
        }
        if target.write_all(entry.log.as_bytes()).is_err() {
            return false;
        }
    }
    let _ = err.flush();
    out.flush().is_ok()
}
