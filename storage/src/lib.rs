//! mini-storage: everything mini keeps about images on disk.
//!
//! It owns image references, registry pulls (through `oci-client`), the content-addressed blob
//! store (`blobs/sha256/<hex>`), the image store (`images.json`: name:tag -> manifest digest), layer
//! unpacking with OCI whiteouts turned into overlay ones, the overlay2 layer graph
//! (`overlay/<layer>/{diff,link,lower}`, `overlay/l/<short>`), containers' writable layers, and
//! safe path resolution inside a root filesystem.
//!
//! It knows nothing of containers' lifecycles or of the network: callers hand it ids and paths.
