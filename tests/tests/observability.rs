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
