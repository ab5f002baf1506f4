//! `mini inspect` (containers, then images, as Docker looks them up) and
//! `mini container inspect`: Docker's JSON, or a `--format` template applied to it.

use clap::Args;
use serde_json::Value;

use crate::context::{CliError, CliResult, Context};
use crate::template::Template;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Only inspect objects of this type (container or image)
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes (accepted; sizes are not computed yet)
    #[arg(short, long)]
    size: bool,
    /// Containers or images, by name or id
    #[arg(required = true)]
    names: Vec<String>,
}

/// Which objects a form of inspect looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Any,
    Container,
    Image,
}

pub fn run(context: &Context, args: InspectArgs, kind: Kind) -> CliResult {
    let kind = match args.kind.as_deref() {
        None => kind,
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        Some(other) => {
            return Err(CliError::new(
                125,
                anyhow::anyhow!("\"{other}\" is not a valid value for --type"),
            ))
        }
    };
    let template = Template::from_flag(args.format.as_deref())?;
    let engine = context.engine()?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        let container = if kind == Kind::Image {
            None
        } else {
            engine
                .find(name)
                .ok()
                .map(|record| mini_runtime::views::container_json(&engine, &record))
        };
        let value = match (container, kind) {
            (Some(value), _) => Some(value),
            (None, Kind::Container) => None,
            (None, _) => super::image_inspect::image_json(context, name).ok(),
        };
        match value {
            Some(value) => found.push(value),
            None => {
                let what = match kind {
                    Kind::Container => "container",
                    Kind::Image => "image",
                    Kind::Any => "object",
                };
                eprintln!("Error: No such {what}: {name}");
                failed = true;
            }
        }
    }
    match template {
        Some(template) => {
            for value in &found {
                println!("{}", template.render(value));
            }
        }
        // Docker prints what it found even when some names were not.
        None => println!("{}", pretty(&Value::Array(found))),
    }
    if failed {
        return Err(CliError::reported(1));
    }
    Ok(())
}

/// JSON indented by four spaces, as Docker prints it.
pub fn pretty(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).expect("JSON values serialize");
    String::from_utf8(out).expect("JSON is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_indented_by_four_spaces() {
        assert_eq!(
            pretty(&json!([{"a": 1}])),
            "[\n    {\n        \"a\": 1\n    }\n]"
        );
    }
}
