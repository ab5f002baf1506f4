//! `mini build [OPTIONS] CONTEXT|-`: Docker's classic builder's output, step by step.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use clap::{ArgAction, Args};
use mini_runtime::build::{BuildEvent, BuildOptions};
use mini_storage::ImageRef;

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short, long = "tag")]
    tag: Vec<String>,
    /// Name of the Dockerfile (Default is 'PATH/Dockerfile'), or - for STDIN
    #[arg(short, long)]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Set metadata for an image
    #[arg(long = "label")]
    label: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "bridge")]
    network: String,
    /// Set platform if server is multi-platform capable (only the host's)
    #[arg(long)]
    platform: Option<String>,
    /// Remove intermediate containers after a successful build (always)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    rm: bool,
    /// Always remove intermediate containers (always)
    #[arg(long)]
    force_rm: bool,
    /// The context: a folder, or - for a Dockerfile or a tar archive on STDIN
    context: String,
}

/// A context that came on stdin as a tar, unpacked for the build and removed after it.
struct TempContext(PathBuf);

impl Drop for TempContext {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn usage(message: String) -> CliError {
    CliError::new(125, anyhow::anyhow!(message))
}

pub fn run(context: &Context, args: BuildArgs) -> CliResult {
    let _ = (args.rm, args.force_rm);
    if let Some(platform) = &args.platform {
        if *platform != mini_storage::pull::host_platform() {
            return Err(usage(format!(
                "--platform {platform}: only this host's platform ({}) can be built",
                mini_storage::pull::host_platform()
            )));
        }
    }
    if !matches!(
        args.network.as_str(),
        "bridge" | "default" | "none" | "host"
    ) {
        return Err(usage(format!(
            "--network {}: a build's RUN steps run on bridge, none or host",
            args.network
        )));
    }
    let tags = args
        .tag
        .iter()
        .map(|t| ImageRef::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut build_args = BTreeMap::new();
    for arg in &args.build_arg {
        match arg.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_string(), v.to_string());
            }
            // `--build-arg NAME` takes the value from the environment, if it is there.
            None => {
                if let Ok(v) = std::env::var(arg) {
                    build_args.insert(arg.clone(), v);
                }
            }
        }
    }
    let mut labels = BTreeMap::new();
    for label in &args.label {
        let (k, v) = label.split_once('=').unwrap_or((label, ""));
        labels.insert(k.to_string(), v.to_string());
    }

    // The context and the Dockerfile.
    let mut _temp = None;
    let engine = context.engine()?;
    let (context_dir, dockerfile, dockerfile_name) = if args.context == "-" {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(|e| CliError::one(anyhow::anyhow!("reading stdin: {e}")))?;
        let is_tar = input.len() >= 262 && &input[257..262] == b"ustar";
        let is_gzip = input.starts_with(&[0x1f, 0x8b]);
        if is_tar || is_gzip {
            let dir = context
                .root
                .join(format!(".build-context-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| CliError::one(anyhow::anyhow!("{e}")))?;
            _temp = Some(TempContext(dir.clone()));
            let reader: Box<dyn Read> = if is_gzip {
                Box::new(flate2::read::GzDecoder::new(&input[..]))
            } else {
                Box::new(&input[..])
            };
            let mut archive = tar::Archive::new(reader);
            archive
                .unpack(&dir)
                .map_err(|e| CliError::one(anyhow::anyhow!("the context on stdin: {e}")))?;
            let name = args.file.clone().unwrap_or_else(|| "Dockerfile".into());
            let text = read_dockerfile(&dir.join(&name), &name)?;
            (Some(dir), text, name)
        } else {
            let text = String::from_utf8(input).map_err(|_| {
                CliError::one(anyhow::anyhow!("the Dockerfile on stdin is not text"))
            })?;
            (None, text, "Dockerfile".to_string())
        }
    } else {
        let dir = PathBuf::from(&args.context);
        if args.context.contains("://") || args.context.starts_with("git@") {
            return Err(usage(format!(
                "{}: remote contexts are not supported yet: clone it, then build the folder",
                args.context
            )));
        }
        if !dir.is_dir() {
            return Err(CliError::one(anyhow::anyhow!(
                "unable to prepare context: path {:?} not found",
                args.context
            )));
        }
        let (text, name) = match args.file.as_deref() {
            Some("-") => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).map_err(|e| {
                    CliError::one(anyhow::anyhow!("reading the Dockerfile from stdin: {e}"))
                })?;
                (text, "Dockerfile".to_string())
            }
            Some(file) => {
                let path = if Path::new(file).exists() {
                    PathBuf::from(file)
                } else {
                    dir.join(file)
                };
                (read_dockerfile(&path, file)?, file.to_string())
            }
            None => (
                read_dockerfile(&dir.join("Dockerfile"), "Dockerfile")?,
                "Dockerfile".to_string(),
            ),
        };
        (Some(dir), text, name)
    };

    let options = BuildOptions {
        context: context_dir,
        dockerfile,
        dockerfile_name,
        tags: tags.clone(),
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        labels,
        network: if args.network == "default" {
            "bridge".into()
        } else {
            args.network.clone()
        },
    };
    let quiet = args.quiet;
    let current: Arc<Mutex<Option<String>>> = Arc::default();
    let interrupted = interruptions(context, current.clone());
    let mut out = std::io::stdout();
    let mut events = |event: BuildEvent| {
        if quiet {
            return;
        }
        let line = match event {
            BuildEvent::Context(bytes) => format!(
                "Sending build context to Docker daemon  {}\n",
                crate::human::size_with(bytes, 4)
            ),
            BuildEvent::Step {
                number,
                total,
                text,
            } => format!("Step {number}/{total} : {text}\n"),
            BuildEvent::UsingCache => " ---> Using cache\n".into(),
            BuildEvent::Running(id) => {
                *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
                format!(" ---> Running in {id}\n")
            }
            BuildEvent::Output(_, bytes) => {
                let _ = out.write_all(&bytes);
                let _ = out.flush();
                return;
            }
            BuildEvent::Removing(id) => {
                *current.lock().unwrap_or_else(|e| e.into_inner()) = None;
                format!("Removing intermediate container {id}\n")
            }
            BuildEvent::Done(id) if id.is_empty() => return,
            BuildEvent::Done(id) => format!(" ---> {id}\n"),
            BuildEvent::Triggers(n) => format!(
                "# Executing {n} build trigger{}\n",
                if n == 1 { "" } else { "s" }
            ),
            BuildEvent::Warning(text) => format!("{text}\n"),
        };
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    };
    let pull = |reference: &ImageRef| -> mini_runtime::Result<mini_storage::ImageRecord> {
        let pull_args = crate::commands::pull::PullArgs {
            platform: None,
            quiet,
            image: reference.to_string(),
        };
        if let Err(err) = crate::commands::pull::pull(context, &pull_args, true) {
            let message = err
                .error
                .map(|e| format!("{e:#}"))
                .unwrap_or_else(|| format!("pulling {reference} failed"));
            return Err(mini_runtime::Error::Invalid(message));
        }
        engine
            .images
            .lookup(reference)?
            .ok_or_else(|| mini_storage::Error::NoSuchImage(reference.to_string()).into())
    };
    let built = engine.build(&options, &mut events, &pull);
    if interrupted.load(Ordering::SeqCst) {
        // The step's container was killed and removed; what a shell does after ^C.
        return Err(CliError::reported(130));
    }
    let image = match built {
        Ok(image) => image,
        Err(err @ mini_runtime::Error::BuildStep { .. }) => {
            let code = err.exit_code();
            eprintln!("{err}");
            return Err(CliError::reported(code));
        }
        Err(err) => return Err(CliError::one(err)),
    };
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &image.id)
            .map_err(|e| CliError::one(anyhow::anyhow!("{}: {e}", path.display())))?;
    }
    if quiet {
        println!("{}", image.id);
        return Ok(());
    }
    println!(
        "Successfully built {}",
        mini_storage::digest::short(&image.id)
    );
    for tag in &tags {
        println!("Successfully tagged {tag}");
    }
    Ok(())
}

fn read_dockerfile(path: &Path, name: &str) -> CliResult<String> {
    std::fs::read_to_string(path).map_err(|err| {
        CliError::one(anyhow::anyhow!(
            "unable to prepare context: unable to evaluate the Dockerfile {name}: {err}"
        ))
    })
}

/// The write end of the pipe the signal handler writes to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the byte lives on this stack frame.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// SIGINT and SIGTERM end the build cleanly: the RUN step's container (if one runs) is killed,
/// the build then fails on it and removes it; between RUN steps the build just ends (a step's
/// temporary files go with the next command). A handler, not a blocked mask: the step's
/// container must not inherit blocked signals.
fn interruptions(context: &Context, current: Arc<Mutex<Option<String>>>) -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let Ok((read, write)) = nix::unistd::pipe() else {
        return interrupted;
    };
    use std::os::fd::IntoRawFd;
    SIGNAL_PIPE.store(write.into_raw_fd(), Ordering::SeqCst);
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_signal),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    for signal in [nix::sys::signal::SIGINT, nix::sys::signal::SIGTERM] {
        // SAFETY: the handler only writes a byte to a pipe (async-signal-safe).
        let _ = unsafe { nix::sys::signal::sigaction(signal, &action) };
    }
    let flag = interrupted.clone();
    let (root, runroot, config) = (
        context.root.clone(),
        context.runroot.clone(),
        context.config.clone(),
    );
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        let mut read = std::fs::File::from(read);
        if read.read_exact(&mut byte).is_err() {
            return;
        }
        flag.store(true, Ordering::SeqCst);
        let running = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match running {
            Some(id) => {
                if let Ok(engine) = mini_runtime::Engine::open(&root, &runroot, &config) {
                    let _ = engine.kill(&id, nix::sys::signal::Signal::SIGKILL);
                }
            }
            None => std::process::exit(130),
        }
    });
    interrupted
}
