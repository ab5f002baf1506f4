//! Images in and out: `diff`, `commit`, `save`/`load`, `push`, `export`/`import`, with real
//! peers on the other side (skopeo, a real registry; Docker itself in docker.rs).

use std::path::Path;

use mini_tests::host::{self, code, text};
use mini_tests::{lab, Registry, TestEnv};

/// What the first container of each test changes: a new file, a deleted one, a folder removed
/// and made again (opaque in overlay), and new folders.
const CHANGES: &str = "echo hi > /etc/motd; rm /bin/vi; rm -rf /home; mkdir /home; \
                       echo x > /home/new; mkdir -p /srv/a; echo 1 > /srv/a/f";

/// Runs the changing container `c1` and commits it as `mine:v1`; returns the new image's id.
fn committed(env: &TestEnv) -> String {
    env.run_ok(&[
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        CHANGES,
    ]);
    let id = env.run_ok(&[
        "commit",
        "-a",
        "Ada <ada@example.org>",
        "-m",
        "the first commit",
        "-c",
        "ENV GREETING=hello",
        "-c",
        r#"CMD ["cat", "/etc/motd"]"#,
        "c1",
        "mine:v1",
    ]);
    let id = id.trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "commit prints the new image's id: {id:?}"
    );
    id
}

/// What the committed image holds, as its container sees it.
fn check_committed_files(env: &TestEnv, image: &str) {
    assert_eq!(
        env.run_ok(&["run", "--rm", "--network", "none", image]),
        "hi\n"
    );
    let probe = "echo $GREETING; test -e /bin/vi || echo no vi; ls -A /home; cat /srv/a/f";
    assert_eq!(
        env.run_ok(&["run", "--rm", "--network", "none", image, "sh", "-c", probe]),
        "hello\nno vi\nnew\n1\n"
    );
}

fn inspect(env: &TestEnv, image: &str) -> serde_json::Value {
    let out = env.run_ok(&["image", "inspect", image]);
    let parsed: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
    parsed[0].clone()
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// How many blobs, layers and images the instance holds.
fn stored(env: &TestEnv) -> (usize, usize, String) {
    (
        count(&env.root.join("blobs/sha256")),
        count(&env.root.join("overlay")),
        env.run_ok(&["images", "-q", "--no-trunc"]),
    )
}

#[test]
fn diff_and_commit_make_an_image_of_what_a_container_changed() {
    let (env, _registry) = lab(&["busybox"]);
    let id = committed(&env);
    let base_layers = inspect(&env, "busybox")["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .len();
    // Docker's overlay2 diff: a whiteout is D, and so is a folder made opaque over one below.
    assert_eq!(
        env.run_ok(&["diff", "c1"]),
        "C /bin\nD /bin/vi\nC /etc\nA /etc/motd\nD /home\nA /home/new\nA /srv\nA /srv/a\nA /srv/a/f\n"
    );
    check_committed_files(&env, "mine:v1");
    let image = inspect(&env, "mine:v1");
    assert_eq!(image["Id"], id.as_str());
    assert_eq!(image["Author"], "Ada <ada@example.org>");
    assert_eq!(image["Comment"], "the first commit");
    assert_eq!(
        image["RootFS"]["Layers"].as_array().unwrap().len(),
        base_layers + 1
    );
    let history = env.run_ok(&["history", "mine:v1"]);
    let newest = history.lines().nth(1).unwrap();
    assert!(
        newest.contains("the first commit") && newest.contains("sh -c echo hi"),
        "{history}"
    );

    // A container that changed nothing: no new layer, an empty-layer history entry; without a
    // name the image is dangling.
    env.run_ok(&[
        "run",
        "--name",
        "c2",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    assert_eq!(env.run_ok(&["diff", "c2"]), "");
    let empty = env.run_ok(&["commit", "c2"]).trim().to_string();
    let image = inspect(&env, &empty);
    assert_eq!(
        image["RootFS"]["Layers"].as_array().unwrap().len(),
        base_layers
    );
    let listing = env.run_ok(&["images"]);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("<none> ") && l.contains(&empty[7..19])),
        "{listing}"
    );

    // Dangling images go with `image prune`; tagged ones and those under a container stay.
    let pruned = env.run_ok(&["image", "prune", "-f"]);
    assert!(pruned.contains(&format!("deleted: {empty}")), "{pruned}");
    assert!(env.run(&["image", "inspect", &empty]).status.code() == Some(1));
    assert!(env
        .run_ok(&["image", "prune", "-f"])
        .starts_with("Total reclaimed space: "));
    let pruned_all = env.run_ok(&["image", "prune", "-a", "-f"]);
    assert!(
        pruned_all.contains(&format!("deleted: {id}")),
        "{pruned_all}"
    );
    assert!(
        env.run(&["image", "inspect", "busybox"]).status.success(),
        "c1 uses busybox"
    );

    // A running container is committed (frozen meanwhile) and runs on afterwards.
    env.run_ok(&[
        "run",
        "-d",
        "--name",
        "c3",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo running > /r; exec sleep 100",
    ]);
    let mut ready = false;
    for _ in 0..100 {
        if env.run(&["exec", "c3", "cat", "/r"]).status.success() {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready, "c3 wrote /r");
    env.run_ok(&["commit", "c3", "live:1"]);
    assert_eq!(
        env.run_ok(&["run", "--rm", "--network", "none", "live:1", "cat", "/r"]),
        "running\n"
    );
    assert_eq!(env.run_ok(&["exec", "c3", "echo", "thawed"]), "thawed\n");
    env.run_ok(&["rm", "-f", "c3"]);

    // Bad input: Docker's messages and exit codes, and nothing stored.
    let before = stored(&env);
    let out = env.run(&["commit", "-c", "RUN ls", "c1", "bad:1"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("RUN is not a valid change command"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["commit", "nosuch"]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("No such container: nosuch"));
    let out = env.run(&["commit", "c1", "Bad:Name"]);
    assert_eq!(code(&out), 125);
    let out = env.run(&["diff", "nosuch"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stored(&env), before);
}

/// Rewrites a tar archive with `change` applied to each regular entry's bytes.
fn rewrite(archive: &Path, out: &Path, change: impl Fn(&str, &mut Vec<u8>)) {
    use std::io::Read;
    let mut input = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    for entry in input.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let mut header = entry.header().clone();
        if header.entry_type().is_file() {
            change(&name, &mut data);
            header.set_size(data.len() as u64);
        }
        header.set_cksum();
        builder.append(&header, &data[..]).unwrap();
    }
    builder.finish().unwrap();
}

#[test]
fn save_and_load_carry_images_in_dockers_and_ocis_archives() {
    let (env, _registry) = lab(&["busybox"]);
    let id = committed(&env);
    let busybox_id = inspect(&env, "busybox")["Id"].as_str().unwrap().to_string();
    let archive = env.path("images.tar");
    let archive_arg = archive.display().to_string();
    env.run_ok(&["save", "-o", &archive_arg, "mine:v1", "busybox"]);

    // Other tools read it, both as Docker's archive and as an OCI layout.
    let as_docker = host::run(
        "skopeo",
        &[
            "inspect",
            "--config",
            &format!("docker-archive:{archive_arg}:mine:v1"),
        ],
    );
    assert!(as_docker.contains("GREETING=hello"), "{as_docker}");
    let listed = host::run("tar", &["tf", &archive_arg]);
    for name in ["index.json", "manifest.json", "oci-layout", "repositories"] {
        assert!(listed.lines().any(|l| l == name), "{name} in {listed}");
    }
    let as_oci = host::run(
        "skopeo",
        &[
            "inspect",
            "--config",
            &format!("oci-archive:{archive_arg}:v1"),
        ],
    );
    assert!(as_oci.contains("GREETING=hello"), "{as_oci}");

    // Round trip: the same ids, names and files.
    env.run_ok(&["rm", "c1"]);
    env.run_ok(&["rmi", "mine:v1", "busybox"]);
    assert_eq!(env.run_ok(&["images", "-q"]), "");
    assert_eq!(
        env.run_ok(&["load", "-i", &archive_arg]),
        "Loaded image: mine:v1\nLoaded image: busybox:latest\n"
    );
    assert_eq!(inspect(&env, "mine:v1")["Id"], id.as_str());
    assert_eq!(inspect(&env, "busybox")["Id"], busybox_id.as_str());
    check_committed_files(&env, "mine:v1");
    let bytes = std::fs::read(&archive).unwrap();
    let out = host::output_with_input(env.mini().args(["load", "-q"]), &bytes);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Loaded image: mine:v1\nLoaded image: busybox:latest\n"
    );

    // skopeo's archives: Docker's older format (layer tars named by digest) and plain OCI.
    let layout = mini_tests::images::layout("busybox");
    let docker_archive = env.path("skopeo-docker.tar");
    let oci_archive = env.path("skopeo-oci.tar");
    host::run(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}:latest", layout.display()),
            &format!("docker-archive:{}:other/bb:1", docker_archive.display()),
        ],
    );
    host::run(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}:latest", layout.display()),
            &format!("oci-archive:{}:latest", oci_archive.display()),
        ],
    );
    assert_eq!(
        env.run_ok(&["load", "-i", &docker_archive.display().to_string()]),
        "Loaded image: other/bb:1\n"
    );
    assert_eq!(
        env.run_ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "other/bb:1",
            "echo",
            "ok"
        ]),
        "ok\n"
    );
    let loaded = env.run_ok(&["load", "-i", &oci_archive.display().to_string()]);
    assert!(loaded.starts_with("Loaded image ID: sha256:"), "{loaded}");

    // Corrupt and truncated archives are refused whole: nothing of them is stored.
    env.run_ok(&["rmi", "mine:v1"]);
    let before = stored(&env);
    let corrupt = env.path("corrupt.tar");
    rewrite(&archive, &corrupt, |name, data| {
        // The committed layer's blob: a gzip stream whose middle byte is flipped.
        if name.starts_with("blobs/sha256/") && data.starts_with(&[0x1f, 0x8b]) && data.len() < 4096
        {
            let middle = data.len() / 2;
            data[middle] ^= 0xff;
        }
    });
    let out = env.run(&["load", "-i", &corrupt.display().to_string()]);
    assert_eq!(code(&out), 1, "a corrupt layer is refused");
    let truncated = env.path("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = env.run(&["load", "-i", &truncated.display().to_string()]);
    assert_eq!(code(&out), 1, "a truncated archive is refused");
    assert!(!text(&out.stderr).is_empty());
    let out = host::output_with_input(env.mini().arg("load"), b"not an archive at all");
    assert_eq!(code(&out), 1);
    assert_eq!(stored(&env), before, "a refused load stores nothing");
    assert!(
        !std::fs::read_dir(env.root.join("blobs/sha256"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".tmp")),
        "no spool is left"
    );

    let out = env.run(&["save", "nosuch"]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("No such image: nosuch"));
    assert!(!env.path("never.tar").exists());
}

#[test]
fn push_sends_what_the_registry_lacks_and_others_read_it_back() {
    let (env, _registry) = lab(&["busybox"]);
    committed(&env);
    let target = Registry::start(&env.path("target"));
    let name = format!("{}/team/mine:v1", target.addr);
    env.run_ok(&["tag", "mine:v1", &name]);
    let out = env.run_ok(&["push", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{}/team/mine]", target.addr)
    );
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(": Pushed")).count(),
        2,
        "{out}"
    );
    let manifest_digest = inspect(&env, &name)["RepoDigests"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|d| d.as_str()?.split_once('@').map(|(_, d)| d.to_string()))
        .expect("push records the repo digest");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("v1: digest: {manifest_digest} size: ")),
        "{out}"
    );
    let seen = target.inspect("team/mine:v1");
    assert_eq!(seen["Digest"], manifest_digest.as_str());
    assert!(seen["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "GREETING=hello"));

    // Again: every layer is there already.
    let again = env.run_ok(&["push", &name]);
    assert_eq!(
        again
            .lines()
            .filter(|l| l.ends_with(": Layer already exists"))
            .count(),
        2,
        "{again}"
    );

    // Pulled back into an empty instance, it runs as it did.
    let other = TestEnv::new();
    other.run_ok(&["pull", "-q", &name]);
    check_committed_files(&other, &name);

    // A registry that wants credentials says so, and mini names it; after login it works.
    let guarded = Registry::start_with_basic_auth(&env.path("guarded"), "ada", "secret");
    let guarded_name = format!("{}/mine:v1", guarded.addr);
    env.run_ok(&["tag", "mine:v1", &guarded_name]);
    let out = env.run(&["push", &guarded_name]);
    assert_eq!(code(&out), 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&guarded.addr) && stderr.contains("denied"),
        "{stderr}"
    );
    env.run_ok(&["login", "-u", "ada", "-p", "secret", &guarded.addr]);
    env.run_ok(&["push", "-q", &guarded_name]);

    let out = env.run(&["push", &format!("{}/nothing:here", target.addr)]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("An image does not exist locally with the tag"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn export_and_import_round_trip_a_root_filesystem() {
    let (env, _registry) = lab(&["busybox"]);
    env.run_ok(&[
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        CHANGES,
    ]);
    let archive = env.path("rootfs.tar");
    let archive_arg = archive.display().to_string();
    env.run_ok(&["export", "-o", &archive_arg, "c1"]);
    let listed = host::run("tar", &["tf", &archive_arg]);
    assert!(listed.lines().any(|l| l == "etc/motd"), "{listed}");
    assert!(listed.lines().any(|l| l == "home/new"));
    assert!(!listed.lines().any(|l| l == "bin/vi"));
    assert!(
        !listed.contains(".wh."),
        "no whiteouts in a root filesystem"
    );

    let id = env.run_ok(&[
        "import",
        "-c",
        r#"CMD ["cat", "/etc/motd"]"#,
        "-c",
        "ENV GREETING=hello",
        &archive_arg,
        "flat:1",
    ]);
    assert!(id.starts_with("sha256:"));
    check_committed_files(&env, "flat:1");
    assert_eq!(
        inspect(&env, "flat:1")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // From stdin, compressed; the history says where it came from.
    let compressed = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder
            .write_all(&std::fs::read(&archive).unwrap())
            .unwrap();
        encoder.finish().unwrap()
    };
    let out = host::output_with_input(env.mini().args(["import", "-", "flat:2"]), &compressed);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(env
        .run_ok(&["history", "flat:2"])
        .contains("Imported from -"));

    // A truncated compressed archive is refused, and nothing of it stays.
    let before = stored(&env);
    let out = host::output_with_input(
        env.mini().args(["import", "-", "broken:1"]),
        &compressed[..compressed.len() / 2],
    );
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert_eq!(stored(&env), before);

    let out = env.run(&["export", "nosuch"]);
    assert_eq!(code(&out), 1);
}
