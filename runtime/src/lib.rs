//! mini-runtime: containers, from the record on disk to the running process.
//!
//! It ties `mini-storage` and `mini-network` together: container records and their state
//! machine, OCI runtime specs (through `oci-spec`), launching through `libcontainer` from a
//! per-container monitor process, logs, exec, cp, stop, kill and rm, and the views that `ps`
//! and `inspect` print.
