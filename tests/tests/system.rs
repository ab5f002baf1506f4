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

/// Runs `mini ARGS...` and kills it (SIGKILL) `delay` ms in, wherever it is by then.
fn killed_after(env: &TestEnv, args: &[&str], delay: u64) {
    let mut child = env
        .mini()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(delay));
    let _ = child.kill();
    let _ = child.wait();
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
        killed_after(&env, &["system", "reset", "-f"], delay);
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

#[test]
fn a_run_whose_client_is_killed_leaves_nothing_held_once_looked_at() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    // Killed at points spread over create, mount, connect and the monitor's start.
    for (n, delay) in [2u64, 6, 10, 15, 20, 30, 45, 70].into_iter().enumerate() {
        let name = format!("cut{n}");
        let run = [
            "run", "-d", "--name", &name, "-p", "80", "busybox", "sleep", "300",
        ];
        killed_after(&env, &run, delay);
        // The next command that looks at it repairs what the cut-off start left, once the
        // monitor (which outlives its client) has finished launching, if it got that far.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while held(&env)
            .iter()
            .any(|l| l.to_string().contains("__monitor"))
            && !env
                .run_ok(&["ps", "--format", "{{.Names}}"])
                .contains(&name)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = env.run_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
        let line = status.lines().find(|l| l.starts_with(&format!("{name} ")));
        let Some(line) = line else {
            continue; // killed before the record was made: nothing to hold
        };
        if line.contains(" Up ") {
            env.run_ok(&["rm", "-f", &name]);
            continue; // it got all the way: a running container may hold all of it
        }
        let id = env
            .run_ok(&["inspect", "-f", "{{.Id}}", &name])
            .trim()
            .to_string();
        let held: Vec<String> = held(&env)
            .iter()
            .map(|l| l.to_string())
            .filter(|l| {
                l.contains(&id)
                    || l.contains(&id[..12])
                    || l.contains("veth")
                    || l.contains("netns")
            })
            .collect();
        assert!(
            held.is_empty(),
            "{name} ({line}) killed at {delay} ms holds {held:?}"
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(&id),
            "{name} killed at {delay} ms is still mounted"
        );
        let table = mini_tests::host::output(std::process::Command::new("nft").args([
            "list",
            "table",
            "ip",
            &env.nft_table(),
        ]));
        let table = text(&table.stdout);
        assert!(
            !table.contains(&id[..12]),
            "{name} killed at {delay} ms has port rules:\n{table}"
        );
        // And it starts and goes as any stopped container.
        env.run_ok(&["start", &name]);
        env.run_ok(&["rm", "-f", &name]);
    }
    // Creates that were cut off left no container layer behind once ps looked.
    assert_eq!(env.run_ok(&["ps", "-aq"]), "");
    let layers: Vec<String> = std::fs::read_dir(env.root.join("overlay"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("-init"))
        .collect();
    assert!(layers.is_empty(), "half-made container layers: {layers:?}");
}
