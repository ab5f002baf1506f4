//! `mini images` / `mini image ls`: REPOSITORY TAG IMAGE ID CREATED SIZE, as Docker prints them.

use clap::Args;
use mini_storage::ImageRef;

use crate::context::{CliResult, Context};
use crate::human;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
}

pub fn run(context: &Context, args: ImagesArgs) -> CliResult {
    let store = context.image_store()?;
    let images = store.list()?;
    let id_of = |id: &str| {
        if args.no_trunc {
            id.to_string()
        } else {
            mini_storage::digest::short(id).to_string()
        }
    };
    if args.quiet {
        for image in &images {
            println!("{}", id_of(&image.record.id));
        }
        return Ok(());
    }
    let mut header = vec!["REPOSITORY".to_string(), "TAG".to_string()];
    if args.digests {
        header.push("DIGEST".into());
    }
    header.extend(["IMAGE ID".into(), "CREATED".into(), "SIZE".into()]);
    let mut rows = vec![header];
    for image in &images {
        let record = &image.record;
        let mut names: Vec<(String, String)> = image
            .tags
            .iter()
            .filter_map(|tag| ImageRef::parse(tag).ok())
            .map(|r| (r.familiar_name(), r.tag().unwrap_or("<none>").to_string()))
            .collect();
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into()));
        }
        for (repository, tag) in names {
            let mut row = vec![repository.clone(), tag];
            if args.digests {
                let digest = record
                    .repo_digests
                    .iter()
                    .filter_map(|d| d.split_once('@'))
                    .find(|(name, _)| {
                        ImageRef::parse(name)
                            .map(|r| r.familiar_name() == repository)
                            .unwrap_or(false)
                    })
                    .map(|(_, d)| d.to_string())
                    .unwrap_or("<none>".into());
                row.push(digest);
            }
            row.extend([
                id_of(&record.id),
                human::ago(record.created.as_deref()),
                human::size(record.size),
            ]);
            rows.push(row);
        }
    }
    print!("{}", human::table(&rows));
    Ok(())
}
