//! `mini info`, `mini version` and `mini system df`: the engine's figures (runtime's info.rs)
//! printed as Docker prints them, or through `--format`.

use clap::Args;
use serde_json::{json, Value};

use crate::context::{CliResult, Context};
use crate::human;
use crate::template::Template;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json', or a Go template)
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template ('table', 'json', or a Go template)
    #[arg(long)]
    format: Option<String>,
}

/// `--format json` is `{{json .}}`, as in Docker.
fn template(format: Option<&str>) -> CliResult<Option<Template>> {
    let format = format.map(|f| if f == "json" { "{{json .}}" } else { f });
    Template::from_flag(format)
}

pub fn info(context: &Context, args: InfoArgs) -> CliResult {
    let engine = context.engine()?;
    let info = engine.info(&context.registry_config()?)?;
    if let Some(template) = template(args.format.as_deref())? {
        println!("{}", template.render(&info));
        return Ok(());
    }
    print!("{}", info_text(&info));
    for warning in info["Warnings"].as_array().into_iter().flatten() {
        eprintln!("{}", warning.as_str().unwrap_or_default());
    }
    Ok(())
}

/// Docker's text of `info`.
fn info_text(info: &Value) -> String {
    let s = |key: &str| match &info[key] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut out = String::from("Client:\n Context:    default\n Debug Mode: false\n\nServer:\n");
    out.push_str(&format!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n Images: {}\n",
        s("Containers"),
        s("ContainersRunning"),
        s("ContainersPaused"),
        s("ContainersStopped"),
        s("Images")
    ));
    out.push_str(&format!(
        " Server Version: {}\n Storage Driver: {}\n",
        s("ServerVersion"),
        s("Driver")
    ));
    for pair in info["DriverStatus"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}: {}\n",
            pair[0].as_str().unwrap_or_default(),
            pair[1].as_str().unwrap_or_default()
        ));
    }
    let words = |value: &Value| -> String {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    };
    out.push_str(&format!(
        " Logging Driver: {}\n Cgroup Driver: {}\n Cgroup Version: {}\n Plugins:\n  Volume: {}\n  Network: {}\n  Log: {}\n",
        s("LoggingDriver"),
        s("CgroupDriver"),
        s("CgroupVersion"),
        words(&info["Plugins"]["Volume"]),
        words(&info["Plugins"]["Network"]),
        words(&info["Plugins"]["Log"]),
    ));
    let runtimes: Vec<&String> = info["Runtimes"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    out.push_str(&format!(
        " Runtimes: {}\n Default Runtime: {}\n Security Options:\n",
        runtimes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        s("DefaultRuntime")
    ));
    for option in info["SecurityOptions"].as_array().into_iter().flatten() {
        let option = option.as_str().unwrap_or_default();
        let mut name = "";
        let mut rest = Vec::new();
        for part in option.split(',') {
            match part.split_once('=') {
                Some(("name", value)) => name = value,
                Some((key, value)) => rest.push(format!(
                    "{}{}: {value}",
                    &key[..1].to_uppercase(),
                    &key[1..]
                )),
                None => {}
            }
        }
        out.push_str(&format!("  {name}\n"));
        for line in rest {
            out.push_str(&format!("   {line}\n"));
        }
    }
    out.push_str(&format!(
        " Kernel Version: {}\n Operating System: {}\n OSType: {}\n Architecture: {}\n CPUs: {}\n Total Memory: {}\n Name: {}\n ID: {}\n Docker Root Dir: {}\n Debug Mode: false\n Registry: {}\n Labels:\n Experimental: false\n Insecure Registries:\n",
        s("KernelVersion"),
        s("OperatingSystem"),
        s("OSType"),
        s("Architecture"),
        s("NCPU"),
        human::binary_size(info["MemTotal"].as_u64().unwrap_or(0)),
        s("Name"),
        s("ID"),
        s("DockerRootDir"),
        s("IndexServerAddress"),
    ));
    for cidr in info["RegistryConfig"]["InsecureRegistryCIDRs"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push_str(&format!("  {}\n", cidr.as_str().unwrap_or_default()));
    }
    let mirrors = info["RegistryConfig"]["Mirrors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !mirrors.is_empty() {
        out.push_str(" Registry Mirrors:\n");
        for mirror in mirrors {
            out.push_str(&format!("  {}\n", mirror.as_str().unwrap_or_default()));
        }
    }
    out.push_str(&format!(
        " Live Restore Enabled: {}\n\n",
        s("LiveRestoreEnabled")
    ));
    out
}

pub fn version(context: &Context, args: InfoArgs) -> CliResult {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let client = json!({
        "Platform": {"Name": "mini"},
        "Version": mini_runtime::info::VERSION,
        "Os": "linux",
        "Arch": arch,
        "Context": "default",
    });
    // The engine is this same binary: no daemon to ask, but the instance's state must open.
    let engine = context.engine()?;
    let server = engine.version();
    let both = json!({"Client": client, "Server": server});
    if let Some(template) = template(args.format.as_deref())? {
        println!("{}", template.render(&both));
        return Ok(());
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    println!("Client:");
    println!(" Version:           {}", text(&client["Version"]));
    println!(" OS/Arch:           linux/{arch}");
    println!(" Context:           default");
    println!();
    println!("Server: {}", text(&server["Platform"]["Name"]));
    println!(" Engine:");
    println!("  Version:          {}", text(&server["Version"]));
    println!("  OS/Arch:          linux/{arch}");
    println!("  Kernel Version:   {}", text(&server["KernelVersion"]));
    println!("  Experimental:     false");
    println!(" Runtime:");
    println!("  Name:             libcontainer (youki), in-process");
    Ok(())
}

pub fn df(context: &Context, args: DfArgs) -> CliResult {
    let engine = context.engine()?;
    let usage = engine.disk_usage()?;
    let rows = [
        ("Images", &usage.images),
        ("Containers", &usage.containers),
        ("Local Volumes", &usage.volumes),
        ("Build Cache", &usage.build_cache),
    ];
    let reclaimable =
        |u: &mini_runtime::info::Usage| match (u.reclaimable * 100).checked_div(u.size) {
            Some(percent) => format!("{} ({percent}%)", human::size(u.reclaimable)),
            None => human::size(u.reclaimable),
        };
    let values: Vec<Value> = rows
        .iter()
        .map(|(kind, u)| {
            json!({
                "Type": kind,
                "TotalCount": u.total.to_string(),
                "Active": u.active.to_string(),
                "Size": human::size(u.size),
                "Reclaimable": reclaimable(u),
            })
        })
        .collect();
    if let Some(template) = template(args.format.as_deref())? {
        if template.table {
            let header = template.header(|name| match name {
                "TotalCount" => "TOTAL".into(),
                other => other.to_uppercase(),
            });
            let mut table: Vec<Vec<String>> = vec![header.split('\t').map(String::from).collect()];
            table.extend(
                values
                    .iter()
                    .map(|v| template.render(v).split('\t').map(String::from).collect()),
            );
            print!("{}", human::table(&table));
        } else {
            for value in &values {
                println!("{}", template.render(value));
            }
        }
        return Ok(());
    }
    let mut table = vec![["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
        .map(String::from)
        .to_vec()];
    for value in &values {
        table.push(
            ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
                .iter()
                .map(|k| value[*k].as_str().unwrap_or_default().to_string())
                .collect(),
        );
    }
    print!("{}", human::table(&table));
    Ok(())
}
