//! mini beside a real Docker on the same host (the test command starts one: scripts/docker-daemon).
//!
//! Docker sets the iptables `FORWARD` policy to `DROP`; mini puts its accept rules into Docker's
//! `DOCKER-USER`. Here a Docker container and a mini container each publish a port and reach an
//! external host, before and after `mini network reload`, and after Docker itself restarts
//! (it rewrites its chains then). When the instance goes, so do its rules. And images cross
//! between the two engines every way: saved and loaded, pushed and pulled.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use mini_tests::host::{self, code, text};
use mini_tests::{lab, ExternalHost, Registry, TestEnv};

/// The busybox image of the tests, in Docker under a name of the tests' own.
const DOCKER_IMAGE: &str = "mini-e2e/busybox:latest";

/// Docker's uptime among this file's tests, which run at once: a test that restarts Docker holds
/// it for writing, one whose Docker commands (and containers) must not see Docker go away holds
/// it for reading.
static DOCKER_UP: RwLock<()> = RwLock::new(());

fn docker(args: &[&str]) -> std::process::Output {
    host::output(Command::new("docker").args(args))
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Polls the page at `url` from the external host until it says `want` (a server that has just
/// started, or a Docker that is coming back, may not answer yet).
fn page_from_outside(ext: &ExternalHost, url: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = host::output(ext.command("curl").args(["-s", "-m", "3", url]));
        last = format!("exit {}: {}", code(&out), text(&out.stdout));
        if text(&out.stdout) == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{url} from the external host never said {want:?}; last: {last}");
}

/// A web server on port 80 whose page is `page`, as a shell command for busybox.
fn serve(page: &str) -> String {
    format!("mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// Both containers fetch a page from the external host (Docker's and mini's masquerade).
fn both_reach_outside(env: &TestEnv, ext: &ExternalHost, docker_name: &str) {
    for (who, port) in [("docker", host::free_port()), ("mini", host::free_port())] {
        let server = ext.serve_once(port);
        let url = format!("http://{}:{port}/", ext.addr);
        let wget = ["timeout", "10", "wget", "-qO-", &url];
        let out = if who == "docker" {
            let mut args = vec!["exec", docker_name];
            args.extend(wget);
            docker(&args)
        } else {
            let mut args = vec!["exec", "web"];
            args.extend(wget);
            env.run(&args)
        };
        assert_eq!(
            text(&out.stdout),
            "hello from outside\n",
            "the {who} container reaches the external host: {}",
            text(&out.stderr)
        );
        assert!(server.join().unwrap().is_some());
    }
}

#[test]
fn mini_and_a_real_docker_publish_and_reach_out_side_by_side() {
    assert!(
        docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .success(),
        "this test needs a running Docker: the test command starts one (scripts/docker-daemon start)"
    );
    let (env, _registry) = lab(&["busybox"]);
    if !docker(&["image", "inspect", DOCKER_IMAGE]).status.success() {
        let layout = mini_tests::images::layout("busybox");
        host::check(Command::new("skopeo").args([
            "copy",
            "-q",
            &format!("oci:{}:latest", layout.display()),
            &format!("docker-daemon:{DOCKER_IMAGE}"),
        ]));
    }
    let ext = ExternalHost::new(&env.tag);
    let docker_name = format!("mini-e2e-{}", env.tag);
    let (docker_port, mini_port) = (host::free_port(), host::free_port());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &docker_name,
        "--restart",
        "always",
        "-p",
        &format!("{docker_port}:80"),
        DOCKER_IMAGE,
        "sh",
        "-c",
        &serve("docker-page"),
    ]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{mini_port}:80"),
        "busybox",
        "sh",
        "-c",
        &serve("mini-page"),
    ]);
    let docker_url = format!("http://{}:{docker_port}/", ext.host_addr);
    let mini_url = format!("http://{}:{mini_port}/", ext.host_addr);
    let check = |when: &str| {
        eprintln!("checking both engines {when}");
        page_from_outside(&ext, &docker_url, "docker-page\n");
        page_from_outside(&ext, &mini_url, "mini-page\n");
        both_reach_outside(&env, &ext, &docker_name);
    };
    check("side by side");

    // mini's rules are in Docker's chain, before its RETURN, naming their network and bridge.
    let bridge = env.bridge_name();
    let rules = host::run("iptables", &["-S", "DOCKER-USER"]);
    let ours: Vec<&str> = rules
        .lines()
        .filter(|l| l.contains(&format!("mini network bridge ({bridge})")))
        .collect();
    assert_eq!(ours.len(), 2, "{rules}");
    assert!(
        rules.find(ours[1]).unwrap() < rules.find("-A DOCKER-USER -j RETURN").unwrap(),
        "{rules}"
    );

    env.run_ok(&["network", "reload"]);
    check("after mini network reload");

    // Docker stops and starts again: it rewrites its chains; mini's accept rules still work.
    {
        let _restarting = DOCKER_UP.write().unwrap_or_else(|e| e.into_inner());
        host::check(Command::new(host::repo_root().join("scripts/docker-daemon")).arg("restart"));
    }
    check("after Docker restarted");
    let after = host::run("iptables", &["-S", "DOCKER-USER"]);
    assert_eq!(
        after
            .lines()
            .filter(|l| l.contains(&format!("mini network bridge ({bridge})")))
            .count(),
        2,
        "{after}"
    );
    // And the next container mini starts works beside it as well.
    env.run_ok(&["run", "--rm", "busybox", "true"]);
    check("after another mini container");

    docker_ok(&["rm", "-f", &docker_name]);
    env.run_ok(&["rm", "-f", "web"]);
}

#[test]
fn a_reset_instance_leaves_nothing_in_dockers_chains() {
    let _up = DOCKER_UP.read().unwrap_or_else(|e| e.into_inner());
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["run", "--rm", "busybox", "true"]);
    let bridge = env.bridge_name();
    let listed = |text: &str| text.contains(&format!("({bridge})"));
    assert!(
        listed(&host::run("iptables", &["-S"])),
        "mini's accept rules are in place beside Docker's FORWARD DROP"
    );
    env.run_ok(&["system", "reset", "-f"]);
    assert!(!listed(&host::run("iptables", &["-S"])));
    // A bridge that vanished by other means: its rules go with the next network reload.
    env.run_ok(&["run", "--rm", "busybox", "true"]);
    assert!(listed(&host::run("iptables", &["-S"])));
    host::run("ip", &["link", "delete", &bridge]);
    env.run_ok(&["network", "reload"]);
    assert!(!listed(&host::run("iptables", &["-S"])));
}

/// Docker images a test made, removed when it ends however it ends.
struct DockerImages(Vec<String>);

impl Drop for DockerImages {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = docker(&["rmi", "-f", image]);
        }
    }
}

fn docker_is_running() {
    assert!(
        docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .success(),
        "this test needs a running Docker: the test command starts one (scripts/docker-daemon start)"
    );
}

#[test]
fn images_cross_between_mini_and_docker_every_way() {
    let _up = DOCKER_UP.read().unwrap_or_else(|e| e.into_inner());
    docker_is_running();
    let (env, _registry) = lab(&["busybox"]);
    let made = format!("mini-e2e-{}/made:1", env.tag);
    let target = Registry::start(&env.path("target"));
    let pushed = format!("{}/made:1", target.addr);
    let from_docker = format!("mini-e2e-{}/from-docker:1", env.tag);
    let _cleanup = DockerImages(vec![made.clone(), pushed.clone(), from_docker.clone()]);

    env.run_ok(&[
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo made by mini > /etc/motd; rm /bin/vi",
    ]);
    env.run_ok(&["commit", "-c", r#"CMD ["cat", "/etc/motd"]"#, "c1", &made]);
    let probe = "cat /etc/motd; test -e /bin/vi || echo no vi";
    let mini_says = env.run_ok(&["run", "--rm", "--network", "none", &made, "sh", "-c", probe]);
    assert_eq!(mini_says, "made by mini\nno vi\n");

    // mini save | docker load: Docker runs it as mini does.
    let mut save = env
        .mini()
        .args(["save", &made])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let load = Command::new("docker")
        .arg("load")
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success());
    assert!(load.status.success(), "docker load: {}", text(&load.stderr));
    assert_eq!(text(&load.stdout), format!("Loaded image: {made}\n"));
    assert_eq!(docker_ok(&["run", "--rm", &made]), "made by mini\n");
    assert_eq!(
        docker_ok(&["run", "--rm", &made, "sh", "-c", probe]),
        mini_says
    );
    let ids = (
        env.run_ok(&["image", "inspect", "--format", "{{.Id}}", &made]),
        docker_ok(&["image", "inspect", "--format", "{{.Id}}", &made]),
    );
    assert_eq!(ids.0, ids.1, "the image keeps its id in Docker");

    // mini push, docker pull.
    env.run_ok(&["tag", &made, &pushed]);
    env.run_ok(&["push", "-q", &pushed]);
    docker_ok(&["pull", "-q", &pushed]);
    assert_eq!(
        docker_ok(&["run", "--rm", &pushed, "sh", "-c", probe]),
        mini_says
    );

    // mini build, mini push, docker pull: the built image runs the same in Docker.
    let built = format!("{}/built:1", target.addr);
    let out = host::output_with_input(
        env.mini()
            .args(["build", "-q", "-t", &built, "--network", "none", "-"]),
        b"FROM busybox\nRUN echo built by mini > /b && rm /bin/vi\nCMD [\"cat\", \"/b\"]\n",
    );
    assert!(out.status.success(), "mini build: {}", text(&out.stderr));
    env.run_ok(&["push", "-q", &built]);
    docker_ok(&["pull", "-q", &built]);
    let _built_cleanup = DockerImages(vec![built.clone()]);
    assert_eq!(docker_ok(&["run", "--rm", &built]), "built by mini\n");
    assert_eq!(
        docker_ok(&[
            "run",
            "--rm",
            &built,
            "sh",
            "-c",
            "test -e /bin/vi || echo no vi"
        ]),
        "no vi\n"
    );

    // docker commit, docker save | mini load (Docker 20.10 writes its older format).
    let docker_name = format!("mini-e2e-{}-commit", env.tag);
    docker_ok(&[
        "run",
        "--name",
        &docker_name,
        &made,
        "sh",
        "-c",
        "echo made by docker > /etc/motd",
    ]);
    docker_ok(&["commit", &docker_name, &from_docker]);
    docker_ok(&["rm", &docker_name]);
    let mut save = Command::new("docker")
        .args(["save", &from_docker])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let load = env
        .mini()
        .arg("load")
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success());
    assert!(load.status.success(), "mini load: {}", text(&load.stderr));
    assert_eq!(text(&load.stdout), format!("Loaded image: {from_docker}\n"));
    assert_eq!(
        env.run_ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            &from_docker,
            "sh",
            "-c",
            probe
        ]),
        "made by docker\nno vi\n"
    );
}

/// The containerd that answers here: a system one's, or the one Docker runs as its child.
fn containerd_socket() -> String {
    for socket in [
        "/run/containerd/containerd.sock",
        "/var/run/docker/containerd/containerd.sock",
    ] {
        let answers = Path::new(socket).exists()
            && host::output(Command::new("ctr").args(["--address", socket, "version"]))
                .status
                .success();
        if answers {
            return socket.to_string();
        }
    }
    panic!("no containerd answers (the test command starts Docker, which runs one)");
}

/// A containerd namespace of the test's own; what the test made in it goes when it ends.
struct CtrNamespace {
    socket: String,
    name: String,
}

impl CtrNamespace {
    fn ctr(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.args(["--address", &self.socket, "--namespace", &self.name]);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        host::check(self.ctr().args(args))
    }

    /// The task's status as `ctr task ls` shows it.
    fn status(&self, task: &str) -> String {
        self.ok(&["task", "ls"])
            .lines()
            .find(|l| l.split_whitespace().next() == Some(task))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
            .unwrap_or_default()
    }
}

impl Drop for CtrNamespace {
    fn drop(&mut self) {
        let list = |args: &[&str]| -> Vec<String> {
            let out = host::output(self.ctr().args(args));
            text(&out.stdout).lines().map(str::to_string).collect()
        };
        for task in list(&["task", "ls", "-q"]) {
            let _ = host::output(self.ctr().args(["task", "rm", "-f", &task]));
        }
        for container in list(&["container", "ls", "-q"]) {
            let _ = host::output(self.ctr().args(["container", "rm", &container]));
        }
        for image in list(&["image", "ls", "-q"]) {
            let _ = host::output(self.ctr().args(["image", "rm", "--sync", &image]));
        }
        let _ = host::output(Command::new("ctr").args([
            "--address",
            &self.socket,
            "namespace",
            "rm",
            &self.name,
        ]));
        // The shim's runc root for the namespace (runc leaves it too).
        let _ = std::fs::remove_dir(Path::new("/run/containerd/runc").join(&self.name));
    }
}

/// Waits until `check` holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen in 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn containerd_runs_its_tasks_with_mini_runc() {
    let _up = DOCKER_UP.read().unwrap_or_else(|e| e.into_inner());
    docker_is_running();
    let (env, _registry) = lab(&["busybox"]);
    let ns = CtrNamespace {
        socket: containerd_socket(),
        name: format!("mini-e2e-{}", env.tag),
    };
    let runc = host::runc_bin();
    let runc = runc.to_str().unwrap();
    // The image goes in as mini saves it.
    env.run_ok(&["pull", "-q", "busybox"]);
    let archive = env.path("busybox.tar");
    env.run_ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    ns.ok(&["image", "import", archive.to_str().unwrap()]);
    let image = "docker.io/library/busybox:latest";
    assert!(ns.ok(&["image", "ls", "-q"]).lines().any(|l| l == image));
    let cgroup = |id: &str| format!("/mini-{}/{id}", env.tag);

    // Attached: the task's output and exit code.
    let out = host::output(ns.ctr().args([
        "run",
        "--rm",
        "--runc-binary",
        runc,
        "--cgroup",
        &cgroup("t1"),
        image,
        "t1",
        "sh",
        "-c",
        "echo hello from mini-runc; exit 3",
    ]));
    assert_eq!(
        (code(&out), text(&out.stdout)),
        (3, "hello from mini-runc\n".to_string()),
        "{}",
        text(&out.stderr)
    );

    // Detached: exec, ps, pause, resume, kill, as containerd's shim calls the runtime.
    ns.ok(&[
        "run",
        "-d",
        "--runc-binary",
        runc,
        "--cgroup",
        &cgroup("t2"),
        image,
        "t2",
        "sleep",
        "1000",
    ]);
    assert_eq!(ns.status("t2"), "RUNNING");
    // mini-runc made it: its state is where the shim keeps the runtime's.
    let root = format!("/run/containerd/runc/{}", ns.name);
    let state: serde_json::Value = serde_json::from_str(&host::check(
        Command::new(host::runc_bin()).args(["--root", &root, "state", "t2"]),
    ))
    .unwrap();
    assert_eq!(state["status"], "running");
    let out = host::output(ns.ctr().args([
        "task",
        "exec",
        "--exec-id",
        "e1",
        "t2",
        "sh",
        "-c",
        "echo in t2; exit 4",
    ]));
    assert_eq!((code(&out), text(&out.stdout)), (4, "in t2\n".to_string()));
    let ps = ns.ok(&["task", "ps", "t2"]);
    assert!(ps.contains(&state["pid"].to_string()), "{ps}");
    ns.ok(&["task", "pause", "t2"]);
    assert_eq!(ns.status("t2"), "PAUSED");
    ns.ok(&["task", "resume", "t2"]);
    assert_eq!(ns.status("t2"), "RUNNING");
    ns.ok(&["task", "kill", "-s", "SIGKILL", "t2"]);
    eventually("t2 stopping", || ns.status("t2") == "STOPPED");
    ns.ok(&["task", "rm", "t2"]);
    ns.ok(&["container", "rm", "t2"]);

    // Interactive, on a terminal: the console socket carries the pty to containerd.
    let line = format!(
        "ctr --address {} --namespace {} run -t --rm --runc-binary {runc} --cgroup {} {image} t3 sh -c 'tty; exit 5'",
        ns.socket,
        ns.name,
        cgroup("t3")
    );
    let out = host::output(Command::new("script").args(["-qec", &line, "/dev/null"]));
    assert_eq!(code(&out), 5, "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        text(&out.stdout).contains("/dev/pts/"),
        "{}",
        text(&out.stdout)
    );
}

/// mini-runc registered with the running Docker as a runtime of the test's own name (the
/// daemon's config file gets a `runtimes` entry and Docker reloads it), and unregistered again
/// when the test ends, the file as it was.
struct DockerRuntime {
    name: String,
    config: PathBuf,
    before: Option<Vec<u8>>,
}

fn dockerd_pid() -> i32 {
    let pid = host::run("pgrep", &["-x", "-o", "dockerd"]);
    pid.trim().parse().expect("dockerd's pid")
}

fn reload_docker() {
    // SAFETY: kill takes a pid and a signal number.
    assert_eq!(unsafe { libc::kill(dockerd_pid(), libc::SIGHUP) }, 0);
}

fn docker_runtimes() -> String {
    docker_ok(&["info", "--format", "{{json .Runtimes}}"])
}

impl DockerRuntime {
    fn register(name: &str) -> DockerRuntime {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", dockerd_pid())).unwrap();
        let args: Vec<String> = text(&cmdline).split('\0').map(str::to_string).collect();
        let config = args
            .iter()
            .position(|a| a == "--config-file")
            .and_then(|i| args.get(i + 1).cloned())
            .or_else(|| {
                args.iter()
                    .find_map(|a| a.strip_prefix("--config-file=").map(str::to_string))
            })
            .unwrap_or_else(|| "/etc/docker/daemon.json".into());
        let config = PathBuf::from(config);
        let before = std::fs::read(&config).ok();
        let runtime = DockerRuntime {
            name: name.to_string(),
            config,
            before,
        };
        let mut settings = runtime.settings();
        settings["runtimes"][name] = serde_json::json!({"path": host::runc_bin()});
        runtime.write(&settings);
        reload_docker();
        eventually("Docker listing the runtime", || {
            docker_runtimes().contains(name)
        });
        runtime
    }

    /// The daemon's settings as they were, with `runtimes` named (Docker keeps runtimes a
    /// reload does not mention).
    fn settings(&self) -> serde_json::Value {
        let mut settings: serde_json::Value = match &self.before {
            Some(bytes) => serde_json::from_slice(bytes).expect("the daemon's config is JSON"),
            None => serde_json::json!({}),
        };
        if settings.get("runtimes").is_none() {
            settings["runtimes"] = serde_json::json!({});
        }
        settings
    }

    fn write(&self, settings: &serde_json::Value) {
        if let Some(dir) = self.config.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&self.config, serde_json::to_vec_pretty(settings).unwrap()).unwrap();
    }
}

impl Drop for DockerRuntime {
    fn drop(&mut self) {
        self.write(&self.settings());
        reload_docker();
        let deadline = Instant::now() + Duration::from_secs(20);
        while docker_runtimes().contains(&self.name) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        match &self.before {
            Some(bytes) => std::fs::write(&self.config, bytes).unwrap(),
            None => std::fs::remove_file(&self.config).unwrap(),
        }
    }
}

/// Docker containers a test made, removed when it ends however it ends.
struct DockerContainers(Vec<String>);

impl Drop for DockerContainers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker(&["rm", "-f", name]);
        }
    }
}

#[test]
fn docker_runs_the_seed_labs_containers_with_mini_runc() {
    let _up = DOCKER_UP.read().unwrap_or_else(|e| e.into_inner());
    docker_is_running();
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let tag = &env.tag;
    let busybox = format!("mini-e2e-{tag}/busybox:1");
    let nginx = format!("mini-e2e-{tag}/nginx:1");
    let _images = DockerImages(vec![busybox.clone(), nginx.clone()]);
    for (from, to) in [("busybox", &busybox), ("nginx", &nginx)] {
        env.run_ok(&["pull", "-q", from]);
        env.run_ok(&["tag", from, to]);
    }
    let archive = env.path("images.tar");
    env.run_ok(&["save", "-o", archive.to_str().unwrap(), &busybox, &nginx]);
    docker_ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let runtime = DockerRuntime::register(&format!("mini-e2e-{tag}"));
    let rt = runtime.name.clone();
    let (web, shell, oom, killed) = (
        format!("mini-e2e-{tag}-web"),
        format!("mini-e2e-{tag}-sh"),
        format!("mini-e2e-{tag}-oom"),
        format!("mini-e2e-{tag}-killed"),
    );
    let _containers = DockerContainers(vec![
        web.clone(),
        shell.clone(),
        oom.clone(),
        killed.clone(),
    ]);

    // Exit codes: 0, 1.
    let ok = docker(&["run", "--rm", "--runtime", &rt, &busybox, "true"]);
    assert_eq!(code(&ok), 0, "{}", text(&ok.stderr));
    assert_eq!(
        code(&docker(&[
            "run",
            "--rm",
            "--runtime",
            &rt,
            &busybox,
            "false"
        ])),
        1
    );
    let out = docker_ok(&[
        "run",
        "--rm",
        "--runtime",
        &rt,
        &busybox,
        "sh",
        "-c",
        "echo hi from mini-runc",
    ]);
    assert_eq!(out, "hi from mini-runc\n");

    // The seed's nginx: -d, a published port, exec, cp, stop, rm.
    let port = host::free_port().to_string();
    docker_ok(&[
        "run",
        "-d",
        "--runtime",
        &rt,
        "--name",
        &web,
        "-p",
        &format!("{port}:80"),
        &nginx,
    ]);
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.HostConfig.Runtime}}", &web]).trim(),
        rt
    );
    let id = docker_ok(&["inspect", "-f", "{{.Id}}", &web]);
    let state = host::check(Command::new(host::runc_bin()).args([
        "--root",
        "/var/run/docker/runtime-runc/moby",
        "state",
        id.trim(),
    ]));
    assert!(
        state.contains("\"status\": \"running\""),
        "mini-runc runs it: {state}"
    );
    let url = format!("http://127.0.0.1:{port}/");
    let mut page = String::new();
    eventually("nginx answering", || {
        page = host::output(Command::new("curl").args(["-s", "--max-time", "2", &url]))
            .stdout
            .iter()
            .map(|&b| b as char)
            .collect();
        page.contains("<title>Welcome to nginx!</title>")
    });
    let out = docker(&["exec", &web, "sh", "-c", "echo in nginx; exit 3"]);
    assert_eq!(
        (code(&out), text(&out.stdout)),
        (3, "in nginx\n".to_string())
    );
    let copied = env.path("copied");
    std::fs::create_dir(&copied).unwrap();
    docker_ok(&[
        "cp",
        &format!("{web}:/etc/nginx/nginx.conf"),
        copied.to_str().unwrap(),
    ]);
    assert!(copied.join("nginx.conf").exists());
    docker_ok(&["stop", &web]);
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}}", &web]).trim(),
        "false"
    );
    docker_ok(&["rm", &web]);

    // -itd: a terminal kept open in the background; exec -t gets one of its own.
    docker_ok(&[
        "run",
        "-itd",
        "--runtime",
        &rt,
        "--name",
        &shell,
        &busybox,
        "sh",
    ]);
    assert!(docker_ok(&["exec", "-t", &shell, "tty"]).starts_with("/dev/pts/"));
    docker_ok(&["rm", "-f", &shell]);

    // Killed: 137. Out of memory: 137 and OOMKilled.
    docker_ok(&[
        "run",
        "-d",
        "--runtime",
        &rt,
        "--name",
        &killed,
        &busybox,
        "sleep",
        "1000",
    ]);
    docker_ok(&["kill", &killed]);
    docker_ok(&["wait", &killed]);
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &killed]).trim(),
        "137"
    );
    let out = docker(&[
        "run",
        "--runtime",
        &rt,
        "--name",
        &oom,
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        &busybox,
        "sh",
        "-c",
        "head -c 200m /dev/zero | tail",
    ]);
    assert_eq!(code(&out), 137, "{}", text(&out.stderr));
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.OOMKilled}}", &oom]).trim(),
        "true"
    );
}
