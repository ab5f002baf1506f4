//! mini-runc keeps runc's contract, the one containerd, Docker and the OCI's validation suite
//! rely on: `create` returns with the init waiting and the pid file written, `state` is runc's
//! JSON, `start` runs the process, `exec` joins (under the container's seccomp filter) with the
//! process's exit code, `ps`, `pause`/`resume` freeze and thaw, `kill` takes every signal runc
//! takes and says "container not running" for a stopped container, `delete` refuses a running one
//! and says "does not exist" for a missing one; `run` waits and forwards signals. Bad bundles fail
//! with runc's errors and leave nothing. (containerd and Docker drive it in docker.rs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mini_tests::host::{self, code, text};
use mini_tests::{images, TestEnv};
use serde_json::{json, Value};

/// mini-runc on a state root of the test's own; what it made goes when the test ends.
struct Runc {
    root: PathBuf,
    dir: PathBuf,
    tag: String,
}

impl Runc {
    fn new(env: &TestEnv) -> Runc {
        Runc {
            root: env.path("runc"),
            dir: env.path(""),
            tag: env.tag.clone(),
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new(host::runc_bin());
        cmd.arg("--root").arg(&self.root).current_dir(&self.dir);
        cmd
    }

    /// Runs a command. The init of a container that `create` or `run --detach` makes keeps
    /// the command's stdio (as runc's does: containerd hands it FIFOs), so output goes through
    /// files here, not pipes whose end would never come.
    fn run(&self, args: &[&str]) -> Output {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out_path = self.dir.join(format!("runc-{n}.out"));
        let err_path = self.dir.join(format!("runc-{n}.err"));
        let status = self
            .cmd()
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .unwrap_or_else(|err| panic!("mini-runc {}: {err}", args.join(" ")));
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap(),
            stderr: std::fs::read(&err_path).unwrap(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mini-runc {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs a command that must fail; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "mini-runc {} succeeded: {}",
            args.join(" "),
            text(&out.stdout)
        );
        text(&out.stderr)
    }

    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state is JSON")
    }

    /// Waits until the container's status is `want`.
    fn wait_for(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = self.state(id);
            if state["status"] == want {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {want}: {state}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The container's cgroup path, as the bundles of these tests set it.
    fn cgroup(&self, id: &str) -> String {
        format!("/mini-{}/{id}", self.tag)
    }

    /// A bundle of busybox under the test's folder running `args`; `edit` changes its spec.
    fn bundle(&self, id: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let bundle = self.dir.join(format!("bundle-{id}"));
        host::check(
            Command::new("umoci")
                .arg("unpack")
                .arg("--image")
                .arg(format!("{}:latest", images::layout("busybox").display()))
                .arg(&bundle),
        );
        let path = bundle.join("config.json");
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        spec["process"]["terminal"] = json!(false);
        spec["process"]["args"] = json!(args);
        spec["linux"]["cgroupsPath"] = json!(self.cgroup(id));
        edit(&mut spec);
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        bundle
    }

    /// The ids under the root.
    fn ids(&self) -> Vec<String> {
        self.ok(&["list", "-q"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Runc {
    /// Whatever a failing test left running goes before the leak check looks.
    fn drop(&mut self) {
        if !self.root.exists() {
            return;
        }
        for id in self.ids() {
            let _ = self.run(&["delete", "--force", &id]);
        }
    }
}

/// The freezer's view of a cgroup: FROZEN or THAWED (v1), 1 or 0 (v2).
fn freezer(cgroup: &str) -> String {
    let v1 = Path::new("/sys/fs/cgroup/freezer")
        .join(cgroup.trim_start_matches('/'))
        .join("freezer.state");
    if let Ok(state) = std::fs::read_to_string(&v1) {
        return state.trim().to_string();
    }
    let v2 = Path::new("/sys/fs/cgroup")
        .join(cgroup.trim_start_matches('/'))
        .join("cgroup.freeze");
    match std::fs::read_to_string(&v2).map(|s| s.trim().to_string()) {
        Ok(s) if s == "1" => "FROZEN".into(),
        Ok(_) => "THAWED".into(),
        Err(err) => panic!("no freezer for {cgroup}: {err}"),
    }
}

/// Whether any hierarchy still has the cgroup.
fn cgroup_exists(cgroup: &str) -> bool {
    let relative = cgroup.trim_start_matches('/');
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .any(|h| h.path().join(relative).exists())
        || Path::new("/sys/fs/cgroup").join(relative).exists()
}

fn cmdline(pid: i64) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[test]
fn runcs_contract_create_start_state_exec_ps_pause_kill_delete() {
    let env = TestEnv::new();
    let runc = Runc::new(&env);
    // The container's filter refuses mkdir: an exec'd process must get it too.
    let bundle = runc.bundle("c1", &["sleep", "1000"], |spec| {
        spec["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let bundle_arg = bundle.to_str().unwrap();
    // The pid file: relative to the working directory, and an old one is overwritten.
    std::fs::write(env.path("c1.pid"), "stale and longer than a pid\n").unwrap();
    runc.ok(&[
        "create",
        "--bundle",
        bundle_arg,
        "--pid-file",
        "c1.pid",
        "c1",
    ]);
    let state = runc.state("c1");
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_to_string(env.path("c1.pid")).unwrap(),
        pid.to_string()
    );
    assert_eq!(state["id"], "c1");
    assert_eq!(state["status"], "created");
    assert_eq!(state["bundle"], bundle_arg);
    assert_eq!(state["rootfs"], bundle.join("rootfs").to_str().unwrap());
    assert!(!state["ociVersion"].as_str().unwrap().is_empty());
    let created = state["created"].as_str().unwrap();
    assert!(
        created.len() > 20 && created.as_bytes()[10] == b'T' && created.ends_with('Z'),
        "{created}"
    );
    assert_eq!(state["owner"], "");
    // Created: the init waits, and the user's process has not run.
    assert!(!cmdline(pid).contains("sleep"), "{}", cmdline(pid));
    let again = runc.fails(&["create", "--bundle", bundle_arg, "c1"]);
    assert!(again.contains("container with id exists: c1"), "{again}");

    runc.ok(&["start", "c1"]);
    assert_eq!(runc.state("c1")["status"], "running");
    assert!(cmdline(pid).starts_with("sleep 1000"), "{}", cmdline(pid));
    let twice = runc.fails(&["start", "c1"]);
    assert!(
        twice.contains("cannot start an already running container"),
        "{twice}"
    );

    // exec: the process's own exit code and output.
    let out = runc.run(&["exec", "c1", "sh", "-c", "echo hi; echo oops >&2; exit 3"]);
    assert_eq!(
        (code(&out), text(&out.stdout), text(&out.stderr)),
        (3, "hi\n".into(), "oops\n".into())
    );
    let out = runc.run(&[
        "exec",
        "-e",
        "FOO=bar",
        "--cwd",
        "/etc",
        "c1",
        "sh",
        "-c",
        "echo $FOO $(pwd)",
    ]);
    assert_eq!(text(&out.stdout), "bar /etc\n", "{}", text(&out.stderr));
    // The container's seccomp filter holds for it as for the init.
    let out = runc.run(&["exec", "c1", "mkdir", "/tmp/x"]);
    assert_ne!(code(&out), 0);
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{}",
        text(&out.stderr)
    );
    let out = runc.run(&["exec", "c1", "touch", "/tmp/y"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    // A binary that is not there fails at once, attached or detached.
    for detach in [false, true] {
        let mut args = vec!["exec"];
        if detach {
            args.push("--detach");
        }
        args.extend(["c1", "/no/such/binary"]);
        let err = runc.fails(&args);
        assert!(err.contains("/no/such/binary"), "{err}");
    }
    // --process: the file containerd and Docker write.
    let process = env.path("process.json");
    std::fs::write(
        &process,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "echo $GREETING from $(id -u)"],
            "env": ["PATH=/bin:/usr/bin", "GREETING=hello"],
            "cwd": "/",
            "user": {"uid": 65534, "gid": 65534},
        }))
        .unwrap(),
    )
    .unwrap();
    let out = runc.run(&["exec", "--process", process.to_str().unwrap(), "c1"]);
    assert_eq!(
        text(&out.stdout),
        "hello from 65534\n",
        "{}",
        text(&out.stderr)
    );
    // Neither the init nor an exec'd process inherits mini-runc's ignoring of SIGPIPE.
    let out = runc.run(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "grep SigIgn /proc/1/status /proc/self/status",
    ]);
    let masks: Vec<u64> = text(&out.stdout)
        .lines()
        .map(|l| u64::from_str_radix(l.rsplit('\t').next().unwrap(), 16).unwrap())
        .collect();
    assert_eq!(masks.len(), 2, "{}", text(&out.stderr));
    for mask in masks {
        assert_eq!(
            mask & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE ignored: {mask:x}"
        );
    }
    // A signal's death: 128+N.
    let out = runc.run(&["exec", "c1", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(code(&out), 143);

    // ps: the init among the container's processes.
    let pids: Vec<i64> = serde_json::from_str(&runc.ok(&["ps", "--format", "json", "c1"])).unwrap();
    assert_eq!(pids, vec![pid]);
    let table = runc.ok(&["ps", "c1"]);
    assert!(table.lines().next().unwrap().contains("PID"), "{table}");
    assert!(
        table.lines().skip(1).any(|l| l.contains("sleep 1000")),
        "{table}"
    );

    // pause and resume: the cgroup's freezer.
    runc.ok(&["pause", "c1"]);
    assert_eq!(runc.state("c1")["status"], "paused");
    assert_eq!(freezer(&runc.cgroup("c1")), "FROZEN");
    let err = runc.fails(&["exec", "c1", "true"]);
    assert!(err.contains("paused"), "{err}");
    runc.ok(&["resume", "c1"]);
    assert_eq!(runc.state("c1")["status"], "running");
    assert_eq!(freezer(&runc.cgroup("c1")), "THAWED");
    let err = runc.fails(&["resume", "c1"]);
    assert!(err.contains("container not paused"), "{err}");

    // kill: names, numbers and real-time signals; a pid namespace's init ignores the ones it has
    // no handler for, so the container keeps running.
    for signal in ["USR1", "SIGUSR2", "10", "RTMIN+3", "SIGRTMAX-2"] {
        runc.ok(&["kill", "c1", signal]);
    }
    assert_eq!(runc.state("c1")["status"], "running");
    let err = runc.fails(&["kill", "c1", "NOPE"]);
    assert!(err.contains("invalid signal: NOPE"), "{err}");
    let err = runc.fails(&["delete", "c1"]);
    assert!(
        err.contains("cannot delete container c1 that is not stopped: running"),
        "{err}"
    );
    runc.ok(&["kill", "c1", "KILL"]);
    let state = runc.wait_for("c1", "stopped");
    assert_eq!(state["pid"], 0);
    let err = runc.fails(&["kill", "c1"]);
    assert!(err.contains("container not running"), "{err}");
    runc.ok(&["kill", "--all", "c1", "KILL"]);
    let err = runc.fails(&["exec", "c1", "true"]);
    assert!(err.contains("stopped"), "{err}");

    runc.ok(&["delete", "c1"]);
    assert!(!cgroup_exists(&runc.cgroup("c1")));
    assert!(!runc.root.join("c1").exists());
    for args in [
        &["state", "c1"][..],
        &["delete", "c1"],
        &["start", "c1"],
        &["kill", "c1", "KILL"],
    ] {
        let err = runc.fails(args);
        assert!(
            err.contains("container \"c1\" does not exist"),
            "{args:?}: {err}"
        );
    }
    runc.ok(&["delete", "--force", "c1"]);

    // Errors in runc's JSON log, the line containerd reads.
    let log = env.path("log.json");
    let log_arg = log.to_str().unwrap();
    runc.fails(&["--log", log_arg, "--log-format", "json", "state", "c1"]);
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container \"c1\" does not exist");
    assert!(line["time"].is_string());
    assert!(runc.ids().is_empty());
}

#[test]
fn run_waits_forwards_signals_and_removes_the_container() {
    let env = TestEnv::new();
    let runc = Runc::new(&env);
    let bundle = runc.bundle(
        "r1",
        &["sh", "-c", "echo out; echo err >&2; exit 7"],
        |_| {},
    );
    let out = runc.run(&["run", "--bundle", bundle.to_str().unwrap(), "r1"]);
    assert_eq!(
        (code(&out), text(&out.stdout), text(&out.stderr)),
        (7, "out\n".into(), "err\n".into())
    );
    assert!(
        runc.ids().is_empty(),
        "an attached run removes its container"
    );
    assert!(!cgroup_exists(&runc.cgroup("r1")));

    // A signal to mini-runc goes to the container's init.
    let script = "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done";
    let bundle = runc.bundle("r2", &["sh", "-c", script], |_| {});
    let mut child = runc
        .cmd()
        .args(["run", "--bundle", bundle.to_str().unwrap(), "r2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: kill takes a pid and a signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!((status.code(), rest.as_str()), (Some(42), "got TERM\n"));
    assert!(runc.ids().is_empty());

    // Detached: it returns with the container running.
    let bundle = runc.bundle("r3", &["sleep", "1000"], |_| {});
    runc.ok(&[
        "run",
        "--detach",
        "--bundle",
        bundle.to_str().unwrap(),
        "r3",
    ]);
    assert_eq!(runc.state("r3")["status"], "running");
    let listed: Vec<Value> = serde_json::from_str(&runc.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], "r3");
    let table = runc.ok(&["list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("r3 "), "{table}");
    runc.ok(&["delete", "--force", "r3"]);
    assert!(runc.ids().is_empty());
    assert!(!cgroup_exists(&runc.cgroup("r3")));
}

#[test]
fn bad_bundles_fail_with_runcs_errors_and_leave_nothing() {
    let env = TestEnv::new();
    let runc = Runc::new(&env);
    let nothing_left = |what: &str| {
        assert!(runc.ids().is_empty(), "{what}");
        let left: Vec<_> = std::fs::read_dir(&runc.root)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{what}: {left:?}");
        assert!(!cgroup_exists(&runc.cgroup("bad")), "{what}");
    };
    // No config.json.
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = runc.fails(&["create", "--bundle", empty.to_str().unwrap(), "bad"]);
    assert!(
        err.contains("config.json: no such file or directory"),
        "{err}"
    );
    nothing_left("no config.json");
    // An id that is no file name.
    let good = runc.bundle("bad", &["true"], |_| {});
    let err = runc.fails(&["create", "--bundle", good.to_str().unwrap(), "../bad"]);
    assert!(err.contains("invalid container id format: ../bad"), "{err}");
    nothing_left("bad id");

    // Specs that cannot run: an unknown namespace, a missing root filesystem, a mount of
    // nothing, a terminal with no console socket to send it to.
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "unknown namespace",
            Box::new(|s: &mut Value| {
                s["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "bogus"}))
            }),
        ),
        (
            "missing rootfs",
            Box::new(|s: &mut Value| s["root"]["path"] = json!("no-such-rootfs")),
        ),
        (
            "bad mount",
            Box::new(|s: &mut Value| {
                s["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/mnt/x", "type": "bind", "source": "/no/such/source",
                    "options": ["rbind"]
                }))
            }),
        ),
        (
            "terminal without socket",
            Box::new(|s: &mut Value| s["process"]["terminal"] = json!(true)),
        ),
    ];
    for (what, edit) in cases {
        let _ = std::fs::remove_dir_all(env.path("bundle-bad"));
        let bundle = runc.bundle("bad", &["true"], edit);
        let err = runc.fails(&["create", "--bundle", bundle.to_str().unwrap(), "bad"]);
        assert!(!err.trim().is_empty(), "{what}: no message");
        nothing_left(what);
    }
    // A console socket nobody listens on.
    let _ = std::fs::remove_dir_all(env.path("bundle-bad"));
    let bundle = runc.bundle("bad", &["true"], |s| s["process"]["terminal"] = json!(true));
    let socket = env.path("nobody.sock");
    let err = runc.fails(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--console-socket",
        socket.to_str().unwrap(),
        "bad",
    ]);
    assert!(!err.trim().is_empty());
    nothing_left("console socket");
    // A usage error ends with 1, as runc's do.
    let out = runc.run(&["state"]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    // Commands on an id nobody made.
    for args in [
        &["start", "ghost"][..],
        &["pause", "ghost"],
        &["exec", "ghost", "true"],
        &["ps", "ghost"],
    ] {
        let err = runc.fails(args);
        assert!(
            err.contains("container \"ghost\" does not exist"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn features_and_version_say_what_this_runtime_is() {
    let env = TestEnv::new();
    let runc = Runc::new(&env);
    let features: Value = serde_json::from_str(&runc.ok(&["features"])).unwrap();
    assert_eq!(features["ociVersionMin"], "1.0.0");
    let namespaces = features["linux"]["namespaces"].as_array().unwrap();
    for ns in ["mount", "network", "pid", "user", "cgroup"] {
        assert!(namespaces.contains(&json!(ns)), "{ns}");
    }
    assert_eq!(features["linux"]["seccomp"]["enabled"], true);
    assert!(features["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("CAP_SYS_ADMIN")));
    let version = runc.ok(&["--version"]);
    let lines: Vec<&str> = version.lines().collect();
    assert!(lines[0].starts_with("mini-runc version "), "{version}");
    assert!(lines[1].starts_with("commit: "), "{version}");
    assert!(lines[2].starts_with("spec: 1."), "{version}");
    // spec: a config.json that mini-runc runs as it is, once its process has no terminal.
    let bundle = env.path("spec");
    std::fs::create_dir(&bundle).unwrap();
    runc.ok(&["spec", "--bundle", bundle.to_str().unwrap()]);
    let err = runc.fails(&["spec", "--bundle", bundle.to_str().unwrap()]);
    assert!(err.contains("exists"), "{err}");
    let spec: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["root"]["path"], "rootfs");
    assert_eq!(spec["process"]["args"], json!(["sh"]));
}

#[test]
fn hooks_run_in_order_and_resources_hold() {
    let env = TestEnv::new();
    let runc = Runc::new(&env);
    let log = env.path("hooks.log");
    let log_text = log.to_str().unwrap().to_string();
    // Hooks that never read the state on their stdin: writing it must not kill mini-runc.
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} >> {log_text}")]});
    // Each logging hook after three of /bin/true, which end before the state is written to
    // them (mostly): the write meets a pipe with no reader.
    let many = |name: &str| {
        (1..=6)
            .flat_map(|i| {
                let quick = json!({"path": "/bin/true"});
                [
                    quick.clone(),
                    quick.clone(),
                    quick,
                    hook(&format!("{name}{i}")),
                ]
            })
            .collect::<Vec<_>>()
    };
    let bundle = runc.bundle("h1", &["sleep", "1000"], |spec| {
        spec["hooks"] = json!({
            "createRuntime": many("createRuntime"),
            "prestart": many("prestart"),
            "poststart": many("poststart"),
            "poststop": [hook("poststop1"), {"path": "/bin/false"}],
        });
        spec["linux"]["resources"] = json!({
            "memory": {"limit": 67108864, "disableOOMKiller": true},
            "pids": {"limit": 64},
        });
    });
    runc.ok(&["create", "--bundle", bundle.to_str().unwrap(), "h1"]);
    // The memory cgroup (v1) has the limit and the OOM killer off; the pids limit holds.
    let memory = Path::new("/sys/fs/cgroup/memory").join(runc.cgroup("h1").trim_start_matches('/'));
    if memory.exists() {
        let read = |file: &str| std::fs::read_to_string(memory.join(file)).unwrap();
        assert_eq!(read("memory.limit_in_bytes").trim(), "67108864");
        assert!(
            read("memory.oom_control").contains("oom_kill_disable 1"),
            "{}",
            read("memory.oom_control")
        );
    }
    runc.ok(&["start", "h1"]);
    let out = runc.run(&[
        "exec",
        "h1",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(text(&out.stdout), "64\n", "{}", text(&out.stderr));
    runc.ok(&["kill", "h1", "KILL"]);
    runc.wait_for("h1", "stopped");
    // A failing poststop hook is a warning: the container goes all the same.
    let out = runc.run(&["delete", "h1"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    assert!(runc.ids().is_empty());
    let ran: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut want: Vec<String> = Vec::new();
    // The deprecated prestart hooks run just before the createRuntime ones, as runc runs them.
    for stage in ["prestart", "createRuntime", "poststart"] {
        want.extend((1..=6).map(|i| format!("{stage}{i}")));
    }
    want.push("poststop1".into());
    assert_eq!(ran, want);
}

#[test]
fn update_changes_the_cgroup_and_events_read_it() {
    let env = TestEnv::new();
    let runc = Runc::new(&env);
    let bundle = runc.bundle("u1", &["sleep", "1000"], |spec| {
        spec["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 64}});
    });
    runc.ok(&[
        "run",
        "--detach",
        "--bundle",
        bundle.to_str().unwrap(),
        "u1",
    ]);
    let inside = |file: &str| {
        let out = runc.run(&["exec", "u1", "cat", file]);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let memory_file = if Path::new("/sys/fs/cgroup/memory").exists() {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    } else {
        "/sys/fs/cgroup/memory.max"
    };
    let pids_file = if Path::new("/sys/fs/cgroup/pids").exists() {
        "/sys/fs/cgroup/pids/pids.max"
    } else {
        "/sys/fs/cgroup/pids.max"
    };
    assert_eq!(inside(memory_file), "67108864");
    // The flag form, then an OCI resources document on stdin.
    runc.ok(&["update", "--memory", "33554432", "u1"]);
    assert_eq!(inside(memory_file), "33554432");
    let out = host::output_with_input(
        runc.cmd().args(["update", "--resources", "-", "u1"]),
        br#"{"pids": {"limit": 50}}"#,
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(inside(pids_file), "50");

    // events --stats: runc's stats event, one line of JSON.
    let line = runc.ok(&["events", "--stats", "u1"]);
    let event: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["id"].as_str()),
        (Some("stats"), Some("u1"))
    );
    assert_eq!(event["data"]["memory"]["usage"]["limit"], 33554432);
    assert_eq!(event["data"]["pids"]["current"], 1);
    assert_eq!(event["data"]["pids"]["limit"], 50);
    assert!(event["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    // Streamed: a line every interval until stopped.
    let mut child = runc
        .cmd()
        .args(["events", "--interval", "100ms", "u1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["type"], "stats");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let err = runc.fails(&["events", "--interval", "soon", "u1"]);
    assert!(err.contains("invalid interval: soon"), "{err}");
    runc.ok(&["delete", "--force", "u1"]);
    assert!(runc.ids().is_empty());
}
