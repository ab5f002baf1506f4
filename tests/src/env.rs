//! One test's private world: directories, config, the `mini` command, and the leak check.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::host;
use crate::leaks::{self, Leak};

/// A test's own root directory, runtime directory and config for `mini`, under a fresh folder
/// that nothing else uses. Dropping it checks for leaks (see [`leaks`]), removes whatever leaked
/// and the folder, and then fails the test if anything had leaked.
#[derive(Debug)]
pub struct TestEnv {
    /// Short, unique, lowercase: goes into every name this test makes (links, netns, tables).
    pub tag: String,
    /// The folder that holds everything below.
    pub dir: PathBuf,
    /// `mini --root`.
    pub root: PathBuf,
    /// `mini --runroot`.
    pub runroot: PathBuf,
    /// `MINI_CONFIG` for this test's `mini` commands.
    pub config: PathBuf,
    /// The default network's subnet, a /24 of 10.200.0.0/13 no other test or route has.
    pub subnet: String,
    /// A network namespace (`ip netns` name) that this test's `mini` runs in, as if it were
    /// another host; None for the host's own.
    pub netns: Option<String>,
}

/// A /24 for a test's default network: random in 10.200.0.0/13, not routed on the host and
/// not given to another test of this process (mini makes the route only when the bridge
/// appears, so the routes alone cannot tell).
pub fn pick_subnet() -> String {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u32>>> = Mutex::new(None);
    let routes = host::run("ip", &["-4", "route", "show", "table", "all"]);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let start = u32::from_str_radix(&host::random_hex(4), 16).unwrap_or(0) % 2048;
    let n = (0..2048u32)
        .map(|i| (start + i) % 2048)
        .find(|n| {
            let prefix = format!("10.{}.{}.", 200 + n / 256, n % 256);
            !given.contains(n) && !routes.contains(&prefix)
        })
        .expect("a free /24 in 10.200.0.0/13");
    given.insert(n);
    format!("10.{}.{}.0/24", 200 + n / 256, n % 256)
}

impl TestEnv {
    /// Makes a fresh environment. Needs root, as every end-to-end test does.
    pub fn new() -> TestEnv {
        host::require_root();
        let (tag, dir) = loop {
            // "e" first so the tag never reads as a number; five hex digits keep link names short.
            let tag = format!("e{}", host::random_hex(5));
            let dir = std::env::temp_dir().join(format!("mini-e2e-{tag}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => break (tag, dir),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => panic!("create {}: {err}", dir.display()),
            }
        };
        let env = TestEnv {
            root: dir.join("root"),
            runroot: dir.join("run"),
            config: dir.join("config.toml"),
            subnet: pick_subnet(),
            netns: None,
            tag,
            dir,
        };
        for path in [&env.root, &env.runroot] {
            std::fs::create_dir(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        }
        env.write_config("");
        env
    }

    /// A `mini` command bound to this environment's root, runtime root and config.
    pub fn mini(&self) -> Command {
        self.mini_from(&host::mini_bin())
    }

    /// As `mini`, with the binary at `program` (a copy of it, say).
    pub fn mini_from(&self, program: &Path) -> Command {
        self.mini_in(program, self.netns.as_deref())
    }

    /// As `mini_from`, in network namespace `netns` (None: the host's).
    fn mini_in(&self, program: &Path, netns: Option<&str>) -> Command {
        let mut cmd = match netns {
            None => Command::new(program),
            Some(netns) => {
                // Only the network namespace: mounts, cgroups and processes stay the host's.
                let mut cmd = Command::new("nsenter");
                cmd.arg(format!("--net=/run/netns/{netns}")).arg(program);
                cmd
            }
        };
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .env("MINI_CONFIG", &self.config)
            .env_remove("MINI_ROOT")
            .env_remove("MINI_RUNROOT");
        cmd
    }

    /// Runs `mini ARGS...` in this environment and returns what it did, success or not.
    pub fn run(&self, args: &[&str]) -> Output {
        host::output(self.mini().args(args))
    }

    /// Runs `mini ARGS...`, insists that it succeeds, and returns what it printed on stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mini {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes this test's config: `registry-mirrors` pointing at `registry` (plain http), so that
    /// short names (`nginx`) pull from it as from Docker Hub.
    pub fn use_mirror(&self, registry: &crate::Registry) {
        self.write_config(&format!(
            "registry-mirrors = [\"http://{}\"]\n",
            registry.addr
        ));
    }

    /// Writes this test's config: `extra`, and the cgroup parent `/mini-<tag>` that keeps this
    /// test's container cgroups apart (and findable by the leak check).
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "# mini config for one end-to-end test\ncgroup-parent = \"{}\"\nbridge-name = \"{}\"\ndefault-subnet = \"{}\"\nnft-table = \"{}\"\n{extra}",
            self.cgroup_parent(),
            self.bridge_name(),
            self.subnet,
            self.nft_table(),
        );
        std::fs::write(&self.config, text)
            .unwrap_or_else(|e| panic!("write {}: {e}", self.config.display()));
    }

    /// This test's default bridge (`mb<tag>`, short enough for an interface name).
    pub fn bridge_name(&self) -> String {
        format!("mb{}", self.tag)
    }

    /// Another /24 no test or route has, for a user network.
    pub fn spare_subnet(&self) -> String {
        pick_subnet()
    }

    /// This test's nftables table.
    pub fn nft_table(&self) -> String {
        format!("mini-{}", self.tag)
    }

    /// This test's default network's gateway (`.1` of its subnet) and the nth container
    /// address (`.2` is the first).
    pub fn subnet_addr(&self, n: u8) -> String {
        let base = self.subnet.trim_end_matches("0/24");
        format!("{base}{n}")
    }

    /// The cgroup this test's containers' cgroups go below.
    pub fn cgroup_parent(&self) -> String {
        format!("/mini-{}", self.tag)
    }

    /// What mini keeps for an instance while it lives, as Docker keeps docker0 and /docker:
    /// the default network's bridge, nft table and accept rules, and the cgroup parent. Any
    /// other resource still there when a test ends is a leak of the test's containers.
    fn kept_by_the_instance(&self, leak: &Leak) -> bool {
        match leak {
            Leak::Link { name } => *name == self.bridge_name(),
            Leak::NftTable { name, .. } => *name == self.nft_table(),
            Leak::IptablesRule { rule } => rule.contains(&format!("({})", self.bridge_name())),
            Leak::Cgroup { path } => path
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == format!("mini-{}", self.tag)),
            _ => false,
        }
    }

    /// `mini system reset -f` on this test's instance: what it printed when it failed.
    fn reset(&self) -> Option<String> {
        if !self.root.exists() && !self.runroot.exists() {
            return None;
        }
        // The test's own host namespace may be gone by now: its links and rules went with it,
        // and the rest (mounts, processes, cgroups, folders) is the host's.
        let netns = self
            .netns
            .as_deref()
            .filter(|n| Path::new("/run/netns").join(n).exists());
        let out = host::output(
            self.mini_in(&host::mini_bin(), netns)
                .args(["system", "reset", "-f"]),
        );
        (!out.status.success()).then(|| {
            format!(
                "mini system reset -f failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
    }

    /// A path inside this test's folder.
    pub fn path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.join(name)
    }

    /// What this test has on the host right now that it should not keep once it ends.
    pub fn leaks(&self) -> Vec<Leak> {
        leaks::find(&self.dir, &self.tag)
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

impl Drop for TestEnv {
    /// Leaks of the test's containers are looked for first; then `mini system reset` takes the
    /// instance away, and whatever it could not take away is a leak too.
    fn drop(&mut self) {
        let mut found: Vec<Leak> = self
            .leaks()
            .into_iter()
            .filter(|leak| !self.kept_by_the_instance(leak))
            .collect();
        let mut errors = leaks::clean(&found);
        let reset_failed = self.reset();
        let after = self.leaks();
        errors.extend(leaks::clean(&after));
        for leak in after {
            if !found.contains(&leak) {
                found.push(leak);
            }
        }
        // Never delete through a mount that survived the cleanup: it could be a host folder.
        let still_mounted = self.leaks().iter().any(|l| matches!(l, Leak::Mount { .. }));
        if still_mounted {
            eprintln!(
                "warning: {} still has mounts; not removing it",
                self.dir.display()
            );
        } else if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("warning: cannot remove {}: {err}", self.dir.display());
        }
        if (found.is_empty() && reset_failed.is_none()) || std::thread::panicking() {
            return;
        }
        let mut report = format!("test leaked {} resource(s) on the host:", found.len());
        for leak in &found {
            report.push_str(&format!("\n  - {leak}"));
        }
        if let Some(failure) = reset_failed {
            report.push_str(&format!("\nand {failure}"));
        }
        if !errors.is_empty() {
            report.push_str("\nand cleaning them up failed:");
            for err in &errors {
                report.push_str(&format!("\n  - {err}"));
            }
        }
        panic!("{report}");
    }
}
