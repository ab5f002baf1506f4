//! mini-runtime: containers, from the record on disk to the running process.
//!
//! It ties `mini-storage` and `mini-network` together: container records and their state
//! machine, OCI runtime specs (through `oci-spec`), launching through `libcontainer` from a
//! per-container monitor process, logs, exec, stop, kill and rm.
//!
//! The path of `mini run`, top-down: `Engine::create` (engine.rs: record, writable layer,
//! hostname/hosts/resolv.conf) -> `Engine::start` (mount the rootfs, write the OCI spec from
//! spec.rs, start the monitor) -> `monitor::run` (libcontainer create + start, log, wait, restart
//! policy, teardown).

// Docker's `/info` is one large `json!` (info.rs).
#![recursion_limit = "256"]

pub mod access;
pub mod attach;
pub mod build;
pub mod commit;
pub mod config;
pub mod cp;
pub mod engine;
pub mod error;
pub mod exec;
pub mod info;
pub mod instructions;
pub mod logs;
pub mod monitor;
pub mod mounts;
pub mod names;
pub mod networking;
pub mod objects;
pub mod options;
pub mod pause;
pub mod process;
pub mod record;
pub mod reset;
pub mod sealed;
pub mod seccomp;
pub mod spec;
pub mod store;
pub mod tree;
pub mod user;
pub mod views;
pub mod volumes;

pub use commit::{CommitOptions, ImportOptions};
pub use cp::{CopyEnd, CopyOptions};
pub use engine::{CreateOptions, Engine, Started, MONITOR_COMMAND};
pub use error::{Error, Result};
pub use exec::ExecOptions;
pub use record::ContainerRecord;
pub use store::ContainerStore;
