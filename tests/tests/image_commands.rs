//! `mini tag`, `rmi`, `image inspect` and `image history` on images pulled from a real registry.

use mini_tests::host::text;
use mini_tests::{images, Registry, TestEnv};

fn layer_count(env: &TestEnv) -> usize {
    std::fs::read_dir(env.root.join("overlay"))
        .map(|entries| entries.flatten().filter(|e| e.file_name() != "l").count())
        .unwrap_or(0)
}

fn config_digest(name: &str) -> String {
    images::manifest(&images::layout(name))["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn tag_and_rmi_count_references_to_images_and_layers() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    registry.push_library(&["debian", "nginx"]);
    env.use_mirror(&registry);
    env.run_ok(&["pull", "-q", "debian"]);
    env.run_ok(&["pull", "-q", "nginx"]);
    env.run_ok(&["tag", "nginx", "web:v1"]);
    let listing = env.run_ok(&["images"]);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("web ") && l.contains(" v1 ")),
        "{listing}"
    );
    assert_eq!(layer_count(&env), 2);

    // A tag of an image with two: only the tag goes.
    let out = env.run_ok(&["rmi", "nginx"]);
    assert_eq!(out, "Untagged: nginx:latest\n");
    assert_eq!(layer_count(&env), 2);

    // By id while two tags point at it: refused, unless forced.
    let nginx_id = config_digest("nginx");
    env.run_ok(&["tag", "web:v1", "nginx:latest"]);
    let out = env.run(&["rmi", &nginx_id[7..19]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("must be forced"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run_ok(&["rmi", "-f", &nginx_id[7..19]]);
    assert!(
        out.contains("Untagged: nginx:latest") && out.contains("Untagged: web:v1"),
        "{out}"
    );
    assert!(out.contains(&format!("Deleted: {nginx_id}")), "{out}");
    // nginx's own layer went; the base stays for debian.
    assert_eq!(layer_count(&env), 1);
    assert!(env.run_ok(&["images"]).lines().count() == 2);

    let out = env.run_ok(&["image", "rm", "debian"]);
    assert!(
        out.contains(&format!("Deleted: {}", config_digest("debian"))),
        "{out}"
    );
    assert_eq!(layer_count(&env), 0);
    let blobs = std::fs::read_dir(env.root.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "no blob outlives every image");

    let out = env.run(&["rmi", "nosuch", "debian"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("No such image: nosuch") && stderr.contains("No such image: debian"),
        "{stderr}"
    );
    drop(registry);
}

#[test]
fn image_inspect_and_history_show_what_docker_shows() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    registry.push_library(&["nginx"]);
    env.use_mirror(&registry);
    env.run_ok(&["pull", "-q", "nginx"]);

    let out = env.run_ok(&["image", "inspect", "nginx"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let image = &json[0];
    assert_eq!(image["Id"], config_digest("nginx"));
    assert_eq!(image["RepoTags"], serde_json::json!(["nginx:latest"]));
    assert!(image["RepoDigests"][0]
        .as_str()
        .unwrap()
        .starts_with("nginx@sha256:"));
    assert_eq!(image["Config"]["StopSignal"], "SIGQUIT");
    assert_eq!(image["Os"], "linux");
    let layout_config = images::read_blob(&images::layout("nginx"), &config_digest("nginx"));
    assert_eq!(
        image["RootFS"]["Layers"],
        layout_config["rootfs"]["diff_ids"]
    );
    let graph = &image["GraphDriver"];
    assert_eq!(graph["Name"], "overlay2");
    let upper = std::path::PathBuf::from(graph["Data"]["UpperDir"].as_str().unwrap());
    let lower = std::path::PathBuf::from(graph["Data"]["LowerDir"].as_str().unwrap());
    assert!(upper.starts_with(env.root.join("overlay")) && upper.ends_with("diff"));
    assert!(upper.join("usr/sbin/nginx").is_file());
    assert!(lower.join("usr/bin/bash").is_file());
    assert_eq!(
        std::path::PathBuf::from(graph["Data"]["MergedDir"].as_str().unwrap()),
        upper.parent().unwrap().join("merged")
    );
    // Docker's key order, which `grep -C2 UpperDir` shows.
    let lower_at = out.find("\"LowerDir\"").unwrap();
    let merged_at = out.find("\"MergedDir\"").unwrap();
    let upper_at = out.find("\"UpperDir\"").unwrap();
    let work_at = out.find("\"WorkDir\"").unwrap();
    assert!(lower_at < merged_at && merged_at < upper_at && upper_at < work_at);
    let at = |key: &str| {
        out.find(&format!("\"{key}\""))
            .unwrap_or_else(|| panic!("{key} in {out}"))
    };
    assert!(at("Id") < at("RepoTags") && at("RepoTags") < at("RepoDigests"));
    assert!(
        at("Architecture") < at("Os") && at("Os") < at("Size") && at("GraphDriver") < at("RootFS")
    );

    let out = env.run(&["image", "inspect", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).trim(), "[]");
    assert!(text(&out.stderr).contains("No such image: nosuch"));

    let out = env.run_ok(&["image", "history", "nginx"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("IMAGE") && lines[0].contains("CREATED BY"),
        "{out}"
    );
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[1].starts_with(&config_digest("nginx")[7..19]),
        "{out}"
    );
    assert!(
        lines[2].starts_with("<missing>") && lines[2].contains("apt-get install nginx"),
        "{out}"
    );
    assert!(
        lines[1].contains('…'),
        "long lines are cut as Docker cuts them: {out}"
    );
    drop(registry);
}
