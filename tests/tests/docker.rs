//! mini beside a real Docker on the same host (the test command starts one: scripts/docker-daemon).
//!
//! Docker sets the iptables `FORWARD` policy to `DROP`; mini puts its accept rules into Docker's
//! `DOCKER-USER`. Here a Docker container and a mini container each publish a port and reach an
//! external host, before and after `mini network reload`, and after Docker itself restarts
//! (it rewrites its chains then). When the instance goes, so do its rules. And images cross
//! between the two engines every way: saved and loaded, pushed and pulled.

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
