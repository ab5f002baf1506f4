//! mini-network: how containers reach each other, the host and the world.
//!
//! It owns networks (bridge, subnet, gateway), address management, network namespace files,
//! veth pairs (through `rtnetlink`), the nftables table mini keeps (NAT for published ports,
//! masquerade), and the `/etc/hosts` and `/etc/resolv.conf` a container sees.
//!
//! It knows nothing of containers' lifecycles or of images: callers hand it ids, names and paths.

pub mod config;
pub mod dns;
pub mod endpoint;
pub mod error;
pub mod files;
pub mod firewall;
pub mod forward;
pub mod link;
pub mod netns;
pub mod ports;
pub mod store;

pub use config::NetworkConfig;
pub use error::{Error, Result};
pub use store::{NetworkRecord, NetworkStore};
