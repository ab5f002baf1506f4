//! `mini logs`: the container's json-file log, stdout to stdout and stderr to stderr, with
//! `-f`, `--tail`, `-t` and `--since` as Docker takes them.

use std::io::Write;
use std::time::Duration;

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
        .map(parse_since)
        .transpose()
        .map_err(CliError::one)?;
    let engine = context.engine()?;
    let record = engine.find(&args.container).map_err(CliError::one)?;
    let path = engine.store.log_path(&record.id);
    let (mut entries, mut offset) =
        mini_runtime::logs::read_from(&path, 0).map_err(CliError::one)?;
    if let Some(since) = since {
        entries.retain(|e| {
            chrono::DateTime::parse_from_rfc3339(&e.time).is_ok_and(|t| t.to_utc() >= since)
        });
    }
    if let Some(n) = tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    print_entries(&entries, args.timestamps);
    if !args.follow {
        return Ok(());
    }
    loop {
        let running = engine
            .get(&record.id)
            .map(|r| r.is_running())
            .unwrap_or(false);
        let (more, next) = mini_runtime::logs::read_from(&path, offset).map_err(CliError::one)?;
        offset = next;
        print_entries(&more, args.timestamps);
        if !running && more.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn print_entries(entries: &[mini_runtime::logs::Entry], timestamps: bool) {
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
        let _ = target.write_all(entry.log.as_bytes());
    }
    let _ = out.flush();
    let _ = err.flush();
}

/// `--since`: RFC 3339, a Unix time, or a duration back from now (`10s`, `5m`, `2h`).
fn parse_since(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return chrono::DateTime::from_timestamp(seconds as i64, 0)
            .ok_or_else(|| anyhow::anyhow!("invalid value for --since: {text:?}"));
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: i64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid value for --since: {text:?}"))?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => anyhow::bail!("invalid value for --since: {text:?}"),
    };
    Ok(chrono::Utc::now() - chrono::Duration::seconds(seconds))
}
