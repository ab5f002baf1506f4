//! `mini ps` / `mini container ls`: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES,
//! as Docker prints them, with `-a -q -l -n --no-trunc -f --format`.

use clap::Args;
use mini_runtime::ContainerRecord;
use serde_json::{json, Value};

use crate::context::{CliError, CliResult, Context};
use crate::human;
use crate::template::Template;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last")]
    last: Option<usize>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided (name=, id=, status=, ancestor=, label=)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
}

pub fn run(context: &Context, args: PsArgs) -> CliResult {
    let engine = context.engine()?;
    let filters: Vec<(String, String)> = args
        .filter
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v))
                if ["name", "id", "status", "ancestor", "label", "exited"].contains(&k) =>
            {
                Ok((k.to_string(), v.to_string()))
            }
            _ => Err(CliError::new(125, anyhow::anyhow!("invalid filter '{f}'"))),
        })
        .collect::<CliResult<_>>()?;
    let mut records = engine.list().map_err(CliError::one)?;
    let limit = if args.latest { Some(1) } else { args.last };
    if let Some(limit) = limit {
        records.truncate(limit);
    } else if !args.all && !filters.iter().any(|(k, _)| k == "status") {
        records.retain(ContainerRecord::is_running);
    }
    records.retain(|r| mini_runtime::views::container_filters_match(r, &filters));

    if args.quiet {
        for record in &records {
            println!(
                "{}",
                if args.no_trunc {
                    &record.id
                } else {
                    record.short_id()
                }
            );
        }
        return Ok(());
    }
    let rows: Vec<Value> = records.iter().map(|r| row(r, args.no_trunc)).collect();
    let format = args
        .format
        .clone()
        .unwrap_or("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".into());
    let template = Template::from_flag(Some(&format))?.expect("a format was given");
    if template.table {
        let mut lines = vec![template.header(column_name)];
        lines.extend(rows.iter().map(|r| template.render(r)));
        let cells: Vec<Vec<String>> = lines
            .iter()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        print!("{}", human::table(&cells));
    } else {
        for row in &rows {
            println!("{}", template.render(row));
        }
    }
    Ok(())
}

/// Docker's column names for the fields of a `table` format.
fn column_name(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        "RunningFor" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "Names" => "NAMES".into(),
        other => other.to_uppercase(),
    }
}

pub use mini_runtime::views::status;

/// The command as `ps` shows it: quoted, and cut at 20 characters unless `--no-trunc`.
fn command(record: &ContainerRecord, no_trunc: bool) -> String {
    let line = record.command_line();
    if no_trunc || line.chars().count() <= 20 {
        format!("\"{line}\"")
    } else {
        format!("\"{}…\"", line.chars().take(19).collect::<String>())
    }
}

/// PORTS: what a running container publishes, and what it exposes without publishing.
pub fn ports(record: &ContainerRecord) -> String {
    if !record.is_running()
        || !mini_runtime::networking::is_bridge_mode(&record.host_config.network_mode)
    {
        return String::new();
    }
    let published = record
        .network_settings
        .endpoint()
        .map(|e| e.ports.clone())
        .unwrap_or_default();
    let exposed: Vec<mini_network::ports::PortKey> = record
        .config
        .exposed_ports
        .keys()
        .filter_map(|k| k.parse().ok())
        .collect();
    mini_network::ports::display(&published, &exposed)
}

fn row(record: &ContainerRecord, no_trunc: bool) -> Value {
    let image = if record.config.image.is_empty() {
        mini_storage::digest::short(&record.image_id).to_string()
    } else {
        record.config.image.clone()
    };
    json!({
        "ID": if no_trunc { record.id.clone() } else { record.short_id().to_string() },
        "Image": image,
        "Command": command(record, no_trunc),
        "CreatedAt": record.created,
        "RunningFor": human::ago(Some(&record.created)),
        "Status": status(record),
        "State": record.state.status,
        "Ports": ports(record),
        "Names": record.name,
        "Labels": record.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, args: &[&str]) -> ContainerRecord {
        ContainerRecord {
            id: "f".repeat(64),
            name: "w1".into(),
            created: mini_runtime::logs::now(),
            path: path.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..ContainerRecord::default()
        }
    }

    #[test]
    fn commands_are_quoted_and_cut_like_dockers() {
        let nginx = record("/docker-entrypoint.sh", &["nginx", "-g", "daemon off;"]);
        assert_eq!(command(&nginx, false), "\"/docker-entrypoint.…\"");
        assert_eq!(
            command(&nginx, true),
            "\"/docker-entrypoint.sh nginx -g daemon off;\""
        );
        assert_eq!(command(&record("sh", &[]), false), "\"sh\"");
    }

    #[test]
    fn statuses_read_like_dockers() {
        let mut r = record("sh", &[]);
        assert_eq!(status(&r), "Created");
        r.state.status = "running".into();
        r.state.started_at = mini_runtime::logs::now();
        assert_eq!(status(&r), "Up Less than a second");
        r.state.status = "exited".into();
        r.state.exit_code = 137;
        r.state.finished_at = mini_runtime::logs::now();
        assert_eq!(status(&r), "Exited (137) Less than a second ago");
    }
}
