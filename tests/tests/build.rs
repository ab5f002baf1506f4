//! `mini build` end to end: real Dockerfiles, real RUN containers, the cache, and the errors a
//! learner meets; the images are checked by running them and by reading their config.

use std::path::{Path, PathBuf};

use mini_tests::host::{self, code, text};
use mini_tests::{lab, TestEnv};

/// A multi-stage Dockerfile with build args, an ignore file, here-documents, a whiteout (`rm`),
/// an opaque folder (`rm -rf` then `mkdir`), and a stage nothing needs (it would fail).
const DOCKERFILE: &str = r#"# escape=\
ARG BASE=busybox
FROM ${BASE} AS build
ARG GREETING=hello
WORKDIR /src
COPY app/ ./
RUN echo "$GREETING from the build stage" > out.txt \
 && cat main.txt >> out.txt

FROM busybox AS unused
RUN exit 7

FROM busybox
LABEL org.example.team="mini" version=1
ENV APP=/app
COPY --from=build /src/out.txt ${APP}/
COPY app/ ${APP}/src/
COPY <<EOF /etc/motd
welcome ${APP:-nowhere}
EOF
RUN <<EOT
echo here-document ran > /heredoc.txt
EOT
RUN rm /bin/vi && rm -rf /home && mkdir /home
EXPOSE 8080
CMD ["cat", "/app/out.txt"]
"#;

fn context(env: &TestEnv) -> PathBuf {
    let dir = env.path("context");
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("app/main.txt"), "main content\n").unwrap();
    std::fs::write(dir.join("app/secret.key"), "do not ship\n").unwrap();
    std::fs::write(dir.join("app/notes.md"), "notes\n").unwrap();
    std::fs::write(
        dir.join(".dockerignore"),
        "# keys stay home\napp/*.key\n**/*.md\n",
    )
    .unwrap();
    dir
}

fn build(env: &TestEnv, args: &[&str], dir: &Path) -> std::process::Output {
    let mut all = vec!["build"];
    all.extend(args);
    let dir = dir.display().to_string();
    all.push(&dir);
    env.run(&all)
}

fn build_ok(env: &TestEnv, args: &[&str], dir: &Path) -> String {
    let out = build(env, args, dir);
    assert!(
        out.status.success(),
        "mini build failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn image_id(env: &TestEnv, image: &str) -> String {
    env.run_ok(&["image", "inspect", "--format", "{{.Id}}", image])
        .trim()
        .to_string()
}

fn run_in(env: &TestEnv, image: &str, script: &str) -> String {
    env.run_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        script,
    ])
}

#[test]
fn a_multi_stage_build_gives_the_right_files_config_and_cache() {
    let (env, _registry) = lab(&["busybox"]);
    let dir = context(&env);
    let first = build_ok(
        &env,
        &[
            "-t",
            "web:1",
            "--build-arg",
            "GREETING=hi",
            "--network",
            "none",
        ],
        &dir,
    );
    // The classic builder's output: every step of the stages the target needs, numbered.
    assert!(
        first.starts_with("Sending build context to Docker daemon  "),
        "{first}"
    );
    let steps: Vec<&str> = first.lines().filter(|l| l.starts_with("Step ")).collect();
    assert_eq!(steps.len(), 16, "{first}");
    assert_eq!(steps[0], "Step 1/16 : ARG BASE=busybox");
    assert!(
        first.contains("Step 6/16 : RUN echo \"$GREETING from the build stage\" > out.txt  && cat main.txt >> out.txt"),
        "continuation lines are joined: {first}"
    );
    assert!(
        !first.contains("exit 7"),
        "the unused stage is skipped: {first}"
    );
    assert!(first.contains(" ---> Running in "));
    assert!(first.contains("Removing intermediate container "));
    let id = image_id(&env, "web:1");
    assert!(first.ends_with(&format!(
        "Successfully built {}\nSuccessfully tagged web:1\n",
        &id[7..19]
    )));

    // The image: what each step made, and what was left out.
    assert_eq!(
        env.run_ok(&["run", "--rm", "--network", "none", "web:1"]),
        "hi from the build stage\nmain content\n"
    );
    assert_eq!(
        run_in(
            &env,
            "web:1",
            "cat /etc/motd /heredoc.txt; ls /app/src; ls -A /home; test -e /bin/vi || echo no vi"
        ),
        "welcome /app\nhere-document ran\nmain.txt\nno vi\n"
    );
    let config: serde_json::Value = serde_json::from_str(&env.run_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        "web:1",
    ]))
    .unwrap();
    assert_eq!(config["Labels"]["org.example.team"], "mini");
    assert_eq!(config["Labels"]["version"], "1");
    assert_eq!(config["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(config["Cmd"], serde_json::json!(["cat", "/app/out.txt"]));
    assert!(config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "APP=/app"));
    let history = env.run_ok(&["history", "--no-trunc", "web:1"]);
    assert!(
        history.contains("/bin/sh -c #(nop)  EXPOSE 8080/tcp"),
        "{history}"
    );

    // Unchanged: every step from the cache, the same image.
    let again = build_ok(
        &env,
        &[
            "-t",
            "web:1",
            "--build-arg",
            "GREETING=hi",
            "--network",
            "none",
        ],
        &dir,
    );
    let cached = again.matches(" ---> Using cache").count();
    assert_eq!(
        cached,
        16 - 1 - 2,
        "every step but the ARG and FROMs: {again}"
    );
    assert!(!again.contains("Running in"), "{again}");
    assert_eq!(image_id(&env, "web:1"), id);
    let quiet = build_ok(
        &env,
        &[
            "-q",
            "-t",
            "web:1",
            "--build-arg",
            "GREETING=hi",
            "--network",
            "none",
        ],
        &dir,
    );
    assert_eq!(quiet, format!("{id}\n"));

    // An ignored file changes nothing; a file that is copied misses from its COPY on.
    std::fs::write(dir.join("app/notes.md"), "changed notes\n").unwrap();
    std::fs::write(dir.join("app/secret.key"), "another secret\n").unwrap();
    let ignored = build_ok(
        &env,
        &["-q", "--build-arg", "GREETING=hi", "--network", "none"],
        &dir,
    );
    assert_eq!(ignored, format!("{id}\n"));
    std::fs::write(dir.join("app/main.txt"), "new content\n").unwrap();
    let changed = build_ok(
        &env,
        &[
            "-t",
            "web:2",
            "--build-arg",
            "GREETING=hi",
            "--network",
            "none",
        ],
        &dir,
    );
    let step5 = changed.split("Step 5/16").nth(1).unwrap();
    assert!(
        !step5
            .split("Step 6/16")
            .next()
            .unwrap()
            .contains("Using cache"),
        "the COPY of the changed file misses: {changed}"
    );
    assert!(changed
        .split("Step 5/16")
        .next()
        .unwrap()
        .contains("Using cache"));
    assert_eq!(
        env.run_ok(&["run", "--rm", "--network", "none", "web:2"]),
        "hi from the build stage\nnew content\n"
    );
    // Another build arg misses from the RUN that sees it.
    let other_arg = build_ok(
        &env,
        &["--build-arg", "GREETING=hey", "--network", "none"],
        &dir,
    );
    assert!(other_arg
        .split("Step 6/16")
        .nth(1)
        .unwrap()
        .contains("Running in"));

    // --no-cache runs every step; --target stops at a stage; an unused build arg is reported.
    let fresh = build_ok(
        &env,
        &["--no-cache", "--network", "none", "--build-arg", "NOBODY=x"],
        &dir,
    );
    assert!(!fresh.contains("Using cache"), "{fresh}");
    assert!(
        fresh.contains("[Warning] One or more build-args [NOBODY] were not consumed"),
        "{fresh}"
    );
    let iid = env.path("iid");
    let staged = build_ok(
        &env,
        &[
            "--target",
            "build",
            "-t",
            "stage:build",
            "--network",
            "none",
            "--iidfile",
            &iid.display().to_string(),
        ],
        &dir,
    );
    assert!(staged.contains("Step 6/6"), "{staged}");
    assert_eq!(
        std::fs::read_to_string(&iid).unwrap(),
        image_id(&env, "stage:build")
    );
    assert_eq!(
        run_in(&env, "stage:build", "pwd; ls"),
        "/src\nmain.txt\nout.txt\n"
    );
}

#[test]
fn a_run_step_uses_the_network_the_user_and_the_shell_it_is_given() {
    let (env, _registry) = lab(&["busybox"]);
    let dir = env.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\n\
         RUN test -e /sys/class/net/eth0 && echo bridged > /net.txt\n\
         USER nobody\n\
         RUN id -u > /tmp/uid\n\
         USER root\n\
         SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n\
         RUN echo $0 $- > /shell.txt\n\
         ONBUILD RUN echo triggered > /onbuild.txt\n",
    )
    .unwrap();
    let out = build_ok(&env, &["-t", "base:1"], &dir);
    assert!(out.contains("Successfully tagged base:1"), "{out}");
    assert_eq!(
        run_in(&env, "base:1", "cat /net.txt /tmp/uid"),
        "bridged\n65534\n"
    );
    assert!(run_in(&env, "base:1", "cat /shell.txt").contains('e'));
    // The trigger runs in the build of the image made from it, and is not passed on.
    std::fs::write(dir.join("Dockerfile"), "FROM base:1\nRUN true\n").unwrap();
    let child = build_ok(&env, &["-t", "child:1", "--network", "none"], &dir);
    assert!(child.contains("# Executing 1 build trigger"), "{child}");
    assert_eq!(run_in(&env, "child:1", "cat /onbuild.txt"), "triggered\n");
    let onbuild = env.run_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.OnBuild}}",
        "child:1",
    ]);
    assert_eq!(onbuild.trim(), "null");

    // A Dockerfile on stdin, without a context.
    let out = host::output_with_input(
        env.mini()
            .args(["build", "-t", "piped:1", "--network", "none", "-"]),
        b"FROM busybox\nRUN echo piped > /p\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(run_in(&env, "piped:1", "cat /p"), "piped\n");
}

#[test]
fn bad_dockerfiles_and_failing_steps_say_what_and_leave_nothing() {
    let (env, _registry) = lab(&["busybox"]);
    let dir = env.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(env.path("outside"), "x").unwrap();
    env.run_ok(&["pull", "-q", "busybox"]);
    let images_before = env.run_ok(&["images", "-q"]);
    for (dockerfile, wanted) in [
        (
            "FROM busybox\nFOO bar\n",
            "Dockerfile: unknown instruction 'FOO' at line 2",
        ),
        ("FROM\n", "FROM instruction requires at least one argument"),
        ("FROM busybox\nRUN <<EOF\nnever ends\n", "here-document"),
        (
            "FROM busybox\nCOPY --bogus a /b\n",
            "Dockerfile:2: COPY: unknown flag: --bogus",
        ),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "forbidden path outside the build context",
        ),
        (
            "FROM busybox\nCOPY missing.txt /x\n",
            "file not found in build context",
        ),
        ("FROM busybox\nCOPY --from=nostage /x /x\n", "nostage"),
    ] {
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        let out = build(&env, &["-t", "bad:1", "--network", "none"], &dir);
        assert_eq!(code(&out), 1, "{dockerfile:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(wanted),
            "{dockerfile:?}: {}",
            text(&out.stderr)
        );
    }
    let out = build(&env, &["--target", "nope"], &dir);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("failed to reach build target nope"));

    // A failing RUN: its command, its output, its code; no container, no tag.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN echo making a mess > /mess && echo about to fail && exit 3\n",
    )
    .unwrap();
    let out = build(&env, &["-t", "bad:1", "--network", "none"], &dir);
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("about to fail"));
    assert!(
        text(&out.stderr).contains(
            "The command '/bin/sh -c echo making a mess > /mess && echo about to fail && exit 3' returned a non-zero code: 3"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
    assert_eq!(
        env.run(&["image", "inspect", "bad:1"]).status.code(),
        Some(1)
    );
    assert_eq!(env.run_ok(&["images", "-q"]), images_before);
}

#[test]
fn an_interrupted_or_killed_build_leaves_no_container() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    let dir = env.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN echo started && sleep 60\n",
    )
    .unwrap();
    for signal in [libc::SIGINT, libc::SIGKILL] {
        let mut child = env
            .mini()
            .args(["build", "--no-cache", "--network", "none"])
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the step's container to run.
        let mut running = false;
        for _ in 0..200 {
            if !env.run_ok(&["ps", "-q"]).is_empty() {
                running = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert!(running, "the RUN step's container started");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        if signal == libc::SIGINT {
            assert_eq!(status.code(), Some(130));
        }
        assert_eq!(env.run_ok(&["ps", "-aq"]), "", "after signal {signal}");
    }
}

/// `python3 -m http.server` on a free loopback port, serving `dir`; stopped when dropped.
struct WebServer {
    child: std::process::Child,
    port: u16,
}

impl WebServer {
    fn serve(dir: &Path) -> WebServer {
        let port = host::free_port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the web server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        WebServer { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn add_fetches_urls_and_import_takes_one() {
    let (env, _registry) = lab(&["busybox"]);
    let site = env.path("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("tool.txt"), "fetched\n").unwrap();
    // 2020-01-01T00:00:00Z: the server says so in Last-Modified, and ADD keeps it.
    host::check(std::process::Command::new("touch").args([
        "-d",
        "2020-01-01T00:00:00Z",
        site.join("tool.txt").to_str().unwrap(),
    ]));
    host::check(std::process::Command::new("tar").args([
        "-C",
        site.to_str().unwrap(),
        "-cf",
        site.join("bundle.tar").to_str().unwrap(),
        "tool.txt",
    ]));
    let web = WebServer::serve(&site);
    let dir = env.path("ctx");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM busybox\nADD {tool} /opt/\nADD --chmod=755 {tool} /opt/renamed\nADD {tar} /opt/tars/\n",
            tool = web.url("tool.txt"),
            tar = web.url("bundle.tar")
        ),
    )
    .unwrap();
    build_ok(&env, &["-q", "-t", "fetched:1", "--network", "none"], &dir);
    let seen = run_in(
        &env,
        "fetched:1",
        "stat -c '%n %a %Y' /opt/tool.txt /opt/renamed; cat /opt/tool.txt; ls /opt/tars",
    );
    assert_eq!(
        seen, "/opt/tool.txt 600 1577836800\n/opt/renamed 755 1577836800\nfetched\nbundle.tar\n",
        "a download is 0600 (or --chmod), keeps the server's time, and an archive stays whole"
    );
    // Unchanged downloads come from the cache; changed content misses (and every step after).
    let again = build_ok(&env, &["--network", "none", "-t", "fetched:1"], &dir);
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
    std::fs::write(site.join("tool.txt"), "fetched again\n").unwrap();
    let changed = build_ok(&env, &["--network", "none", "-t", "fetched:2"], &dir);
    assert_eq!(changed.matches("Using cache").count(), 0, "{changed}");
    assert_eq!(
        run_in(&env, "fetched:2", "cat /opt/renamed"),
        "fetched again\n"
    );

    // A URL the server refuses: the build fails with its status, and nothing is tagged.
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM busybox\nADD {} /x\n", web.url("missing")),
    )
    .unwrap();
    let out = build(&env, &["-t", "broken:1"], &dir);
    assert_eq!(code(&out), 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("404") && err.contains(&web.url("missing")),
        "{err}"
    );
    assert_ne!(code(&env.run(&["image", "inspect", "broken:1"])), 0);

    // import URL: a container's export, fetched and imported.
    env.run_ok(&["create", "--name", "c", "busybox"]);
    let export = site.join("busybox.tar");
    env.run_ok(&["export", "-o", export.to_str().unwrap(), "c"]);
    env.run_ok(&["rm", "c"]);
    let id = env.run_ok(&["import", &web.url("busybox.tar"), "imported:1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(run_in(&env, "imported:1", "echo imported"), "imported\n");
    let out = env.run(&["import", &web.url("nope.tar"), "imported:2"]);
    assert_ne!(code(&out), 0);
    assert!(text(&out.stderr).contains("404"), "{}", text(&out.stderr));
}
