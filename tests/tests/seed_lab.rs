//! The seed lab, replayed command for command (docs/labs/seed-lab.en.md and seed-lab.ko.md):
//! w1 and w2 published on 8080 and 8181, `ps -a`, `inspect | grep IPAddr`, curl by address,
//! `cp index.html`, curl again, curl of the host's 192.168.137.101 from another machine (a
//! network namespace), the DNAT rules and their counters, then testos's overlay layers and a file
//! made in its UpperDir from the host. Each step asserts what the lab shows.
//!
//! The steps run as the guide writes them, in one bash session on the host (so `cd` carries over)
//! with `mini` on the PATH bound to this test's root, and in the external host for `docker2`'s
//! steps. The test then checks that both guides hold exactly these commands, in this order: the
//! guide cannot drift from what is tested. Only this instance's names differ from a fresh
//! machine's and are put in when a step runs: the subnet (172.18.0.x in the guide), the nft
//! table (`mini`) and the bridge (`mini0`).

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use mini_tests::host::{self, text};
use mini_tests::{ExternalHost, Registry, TestEnv};

const DONE: &str = "__mini_seed_lab_step_done__";

/// Where a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Machine {
    /// docker1, the host that runs mini.
    Host,
    /// docker2, the other machine on the lab's network.
    Other,
}

/// A bash session on the host, and the steps run so far.
/// Fields drop in order: the test environment, whose drop checks for leaks, goes last.
struct Lab {
    bash: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    steps: Vec<(Machine, String)>,
    /// (text in the guide, text for this instance), applied to each command before it runs.
    names: Vec<(String, String)>,
    other: ExternalHost,
    _registry: Registry,
    env: TestEnv,
}

impl Lab {
    fn new() -> Lab {
        let (env, registry) = mini_tests::lab(&["nginx", "debian"]);
        let other = ExternalHost::with_addresses(
            &env.tag,
            Ipv4Addr::new(192, 168, 137, 101),
            Ipv4Addr::new(192, 168, 137, 102),
            24,
        );
        // `mini` on the PATH is this build, bound to this test's root by mini's environment
        // variables, so the guide's command lines run as they are written.
        let bin = env.path("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(host::mini_bin(), bin.join("mini")).unwrap();
        let home = env.path("home");
        std::fs::create_dir(&home).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut bash = Command::new("bash")
            .args(["--norc", "--noprofile"])
            .current_dir(&home)
            .env("PATH", path)
            .env("HOME", &home)
            .env("MINI_ROOT", &env.root)
            .env("MINI_RUNROOT", &env.runroot)
            .env("MINI_CONFIG", &env.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bash");
        let mut stdin = bash.stdin.take().unwrap();
        writeln!(stdin, "exec 2>&1").unwrap();
        let stdout = BufReader::new(bash.stdout.take().unwrap());
        let prefix = env.subnet_addr(2);
        let prefix = prefix.trim_end_matches('2');
        let names = vec![
            ("172.18.0.".to_string(), prefix.to_string()),
            (
                "table ip mini".into(),
                format!("table ip {}", env.nft_table()),
            ),
            (
                "master mini0".into(),
                format!("master {}", env.bridge_name()),
            ),
        ];
        Lab {
            env,
            _registry: registry,
            other,
            bash,
            stdin,
            stdout,
            steps: Vec::new(),
            names,
        }
    }

    fn instance(&self, command: &str) -> String {
        self.names
            .iter()
            .fold(command.to_string(), |c, (from, to)| c.replace(from, to))
    }

    /// Runs a step on docker1; returns its output (stdout and stderr) and exit status.
    fn host(&mut self, command: &str) -> (String, i32) {
        self.steps.push((Machine::Host, command.to_string()));
        let line = self.instance(command);
        // The mark starts a line of its own even when the output does not end with one.
        writeln!(self.stdin, "{line}\nprintf '\\n{DONE} %s\\n' $?").unwrap();
        self.stdin.flush().unwrap();
        let mut output = String::new();
        loop {
            let mut buf = String::new();
            let n = self
                .stdout
                .read_line(&mut buf)
                .expect("read the step's output");
            assert!(n > 0, "bash ended during `{line}`:\n{output}");
            if let Some(status) = buf.strip_prefix(&format!("{DONE} ")) {
                // The newline printed before the mark is not the step's.
                output.pop();
                return (output, status.trim().parse().unwrap());
            }
            output.push_str(&buf);
        }
    }

    /// A docker1 step that must succeed; its output.
    fn ok(&mut self, command: &str) -> String {
        let (output, status) = self.host(command);
        assert_eq!(status, 0, "`{command}` failed:\n{output}");
        output
    }

    /// A docker2 step; must succeed; its stdout.
    fn other(&mut self, command: &str) -> String {
        self.steps.push((Machine::Other, command.to_string()));
        let out = host::output(
            self.other
                .command("bash")
                .args(["-c", &self.instance(command)]),
        );
        assert!(
            out.status.success(),
            "`{command}` on docker2 failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.bash.kill();
        let _ = self.bash.wait();
    }
}

/// The commands of a guide's console blocks, with the machine each runs on.
fn guide_steps(name: &str) -> Vec<(Machine, String)> {
    let path = host::repo_root().join("docs/labs").join(name);
    let guide =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut steps = Vec::new();
    let mut in_console = false;
    for line in guide.lines() {
        if line.starts_with("```") {
            in_console = line == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        for (prompt, machine) in [
            ("root@docker1:", Machine::Host),
            ("root@docker2:", Machine::Other),
        ] {
            if let Some(rest) = line.strip_prefix(prompt) {
                let (_, command) = rest
                    .split_once("# ")
                    .unwrap_or_else(|| panic!("{name}: no prompt end in {line:?}"));
                steps.push((machine, command.to_string()));
            }
        }
    }
    steps
}

#[test]
fn the_seed_lab_runs_command_for_command() {
    let mut lab = Lab::new();
    let ip = |n: u8, lab: &Lab| lab.env.subnet_addr(n);

    // 1. Two web servers, published on the host's 8080 and 8181.
    for (name, port) in [("w1", 8080), ("w2", 8181)] {
        let out = lab.ok(&format!(
            "mini container run -d --name {name} -p {port}:80 nginx"
        ));
        let id = out.lines().last().unwrap_or_default();
        assert!(
            id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{out}"
        );
    }
    let ps = lab.ok("mini container ps -a");
    let rows: Vec<&str> = ps.lines().collect();
    assert_eq!(rows.len(), 3, "{ps}");
    for heading in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(rows[0].contains(heading), "{ps}");
    }
    for (row, name, port) in [(rows[1], "w2", 8181), (rows[2], "w1", 8080)] {
        assert!(row.contains("nginx     \"/docker-entrypoint.…\""), "{ps}");
        assert!(row.contains(" Up "), "{ps}");
        assert!(
            row.ends_with(&format!("0.0.0.0:{port}->80/tcp   {name}")),
            "{ps}"
        );
    }
    for (name, n) in [("w1", 2), ("w2", 3)] {
        let grep = lab.ok(&format!("mini container inspect {name} | grep IPAddr"));
        let address = ip(n, &lab);
        assert_eq!(
            grep,
            format!(
                "            \"SecondaryIPAddresses\": null,\n            \"IPAddress\": \"{address}\",\n                    \"IPAddress\": \"{address}\",\n"
            )
        );
    }
    let veths = lab.ok("ip -br link show master mini0");
    assert_eq!(
        veths.lines().filter(|l| l.starts_with("veth")).count(),
        2,
        "{veths}"
    );
    // Not a step of the lab: nginx listens a moment after `run -d` returns.
    for n in [2, 3] {
        let url = format!("http://{}/", ip(n, &lab));
        let up = (0..50).any(|_| {
            let ok = std::process::Command::new("curl")
                .args(["-sf", "-m", "2", "-o", "/dev/null", &url])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            ok
        });
        assert!(up, "{url} does not answer");
    }
    for address in ["172.18.0.2", "172.18.0.3"] {
        let page = lab.ok(&format!("curl -sf http://{address}"));
        assert!(page.contains("<title>Welcome to nginx!</title>"), "{page}");
    }

    // 2. cp into the running containers; the pages change.
    for name in ["w1", "w2"] {
        lab.ok(&format!("echo Welcome to the {name} service > index.html"));
        let out = lab.ok(&format!(
            "mini container cp index.html {name}:/usr/share/nginx/html/index.html"
        ));
        assert_eq!(out, "");
    }
    assert_eq!(
        lab.ok("curl -sf http://172.18.0.2"),
        "Welcome to the w1 service\n"
    );
    assert_eq!(
        lab.ok("curl -sf http://172.18.0.3"),
        "Welcome to the w2 service\n"
    );

    // 3. From the other machine, through the host's address and the published ports.
    assert_eq!(
        lab.other("curl -sf http://192.168.137.101:8080"),
        "Welcome to the w1 service\n"
    );
    assert_eq!(
        lab.other("curl -sf http://192.168.137.101:8181"),
        "Welcome to the w2 service\n"
    );
    let table = lab.ok("nft list table ip mini");
    for (n, port) in [(2, 8080), (3, 8181)] {
        let address = ip(n, &lab);
        let rule = table
            .lines()
            .find(|l| l.contains(&format!("dnat to {address}:80")))
            .unwrap_or_else(|| panic!("no DNAT to {address}:80 in:\n{table}"));
        assert!(
            rule.contains(&format!("tcp dport {port} counter packets ")),
            "{rule}"
        );
        let packets: u64 = rule
            .split("packets ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        assert!(
            packets >= 1,
            "the other machine's connection is counted: {rule}"
        );
    }
    assert!(table.contains("fib daddr type local"), "{table}");
    assert!(table.contains("masquerade"), "{table}");

    // 4. testos: the overlay layers, and a file made in its UpperDir from the host.
    let out = lab.ok("mini container run -itd --name=testos debian");
    assert_eq!(out.lines().last().unwrap_or_default().len(), 64, "{out}");
    let grep = lab.ok("mini container inspect testos | grep -C2 UpperDir");
    let lines: Vec<&str> = grep.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 5, "{grep}");
    let overlay = lab.env.root.join("overlay");
    let overlay = overlay.to_str().unwrap();
    for (line, key) in lines
        .iter()
        .zip(["LowerDir", "MergedDir", "UpperDir", "WorkDir"])
    {
        assert!(
            line.starts_with(&format!("\"{key}\": \"{overlay}/")),
            "{grep}"
        );
    }
    assert!(lines[0].contains("-init/diff:"), "{grep}");
    assert!(lines[2].ends_with("/diff\","), "{grep}");
    assert_eq!(lines[4], "},");
    lab.ok("cd $(mini container inspect -f '{{.GraphDriver.Data.UpperDir}}' testos)");
    lab.ok("touch containerfile");
    let listing = lab.ok("ls -l");
    assert!(
        listing.contains(" root root 0 ") && listing.trim_end().ends_with("containerfile"),
        "{listing}"
    );
    let inside = lab.ok("mini container exec testos /bin/ls -l containerfile");
    assert!(inside.starts_with("-rw-r--r-- 1 root root 0 "), "{inside}");
    assert!(inside.trim_end().ends_with(" containerfile"), "{inside}");
    lab.ok("cd");

    let removed = lab.ok("mini container rm -f w1 w2 testos");
    assert_eq!(removed, "w1\nw2\ntestos\n");

    // The guides hold these commands, in this order, in both languages.
    for guide in ["seed-lab.en.md", "seed-lab.ko.md"] {
        let written = guide_steps(guide);
        assert_eq!(
            written, lab.steps,
            "docs/labs/{guide} and the test disagree"
        );
    }
}
