//! Self-checks of the harness: the leak check catches what a test leaves behind, the external
//! host reaches the host, and the built `mini` binary answers as a CLI should.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};

use mini_tests::host::{self, run};
use mini_tests::leaks::{parse_mountinfo, Leak};
use mini_tests::{ExternalHost, TestEnv};

fn mounted(target: &str) -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    parse_mountinfo(&text).iter().any(|m| m.target == target)
}

/// Drops the environment and returns the leak check's panic message, if it panicked.
fn drop_and_catch(env: TestEnv) -> Option<String> {
    let result = catch_unwind(AssertUnwindSafe(move || drop(env)));
    result.err().map(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "non-string panic".to_string())
    })
}

#[test]
fn a_clean_test_passes_the_leak_check() {
    let env = TestEnv::new();
    assert!(env.dir.is_dir() && env.root.is_dir() && env.runroot.is_dir());
    assert_eq!(env.leaks(), Vec::<Leak>::new());
    let dir = env.dir.clone();
    assert_eq!(drop_and_catch(env), None);
    assert!(!dir.exists(), "the test's folder is removed");
}

#[test]
fn the_leak_check_fails_a_test_that_leaves_a_mount() {
    let env = TestEnv::new();
    let target = env.path("leaked-mount");
    std::fs::create_dir(&target).unwrap();
    run("mount", &["-t", "tmpfs", "leak", target.to_str().unwrap()]);
    let target = target.to_string_lossy().into_owned();
    assert!(mounted(&target));
    assert!(env.leaks().contains(&Leak::Mount {
        target: target.clone(),
        fstype: "tmpfs".into()
    }));

    let message = drop_and_catch(env).expect("a leaked mount must fail the test");
    assert!(message.contains("leaked 1 resource"), "{message}");
    assert!(message.contains(&target), "{message}");
    assert!(!mounted(&target), "the leak check unmounts what leaked");
}

#[test]
fn the_leak_check_fails_a_test_that_leaves_links_namespaces_tables_cgroups_processes() {
    let env = TestEnv::new();
    let tag = env.tag.clone();
    let link = format!("mini{tag}");
    let netns = format!("mini-{tag}");
    let table = format!("mini_{tag}");
    run("ip", &["link", "add", &link, "type", "bridge"]);
    run("ip", &["netns", "add", &netns]);
    run("nft", &["add", "table", "inet", &table]);
    // A cgroup in a real hierarchy: the unified one on v2 hosts, the pids one on v1 and hybrid.
    let hierarchy = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/pids"
    };
    // (Not `mini-<tag>`: that is the test's cgroup parent, which the environment removes when
    // it is empty, as a clean end of a test.)
    let cgroup = std::path::Path::new(hierarchy).join(format!("leak-{tag}"));
    std::fs::create_dir(&cgroup).unwrap();
    // A process working in the test's folder, as a container's processes do in its root.
    let mut child = Command::new("sleep")
        .arg("600")
        .current_dir(&env.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let leaks = env.leaks();
    assert!(
        leaks.contains(&Leak::Link { name: link.clone() }),
        "{leaks:?}"
    );
    assert!(
        leaks.contains(&Leak::Netns {
            name: netns.clone()
        }),
        "{leaks:?}"
    );
    assert!(
        leaks.contains(&Leak::NftTable {
            family: "inet".into(),
            name: table.clone()
        }),
        "{leaks:?}"
    );
    assert!(
        leaks
            .iter()
            .any(|l| matches!(l, Leak::Process { pid, .. } if *pid == child.id())),
        "{leaks:?}"
    );
    assert!(
        leaks.contains(&Leak::Cgroup {
            path: cgroup.clone()
        }),
        "{leaks:?}"
    );

    let message = drop_and_catch(env).expect("leaks must fail the test");
    assert!(message.contains(&format!("link {link}")), "{message}");
    assert!(
        message.contains(&format!("network namespace {netns}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("table inet {table}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("cgroup {}", cgroup.display())),
        "{message}"
    );
    assert!(
        message.contains(&format!("process {}", child.id())),
        "{message}"
    );
    // And everything was removed.
    assert!(child.wait().is_ok());
    assert!(!std::path::Path::new("/sys/class/net").join(&link).exists());
    assert!(!run("ip", &["netns", "list"]).contains(&netns));
    assert!(!run("nft", &["list", "tables"]).contains(&table));
    assert!(!cgroup.exists());
}

#[test]
fn the_external_host_reaches_the_host_and_back() {
    let env = TestEnv::new();
    let ext = ExternalHost::new(&env.tag);
    assert_ne!(ext.host_addr, ext.addr);

    // A server on the host's address of the link, answering one request.
    let listener = TcpListener::bind((ext.host_addr, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, peer) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 19\r\n\r\nhello from the host")
            .unwrap();
        peer.ip()
    });
    let body = host::check(
        ext.command("curl")
            .args(["-sS", "--max-time", "5"])
            .arg(format!("http://{}:{port}/", ext.host_addr)),
    );
    assert_eq!(body, "hello from the host");
    let peer = server.join().unwrap();
    assert_eq!(
        peer, ext.addr,
        "the request came from the external host's own address"
    );

    // And the host reaches the external host.
    run("ping", &["-c", "1", "-W", "2", &ext.addr.to_string()]);
    drop(ext);
    assert_eq!(env.leaks(), Vec::<Leak>::new());
}

#[test]
fn mini_prints_its_version_and_help_and_rejects_unknown_flags_with_125() {
    let env = TestEnv::new();
    let version = env.run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("mini {}", env!("CARGO_PKG_VERSION"))
    );

    let help = env.run(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: mini"), "{help}");
    assert!(help.contains("--root"), "{help}");

    let bad = env.run(&["--no-such-flag"]);
    assert_eq!(bad.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--no-such-flag"),
        "the error names the bad flag: {stderr}"
    );
}

#[test]
fn the_leak_check_catches_a_container_left_running() {
    let env = TestEnv::new();
    let registry = mini_tests::Registry::start(&env.path("registry"));
    registry.push_library(&["busybox"]);
    env.use_mirror(&registry);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "forgotten",
        "busybox",
        "sleep",
        "600",
    ]);
    let pid: u32 = env
        .run_ok(&["inspect", "-f", "{{.State.Pid}}", "forgotten"])
        .trim()
        .parse()
        .unwrap();
    drop(registry);
    let leaks = env.leaks();
    // The container's own process: its root reads as `/` after pivot_root, so only its cgroup
    // (below the test's tagged cgroup parent) gives it away.
    assert!(
        leaks
            .iter()
            .any(|l| matches!(l, Leak::Process { pid: p, .. } if *p == pid)),
        "{leaks:?}"
    );
    assert!(
        leaks
            .iter()
            .any(|l| matches!(l, Leak::Cgroup { path } if path.ends_with(
                std::path::Path::new(&env.cgroup_parent().trim_start_matches('/')).join(
                    env.run_ok(&["inspect", "-f", "{{.Id}}", "forgotten"]).trim()
                )
            ))),
        "{leaks:?}"
    );
    assert!(
        leaks.iter().any(|l| matches!(l, Leak::Mount { .. })),
        "{leaks:?}"
    );
    let tag = env.tag.clone();
    let message = drop_and_catch(env).expect("a running container must fail the test");
    assert!(message.contains("sleep 600"), "{message}");
    // The cleanup left nothing: no process, no cgroup.
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cgroup")).exists()
            || !std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .unwrap_or_default()
                .contains(&tag)
    );
    let cgroups = host::run(
        "find",
        &[
            "/sys/fs/cgroup",
            "-maxdepth",
            "3",
            "-name",
            &format!("*{tag}*"),
        ],
    );
    assert_eq!(cgroups.trim(), "", "cgroups left: {cgroups}");
}
