//! Containers' writable layers: overlay mounts of an image's layers under an init layer and an
//! upper folder of their own, copy-on-write, Docker's GraphDriver paths, and images with more
//! layers than absolute paths would fit in one page of mount options.

use mini_storage::{ImageStore, LayerStore};
use mini_tests::host::random_hex;
use mini_tests::oci::{Flavour, Image, LayerTar};
use mini_tests::{Registry, TestEnv};

fn container_id() -> String {
    format!("{}{}", random_hex(32), random_hex(32))
}

fn chain_ids(env: &TestEnv, image: &str) -> Vec<String> {
    let (record, _) = ImageStore::open(&env.root).unwrap().resolve(image).unwrap();
    record.layers.iter().map(|l| l.chain_id.clone()).collect()
}

#[test]
fn containers_share_image_layers_and_write_only_to_their_own_upper_dirs() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    registry.push_library(&["nginx"]);
    env.use_mirror(&registry);
    env.run_ok(&["pull", "-q", "nginx"]);
    let chains = chain_ids(&env, "nginx");
    let store = LayerStore::open(&env.root.join("overlay")).unwrap();
    let image_conf = store
        .diff_dir(&chains[1])
        .unwrap()
        .join("etc/nginx/nginx.conf");
    let image_conf_before = std::fs::read(&image_conf).unwrap();

    let (a, b) = (container_id(), container_id());
    let layer_a = store.create_container_layer(&a, &chains).unwrap();
    let layer_b = store.create_container_layer(&b, &chains).unwrap();
    let merged_a = store.mount_container_layer(&a, false).unwrap();
    let merged_b = store.mount_container_layer(&b, false).unwrap();
    assert_eq!(merged_a, layer_a.merged_dir());

    for merged in [&merged_a, &merged_b] {
        assert!(merged.join("usr/sbin/nginx").is_file(), "the image's files");
        assert!(
            merged.join("etc/hosts").is_file(),
            "the init layer's mount points"
        );
    }
    // Writes land in the container's own upper folder, nowhere else.
    std::fs::write(merged_a.join("tmp/from-a"), "a").unwrap();
    assert!(layer_a.upper_dir().join("tmp/from-a").is_file());
    assert!(!layer_b.upper_dir().join("tmp/from-a").exists());
    assert!(!merged_b.join("tmp/from-a").exists());
    // Copy-on-write: the image's file stays as it was; the container gets a copy.
    let mut conf = std::fs::read(merged_a.join("etc/nginx/nginx.conf")).unwrap();
    conf.extend_from_slice(b"\n# changed in a\n");
    std::fs::write(merged_a.join("etc/nginx/nginx.conf"), &conf).unwrap();
    assert_eq!(std::fs::read(&image_conf).unwrap(), image_conf_before);
    assert_eq!(
        std::fs::read(layer_a.upper_dir().join("etc/nginx/nginx.conf")).unwrap(),
        conf
    );
    assert_eq!(
        std::fs::read(merged_b.join("etc/nginx/nginx.conf")).unwrap(),
        image_conf_before
    );
    // The lab's step: a file made in UpperDir from the host shows in the container.
    std::fs::write(layer_b.upper_dir().join("containerfile"), "").unwrap();
    assert!(merged_b.join("containerfile").is_file());

    // GraphDriver.Data: the init layer first, then the image's layers, uppermost first.
    let data = layer_a.graph_data();
    let lower = &data.iter().find(|(k, _)| *k == "LowerDir").unwrap().1;
    let lowers: Vec<&str> = lower.split(':').collect();
    assert_eq!(lowers.len(), 3, "{lower}");
    assert!(lowers[0].ends_with(&format!("{a}-init/diff")), "{lower}");
    assert_eq!(
        lowers[1],
        store.diff_dir(&chains[1]).unwrap().to_str().unwrap()
    );
    assert_eq!(
        lowers[2],
        store.diff_dir(&chains[0]).unwrap().to_str().unwrap()
    );
    let upper = &data.iter().find(|(k, _)| *k == "UpperDir").unwrap().1;
    assert_eq!(
        upper,
        &env.root
            .join("overlay")
            .join(&a)
            .join("diff")
            .display()
            .to_string()
    );

    for id in [&a, &b] {
        store.remove_container_layer(id).unwrap();
        assert!(!env.root.join("overlay").join(id).exists());
        assert!(!env.root.join("overlay").join(format!("{id}-init")).exists());
    }
    let links = std::fs::read_dir(env.root.join("overlay/l"))
        .unwrap()
        .count();
    assert_eq!(links, 2, "only the image's two short links remain");
    assert!(store
        .diff_dir(&chains[1])
        .unwrap()
        .join("usr/sbin/nginx")
        .is_file());
    assert!(store.create_container_layer("not-an-id", &chains).is_err());
    drop(registry);
}

#[test]
fn an_image_with_130_layers_still_mounts() {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    let layers: Vec<Vec<u8>> = (0..130)
        .map(|n| {
            LayerTar::new()
                .file(&format!("layer-{n}"), &n.to_string())
                .finish()
        })
        .collect();
    let layout = env.path("layout");
    mini_tests::oci::write_layout(
        &layout,
        &[Image::new(
            &layers,
            Flavour::Oci,
            true,
            if cfg!(target_arch = "aarch64") {
                "arm64"
            } else {
                "amd64"
            },
        )],
        false,
    );
    registry.push_layout(&layout, "tall:latest", None);
    env.run_ok(&["pull", "-q", &format!("{}/tall", registry.addr)]);
    let chains = chain_ids(&env, &format!("{}/tall", registry.addr));
    assert_eq!(chains.len(), 130);
    let store = LayerStore::open(&env.root.join("overlay")).unwrap();
    let absolute: usize = chains
        .iter()
        .map(|c| store.diff_dir(c).unwrap().as_os_str().len() + 1)
        .sum();
    assert!(
        absolute > 4096,
        "absolute lowerdir paths ({absolute} bytes) would not fit a page"
    );

    let id = container_id();
    store.create_container_layer(&id, &chains).unwrap();
    let merged = store.mount_container_layer(&id, false).unwrap();
    let seen = (
        std::fs::read_to_string(merged.join("layer-0")).ok(),
        std::fs::read_to_string(merged.join("layer-129")).ok(),
    );
    store.remove_container_layer(&id).unwrap();
    assert_eq!(seen, (Some("0".into()), Some("129".into())));
    drop(registry);
}
