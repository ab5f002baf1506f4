//! `mini login` and `mini logout`: credentials for registries, checked before they are kept.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use mini_storage::{check_login, AuthStore};

use crate::context::{CliError, CliResult, Context};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password (prefer --password-stdin: a password on the command line is seen by others)
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// The registry (host[:port]); Docker Hub if omitted
    server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (host[:port]); Docker Hub if omitted
    server: Option<String>,
}

/// `https://host:port/` or `host:port` -> `host:port`; nothing -> Docker Hub.
fn registry_of(server: Option<&str>) -> String {
    match server {
        None => "docker.io".to_string(),
        Some(s) => s
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or(s)
            .to_string(),
    }
}

/// Reads one line from stdin, without echo when stdin is a terminal and `secret`.
fn prompt(label: &str, secret: bool) -> CliResult<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("{label}: ");
        let _ = std::io::stderr().flush();
    }
    let saved = if secret && terminal {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let saved = tcgetattr(&stdin).ok();
        if let Some(original) = &saved {
            let mut quiet = original.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            let _ = tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
        }
        saved
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(original) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &original);
        eprintln!();
    }
    read.map_err(|err| CliError::new(1, anyhow::anyhow!("reading {label}: {err}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn login(context: &Context, args: LoginArgs) -> CliResult {
    let registry = registry_of(args.server.as_deref());
    if args.password_stdin && args.password.is_some() {
        return Err(CliError::new(
            125,
            anyhow::anyhow!("--password and --password-stdin are mutually exclusive"),
        ));
    }
    if args.password_stdin && args.username.is_none() {
        return Err(CliError::new(
            125,
            anyhow::anyhow!("Must provide --username with --password-stdin"),
        ));
    }
    let username = match args.username {
        Some(user) => user,
        None => prompt("Username", false)?,
    };
    let password = match (args.password, args.password_stdin) {
        (Some(password), _) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            password
        }
        (None, true) => {
            let mut all = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut all).map_err(|err| {
                CliError::new(1, anyhow::anyhow!("reading the password from stdin: {err}"))
            })?;
            all.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => prompt("Password", true)?,
    };
    if username.is_empty() || password.is_empty() {
        return Err(CliError::new(
            1,
            anyhow::anyhow!("Non-null Username and Password Required"),
        ));
    }
    let config = context.registry_config()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(125, err))?;
    runtime.block_on(check_login(&config, &registry, &username, &password))?;
    AuthStore::open(&context.root).set(&registry, &username, &password)?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(context: &Context, args: LogoutArgs) -> CliResult {
    let registry = registry_of(args.server.as_deref());
    if AuthStore::open(&context.root).remove(&registry)? {
        println!(
            "Removing login credentials for {}",
            mini_storage::auth::key_for(&registry)
        );
    } else {
        println!(
            "Not logged in to {}",
            mini_storage::auth::key_for(&registry)
        );
    }
    Ok(())
}
