//! mini-storage: everything mini keeps about images on disk.
//!
//! It owns image references, registry pulls (through `oci-client`), the content-addressed blob
//! store (`blobs/sha256/<hex>`), the image store (`images.json`: name:tag -> image), layer
//! unpacking with OCI whiteouts turned into overlay ones, the overlay2 layer graph
//! (`overlay/<layer>/{diff,link,lower}`, `overlay/l/<short>`), and containers' writable layers
//! (`rootfs`). Safe path resolution inside a root filesystem comes with `cp`.
//!
//! It knows nothing of containers' lifecycles or of the network: callers hand it ids and paths.
//!
//! ```text
//! <root>/blobs/sha256/<hex>     manifests, configs, compressed layers, as the registry sent them
//! <root>/images.json            tags -> image ids, image ids -> manifest, layers, platform
//! <root>/overlay/<chain>/diff   one unpacked layer, named by its chain id
//! <root>/overlay/<chain>/link   its short id; overlay/l/<short> -> ../<chain>/diff
//! <root>/overlay/<chain>/lower  the short ids of the layers below it, uppermost first
//! ```

pub mod archive;
pub mod auth;
pub mod config;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod images;
pub mod layers;
pub mod make;
pub mod pack;
pub mod pull;
pub mod push;
pub mod reference;
pub mod rootfs;
pub mod unpack;

pub use auth::AuthStore;
pub use config::RegistryConfig;
pub use error::Error;
pub use images::{ImageRecord, ImageStore, ListedImage, Removal};
pub use layers::LayerStore;
pub use pull::{check_login, PullEvent, PullOptions, PullOutcome, Puller};
pub use push::{PushEvent, Pushed};
pub use reference::ImageRef;
pub use rootfs::ContainerLayer;
