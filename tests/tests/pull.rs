//! `mini pull` and `mini images` against a real registry: short names through a mirror, layer
//! sharing, whiteouts and opaque folders in the merged view, indexes with several platforms,
//! OCI and Docker media types, corrupt blobs, hostile layers, interrupted pulls, bad input.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mini_tests::host::{self, run};
use mini_tests::oci::{self, Flavour, Image, LayerTar};
use mini_tests::{images, Registry, TestEnv};

fn stdout(out: &Output) -> String {
    host::text(&out.stdout)
}

fn stderr(out: &Output) -> String {
    host::text(&out.stderr)
}

/// The unpacked layers in the store (`overlay/<chain>`), without `l/` and temporaries.
fn layer_dirs(env: &TestEnv) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(env.root.join("overlay")) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != "l"))
        .collect();
    dirs.sort();
    dirs
}

fn temporaries(env: &TestEnv) -> Vec<String> {
    let mut found = Vec::new();
    for dir in [env.root.join("overlay"), env.root.join("blobs/sha256")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") {
                    found.push(name);
                }
            }
        }
    }
    found
}

fn layers_of(layout: &Path) -> Vec<String> {
    images::manifest(layout)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn short(digest: &str) -> &str {
    &digest[7..19]
}

/// The rows of `mini images` below its header.
fn image_rows(env: &TestEnv) -> Vec<Vec<String>> {
    let out = env.run_ok(&["images"]);
    let mut lines = out.lines();
    let header = lines.next().expect("a header line");
    let columns: Vec<&str> = header
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        "{header}"
    );
    lines
        .map(|l| {
            l.split("   ")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect()
}

/// The host's architecture as OCI names it, and another one.
fn arches() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "aarch64" => ("arm64", "amd64"),
        _ => ("amd64", "arm64"),
    }
}

/// Pushes a hand-made image to the registry as `repo:latest`.
fn push_image(env: &TestEnv, registry: &Registry, repo: &str, images: &[Image], index: bool) {
    let layout = env.path(format!("layout-{}", repo.replace('/', "-")));
    oci::write_layout(&layout, images, index);
    registry.push_layout(&layout, &format!("{repo}:latest"), None);
}

#[test]
fn short_names_pull_through_the_mirror_and_layers_are_shared() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    registry.push_library(&["debian", "nginx"]);
    env.use_mirror(&registry);
    let debian_layers = layers_of(&images::layout("debian"));
    let nginx_layers = layers_of(&images::layout("nginx"));

    let out = env.run_ok(&["pull", "debian"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Using default tag: latest", "{out}");
    assert_eq!(lines[1], "latest: Pulling from library/debian", "{out}");
    assert!(
        lines.contains(&format!("{}: Pull complete", short(&debian_layers[0])).as_str()),
        "{out}"
    );
    assert!(
        lines.contains(&"Status: Downloaded newer image for debian:latest"),
        "{out}"
    );
    assert_eq!(
        lines.last(),
        Some(&"docker.io/library/debian:latest"),
        "{out}"
    );

    let out = env.run_ok(&["pull", "nginx"]);
    assert!(
        out.contains(&format!("{}: Already exists", short(&nginx_layers[0]))),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: Pull complete", short(&nginx_layers[1]))),
        "{out}"
    );
    assert!(
        !out.contains(&format!("{}: Pull complete", short(&nginx_layers[0]))),
        "{out}"
    );

    // One copy of the shared base: two layer folders for two images of three layers.
    let dirs = layer_dirs(&env);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let top = dirs
        .iter()
        .find(|d| d.join("lower").exists())
        .expect("nginx's own layer has a lower file");
    assert!(top.join("diff/usr/sbin/nginx").is_file());
    let base = dirs.iter().find(|d| !d.join("lower").exists()).unwrap();
    let base_link = std::fs::read_to_string(base.join("link")).unwrap();
    assert_eq!(
        std::fs::read_to_string(top.join("lower")).unwrap(),
        format!("l/{base_link}")
    );
    assert_eq!(
        std::fs::read_link(env.root.join("overlay/l").join(&base_link)).unwrap(),
        Path::new("..").join(base.file_name().unwrap()).join("diff")
    );
    assert!(base.join("diff/usr/bin/bash").is_file());

    let out = env.run_ok(&["pull", "nginx"]);
    assert!(
        out.contains("Status: Image is up to date for nginx:latest"),
        "{out}"
    );
    assert!(!out.contains("Pull complete"), "{out}");

    let rows = image_rows(&env);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let nginx_id = images::manifest(&images::layout("nginx"))["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let nginx_row = rows
        .iter()
        .find(|r| r[0] == "nginx")
        .expect("nginx is listed");
    assert_eq!(nginx_row[1], "latest");
    assert_eq!(nginx_row[2], short(&nginx_id));
    assert!(nginx_row[3].ends_with(" ago"), "{nginx_row:?}");
    assert!(nginx_row[4].ends_with("MB"), "{nginx_row:?}");
    assert!(rows.iter().any(|r| r[0] == "debian" && r[1] == "latest"));
    let quiet = env.run_ok(&["images", "-q"]);
    assert_eq!(quiet.lines().count(), 2);
    assert!(env
        .run_ok(&["image", "ls", "--no-trunc"])
        .contains(&nginx_id));
    drop(registry);
}

#[test]
fn whiteouts_and_opaque_folders_give_the_right_merged_view() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    let lower = LayerTar::new()
        .dir("etc/")
        .file("etc/keep", "kept")
        .file("etc/gone", "deleted above")
        .dir("data/")
        .file("data/old", "hidden by the opaque folder")
        .dir("data/sub/")
        .file("data/sub/x", "hidden too")
        .finish();
    let upper = LayerTar::new()
        .dir("etc/")
        .whiteout("etc/", "gone")
        .dir("data/")
        .opaque("data/")
        .file("data/new", "new")
        .finish();
    push_image(
        &env,
        &registry,
        "layered",
        &[Image::new(&[lower, upper], Flavour::Oci, true, arches().0)],
        false,
    );

    env.run_ok(&["pull", &format!("{}/layered", registry.addr)]);
    let dirs = layer_dirs(&env);
    let top = dirs
        .iter()
        .find(|d| d.join("lower").exists())
        .expect("two layers");
    let whiteout = std::fs::symlink_metadata(top.join("diff/etc/gone")).unwrap();
    assert!(
        whiteout.file_type().is_char_device(),
        "a whiteout is a character device"
    );
    assert!(!top.join("diff/etc/.wh.gone").exists());
    let opaque = run(
        "getfattr",
        &[
            "--only-values",
            "-n",
            "trusted.overlay.opaque",
            top.join("diff/data").to_str().unwrap(),
        ],
    );
    assert_eq!(opaque, "y");

    // Mount the two layers as a container's lowers would be, and look.
    let merged = env.path("merged");
    std::fs::create_dir(&merged).unwrap();
    let lowerdir = format!(
        "lowerdir=l/{}:{}",
        std::fs::read_to_string(top.join("link")).unwrap(),
        std::fs::read_to_string(top.join("lower")).unwrap()
    );
    host::check(
        Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &lowerdir])
            .arg(&merged)
            .current_dir(env.root.join("overlay")),
    );
    let seen = (
        std::fs::read_to_string(merged.join("etc/keep")).ok(),
        merged.join("etc/gone").exists(),
        merged.join("data/old").exists(),
        merged.join("data/sub").exists(),
        std::fs::read_to_string(merged.join("data/new")).ok(),
    );
    run("umount", &[merged.to_str().unwrap()]);
    assert_eq!(
        seen,
        (Some("kept".into()), false, false, false, Some("new".into()))
    );
    drop(registry);
}

#[test]
fn an_index_resolves_to_the_host_platform_or_the_one_asked_for() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    let (host_arch, other_arch) = arches();
    let image = |arch: &str| {
        Image::new(
            &[LayerTar::new().file("arch", arch).finish()],
            Flavour::Oci,
            true,
            arch,
        )
    };
    push_image(
        &env,
        &registry,
        "multi",
        &[image(other_arch), image(host_arch)],
        true,
    );
    let reference = format!("{}/multi", registry.addr);
    let arch_file = |env: &TestEnv| -> Vec<String> {
        layer_dirs(env)
            .iter()
            .filter_map(|d| std::fs::read_to_string(d.join("diff/arch")).ok())
            .collect()
    };

    env.run_ok(&["pull", &reference]);
    assert_eq!(arch_file(&env), vec![host_arch.to_string()]);

    env.run_ok(&[
        "pull",
        "--platform",
        &format!("linux/{other_arch}"),
        &reference,
    ]);
    let mut seen = arch_file(&env);
    seen.sort();
    let mut both = vec![host_arch.to_string(), other_arch.to_string()];
    both.sort();
    assert_eq!(seen, both);

    let out = env.run(&["pull", "--platform", "linux/s390x", &reference]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no matching manifest for linux/s390x"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["pull", "--platform", "linux", &reference]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    drop(registry);
}

#[test]
fn docker_media_types_and_zstd_and_uncompressed_layers_pull() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    // skopeo converts the busybox layout to Docker's v2 schema 2 media types on the way.
    registry.push_layout(
        &images::layout("busybox"),
        "busybox-docker:latest",
        Some("v2s2"),
    );
    let pushed = registry.inspect("busybox-docker:latest");
    let raw = host::check(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/busybox-docker:latest", registry.addr),
    ]));
    assert!(
        raw.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{raw}"
    );
    assert_eq!(pushed["Layers"].as_array().unwrap().len(), 1);
    env.run_ok(&["pull", &format!("{}/busybox-docker", registry.addr)]);
    assert!(layer_dirs(&env)
        .iter()
        .any(|d| d.join("diff/bin/busybox").is_file()));

    let plain = Image::new(
        &[LayerTar::new().file("hello", "uncompressed").finish()],
        Flavour::Oci,
        false,
        arches().0,
    );
    push_image(&env, &registry, "plain", &[plain], false);
    env.run_ok(&["pull", &format!("{}/plain", registry.addr)]);
    assert!(layer_dirs(&env)
        .iter()
        .any(|d| std::fs::read_to_string(d.join("diff/hello"))
            .ok()
            .as_deref()
            == Some("uncompressed")));
    let zstd = Image::compressed(
        &[LayerTar::new().file("hello-zstd", "zstd").finish()],
        Flavour::Oci,
        oci::Compression::Zstd,
        arches().0,
    );
    push_image(&env, &registry, "zstd", &[zstd], false);
    env.run_ok(&["pull", &format!("{}/zstd", registry.addr)]);
    assert!(layer_dirs(&env)
        .iter()
        .any(|d| std::fs::read_to_string(d.join("diff/hello-zstd"))
            .ok()
            .as_deref()
            == Some("zstd")));

    let rows = image_rows(&env);
    assert!(
        rows.iter()
            .any(|r| r[0] == format!("{}/busybox-docker", registry.addr)),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r[0] == format!("{}/plain", registry.addr)),
        "{rows:?}"
    );
    drop(registry);
}

#[test]
fn a_corrupt_blob_fails_the_pull_and_leaves_nothing() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    let image = Image::new(
        &[LayerTar::new().file("data", &"x".repeat(100_000)).finish()],
        Flavour::Oci,
        true,
        arches().0,
    );
    let layer_digest = oci::sha256(&image.layers[0]);
    push_image(&env, &registry, "fragile", &[image], false);
    let data = registry.blob_data(&layer_digest);
    let original = std::fs::read(&data).unwrap();
    let mut corrupt = original.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(&data, &corrupt).unwrap();

    let reference = format!("{}/fragile", registry.addr);
    let out = env.run(&["pull", &reference]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let message = stderr(&out);
    assert!(
        message.contains(&layer_digest[7..]) || message.contains(short(&layer_digest)),
        "{message}"
    );
    assert!(message.to_lowercase().contains("digest"), "{message}");
    assert_eq!(
        image_rows(&env),
        Vec::<Vec<String>>::new(),
        "a half-pulled image is never listed"
    );
    assert_eq!(layer_dirs(&env), Vec::<PathBuf>::new());
    assert!(!env
        .root
        .join("blobs/sha256")
        .join(&layer_digest[7..])
        .exists());
    assert_eq!(temporaries(&env), Vec::<String>::new());

    // Repaired, the same pull succeeds.
    std::fs::write(&data, &original).unwrap();
    env.run_ok(&["pull", &reference]);
    assert_eq!(image_rows(&env).len(), 1);
    drop(registry);
}

#[test]
fn hostile_layers_fail_and_the_host_is_untouched() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    let escape = env.path("escaped");
    let escape_rel = escape
        .strip_prefix("/")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            LayerTar::new()
                .file("../../../../../../../../tmp/mini-dotdot", "x")
                .finish(),
        ),
        (
            "symlink",
            LayerTar::new()
                .symlink("evil", "/")
                .file(&format!("evil/{escape_rel}"), "x")
                .finish(),
        ),
        (
            "hardlink",
            LayerTar::new().hardlink("passwd", "/etc/passwd").finish(),
        ),
        (
            "whiteout",
            LayerTar::new()
                .symlink("evil", "/")
                .whiteout(&format!("evil/{escape_rel}/"), "x")
                .finish(),
        ),
    ];
    let passwd_before = std::fs::metadata("/etc/passwd").unwrap();
    for (name, layer) in hostile {
        let image = Image::new(&[layer], Flavour::Oci, true, arches().0);
        push_image(&env, &registry, &format!("hostile-{name}"), &[image], false);
        let out = env.run(&["pull", &format!("{}/hostile-{name}", registry.addr)]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stderr(&out).contains("layer"), "{name}: {}", stderr(&out));
        assert!(!escape.exists(), "{name}: wrote outside the layer");
        assert!(
            !Path::new("/tmp/mini-dotdot").exists(),
            "{name}: wrote outside the layer"
        );
        assert_eq!(layer_dirs(&env), Vec::<PathBuf>::new(), "{name}");
        assert_eq!(temporaries(&env), Vec::<String>::new(), "{name}");
    }
    let passwd_after = std::fs::metadata("/etc/passwd").unwrap();
    assert_eq!(
        passwd_before.modified().unwrap(),
        passwd_after.modified().unwrap()
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        passwd_after.nlink(),
        passwd_before.nlink(),
        "no hard link to /etc/passwd was made"
    );
    assert_eq!(image_rows(&env), Vec::<Vec<String>>::new());
    drop(registry);
}

#[test]
fn an_interrupted_pull_leaves_nothing_that_breaks_the_next() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    registry.push(&["nginx"]);
    let reference = format!("{}/nginx", registry.addr);
    let mut child = env
        .mini()
        .args(["pull", &reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let status = child.wait().unwrap();
    // Killed half way, it lists nothing; only a pull that finished first may list its image.
    let rows = image_rows(&env);
    let expected = if status.success() { 1 } else { 0 };
    assert_eq!(rows.len(), expected, "{status}: {rows:?}");

    let out = env.run_ok(&["pull", &reference]);
    assert!(out.ends_with(&format!("{reference}:latest\n")), "{out}");
    assert_eq!(image_rows(&env).len(), 1);
    assert_eq!(layer_dirs(&env).len(), 2);
    assert_eq!(
        temporaries(&env),
        Vec::<String>::new(),
        "the killed pull's leftovers are gone"
    );
    drop(registry);
}

#[test]
fn bad_references_unknown_images_and_unreachable_registries_say_what_failed() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));

    let out = env.run(&["pull", "Nginx"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out)
            .contains("invalid reference format: repository name (Nginx) must be lowercase"),
        "{}",
        stderr(&out)
    );

    let out = env.run(&["pull", &format!("{}/nosuch:1.0", registry.addr)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nosuch"), "{}", stderr(&out));

    let out = env.run(&["pull", "127.0.0.1:1/busybox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));

    std::fs::write(&env.config, "registry-mirrors = [\"127.0.0.1:5000\"]\n").unwrap();
    let out = env.run(&["pull", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(env.config.to_str().unwrap()),
        "the error names the config file: {}",
        stderr(&out)
    );

    assert_eq!(image_rows(&env), Vec::<Vec<String>>::new());
    drop(registry);
}

/// A registry that answers every request with one HTTP status, for the error paths.
fn answering(status: &'static str) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let thread = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        // A few requests at most: the client may retry or probe /v2/ first.
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = r#"{"errors":[{"code":"UNKNOWN","message":"try later"}]}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, thread)
}

#[test]
fn registry_errors_and_a_full_disk_fail_cleanly() {
    let env = TestEnv::new();
    for status in [
        "503 Service Unavailable",
        "429 Too Many Requests",
        "500 Internal Server Error",
    ] {
        let (addr, _server) = answering(status);
        let out = env.run(&["pull", &format!("{addr}/busybox")]);
        assert_eq!(out.status.code(), Some(1), "{status}: {}", stdout(&out));
        let message = stderr(&out);
        assert!(
            message.contains(&addr),
            "{status}: the error names the registry: {message}"
        );
        assert!(
            message.contains(&status[..3]) || message.to_lowercase().contains("try later"),
            "{status}: {message}"
        );
    }

    // A root on a file system too small for the image: the pull fails, nothing is listed, and
    // once there is room the same pull succeeds.
    let registry = Registry::start(&env.path("registry"));
    registry.push(&["nginx"]);
    let small = env.path("small");
    std::fs::create_dir(&small).unwrap();
    run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            // 0700: mini refuses a root that every user may write (tmpfs's default, 1777).
            "size=8m,mode=0700",
            "small",
            small.to_str().unwrap(),
        ],
    );
    let reference = format!("{}/nginx", registry.addr);
    let on_small = |args: &[&str]| {
        host::output(
            Command::new(host::mini_bin())
                .arg("--root")
                .arg(&small)
                .arg("--runroot")
                .arg(&env.runroot)
                .env("MINI_CONFIG", &env.config)
                .args(args),
        )
    };
    let out = on_small(&["pull", &reference]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    let listed = on_small(&["images", "-q"]);
    assert_eq!(stdout(&listed), "", "a half-pulled image is never listed");
    run("umount", &[small.to_str().unwrap()]);
    drop(registry);
}
