//! `mini build`: a Dockerfile made into an image, step by step, as Docker's classic builder
//! makes it, with BuildKit's habit of skipping stages the target does not need.
//!
//! 1. Parse (`parse-dockerfile`: instructions, heredocs, the `# escape=` directive) into steps
//!    of our own, checking every flag and stage reference before anything runs.
//! 2. Each stage starts from its FROM (an image, pulled if missing; `scratch`; an earlier
//!    stage) and carries a state: the image config and the layers so far. Its id is the
//!    config's digest, as an image's is.
//! 3. Each step first asks the cache: (parent state, the instruction after substitution, the
//!    build args a RUN sees, the checksum of COPY's sources) -> the state it led to. A hit
//!    reuses it; a miss runs the step:
//!    - RUN: a container made from the state through the same path as `mini run` (the build's
//!      network, the state's env, user and workdir), attached; its upper directory becomes the
//!      layer (`commit`'s packing), and the container goes.
//!    - COPY, ADD, WORKDIR: files written into an empty folder laid out as an upper directory
//!      (copy.rs), packed as the layer. No container.
//!    - everything else changes the config only (an `empty_layer` history entry).
//! 4. The target stage's state becomes the image, tagged.
//!
//! Layers are stored as every other layer (compressed blob + unpacked), so a built image runs
//! at once and shares its base's layers. A failing step leaves no container and no half-made
//! layer; the steps before it stay in the cache.

pub mod copy;
pub mod ignore;
pub mod words;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use mini_storage::make::{self, NewLayer};
use mini_storage::{digest, ImageRecord, ImageRef};
use parse_dockerfile as pd;
use serde_json::{json, Map, Value};

use crate::engine::{CreateOptions, Engine};
use crate::error::{Error, Result};

use self::copy::{Found, LayerTree, Ownership, SourceRoot};
use self::ignore::Ignore;

/// What `mini build` is asked for.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The context folder; None when only a Dockerfile came (on stdin).
    pub context: Option<PathBuf>,
    pub dockerfile: String,
    /// The Dockerfile's name in messages (`Dockerfile`, `-`).
    pub dockerfile_name: String,
    pub tags: Vec<ImageRef>,
    /// `--build-arg`: name -> value.
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: BTreeMap<String, String>,
    /// The network RUN steps are on.
    pub network: String,
}

/// What a build reports as it goes, for the classic builder's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// The context's size in bytes (what is not ignored).
    Context(u64),
    /// `Step N/M : TEXT`.
    Step {
        number: usize,
        total: usize,
        text: String,
    },
    UsingCache,
    /// A RUN step's container (short id).
    Running(String),
    /// What it printed: 1 for stdout, 2 for stderr.
    Output(u8, Vec<u8>),
    Removing(String),
    /// The step's result (the state's short id).
    Done(String),
    /// `# Executing N build triggers`.
    Triggers(usize),
    Warning(String),
}

/// Fetches an image the build needs that is not here (the CLI pulls it, with its progress).
pub type Pull<'a> = &'a dyn Fn(&ImageRef) -> Result<ImageRecord>;

/// A command's two forms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    Exec(Vec<String>),
    /// The text, line continuations removed.
    Shell(String),
}

#[derive(Debug, Clone)]
enum CopySource {
    Path(String),
    HereDoc {
        name: String,
        content: String,
        expand: bool,
    },
}

#[derive(Debug, Clone)]
enum Op {
    From {
        image: String,
        name: Option<String>,
    },
    Arg(Vec<(String, Option<String>)>),
    Run {
        command: Form,
        /// `RUN <<EOF` with nothing else: each here-document is a script.
        scripts: Vec<String>,
        /// `RUN --network=none|host`.
        network: Option<String>,
    },
    Copy {
        add: bool,
        sources: Vec<CopySource>,
        dest: String,
        from: Option<String>,
        chown: Option<String>,
        chmod: Option<String>,
    },
    Env(String),
    Label(String),
    Expose(Vec<String>),
    User(String),
    Workdir(String),
    Volume(Vec<String>),
    Stopsignal(String),
    Cmd(Form),
    Entrypoint(Form),
    Shell(Vec<String>),
    Healthcheck(Value),
    Onbuild(String),
    Maintainer(String),
}

#[derive(Debug, Clone)]
struct Step {
    line: usize,
    /// The instruction as Docker prints it in `Step N/M : ...`.
    text: String,
    op: Op,
}

#[derive(Debug, Clone)]
struct StageDef {
    name: Option<String>,
    from: Step,
    steps: Vec<Step>,
}

#[derive(Debug)]
struct Parsed {
    escape: char,
    global_args: Vec<Step>,
    stages: Vec<StageDef>,
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The first logical line from `start`: what `Step N/M` shows, continuations joined.
fn logical_line(text: &str, start: usize, escape: char) -> String {
    let rest = &text[start.min(text.len())..];
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == escape && chars.peek() == Some(&'\n') {
            chars.next();
            continue;
        }
        if c == '\n' {
            break;
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// A shell form's text with `escape`+newline removed, as Docker joins continued lines.
fn join_lines(text: &str, escape: char) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == escape && matches!(chars.peek(), Some('\n') | Some('\r')) {
            while matches!(chars.peek(), Some('\n') | Some('\r')) {
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The here-document names on an instruction's first line (`<<EOF`, `<<-"EOF"`).
fn heredoc_names(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        let after = rest[at + 2..].trim_start_matches('-');
        let name: String = after
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
        rest = &rest[at + 2..];
    }
    names
}

fn form(text: &str, command: &pd::Command, escape: char) -> Form {
    match command {
        pd::Command::Exec(items) => {
            Form::Exec(items.value.iter().map(|s| s.value.to_string()).collect())
        }
        pd::Command::Shell(shell) => {
            let _ = text;
            Form::Shell(join_lines(shell.value, escape).trim().to_string())
        }
        _ => Form::Shell(String::new()),
    }
}

fn parse(text: &str, file: &str) -> Result<Parsed> {
    let parsed = pd::parse(text).map_err(|err| Error::Invalid(format!("{file}: {err}")))?;
    let escape = parsed
        .parser_directives
        .escape
        .as_ref()
        .map(|e| e.value.value)
        .unwrap_or('\\');
    let mut global_args = Vec::new();
    let mut stages: Vec<StageDef> = Vec::new();
    for instruction in &parsed.instructions {
        let step = to_step(text, file, escape, instruction)?;
        match (&step.op, stages.last_mut()) {
            (Op::From { name, .. }, _) => stages.push(StageDef {
                name: name.clone(),
                from: step,
                steps: Vec::new(),
            }),
            (Op::Arg(_), None) => global_args.push(step),
            (_, None) => {
                return Err(Error::Invalid(format!(
                    "{file}:{}: {} before the first FROM: only ARG may come before it",
                    step.line,
                    step.text.split_whitespace().next().unwrap_or("")
                )))
            }
            (_, Some(stage)) => stage.steps.push(step),
        }
    }
    if stages.is_empty() {
        return Err(Error::Invalid(format!(
            "{file}: no FROM instruction: the file makes no image"
        )));
    }
    Ok(Parsed {
        escape,
        global_args,
        stages,
    })
}

fn check_flags(
    file: &str,
    line: usize,
    what: &str,
    flags: &[pd::Flag],
    allowed: &[&str],
) -> Result<()> {
    for flag in flags {
        let name = flag.name.value.as_ref();
        if !allowed.contains(&name) {
            return Err(Error::Invalid(format!(
                "{file}:{line}: {what}: unknown flag: --{name}"
            )));
        }
    }
    Ok(())
}

fn flag(flags: &[pd::Flag], name: &str) -> Option<String> {
    flags.iter().find(|f| f.name.value == name).map(|f| {
        f.value
            .as_ref()
            .map(|v| v.value.to_string())
            .unwrap_or_default()
    })
}

fn to_step(text: &str, file: &str, escape: char, instruction: &pd::Instruction) -> Result<Step> {
    use pd::Instruction as I;
    let keyword = match instruction {
        I::Add(i) => &i.add,
        I::Arg(i) => &i.arg,
        I::Cmd(i) => &i.cmd,
        I::Copy(i) => &i.copy,
        I::Entrypoint(i) => &i.entrypoint,
        I::Env(i) => &i.env,
        I::Expose(i) => &i.expose,
        I::From(i) => &i.from,
        I::Healthcheck(i) => &i.healthcheck,
        I::Label(i) => &i.label,
        I::Maintainer(i) => &i.maintainer,
        I::Onbuild(i) => &i.onbuild,
        I::Run(i) => &i.run,
        I::Shell(i) => &i.shell,
        I::Stopsignal(i) => &i.stopsignal,
        I::User(i) => &i.user,
        I::Volume(i) => &i.volume,
        I::Workdir(i) => &i.workdir,
        _ => {
            return Err(Error::Invalid(format!(
                "{file}: an instruction mini does not know"
            )))
        }
    };
    let start = keyword.span.start;
    let line = line_of(text, start);
    let shown = logical_line(text, start, escape);
    let bad = |reason: String| Error::Invalid(format!("{file}:{line}: {reason}"));
    let op = match instruction {
        I::From(i) => {
            check_flags(file, line, "FROM", &i.options, &["platform"])?;
            if let Some(platform) = flag(&i.options, "platform") {
                let host = mini_storage::pull::host_platform();
                if !platform.contains('$') && platform != host {
                    return Err(bad(format!(
                        "FROM --platform={platform}: only this host's platform ({host}) can be built"
                    )));
                }
            }
            Op::From {
                image: i.image.value.to_string(),
                name: i.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
            }
        }
        // Defaults are expanded when the step runs: their raw text is kept.
        I::Arg(i) => Op::Arg(raw_pairs(&i.arguments.value)),
        I::Run(i) => {
            check_flags(file, line, "RUN", &i.options, &["network"])?;
            let network = flag(&i.options, "network");
            if let Some(network) = &network {
                if !matches!(network.as_str(), "default" | "none" | "host") {
                    return Err(bad(format!(
                        "RUN --network={network}: expected default, none or host"
                    )));
                }
            }
            let command = form(text, &i.arguments, escape);
            let mut scripts = Vec::new();
            if !i.here_docs.is_empty() {
                let first = logical_line(text, i.run.span.end, escape);
                let only_heredocs = first.split_whitespace().all(|w| w.starts_with("<<"));
                if only_heredocs {
                    scripts = i.here_docs.iter().map(|h| h.value.to_string()).collect();
                }
                let command = if only_heredocs {
                    Form::Shell(String::new())
                } else {
                    // The whole text after RUN, here-documents and their ends included.
                    let end = i
                        .here_docs
                        .last()
                        .map(|h| h.span.end)
                        .unwrap_or(i.run.span.end);
                    let end = text[end..].find('\n').map_or(text.len(), |n| end + n);
                    Form::Shell(text[i.run.span.end..end].trim().to_string())
                };
                Op::Run {
                    command,
                    scripts,
                    network,
                }
            } else {
                Op::Run {
                    command,
                    scripts,
                    network,
                }
            }
        }
        I::Copy(i) => {
            check_flags(
                file,
                line,
                "COPY",
                &i.options,
                &["from", "chown", "chmod", "link"],
            )?;
            Op::Copy {
                add: false,
                sources: sources(&i.src, &shown),
                dest: i.dest.value.to_string(),
                from: flag(&i.options, "from"),
                chown: flag(&i.options, "chown"),
                chmod: flag(&i.options, "chmod"),
            }
        }
        I::Add(i) => {
            check_flags(
                file,
                line,
                "ADD",
                &i.options,
                &["chown", "chmod", "link", "checksum", "keep-git-dir"],
            )?;
            Op::Copy {
                add: true,
                sources: sources(&i.src, &shown),
                dest: i.dest.value.to_string(),
                from: None,
                chown: flag(&i.options, "chown"),
                chmod: flag(&i.options, "chmod"),
            }
        }
        I::Env(i) => Op::Env(i.arguments.value.to_string()),
        I::Label(i) => Op::Label(i.arguments.value.to_string()),
        I::Expose(i) => Op::Expose(i.arguments.iter().map(|a| a.value.to_string()).collect()),
        I::User(i) => Op::User(i.arguments.value.to_string()),
        I::Workdir(i) => Op::Workdir(i.arguments.value.to_string()),
        I::Volume(i) => Op::Volume(match &i.arguments {
            pd::JsonOrStringArray::Json(items) => {
                items.value.iter().map(|s| s.value.to_string()).collect()
            }
            pd::JsonOrStringArray::String(items) => {
                items.iter().map(|s| s.value.to_string()).collect()
            }
        }),
        I::Stopsignal(i) => Op::Stopsignal(i.arguments.value.to_string()),
        I::Cmd(i) => Op::Cmd(form(text, &i.arguments, escape)),
        I::Entrypoint(i) => Op::Entrypoint(form(text, &i.arguments, escape)),
        I::Shell(i) => Op::Shell(i.arguments.iter().map(|a| a.value.to_string()).collect()),
        I::Maintainer(i) => Op::Maintainer(i.name.value.to_string()),
        I::Onbuild(i) => {
            let inner = logical_line(text, i.onbuild.span.end, escape);
            let first = inner.split_whitespace().next().unwrap_or("").to_uppercase();
            if matches!(first.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(bad(format!("{first} isn't allowed as an ONBUILD trigger")));
            }
            Op::Onbuild(inner)
        }
        I::Healthcheck(i) => {
            check_flags(
                file,
                line,
                "HEALTHCHECK",
                &i.options,
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
            )?;
            let mut check = Map::new();
            match &i.arguments {
                pd::HealthcheckArguments::None { .. } => {
                    check.insert("Test".into(), json!(["NONE"]));
                }
                pd::HealthcheckArguments::Cmd { arguments, .. } => {
                    let test = match form(text, arguments, escape) {
                        Form::Exec(argv) => std::iter::once("CMD".to_string())
                            .chain(argv)
                            .collect::<Vec<_>>(),
                        Form::Shell(line) => vec!["CMD-SHELL".to_string(), line],
                    };
                    check.insert("Test".into(), json!(test));
                }
                _ => return Err(bad("HEALTHCHECK: expected CMD or NONE".into())),
            }
            for (flag_name, key) in [
                ("interval", "Interval"),
                ("timeout", "Timeout"),
                ("start-period", "StartPeriod"),
                ("start-interval", "StartInterval"),
            ] {
                if let Some(value) = flag(&i.options, flag_name) {
                    let nanos = duration_nanos(&value).ok_or_else(|| {
                        bad(format!(
                            "HEALTHCHECK --{flag_name}={value}: not a duration (30s, 1m30s)"
                        ))
                    })?;
                    check.insert(key.into(), json!(nanos));
                }
            }
            if let Some(value) = flag(&i.options, "retries") {
                let retries: u64 = value
                    .parse()
                    .map_err(|_| bad(format!("HEALTHCHECK --retries={value}: not a number")))?;
                check.insert("Retries".into(), json!(retries));
            }
            Op::Healthcheck(Value::Object(check))
        }
        _ => return Err(bad(format!("{shown}: this instruction is not supported"))),
    };
    Ok(Step {
        line,
        text: shown,
        op,
    })
}

/// `NAME=raw value` or `NAME` for each ARG word, values unexpanded.
fn raw_pairs(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for word in split_raw(text) {
        match word.split_once('=') {
            Some((name, value)) => out.push((name.to_string(), Some(value.to_string()))),
            None => out.push((word, None)),
        }
    }
    out
}

/// Splits on whitespace outside quotes, keeping quotes and escapes for later expansion.
fn split_raw(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                word.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (_, '\\') => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn sources(src: &[pd::Source], first_line: &str) -> Vec<CopySource> {
    let mut names = heredoc_names(first_line).into_iter();
    src.iter()
        .map(|s| match s {
            pd::Source::Path(p) => CopySource::Path(p.value.to_string()),
            pd::Source::HereDoc(h) => CopySource::HereDoc {
                name: names.next().unwrap_or_else(|| "EOF".into()),
                content: h.value.to_string(),
                expand: h.expand,
            },
            _ => CopySource::Path(String::new()),
        })
        .collect()
}

/// Go's durations as HEALTHCHECK takes them: `30s`, `1m30s`, `500ms`, `1h`.
fn duration_nanos(text: &str) -> Option<u64> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Some(total as u64)
}

/// Where a stage is on its way: the image it would be now.
#[derive(Debug, Clone)]
struct State {
    config: Value,
    layers: Vec<NewLayer>,
    id: String,
    /// ARG values in scope (not part of the image).
    args: BTreeMap<String, String>,
}

impl State {
    fn config_mut(&mut self) -> &mut Map<String, Value> {
        let root = self.config.as_object_mut().expect("a config is an object");
        let slot = root.entry("config").or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        slot.as_object_mut().expect("made an object")
    }

    fn env(&self) -> Vec<String> {
        self.config["config"]["Env"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A variable as substitution sees it: ENV first, then ARG.
    fn lookup(&self, name: &str) -> Option<String> {
        self.env()
            .iter()
            .rev()
            .find_map(|e| {
                e.split_once('=')
                    .filter(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .or_else(|| self.args.get(name).cloned())
    }

    fn shell(&self) -> Vec<String> {
        self.config["config"]["Shell"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn workdir(&self) -> String {
        match self.config["config"]["WorkingDir"].as_str() {
            Some(dir) if !dir.is_empty() => dir.to_string(),
            _ => "/".into(),
        }
    }
}

/// A cache entry: the state a step led to.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    config: String,
    layers: Vec<CachedLayer>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CachedLayer {
    digest: String,
    diff_id: String,
    chain_id: String,
    size: u64,
    media_type: String,
}

/// One build under way.
struct Run<'a> {
    engine: &'a Engine,
    options: &'a BuildOptions,
    events: &'a mut dyn FnMut(BuildEvent),
    pull: Pull<'a>,
    escape: char,
    ignore: Ignore,
    global: BTreeMap<String, String>,
    /// Stage results by index.
    done: Vec<Option<State>>,
    names: HashMap<String, usize>,
    step: usize,
    total: usize,
    used_args: BTreeSet<String>,
    cache_dir: PathBuf,
    /// Numbers the temporary folders of this build.
    temp_seq: u64,
}

impl Engine {
    /// Builds an image. See the module's comment for how.
    pub fn build(
        &self,
        options: &BuildOptions,
        events: &mut dyn FnMut(BuildEvent),
        pull: Pull,
    ) -> Result<ImageRecord> {
        let parsed = parse(&options.dockerfile, &options.dockerfile_name)?;
        let ignore = match &options.context {
            Some(context) => Ignore::for_context(
                context,
                Path::new(&options.dockerfile_name)
                    .file_name()
                    .and_then(|n| n.to_str()),
            )
            .map_err(Error::Invalid)?,
            None => Ignore::default(),
        };
        let names: HashMap<String, usize> = parsed
            .stages
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.name.clone().map(|n| (n, i)))
            .collect();
        let target = match &options.target {
            Some(name) => *names.get(&name.to_lowercase()).ok_or_else(|| {
                Error::Invalid(format!("failed to reach build target {name} in Dockerfile"))
            })?,
            None => parsed.stages.len() - 1,
        };
        // Global ARGs: their defaults (or the build args) for FROM lines.
        let mut global = BTreeMap::new();
        let mut used_args = BTreeSet::new();
        for step in &parsed.global_args {
            if let Op::Arg(args) = &step.op {
                for (name, default) in args {
                    let lookup = |n: &str| global.get(n).cloned();
                    let value = match options.build_args.get(name) {
                        Some(v) => Some(v.clone()),
                        None => default
                            .as_ref()
                            .map(|d| words::word(d, &lookup, parsed.escape))
                            .transpose()
                            .map_err(|e| {
                                Error::Invalid(format!(
                                    "{}:{}: {e}",
                                    options.dockerfile_name, step.line
                                ))
                            })?,
                    };
                    if options.build_args.contains_key(name) {
                        used_args.insert(name.clone());
                    }
                    if let Some(value) = value {
                        global.insert(name.clone(), value);
                    }
                }
            }
        }
        let needed = needed_stages(&parsed, target, &global, &names, parsed.escape)?;
        let total = parsed.global_args.len()
            + needed
                .iter()
                .map(|&i| 1 + parsed.stages[i].steps.len())
                .sum::<usize>();
        if let Some(context) = &options.context {
            events(BuildEvent::Context(context_size(context, &ignore)));
        }
        let cache_dir = self.store.root.join("buildcache");
        std::fs::create_dir_all(&cache_dir).map_err(Error::io(&cache_dir))?;
        let mut run = Run {
            engine: self,
            options,
            events,
            pull,
            escape: parsed.escape,
            ignore,
            global,
            done: vec![None; parsed.stages.len()],
            names,
            step: 0,
            total,
            used_args,
            cache_dir,
            temp_seq: 0,
        };
        for step in &parsed.global_args {
            run.announce(step);
            (run.events)(BuildEvent::Done(String::new()));
        }
        for &index in &needed {
            let state = run.stage(&parsed.stages[index], index)?;
            run.done[index] = Some(state);
        }
        let unused: Vec<&String> = options
            .build_args
            .keys()
            .filter(|k| !run.used_args.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            (run.events)(BuildEvent::Warning(format!(
                "[Warning] One or more build-args [{}] were not consumed",
                list.join(" ")
            )));
        }
        let mut state = run.done[target].clone().expect("the target was built");
        if !options.labels.is_empty() {
            let labels = state
                .config_mut()
                .entry("Labels")
                .or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for (key, value) in &options.labels {
                labels[key.as_str()] = json!(value);
            }
        }
        let size = state
            .layers
            .iter()
            .map(|l| self.layers.size(&l.record.chain_id))
            .sum();
        let bytes = serde_json::to_vec(&state.config).expect("a config serializes");
        Ok(self.images.create_image_from(
            &state.config,
            &bytes,
            &state.layers,
            size,
            &options.tags,
        )?)
    }
}

/// The label that marks a RUN step's container with the build that made it.
pub const BUILDER_LABEL: &str = "mini.build";

/// `PID:START:BOOT` of this process.
fn builder_token() -> String {
    let pid = std::process::id() as i32;
    let start = crate::process::start_time(pid).unwrap_or(0);
    format!("{pid}:{start}:{}", crate::process::boot_id())
}

/// Whether the build a container's label names is gone.
pub fn builder_gone(token: &str) -> bool {
    let mut parts = token.splitn(3, ':');
    let (Some(pid), Some(start), Some(boot)) = (parts.next(), parts.next(), parts.next()) else {
        return true;
    };
    match (pid.parse::<i32>(), start.parse::<u64>()) {
        (Ok(pid), Ok(start)) => !crate::process::is_alive(pid, start, boot),
        _ => true,
    }
}

/// Docker's predefined build args, never reported as unused.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The stages the target needs (itself, the stages its FROM and COPY --from name), in order.
fn needed_stages(
    parsed: &Parsed,
    target: usize,
    global: &BTreeMap<String, String>,
    names: &HashMap<String, usize>,
    escape: char,
) -> Result<Vec<usize>> {
    let lookup = |n: &str| global.get(n).cloned();
    let refer = |text: &str, before: usize| -> Option<usize> {
        let text = words::word(text, &lookup, escape).unwrap_or_else(|_| text.to_string());
        let lower = text.to_lowercase();
        match names.get(&lower) {
            Some(&i) if i < before => Some(i),
            _ => text.parse::<usize>().ok().filter(|&i| i < before),
        }
    };
    let mut needed = BTreeSet::new();
    let mut pending = vec![target];
    while let Some(index) = pending.pop() {
        if !needed.insert(index) {
            continue;
        }
        let stage = &parsed.stages[index];
        if let Op::From { image, .. } = &stage.from.op {
            let text = words::word(image, &lookup, escape)
                .unwrap_or_default()
                .to_lowercase();
            if let Some(&i) = names.get(&text) {
                if i < index {
                    pending.push(i);
                }
            }
        }
        for step in &stage.steps {
            if let Op::Copy {
                from: Some(from), ..
            } = &step.op
            {
                if let Some(i) = refer(from, index) {
                    pending.push(i);
                } else if from.parse::<usize>().is_ok() {
                    return Err(Error::Invalid(format!(
                        "Dockerfile:{}: COPY --from={from}: no stage {from} before this one",
                        step.line
                    )));
                }
            }
        }
    }
    Ok(needed.into_iter().collect())
}

/// The size of what the context holds (less what is ignored), for the first line of output.
fn context_size(context: &Path, ignore: &Ignore) -> u64 {
    fn walk(dir: &Path, relative: &str, ignore: &Ignore) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut total = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            let skipped = ignore.excludes(&child);
            if meta.is_dir() {
                if !skipped || ignore.may_include_below(&child) {
                    total += walk(&entry.path(), &child, ignore);
                }
            } else if !skipped {
                total += meta.len();
            }
        }
        total
    }
    walk(context, "", ignore)
}

fn scratch_config() -> Value {
    let platform = mini_storage::pull::host_platform();
    let (os, arch) = platform.split_once('/').unwrap_or(("linux", "amd64"));
    json!({
        "architecture": arch,
        "os": os,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    })
}

impl Run<'_> {
    fn file(&self) -> &str {
        &self.options.dockerfile_name
    }

    fn announce(&mut self, step: &Step) {
        self.step += 1;
        (self.events)(BuildEvent::Step {
            number: self.step,
            total: self.total,
            text: step.text.clone(),
        });
    }

    fn stage(&mut self, stage: &StageDef, index: usize) -> Result<State> {
        self.announce(&stage.from);
        let Op::From { image, .. } = &stage.from.op else {
            unreachable!("a stage starts with FROM")
        };
        let global = self.global.clone();
        let lookup = |n: &str| global.get(n).cloned();
        let name = words::word(image, &lookup, self.escape)
            .map_err(|e| Error::Invalid(format!("{}:{}: {e}", self.file(), stage.from.line)))?;
        if name.is_empty() {
            return Err(Error::Invalid(format!(
                "{}:{}: FROM names no image (an empty ARG?)",
                self.file(),
                stage.from.line
            )));
        }
        let mut state = if name.eq_ignore_ascii_case("scratch") {
            let config = scratch_config();
            let id = digest::sha256(&serde_json::to_vec(&config).expect("json"));
            State {
                config,
                layers: Vec::new(),
                id,
                args: BTreeMap::new(),
            }
        } else if let Some(&i) = self.names.get(&name.to_lowercase()).filter(|&&i| i < index) {
            let mut state = self.done[i].clone().expect("stages run in order");
            state.args.clear();
            state
        } else {
            self.image_state(&name, stage.from.line)?
        };
        (self.events)(BuildEvent::Done(digest::short(&state.id).to_string()));
        // The base's ONBUILD triggers run first, and the new image has none of its own yet.
        let triggers: Vec<String> = state.config["config"]["OnBuild"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !triggers.is_empty() {
            (self.events)(BuildEvent::Triggers(triggers.len()));
            state.config_mut().insert("OnBuild".into(), Value::Null);
            for trigger in &triggers {
                let text = format!("FROM scratch\n{trigger}\n");
                let parsed = parse(&text, "ONBUILD trigger")?;
                for step in &parsed.stages[0].steps {
                    self.run_step(&mut state, step, index)?;
                }
            }
        }
        for step in &stage.steps {
            self.announce(step);
            self.run_step(&mut state, step, index)?;
        }
        Ok(state)
    }

    /// The state of an image: local, or pulled.
    fn image_state(&mut self, name: &str, line: usize) -> Result<State> {
        let reference = ImageRef::parse(name)
            .map_err(|e| Error::Invalid(format!("{}:{line}: FROM {name}: {e}", self.file())))?;
        let image = match self.engine.images.lookup(&reference)? {
            Some(image) => image,
            None => match self.engine.images.resolve(name) {
                Ok((image, _)) => image,
                Err(_) => (self.pull)(&reference)?,
            },
        };
        let config = self.engine.images.config_of(&image)?;
        let layers = self.engine.images.layers_of(&image)?;
        Ok(State {
            config,
            layers,
            id: image.id.clone(),
            args: BTreeMap::new(),
        })
    }

    fn lookup<'s>(state: &'s State) -> impl Fn(&str) -> Option<String> + 's {
        move |name| state.lookup(name)
    }

    fn bad(&self, step: &Step, reason: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}:{}: {reason}", self.file(), step.line))
    }

    fn word(&self, state: &State, step: &Step, text: &str) -> Result<String> {
        words::word(text, &Self::lookup(state), self.escape).map_err(|e| self.bad(step, e))
    }

    fn words(&self, state: &State, step: &Step, text: &str) -> Result<Vec<String>> {
        words::words(text, &Self::lookup(state), self.escape).map_err(|e| self.bad(step, e))
    }

    /// KEY=VALUE words (ENV, LABEL), or ENV's older `KEY VALUE` form.
    fn pairs(
        &self,
        state: &State,
        step: &Step,
        text: &str,
        legacy: bool,
    ) -> Result<Vec<(String, String)>> {
        let first = split_raw(text).into_iter().next().unwrap_or_default();
        if first.is_empty() {
            return Err(self.bad(step, "requires at least one argument"));
        }
        if !first.contains('=') {
            if !legacy {
                return Err(self.bad(step, format!("{first:?} is not KEY=VALUE")));
            }
            let name = self.word(state, step, &first)?;
            let value = self.word(state, step, text.trim_start()[first.len()..].trim())?;
            return Ok(vec![(name, value)]);
        }
        self.words(state, step, text)?
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(self.bad(step, format!("{w:?} is not KEY=VALUE"))),
            })
            .collect()
    }

    /// A CMD/ENTRYPOINT/RUN form as the argv it runs.
    fn argv(&self, state: &State, form: &Form) -> Vec<String> {
        match form {
            Form::Exec(argv) => argv.clone(),
            Form::Shell(text) if text.is_empty() => Vec::new(),
            Form::Shell(text) => {
                let mut argv = state.shell();
                argv.push(text.clone());
                argv
            }
        }
    }

    /// Runs one step, through the cache.
    fn run_step(&mut self, state: &mut State, step: &Step, stage: usize) -> Result<()> {
        let nop = |text: String| format!("/bin/sh -c #(nop)  {text}");
        match &step.op {
            Op::From { .. } => Err(self.bad(step, "FROM inside a stage")),
            Op::Arg(args) => {
                for (name, default) in args {
                    let value = if let Some(v) = self.options.build_args.get(name) {
                        self.used_args.insert(name.clone());
                        Some(v.clone())
                    } else if let Some(default) = default {
                        Some(self.word(state, step, default)?)
                    } else {
                        self.global.get(name).cloned()
                    };
                    match value {
                        Some(v) => state.args.insert(name.clone(), v),
                        None => state.args.remove(name),
                    };
                }
                let text = nop(step.text.clone());
                self.cached(
                    state,
                    json!({"arg": text, "args": state.args}),
                    text,
                    |_, _| Ok(None),
                )
            }
            Op::Env(text) => {
                let pairs = self.pairs(state, step, text, true)?;
                let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let history = nop(format!("ENV {}", shown.join(" ")));
                self.cached(state, json!({"env": shown}), history, move |_, state| {
                    let env = state.config_mut().entry("Env").or_insert_with(|| json!([]));
                    if !env.is_array() {
                        *env = json!([]);
                    }
                    let list = env.as_array_mut().expect("an array");
                    for (key, value) in &pairs {
                        list.retain(|e| e.as_str().and_then(|e| e.split('=').next()) != Some(key));
                        list.push(json!(format!("{key}={value}")));
                    }
                    Ok(None)
                })
            }
            Op::Label(text) => {
                let pairs = self.pairs(state, step, text, false)?;
                let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let history = nop(format!("LABEL {}", shown.join(" ")));
                self.cached(state, json!({"label": shown}), history, move |_, state| {
                    let labels = state
                        .config_mut()
                        .entry("Labels")
                        .or_insert_with(|| json!({}));
                    if !labels.is_object() {
                        *labels = json!({});
                    }
                    for (key, value) in &pairs {
                        labels[key.as_str()] = json!(value);
                    }
                    Ok(None)
                })
            }
            Op::Expose(ports) => {
                let mut expanded = Vec::new();
                for port in ports {
                    expanded.extend(self.words(state, step, port)?);
                }
                let mut keys = Vec::new();
                for port in &expanded {
                    let mut config = Map::new();
                    crate::instructions::apply(&mut config, &format!("EXPOSE {port}"))
                        .map_err(|e| self.bad(step, e))?;
                    keys.extend(
                        config["ExposedPorts"]
                            .as_object()
                            .into_iter()
                            .flat_map(|m| m.keys().cloned()),
                    );
                }
                let history = nop(format!("EXPOSE {}", keys.join(" ")));
                self.cached(state, json!({"expose": keys}), history, move |_, state| {
                    let exposed = state
                        .config_mut()
                        .entry("ExposedPorts")
                        .or_insert_with(|| json!({}));
                    if !exposed.is_object() {
                        *exposed = json!({});
                    }
                    for key in &keys {
                        exposed[key.as_str()] = json!({});
                    }
                    Ok(None)
                })
            }
            Op::User(text) => {
                let user = self.word(state, step, text)?;
                let history = nop(format!("USER {user}"));
                self.cached(state, json!({"user": user}), history, move |_, state| {
                    state.config_mut().insert("User".into(), json!(user));
                    Ok(None)
                })
            }
            Op::Stopsignal(text) => {
                let signal = self.word(state, step, text)?;
                crate::options::parse_signal(&signal).map_err(|e| self.bad(step, e))?;
                let history = nop(format!("STOPSIGNAL {signal}"));
                self.cached(
                    state,
                    json!({"stopsignal": signal}),
                    history,
                    move |_, state| {
                        state
                            .config_mut()
                            .insert("StopSignal".into(), json!(signal));
                        Ok(None)
                    },
                )
            }
            Op::Volume(paths) => {
                let mut expanded = Vec::new();
                for path in paths {
                    let path = self.word(state, step, path)?;
                    if path.is_empty() {
                        return Err(self.bad(step, "VOLUME: a path is empty"));
                    }
                    expanded.push(path);
                }
                let history = nop(format!("VOLUME [{}]", expanded.join(" ")));
                self.cached(
                    state,
                    json!({"volume": expanded}),
                    history,
                    move |_, state| {
                        let volumes = state
                            .config_mut()
                            .entry("Volumes")
                            .or_insert_with(|| json!({}));
                        if !volumes.is_object() {
                            *volumes = json!({});
                        }
                        for path in &expanded {
                            volumes[path.as_str()] = json!({});
                        }
                        Ok(None)
                    },
                )
            }
            Op::Cmd(form) | Op::Entrypoint(form) => {
                let key = if matches!(step.op, Op::Cmd(_)) {
                    "Cmd"
                } else {
                    "Entrypoint"
                };
                let argv = self.argv(state, form);
                let history = nop(format!("{} {}", key.to_uppercase(), json!(argv)));
                self.cached(state, json!({ key: argv }), history, move |_, state| {
                    state.config_mut().insert(key.into(), json!(argv));
                    if key == "Entrypoint" {
                        // As Docker: a new entrypoint drops the CMD inherited from the base.
                        state.config_mut().insert("Cmd".into(), Value::Null);
                    }
                    Ok(None)
                })
            }
            Op::Shell(shell) => {
                if shell.is_empty() {
                    return Err(self.bad(
                        step,
                        "SHELL requires the JSON form: SHELL [\"executable\", \"parameters\"]",
                    ));
                }
                let shell = shell.clone();
                let history = nop(format!("SHELL {}", json!(shell)));
                self.cached(state, json!({"shell": shell}), history, move |_, state| {
                    state.config_mut().insert("Shell".into(), json!(shell));
                    Ok(None)
                })
            }
            Op::Healthcheck(check) => {
                let check = check.clone();
                let history = nop(format!("HEALTHCHECK {}", check));
                self.cached(
                    state,
                    json!({"healthcheck": check}),
                    history,
                    move |_, state| {
                        state.config_mut().insert("Healthcheck".into(), check);
                        Ok(None)
                    },
                )
            }
            Op::Onbuild(trigger) => {
                let trigger = trigger.clone();
                let history = nop(format!("ONBUILD {trigger}"));
                self.cached(
                    state,
                    json!({"onbuild": trigger}),
                    history,
                    move |_, state| {
                        let triggers = state
                            .config_mut()
                            .entry("OnBuild")
                            .or_insert_with(|| json!([]));
                        if !triggers.is_array() {
                            *triggers = json!([]);
                        }
                        triggers
                            .as_array_mut()
                            .expect("an array")
                            .push(json!(trigger));
                        Ok(None)
                    },
                )
            }
            Op::Maintainer(name) => {
                let name = self.word(state, step, name)?;
                let history = nop(format!("MAINTAINER {name}"));
                self.cached(
                    state,
                    json!({"maintainer": name}),
                    history,
                    move |_, state| {
                        state
                            .config
                            .as_object_mut()
                            .expect("object")
                            .insert("author".into(), json!(name));
                        Ok(None)
                    },
                )
            }
            Op::Workdir(text) => {
                let dir = self.word(state, step, text)?;
                let absolute = Path::new(&state.workdir()).join(&dir);
                let absolute = normalize_absolute(&absolute);
                let history = nop(format!("WORKDIR {}", absolute.display()));
                let absolute_for_key = absolute.display().to_string();
                self.cached(
                    state,
                    json!({"workdir": absolute_for_key}),
                    history,
                    move |run, state| {
                        state
                            .config_mut()
                            .insert("WorkingDir".into(), json!(absolute.display().to_string()));
                        let lowers = run.lower_dirs(state)?;
                        let tree_check = LayerTree::new(Path::new("/nonexistent"), &lowers);
                        if tree_check.below(&absolute).is_some_and(|m| m.is_dir()) {
                            return Ok(None);
                        }
                        run.layer_from_tree(state, |tree| tree.make_dirs(&absolute).map(|_| ()))
                            .map(Some)
                    },
                )
            }
            Op::Run {
                command, scripts, ..
            } => self.run_command(state, step, command, scripts),
            Op::Copy {
                add,
                sources,
                dest,
                from,
                chown,
                chmod,
            } => self.copy(
                state,
                step,
                stage,
                *add,
                sources,
                dest,
                from.as_deref(),
                chown.as_deref(),
                chmod.as_deref(),
            ),
        }
    }

    /// The cache around one step: a hit takes the state it led to before; a miss runs `action`
    /// (which changes the config and may return a layer), records history, stores the state.
    fn cached(
        &mut self,
        state: &mut State,
        key: Value,
        history: String,
        action: impl FnOnce(&mut Self, &mut State) -> Result<Option<NewLayer>>,
    ) -> Result<()> {
        let key = digest::sha256(
            serde_json::to_vec(&json!({"parent": state.id, "step": key}))
                .expect("json")
                .as_slice(),
        );
        let entry_path = self.cache_dir.join(digest::hex_of(&key)?);
        if !self.options.no_cache {
            if let Some(hit) = self.cache_hit(&entry_path) {
                (self.events)(BuildEvent::UsingCache);
                state.config = hit.config;
                state.layers = hit.layers;
                state.id = hit.id;
                (self.events)(BuildEvent::Done(digest::short(&state.id).to_string()));
                return Ok(());
            }
        }
        let layer = action(self, state)?;
        let created = make::now_rfc3339();
        let root = state.config.as_object_mut().expect("a config is an object");
        root.insert("created".into(), json!(created));
        let mut entry = Map::new();
        entry.insert("created".into(), json!(created));
        entry.insert("created_by".into(), json!(history));
        if layer.is_none() {
            entry.insert("empty_layer".into(), json!(true));
        }
        let history_list = root.entry("history").or_insert_with(|| json!([]));
        if !history_list.is_array() {
            *history_list = json!([]);
        }
        history_list
            .as_array_mut()
            .expect("an array")
            .push(Value::Object(entry));
        if let Some(layer) = layer {
            state.layers.push(layer);
        }
        let ids: Vec<&str> = state
            .layers
            .iter()
            .map(|l| l.record.diff_id.as_str())
            .collect();
        root.insert("rootfs".into(), json!({"type": "layers", "diff_ids": ids}));
        let bytes = serde_json::to_vec(&state.config).expect("a config serializes");
        state.id = digest::sha256(&bytes);
        self.engine.images.put_blob(&state.id, &bytes)?;
        let entry = CacheEntry {
            config: state.id.clone(),
            layers: state
                .layers
                .iter()
                .map(|l| CachedLayer {
                    digest: l.record.digest.clone(),
                    diff_id: l.record.diff_id.clone(),
                    chain_id: l.record.chain_id.clone(),
                    size: l.record.size,
                    media_type: l.media_type.clone(),
                })
                .collect(),
        };
        let temp = entry_path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temp, serde_json::to_vec(&entry).expect("json"))
            .and_then(|()| std::fs::rename(&temp, &entry_path))
            .map_err(Error::io(&entry_path))?;
        (self.events)(BuildEvent::Done(digest::short(&state.id).to_string()));
        Ok(())
    }

    /// A cache entry whose config, blobs and layers are all still here.
    fn cache_hit(&self, path: &Path) -> Option<Hit> {
        let bytes = std::fs::read(path).ok()?;
        let entry: CacheEntry = serde_json::from_slice(&bytes).ok()?;
        let config_bytes = self.engine.images.read_blob(&entry.config).ok()?;
        let config: Value = serde_json::from_slice(&config_bytes).ok()?;
        let mut layers = Vec::new();
        for l in entry.layers {
            if !self.engine.layers.exists(&l.chain_id)
                || !self.engine.images.blob_path(&l.digest).ok()?.exists()
            {
                return None;
            }
            layers.push(NewLayer {
                record: mini_storage::images::LayerRecord {
                    digest: l.digest,
                    diff_id: l.diff_id,
                    chain_id: l.chain_id,
                    size: l.size,
                },
                media_type: l.media_type,
            });
        }
        Some(Hit {
            config,
            layers,
            id: entry.config,
        })
    }

    /// The unpacked folders of the state's layers, uppermost first.
    fn lower_dirs(&self, state: &State) -> Result<Vec<PathBuf>> {
        state
            .layers
            .iter()
            .rev()
            .map(|l| Ok(self.engine.layers.diff_dir(&l.record.chain_id)?))
            .collect()
    }

    /// A layer made by writing into an empty folder (copy.rs), packed and stored.
    fn layer_from_tree(
        &mut self,
        state: &State,
        fill: impl FnOnce(&mut LayerTree) -> std::result::Result<(), String>,
    ) -> Result<NewLayer> {
        self.temp_seq += 1;
        let upper = self.engine.layers.dir().join(format!(
            ".tmp-build{}-{}",
            self.temp_seq,
            std::process::id()
        ));
        std::fs::create_dir(&upper).map_err(Error::io(&upper))?;
        let result = (|| {
            let lowers = self.lower_dirs(state)?;
            let mut tree = LayerTree::new(&upper, &lowers);
            fill(&mut tree).map_err(|e| Error::Invalid(e.to_string()))?;
            tree.finish().map_err(Error::Invalid)?;
            let parent = state.layers.last().map(|l| l.record.chain_id.clone());
            Ok(make::store_layer(
                &self.engine.images,
                &self.engine.layers,
                parent.as_deref(),
                |out| mini_storage::pack::pack_layer(&upper, out).map(|_| ()),
            )?)
        })();
        let _ = std::fs::remove_dir_all(&upper);
        result
    }

    fn run_command(
        &mut self,
        state: &mut State,
        step: &Step,
        command: &Form,
        scripts: &[String],
    ) -> Result<()> {
        // Here-documents run as one script, in order.
        let argv = if scripts.is_empty() {
            self.argv(state, command)
        } else {
            let mut argv = state.shell();
            argv.push(scripts.join("\n"));
            argv
        };
        // The build args in scope are the command's environment too (not the image's), and
        // part of its cache key, as Docker's `|N KEY=VALUE` history shows.
        let env_names: BTreeSet<String> = state
            .env()
            .iter()
            .filter_map(|e| e.split('=').next().map(str::to_string))
            .collect();
        let arg_env: Vec<String> = state
            .args
            .iter()
            .filter(|(k, _)| !env_names.contains(*k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let shown = argv.join(" ");
        let history = if arg_env.is_empty() {
            shown.clone()
        } else {
            format!("|{} {} {shown}", arg_env.len(), arg_env.join(" "))
        };
        let network = match &step.op {
            Op::Run {
                network: Some(n), ..
            } if n == "none" || n == "host" => n.clone(),
            _ if self.options.network.is_empty() => "bridge".to_string(),
            _ => self.options.network.clone(),
        };
        self.cached(
            state,
            json!({"run": argv, "args": arg_env, "network": network}),
            history,
            move |run, state| run.one_container(state, &argv, &arg_env, &network),
        )
    }

    /// One RUN container: made from `state`, run attached, its changes packed as a layer.
    fn one_container(
        &mut self,
        state: &State,
        argv: &[String],
        arg_env: &[String],
        network: &str,
    ) -> Result<Option<NewLayer>> {
        let engine = self.engine;
        // A base image's config is in the store as it came; a step's was stored when made.
        if !engine.images.blob_path(&state.id)?.exists() {
            let bytes = serde_json::to_vec(&state.config).expect("json");
            engine.images.put_blob(&state.id, &bytes)?;
        }
        let image = ImageRecord {
            id: state.id.clone(),
            manifest_digest: String::new(),
            repo_digests: Vec::new(),
            layers: state.layers.iter().map(|l| l.record.clone()).collect(),
            platform: mini_storage::pull::host_platform(),
            created: None,
            size: 0,
        };
        let mut options = CreateOptions {
            image: digest::short(&state.id).to_string(),
            command: argv.to_vec(),
            entrypoint: Some(Vec::new()),
            env: arg_env.to_vec(),
            network: network.to_string(),
            ..CreateOptions::default()
        };
        // Whose container it is: a build killed outright leaves it to the next command's
        // `Engine::list`, which removes build containers whose build is gone.
        options.labels.insert(BUILDER_LABEL.into(), builder_token());
        let record = engine.create(&image, &options)?;
        let short = record.short_id().to_string();
        (self.events)(BuildEvent::Running(short.clone()));
        let outcome = (|| {
            let started = engine.start(&record.id, true)?;
            let stream = match started {
                crate::engine::Started::Attached(stream) => stream,
                _ => crate::attach::connect(&engine.store.runroot, &short)?,
            };
            let monitor = engine.store.load(&record.id)?.state.monitor_pid;
            let events = &mut self.events;
            crate::attach::collect(stream, &mut |kind, bytes| {
                events(BuildEvent::Output(kind, bytes.to_vec()))
            });
            let code = engine.wait(&record.id)?;
            // The monitor reports the exit before it has finished tearing down: the container
            // is removed (and the build goes on) once it is gone.
            if monitor > 0 {
                crate::process::wait_for_exit(monitor, Some(std::time::Duration::from_secs(10)));
            }
            if code != 0 {
                return Err(Error::BuildStep {
                    command: argv.join(" "),
                    code,
                });
            }
            let layer = engine.layers.container_layer(&record.id)?;
            let upper = layer.upper_dir();
            if mini_storage::pack::is_empty(&upper)? {
                return Ok(None);
            }
            let parent = state.layers.last().map(|l| l.record.chain_id.clone());
            Ok(Some(make::store_layer(
                &engine.images,
                &engine.layers,
                parent.as_deref(),
                |out| mini_storage::pack::pack_layer(&upper, out).map(|_| ()),
            )?))
        })();
        let removed = engine.remove(&record.id, true, true);
        (self.events)(BuildEvent::Removing(short));
        let layer = outcome?;
        removed?;
        Ok(layer)
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        state: &mut State,
        step: &Step,
        stage: usize,
        add: bool,
        sources: &[CopySource],
        dest: &str,
        from: Option<&str>,
        chown: Option<&str>,
        chmod: Option<&str>,
    ) -> Result<()> {
        let what = if add { "ADD" } else { "COPY" };
        let dest_word = self.word(state, step, dest)?;
        let into_dir = dest_word.ends_with('/') || sources.len() > 1;
        let dest_path = normalize_absolute(&Path::new(&state.workdir()).join(&dest_word));
        let owner = self.ownership(state, step, chown, chmod)?;
        // Where the sources are: the context, an earlier stage, or an image.
        let (root_layers, context) = match from {
            None => (None, true),
            Some(from) => {
                let name = self.word(state, step, from)?;
                let lower = name.to_lowercase();
                let stage_state = match self.names.get(&lower).filter(|&&i| i < stage) {
                    Some(&i) => self.done[i].clone(),
                    None => name
                        .parse::<usize>()
                        .ok()
                        .filter(|&i| i < stage)
                        .and_then(|i| self.done[i].clone()),
                };
                let state_of = match stage_state {
                    Some(s) => s,
                    None => self.image_state(&name, step.line)?,
                };
                (
                    Some(
                        state_of
                            .layers
                            .iter()
                            .map(|l| l.record.chain_id.clone())
                            .collect::<Vec<_>>(),
                    ),
                    false,
                )
            }
        };
        let mut patterns = Vec::new();
        let mut heredocs = Vec::new();
        let mut urls = Vec::new();
        for source in sources {
            match source {
                CopySource::Path(p) => {
                    let p = self.word(state, step, p)?;
                    if add && mini_storage::fetch::is_url(&p) {
                        urls.push(p);
                    } else {
                        patterns.push(p);
                    }
                }
                CopySource::HereDoc {
                    name,
                    content,
                    expand,
                } => {
                    let content = if *expand {
                        words::expand_only(content, &Self::lookup(state))
                            .map_err(|e| self.bad(step, e))?
                    } else {
                        content.clone()
                    };
                    heredocs.push((name.clone(), content));
                }
            }
        }
        let context_dir = self.options.context.clone();
        let ignore = self.ignore.clone();
        let engine = self.engine;
        // Checksums first (the cache key), then the copy itself if the cache misses.
        let with_root = |f: &mut (dyn FnMut(&SourceRoot) -> Result<()> + Send)| -> Result<()> {
            match (&root_layers, &context_dir) {
                (None, Some(dir)) => f(&SourceRoot {
                    root: dir,
                    context: true,
                    ignore: Some(&ignore),
                }),
                (None, None) if patterns.is_empty() => f(&SourceRoot {
                    root: Path::new("/nonexistent"),
                    context: true,
                    ignore: None,
                }),
                (None, None) => Err(Error::Invalid(format!(
                    "{what}: there is no build context (the Dockerfile came on stdin)"
                ))),
                (Some(chains), _) => with_layers_root(engine, chains, &mut |root| {
                    f(&SourceRoot {
                        root,
                        context: false,
                        ignore: None,
                    })
                }),
            }
        };
        // ADD's URLs: fetched every time, and their content is their part of the cache key, as
        // in Docker's classic builder.
        let fetch_dir = self.engine.layers.dir().join(format!(
            ".tmp-fetch{}-{}",
            step.line,
            std::process::id()
        ));
        let _fetched_go = RemoveDir(fetch_dir.clone());
        let mut remote = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let name = match mini_storage::fetch::file_name(url) {
                Some(name) => name,
                None if !into_dir => String::new(),
                None => {
                    return Err(Error::Invalid(format!(
                        "{what} failed: cannot determine filename from url: {url}"
                    )))
                }
            };
            std::fs::create_dir_all(&fetch_dir).map_err(Error::io(&fetch_dir))?;
            let path = fetch_dir.join(i.to_string());
            let got = mini_storage::fetch::download(url, &path)
                .map_err(|e| Error::Invalid(format!("{what} failed: {e}")))?;
            remote.push((name, path, got));
        }
        let remote_sum = digest::sha256(
            serde_json::to_vec(
                &remote
                    .iter()
                    .map(|(name, _, got)| (name, &got.digest, got.last_modified))
                    .collect::<Vec<_>>(),
            )
            .expect("json")
            .as_slice(),
        );
        let mut sum = String::new();
        with_root(&mut |source| {
            let found = copy::find_sources(source, &patterns)
                .map_err(|e| Error::Invalid(format!("{what} failed: {e}")))?;
            sum = copy::checksum(source, &found).map_err(Error::Invalid)?;
            Ok(())
        })?;
        let heredoc_sum = digest::sha256(serde_json::to_vec(&heredocs).expect("json").as_slice());
        if patterns.is_empty() {
            sum = if remote.is_empty() {
                heredoc_sum.clone()
            } else {
                remote_sum.clone()
            };
        }
        let kind = if patterns.len() + heredocs.len() + remote.len() > 1 {
            "multi"
        } else {
            "file"
        };
        let history = format!(
            "/bin/sh -c #(nop) {what} {kind}:{} in {} ",
            digest::hex_of(&sum).unwrap_or(&sum),
            dest_path.display()
        );
        let key = json!({
            "copy": what, "dest": dest_path, "into_dir": into_dir, "from": from,
            "owner": [owner.uid, owner.gid, owner.chmod], "sources": sum, "heredocs": heredoc_sum,
            "remote": (!remote.is_empty()).then_some(&remote_sum),
        });
        self.cached(state, key, history, |run, state| {
            let layer = run.layer_from_tree(state, |tree| {
                for (name, content) in &heredocs {
                    let target = if into_dir || tree.is_dir(&dest_path) {
                        dest_path.join(name)
                    } else {
                        dest_path.clone()
                    };
                    copy::write_file(tree, &target, content.as_bytes(), owner)?;
                }
                // A download is 0600 (unless --chmod), with the server's modification time.
                for (name, path, got) in &remote {
                    let target = if into_dir || tree.is_dir(&dest_path) {
                        if name.is_empty() {
                            return Err(format!(
                                "cannot determine filename for {}",
                                dest_path.display()
                            ));
                        }
                        dest_path.join(name)
                    } else {
                        dest_path.clone()
                    };
                    copy::place_file(tree, &target, path, got.last_modified, owner)?;
                }
                let mut failure = None;
                let result = with_root(&mut |source| {
                    let found: Vec<Found> =
                        copy::find_sources(source, &patterns).map_err(Error::Invalid)?;
                    for item in &found {
                        let copied = if add
                            && context
                            && std::fs::metadata(&item.path).is_ok_and(|m| m.is_file())
                            && copy::is_archive(&item.path)
                        {
                            copy::unpack_archive(tree, &item.path, &dest_path)
                        } else {
                            copy::copy_item(tree, source, item, &dest_path, into_dir, owner)
                        };
                        copied.map_err(Error::Invalid)?;
                    }
                    Ok(())
                });
                if let Err(err) = result {
                    failure = Some(err.to_string());
                }
                match failure {
                    Some(f) => Err(f),
                    None => Ok(()),
                }
            })?;
            Ok(Some(layer))
        })
    }

    /// `--chown` (numbers, or names from the image's /etc/passwd and /etc/group) and `--chmod`.
    fn ownership(
        &self,
        state: &State,
        step: &Step,
        chown: Option<&str>,
        chmod: Option<&str>,
    ) -> Result<Ownership> {
        let mut owner = Ownership::default();
        if let Some(spec) = chown {
            let spec = self.word(state, step, spec)?;
            let (user, group) = spec.split_once(':').unwrap_or((&spec, &spec));
            let numeric = |s: &str| s.parse::<u32>().ok();
            match (numeric(user), numeric(group)) {
                (Some(u), Some(g)) => {
                    owner.uid = u;
                    owner.gid = g;
                }
                _ => {
                    let lowers = self.lower_dirs(state)?;
                    let read = |name: &str| {
                        lowers
                            .iter()
                            .find_map(|l| crate::user::read_in_root(l, name).ok())
                            .unwrap_or_default()
                    };
                    let resolved =
                        crate::user::resolve_in(&read("etc/passwd"), &read("etc/group"), &spec)
                            .map_err(|e| self.bad(step, format!("--chown={spec}: {e}")))?;
                    owner.uid = resolved.uid;
                    owner.gid = resolved.gid;
                }
            }
        }
        if let Some(mode) = chmod {
            let mode = self.word(state, step, mode)?;
            owner.chmod = Some(u32::from_str_radix(&mode, 8).map_err(|_| {
                self.bad(
                    step,
                    format!("--chmod={mode}: expected an octal mode such as 755"),
                )
            })?);
        }
        Ok(owner)
    }
}

struct Hit {
    config: Value,
    layers: Vec<NewLayer>,
    id: String,
}

/// `/a/./b/../c` -> `/a/c`.
fn normalize_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            std::path::Component::Normal(p) => out.push(p),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Runs `f` with a root folder holding the layers' merged files: the folder itself for one
/// layer, else a read-only overlay mounted in a mount namespace of a thread of our own (the
/// host never sees it; it goes with the thread).
fn with_layers_root(
    engine: &Engine,
    chains: &[String],
    f: &mut (dyn FnMut(&Path) -> Result<()> + Send),
) -> Result<()> {
    match chains {
        [] => {
            let empty = engine
                .layers
                .dir()
                .join(format!(".tmp-emptyroot-{}", std::process::id()));
            std::fs::create_dir_all(&empty).map_err(Error::io(&empty))?;
            let result = f(&empty);
            let _ = std::fs::remove_dir(&empty);
            result
        }
        [one] => f(&engine.layers.diff_dir(one)?),
        _ => {
            let lowers: Vec<String> = chains
                .iter()
                .rev()
                .map(|c| mini_storage::LayerStore::short_id(c).map(|s| format!("l/{s}")))
                .collect::<std::result::Result<_, _>>()?;
            let dir = engine.layers.dir().to_path_buf();
            let target = dir.join(format!(".tmp-ro{}-{}", lowers.len(), std::process::id()));
            std::fs::create_dir_all(&target).map_err(Error::io(&target))?;
            let result = std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let system = |what: &str, e: nix::errno::Errno| {
                            Error::System(format!("{what}: {}", e.desc()))
                        };
                        nix::sched::unshare(
                            nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_FS,
                        )
                        .map_err(|e| system("unsharing the mount namespace", e))?;
                        nix::mount::mount(
                            None::<&str>,
                            "/",
                            None::<&str>,
                            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                            None::<&str>,
                        )
                        .map_err(|e| system("making mounts private", e))?;
                        nix::unistd::chdir(&dir)
                            .map_err(|e| system("entering the layer store", e))?;
                        let options = format!("lowerdir={}", lowers.join(":"));
                        nix::mount::mount(
                            Some("overlay"),
                            &target,
                            Some("overlay"),
                            nix::mount::MsFlags::MS_RDONLY,
                            Some(options.as_str()),
                        )
                        .map_err(|e| system("mounting the stage's layers", e))?;
                        let result = f(&target);
                        let _ = nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH);
                        result
                    })
                    .join()
                    .unwrap_or_else(|_| Err(Error::System("the copy's thread panicked".into())))
            });
            let _ = std::fs::remove_dir(&target);
            result
        }
    }
}

/// A folder removed, with what it holds, when it goes out of scope.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_steps_and_errors_come_from_the_dockerfile() {
        let text = "# escape=\\\nARG BASE=busybox\nFROM ${BASE} AS build\nRUN echo a \\\n  b\nCOPY --from=0 a b /c/\nFROM build\nCMD [\"x\"]\n";
        let parsed = parse(text, "Dockerfile").unwrap();
        assert_eq!(parsed.global_args.len(), 1);
        assert_eq!(parsed.stages.len(), 2);
        assert_eq!(parsed.stages[0].name.as_deref(), Some("build"));
        assert_eq!(parsed.stages[0].steps[0].text, "RUN echo a   b");
        assert!(
            matches!(&parsed.stages[0].steps[0].op, Op::Run { command: Form::Shell(s), .. } if s == "echo a   b")
        );
        assert_eq!(parsed.stages[0].steps[0].line, 4);

        for (bad, wanted) in [
            ("FROM busybox\nFOO bar\n", "unknown instruction"),
            ("FROM\n", "FROM instruction requires at least one argument"),
            ("FROM busybox\nRUN <<EOF\nno end\n", "here-document"),
            (
                "FROM busybox\nCOPY --bogus=1 a b\n",
                "Dockerfile:2: COPY: unknown flag: --bogus",
            ),
            ("RUN true\n", "expected FROM"),
            (
                "FROM busybox\nHEALTHCHECK --interval=soon CMD true\n",
                "not a duration",
            ),
        ] {
            let err = parse(bad, "Dockerfile").unwrap_err().to_string();
            assert!(err.contains(wanted), "{bad:?}: {err}");
        }
    }

    #[test]
    fn here_documents_become_scripts_or_stay_in_the_command() {
        let parsed = parse(
            "FROM busybox\nRUN <<EOF\necho one\nEOF\nRUN <<EOT cat > /f\nhello\nEOT\n",
            "Dockerfile",
        )
        .unwrap();
        let steps = &parsed.stages[0].steps;
        assert!(
            matches!(&steps[0].op, Op::Run { scripts, .. } if scripts == &vec!["echo one\n".to_string()])
        );
        assert!(
            matches!(&steps[1].op, Op::Run { command: Form::Shell(s), scripts, .. } if scripts.is_empty() && s == "<<EOT cat > /f\nhello\nEOT")
        );
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(duration_nanos("30s"), Some(30_000_000_000));
        assert_eq!(duration_nanos("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_nanos("500ms"), Some(500_000_000));
        assert_eq!(duration_nanos("soon"), None);
        assert_eq!(duration_nanos(""), None);
    }

    #[test]
    fn only_the_stages_the_target_needs_are_built() {
        let text = "FROM busybox AS a\nFROM busybox AS b\nFROM busybox AS c\nCOPY --from=a /x /x\nFROM c\n";
        let parsed = parse(text, "Dockerfile").unwrap();
        let names: HashMap<String, usize> = parsed
            .stages
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.name.clone().map(|n| (n, i)))
            .collect();
        let needed = needed_stages(&parsed, 3, &BTreeMap::new(), &names, '\\').unwrap();
        assert_eq!(needed, vec![0, 2, 3]);
        let needed = needed_stages(&parsed, 1, &BTreeMap::new(), &names, '\\').unwrap();
        assert_eq!(needed, vec![1]);
    }
}
