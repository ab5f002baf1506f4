//! The lab and test images: real OCI layouts that other clients read, layer sharing between
//! debian and nginx, reproducible builds, a working nginx, and pushes to a real registry.

use std::process::Command;

use mini_tests::host::{self, repo_root};
use mini_tests::{images, Registry, TestEnv};

fn layers(inspect: &serde_json::Value) -> Vec<String> {
    inspect["Layers"]
        .as_array()
        .expect("skopeo lists Layers")
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn skopeo_reads_every_image_and_nginx_is_debian_plus_one_layer() {
    let debian = images::inspect_layout(&images::layout("debian"));
    let nginx = images::inspect_layout(&images::layout("nginx"));
    let busybox = images::inspect_layout(&images::layout("busybox"));
    for image in [&debian, &nginx, &busybox] {
        assert_eq!(image["Os"], "linux");
        assert!(image["Digest"].as_str().unwrap().starts_with("sha256:"));
    }
    assert_eq!(layers(&debian).len(), 1);
    assert_eq!(layers(&busybox).len(), 1);
    assert_eq!(layers(&nginx).len(), 2);
    assert_eq!(
        layers(&nginx)[0],
        layers(&debian)[0],
        "nginx is built on debian's layer"
    );

    let config = &images::read_blob(
        &images::layout("nginx"),
        images::manifest(&images::layout("nginx"))["config"]["digest"]
            .as_str()
            .unwrap(),
    )["config"];
    assert_eq!(config["StopSignal"], "SIGQUIT");
    assert!(config["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/docker-entrypoint.sh"])
    );
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["nginx", "-g", "daemon off;"])
    );
}

#[test]
fn a_build_writes_a_copy_and_is_reproducible() {
    let env = TestEnv::new();
    let out = env.path("busybox");
    images::build_to("busybox", &out);
    let cached = images::manifest(&images::layout("busybox"));
    assert_eq!(images::manifest(&out), cached);

    // From nothing, in a cache of its own: the same digests.
    let fresh = host::check(
        Command::new(repo_root().join("images/build"))
            .args(["--path", "busybox"])
            .env("MINI_IMAGE_CACHE", env.path("cache")),
    );
    let fresh = std::path::PathBuf::from(fresh.trim());
    assert!(fresh.starts_with(env.path("cache")));
    assert_eq!(images::manifest(&fresh), cached);

    let unknown =
        host::output(Command::new(repo_root().join("images/build")).args(["--path", "nosuch"]));
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("unknown image 'nosuch'"), "{stderr}");
}

#[test]
fn the_nginx_image_serves_its_html_folder_and_logs_to_stdout() {
    let env = TestEnv::new();
    let bundle = env.path("bundle");
    host::check(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:latest", images::layout("nginx").display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    std::fs::write(
        rootfs.join("usr/share/nginx/html/index.html"),
        "Welcome to the w1 service\n",
    )
    .unwrap();
    // No container runtime yet: a chroot in fresh network, mount and pid namespaces, which all
    // vanish (with nginx) when the script ends.
    let script = r#"
        ip link set lo up
        mkdir -p "$1/dev"
        mount -t proc proc "$1/proc"
        mount --rbind /dev "$1/dev"
        chroot "$1" /docker-entrypoint.sh nginx -g 'daemon off;' &
        for i in $(seq 100); do
            if chroot "$1" curl -sf http://127.0.0.1/; then exit 0; fi
            sleep 0.1
        done
        exit 1
    "#;
    let out = host::check(
        Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .args(["sh", "-euc", script, "sh"])
            .arg(&rootfs),
    );
    assert!(out.contains("Welcome to the w1 service"), "{out}");
    assert!(
        out.contains("\"GET / HTTP/1.1\" 200"),
        "the access log goes to stdout: {out}"
    );
}

#[test]
fn images_push_to_a_local_registry() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    assert_eq!(registry.get_status("/v2/"), Some(200));
    registry.push(&images::ALL);
    for name in images::ALL {
        let pushed = registry.inspect(&format!("{name}:latest"));
        let local = images::inspect_layout(&images::layout(name));
        assert_eq!(
            layers(&pushed),
            layers(&local),
            "{name}: same layers in the registry"
        );
        assert_eq!(
            pushed["Digest"], local["Digest"],
            "{name}: same manifest digest"
        );
    }
    drop(registry);
}

#[test]
fn a_registry_with_basic_auth_turns_away_anonymous_clients() {
    let env = TestEnv::new();
    let registry = Registry::start_with_basic_auth(&env.path("registry"), "lab", "s3cret pass");
    assert_eq!(registry.get_status("/v2/"), Some(401));
    registry.push(&["busybox"]);
    let pushed = registry.inspect("busybox:latest");
    assert_eq!(layers(&pushed).len(), 1);

    let anonymous = host::output(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/busybox:latest", registry.addr),
    ]));
    assert!(!anonymous.status.success(), "no credentials, no image");
    let wrong = host::output(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--creds",
        "lab:wrong",
        &format!("docker://{}/busybox:latest", registry.addr),
    ]));
    assert!(!wrong.status.success(), "a wrong password, no image");
    drop(registry);
}
