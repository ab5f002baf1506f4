//! The Docker Engine API: `mini system service` on a socket of the test's own, driven only by
//! the real docker CLI (Debian's 20.10, and the newer static one where the machine has it),
//! on containers that `mini` made: the same containers, seen and steered from both at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use mini_tests::host::{self, code, text};
use mini_tests::{lab, TestEnv};

/// `mini system service` on `DIR/docker.sock`, stopped (SIGTERM) when dropped.
struct Service {
    child: Child,
    socket: PathBuf,
}

impl Service {
    fn start(env: &TestEnv) -> Service {
        let socket = env.path("docker.sock");
        let child = env
            .mini()
            .args(["system", "service", "--time", "0"])
            .arg(format!("unix://{}", socket.display()))
            // Not the test's own pipes: a service that outlived its test would hold them.
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(env.path("service.log")).expect("the service's log"))
            .spawn()
            .expect("mini system service");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "the service never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Service { child, socket }
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill takes a pid and a signal number.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// The docker CLIs on this machine: Debian's, and a newer one where there is one.
fn clients() -> Vec<&'static str> {
    ["/usr/bin/docker", "/usr/local/bin/docker"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect()
}

/// The docker CLI against the service; one that has not ended within a minute fails the test.
fn docker(cli: &str, socket: &Path, args: &[&str]) -> Output {
    docker_with_input(cli, socket, args, None)
}

fn docker_with_input(cli: &str, socket: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    host::output_within(
        Command::new(cli)
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(args)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", socket.with_file_name("docker-config")),
        input,
        Duration::from_secs(60),
    )
}

fn docker_ok(cli: &str, socket: &Path, args: &[&str]) -> String {
    let out = docker(cli, socket, args);
    assert!(
        out.status.success(),
        "{cli} {} failed: {}{}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn status(env: &TestEnv, name: &str) -> String {
    env.run_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        name,
    ])
    .trim()
    .to_string()
}

#[test]
fn the_docker_cli_sees_and_steers_minis_containers() {
    let clients = clients();
    assert!(
        !clients.is_empty(),
        "the test command installs Debian's docker.io (its CLI)"
    );
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    let service = Service::start(&env);
    let socket = service.socket.clone();
    for cli in clients {
        let d = |args: &[&str]| docker_ok(cli, &socket, args);
        env.run_ok(&[
            "run",
            "-d",
            "--name",
            "one",
            "--network",
            "none",
            "-l",
            "app=web",
            "busybox",
            "sh",
            "-c",
            "echo hello; echo oops >&2; sleep 1000",
        ]);
        env.run_ok(&["create", "--name", "two", "busybox"]);

        let version = d(&[
            "version",
            "--format",
            "{{.Server.Version}} {{.Server.APIVersion}}",
        ]);
        assert_eq!(
            version,
            format!(
                "{} 1.44\n",
                env.run_ok(&["version", "--format", "{{.Server.Version}}"])
                    .trim()
            ),
            "{cli}"
        );
        let info = d(&[
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.Driver}} {{.Swarm.LocalNodeState}}",
        ]);
        assert_eq!(info, "2 1 overlay2 inactive\n", "{cli}");

        // ps: running ones, -a, filters, formats.
        let ps = d(&["ps", "--format", "{{.Names}}|{{.Status}}|{{.Image}}"]);
        assert!(
            ps.starts_with("one|Up ") && ps.trim_end().ends_with("|busybox"),
            "{cli}: {ps}"
        );
        assert_eq!(ps.lines().count(), 1, "{cli}: {ps}");
        let all = d(&["ps", "-a", "--format", "{{.Names}}"]);
        let mut names: Vec<&str> = all.lines().collect();
        names.sort();
        assert_eq!(names, ["one", "two"], "{cli}");
        let id = env.run_ok(&["inspect", "-f", "{{.Id}}", "one"]);
        assert_eq!(
            d(&["ps", "-q", "--filter", "label=app=web"]),
            format!("{}\n", &id[..12])
        );
        assert_eq!(
            d(&["ps", "-aq", "--filter", "status=created"]).trim(),
            &env.run_ok(&["inspect", "-f", "{{.Id}}", "two"])[..12]
        );

        // inspect, logs (stdout and stderr apart), images.
        assert_eq!(
            d(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.Config.Image}} {{.Name}}",
                "one"
            ]),
            "running busybox /one\n"
        );
        let logs = docker(cli, &socket, &["logs", "one"]);
        assert_eq!(
            (text(&logs.stdout), text(&logs.stderr)),
            ("hello\n".into(), "oops\n".into()),
            "{cli}"
        );
        // The last line of both streams: stderr's.
        let tail = docker(cli, &socket, &["logs", "--tail", "1", "one"]);
        assert_eq!(
            (text(&tail.stdout), text(&tail.stderr)),
            (String::new(), "oops\n".into()),
            "{cli}"
        );
        assert_eq!(
            d(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
            "busybox:latest\n"
        );
        assert!(d(&["image", "inspect", "-f", "{{.Id}}", "busybox"]).starts_with("sha256:"));

        // Steered from docker, seen from mini.
        d(&["pause", "one"]);
        assert_eq!(status(&env, "one"), "paused 0");
        d(&["unpause", "one"]);
        assert_eq!(status(&env, "one"), "running 0");
        d(&["stop", "-t", "1", "one"]);
        assert_eq!(status(&env, "one"), "exited 137");
        d(&["start", "one"]);
        assert_eq!(status(&env, "one"), "running 0");
        d(&["restart", "-t", "1", "one"]);
        assert_eq!(status(&env, "one"), "running 0");
        d(&["kill", "one"]);
        assert_eq!(d(&["wait", "one"]), "137\n");
        assert_eq!(status(&env, "one"), "exited 137");

        // Errors: Docker's messages and codes.
        let out = docker(cli, &socket, &["stop", "nosuch"]);
        assert_eq!(code(&out), 1, "{cli}");
        assert!(
            text(&out.stderr).contains("No such container: nosuch"),
            "{cli}: {}",
            text(&out.stderr)
        );
        let out = docker(cli, &socket, &["inspect", "nosuch"]);
        assert_eq!(code(&out), 1, "{cli}");
        assert!(
            text(&out.stderr).contains("No such object: nosuch"),
            "{cli}: {}",
            text(&out.stderr)
        );
        let out = docker(cli, &socket, &["kill", "two"]);
        assert_eq!(code(&out), 1, "{cli}");
        assert!(
            text(&out.stderr).contains("is not running"),
            "{cli}: {}",
            text(&out.stderr)
        );

        d(&["rm", "one", "two"]);
        assert_eq!(env.run_ok(&["ps", "-aq"]), "", "{cli}");
    }
    // The service ends on SIGTERM and takes its socket; containers run on without it.
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "stays",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let mut service = service;
    assert!(service.stop().success());
    assert!(!socket.exists());
    assert_eq!(status(&env, "stays"), "running 0");
    env.run_ok(&["rm", "-f", "stays"]);
}

#[test]
fn an_idle_service_ends_and_a_stale_socket_is_replaced() {
    let env = TestEnv::new();
    let socket = env.path("docker.sock");
    // A socket file nobody answers on (a service killed by SIGKILL leaves one).
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let started = Instant::now();
    let out = host::output(
        env.mini()
            .args(["system", "service", "--time", "1"])
            .arg(format!("unix://{}", socket.display())),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(!socket.exists());
    // Only unix sockets, for now, and never a socket another service answers on.
    let out = env.run(&["system", "service", "tcp://0.0.0.0:2375"]);
    assert_eq!(code(&out), 125);
    assert!(
        text(&out.stderr).contains("unix socket"),
        "{}",
        text(&out.stderr)
    );
    let mut first = Service::start(&env);
    let out = env.run(&["system", "service", &format!("unix://{}", socket.display())]);
    assert_eq!(code(&out), 125);
    assert!(
        text(&out.stderr).contains("another service answers"),
        "{}",
        text(&out.stderr)
    );
    // The socket is root's and its group's only.
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o660);
    assert!(first.stop().success());
}

#[test]
fn docker_run_detached_pulls_creates_and_publishes_through_mini() {
    let (env, _registry) = lab(&["nginx", "busybox"]);
    let service = Service::start(&env);
    let socket = service.socket.clone();
    let cli = clients()[0];
    let port = host::free_port().to_string();
    // nginx is not here yet: the client is told so (404), pulls it, and creates again.
    let out = docker(
        cli,
        &socket,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "-l",
            "tier=front",
            "-e",
            "GREETING=hi",
            "nginx",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("Unable to find image 'nginx:latest' locally"),
        "{}",
        text(&out.stderr)
    );
    let id = text(&out.stdout).trim().to_string();
    assert_eq!(id, env.run_ok(&["inspect", "-f", "{{.Id}}", "web"]).trim());
    assert_eq!(
        env.run_ok(&["inspect", "-f", "{{.Config.Labels.tier}}", "web"]),
        "front\n"
    );
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = host::output(Command::new("curl").args(["-s", "--max-time", "2", &url]));
        if text(&page.stdout).contains("Welcome to nginx!") {
            break;
        }
        assert!(Instant::now() < deadline, "nginx never answered on {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ports = docker_ok(cli, &socket, &["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert_eq!(ports, format!("web 127.0.0.1:{port}->80/tcp\n"));
    // create, then start: the command and entrypoint as given.
    let created = docker_ok(
        cli,
        &socket,
        &[
            "create",
            "--name",
            "job",
            "--entrypoint",
            "sh",
            "busybox",
            "-c",
            "echo from the entrypoint",
        ],
    );
    assert_eq!(created.trim().len(), 64);
    docker_ok(cli, &socket, &["start", "job"]);
    assert_eq!(docker_ok(cli, &socket, &["wait", "job"]), "0\n");
    assert_eq!(env.run_ok(&["logs", "job"]), "from the entrypoint\n");
    // A name in use: Docker's conflict.
    let out = docker(cli, &socket, &["create", "--name", "job", "busybox"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("is already in use"),
        "{}",
        text(&out.stderr)
    );
    docker_ok(cli, &socket, &["rm", "-f", "web", "job"]);
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
}

#[test]
fn docker_run_attached_streams_output_stdin_and_the_exit_code() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    let service = Service::start(&env);
    let socket = service.socket.clone();
    for cli in clients() {
        // Output on both streams, apart, and the container's code as the client's.
        let out = docker(
            cli,
            &socket,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
        );
        assert_eq!(
            (code(&out), text(&out.stdout), text(&out.stderr)),
            (3, "out\n".to_string(), "err\n".to_string()),
            "{cli}"
        );
        assert_eq!(env.run_ok(&["ps", "-aq"]), "", "{cli}: --rm removed it");
        // stdin, with -i, to its end.
        let out = docker_with_input(
            cli,
            &socket,
            &[
                "run",
                "-i",
                "--name",
                "cat",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "tr a-z A-Z; echo done",
            ],
            Some(b"piped in\n"),
        );
        assert_eq!(
            (code(&out), text(&out.stdout)),
            (0, "PIPED IN\ndone\n".to_string()),
            "{cli}: {}",
            text(&out.stderr)
        );
        assert_eq!(status(&env, "cat"), "exited 0");
        // A long output arrives whole.
        let out = docker_ok(cli, &socket, &["start", "-a", "cat"]);
        assert_eq!(out, "done\n", "{cli}: start -a with nothing on stdin");
        let out = docker(
            cli,
            &socket,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "seq 1 20000",
            ],
        );
        assert_eq!(text(&out.stdout).lines().count(), 20000, "{cli}");
        docker_ok(cli, &socket, &["rm", "cat"]);
    }
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
}

#[test]
fn docker_exec_runs_in_minis_containers_with_streams_codes_and_a_terminal() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--network",
        "none",
        "-e",
        "FROM=image",
        "busybox",
        "sleep",
        "1000",
    ]);
    let service = Service::start(&env);
    let socket = service.socket.clone();
    for cli in clients() {
        // Both streams apart, the container's environment with -e over it, the exit code.
        let out = docker(
            cli,
            &socket,
            &[
                "exec",
                "-e",
                "EXTRA=given",
                "-w",
                "/tmp",
                "box",
                "sh",
                "-c",
                "echo $FROM $EXTRA $(pwd); echo err >&2; exit 7",
            ],
        );
        assert_eq!(
            (code(&out), text(&out.stdout), text(&out.stderr)),
            (7, "image given /tmp\n".to_string(), "err\n".to_string()),
            "{cli}"
        );
        // -i: stdin to its end, and the output after it.
        let out = docker_with_input(
            cli,
            &socket,
            &["exec", "-i", "box", "tr", "a-z", "A-Z"],
            Some(b"piped\n"),
        );
        assert_eq!(
            (code(&out), text(&out.stdout)),
            (0, "PIPED\n".to_string()),
            "{cli}: {}",
            text(&out.stderr)
        );
        // Docker's codes for a command that is not there, and for a container that is not running.
        let out = docker(cli, &socket, &["exec", "box", "no-such-command"]);
        assert_eq!(code(&out), 127, "{cli}: {}", text(&out.stderr));
        // -d: it runs on after the client has gone.
        docker_ok(
            cli,
            &socket,
            &["exec", "-d", "box", "sh", "-c", "echo detached > /tmp/mark"],
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while env.run(&["exec", "box", "cat", "/tmp/mark"]).status.code() != Some(0) {
            assert!(
                Instant::now() < deadline,
                "{cli}: the detached exec never ran"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        env.run_ok(&["exec", "box", "rm", "/tmp/mark"]);
        // -it through a terminal of the client's: a tty inside, of the client's size. Debian's
        // CLI (API 1.41) sends the size in a resize after the start, as with Docker: the
        // process waits a moment before it looks.
        let line = format!(
            "stty rows 33 cols 101; {cli} -H unix://{} exec -it box sh -c 'tty; sleep 0.5; stty size; exit 4'",
            socket.display()
        );
        let out = host::output_within(
            Command::new("script")
                .args(["-qec", &line, "/dev/null"])
                .env("DOCKER_CONFIG", socket.with_file_name("docker-config")),
            None,
            Duration::from_secs(60),
        );
        let printed = text(&out.stdout);
        assert!(printed.contains("/dev/pts/"), "{cli}: {printed}");
        assert!(printed.contains("33 101"), "{cli}: {printed}");
        assert_eq!(code(&out), 4, "{cli}: {printed}");
    }
    env.run_ok(&["stop", "-t", "0", "box"]);
    let out = docker(clients()[0], &socket, &["exec", "box", "true"]);
    assert_ne!(code(&out), 0);
    assert!(
        text(&out.stderr).contains("is not running"),
        "{}",
        text(&out.stderr)
    );
    env.run_ok(&["rm", "box"]);
}

/// `docker-compose` (Debian's 1.29) against the service, in `dir`, project `project`.
fn compose(socket: &Path, dir: &Path, project: &str, args: &[&str]) -> Output {
    host::output_within(
        Command::new("docker-compose")
            .arg("-p")
            .arg(project)
            .args(args)
            .current_dir(dir)
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .env("DOCKER_CONFIG", socket.with_file_name("docker-config"))
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1"),
        None,
        Duration::from_secs(120),
    )
}

fn compose_ok(socket: &Path, dir: &Path, project: &str, args: &[&str]) -> String {
    let out = compose(socket, dir, project, args);
    assert!(
        out.status.success(),
        "docker-compose {} failed: {}{}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout) + &text(&out.stderr)
}

#[test]
fn a_compose_project_comes_up_talks_by_service_name_and_goes_down_leaving_nothing() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let service = Service::start(&env);
    let socket = service.socket.clone();
    let dir = env.path("project");
    std::fs::create_dir_all(&dir).unwrap();
    let port = host::free_port();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            r#"version: "3.8"
services:
  web:
    image: nginx
    ports: ["127.0.0.1:{port}:80"]
    volumes: ["pages:/usr/share/nginx/html"]
    labels: {{lab.role: server}}
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "until wget -qO- http://web/; do sleep 0.2; done; echo fetched; sleep 1000"]
volumes:
  pages:
"#
        ),
    )
    .unwrap();
    compose_ok(&socket, &dir, "lab", &["up", "-d"]);
    // The page through the published port, from the named volume (filled from the image).
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = host::output(Command::new("curl").args(["-s", "--max-time", "2", &url]));
        if text(&page.stdout).contains("Welcome to nginx") {
            break;
        }
        assert!(Instant::now() < deadline, "{url}: {}", text(&page.stdout));
        std::thread::sleep(Duration::from_millis(200));
    }
    // The client reached the web service by its name on the project's network.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = compose_ok(&socket, &dir, "lab", &["logs", "client"]);
        if logs.contains("fetched") {
            assert!(logs.contains("Welcome to nginx"), "{logs}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client never fetched: {logs}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let ps = compose_ok(&socket, &dir, "lab", &["ps"]);
    assert!(
        ps.contains("lab_web_1") && ps.contains("lab_client_1"),
        "{ps}"
    );
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    // mini sees compose's containers, labels and network as compose made them.
    assert_eq!(
        env.run_ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"lab.role\"}}",
            "lab_web_1"
        ]),
        "server\n"
    );
    assert!(env.run_ok(&["network", "ls"]).contains("lab_default"));
    assert!(env.run_ok(&["volume", "ls", "-q"]).contains("lab_pages"));
    compose_ok(&socket, &dir, "lab", &["down", "-v"]);
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
    assert!(!env.run_ok(&["network", "ls"]).contains("lab_default"));
    assert!(!env.run_ok(&["volume", "ls", "-q"]).contains("lab_pages"));
}

#[test]
fn docker_networks_volumes_and_followed_logs_through_mini() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    let service = Service::start(&env);
    let socket = service.socket.clone();
    let subnet = env.spare_subnet();
    for cli in clients() {
        let d = |args: &[&str]| docker_ok(cli, &socket, args);
        // A network made by docker is mini's, and the other way round.
        let id = d(&[
            "network", "create", "--subnet", &subnet, "--label", "k=v", "backend",
        ]);
        assert_eq!(id.trim().len(), 64, "{cli}: {id}");
        assert!(env.run_ok(&["network", "ls"]).contains("backend"), "{cli}");
        assert_eq!(
            d(&[
                "network",
                "inspect",
                "-f",
                "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels.k}}",
                "backend"
            ]),
            format!("{subnet} v\n"),
            "{cli}"
        );
        let listed = d(&[
            "network",
            "ls",
            "--filter",
            "label=k=v",
            "--format",
            "{{.Name}}",
        ]);
        assert_eq!(listed, "backend\n", "{cli}");
        let out = docker(cli, &socket, &["network", "create", "backend"]);
        assert_ne!(code(&out), 0, "{cli}: a second network of that name");
        d(&["volume", "create", "--label", "k=v", "store"]);
        assert_eq!(env.run_ok(&["volume", "ls", "-q"]), "store\n", "{cli}");
        assert_eq!(
            d(&["volume", "ls", "-q", "--filter", "label=k=v"]),
            "store\n"
        );
        // A container on both, found by another through the network's DNS and its alias.
        d(&[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "backend",
            "--network-alias",
            "database",
            "-v",
            "store:/data",
            "busybox",
            "sh",
            "-c",
            "echo kept > /data/f; sleep 1000",
        ]);
        d(&["run", "-d", "--name", "app", "busybox", "sleep", "1000"]);
        d(&["network", "connect", "backend", "app"]);
        let out = d(&["exec", "app", "ping", "-c", "1", "-W", "5", "database"]);
        assert!(out.contains("1 packets received"), "{cli}: {out}");
        let members = d(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{end}}",
            "backend",
        ]);
        assert!(
            members.contains("db") && members.contains("app"),
            "{cli}: {members}"
        );
        let out = docker(cli, &socket, &["network", "rm", "backend"]);
        assert_ne!(code(&out), 0, "{cli}: a network in use stays");
        assert!(
            text(&out.stderr).contains("active endpoints"),
            "{cli}: {}",
            text(&out.stderr)
        );
        let out = docker(cli, &socket, &["volume", "rm", "store"]);
        assert!(
            text(&out.stderr).contains("in use"),
            "{cli}: {}",
            text(&out.stderr)
        );
        d(&["network", "disconnect", "backend", "app"]);
        // Followed logs: what comes later arrives, and the stream ends with the container.
        d(&[
            "run",
            "-d",
            "--name",
            "talker",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo one; sleep 1; echo two >&2; sleep 1; echo three",
        ]);
        let out = docker(cli, &socket, &["logs", "-f", "talker"]);
        assert_eq!(
            (text(&out.stdout), text(&out.stderr)),
            ("one\nthree\n".to_string(), "two\n".to_string()),
            "{cli}"
        );
        assert_eq!(d(&["logs", "--tail", "1", "talker"]), "three\n", "{cli}");
        d(&["rm", "-f", "db", "app", "talker"]);
        // The volume kept what the container wrote; both go once nothing uses them.
        let out = env.run_ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "store:/data",
            "busybox",
            "cat",
            "/data/f",
        ]);
        assert_eq!(out, "kept\n", "{cli}");
        d(&["volume", "rm", "store"]);
        d(&["network", "rm", "backend"]);
        assert_eq!(env.run_ok(&["volume", "ls", "-q"]), "", "{cli}");
        assert!(!env.run_ok(&["network", "ls"]).contains("backend"), "{cli}");
        let out = docker(cli, &socket, &["network", "inspect", "backend"]);
        assert!(
            // Debian's CLI words it itself; the newer one shows the service's message.
            (text(&out.stderr).contains("No such network: backend")
                || text(&out.stderr).contains("network backend not found"))
                && code(&out) == 1,
            "{cli}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
}

#[test]
fn the_python_sdk_drives_containers_exec_images_networks_and_volumes() {
    let python = host::repo_root().join("target/sdk-venv/bin/python");
    assert!(
        python.exists(),
        "{}: the test command (scripts/test) makes this venv with the SDK",
        python.display()
    );
    let (env, _registry) = lab(&["busybox"]);
    let service = Service::start(&env);
    let out = host::output_within(
        Command::new(&python)
            .arg(host::repo_root().join("tests/sdk/engine_api.py"))
            .env(
                "DOCKER_HOST",
                format!("unix://{}", service.socket.display()),
            )
            .env("SUBNET", env.spare_subnet()),
        None,
        Duration::from_secs(120),
    );
    assert!(
        out.status.success() && text(&out.stdout).ends_with("sdk: ok\n"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
    assert_eq!(env.run_ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn docker_cp_copies_both_ways_through_minis_archive_endpoints() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    env.run_ok(&[
        "run", "-d", "--name", "box", "--network", "none", "busybox", "sh", "-c",
        "mkdir -p /srv/tree/sub; echo leaf > /srv/tree/sub/leaf; ln -s sub/leaf /srv/tree/link; sleep 1000",
    ]);
    env.run_ok(&["create", "--name", "idle", "busybox"]);
    let service = Service::start(&env);
    let socket = service.socket.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while env
        .run(&["exec", "box", "test", "-L", "/srv/tree/link"])
        .status
        .code()
        != Some(0)
    {
        assert!(Instant::now() < deadline, "the tree was never made");
        std::thread::sleep(Duration::from_millis(50));
    }
    for (n, cli) in clients().into_iter().enumerate() {
        let out_dir = env.path(format!("out{n}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        // A tree out, its symlink kept as a symlink.
        docker_ok(
            cli,
            &socket,
            &["cp", "box:/srv/tree", out_dir.to_str().unwrap()],
        );
        assert_eq!(
            std::fs::read_to_string(out_dir.join("tree/sub/leaf")).unwrap(),
            "leaf\n"
        );
        assert_eq!(
            std::fs::read_link(out_dir.join("tree/link")).unwrap(),
            Path::new("sub/leaf"),
            "{cli}"
        );
        // A file in, renamed, into a running container and into one never started.
        let file = env.path(format!("note{n}"));
        std::fs::write(&file, "from the host\n").unwrap();
        for container in ["box", "idle"] {
            docker_ok(
                cli,
                &socket,
                &[
                    "cp",
                    file.to_str().unwrap(),
                    &format!("{container}:/tmp/note"),
                ],
            );
        }
        assert_eq!(
            env.run_ok(&["exec", "box", "cat", "/tmp/note"]),
            "from the host\n"
        );
        let back = env.path(format!("back{n}"));
        docker_ok(
            cli,
            &socket,
            &["cp", "idle:/tmp/note", back.to_str().unwrap()],
        );
        assert_eq!(
            std::fs::read_to_string(&back).unwrap(),
            "from the host\n",
            "{cli}"
        );
        // A path that is not there: Docker's words, and the CLI's failure.
        let out = docker(
            cli,
            &socket,
            &["cp", "box:/no/such", out_dir.to_str().unwrap()],
        );
        assert_ne!(code(&out), 0, "{cli}");
        assert!(
            // Debian's CLI words a 404 itself; the newer one shows the service's message.
            text(&out.stderr).contains("No such container:path: box:/no/such")
                || text(&out.stderr).contains("Could not find the file /no/such in container box"),
            "{cli}: {}",
            text(&out.stderr)
        );
        // To stdout as a tar stream.
        let out = docker(cli, &socket, &["cp", "box:/srv/tree/sub/leaf", "-"]);
        assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
        let mut archive = tar::Archive::new(&out.stdout[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["leaf"], "{cli}");
    }
    env.run_ok(&["rm", "-f", "box", "idle"]);
}

#[test]
fn docker_top_rename_diff_export_tag_rmi_and_prune_through_mini() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    let service = Service::start(&env);
    let socket = service.socket.clone();
    for cli in clients() {
        let d = |args: &[&str]| docker_ok(cli, &socket, args);
        d(&[
            "run",
            "-d",
            "--name",
            "first",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "touch /made; rm /etc/motd 2>/dev/null; sleep 1000",
        ]);
        // top: the container's processes, the command line whole.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let top = d(&["top", "first"]);
            if top.contains("sleep 1000") {
                assert!(
                    top.starts_with("UID") && top.contains("PID"),
                    "{cli}: {top}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "{cli}: {top}");
            std::thread::sleep(Duration::from_millis(50));
        }
        // rename: mini sees the new name.
        d(&["rename", "first", "second"]);
        assert_eq!(status(&env, "second"), "running 0", "{cli}");
        // diff: the file it made.
        let diff = d(&["diff", "second"]);
        assert!(diff.lines().any(|l| l == "A /made"), "{cli}: {diff}");
        // export: its filesystem as a tar stream, with that file.
        let out = docker(cli, &socket, &["export", "second"]);
        assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
        let mut archive = tar::Archive::new(&out.stdout[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n == "made"), "{cli}: {names:?}");
        assert!(
            names.iter().any(|n| n == "bin/sh" || n == "bin/busybox"),
            "{cli}"
        );
        // tag and rmi: a second name comes and goes; the image under a container stays.
        d(&["tag", "busybox", "mine/box:v1"]);
        assert!(env.run_ok(&["images"]).contains("mine/box"), "{cli}");
        let removed = d(&["rmi", "mine/box:v1"]);
        assert!(
            removed.contains("Untagged: mine/box:v1"),
            "{cli}: {removed}"
        );
        let out = docker(cli, &socket, &["rmi", "busybox"]);
        assert_ne!(code(&out), 0, "{cli}");
        assert!(
            text(&out.stderr).contains("is using its referenced image"),
            "{cli}: {}",
            text(&out.stderr)
        );
        // container prune: the stopped ones go, the running one stays.
        d(&["create", "--name", "idle", "busybox"]);
        let pruned = d(&["container", "prune", "-f"]);
        assert!(!pruned.contains("second"), "{cli}: {pruned}");
        assert_eq!(
            env.run_ok(&["ps", "-a", "--format", "{{.Names}}"]),
            "second\n",
            "{cli}"
        );
        d(&["rm", "-f", "second"]);
    }
    // image prune -a: nothing uses busybox now.
    let pruned = docker_ok(clients()[0], &socket, &["image", "prune", "-a", "-f"]);
    assert!(pruned.contains("deleted: sha256:"), "{pruned}");
    assert_eq!(env.run_ok(&["images", "-q"]), "");
}
