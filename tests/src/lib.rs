//! mini-tests: the ground every end-to-end test stands on.
//!
//! The tests in `tests/tests/` drive the real `mini` binary as root against the real kernel:
//! overlayfs, network namespaces, veth pairs, bridges, nftables and cgroups, a real registry
//! (Debian's `docker-registry`) and real images built from Debian packages by `images/build`.
//! Nothing here fakes the kernel.
//!
//! - [`TestEnv`]: one test's own root directory, runtime directory and config, a `mini` command
//!   pointed at them, and a leak check when it is dropped: a test that leaves a mount, link,
//!   netns, nft table, cgroup or process behind fails.
//! - [`Registry`]: a `docker-registry` on a free 127.0.0.1 port with its own storage, optionally
//!   behind htpasswd basic auth, with fixture images pushed into it.
//! - [`ExternalHost`]: another machine, played by a network namespace joined to the host by a
//!   veth pair, each end with an address.
//! - [`images`]: the lab and test images (`debian`, `nginx`, `busybox`) as OCI layouts.
//! - [`oci`]: hand-made images with whiteouts, hostile entries, several platforms.

mod env;
mod external;
pub mod host;
pub mod images;
pub mod leaks;
pub mod oci;
mod registry;
pub mod token;

pub use env::TestEnv;
pub use external::ExternalHost;
pub use registry::Registry;
pub use token::TokenServer;

/// A test's environment with `images` (of [`images`]) on a registry of its own that stands in
/// for Docker Hub, so that short names pull from it. Keep the registry until the end of the test.
pub fn lab(images: &[&str]) -> (TestEnv, Registry) {
    let env = TestEnv::new();
    let registry = Registry::start(&env.path("registry"));
    registry.push_library(images);
    env.use_mirror(&registry);
    (env, registry)
}
