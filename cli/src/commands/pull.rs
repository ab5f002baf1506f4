//! `mini pull`: Docker's output, line by line (no progress bars yet: plain lines suit logs and
//! pipes, which is where lab transcripts end up).

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use clap::Args;
use mini_storage::{ImageRef, PullEvent, PullOptions, PullOutcome, Puller};

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// The image: NAME[:TAG|@DIGEST]
    pub image: String,
}

pub fn run(context: &Context, args: PullArgs) -> CliResult {
    pull(context, &args, false)
}

/// Prints a line on stdout, or on stderr when the pull is part of another command (`run`
/// pulls a missing image and keeps stdout for the container's id).
macro_rules! say {
    ($to_stderr:expr, $($arg:tt)*) => {
        if $to_stderr { eprintln!($($arg)*) } else { println!($($arg)*) }
    };
}

/// Pulls `args.image`, printing Docker's progress on stdout (or stderr).
pub fn pull(context: &Context, args: &PullArgs, to_stderr: bool) -> CliResult {
    let reference = ImageRef::parse(&args.image)?;
    if let Some(platform) = &args.platform {
        let parts: Vec<&str> = platform.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(CliError::new(
                125,
                anyhow::anyhow!("invalid platform {platform:?}: expected os/arch[/variant]"),
            ));
        }
    }
    let puller = Puller {
        images: context.image_store()?,
        auth: mini_storage::AuthStore::open(&context.root),
        layers: context.layer_store()?,
        config: context.registry_config()?,
        config_path: context.config.clone(),
    };
    let quiet = args.quiet;
    if !quiet {
        if ImageRef::is_default_tag(&args.image) {
            say!(to_stderr, "Using default tag: latest");
        }
        let what = reference.tag().or(reference.digest()).unwrap_or("latest");
        say!(to_stderr, "{what}: Pulling from {}", reference.repository());
    }
    // On a terminal, one line per layer is redrawn in place (as Docker does); elsewhere plain
    // lines are printed as events arrive. A lock keeps lines from two layers whole.
    let screen = Arc::new(Mutex::new(Screen {
        terminal: if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        },
        to_stderr,
        lines: Vec::new(),
    }));
    let progress = Arc::new(move |event: PullEvent| {
        if quiet {
            return;
        }
        let mut screen = screen.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            PullEvent::LayerExists(layer) => screen.set(&layer, "Already exists".into()),
            PullEvent::LayerWaiting(layer) => screen.set(&layer, "Pulling fs layer".into()),
            PullEvent::LayerDone(layer) => screen.set(&layer, "Pull complete".into()),
            PullEvent::LayerDownloading { layer, done, total } if screen.terminal => {
                screen.set(&layer, downloading(done, total))
            }
            PullEvent::LayerDownloading { .. } => {}
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| CliError::new(125, err))?;
    let options = PullOptions {
        platform: args.platform.clone(),
    };
    let result = runtime.block_on(puller.pull(&reference, &options, progress));
    runtime.shutdown_background();
    let (record, outcome) = result?;
    if !quiet {
        let digest = record
            .repo_digests
            .iter()
            .find(|d| d.starts_with(&format!("{}@", reference.full_name())))
            .and_then(|d| d.split_once('@'))
            .map(|(_, d)| d.to_string())
            .unwrap_or(record.manifest_digest.clone());
        say!(to_stderr, "Digest: {digest}");
        match outcome {
            PullOutcome::Downloaded => {
                say!(to_stderr, "Status: Downloaded newer image for {reference}")
            }
            PullOutcome::UpToDate => say!(to_stderr, "Status: Image is up to date for {reference}"),
        }
    }
    let full = match (reference.tag(), reference.digest()) {
        (_, Some(digest)) => format!("{}@{digest}", reference.full_name()),
        (Some(tag), None) => format!("{}:{tag}", reference.full_name()),
        (None, None) => reference.full_name(),
    };
    if !to_stderr {
        println!("{full}");
    }
    Ok(())
}

/// The per-layer status lines of a pull or a push.
pub(crate) struct Screen {
    pub terminal: bool,
    to_stderr: bool,
    lines: Vec<(String, String)>,
}

impl Screen {
    pub fn new(terminal: bool, to_stderr: bool) -> Screen {
        Screen {
            terminal,
            to_stderr,
            lines: Vec::new(),
        }
    }

    /// Shows `layer: status`: a new line for a new layer; on a terminal an existing layer's line
    /// is rewritten where it stands, elsewhere a new line is printed.
    pub fn set(&mut self, layer: &str, status: String) {
        let mut out: Box<dyn Write> = if self.to_stderr {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        };
        match self.lines.iter().position(|(l, _)| l == layer) {
            Some(index) if self.terminal => {
                let up = self.lines.len() - index;
                self.lines[index].1 = status;
                let _ = write!(
                    out,
                    "\x1b[{up}A\x1b[2K\r{layer}: {}\x1b[{up}B\r",
                    self.lines[index].1
                );
            }
            _ => {
                let _ = writeln!(out, "{layer}: {status}");
                if !self.lines.iter().any(|(l, _)| l == layer) {
                    self.lines.push((layer.to_string(), status));
                }
            }
        }
        let _ = out.flush();
    }
}

/// Docker's progress bar: `Downloading [=======>      ]  10.2MB/28.6MB`.
fn downloading(done: u64, total: Option<u64>) -> String {
    bar("Downloading", done, total)
}

/// `VERB [=======>      ]  10.2MB/28.6MB`, or `VERB  10.2MB` without a total.
pub(crate) fn bar(verb: &str, done: u64, total: Option<u64>) -> String {
    const WIDTH: u64 = 50;
    match total {
        Some(total) if total > 0 => {
            let filled = (done.min(total) * WIDTH / total).max(1);
            let bar: String =
                "=".repeat((filled - 1) as usize) + ">" + &" ".repeat((WIDTH - filled) as usize);
            format!(
                "{verb} [{bar}]  {}/{}",
                crate::human::size(done),
                crate::human::size(total)
            )
        }
        _ => format!("{verb}  {}", crate::human::size(done)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_reads_like_dockers() {
        assert_eq!(
            downloading(5_000_000, Some(10_000_000)),
            format!(
                "Downloading [{}>{}]  5MB/10MB",
                "=".repeat(24),
                " ".repeat(25)
            )
        );
        assert_eq!(
            downloading(0, Some(10)),
            format!("Downloading [>{}]  0B/10B", " ".repeat(49))
        );
        assert_eq!(downloading(1_500, None), "Downloading  1.5kB");
    }
}
