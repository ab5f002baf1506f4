//! `mini system reset`: an instance with something of everything (running and stopped
//! containers, a published port, a user network with its DNS responder, a volume) is taken away
//! whole, the host left as before the instance's first command; without `-f` and without a
//! terminal nothing happens; and a reset killed half way finishes when run again.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use mini_tests::host::{code, text};
use mini_tests::{lab, TestEnv};

/// What the instance holds on the host (the test's registry, which lives in its folder, aside).
fn held(env: &TestEnv) -> Vec<mini_tests::leaks::Leak> {
    env.leaks()
        .into_iter()
        .filter(|l| !matches!(l, mini_tests::leaks::Leak::Process { cmdline, .. } if cmdline.contains("docker-registry serve")))
        .collect()
}

/// Fills the instance with one of everything that holds host resources.
fn populate(env: &TestEnv) {
    env.run_ok(&[
        "run", "-d", "--name", "web", "-p", "80", "busybox", "sleep", "300",
    ]);
    env.run_ok(&["create", "--name", "idle", "-v", "/data", "busybox", "true"]);
    env.run_ok(&["network", "create", "--subnet", &env.spare_subnet(), "lab"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "lab",
        "busybox",
        "sleep",
        "300",
    ]);
    env.run_ok(&["volume", "create", "keep"]);
}

#[test]
fn a_reset_takes_the_whole_instance_away() {
    let (env, _registry) = lab(&["busybox"]);
    populate(&env);
    assert!(
        held(&env).len() >= 8,
        "the instance holds mounts, links, a table, cgroups, processes: {:?}",
        held(&env)
    );

    // Without -f and without a terminal: refused, nothing removed.
    let out = mini_tests::host::output(env.mini().args(["system", "reset"]).stdin(Stdio::null()));
    assert_eq!(code(&out), 125);
    assert_eq!(
        text(&out.stderr),
        "Error: system reset removes everything of this instance and needs a yes: run it on a terminal, or with -f (--force)\n"
    );
    assert_eq!(env.run_ok(&["ps", "-q"]).lines().count(), 2);

    env.run_ok(&["system", "reset", "-f"]);
    let left = held(&env);
    assert!(left.is_empty(), "the reset left: {left:?}");
    assert!(!env.root.exists() && !env.runroot.exists());

    // The instance can be used again from nothing, and reset again.
    let out = env.run_ok(&["run", "--rm", "busybox", "echo", "again"]);
    assert_eq!(out, "again\n");
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
    assert_eq!(env.run_ok(&["volume", "ls", "-q"]), "");
    assert_eq!(
        std::fs::metadata(&env.root).unwrap().permissions().mode() & 0o777,
        0o700
    );
    env.run_ok(&["system", "reset", "-f"]);
    assert!(held(&env).is_empty());
}

#[test]
fn a_reset_killed_half_way_finishes_when_run_again() {
    let (env, _registry) = lab(&["busybox"]);
    // Killed at several points of its work: each time the next reset finishes the job.
    for delay in [5u64, 40, 120] {
        populate(&env);
        let mut child = env
            .mini()
            .args(["system", "reset", "-f"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let out = env.run(&["system", "reset", "-f"]);
        assert_eq!(
            code(&out),
            0,
            "after a kill at {delay} ms: {}",
            text(&out.stderr)
        );
        let left = held(&env);
        assert!(
            left.is_empty(),
            "after a kill at {delay} ms the reset left: {left:?}"
        );
    }
}
