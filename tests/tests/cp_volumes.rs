//! `mini cp` and volumes end to end: the lab's page replaced in a running nginx, copies out of
//! files, folders and tar streams, stopped containers, Docker's destination rules, a hostile
//! container that plants symlinks and swaps a directory for one during the copies (the host
//! must stay untouched), named, anonymous, bind and tmpfs mounts, data outliving `rm`, `volume`
//! commands, and bad input. The leak check (mounts included) runs after every test.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mini_tests::host::{code, free_port, text};
use mini_tests::{lab, TestEnv};

fn stderr(out: &Output) -> String {
    text(&out.stderr)
}

/// Mount points whose path names this test's folder, from our mount namespace.
fn mounts_under(env: &TestEnv) -> Vec<String> {
    let dir = env.path("");
    let dir = dir.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(dir.trim_end_matches('/')))
        .map(str::to_string)
        .collect()
}

fn curl(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "-m", "5", url])
        .output()
        .expect("run curl");
    out.status.success().then(|| text(&out.stdout))
}

/// Every path below `dir`, relative, sorted (symlinks listed, not followed).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(
                path.strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn the_labs_cp_replaces_nginxs_page_and_files_folders_and_streams_come_out() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let port = free_port();
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "w1",
        "-p",
        &format!("{port}:80"),
        "nginx",
    ]);
    let url = format!("http://127.0.0.1:{port}/");
    let mut served = None;
    for _ in 0..50 {
        served = curl(&url);
        if served.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(served.expect("nginx answers").contains("nginx"));

    // The lab's step, with its short form `container cp`.
    let page = env.path("index.html");
    std::fs::write(&page, "<h1>Hello from mini</h1>\n").unwrap();
    std::fs::set_permissions(&page, std::fs::Permissions::from_mode(0o604)).unwrap();
    let page_arg = page.to_str().unwrap();
    env.run_ok(&[
        "container",
        "cp",
        page_arg,
        "w1:/usr/share/nginx/html/index.html",
    ]);
    assert_eq!(curl(&url).as_deref(), Some("<h1>Hello from mini</h1>\n"));
    let inside = env.run_ok(&[
        "exec",
        "w1",
        "stat",
        "-c",
        "%a %u",
        "/usr/share/nginx/html/index.html",
    ]);
    assert_eq!(inside.trim(), "604 0", "mode kept, owned by root");

    // A file out, with its mode and time.
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    env.run_ok(&["cp", "w1:/etc/nginx/nginx.conf", out.to_str().unwrap()]);
    let copied = out.join("nginx.conf");
    let original = env.run_ok(&["exec", "w1", "cat", "/etc/nginx/nginx.conf"]);
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), original);
    let stamp = env.run_ok(&["exec", "w1", "stat", "-c", "%Y", "/etc/nginx/nginx.conf"]);
    assert_eq!(
        std::fs::metadata(&copied).unwrap().mtime().to_string(),
        stamp.trim()
    );

    // A folder out: to a new name, into an existing folder, and its content only with `/.`.
    env.run_ok(&["cp", "w1:/etc/nginx", out.join("conf").to_str().unwrap()]);
    assert!(out.join("conf/nginx.conf").is_file());
    assert!(out.join("conf/conf.d").is_dir());
    env.run_ok(&["cp", "w1:/etc/nginx", out.to_str().unwrap()]);
    assert!(out.join("nginx/nginx.conf").is_file());
    let flat = env.path("flat");
    std::fs::create_dir(&flat).unwrap();
    env.run_ok(&["cp", "w1:/etc/nginx/.", flat.to_str().unwrap()]);
    assert!(flat.join("nginx.conf").is_file());
    assert_eq!(tree(&flat), tree(&out.join("conf")));

    // `-`: a tar stream out, and one in.
    let tar_out = host_output(env.mini().args(["cp", "w1:/etc/nginx/conf.d", "-"]));
    assert!(tar_out.status.success(), "{}", stderr(&tar_out));
    let listing = tar_list(&tar_out.stdout);
    assert_eq!(listing, ["conf.d", "conf.d/default.conf"]);
    let src = env.path("tarsrc");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/a.txt"), "from a tar stream\n").unwrap();
    let archive = Command::new("tar")
        .args(["-C", src.to_str().unwrap(), "-cf", "-", "sub"])
        .output()
        .unwrap();
    let done = mini_tests::host::output_with_input(
        env.mini().args(["cp", "-", "w1:/tmp"]),
        &archive.stdout,
    );
    assert!(done.status.success(), "{}", stderr(&done));
    assert_eq!(
        env.run_ok(&["exec", "w1", "cat", "/tmp/sub/a.txt"]),
        "from a tar stream\n"
    );
    env.run_ok(&["rm", "-f", "w1"]);
}

fn host_output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run mini")
}

fn tar_list(archive: &[u8]) -> Vec<String> {
    let out = mini_tests::host::output_with_input(Command::new("tar").args(["-tf", "-"]), archive);
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn cp_follows_dockers_rules_for_destinations_and_refuses_bad_paths() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    env.run_ok(&["run", "-d", "--name", "c1", "busybox", "sleep", "300"]);
    let file = env.path("f.txt");
    std::fs::write(&file, "f\n").unwrap();
    let f = file.to_str().unwrap();
    let dir = env.path("d");
    std::fs::create_dir_all(dir.join("inner")).unwrap();
    std::fs::write(dir.join("inner/x"), "x\n").unwrap();
    let d = dir.to_str().unwrap();
    let ls = |path: &str| env.run(&["exec", "c1", "ls", "-1", path]);

    // A file to a new name, into a folder, over a file.
    env.run_ok(&["cp", f, "c1:/tmp/new.txt"]);
    env.run_ok(&["cp", f, "c1:/tmp"]);
    env.run_ok(&["cp", f, "c1:/etc/motd"]);
    assert_eq!(
        env.run_ok(&[
            "exec",
            "c1",
            "cat",
            "/tmp/new.txt",
            "/tmp/f.txt",
            "/etc/motd"
        ]),
        "f\nf\nf\n"
    );
    // Owners: root's in the container, unless -a keeps them.
    let owned = env.path("owned.txt");
    std::fs::write(&owned, "o\n").unwrap();
    std::os::unix::fs::chown(&owned, Some(1234), Some(2345)).unwrap();
    let o = owned.to_str().unwrap();
    env.run_ok(&["cp", o, "c1:/tmp/plain.txt"]);
    env.run_ok(&["cp", "-a", o, "c1:/tmp/kept.txt"]);
    let owners = env.run_ok(&[
        "exec",
        "c1",
        "stat",
        "-c",
        "%u:%g",
        "/tmp/plain.txt",
        "/tmp/kept.txt",
    ]);
    assert_eq!(owners, "0:0\n1234:2345\n");
    // A folder to a new name, into a folder, its content with /.
    env.run_ok(&["cp", d, "c1:/made"]);
    env.run_ok(&["cp", d, "c1:/tmp"]);
    env.run_ok(&["exec", "c1", "mkdir", "/flat"]);
    env.run_ok(&["cp", &format!("{d}/."), "c1:/flat"]);
    for path in ["/made/inner/x", "/tmp/d/inner/x", "/flat/inner/x"] {
        assert_eq!(env.run_ok(&["exec", "c1", "cat", path]), "x\n", "{path}");
    }

    // Errors: Docker's words, exit 1, and nothing written.
    let missing = env.run(&["cp", "c1:/nope", env.path("x").to_str().unwrap()]);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("Could not find the file /nope in container c1"),
        "{}",
        stderr(&missing)
    );
    assert!(!env.path("x").exists());
    let no_parent = env.run(&["cp", f, "c1:/no/such/dir/f"]);
    assert_eq!(code(&no_parent), 1);
    assert!(
        stderr(&no_parent).contains("Could not find the file /no/such/dir"),
        "{}",
        stderr(&no_parent)
    );
    let must_exist = env.run(&["cp", f, "c1:/newdir/"]);
    assert_eq!(code(&must_exist), 1);
    assert_eq!(code(&ls("/newdir")), 1, "nothing made");
    let dir_on_file = env.run(&["cp", d, "c1:/etc/motd"]);
    assert_eq!(code(&dir_on_file), 1);
    assert!(
        stderr(&dir_on_file).contains("cannot overwrite non-directory"),
        "{}",
        stderr(&dir_on_file)
    );
    let not_dir = env.run(&["cp", "c1:/etc/motd/", env.path("y").to_str().unwrap()]);
    assert_eq!(code(&not_dir), 1);
    assert!(
        stderr(&not_dir).contains("not a directory"),
        "{}",
        stderr(&not_dir)
    );
    let host_missing = env.run(&["cp", env.path("nothing").to_str().unwrap(), "c1:/tmp"]);
    assert_eq!(code(&host_missing), 1);
    assert!(
        stderr(&host_missing).contains("no such file or directory"),
        "{}",
        stderr(&host_missing)
    );
    let two_hosts = env.run(&["cp", f, env.path("z").to_str().unwrap()]);
    assert_eq!(code(&two_hosts), 125);
    assert!(stderr(&two_hosts).contains("must specify at least one container source"));
    let unknown = env.run(&["cp", f, "ghost:/tmp"]);
    assert_eq!(code(&unknown), 1);
    assert!(
        stderr(&unknown).contains("No such container: ghost"),
        "{}",
        stderr(&unknown)
    );
    env.run_ok(&["rm", "-f", "c1"]);
}

#[test]
fn cp_works_on_stopped_containers_and_mounts_nothing_on_the_host() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let vol = env.path("vol-src");
    std::fs::create_dir(&vol).unwrap();
    let bind = format!("{}:/bound", vol.display());
    env.run_ok(&[
        "create",
        "--name",
        "s1",
        "-v",
        "named1:/data",
        "-v",
        &bind,
        "busybox",
        "cat",
        "/data/in.txt",
        "/bound/b.txt",
        "/etc/in.txt",
    ]);
    let file = env.path("in.txt");
    std::fs::write(&file, "stopped\n").unwrap();
    let f = file.to_str().unwrap();
    let before = mounts_under(&env);
    env.run_ok(&["cp", f, "s1:/etc/in.txt"]);
    // Into a volume and a bind of a container that never ran: the data lands in them.
    env.run_ok(&["cp", f, "s1:/data/in.txt"]);
    std::fs::write(env.path("b.txt"), "bound\n").unwrap();
    env.run_ok(&["cp", env.path("b.txt").to_str().unwrap(), "s1:/bound/"]);
    assert_eq!(
        std::fs::read_to_string(vol.join("b.txt")).unwrap(),
        "bound\n"
    );
    let volume_dir = text(
        &env.run(&["volume", "inspect", "-f", "{{.Mountpoint}}", "named1"])
            .stdout,
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(volume_dir.trim()).join("in.txt")).unwrap(),
        "stopped\n"
    );
    assert_eq!(
        mounts_under(&env),
        before,
        "cp of a stopped container mounts nothing on the host"
    );
    // And out again.
    env.run_ok(&[
        "cp",
        "s1:/etc/in.txt",
        env.path("back.txt").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(env.path("back.txt")).unwrap(),
        "stopped\n"
    );
    let out = env.run_ok(&["start", "-a", "s1"]);
    assert_eq!(out, "stopped\nbound\nstopped\n");
    // Stopped again: still works after a run.
    env.run_ok(&[
        "cp",
        "s1:/data/in.txt",
        env.path("again.txt").to_str().unwrap(),
    ]);
    assert_eq!(mounts_under(&env), before);
    env.run_ok(&["rm", "s1"]);
    env.run_ok(&["volume", "rm", "named1"]);
}

/// The container plants symlinks to the host's files (absolute and relative, to `/` and up
/// with `..`) and keeps swapping a directory for such a symlink while the copies run. No copy
/// may read the host's secret or write into the host's folder; what they do inside the container
/// is their business.
#[test]
fn a_hostile_container_cannot_make_cp_read_or_write_the_host() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    let target = env.path("host-target");
    std::fs::create_dir(&target).unwrap();
    let secret = env.path("host-secret");
    std::fs::write(&secret, "HOST SECRET\n").unwrap();
    let t = target.to_str().unwrap().to_string();
    let s = secret.to_str().unwrap().to_string();
    env.run_ok(&["run", "-d", "--name", "evil", "busybox", "sleep", "600"]);
    let plant = format!(
        "ln -s {t} /abs-dir && ln -s ../../../../../../../..{t} /rel-dir && ln -s / /root-link && \
         ln -s {s} /abs-secret && ln -s ../../../../../../..{s} /rel-secret && \
         mkdir -p /tree/sub && ln -s / /tree/sub/up && ln -s {s} /tree/sub/secret"
    );
    env.run_ok(&["exec", "evil", "sh", "-c", &plant]);
    let payload = env.path("payload.txt");
    std::fs::write(&payload, "payload\n").unwrap();
    let p = payload.to_str().unwrap();
    let out_dir = env.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    let o = out_dir.to_str().unwrap();

    // Writes through planted symlinks stay in the container (or fail).
    for dest in [
        "evil:/abs-dir/pwned",
        "evil:/rel-dir/pwned",
        "evil:/abs-dir/",
        "evil:/rel-dir",
    ] {
        let _ = env.run(&["cp", p, dest]);
    }
    let _ = env.run(&["cp", p, "evil:/root-link/pwned-root"]);
    assert!(Path::new("/pwned-root").symlink_metadata().is_err());
    assert_eq!(
        env.run_ok(&["exec", "evil", "cat", "/pwned-root"]),
        "payload\n",
        "/root-link is the container's own /"
    );
    // Reads through planted symlinks never see the host's file.
    for src in [
        "evil:/abs-secret",
        "evil:/rel-secret",
        "evil:/rel-dir/../host-secret",
    ] {
        for flags in [&[][..], &["-L"][..]] {
            let dest = out_dir.join("read");
            let mut args = vec!["cp"];
            args.extend_from_slice(flags);
            args.extend([src, dest.to_str().unwrap()]);
            let _ = env.run(&args);
            // A symlink may come out as a symlink (pointing where it likes on the host, as
            // with Docker); a file that came out must not hold the host's data.
            if dest.symlink_metadata().is_ok_and(|m| m.is_file()) {
                let content = std::fs::read_to_string(&dest).unwrap();
                assert!(
                    !content.contains("HOST SECRET"),
                    "{src} {flags:?} read the host"
                );
            }
            let _ = std::fs::remove_file(&dest);
        }
    }
    // A tree with symlinks inside comes out with the symlinks as symlinks.
    env.run_ok(&["cp", "evil:/tree", o]);
    let up = out_dir.join("tree/sub/up");
    assert!(up.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_link(&up).unwrap(), Path::new("/"));
    assert_eq!(tree(&out_dir.join("tree")), ["sub", "sub/secret", "sub/up"]);

    // A device node and a set-user-ID file planted in the container do not come out as such:
    // the host gets no raw disk and no root shell (as root runs mini).
    env.run_ok(&[
        "exec", "evil", "sh", "-c",
        "mkdir /planted && mknod /planted/disk b 8 0 && cp /bin/busybox /planted/suid && chmod 4755 /planted/suid",
    ]);
    env.run_ok(&["cp", "evil:/planted", o]);
    assert_eq!(tree(&out_dir.join("planted")), ["suid"], "no device node");
    let mode = std::fs::metadata(out_dir.join("planted/suid"))
        .unwrap()
        .mode();
    assert_eq!(mode & 0o7777, 0o755, "set-user-ID dropped");

    // The container's /proc and /sys are not the copy's business: not read, not written.
    let kmsg = env.run(&["cp", "evil:/proc/kmsg", o]);
    assert_eq!(code(&kmsg), 1);
    assert!(
        stderr(&kmsg).contains("kernel file system"),
        "{}",
        stderr(&kmsg)
    );
    let into_proc = env.run(&["cp", p, "evil:/proc/sys/kernel/"]);
    assert_eq!(code(&into_proc), 1);
    assert!(
        stderr(&into_proc).contains("kernel file system"),
        "{}",
        stderr(&into_proc)
    );
    // The whole root comes out (without hanging on /proc/kmsg), its kernel file systems left out.
    let whole = out_dir.join("whole");
    env.run_ok(&["cp", "evil:/", whole.to_str().unwrap()]);
    assert!(whole.join("bin/busybox").is_file());
    assert!(!whole.join("proc/kmsg").exists() && !whole.join("sys/kernel").exists());

    // The swap: /race/d is a directory, then a symlink to the host's folder, over and over.
    let race = format!(
        "mkdir -p /race; while true; do rm -rf /race/d; mkdir /race/d; echo in > /race/d/f; \
         rm -rf /race/d; ln -s {t} /race/d; done"
    );
    env.run_ok(&["exec", "-d", "evil", "sh", "-c", &race]);
    let src_dir = env.path("srcdir");
    std::fs::create_dir_all(src_dir.join("a/b")).unwrap();
    std::fs::write(src_dir.join("a/b/c"), "c\n").unwrap();
    for i in 0..40 {
        let _ = env.run(&["cp", src_dir.to_str().unwrap(), "evil:/race/d/"]);
        let _ = env.run(&["cp", p, "evil:/race/d/f"]);
        let dest = out_dir.join(format!("race{i}"));
        let _ = env.run(&["cp", "evil:/race/d", dest.to_str().unwrap()]);
        // A fresh destination: one that an earlier copy made may be a symlink the container
        // chose, and a destination that is a symlink is followed (as Docker's client does).
        let dest = out_dir.join(format!("race{i}-f"));
        let _ = env.run(&["cp", "-L", "evil:/race/d/f", dest.to_str().unwrap()]);
    }
    assert_eq!(
        tree(&target),
        Vec::<String>::new(),
        "the host's folder was written"
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "HOST SECRET\n");
    for entry in tree(&out_dir) {
        let path = out_dir.join(&entry);
        if path.symlink_metadata().unwrap().is_file() {
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !content.contains("HOST SECRET"),
                "{entry} holds the host's secret"
            );
        }
    }
    // Nothing was written outside the destinations: the test folder holds only what it made.
    let mut top: Vec<String> = std::fs::read_dir(env.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    for name in &top {
        assert!(
            [
                "config.toml",
                "host-secret",
                "host-target",
                "out",
                "payload.txt",
                "registry",
                "root",
                "run",
                "srcdir"
            ]
            .contains(&name.as_str()),
            "unexpected {name} in the test folder: {top:?}"
        );
    }
    env.run_ok(&["rm", "-f", "evil"]);
}

#[test]
fn volumes_named_anonymous_bind_and_tmpfs_and_data_outlives_rm() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    // A new named volume on a non-empty image folder is filled from the image first.
    env.run_ok(&[
        "run",
        "--rm",
        "-v",
        "html:/usr/share/nginx/html",
        "nginx",
        "true",
    ]);
    let listed = env.run_ok(&["run", "--rm", "-v", "html:/h", "busybox", "ls", "/h"]);
    assert!(listed.contains("index.html"), "{listed}");
    // nocopy leaves a new volume empty.
    let empty = env.run_ok(&[
        "run",
        "--rm",
        "-v",
        "bare:/usr/share/nginx/html:nocopy",
        "nginx",
        "ls",
        "-A",
        "/usr/share/nginx/html",
    ]);
    assert_eq!(empty, "");

    // Data survives the container.
    env.run_ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    env.run_ok(&["rm", "writer"]);
    assert_eq!(
        env.run_ok(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"]),
        "kept\n"
    );
    // --mount, read-only: writes fail inside.
    let ro = env.run(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=data,dst=/d,readonly",
        "busybox",
        "sh",
        "-c",
        "echo x > /d/g",
    ]);
    assert_ne!(code(&ro), 0);
    // A volume in use cannot be removed.
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "-v",
        "data:/data",
        "busybox",
        "sleep",
        "300",
    ]);
    let busy = env.run(&["volume", "rm", "data"]);
    assert_eq!(code(&busy), 1);
    assert!(
        stderr(&busy).contains("volume is in use"),
        "{}",
        stderr(&busy)
    );
    // --volumes-from shares it.
    let shared = env.run_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "user:ro",
        "busybox",
        "cat",
        "/data/f",
    ]);
    assert_eq!(shared, "kept\n");
    let inspect = env.run_ok(&["inspect", "-f", "{{json .Mounts}}", "user"]);
    let mounts: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "data");
    assert_eq!(mounts[0]["Destination"], "/data");
    assert_eq!(mounts[0]["Driver"], "local");
    assert_eq!(mounts[0]["RW"], true);
    env.run_ok(&["rm", "-f", "user"]);

    // Binds: the host folder is made for -v, writes show on the host; :ro refuses them.
    let host_dir = env.path("bind-me");
    let spec = format!("{}:/b", host_dir.display());
    env.run_ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo from-container > /b/w",
    ]);
    assert_eq!(
        std::fs::read_to_string(host_dir.join("w")).unwrap(),
        "from-container\n"
    );
    let ro_spec = format!("{}:/b:ro", host_dir.display());
    let refused = env.run(&[
        "run",
        "--rm",
        "-v",
        &ro_spec,
        "busybox",
        "sh",
        "-c",
        "echo no > /b/w2",
    ]);
    assert_ne!(code(&refused), 0);
    assert!(!host_dir.join("w2").exists());
    // tmpfs.
    let fs = env.run_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,dst=/scratch",
        "busybox",
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts",
    ]);
    assert!(fs.starts_with("tmpfs /scratch tmpfs"), "{fs}");

    // Anonymous volumes: `rm -v` removes them, `volume prune` removes the unused ones.
    env.run_ok(&[
        "run", "-d", "--name", "anon1", "-v", "/cache", "busybox", "sleep", "300",
    ]);
    env.run_ok(&[
        "run", "-d", "--name", "anon2", "-v", "/cache", "busybox", "sleep", "300",
    ]);
    let names = |env: &TestEnv| -> Vec<String> {
        env.run_ok(&["volume", "ls", "-q"])
            .lines()
            .map(str::to_string)
            .collect()
    };
    let anon_of = |name: &str| {
        let mounts: serde_json::Value =
            serde_json::from_str(&env.run_ok(&["inspect", "-f", "{{json .Mounts}}", name]))
                .unwrap();
        mounts[0]["Name"].as_str().unwrap().to_string()
    };
    let (a1, a2) = (anon_of("anon1"), anon_of("anon2"));
    assert_eq!(a1.len(), 64);
    env.run_ok(&["rm", "-fv", "anon1"]);
    assert!(!names(&env).contains(&a1));
    env.run_ok(&["rm", "-f", "anon2"]);
    assert!(names(&env).contains(&a2), "rm without -v keeps it");
    let pruned = env.run_ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains(&a2), "{pruned}");
    let mut left = names(&env);
    left.sort();
    assert_eq!(left, ["bare", "data", "html"], "named volumes stay");
    let all = env.run_ok(&["volume", "prune", "-af"]);
    assert!(
        all.contains("data") && all.contains("Total reclaimed space"),
        "{all}"
    );
    assert_eq!(names(&env), Vec::<String>::new());
}

#[test]
fn volume_commands_and_bad_input() {
    let (env, _registry) = lab(&["busybox", "nginx"]);
    assert_eq!(env.run_ok(&["volume", "create", "v1"]).trim(), "v1");
    env.run_ok(&["volume", "create", "--label", "team=lab", "v2"]);
    let listed = env.run_ok(&["volume", "ls"]);
    assert!(listed.starts_with("DRIVER    VOLUME NAME\n"), "{listed}");
    assert!(listed.contains("local     v1\n"), "{listed}");
    let filtered = env.run_ok(&["volume", "ls", "-q", "--filter", "label=team=lab"]);
    assert_eq!(filtered, "v2\n");
    let info: serde_json::Value =
        serde_json::from_str(&env.run_ok(&["volume", "inspect", "v2"])).unwrap();
    assert_eq!(info[0]["Name"], "v2");
    assert_eq!(info[0]["Driver"], "local");
    assert_eq!(info[0]["Labels"]["team"], "lab");
    assert!(info[0]["Mountpoint"]
        .as_str()
        .unwrap()
        .ends_with("/volumes/v2/_data"));

    let containers_before = env.run_ok(&["ps", "-aq"]);
    let volumes_before = env.run_ok(&["volume", "ls", "-q"]);
    for (spec, words) in [
        (
            vec!["-v", "a:b:c:d"],
            "invalid volume specification: 'a:b:c:d'",
        ),
        (vec!["-v", "v1:relative"], "mount path must be absolute"),
        (vec!["-v", "v1:/x:bogus"], "invalid mode: bogus"),
        (
            vec!["-v", "./dir:/x"],
            "If you intended to pass a host directory",
        ),
        (
            vec!["--mount", "type=bind,src=/no/such/path,dst=/x"],
            "bind source path does not exist: /no/such/path",
        ),
        (
            vec!["--mount", "type=volume,dst=/x,color=red"],
            "unexpected key 'color'",
        ),
        (
            vec!["-v", "fresh:/a", "-v", "fresh2:/a"],
            "Duplicate mount point: /a",
        ),
        (vec!["--volumes-from", "ghost"], "No such container: ghost"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(spec.iter().copied());
        args.extend(["busybox", "true"]);
        let out = env.run(&args);
        assert_eq!(code(&out), 125, "{spec:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(words), "{spec:?}: {}", stderr(&out));
    }
    assert_eq!(
        env.run_ok(&["ps", "-aq"]),
        containers_before,
        "no container left"
    );
    assert_eq!(
        env.run_ok(&["volume", "ls", "-q"]),
        volumes_before,
        "no volume made"
    );

    let missing = env.run(&["volume", "inspect", "nope"]);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("get nope: no such volume"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(code(&env.run(&["volume", "rm", "nope"])), 1);
    assert_eq!(code(&env.run(&["volume", "rm", "-f", "nope"])), 0);
    let bad_name = env.run(&["volume", "create", "a/b"]);
    assert_eq!(code(&bad_name), 1);
    assert!(stderr(&bad_name).contains("includes invalid characters"));

    // A read-only destination: refused before anything is written.
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "ro",
        "-v",
        "v1:/data:ro",
        "--read-only",
        "busybox",
        "sleep",
        "300",
    ]);
    let file = env.path("f");
    std::fs::write(&file, "f\n").unwrap();
    // Running, then stopped (its mounts made again, read-only as they were).
    for stop in [false, true] {
        if stop {
            env.run_ok(&["stop", "-t", "1", "ro"]);
        }
        for dest in ["ro:/data/f", "ro:/tmp/f"] {
            let out = env.run(&["cp", file.to_str().unwrap(), dest]);
            assert_eq!(code(&out), 1, "{dest}");
            assert!(
                stderr(&out).contains("read-only"),
                "{dest} (stopped: {stop}): {}",
                stderr(&out)
            );
        }
    }
    // The copies of the stopped container let it go: it starts at once.
    env.run_ok(&["start", "ro"]);
    let mountpoint = text(
        &env.run(&["volume", "inspect", "-f", "{{.Mountpoint}}", "v1"])
            .stdout,
    );
    assert_eq!(tree(Path::new(mountpoint.trim())), Vec::<String>::new());
    env.run_ok(&["rm", "-f", "ro"]);
    env.run_ok(&["volume", "rm", "v1", "v2"]);
}

#[test]
fn an_images_volume_gets_an_anonymous_volume_filled_from_the_image() {
    use mini_tests::oci::{self, Flavour, Image, LayerTar};
    let (env, registry) = lab(&["busybox"]);
    let layer = LayerTar::new()
        .dir("data")
        .file("data/seed.txt", "from the image\n")
        .finish();
    let arch = if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "amd64"
    };
    let image = Image::new(&[layer], Flavour::Oci, true, arch)
        .with_config(serde_json::json!({"Volumes": {"/data": {}}}));
    let layout = env.path("layout-volimg");
    oci::write_layout(&layout, &[image], false);
    registry.push_layout(&layout, "library/volimg:latest", None);

    env.run_ok(&["create", "--name", "v1", "volimg"]);
    let mounts: serde_json::Value =
        serde_json::from_str(&env.run_ok(&["inspect", "-f", "{{json .Mounts}}", "v1"])).unwrap();
    assert_eq!(mounts.as_array().unwrap().len(), 1, "{mounts}");
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Destination"], "/data");
    let name = mounts[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    let source = mounts[0]["Source"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(Path::new(source).join("seed.txt")).unwrap(),
        "from the image\n"
    );
    assert_eq!(
        env.run_ok(&["inspect", "-f", "{{json .Config.Volumes}}", "v1"])
            .trim(),
        "{\"/data\":{}}"
    );
    // A mount of the user's on that path replaces the anonymous volume.
    env.run_ok(&["create", "--name", "v2", "-v", "mine:/data", "volimg"]);
    let mounts: serde_json::Value =
        serde_json::from_str(&env.run_ok(&["inspect", "-f", "{{json .Mounts}}", "v2"])).unwrap();
    assert_eq!(mounts.as_array().unwrap().len(), 1);
    assert_eq!(mounts[0]["Name"], "mine");
    env.run_ok(&["rm", "-v", "v1", "v2"]);
    let left: Vec<String> = env
        .run_ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        left,
        ["mine"],
        "rm -v removes the anonymous volume, not the named one"
    );
    env.run_ok(&["volume", "rm", "mine"]);
}
