//! Local users see nothing of containers: as root, a container with a secret in its
//! environment, in its log and in its writable layer; as the unprivileged account `nobody`,
//! every path under the root and the runroot, every `mini` command, the attach socket and the
//! monitor are tried, and none gives anything away. Inside the container, its init holds only
//! its stdio, and no host path of mini's state shows. Then the state folders themselves: an
//! older, looser root is tightened on first use, and one that others could swap is refused.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mini_tests::host::{code, output, text};
use mini_tests::{lab, TestEnv};

const NOBODY: u32 = 65534;
const NEEDS_ROOT: &str =
    "mini needs root: run it with sudo, or use the API socket if you are in its group\n";

/// A command run as `nobody`, with no supplementary groups.
fn as_nobody(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.uid(NOBODY).gid(NOBODY).current_dir("/");
    cmd
}

/// Every path below `dir`, not crossing into other file systems (a container's mounted root).
fn walk(dir: &Path, dev: u64, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() && meta.dev() == dev {
            walk(&path, dev, out);
        } else {
            out.push(path);
        }
    }
}

/// A copy of mini that `nobody` may run, wherever the build lives.
fn binary_for_nobody(env: &TestEnv) -> PathBuf {
    let copy = env.path("mini-for-nobody");
    std::fs::copy(mini_tests::host::mini_bin(), &copy).expect("copy mini");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&env.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

#[test]
fn nobody_reads_no_secret_of_a_container_by_any_way() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "vault",
        "-e",
        "DB_PASSWORD=hunter2",
        "busybox",
        "sh",
        "-c",
        "echo token-abc123; echo upper-secret > /secret-file; exec sleep 600",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.run_ok(&["logs", "vault"]).contains("token-abc123") {
        assert!(Instant::now() < deadline, "the container never logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    let id = env
        .run_ok(&["inspect", "-f", "{{.Id}}", "vault"])
        .trim()
        .to_string();
    let upper = env
        .run_ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "vault"])
        .trim()
        .to_string();
    assert_eq!(
        std::fs::read_to_string(Path::new(&upper).join("secret-file")).unwrap(),
        "upper-secret\n",
        "the secret is in the writable layer"
    );

    // The modes as they were made: root and runroot 0700, records 0600, logs 0640.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&env.root), 0o700);
    assert_eq!(mode(&env.runroot), 0o700);
    let ctr = env.root.join("containers").join(&id);
    assert_eq!(mode(&env.root.join("containers")), 0o700);
    assert_eq!(mode(&ctr), 0o700);
    assert_eq!(mode(&ctr.join("config.json")), 0o600);
    assert_eq!(mode(&ctr.join(format!("{id}-json.log"))), 0o640);
    assert_eq!(
        mode(&env.runroot.join("bundles").join(&id).join("config.json")),
        0o600
    );
    let socket = env.runroot.join(format!("attach-{}.sock", &id[..12]));
    assert_eq!(mode(&socket), 0o600);

    // Every path under both folders, found as root, tried as nobody: no folder lists, no
    // file reads, nothing is even reachable.
    let mut paths = Vec::new();
    for dir in [&env.root, &env.runroot] {
        walk(dir, std::fs::metadata(dir).unwrap().dev(), &mut paths);
    }
    assert!(
        paths.len() > 50,
        "the walk found the state: {} paths",
        paths.len()
    );
    let list = env.path("paths");
    std::fs::write(
        &list,
        paths
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect::<String>(),
    )
    .unwrap();
    std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&env.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = r#"while IFS= read -r p; do
        if [ -d "$p" ] && ls "$p" >/dev/null 2>&1; then echo "lists $p"; fi
        if [ -f "$p" ] && head -c1 "$p" >/dev/null 2>&1; then echo "reads $p"; fi
        if [ -r "$p" ] || [ -w "$p" ]; then echo "reaches $p"; fi
    done < "$1""#;
    let out = output(as_nobody("sh").args(["-c", script, "sh"]).arg(&list));
    assert_eq!(
        text(&out.stdout),
        "",
        "nobody reached state under {} and {}",
        env.root.display(),
        env.runroot.display()
    );
    // Nor does a search for the secrets find anything.
    let out = output(
        as_nobody("grep")
            .args([
                "-r",
                "-l",
                "-e",
                "hunter2",
                "-e",
                "token-abc123",
                "-e",
                "upper-secret",
            ])
            .arg(&env.root)
            .arg(&env.runroot),
    );
    assert_eq!(text(&out.stdout), "", "grep as nobody found secrets");
    assert_ne!(code(&out), 0);

    // No mini command tells nobody anything: one line, exit 125, for every command.
    let mini = binary_for_nobody(&env);
    for args in [
        &["ps", "-a"][..],
        &["inspect", "vault"],
        &["logs", "vault"],
        &["images"],
        &["exec", "vault", "env"],
        &["cp", "vault:/secret-file", "-"],
        &["top", "vault"],
        &["network", "ls"],
        &["volume", "ls"],
        &["rm", "-f", "vault"],
    ] {
        let mut cmd = env.mini_from(&mini);
        cmd.uid(NOBODY).gid(NOBODY).current_dir("/");
        let out = output(cmd.args(args));
        assert_eq!(code(&out), 125, "mini {} as nobody", args.join(" "));
        assert_eq!(text(&out.stdout), "", "mini {} as nobody", args.join(" "));
        assert_eq!(
            text(&out.stderr),
            NEEDS_ROOT,
            "mini {} as nobody",
            args.join(" ")
        );
    }
    for args in [&["--help"][..], &["--version"], &["ps", "--help"]] {
        let mut cmd = env.mini_from(&mini);
        cmd.uid(NOBODY).gid(NOBODY).current_dir("/");
        let out = output(cmd.args(args));
        assert_eq!(
            code(&out),
            0,
            "mini {} as nobody: {}",
            args.join(" "),
            text(&out.stderr)
        );
    }
    assert_eq!(
        env.run_ok(&["inspect", "-f", "{{.State.Status}}", "vault"])
            .trim(),
        "running",
        "nobody's rm -f did nothing"
    );

    // The attach socket: root connects, nobody cannot (curl's 7: could not connect).
    let curl = |cmd: &mut Command| {
        code(&output(
            cmd.args(["-s", "-m", "2", "--unix-socket"])
                .arg(&socket)
                .arg("http://mini/"),
        ))
    };
    assert_ne!(
        curl(&mut Command::new("curl")),
        7,
        "root reaches the socket"
    );
    assert_eq!(curl(&mut as_nobody("curl")), 7, "nobody reaches the socket");

    // The monitor and the container's processes cannot be signalled by nobody.
    let monitor = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                let c = text(&c);
                c.contains("__monitor") && c.contains(&id)
            })
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .expect("the monitor runs");
    let pid = env.run_ok(&["inspect", "-f", "{{.State.Pid}}", "vault"]);
    for target in [monitor.as_str(), pid.trim()] {
        let out = output(as_nobody("kill").args(["-0", target]));
        assert_ne!(code(&out), 0, "nobody signalled process {target}");
        let out = output(Command::new("kill").args(["-0", target]));
        assert_eq!(code(&out), 0, "root signals process {target}");
    }
    let environ = output(as_nobody("cat").arg(format!("/proc/{}/environ", pid.trim())));
    assert!(!text(&environ.stdout).contains("hunter2"));

    // Inside, as the container's root: its init holds its stdio and nothing else of mini's,
    // an exec'd process neither, and no path of mini's state shows in its mount table.
    let fds = env.run_ok(&["exec", "vault", "ls", "/proc/1/fd"]);
    assert_eq!(fds.split_whitespace().collect::<Vec<_>>(), ["0", "1", "2"]);
    let fds = env.run_ok(&["exec", "vault", "sh", "-c", "ls /proc/$$/fd; true"]);
    assert_eq!(fds.split_whitespace().collect::<Vec<_>>(), ["0", "1", "2"]);
    let mounts = env.run_ok(&["exec", "vault", "mount"]);
    assert!(mounts.contains("overlay on / type overlay"), "{mounts}");
    for state in [&env.root, &env.runroot, &env.dir] {
        assert!(
            !mounts.contains(&*state.to_string_lossy()),
            "the container's mount table shows {}:\n{mounts}",
            state.display()
        );
    }
    let root = env.root.to_string_lossy().into_owned();
    let out = env.run(&[
        "exec",
        "vault",
        "sh",
        "-c",
        &format!("ls {root} || touch {root}/x"),
    ]);
    assert_ne!(code(&out), 0, "the container reached {root}");
    assert!(!env.root.join("x").exists());

    env.run_ok(&["rm", "-f", "vault"]);
}

#[test]
fn an_older_looser_state_folder_is_tightened_on_first_use() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&[
        "create",
        "--name",
        "old",
        "-e",
        "TOKEN=s3cret",
        "busybox",
        "true",
    ]);
    env.run_ok(&["start", "-a", "old"]);
    let id = env
        .run_ok(&["inspect", "-f", "{{.Id}}", "old"])
        .trim()
        .to_string();
    let ctr = env.root.join("containers").join(&id);
    let record = ctr.join("config.json");
    let log = ctr.join(format!("{id}-json.log"));
    // As an older mini left them: folders 0755, files 0644.
    let set = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    for dir in [&env.root, &env.runroot, &env.root.join("containers"), &ctr] {
        set(dir, 0o755);
    }
    set(&record, 0o644);
    set(&log, 0o644);
    std::fs::set_permissions(&env.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = output(as_nobody("cat").arg(&record));
    assert!(
        text(&out.stdout).contains("s3cret"),
        "the old modes let nobody read"
    );

    env.run_ok(&["ps", "-a"]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&env.root), 0o700);
    assert_eq!(mode(&env.runroot), 0o700);
    assert_eq!(mode(&env.root.join("containers")), 0o700);
    assert_eq!(mode(&ctr), 0o700);
    assert_eq!(mode(&record), 0o600);
    assert_eq!(mode(&log), 0o640);
    let out = output(as_nobody("cat").arg(&record));
    assert_ne!(code(&out), 0);
    assert_eq!(text(&out.stdout), "");
    env.run_ok(&["rm", "old"]);
}

#[test]
fn state_folders_that_others_could_swap_are_refused() {
    let env = TestEnv::new();
    let refused = |root: &Path, why: &str| {
        let mut cmd = Command::new(mini_tests::host::mini_bin());
        cmd.arg("--root")
            .arg(root)
            .arg("--runroot")
            .arg(&env.runroot)
            .env("MINI_CONFIG", &env.config);
        let out = output(cmd.args(["ps", "-a"]));
        assert_eq!(code(&out), 125, "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            format!(
                "Error: refusing to use {} for mini's state: {why}\n",
                root.display()
            )
        );
        assert_eq!(text(&out.stdout), "");
    };
    let real = env.path("real");
    std::fs::create_dir(&real).unwrap();
    let link = env.path("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    refused(
        &link,
        "it is a symbolic link (name the folder it points to instead)",
    );
    assert_eq!(
        std::fs::read_dir(&real).unwrap().count(),
        0,
        "nothing written through the link"
    );

    let open = env.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    refused(
        &open,
        "it is writable by every user (mode 777; chmod 700 it, or choose another folder)",
    );
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);

    let theirs = env.path("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    refused(
        &theirs,
        "it is owned by uid 65534, not by root (chown root:root it, or choose another folder)",
    );
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
    // The runroot of these refused commands was not made either.
    assert_eq!(std::fs::read_dir(&env.runroot).unwrap().count(), 0);
}
