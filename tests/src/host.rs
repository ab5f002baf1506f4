//! Small helpers for running the host's tools from tests, with failures that say what ran.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's top folder (where `images/` and `scripts/` live).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `mini` binary under test: `$MINI_BIN`, or the one cargo built next to this test binary.
pub fn mini_bin() -> PathBuf {
    workspace_bin("mini", "MINI_BIN")
}

/// The `mini-runc` binary under test: `$MINI_RUNC_BIN`, or the one cargo built next to this
/// test binary.
pub fn runc_bin() -> PathBuf {
    workspace_bin("mini-runc", "MINI_RUNC_BIN")
}

fn workspace_bin(name: &str, variable: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(variable) {
        return PathBuf::from(bin);
    }
    // Test binaries live in target/<profile>/deps/; the binaries of the workspace one level up.
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .expect("test binary sits in target/<profile>/deps");
    assert!(
        bin.exists(),
        "{} does not exist: build it first (`cargo build --workspace`), or set {variable}",
        bin.display()
    );
    bin
}

/// End-to-end tests need root: they mount, create links and namespaces, and change nftables.
pub fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("Uid line in /proc/self/status");
    assert_eq!(
        euid, "0",
        "end-to-end tests run as root (they use mounts, namespaces and nftables); \
         run them with the README's test command"
    );
}

/// Renders a command as a shell line, for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command to completion, capturing its output; panics only if it cannot start.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|err| panic!("cannot run `{}`: {err}", describe(cmd)))
}

/// Runs a command with `input` on its stdin, capturing its output; panics only if it cannot
/// start.
pub fn output_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run `{}`: {err}", describe(cmd)));
    let mut stdin = child.stdin.take().expect("a piped stdin");
    // A writer of its own, so that a command that prints much before it reads cannot block us.
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for the command");
    let _ = writer.join();
    out
}

/// Runs a command with `input` (if any) on its stdin and captures its output, like
/// `output_with_input`, but kills it and panics with what it printed if it has not ended
/// within `limit`: a client that hangs fails its test instead of the whole run.
pub fn output_within(
    cmd: &mut Command,
    input: Option<&[u8]>,
    limit: std::time::Duration,
) -> Output {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run `{}`: {err}", describe(cmd)));
    let writer = child.stdin.take().map(|mut stdin| {
        let input = input.unwrap_or_default().to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("a piped stdout")));
    let stderr = reader(Box::new(child.stderr.take().expect("a piped stderr")));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default(),
            );
            panic!(
                "`{}` did not end within {limit:?}:\n{}{}",
                describe(cmd),
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs a command that must succeed and returns its standard output as text.
pub fn check(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "`{}` failed ({}):\n{}{}",
        describe(cmd),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Output bytes as text, for assertions and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's exit code; -1 when a signal ended it.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A TCP port no process of the host listens on (the kernel's pick).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Shorthand for [`check`] on a program and its arguments.
pub fn run(program: &str, args: &[&str]) -> String {
    check(Command::new(program).args(args))
}

/// A short random lowercase hex string, for names that must not collide between tests.
pub fn random_hex(len: usize) -> String {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("read a uuid");
    let hex: String = uuid.chars().filter(char::is_ascii_hexdigit).collect();
    hex[..len].to_string()
}
