//! Networking end to end: addresses on the default bridge, published ports reached from
//! another machine (a network namespace), from the host and from containers, localhost-only
//! publishing, UDP, ranges and -P, outbound masquerade, concurrency, user networks, bad input,
//! and the repair of a start that died half way. Each test has its own bridge, subnet and nft
//! table (from its config); the leak check covers links, netns files, tables and mounts.

use std::collections::HashSet;
use std::process::{Command, Output};

use mini_tests::host::{code, free_port, text};
use mini_tests::{lab, ExternalHost, TestEnv};

fn inspect(env: &TestEnv, container: &str, format: &str) -> String {
    env.run_ok(&["inspect", "-f", format, container])
        .trim()
        .to_string()
}

/// `curl` from the host (or, with `ext`, from the external host): the body, or None.
fn curl(ext: Option<&ExternalHost>, url: &str) -> Option<String> {
    let mut cmd = match ext {
        Some(ext) => ext.command("curl"),
        None => Command::new("curl"),
    };
    cmd.args(["-sf", "-m", "5", url]);
    // A server that has just started may not listen yet: a refused connection (curl's 7) is
    // tried again for a while; anything else is the answer.
    for _ in 0..30 {
        let out = cmd.output().expect("run curl");
        if out.status.code() != Some(7) {
            return out.status.success().then(|| text(&out.stdout));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

/// `wget URL` from a new busybox container on the default bridge. busybox's own `wget -T`
/// crashes (Debian's 1.35): `timeout` bounds it instead.
fn wget_in_a_container(env: &TestEnv, url: &str) -> Output {
    env.run(&[
        "run", "--rm", "busybox", "timeout", "10", "wget", "-qO-", url,
    ])
}

fn nft_table(env: &TestEnv) -> String {
    text(
        &Command::new("nft")
            .args(["list", "table", "ip", &env.nft_table()])
            .output()
            .expect("nft")
            .stdout,
    )
}

/// The packet count of the DNAT rule for `port` in mini's table.
fn dnat_packets(env: &TestEnv, port: u16) -> u64 {
    let table = nft_table(env);
    let line = table
        .lines()
        .find(|l| l.contains(&format!("dport {port} counter")))
        .unwrap_or_else(|| panic!("no DNAT rule for port {port} in:\n{table}"));
    let after = line.split("packets ").nth(1).expect("a counter");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

fn veths_of(env: &TestEnv) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{}/brif", env.bridge_name()))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn addresses_go_in_order_are_reused_and_show_as_docker_shows_them() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    for name in ["a1", "a2", "a3"] {
        env.run_ok(&["run", "-d", "--name", name, "busybox", "sleep", "300"]);
    }
    let ip = |name| inspect(&env, name, "{{.NetworkSettings.IPAddress}}");
    assert_eq!(
        [ip("a1"), ip("a2"), ip("a3")],
        [env.subnet_addr(2), env.subnet_addr(3), env.subnet_addr(4)]
    );
    // The old field and the network's entry agree; the MAC comes from the address, as Docker's.
    assert_eq!(
        inspect(&env, "a1", "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ip("a1")
    );
    assert_eq!(
        inspect(&env, "a1", "{{.NetworkSettings.Gateway}}"),
        env.subnet_addr(1)
    );
    assert_eq!(
        inspect(&env, "a1", "{{.NetworkSettings.IPPrefixLen}}"),
        "24"
    );
    let octets: Vec<String> = ip("a1")
        .split('.')
        .map(|o| format!("{:02x}", o.parse::<u8>().unwrap()))
        .collect();
    assert_eq!(
        inspect(&env, "a1", "{{.NetworkSettings.MacAddress}}"),
        format!("02:42:{}", octets.join(":"))
    );
    // `inspect | grep IPAddr` shows what the lab shows.
    let full = env.run_ok(&["container", "inspect", "a1"]);
    let lines: Vec<&str> = full
        .lines()
        .filter(|l| l.contains("IPAddr"))
        .map(str::trim)
        .collect();
    assert_eq!(
        lines,
        [
            "\"SecondaryIPAddresses\": null,".to_string(),
            format!("\"IPAddress\": \"{}\",", ip("a1")),
            format!("\"IPAddress\": \"{}\",", ip("a1")),
        ]
    );
    // Inside: eth0 with the address, a default route via the gateway, loopback up.
    let addr = env.run_ok(&["exec", "a1", "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {}/24", ip("a1"))), "{addr}");
    let route = env.run_ok(&["exec", "a1", "ip", "route"]);
    assert!(
        route.contains(&format!("default via {}", env.subnet_addr(1))),
        "{route}"
    );
    let hosts = env.run_ok(&["exec", "a1", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&ip("a1")), "{hosts}");
    // Containers reach each other on the bridge.
    env.run_ok(&["exec", "a1", "ping", "-c", "1", "-W", "2", &ip("a3")]);
    assert_eq!(veths_of(&env), 3);
    let network = env.run_ok(&["network", "inspect", "bridge"]);
    assert!(network.contains(&format!("{}/24", ip("a2"))), "{network}");
    assert!(network.contains(&env.bridge_name()), "{network}");

    // A removed container's address goes to the next one; a stopped one keeps its own.
    env.run_ok(&["rm", "-f", "a2"]);
    env.run_ok(&["stop", "-t", "0", "a3"]);
    assert_eq!(
        ip("a3"),
        "",
        "a stopped container shows no address, as in Docker"
    );
    env.run_ok(&["run", "-d", "--name", "a4", "busybox", "sleep", "300"]);
    assert_eq!(ip("a4"), env.subnet_addr(3));
    env.run_ok(&["start", "a3"]);
    assert_eq!(ip("a3"), env.subnet_addr(4));
    env.run_ok(&["rm", "-f", "a1", "a3", "a4"]);
    assert_eq!(veths_of(&env), 0);
    assert!(!nft_table(&env).contains("ctr-"));
}

#[test]
fn published_ports_reach_nginx_from_outside_the_host_localhost_and_containers() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let ext = ExternalHost::new(&env.tag);
    let (public, local) = (free_port(), free_port());
    env.run_ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "w1",
        "-p",
        &format!("{public}:80"),
        "-p",
        &format!("127.0.0.1:{local}:80"),
        "nginx",
    ]);
    let ps = env.run_ok(&["ps"]);
    assert!(
        ps.contains(&format!(
            "0.0.0.0:{public}->80/tcp, 127.0.0.1:{local}->80/tcp"
        )),
        "{ps}"
    );
    let port = env.run_ok(&["port", "w1"]);
    assert_eq!(
        port,
        format!("80/tcp -> 0.0.0.0:{public}\n80/tcp -> 127.0.0.1:{local}\n")
    );
    let ip = inspect(&env, "w1", "{{.NetworkSettings.IPAddress}}");
    let welcome = |body: Option<String>| body.is_some_and(|b| b.contains("Welcome to nginx"));
    // Straight to the container's address, from the host.
    assert!(welcome(curl(None, &format!("http://{ip}/"))));
    let before = dnat_packets(&env, public);
    // Another machine, through the host's address.
    assert!(welcome(curl(
        Some(&ext),
        &format!("http://{}:{public}/", ext.host_addr)
    )));
    assert!(
        dnat_packets(&env, public) > before,
        "the DNAT counter moved"
    );
    // The host itself, on its own address and on 127.0.0.1.
    assert!(welcome(curl(
        None,
        &format!("http://{}:{public}/", ext.host_addr)
    )));
    assert!(welcome(curl(None, &format!("http://127.0.0.1:{public}/"))));
    // Localhost-only: the host reaches it, another machine does not.
    assert!(welcome(curl(None, &format!("http://127.0.0.1:{local}/"))));
    assert!(curl(Some(&ext), &format!("http://{}:{local}/", ext.host_addr)).is_none());
    // Another container, through the host's address (hairpin), and the container itself.
    let other = wget_in_a_container(&env, &format!("http://{}:{public}/", ext.host_addr));
    assert!(
        text(&other.stdout).contains("Welcome to nginx"),
        "{}",
        text(&other.stderr)
    );
    let own = env.run_ok(&[
        "exec",
        "w1",
        "curl",
        "-sf",
        "-m",
        "5",
        &format!("http://{}:{public}/", ext.host_addr),
    ]);
    assert!(own.contains("Welcome to nginx"));
    // The rules are readable: a DNAT to the container's address with a comment naming it.
    let table = nft_table(&env);
    assert!(table.contains(&format!("dnat to {ip}:80")), "{table}");
    assert!(
        table.contains(&format!("container w1 0.0.0.0:{public}->80/tcp")),
        "{table}"
    );
    // Stopped: nothing answers, and the container's rules are gone.
    env.run_ok(&["stop", "w1"]);
    assert!(curl(Some(&ext), &format!("http://{}:{public}/", ext.host_addr)).is_none());
    assert!(!nft_table(&env).contains("ctr-"));
    env.run_ok(&["start", "w1"]);
    assert!(welcome(curl(
        Some(&ext),
        &format!("http://{}:{public}/", ext.host_addr)
    )));
    env.run_ok(&["rm", "-f", "w1"]);
}

#[test]
fn udp_ranges_and_publish_all() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    // UDP: a datagram to the published port reaches a socket in the container's namespace
    // (busybox has no UDP server: the test listens there itself, from its netns file).
    let udp = free_port();
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "u1",
        "-p",
        &format!("{udp}:5353/udp"),
        "busybox",
        "sleep",
        "300",
    ]);
    assert!(env
        .run_ok(&["ps"])
        .contains(&format!("0.0.0.0:{udp}->5353/udp")));
    let netns = inspect(&env, "u1", "{{.NetworkSettings.SandboxKey}}");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let ns = std::fs::File::open(&netns).expect("open the container's netns file");
        // SAFETY: setns on this thread only; the descriptor is open.
        let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0, "setns into the container's namespace");
        let socket = std::net::UdpSocket::bind("0.0.0.0:5353").expect("bind in the container");
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 64];
        socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    });
    ready_rx.recv().unwrap();
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"over udp", ("127.0.0.1", udp))
        .unwrap();
    assert_eq!(receiver.join().unwrap().as_deref(), Some(&b"over udp"[..]));
    // A range: three ports, shown folded as Docker folds them.
    // Below the kernel's ephemeral ports, which other tests' connections use.
    let base = 20000 + (free_port() % 10000);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "r1",
        "-p",
        &format!("{base}-{}:8000-8002", base + 2),
        "busybox",
        "sleep",
        "300",
    ]);
    let ps = env.run_ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert!(
        ps.contains(&format!("r1 0.0.0.0:{base}-{}->8000-8002/tcp", base + 2)),
        "{ps}"
    );
    // -P: nginx's EXPOSE 80 on a free port, reachable.
    env.run_ok(&["run", "-d", "--name", "p1", "-P", "nginx"]);
    let mapped = env.run_ok(&["port", "p1", "80"]);
    let host_port = mapped.trim().rsplit(':').next().unwrap().to_string();
    assert!(curl(None, &format!("http://127.0.0.1:{host_port}/"))
        .is_some_and(|b| b.contains("Welcome to nginx")));
    env.run_ok(&["rm", "-f", "u1", "r1", "p1"]);
}

#[test]
fn containers_reach_the_outside_through_masquerade() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let ext = ExternalHost::new(&env.tag);
    let port = free_port();
    let server = ext.serve_once(port);
    let out = wget_in_a_container(&env, &format!("http://{}:{port}/", ext.addr));
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hello from outside"));
    let peer = server
        .join()
        .unwrap()
        .expect("the external host saw a connection");
    assert_eq!(
        peer.ip().to_string(),
        ext.host_addr.to_string(),
        "the container's address is masqueraded behind the host's"
    );
}

#[test]
fn thirty_concurrent_runs_get_thirty_addresses() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    env.run_ok(&["pull", "busybox"]);
    let env = &env;
    let ips: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..30)
            .map(|i| {
                scope.spawn(move || {
                    let name = format!("c{i}");
                    env.run_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "300"]);
                    inspect(env, &name, "{{.NetworkSettings.IPAddress}}")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let unique: HashSet<&String> = ips.iter().collect();
    assert_eq!(unique.len(), 30, "{ips:?}");
    let expected: HashSet<String> = (2..32).map(|n| env.subnet_addr(n)).collect();
    assert_eq!(ips.iter().cloned().collect::<HashSet<_>>(), expected);
    assert_eq!(veths_of(env), 30);
    let names: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    env.run_ok(&args);
    assert_eq!(veths_of(env), 0);
}

#[test]
fn user_networks_have_their_own_bridge_subnet_and_fixed_addresses() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let subnet = env.spare_subnet();
    let id = env.run_ok(&["network", "create", "--subnet", &subnet, "labnet"]);
    let net_ip = |n: u8| format!("{}{n}", subnet.trim_end_matches("0/24"));
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "n1",
        "--network",
        "labnet",
        "busybox",
        "sleep",
        "300",
    ]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "n2",
        "--network",
        "labnet",
        "--ip",
        &net_ip(50),
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(
        inspect(&env, "n1", "{{.NetworkSettings.Networks.labnet.IPAddress}}"),
        net_ip(2)
    );
    assert_eq!(
        inspect(&env, "n2", "{{.NetworkSettings.IPAddress}}"),
        net_ip(50)
    );
    env.run_ok(&["exec", "n1", "ping", "-c", "1", "-W", "2", &net_ip(50)]);
    let bridge = format!("br-{}", &id.trim()[..12]);
    assert!(std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    let ls = env.run_ok(&["network", "ls"]);
    assert!(
        ls.contains("labnet") && ls.contains(&id.trim()[..12]),
        "{ls}"
    );
    // In use: refused. Empty: removed, bridge and all.
    let busy = env.run(&["network", "rm", "labnet"]);
    assert_eq!(code(&busy), 1);
    assert!(
        text(&busy.stderr).contains("active endpoints"),
        "{}",
        text(&busy.stderr)
    );
    env.run_ok(&["rm", "-f", "n1", "n2"]);
    assert_eq!(env.run_ok(&["network", "rm", "labnet"]).trim(), "labnet");
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
}

#[test]
fn bad_network_input_gets_clear_errors_and_leaves_nothing() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    env.run_ok(&["pull", "busybox"]);
    for (args, words) in [
        (vec!["-p", "80:abc"], "invalid container port"),
        (vec!["-p", "99999:80"], "invalid host port"),
        (vec!["-p", "8000-8001:80-82"], "same size"),
        (vec!["-p", "80/sctp"], "protocol"),
        (vec!["--network", "nosuch"], "network nosuch not found"),
        (vec!["--ip", "10.1.2.3"], "user defined networks only"),
        (vec!["--add-host", "nohost"], "--add-host"),
    ] {
        let mut full = vec!["run", "-d"];
        full.extend(args.iter().copied());
        full.extend(["busybox", "true"]);
        let out = env.run(&full);
        assert_eq!(code(&out), 125, "{full:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(words),
            "{full:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(env.run_ok(&["ps", "-aq"]), "", "nothing was created");
    // A port already published: refused at start, nothing of the second container's network
    // stays, and the first keeps its port.
    let port = free_port();
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "-p",
        &format!("{port}:80"),
        "nginx",
    ]);
    let second = env.run(&[
        "run",
        "-d",
        "--name",
        "second",
        "-p",
        &format!("{port}:80"),
        "nginx",
    ]);
    assert_eq!(code(&second), 125);
    assert!(
        text(&second.stderr).contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{}",
        text(&second.stderr)
    );
    assert_eq!(veths_of(&env), 1);
    assert_eq!(inspect(&env, "second", "{{.State.Status}}"), "created");
    // The same port on one address of the host collides with it on all of them.
    let local = env.run(&[
        "run",
        "-d",
        "--name",
        "local",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sleep",
        "5",
    ]);
    assert_eq!(code(&local), 125);
    assert!(
        text(&local.stderr).contains(&format!(
            "Bind for 127.0.0.1:{port} failed: port is already allocated"
        )),
        "{}",
        text(&local.stderr)
    );
    assert_eq!(veths_of(&env), 1);
    assert!(curl(None, &format!("http://127.0.0.1:{port}/")).is_some());
    // A port a host process listens on is refused too.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let taken = listener.local_addr().unwrap().port();
    let out = env.run(&[
        "run",
        "-d",
        "--name",
        "third",
        "-p",
        &format!("{taken}:80"),
        "busybox",
        "sleep",
        "5",
    ]);
    assert_eq!(code(&out), 125, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("port is already allocated"));
    // Networks: overlapping subnets, pre-defined networks.
    let spare = env.spare_subnet();
    env.run_ok(&[
        "network",
        "create",
        "--subnet",
        &spare.replace(".0/24", ".0/25"),
        "one",
    ]);
    let overlap = env.run(&[
        "network",
        "create",
        "--subnet",
        &spare.replace(".0/24", ".0/26"),
        "two",
    ]);
    assert_eq!(code(&overlap), 1);
    assert!(
        text(&overlap.stderr).contains("overlaps"),
        "{}",
        text(&overlap.stderr)
    );
    let builtin = env.run(&["network", "rm", "bridge"]);
    assert!(
        text(&builtin.stderr).contains("pre-defined"),
        "{}",
        text(&builtin.stderr)
    );
    env.run_ok(&["network", "rm", "one"]);
    env.run_ok(&["rm", "-f", "first", "second", "third", "local"]);
    let ls = env.run_ok(&["ps", "-aq"]);
    assert_eq!(ls, "");
}

#[test]
fn a_start_that_died_after_connecting_is_undone_by_the_next_command() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let port = free_port();
    let id = env.run_ok(&[
        "run",
        "-d",
        "--name",
        "w1",
        "-p",
        &format!("{port}:80"),
        "nginx",
    ]);
    let id = id.trim();
    // Make the record look as a `mini start` that was killed after connecting and before it
    // recorded the container as running: an endpoint, status `created`, no monitor.
    let record_path = env.root.join("containers").join(id).join("config.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    let monitor = record["State"]["MonitorPid"].as_i64().unwrap() as i32;
    // SAFETY: a plain kill(2) of the pid mini's own record names as the monitor.
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    record["State"]["Status"] = "created".into();
    record["State"]["Pid"] = 0.into();
    record["State"]["MonitorPid"] = 0.into();
    std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();
    assert!(
        nft_table(&env).contains("ctr-"),
        "the stale DNAT is there before the repair"
    );
    assert_eq!(veths_of(&env), 1);
    // The next command notices and undoes it: no stale DNAT captures the port.
    env.run_ok(&["ps", "-a"]);
    assert!(!nft_table(&env).contains("ctr-"), "{}", nft_table(&env));
    assert_eq!(veths_of(&env), 0);
    assert!(!env.runroot.join("netns").join(id).exists());
    // And the container starts again on the same port.
    env.run_ok(&["start", "w1"]);
    assert!(curl(None, &format!("http://127.0.0.1:{port}/")).is_some_and(|b| b.contains("nginx")));
    env.run_ok(&["rm", "-f", "w1"]);
}

#[test]
fn containers_on_a_user_network_resolve_each_other_by_name_and_alias() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let subnet = env.spare_subnet();
    env.run_ok(&["network", "create", "--subnet", &subnet, "lab"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "lab",
        "--network-alias",
        "www",
        "nginx",
    ]);
    let web_ip = inspect(&env, "web", "{{.NetworkSettings.Networks.lab.IPAddress}}");
    let gateway = inspect(&env, "web", "{{.NetworkSettings.Networks.lab.Gateway}}");
    // The nameserver is the network's gateway, where its DNS responder listens.
    let resolv = env.run_ok(&[
        "run",
        "--rm",
        "--network",
        "lab",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        resolv.contains(&format!("nameserver {gateway}")),
        "{resolv}"
    );
    for name in [
        "web",
        "www",
        "web.lab",
        &inspect(&env, "web", "{{.Id}}")[..12],
    ] {
        let out = env.run_ok(&[
            "run",
            "--rm",
            "--network",
            "lab",
            "busybox",
            "nslookup",
            name,
        ]);
        assert!(out.contains(&format!("Address: {web_ip}")), "{name}: {out}");
    }
    let page = env.run_ok(&[
        "run",
        "--rm",
        "--network",
        "lab",
        "busybox",
        "timeout",
        "10",
        "wget",
        "-qO-",
        "http://www/",
    ]);
    assert!(page.contains("Welcome to nginx!"), "{page}");
    // A container that joins later is found, and finds the others.
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
    let db_ip = inspect(&env, "db", "{{.NetworkSettings.Networks.lab.IPAddress}}");
    let hosts = env.run_ok(&["exec", "web", "getent", "hosts", "db"]);
    assert!(hosts.starts_with(&db_ip), "{hosts}");
    // The default bridge has no names, as in Docker; another network does not see these.
    let on_bridge = env.run(&["run", "--rm", "busybox", "nslookup", "web"]);
    assert!(!text(&on_bridge.stdout).contains(&web_ip));
    env.run_ok(&[
        "network",
        "create",
        "--subnet",
        &env.spare_subnet(),
        "other",
    ]);
    let elsewhere = env.run(&[
        "run",
        "--rm",
        "--network",
        "other",
        "busybox",
        "nslookup",
        "web",
    ]);
    assert_ne!(code(&elsewhere), 0, "{}", text(&elsewhere.stdout));
    // A removed container's name is gone at once.
    env.run_ok(&["rm", "-f", "web"]);
    let gone = env.run(&["exec", "db", "nslookup", "web"]);
    assert_ne!(code(&gone), 0);
    assert!(
        text(&gone.stdout).contains("NXDOMAIN"),
        "{}",
        text(&gone.stdout)
    );
    // The last container out stops the responder: no process is left (the leak check sees it).
    env.run_ok(&["rm", "-f", "db"]);
    let responders = std::process::Command::new("pgrep")
        .args(["-f", &format!("{} __dns", env.runroot.display())])
        .output()
        .unwrap();
    assert_eq!(
        text(&responders.stdout),
        "",
        "a DNS responder is still running"
    );
    env.run_ok(&["network", "rm", "lab", "other"]);
}

/// Docker's filter table as it stands on a host where Docker runs (`iptables-save`): FORWARD
/// drops whatever Docker's own bridge does not account for, after jumping to `DOCKER-USER`.
const DOCKER_FILTER: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
";

/// A network namespace that plays a whole host (its own firewall), deleted when dropped.
struct HostNetns(String);

impl HostNetns {
    fn new(tag: &str) -> HostNetns {
        let name = format!("mini-host-{tag}");
        mini_tests::host::run("ip", &["netns", "add", &name]);
        let ns = HostNetns(name);
        mini_tests::host::run("ip", &["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// A command run in the namespace (its network only).
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.0)).arg(program);
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        mini_tests::host::check(self.command(program).args(args))
    }
}

impl Drop for HostNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .output();
    }
}

#[test]
fn beside_dockers_forward_drop_and_after_a_flush_with_network_reload() {
    let (mut env, _registry) = lab(&["busybox", "nginx"]);
    env.run_ok(&["pull", "-q", "nginx"]);
    env.run_ok(&["pull", "-q", "busybox"]);
    // This test's mini runs on a host of its own, which has Docker's firewall.
    let host = HostNetns::new(&env.tag);
    env.netns = Some(host.0.clone());
    let ext = ExternalHost::of_netns(&env.tag, &host.0);
    mini_tests::host::output_with_input(
        &mut host.command("iptables-restore"),
        DOCKER_FILTER.as_bytes(),
    );
    assert!(host.run("iptables", &["-S"]).contains("-P FORWARD DROP"));

    env.run_ok(&["run", "-d", "--name", "w1", "-p", "8080:80", "nginx"]);
    let url = format!("http://{}:8080/", ext.host_addr);
    let page = curl(Some(&ext), &url).expect("the published port through Docker's FORWARD DROP");
    assert!(page.contains("Welcome to nginx!"), "{page}");
    // Containers reach the outside through it too.
    let server = ext.serve_once(8081);
    let out = env.run_ok(&[
        "run",
        "--rm",
        "busybox",
        "timeout",
        "10",
        "wget",
        "-qO-",
        &format!("http://{}:8081/", ext.addr),
    ]);
    assert_eq!(out, "hello from outside\n");
    assert!(server.join().unwrap().is_some());
    // mini's rules sit in DOCKER-USER, before Docker's RETURN, and say whose they are.
    let user = host.run("iptables", &["-S", "DOCKER-USER"]);
    let lines: Vec<&str> = user.lines().collect();
    let bridge = env.bridge_name();
    assert_eq!(lines.len(), 4, "{user}");
    assert!(lines[1..3]
        .iter()
        .all(|l| l.contains(&format!("mini network bridge ({bridge})"))));
    assert_eq!(lines[3], "-A DOCKER-USER -j RETURN");

    // Someone flushes the firewall: mini's NAT and accept rules are gone, nothing passes...
    host.run("nft", &["flush", "table", "ip", &env.nft_table()]);
    host.run("iptables", &["-F", "DOCKER-USER"]);
    host.run("iptables", &["-A", "DOCKER-USER", "-j", "RETURN"]);
    assert_eq!(curl(Some(&ext), &url), None);
    // ... until `mini network reload` makes them anew from mini's records.
    env.run_ok(&["network", "reload"]);
    let page = curl(Some(&ext), &url).expect("the published port after network reload");
    assert!(page.contains("Welcome to nginx!"), "{page}");
    assert_eq!(host.run("iptables", &["-S", "DOCKER-USER"]), user);

    // A user network's rules come with its first container and go with the network.
    env.run_ok(&["network", "create", "--subnet", &env.spare_subnet(), "lab"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "lab",
        "busybox",
        "sleep",
        "300",
    ]);
    assert!(host
        .run("iptables", &["-S", "DOCKER-USER"])
        .contains("mini network lab ("));
    env.run_ok(&["rm", "-f", "c1", "w1"]);
    env.run_ok(&["network", "rm", "lab"]);
    let after = host.run("iptables", &["-S", "DOCKER-USER"]);
    assert!(!after.contains("mini network lab ("), "{after}");
    // Nothing of the containers is left on this host either.
    let links = host.run("ip", &["-o", "link"]);
    assert!(!links.contains("veth"), "{links}");
}

#[test]
fn network_connect_disconnect_and_a_containers_network() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    env.run_ok(&[
        "network",
        "create",
        "--subnet",
        &env.spare_subnet(),
        "front",
    ]);
    env.run_ok(&["network", "create", "--subnet", &env.spare_subnet(), "back"]);
    env.run_ok(&["run", "-d", "--name", "web", "--network", "front", "nginx"]);
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "back",
        "busybox",
        "sleep",
        "300",
    ]);
    let fetch = |host: &str| {
        env.run(&[
            "exec",
            "app",
            "timeout",
            "10",
            "wget",
            "-qO-",
            &format!("http://{host}/"),
        ])
    };
    assert_ne!(code(&fetch("web")), 0, "web is not on app's network yet");

    // Connected while it runs: a second interface at once, and its names on that network.
    env.run_ok(&["network", "connect", "--alias", "api", "back", "web"]);
    let back_ip = inspect(&env, "web", "{{.NetworkSettings.Networks.back.IPAddress}}");
    let front_ip = inspect(&env, "web", "{{.NetworkSettings.Networks.front.IPAddress}}");
    assert!(!back_ip.is_empty() && !front_ip.is_empty());
    let addrs = env.run_ok(&["exec", "web", "ip", "-o", "-4", "addr"]);
    assert!(
        addrs.contains(&format!("eth0    inet {front_ip}/")),
        "{addrs}"
    );
    assert!(
        addrs.contains(&format!("eth1    inet {back_ip}/")),
        "{addrs}"
    );
    // Its default route stays on its first network.
    let routes = env.run_ok(&["exec", "web", "ip", "route"]);
    assert!(
        routes.contains("default via") && routes.contains("dev eth0"),
        "{routes}"
    );
    for name in ["web", "api"] {
        let page = fetch(name);
        assert!(
            text(&page.stdout).contains("Welcome to nginx!"),
            "{name}: {page:?}"
        );
    }
    let members = env.run_ok(&["network", "inspect", "-f", "{{json .Containers}}", "back"]);
    assert!(
        members.contains("\"web\"") && members.contains("\"app\""),
        "{members}"
    );
    let again = env.run(&["network", "connect", "back", "web"]);
    assert_eq!(code(&again), 1);
    assert!(text(&again.stderr).contains("endpoint with name web already exists in network back"));

    // Disconnected: the interface and the names go.
    env.run_ok(&["network", "disconnect", "back", "web"]);
    let addrs = env.run_ok(&["exec", "web", "ip", "-o", "-4", "addr"]);
    assert!(!addrs.contains("eth1"), "{addrs}");
    assert_ne!(code(&fetch("api")), 0);
    let again = env.run(&["network", "disconnect", "back", "web"]);
    assert!(text(&again.stderr).contains("is not connected to network back"));
    // A container of the default bridge (no names there) that joins a user network asks that
    // network's DNS from then on.
    env.run_ok(&["run", "-d", "--name", "solo", "busybox", "sleep", "300"]);
    env.run_ok(&["network", "connect", "back", "solo"]);
    let app_ip = inspect(&env, "app", "{{.NetworkSettings.Networks.back.IPAddress}}");
    let found = env.run_ok(&["exec", "solo", "nslookup", "app"]);
    assert!(found.contains(&format!("Address: {app_ip}")), "{found}");
    env.run_ok(&["network", "disconnect", "back", "solo"]);
    let resolv = env.run_ok(&["exec", "solo", "cat", "/etc/resolv.conf"]);
    assert!(
        !resolv.contains(&inspect(
            &env,
            "app",
            "{{.NetworkSettings.Networks.back.Gateway}}"
        )),
        "{resolv}"
    );
    env.run_ok(&["rm", "-f", "solo"]);

    // A stopped container is connected when it starts, and keeps the network until removed.
    env.run_ok(&["stop", "web"]);
    env.run_ok(&["network", "connect", "back", "web"]);
    assert_eq!(
        inspect(&env, "web", "{{.NetworkSettings.Networks.back.IPAddress}}"),
        ""
    );
    env.run_ok(&["start", "web"]);
    let back_ip = inspect(&env, "web", "{{.NetworkSettings.Networks.back.IPAddress}}");
    let addrs = env.run_ok(&["exec", "web", "ip", "-o", "-4", "addr"]);
    assert!(
        addrs.contains(&format!("eth1    inet {back_ip}/")),
        "{addrs}"
    );
    // A network a stopped container is still on is in use.
    env.run_ok(&["stop", "web"]);
    let busy = env.run(&["network", "rm", "back"]);
    assert_eq!(code(&busy), 1);
    assert!(
        text(&busy.stderr).contains("has active endpoints (web, app)")
            || text(&busy.stderr).contains("has active endpoints (app, web)"),
        "{}",
        text(&busy.stderr)
    );
    env.run_ok(&["start", "web"]);

    // --network container:web: web's own network namespace, addresses and /etc/hosts.
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:web",
        "busybox",
        "sleep",
        "300",
    ]);
    let page = env.run_ok(&[
        "exec",
        "side",
        "timeout",
        "10",
        "wget",
        "-qO-",
        "http://127.0.0.1/",
    ]);
    assert!(page.contains("Welcome to nginx!"), "{page}");
    let addrs = env.run_ok(&["exec", "side", "ip", "-o", "-4", "addr"]);
    assert!(addrs.contains(&back_ip), "{addrs}");
    let web_id = inspect(&env, "web", "{{.Id}}");
    assert_eq!(
        inspect(&env, "side", "{{.HostConfig.NetworkMode}}"),
        format!("container:{web_id}")
    );
    assert_eq!(
        env.run_ok(&["exec", "side", "hostname"]),
        env.run_ok(&["exec", "web", "hostname"])
    );
    let conflict = env.run(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "-p",
        "80",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&conflict), 125);
    assert!(text(&conflict.stderr).contains("conflicting options: port publishing"));
    env.run_ok(&["rm", "-f", "side"]);
    env.run_ok(&["stop", "web"]);
    let stopped = env.run(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&stopped), 125);
    assert!(
        text(&stopped.stderr).contains("cannot join network of a non running container"),
        "{}",
        text(&stopped.stderr)
    );

    env.run_ok(&["rm", "-f", "web", "app"]);
    env.run_ok(&["network", "rm", "front", "back"]);
    assert_eq!(veths_of(&env), 0);
}
