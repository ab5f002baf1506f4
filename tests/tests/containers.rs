//! Containers end to end: `mini run`, `ps`, `inspect`, `logs`, `exec`, `stop`, `start`,
//! `restart`, `rm` and friends on the test images, through libcontainer and real kernels, with
//! Docker's output and exit codes, limits, restart policies, and the repair of containers whose
//! monitor died. Every test removes its containers; the leak check does the rest.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use mini_tests::host::{code, text};
use mini_tests::{lab, TestEnv};

fn stderr(out: &Output) -> String {
    text(&out.stderr)
}

fn inspect(env: &TestEnv, container: &str, format: &str) -> String {
    env.run_ok(&["inspect", "-f", format, container])
        .trim()
        .to_string()
}

/// Polls `check` until it holds or 10 s pass.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mounts_under(env: &TestEnv) -> usize {
    let dir = env.dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&dir))
        .count()
}

#[test]
fn a_detached_nginx_goes_through_its_whole_lifecycle() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    let out = env.run(&["run", "-d", "--name", "w1", "nginx"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = text(&out.stdout).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");
    assert!(
        stderr(&out).contains("Unable to find image 'nginx:latest' locally"),
        "a missing image is pulled first: {}",
        stderr(&out)
    );

    let ps = env.run_ok(&["ps"]);
    let lines: Vec<&str> = ps.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND                  CREATED"),
        "{ps}"
    );
    assert!(lines[0].ends_with("PORTS     NAMES"), "{ps}");
    assert!(lines[1].starts_with(&id[..12]), "{ps}");
    assert!(lines[1].contains("\"/docker-entrypoint.…\""), "{ps}");
    assert!(lines[1].contains("   Up "), "{ps}");
    assert!(lines[1].ends_with(" w1"), "{ps}");

    assert_eq!(
        inspect(&env, "w1", "{{.State.Status}} {{.State.Running}}"),
        "running true"
    );
    assert_eq!(
        inspect(&env, &id[..6], "{{.Name}} {{.Config.Image}}"),
        "/w1 nginx"
    );
    assert_eq!(
        inspect(&env, "w1", "{{.Path}} {{json .Args}}"),
        "/docker-entrypoint.sh [\"nginx\",\"-g\",\"daemon off;\"]"
    );
    let pid: i32 = inspect(&env, "w1", "{{.State.Pid}}").parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let json: serde_json::Value =
        serde_json::from_str(&env.run_ok(&["container", "inspect", "w1"])).unwrap();
    let data = &json[0]["GraphDriver"]["Data"];
    assert_eq!(json[0]["GraphDriver"]["Name"], "overlay2");
    let upper = data["UpperDir"].as_str().unwrap();
    assert_eq!(
        upper,
        env.root
            .join("overlay")
            .join(&id)
            .join("diff")
            .to_str()
            .unwrap()
    );
    assert!(
        data["LowerDir"].as_str().unwrap().split(':').count() == 3,
        "{data}"
    );

    // The container serves, and its access log is the container's log.
    let page = env.run_ok(&["exec", "w1", "curl", "-s", "http://localhost/"]);
    assert!(page.contains("Welcome to nginx!"), "{page}");
    let logs = env.run(&["logs", "w1"]);
    assert!(
        text(&logs.stdout).contains("\"GET / HTTP/1.1\" 200"),
        "{}",
        text(&logs.stdout)
    );
    let tail = env.run_ok(&["logs", "-t", "--tail", "1", "w1"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert!(tail.starts_with("20") && tail.contains("Z "), "{tail}");

    // rm refuses a running container.
    let out = env.run(&["rm", "w1"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out)
            .contains("container is running: stop the container before removing or force remove"),
        "{}",
        stderr(&out)
    );

    // nginx stops on its StopSignal, SIGQUIT, gracefully: exit code 0, well before the timeout.
    let started = Instant::now();
    assert_eq!(env.run_ok(&["stop", "w1"]), "w1\n");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(
        inspect(&env, "w1", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    let ps = env.run_ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (0) "), "{ps}");
    assert_eq!(
        env.run_ok(&["ps", "-q"]),
        "",
        "ps without -a lists running ones only"
    );
    assert_eq!(
        mounts_under(&env),
        0,
        "a stopped container's rootfs is unmounted"
    );

    env.run_ok(&["start", "w1"]);
    let new_pid: i32 = inspect(&env, "w1", "{{.State.Pid}}").parse().unwrap();
    assert_ne!(new_pid, pid);
    env.run_ok(&["container", "restart", "w1"]);
    assert_eq!(inspect(&env, "w1", "{{.State.Status}}"), "running");
    let page = env.run_ok(&["container", "exec", "w1", "curl", "-s", "http://localhost/"]);
    assert!(page.contains("Welcome to nginx!"));

    assert_eq!(env.run_ok(&["container", "rm", "-f", "w1"]), "w1\n");
    assert_eq!(env.run_ok(&["container", "ps", "-a", "-q"]), "");
    assert!(!env.root.join("containers").join(&id).exists());
    assert!(!env.root.join("overlay").join(&id).exists());
    let out = env.run(&["inspect", "w1"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("No such object: w1"));
}

#[test]
fn exit_codes_are_dockers() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    let run = |args: &[&str]| env.run(&[&["run", "--rm"], args].concat());

    assert_eq!(code(&run(&["busybox", "true"])), 0);
    let out = run(&["busybox", "echo", "hello", "-n"]);
    assert_eq!(
        text(&out.stdout),
        "hello -n\n",
        "output reaches the attached client"
    );
    assert_eq!(code(&run(&["busybox", "sh", "-c", "exit 3"])), 3);
    assert_eq!(code(&run(&["busybox", "false"])), 1);

    let out = run(&["busybox", "nosuchcommand"]);
    assert_eq!(code(&out), 127);
    assert!(
        stderr(&out).contains("exec: \"nosuchcommand\": executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    let out = run(&["busybox", "/etc/passwd"]);
    assert_eq!(code(&out), 126, "{}", stderr(&out));

    let out = run(&["--memory", "lots", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("invalid size: 'lots'"));
    let out = run(&["--restart", "sometimes", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    let out = env.run(&["run", "--stop-signal", "SIGNOPE", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("invalid signal: SIGNOPE"));
    let out = run(&["-u", "ghost", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("unable to find user ghost"),
        "{}",
        stderr(&out)
    );
    let out = run(&["nosuchimage"]);
    assert_eq!(code(&out), 125);

    // A container killed by SIGKILL: 137, from wait and from inspect.
    let id = env.run_ok(&["run", "-d", "busybox", "sleep", "60"]);
    let id = id.trim();
    env.run_ok(&["kill", id]);
    assert_eq!(env.run_ok(&["wait", id]), "137\n");
    assert_eq!(inspect(&env, id, "{{.State.ExitCode}}"), "137");
    env.run_ok(&["rm", id]);

    // None of the failed runs left a container behind, except those that got to exist, which
    // --rm removed.
    assert_eq!(env.run_ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn bad_input_gets_dockers_errors_and_leaves_nothing() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["create", "--name", "one", "busybox", "true"]);
    let out = env.run(&["create", "--name", "one", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out)
            .contains("Conflict. The container name \"/one\" is already in use by container"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["run", "--name", "bad name", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("Invalid container name (bad name)"));
    let out = env.run(&["stop", "nosuch"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("No such container: nosuch"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["exec", "one", "true"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
    let listed = env.run_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(listed, "one Created\n");
    // Only the created container's folders exist.
    let containers = std::fs::read_dir(env.root.join("containers"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    assert_eq!(containers, 1);
    env.run_ok(&["rm", "one"]);
    let overlay: Vec<String> = std::fs::read_dir(env.root.join("overlay"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        overlay.len(),
        2,
        "the image's layer and l/ only: {overlay:?}"
    );
}

#[test]
fn rm_flag_removes_the_container_when_it_ends() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    let id = env.run_ok(&["run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.2"]);
    let id = id.trim().to_string();
    eventually("the --rm container is gone", || {
        env.run_ok(&["ps", "-a", "-q", "--no-trunc"])
            .trim()
            .is_empty()
    });
    assert!(!env.root.join("containers").join(&id).exists());
    assert!(!env.root.join("overlay").join(&id).exists());
}

/// Runs mini with `args` on a pseudo-terminal of `rows` x `cols` (`script` gives it one, as a
/// person's terminal would be), with `typed` typed in as at a prompt.
fn on_a_terminal(env: &TestEnv, args: &[&str], rows: u16, cols: u16, typed: &[u8]) -> Output {
    typing_on_a_terminal(env, args, rows, cols, &[(Duration::ZERO, typed)])
}

/// `on_a_terminal`, typing each chunk after its pause.
fn typing_on_a_terminal(
    env: &TestEnv,
    args: &[&str],
    rows: u16,
    cols: u16,
    typed: &[(Duration, &[u8])],
) -> Output {
    let mini = env
        .mini()
        .args(args)
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let command = format!(
        "stty rows {rows} cols {cols}; MINI_CONFIG={} {} {mini}",
        env.config.display(),
        mini_tests::host::mini_bin().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (pause, chunk) in typed {
        std::thread::sleep(*pause);
        stdin.write_all(chunk).unwrap();
        stdin.flush().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    out
}

#[test]
fn run_it_gives_a_terminal_of_the_callers_size() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    // The shell's exit code becomes mini's.
    let out = on_a_terminal(
        &env,
        &["run", "-it", "--rm", "busybox", "sh"],
        31,
        97,
        b"tty; stty size; echo sum=$((40+2)) $TERM; exit 4\n",
    );
    let screen = text(&out.stdout);
    assert_eq!(code(&out), 4, "{screen}{}", stderr(&out));
    assert!(screen.contains("/dev/pts/0"), "{screen}");
    assert!(
        screen.contains("31 97"),
        "the caller's window size: {screen}"
    );
    assert!(screen.contains("sum=42 xterm"), "{screen}");
    // The size is there before the first process's first instruction: no shell, no typing.
    let out = on_a_terminal(
        &env,
        &["run", "-it", "--rm", "busybox", "stty", "size"],
        31,
        97,
        b"",
    );
    assert_eq!(text(&out.stdout).trim(), "31 97", "{}", stderr(&out));
}

#[test]
fn itd_keeps_a_terminal_open_in_the_background_and_exec_it_opens_another() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["container", "run", "-itd", "--name=testos", "debian"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        inspect(&env, "testos", "{{.State.Status}} {{.Config.Tty}}"),
        "running true"
    );
    let ps = env.run_ok(&["exec", "testos", "ps", "-o", "tty=", "-p", "1"]);
    assert_eq!(ps.trim(), "pts/0", "bash holds a terminal");
    // exec -it: a terminal of its own, of the caller's size, typed into.
    let out = on_a_terminal(
        &env,
        &["exec", "-it", "testos", "bash"],
        27,
        88,
        b"tty; stty size; echo sum=$((40+2)) $TERM $HOSTNAME; exit 3\n",
    );
    let screen = text(&out.stdout);
    assert_eq!(code(&out), 3, "{screen}{}", stderr(&out));
    assert!(screen.contains("/dev/pts/1"), "{screen}");
    assert!(
        screen.contains("27 88"),
        "the caller's window size: {screen}"
    );
    let hostname = inspect(&env, "testos", "{{.Config.Hostname}}");
    assert!(
        screen.contains(&format!("sum=42 xterm {hostname}")),
        "{screen}"
    );
    // -t alone: a terminal all the same.
    let out = on_a_terminal(
        &env,
        &["exec", "-t", "testos", "sh", "-c", "tty; stty size"],
        27,
        88,
        b"",
    );
    let screen = text(&out.stdout);
    assert!(screen.contains("/dev/pts/1\r"), "{screen}");
    assert!(screen.contains("27 88\r"), "{screen}");
    // Without -t, no terminal.
    let out = env.run(&["exec", "testos", "tty"]);
    assert_eq!(code(&out), 1);
    assert_eq!(text(&out.stdout), "not a tty\n");
    env.run_ok(&["stop", "-t", "1", "testos"]);
    env.run_ok(&["rm", "testos"]);
}

#[test]
fn attach_detach_keys_and_several_clients_at_once() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["run", "-itd", "--name", "a1", "busybox", "sh"]);
    // Typed after a pause, so that the client has set its terminal raw: the sequence ends the
    // attachment, and the line before it reached the shell.
    let settle = Duration::from_millis(1500);
    let out = typing_on_a_terminal(
        &env,
        &["attach", "--detach-keys=ctrl-x,x", "a1"],
        24,
        80,
        &[
            (settle, b"echo one > /tmp/mark\r"),
            (Duration::from_millis(300), b"\x18x"),
        ],
    );
    let screen = text(&out.stdout);
    assert_eq!(
        code(&out),
        1,
        "Docker's attach ends with 1 on a detach: {screen}"
    );
    assert!(screen.contains("read escape sequence"), "{screen}");
    assert_eq!(inspect(&env, "a1", "{{.State.Status}}"), "running");
    eventually("the typed line ran", || {
        env.run(&["exec", "a1", "cat", "/tmp/mark"]).stdout == b"one\n"
    });

    // A second client, without stdin, sees what the first one's shell prints, and both end
    // with the shell's exit code.
    let watcher = env
        .mini()
        .args(["attach", "--no-stdin", "a1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = typing_on_a_terminal(
        &env,
        &["attach", "a1"],
        24,
        80,
        &[
            (settle, b"echo sum-$((40+2))\r"),
            (Duration::from_millis(300), b"exit 6\r"),
        ],
    );
    assert_eq!(code(&out), 6, "{}", text(&out.stdout));
    let watched = watcher.wait_with_output().unwrap();
    assert_eq!(code(&watched), 6, "{}", stderr(&watched));
    assert!(
        text(&watched.stdout).contains("sum-42"),
        "{}",
        text(&watched.stdout)
    );
    assert_eq!(
        inspect(&env, "a1", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 6"
    );

    let out = env.run(&["attach", "a1"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("You cannot attach to a stopped container, start it first"),
        "{}",
        stderr(&out)
    );
    // `run -it` detaches quietly, with 0; the container runs on.
    let out = typing_on_a_terminal(
        &env,
        &["run", "-it", "--name", "a2", "busybox", "sh"],
        24,
        80,
        &[(settle, b"\x10\x11")],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stdout));
    assert!(
        !text(&out.stdout).contains("escape"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(inspect(&env, "a2", "{{.State.Status}}"), "running");
    env.run_ok(&["rm", "-f", "a1", "a2"]);

    let out = env.run(&["run", "-it", "--detach-keys", "ctrl-1", "busybox"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("invalid detach keys"),
        "{}",
        stderr(&out)
    );
    // Docker refuses a terminal's input from something that is not one.
    let out = env.run(&["run", "-it", "busybox", "true"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("the input device is not a TTY"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.run_ok(&["ps", "-aq"]), "", "nothing was created");
}

#[test]
fn an_attached_run_feeds_stdin_and_proxies_signals() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    // `run -i`: stdin goes in and its end closes the container's (StdinOnce).
    let mut child = env
        .mini()
        .args([
            "run",
            "-i",
            "--rm",
            "--name",
            "cat",
            "busybox",
            "sh",
            "-c",
            "cat; echo done >&2",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Written while the output is read: more than any pipe or socket holds.
    let writer = std::thread::spawn(move || stdin.write_all(&vec![b'x'; 300_000]));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 300_000, "all of stdin came back out");
    assert_eq!(stderr(&out), "done\n", "stderr stays stderr");

    // Without a terminal, SIGINT to mini is the container's.
    let child = env
        .mini()
        .args([
            "run",
            "--rm",
            "--name",
            "trap",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got INT; exit 5' INT; echo ready; while true; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the trap is set", || {
        env.run(&["logs", "trap"]).stdout == b"ready\n"
    });
    // SAFETY: kill takes a pid and a signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(text(&out.stdout), "ready\ngot INT\n");
    assert_eq!(
        env.run_ok(&["ps", "-aq"]),
        "",
        "--rm removed it before run returned"
    );
}

#[test]
fn memory_and_pids_limits_are_enforced() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    let out = env.run(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 64m /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    assert!(!text(&out.stdout).contains("survived"));
    assert_eq!(
        inspect(&env, "hog", "{{.State.OOMKilled}} {{.HostConfig.Memory}}"),
        "true 16777216"
    );
    env.run_ok(&["rm", "hog"]);

    let out = env.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait",
    ]);
    assert!(
        stderr(&out).contains("can't fork") || text(&out.stdout).contains("can't fork"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "50",
        "busybox",
        "sh",
        "-c",
        "sleep 0 & wait",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn on_failure_restarts_up_to_its_count() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo attempt; exit 1",
    ]);
    eventually("the restarts are used up", || {
        inspect(&env, "flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });
    assert_eq!(
        env.run_ok(&["logs", "flaky"]),
        "attempt\nattempt\nattempt\n"
    );
    assert_eq!(
        inspect(
            &env,
            "flaky",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure 2"
    );
    env.run_ok(&["rm", "flaky"]);
}

#[test]
fn containers_share_layers_and_the_upper_dir_is_the_containers_own() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["run", "-d", "--name", "a", "busybox", "sleep", "60"]);
    env.run_ok(&["run", "-d", "--name", "b", "busybox", "sleep", "60"]);
    env.run_ok(&["exec", "a", "sh", "-c", "echo mine > /tmp/a.txt"]);
    let out = env.run(&["exec", "b", "cat", "/tmp/a.txt"]);
    assert_eq!(code(&out), 1, "b does not see a's file");
    let upper_a = inspect(&env, "a", "{{.GraphDriver.Data.UpperDir}}");
    let upper_b = inspect(&env, "b", "{{.GraphDriver.Data.UpperDir}}");
    assert_eq!(
        std::fs::read_to_string(format!("{upper_a}/tmp/a.txt")).unwrap(),
        "mine\n"
    );
    assert!(!std::path::Path::new(&format!("{upper_b}/tmp/a.txt")).exists());
    let lower_a = inspect(&env, "a", "{{.GraphDriver.Data.LowerDir}}");
    let lower_b = inspect(&env, "b", "{{.GraphDriver.Data.LowerDir}}");
    let image_layers = |lower: &str| {
        lower
            .split(':')
            .skip(1)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        image_layers(&lower_a),
        image_layers(&lower_b),
        "one copy of the image"
    );

    // The lab's step: a file made in UpperDir from the host shows inside the container.
    std::fs::write(format!("{upper_a}/from-host.txt"), "hello").unwrap();
    let listing = env.run_ok(&["exec", "a", "/bin/ls", "-l", "/"]);
    assert!(listing.contains("from-host.txt"), "{listing}");
    env.run_ok(&["rm", "-f", "a", "b"]);
}

#[test]
fn a_killed_monitor_and_a_reboot_are_repaired() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    let id = env.run_ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "60"]);
    let id = id.trim().to_string();
    let pid: i32 = inspect(&env, "orphan", "{{.State.Pid}}").parse().unwrap();
    // Kill its monitor: the next command finds the container exited and its resources gone.
    let monitor = mini_tests::host::run("pgrep", &["-f", &format!("__monitor {id}")]);
    mini_tests::host::run("kill", &["-9", monitor.trim()]);
    eventually("the monitor is gone", || {
        !std::path::Path::new(&format!("/proc/{}", monitor.trim())).exists()
    });
    let ps = env.run_ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (255)"), "{ps}");
    eventually("the container's process is gone", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    });
    assert_eq!(mounts_under(&env), 0);
    env.run_ok(&["start", "orphan"]);
    assert_eq!(inspect(&env, "orphan", "{{.State.Status}}"), "running");

    // Restart policies at the next boot, as at Docker's daemon start: `always` restarts even a
    // container stopped by hand, `unless-stopped` only one that was not.
    for (name, policy) in [
        ("always", "always"),
        ("running", "unless-stopped"),
        ("stopped", "unless-stopped"),
    ] {
        let args = [
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "60",
        ];
        env.run_ok(&args);
    }
    env.run_ok(&["stop", "-t", "0", "always", "stopped"]);

    // A reboot: every process gone, mounts gone, the runtime folder emptied.
    let mut running = Vec::new();
    for name in ["orphan", "running"] {
        let id = inspect(&env, name, "{{.Id}}");
        let monitor = mini_tests::host::run("pgrep", &["-f", &format!("__monitor {id}")]);
        running.push((
            monitor.trim().to_string(),
            inspect(&env, name, "{{.State.Pid}}"),
            inspect(&env, name, "{{.GraphDriver.Data.MergedDir}}"),
            inspect(&env, name, "{{.NetworkSettings.SandboxKey}}"),
        ));
    }
    // No mini command runs between these steps: the next one must find everything gone.
    for (monitor, pid, merged, netns) in &running {
        mini_tests::host::run("kill", &["-9", monitor, pid]);
        eventually("the processes are gone", || {
            !std::path::Path::new(&format!("/proc/{monitor}")).exists()
        });
        mini_tests::host::run("umount", &["-l", merged]);
        // The network namespace file is a mount under the runtime folder: a reboot takes it.
        mini_tests::host::run("umount", &["-l", netns]);
    }
    std::fs::remove_dir_all(&env.runroot).unwrap();
    std::fs::create_dir(&env.runroot).unwrap();
    assert_eq!(inspect(&env, "orphan", "{{.State.Status}}"), "exited");
    let states = env.run_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    let mut states: Vec<&str> = states.lines().collect();
    states.sort();
    assert_eq!(
        states,
        [
            "always running",
            "orphan exited",
            "running running",
            "stopped exited"
        ]
    );
    assert_eq!(env.run_ok(&["exec", "always", "echo", "up"]), "up\n");
    env.run_ok(&["start", "orphan"]);
    assert_eq!(env.run_ok(&["exec", "orphan", "echo", "back"]), "back\n");
    env.run_ok(&["rm", "-f", "orphan", "always", "running", "stopped"]);
}

#[test]
fn twenty_containers_started_at_once_all_run() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    let children: Vec<_> = (0..20)
        .map(|i| {
            env.mini()
                .args([
                    "run",
                    "-d",
                    "--name",
                    &format!("c{i}"),
                    "busybox",
                    "sleep",
                    "60",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let running = env.run_ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    let mut names: Vec<&str> = running.lines().collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20, "{running}");
    assert!(names.iter().all(|l| l.ends_with(" running")), "{running}");
    // Every record parses and has its own pid.
    let pids = env.run_ok(&["inspect", "-f", "{{.State.Pid}}", "c0", "c5", "c19"]);
    let mut pids: Vec<&str> = pids.lines().collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 3);
    let ids = env.run_ok(&["ps", "-q"]);
    let ids: Vec<&str> = ids.lines().collect();
    env.run_ok(&[&["rm", "-f"], ids.as_slice()].concat());
    assert_eq!(env.run_ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn rmi_keeps_an_image_that_a_container_uses() {
    let (env, _registry) = lab(&["busybox", "nginx", "debian"]);
    env.run_ok(&["create", "--name", "user", "busybox", "true"]);
    let out = env.run(&["rmi", "busybox"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out)
            .contains("unable to remove repository reference \"busybox\" (must force) - container"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["rmi", "-f", "busybox"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("(cannot be forced)"),
        "{}",
        stderr(&out)
    );
    // One of two tags may go: the image stays.
    env.run_ok(&["tag", "busybox", "other:1"]);
    assert_eq!(env.run_ok(&["rmi", "other:1"]), "Untagged: other:1\n");
    env.run_ok(&["start", "-a", "user"]);
    env.run_ok(&["rm", "user"]);
    let out = env.run_ok(&["rmi", "busybox"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
}

#[test]
fn seccomp_no_new_privileges_and_privileged() {
    let (env, _registry) = lab(&["busybox"]);
    let status = |opts: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(opts);
        args.extend([
            "busybox",
            "grep",
            "-E",
            "^(Seccomp|NoNewPrivs|CapEff):",
            "/proc/self/status",
        ]);
        env.run_ok(&args)
    };
    // By default: a seccomp filter, no no_new_privs.
    let default = status(&[]);
    assert!(
        default.contains("Seccomp:\t2") && default.contains("NoNewPrivs:\t0"),
        "{default}"
    );
    // The filter refuses what capabilities allow: a new user namespace needs none.
    let unshare = env.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    assert_eq!(code(&unshare), 1);
    assert!(
        stderr(&unshare).contains("Operation not permitted"),
        "{}",
        stderr(&unshare)
    );
    env.run_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    // A capability gives back the calls it governs (mount with SYS_ADMIN, as in Docker).
    let mounted = env.run_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "sh",
        "-c",
        "mkdir /m && mount -t tmpfs none /m && echo mounted",
    ]);
    assert_eq!(mounted, "mounted\n");
    // An exec'd process runs under the same filter and capabilities as the container.
    env.run_ok(&["run", "-d", "--name", "filtered", "busybox", "sleep", "600"]);
    let in_exec = |user: &str| {
        env.run_ok(&[
            "exec",
            "-u",
            user,
            "filtered",
            "grep",
            "-E",
            "^(Seccomp|NoNewPrivs|Cap(Eff|Prm|Bnd)):",
            "/proc/self/status",
        ])
    };
    let root = in_exec("0");
    let cap = |text: &str, set: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("Cap{set}:\t")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        root.contains("Seccomp:\t2") && root.contains("NoNewPrivs:\t0"),
        "{root}"
    );
    for set in ["Eff", "Prm", "Bnd"] {
        assert_eq!(cap(&root, set), cap(&default, "Eff"), "Cap{set}: {root}");
    }
    let nobody = in_exec("65534");
    assert!(nobody.contains("Seccomp:\t2"), "{nobody}");
    assert_eq!(cap(&nobody, "Eff"), "0000000000000000", "{nobody}");
    assert_eq!(cap(&nobody, "Bnd"), cap(&default, "Eff"), "{nobody}");
    let unshare = env.run(&["exec", "filtered", "unshare", "-U", "true"]);
    assert_eq!(code(&unshare), 1, "{}", stderr(&unshare));
    env.run_ok(&["rm", "-f", "filtered"]);

    let nnp = status(&["--security-opt", "no-new-privileges"]);
    assert!(
        nnp.contains("Seccomp:\t2") && nnp.contains("NoNewPrivs:\t1"),
        "{nnp}"
    );
    // --privileged: no filter, and every capability this host lets mini pass on.
    let privileged = status(&["--privileged"]);
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let bounding = own.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    let bounding = bounding.trim_start_matches("CapBnd:").trim();
    assert!(privileged.contains("Seccomp:\t0"), "{privileged}");
    assert!(
        privileged.contains(&format!("CapEff:\t{bounding}")),
        "{privileged}"
    );
    let id = env.run_ok(&[
        "create",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "true",
    ]);
    assert_eq!(
        inspect(&env, id.trim(), "{{json .HostConfig.SecurityOpt}}"),
        "[\"no-new-privileges\"]"
    );
    env.run_ok(&["rm", id.trim()]);
    let bad = env.run(&["run", "--rm", "--security-opt", "bogus", "busybox", "true"]);
    assert_eq!(code(&bad), 125);
    assert!(
        stderr(&bad).contains("invalid --security-opt: \"bogus\""),
        "{}",
        stderr(&bad)
    );
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
}

#[test]
fn a_seccomp_profile_in_dockers_format() {
    let (env, _registry) = lab(&["busybox"]);
    // mkdir refused; chmod refused only to a container with SYS_ADMIN (an `includes` rule).
    let profile = env.path("profile.json");
    std::fs::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO",
                 "errnoRet": 1, "includes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]
        }"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let script = "touch /t && chmod 600 /t && echo chmod-ok && mkdir /d";
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none", "--security-opt", &opt];
        args.extend_from_slice(extra);
        args.extend(["busybox", "sh", "-c", script]);
        env.run(&args)
    };
    let out = run(&[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(text(&out.stdout), "chmod-ok\n");
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    let out = run(&["--cap-add", "SYS_ADMIN"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(text(&out.stdout), "", "chmod was refused");

    // The profile's JSON is kept in the record (the file may go), and exec runs under it.
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "p",
        "--security-opt",
        &opt,
        "busybox",
        "sleep",
        "600",
    ]);
    std::fs::remove_file(&profile).unwrap();
    let kept = inspect(&env, "p", "{{json .HostConfig.SecurityOpt}}");
    assert!(
        kept.starts_with(r#"["seccomp={"#) && kept.contains("mkdirat"),
        "{kept}"
    );
    let out = env.run(&["exec", "p", "mkdir", "/x"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    env.run_ok(&["exec", "p", "touch", "/x"]);
    env.run_ok(&["restart", "-t", "0", "p"]);
    assert_eq!(
        code(&env.run(&["exec", "p", "mkdir", "/y"])),
        1,
        "after a restart too"
    );
    env.run_ok(&["rm", "-f", "p"]);

    let out = env.run(&["run", "--rm", "--security-opt", &opt, "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("opening seccomp profile (") && stderr(&out).contains("failed"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}], "syscalls": []}"#,
    )
    .unwrap();
    let out = env.run(&["create", "--security-opt", &opt, "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("'architectures' and 'archMap'"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.run_ok(&["ps", "-aq"]), "", "nothing was created");
}

#[test]
fn init_runs_first_forwards_signals_and_top_lists_the_processes() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let ps = env.run_ok(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "ps",
        "-o",
        "pid,comm",
    ]);
    assert!(ps.contains("    1 docker-init"), "{ps}");
    // A shell's sleep as the first process ignores SIGTERM: stop has to kill it (137). Under
    // the init, SIGTERM reaches it and it dies of it (128 + 15).
    for (flags, expected) in [(&["--init"][..], "143"), (&[][..], "137")] {
        let name = format!("sleeper{}", flags.len());
        let mut args = vec!["run", "-d", "--name", &name, "--network", "none"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "sleep", "300"]);
        env.run_ok(&args);
        env.run_ok(&["stop", "-t", "1", &name]);
        assert_eq!(
            inspect(&env, &name, "{{.State.ExitCode}}"),
            expected,
            "{flags:?}"
        );
    }
    assert_eq!(inspect(&env, "sleeper1", "{{.HostConfig.Init}}"), "true");
    env.run_ok(&["rm", "sleeper0", "sleeper1"]);

    // top: the host's ps, the container's rows only (nginx's master and its workers).
    env.run_ok(&["run", "-d", "--name", "web", "--network", "none", "nginx"]);
    eventually("nginx's workers", || {
        env.run_ok(&["top", "web"])
            .matches("nginx: worker process")
            .count()
            >= 1
    });
    let top = env.run_ok(&["top", "web"]);
    let mut lines = top.lines();
    assert!(lines.next().unwrap().starts_with("UID"), "{top}");
    assert!(lines.all(|l| l.contains("nginx")), "{top}");
    let pid = inspect(&env, "web", "{{.State.Pid}}");
    let custom = env.run_ok(&["container", "top", "web", "-o", "pid,comm"]);
    assert!(
        custom.lines().any(|l| l.trim() == format!("{pid} nginx")),
        "{custom}"
    );
    env.run_ok(&["stop", "web"]);
    let stopped = env.run(&["top", "web"]);
    assert_eq!(code(&stopped), 1);
    assert!(stderr(&stopped).contains("is not running"));
    env.run_ok(&["rm", "web"]);
}

/// CVE-2019-5736: the processes that enter a container (its monitor, whose fork becomes the
/// container's init, and `mini exec`) run from a sealed in-memory copy of mini, so that the
/// container can reach no writable mini binary through /proc/PID/exe.
#[test]
fn processes_that_enter_a_container_cannot_write_minis_binary() {
    use std::os::unix::fs::OpenOptionsExt;
    let (env, _registry) = lab(&["busybox"]);
    // A copy of mini of its own, so that no other process runs (and write-locks) that file.
    let copy = env.root.join("mini-copy");
    std::fs::copy(mini_tests::host::mini_bin(), &copy).unwrap();
    let run = |args: &[&str]| {
        let out = mini_tests::host::output(env.mini_from(&copy).args(args));
        assert!(out.status.success(), "{}", stderr(&out));
        text(&out.stdout).trim().to_string()
    };
    let id = run(&["run", "-d", "--network", "none", "busybox", "sleep", "300"]);
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.root.join("containers").join(&id).join("config.json")).unwrap(),
    )
    .unwrap();
    let monitor = record["State"]["MonitorPid"].as_i64().unwrap();
    let exe = |pid: i64| std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    // What a process in the container could hold on to: /proc/PID/exe of the monitor and of
    // a `mini exec` (once it has re-executed itself, it no longer names the copy).
    let mut held = vec![std::fs::File::options()
        .custom_flags(libc::O_PATH)
        .read(true)
        .open(format!("/proc/{monitor}/exe"))
        .unwrap()];
    assert_ne!(exe(monitor), copy, "the monitor runs from a view of mini");
    let mut exec = env
        .mini_from(&copy)
        .args(["exec", &id, "sleep", "2"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = i64::from(exec.id());
    eventually("mini exec to run from a view of mini", || {
        !exe(pid).as_os_str().is_empty() && exe(pid) != copy
    });
    held.push(
        std::fs::File::options()
            .custom_flags(libc::O_PATH)
            .read(true)
            .open(format!("/proc/{pid}/exe"))
            .unwrap(),
    );
    assert!(exec.wait().unwrap().success());
    // What they started still runs the file on disk (the next exec works).
    assert_eq!(run(&["exec", &id, "echo", "still works"]), "still works");
    run(&["rm", "-f", &id]);
    // Once no mini runs, the file is no longer busy: neither view can be written through.
    for file in &held {
        use std::os::fd::AsRawFd;
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let written = std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"x"));
        let err = written.expect_err("mini's binary was written through /proc/PID/exe");
        assert!(
            matches!(err.raw_os_error(), Some(libc::EROFS) | Some(libc::EPERM)),
            "{err}"
        );
    }
    // And the binary on disk still takes writes from the host itself.
    std::fs::File::options().write(true).open(&copy).unwrap();
    std::fs::remove_file(&copy).unwrap();
}

#[test]
fn logs_follow_and_since_and_a_cpu_quota() {
    use std::io::BufRead;
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "--network",
        "none",
        "--cpus",
        "1.5",
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 2; echo second; sleep 600",
    ]);
    // --cpus, as the container sees its own cgroup (mounted read-only, as Docker does).
    let quota = env.run_ok(&[
        "exec",
        "talker",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us \
         2>/dev/null || cat /sys/fs/cgroup/cpu.max",
    ]);
    assert!(
        quota == "150000\n100000\n" || quota == "150000 100000\n",
        "{quota}"
    );
    let write = env.run(&[
        "exec",
        "talker",
        "sh",
        "-c",
        "echo -1 > /sys/fs/cgroup/cpu/cpu.cfs_quota_us || echo max > /sys/fs/cgroup/cpu.max",
    ]);
    assert_ne!(code(&write), 0, "the container changed its own CPU quota");

    // -f: what was logged, then what comes, and it ends when the container stops.
    let mut follow = env
        .mini()
        .args(["logs", "-f", "talker"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = lines_tx.send(line.unwrap_or_default());
        }
    });
    let next = || lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(next(), "first");
    assert_eq!(next(), "second", "a line logged while -f follows");
    env.run_ok(&["stop", "-t", "1", "talker"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "logs -f outlived the container");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());

    // --since: a timestamp (the second line's, inclusive) or a duration back from now.
    let stamped = env.run_ok(&["logs", "-t", "talker"]);
    let second = stamped
        .lines()
        .find_map(|l| l.strip_suffix(" second"))
        .unwrap_or_else(|| panic!("{stamped}"));
    assert_eq!(
        env.run_ok(&["logs", "--since", second, "talker"]),
        "second\n"
    );
    assert_eq!(
        env.run_ok(&["logs", "--since", "1h", "talker"]),
        "first\nsecond\n"
    );
    let bad = env.run(&["logs", "--since", "yesterday", "talker"]);
    assert_ne!(code(&bad), 0);
    assert!(stderr(&bad).contains("--since"), "{}", stderr(&bad));
    env.run_ok(&["rm", "talker"]);
}
