//! `mini image history IMAGE`: the image's history, newest first, as Docker prints it.

use clap::Args;
use serde_json::Value;

use crate::context::{CliError, CliResult, Context};
use crate::human;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Print sizes and dates in a machine-friendly form
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    human: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// The image, by name or id
    image: String,
}

pub fn run(context: &Context, args: HistoryArgs) -> CliResult {
    let images = context.image_store()?;
    let layers = context.layer_store()?;
    let (record, _) = images.resolve(&args.image)?;
    let config: Value = serde_json::from_slice(&images.read_blob(&record.id)?)
        .map_err(|err| CliError::new(1, anyhow::anyhow!("config of {}: {err}", args.image)))?;
    let history = config["history"].as_array().cloned().unwrap_or_default();
    // Each non-empty history entry owns the next layer, bottom up.
    let mut layer_sizes = record.layers.iter().map(|l| layers.size(&l.chain_id));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for entry in &history {
        let empty = entry["empty_layer"].as_bool().unwrap_or(false);
        let size = if empty {
            0
        } else {
            layer_sizes.next().unwrap_or(0)
        };
        let created_by = entry["created_by"].as_str().unwrap_or("").to_string();
        let created_by = if args.no_trunc || created_by.chars().count() <= 45 {
            created_by
        } else {
            format!("{}…", created_by.chars().take(44).collect::<String>())
        };
        let created = entry["created"].as_str();
        rows.push(vec![
            "<missing>".to_string(),
            if args.human {
                human::ago(created)
            } else {
                created.unwrap_or("").to_string()
            },
            created_by,
            if args.human {
                human::size(size)
            } else {
                size.to_string()
            },
            entry["comment"].as_str().unwrap_or("").to_string(),
        ]);
    }
    rows.reverse();
    let id = if args.no_trunc {
        record.id.clone()
    } else {
        mini_storage::digest::short(&record.id).to_string()
    };
    if let Some(first) = rows.first_mut() {
        first[0] = id;
    }
    if args.quiet {
        for row in &rows {
            println!("{}", row[0]);
        }
        return Ok(());
    }
    let header = ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
        .map(String::from)
        .to_vec();
    rows.insert(0, header);
    print!("{}", human::table(&rows));
    Ok(())
}
