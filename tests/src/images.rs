//! The lab and test images, built from Debian packages by `images/build` (see images/README.md)
//! and cached outside the checkout, so only the first build on a machine takes time.

use std::path::PathBuf;
use std::process::Command;

use crate::host;

/// The images `images/build` knows.
pub const ALL: [&str; 3] = ["debian", "nginx", "busybox"];

fn build_script() -> Command {
    Command::new(host::repo_root().join("images/build"))
}

/// The cached OCI layout of image `name`, built first if needed. Treat it as read-only: copy it
/// (`images/build NAME OUT_DIR`) before changing anything in it.
pub fn layout(name: &str) -> PathBuf {
    let out = host::check(build_script().args(["--path", name]));
    PathBuf::from(out.trim())
}

/// Writes a copy of image `name`'s OCI layout to `out`.
pub fn build_to(name: &str, out: &std::path::Path) {
    host::check(build_script().arg(name).arg(out));
}

/// Pushes images to the registry at `addr` (`host:port[/path]`) as `addr/NAME:latest`.
pub fn push(addr: &str, credentials: Option<&(String, String)>, names: &[&str]) {
    let mut cmd = build_script();
    cmd.arg("--push").arg(addr);
    if let Some((user, password)) = credentials {
        cmd.arg("--creds").arg(format!("{user}:{password}"));
    }
    host::check(cmd.args(names));
}

/// What `skopeo inspect` (a client other than mini) reads of a layout.
pub fn inspect_layout(layout: &std::path::Path) -> serde_json::Value {
    let text = host::check(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}", layout.display())),
    );
    serde_json::from_str(&text).expect("skopeo inspect prints JSON")
}

/// Reads a JSON blob of a layout by digest (`sha256:...`).
pub fn read_blob(layout: &std::path::Path, digest: &str) -> serde_json::Value {
    let (algorithm, hex) = digest.split_once(':').expect("digest has an algorithm");
    let path = layout.join("blobs").join(algorithm).join(hex);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).expect("blob is JSON")
}

/// The image manifest of a single-image layout, through its index.json.
pub fn manifest(layout: &std::path::Path) -> serde_json::Value {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("index.json")).expect("layout has index.json"),
    )
    .expect("index.json is JSON");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("index lists a manifest");
    read_blob(layout, digest)
}
