//! What Docker users reach for to see and steer running containers: `pause` and `unpause`
//! (the cgroup freezer: a paused process does not advance), as inspect and ps show them.

use std::time::{Duration, Instant};

use mini_tests::host::{code, text};
use mini_tests::{lab, TestEnv};

/// The counter the test's container writes every 50 ms, read through `cp` (which works on a
/// paused container, as `exec` does not).
fn counter(env: &TestEnv) -> u64 {
    let out = env.run(&["cp", "p:/tmp/n", "-"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    // A tar stream of one file: its content sits after the 512-byte header.
    let content = &out.stdout[512..];
    let end = content.iter().position(|&b| b == b'\n').unwrap_or(0);
    String::from_utf8_lossy(&content[..end]).parse().unwrap()
}

fn state(env: &TestEnv) -> String {
    env.run_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Running}} {{.State.Paused}}",
        "p",
    ])
}

#[test]
fn pause_freezes_the_container_and_unpause_resumes_it() {
    let (env, _registry) = lab(&["busybox"]);
    let script =
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.05; done";
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "p",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while code(&env.run(&["cp", "p:/tmp/n", "-"])) != 0 {
        assert!(Instant::now() < deadline, "the counter never started");
        std::thread::sleep(Duration::from_millis(50));
    }

    assert_eq!(env.run_ok(&["pause", "p"]), "p\n");
    assert_eq!(state(&env), "paused true true\n");
    let ps = env.run_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.starts_with("p Up ") && ps.trim_end().ends_with("(Paused)"),
        "{ps}"
    );
    let before = counter(&env);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(counter(&env), before, "a paused process does not advance");
    let out = env.run(&["exec", "p", "true"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("is paused, unpause the container before exec"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["pause", "p"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("is already paused"),
        "{}",
        text(&out.stderr)
    );

    assert_eq!(env.run_ok(&["unpause", "p"]), "p\n");
    assert_eq!(state(&env), "running true false\n");
    std::thread::sleep(Duration::from_millis(400));
    assert!(counter(&env) > before, "an unpaused process goes on");
    let out = env.run(&["container", "unpause", "p"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("is not paused"),
        "{}",
        text(&out.stderr)
    );

    // stop of a paused container: thawed, so that its signals arrive.
    env.run_ok(&["container", "pause", "p"]);
    let started = Instant::now();
    env.run_ok(&["stop", "-t", "1", "p"]);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(state(&env), "exited false false\n");
    let out = env.run(&["pause", "p"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("is not running"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["pause", "nosuch"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("No such container: nosuch"),
        "{}",
        text(&out.stderr)
    );

    // rm -f of a paused container.
    env.run_ok(&["start", "p"]);
    env.run_ok(&["pause", "p"]);
    env.run_ok(&["rm", "-f", "p"]);
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
}

#[test]
fn info_version_and_df_say_what_the_host_and_instance_hold() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "w",
        "--network",
        "none",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "head -c 1000000 /dev/zero > /big; head -c 50000 /dev/zero > /data/f; touch /ready; sleep 1000",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while code(&env.run(&["exec", "w", "test", "-e", "/ready"])) != 0 {
        assert!(
            Instant::now() < deadline,
            "the container never wrote its files"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.run_ok(&["create", "--name", "idle", "busybox"]);
    env.run_ok(&["pause", "w"]);

    let info: serde_json::Value =
        serde_json::from_str(&env.run_ok(&["info", "--format", "{{json .}}"])).unwrap();
    assert_eq!(
        (
            &info["Containers"],
            &info["ContainersRunning"],
            &info["ContainersPaused"],
            &info["ContainersStopped"],
            &info["Images"]
        ),
        (&2.into(), &0.into(), &1.into(), &1.into(), &1.into())
    );
    assert_eq!(info["Driver"], "overlay2");
    assert_eq!(info["DockerRootDir"], env.path("root").to_str().unwrap());
    let uname = mini_tests::host::run("uname", &["-r"]);
    assert_eq!(info["KernelVersion"], uname.trim());
    let nproc = mini_tests::host::run("nproc", &[]);
    assert_eq!(info["NCPU"].to_string(), nproc.trim());
    let cgroupfs = mini_tests::host::run("stat", &["-f", "-c", "%T", "/sys/fs/cgroup"]);
    let version = if cgroupfs.trim() == "cgroup2fs" {
        "2"
    } else {
        "1"
    };
    assert_eq!(info["CgroupVersion"], version);
    let mirrors = info["RegistryConfig"]["Mirrors"].as_array().unwrap();
    assert_eq!(
        mirrors.len(),
        1,
        "the test's registry stands in for Docker Hub: {info}"
    );
    let text = env.run_ok(&["info"]);
    for line in [
        " Containers: 2\n  Running: 0\n  Paused: 1\n  Stopped: 1\n Images: 1\n",
        " Storage Driver: overlay2\n",
        &format!(" Cgroup Version: {version}\n"),
        &format!(" Docker Root Dir: {}\n", env.path("root").display()),
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    assert_eq!(
        env.run_ok(&["system", "info", "--format", "{{.ServerVersion}}"]),
        env.run_ok(&["version", "--format", "{{.Server.Version}}"])
    );
    let version = env.run_ok(&["version"]);
    assert!(version.starts_with("Client:\n Version:  "), "{version}");

    // df: one image (used), two containers (one running: paused counts), one volume (used).
    let df = env.run_ok(&["system", "df", "--format", "{{json .}}"]);
    let rows: Vec<serde_json::Value> = df
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |kind: &str| rows.iter().find(|r| r["Type"] == kind).unwrap().clone();
    assert_eq!(
        (
            row("Images")["TotalCount"].as_str(),
            row("Images")["Active"].as_str()
        ),
        (Some("1"), Some("1"))
    );
    assert_eq!(row("Images")["Reclaimable"], "0B (0%)");
    assert_eq!(
        (
            row("Containers")["TotalCount"].as_str(),
            row("Containers")["Active"].as_str()
        ),
        (Some("2"), Some("1"))
    );
    assert_eq!(
        row("Containers")["Size"],
        "1MB",
        "the running container's /big: {df}"
    );
    assert_eq!(
        (
            row("Local Volumes")["TotalCount"].as_str(),
            row("Local Volumes")["Active"].as_str()
        ),
        (Some("1"), Some("1"))
    );
    assert_eq!(row("Local Volumes")["Size"], "50kB");
    let table = env.run_ok(&["system", "df"]);
    assert!(
        table.starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"),
        "{table}"
    );

    // With the containers gone, the image can be reclaimed whole.
    env.run_ok(&["rm", "-f", "w", "idle"]);
    let df = env.run_ok(&["system", "df", "--format", "{{.Type}}={{.Reclaimable}}"]);
    assert!(df.lines().next().unwrap().ends_with("(100%)"), "{df}");
}

#[test]
fn a_listing_whose_reader_goes_ends_quietly() {
    use std::io::Read;
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    env.run_ok(&[
        "run",
        "--name",
        "talk",
        "--network",
        "none",
        "busybox",
        "seq",
        "1",
        "200000",
    ]);
    // `mini logs talk | head -c 10`: more than a pipe holds, and the reader goes early.
    let mut child = env
        .mini()
        .args(["logs", "talk"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(&first, b"1\n2\n3\n4\n5\n");
    env.run_ok(&["rm", "talk"]);
}
